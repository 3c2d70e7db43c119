// Simulator phone page: state polling, QR scan, pairing code, and a chat with the bot.
(function () {
  "use strict";
  var root = document.getElementById("sim");
  if (!root) { return; }
  var companyId = root.getAttribute("data-company-id");
  var base = "/sim/" + encodeURIComponent(companyId);
  var STATES = {
    STOPPED: "остановлен", STARTING: "подключение…", SCAN_QR: "ждёт сканирования QR",
    PAIRING: "ждёт код привязки", CONNECTED: "подключён", DISCONNECTED: "связь потеряна, переподключение…",
    QR_EXPIRED: "QR-код истёк", LOGGED_OUT: "устройство отвязано", REPLACED: "сессию занял другой клиент",
    BANNED: "номер временно заблокирован", CLIENT_OUTDATED: "версия клиента устарела", FAILED: "ошибка подключения"
  };
  var mine = [];      // what this page sent: {text, at}
  var seenBot = {};   // bot message ids already shown
  var botMsgs = [];

  function el(id) { return document.getElementById(id); }
  function showError(text) { el("sim-error").textContent = text || ""; }

  function request(method, path, body) {
    var opts = { method: method, headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(base + path, opts).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok || !data.success) {
          var msg = (data && data.error && data.error.message) || ("Ошибка " + resp.status);
          throw new Error(msg);
        }
        return data;
      });
    });
  }

  function fmtTime(sec) {
    var d = new Date(sec * 1000);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function render() {
    var list = el("sim-messages");
    var from = el("sim-from").value.trim();
    var items = mine.filter(function (m) { return m.from === from; }).map(function (m) {
      return { cls: "me", text: m.text, at: m.at };
    }).concat(botMsgs.filter(function (m) { return m.to === from; }).map(function (m) {
      return { cls: "bot", text: m.text, at: m.sent_at };
    }));
    items.sort(function (a, b) { return a.at - b.at; });
    list.textContent = "";
    items.forEach(function (m) {
      var li = document.createElement("li");
      li.className = "msg " + m.cls;
      li.textContent = m.text;
      var t = document.createElement("time");
      t.textContent = fmtTime(m.at);
      li.appendChild(t);
      list.appendChild(li);
    });
    list.scrollTop = list.scrollHeight;
  }

  function pollState() {
    request("GET", "/state").then(function (s) {
      el("sim-state").textContent = STATES[s.state] || s.state;
      el("sim-reason").textContent = s.state === "CONNECTED" ? (s.phone || "") : (s.reason || "");
      el("sim-scan").disabled = !s.qr_on_screen;
      el("sim-link-status").textContent = s.qr_on_screen
        ? "На экране салона QR-код (ещё " + s.qr_expires_in + " с)."
        : (s.linked_phone ? "Привязан номер " + s.linked_phone : "QR-кода сейчас нет.");
    }).catch(function (e) { showError(e.message); });
  }

  function pollOutbound() {
    request("GET", "/outbound").then(function (data) {
      var changed = false;
      data.messages.forEach(function (m) {
        if (!seenBot[m.id]) { seenBot[m.id] = true; botMsgs.push(m); changed = true; }
      });
      if (changed) { render(); }
    }).catch(function () { /* the next poll retries */ });
  }

  el("sim-scan").addEventListener("click", function () {
    showError("");
    request("POST", "/scan", {}).then(function (r) {
      el("sim-link-status").textContent = "QR отсканирован, номер " + r.phone;
      pollState();
    }).catch(function (e) { showError(e.message); });
  });

  el("sim-pair-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    showError("");
    request("POST", "/pair", { code: el("sim-pair-code").value.trim() }).then(function (r) {
      el("sim-link-status").textContent = "Код принят, номер " + r.phone;
      pollState();
    }).catch(function (e) { showError(e.message); });
  });

  el("sim-send-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = el("sim-text").value;
    var from = el("sim-from").value.trim();
    if (!text.trim()) { return; }
    showError("");
    request("POST", "/inbound", { from: from, text: text }).then(function (r) {
      mine.push({ from: from, text: text, at: r.sent_at });
      el("sim-text").value = "";
      render();
    }).catch(function (e) { showError(e.message); });
  });

  el("sim-from").addEventListener("change", render);

  pollState();
  pollOutbound();
  setInterval(pollState, 2000);
  setInterval(pollOutbound, 1500);
}());
