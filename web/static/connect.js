// Connect page: live QR over the WebSocket (DESIGN.md section 6), polling as the fallback.
(function () {
  "use strict";
  var body = document.body;
  var token = body.getAttribute("data-token") || "";
  var companyId = body.getAttribute("data-company-id") || "";
  var qrImg = document.getElementById("qr");
  var placeholder = document.getElementById("qr-placeholder");
  var countdownEl = document.getElementById("countdown");
  var stateEl = document.getElementById("state");
  var errorEl = document.getElementById("error");
  var refreshBtn = document.getElementById("refresh-qr");
  var connectView = document.getElementById("connect-view");
  var successView = document.getElementById("success-view");
  var phoneEl = document.getElementById("connected-phone");
  var pairingForm = document.getElementById("pairing-form");
  var pairingCodeEl = document.getElementById("pairing-code");
  var expiresAt = 0;
  var done = body.getAttribute("data-connected") === "true";
  var socket = null;
  var pollTimer = null;
  var retries = 0;

  var stateNames = {
    STARTING: "запуск…", SCAN_QR: "ожидает сканирования", PAIRING: "ожидает ввода кода",
    CONNECTED: "подключено", DISCONNECTED: "переподключение…", QR_EXPIRED: "QR-код устарел",
    LOGGED_OUT: "устройство отвязано", STOPPED: "остановлено", FAILED: "ошибка подключения",
    REPLACED: "сессия открыта в другом месте", BANNED: "номер временно заблокирован",
    CLIENT_OUTDATED: "нужно обновление"
  };

  function showError(text) { errorEl.textContent = text; errorEl.hidden = !text; }
  function setState(state) {
    stateEl.textContent = stateNames[state] || state;
    stateEl.setAttribute("data-state", state);
    refreshBtn.hidden = !(state === "QR_EXPIRED" || state === "LOGGED_OUT" || state === "FAILED");
  }
  function setQr(url, expiresIn) {
    qrImg.src = url;
    placeholder.hidden = true;
    expiresAt = Date.now() + expiresIn * 1000;
    tick();
  }
  function fetchPhone() {
    fetch("/marketplace/status/" + encodeURIComponent(companyId) + "?token=" + encodeURIComponent(token),
          { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) { if (data.whatsapp_phone && !phoneEl.textContent) { phoneEl.textContent = data.whatsapp_phone; } })
      .catch(function () { /* the phone is a nicety */ });
  }
  // `phone` null: we only know the state is CONNECTED (the `connected` message with the phone follows).
  function connected(phone) {
    done = true;
    if (phone) { phoneEl.textContent = phone; }
    connectView.hidden = true;
    successView.hidden = false;
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    if (phone && socket) { try { socket.close(1000); } catch (e) { /* closing anyway */ } }
    if (!phone && !socket) { fetchPhone(); }
  }
  function tick() {
    var left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
    countdownEl.textContent = String(left);
  }
  setInterval(tick, 1000);
  if (countdownEl.textContent) { expiresAt = Date.now() + parseInt(countdownEl.textContent, 10) * 1000; }

  function onMessage(msg) {
    if (msg.type === "state") { setState(msg.state); if (msg.state === "CONNECTED") { connected(null); } }
    else if (msg.type === "qr") { setQr(msg.qr, msg.expires_in); showError(""); }
    else if (msg.type === "pairing_code") { pairingCodeEl.textContent = msg.code; pairingCodeEl.hidden = false; }
    else if (msg.type === "connected") { connected(msg.phone); }
    else if (msg.type === "error") { showError(msg.message || "Ошибка"); }
  }

  function openSocket() {
    if (done) { return; }
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var url = proto + "//" + location.host + "/marketplace/ws?token=" + encodeURIComponent(token);
    try { socket = new WebSocket(url); } catch (e) { startPolling(); return; }
    socket.onopen = function () { retries = 0; stopPolling(); };
    socket.onmessage = function (ev) {
      try { onMessage(JSON.parse(ev.data)); } catch (e) { /* ignore malformed */ }
    };
    socket.onclose = function () {
      socket = null;
      if (done) { return; }
      startPolling();
      retries += 1;
      if (retries <= 5) { setTimeout(openSocket, Math.min(30000, 1000 * Math.pow(2, retries))); }
    };
  }

  function poll() {
    if (done) { return; }
    fetch("/marketplace/qr/" + encodeURIComponent(token), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.success && data.qr) { setQr(data.qr, data.expires_in); }
        else if (data.connected) { connected(null); }
        else if (data.state) { setState(data.state); }
      })
      .catch(function () { /* keep polling */ });
  }
  function startPolling() { if (!pollTimer && !done) { poll(); pollTimer = setInterval(poll, 3000); } }
  function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }

  refreshBtn.addEventListener("click", function () {
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify({ type: "request_qr" })); }
    else { poll(); }
  });
  pairingForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var phone = document.getElementById("pairing-phone").value.trim();
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify({ type: "request_pairing_code", phone: phone }));
      return;
    }
    fetch("/marketplace/pairing-code/" + encodeURIComponent(token), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ phone: phone })
    }).then(function (r) { return r.json(); }).then(function (data) {
      if (data.success) { onMessage({ type: "pairing_code", code: data.code, expires_in: data.expires_in }); }
      else { showError((data.error && data.error.message) || "Ошибка"); }
    }).catch(function () { showError("Нет связи с сервером"); });
  });

  if (!done) { setState(body.getAttribute("data-state") || "STARTING"); openSocket(); }
  void companyId;
})();
