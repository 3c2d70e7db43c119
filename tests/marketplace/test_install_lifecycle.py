"""Install redirect (signed user_data), lifecycle notices (freeze/uninstall) and the salon callback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from marketplace.signing import sign_user_data
from tests.conftest import PARTNER_TOKEN
from tests.marketplace.support import ADMIN, Mp

USER = {"id": 123456, "name": "Иван Попов", "phone": "79161001010", "email": "owner@example.com",
        "salon_name": "Салон Ноготки", "is_approved": True}


def signed_query(salon_id: int, *, key: str = PARTNER_TOKEN, form: str = "salon_id") -> dict[str, str]:
    user_data, sign = sign_user_data(USER, key)
    return {form: str(salon_id), "user_data": user_data, "user_data_sign": sign}


async def install(mp: Mp, params: dict[str, str]):
    return await mp.client.get("/marketplace/yclients/install", params=params, allow_redirects=False)


def token_from(location: str) -> str:
    return parse_qs(urlsplit(location).query)["token"][0]


async def test_signed_install_upserts_from_company_info_and_redirects(mp: Mp, pool) -> None:
    mp.partner.companies[4564] = {"id": 4564, "title": "Салон Ноготки", "address": "ул. Образцова, 3",
                                  "phone": "+7 916 684-41-22", "timezone_name": "Asia/Yekaterinburg"}
    resp = await install(mp, signed_query(4564))
    assert resp.status == 302
    location = resp.headers["Location"]
    base = str(mp.client.make_url("")).rstrip("/")
    assert location.startswith(base + "/marketplace/connect?token=")
    row = await pool.fetchrow("SELECT id, title, address, timezone, integration_status FROM companies "
                              "WHERE salon_id = 4564")
    assert (row["title"], row["address"], row["timezone"], row["integration_status"]) == (
        "Салон Ноготки", "ул. Образцова, 3", "Asia/Yekaterinburg", "pending")
    page = await mp.client.get(location[len(base):])
    assert page.status == 200 and "Салон Ноготки" in await page.text()
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'install' AND company_id = $1",
                               row["id"]) == 1


async def test_install_accepts_salon_ids_forms_and_space_for_plus(mp: Mp, pool) -> None:
    for n, form in enumerate(("salon_ids[0]", "salon_ids[]")):
        params = signed_query(5000 + n, form=form)
        resp = await install(mp, params)
        assert resp.status == 302, form
    # '+' in base64 arriving as ' ' after form decoding still verifies.
    user_data, sign = sign_user_data({**USER, "name": "??>>??"}, PARTNER_TOKEN)
    assert "+" in user_data or "/" in user_data
    query = f"salon_id=5010&user_data={user_data.replace('+', '%20')}&user_data_sign={sign}"
    resp = await mp.client.get(f"/marketplace/yclients/install?{query}", allow_redirects=False)
    assert resp.status == 302
    assert await pool.fetchval("SELECT count(*) FROM companies WHERE salon_id IN (5000, 5001, 5010)") == 3


async def test_unsigned_and_forged_installs_are_refused(mp: Mp, pool) -> None:
    forged = signed_query(6001, key="someone-elses-token")
    tampered = signed_query(6002)
    tampered["user_data_sign"] = tampered["user_data_sign"][:-2] + ("00" if tampered["user_data_sign"][-2:] != "00" else "11")
    for params in ({"salon_id": "6000"}, forged, tampered, {"user_data": "x", "user_data_sign": "y"},
                   {"salon_id": "6003", "user_data": "!!!", "user_data_sign": "ab"}):
        resp = await install(mp, params)
        assert resp.status == 403, params
        text = await resp.text()
        assert "text/html" in resp.headers["Content-Type"] and "YClients" in text
        assert "Content-Security-Policy" in resp.headers
    assert await pool.fetchval("SELECT count(*) FROM companies") == 0


async def test_unsigned_install_allowed_only_in_sandbox_mode(mp_factory, pool) -> None:
    mp = await mp_factory(marketplace_allow_unsigned=True)
    resp = await install(mp, {"salon_id": "6100"})
    assert resp.status == 302
    assert await pool.fetchval("SELECT count(*) FROM companies WHERE salon_id = 6100") == 1


def notice(salon_id: int, event: str, *, key: str = PARTNER_TOKEN, app_id: int = 18000,
           field: str = "event") -> dict:
    return {"salon_id": salon_id, "application_id": app_id, field: event, "partner_token": key}


async def test_freeze_and_uninstall_lifecycle(mp: Mp, pool) -> None:
    reg = await mp.register(7001)
    cid = reg["company_id"]
    token = token_from(reg["connect_url"])
    # The salon owner opens the app from YClients: the install redirect records them as installer.
    assert (await install(mp, signed_query(7001))).status == 302
    await mp.sessions.scan(cid)
    await mp.activator.wait_idle()
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(7001, "freeze"))
    assert resp.status == 200 and (await resp.json())["result"] == "applied"
    assert ("stop", cid) in mp.sessions.calls and cid in mp.sessions.credentials
    status = await (await mp.client.get(f"/marketplace/status/{cid}", params={"token": token})).json()
    assert status["integration_status"] == "frozen" and status["session_state"] == "STOPPED"
    # Replayed: nothing changes.
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(7001, "freeze"))
    assert (await resp.json())["result"] == "duplicate"
    assert mp.sessions.calls.count(("stop", cid)) == 1
    # Install again: unfreezes, the kept credentials reconnect, activation makes it active again.
    resp = await install(mp, signed_query(7001))
    assert resp.status == 302
    await mp.activator.wait_idle()
    status = await (await mp.client.get(f"/marketplace/status/{cid}", headers=ADMIN)).json()
    assert status["integration_status"] == "active" and status["whatsapp_connected"] is True
    # A freeze after the reinstall is a new notice.
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(7001, "freeze", field="event_type"))
    assert (await resp.json())["result"] == "applied"
    # Uninstall: logged out, credentials gone, tokens and keys rejected.
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(7001, "uninstall"))
    assert (await resp.json())["result"] == "applied"
    assert ("logout", cid) in mp.sessions.calls and cid not in mp.sessions.credentials
    assert (await mp.client.get(f"/marketplace/status/{cid}", params={"token": token})).status == 401
    assert (await mp.client.get(f"/marketplace/status/{cid}", headers={"X-API-Key": reg["api_key"]})).status == 401
    assert (await mp.client.get(f"/marketplace/qr/{token}")).status == 401
    status = await (await mp.client.get(f"/marketplace/status/{cid}", headers=ADMIN)).json()
    assert status["integration_status"] == "uninstalled" and status["whatsapp_connected"] is False
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(7001, "uninstall"))
    assert (await resp.json())["result"] == "duplicate"
    assert mp.sessions.calls.count(("logout", cid)) == 1
    events = await pool.fetch("SELECT event, result, payload FROM marketplace_events ORDER BY id")
    assert [(e["event"], e["result"]) for e in events] == [
        ("freeze", "applied"), ("freeze", "applied"), ("uninstall", "applied")]
    assert all("partner_token" not in e["payload"] for e in events)
    actions = [r["action"] for r in await pool.fetch("SELECT action FROM audit_log WHERE company_id = $1 "
                                                      "ORDER BY id", cid)]
    assert actions.count("freeze") == 2 and actions.count("uninstall") == 1 and "install" in actions


async def test_lifecycle_authentication(mp: Mp, pool) -> None:
    await mp.register(7101)
    for body, status in ((notice(7101, "uninstall", key="wrong"), 403),
                         ({k: v for k, v in notice(7101, "uninstall").items() if k != "partner_token"}, 403),
                         (notice(7101, "uninstall", app_id=1), 403),
                         (notice(7101, ""), 400),
                         ({**notice(7101, "uninstall"), "salon_id": "abc"}, 400)):
        resp = await mp.client.post("/marketplace/webhook/yclients", json=body)
        assert resp.status == status, body
        assert (await resp.json())["success"] is False
    assert await pool.fetchval("SELECT integration_status FROM companies WHERE salon_id = 7101") == "pending"
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(999999, "uninstall"))
    assert resp.status == 200 and (await resp.json())["result"] == "unknown_salon"


async def test_salon_callback_with_api_key(mp: Mp, pool) -> None:
    a, b = await mp.register(7201), await mp.register(7202)
    body = {"salon_id": 7201, "company_id": a["company_id"], "status": "connected",
            "whatsapp_phone": "+79001234567", "api_key": a["api_key"]}
    resp = await mp.client.post("/marketplace/callback", json=body, headers={"X-API-Key": a["api_key"]})
    result = await resp.json()
    assert resp.status == 200 and result["recorded"] is True and result["company_id"] == a["company_id"]
    resp = await mp.client.post("/marketplace/callback", json=body, headers={"X-API-Key": a["api_key"]})
    assert (await resp.json())["recorded"] is False
    resp = await mp.client.post("/marketplace/callback", json=body, headers={"X-API-Key": b["api_key"]})
    assert resp.status == 403
    assert (await mp.client.post("/marketplace/callback", json=body)).status == 401
    stored = await pool.fetchval("SELECT payload FROM marketplace_events WHERE source = 'callback'")
    assert "api_key" not in stored


async def test_a_notice_whose_handling_failed_is_retried_on_resend(mp: Mp, pool) -> None:
    from marketplace.appkeys import LIFECYCLE

    await mp.register(7301)
    lifecycle = mp.client.server.app[LIFECYCLE]  # type: ignore[index]
    real_freeze = lifecycle.freeze
    calls = []

    async def flaky_freeze(company_id: int) -> None:
        calls.append(company_id)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        await real_freeze(company_id)

    lifecycle.freeze = flaky_freeze  # type: ignore[method-assign]
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(7301, "freeze"))
    assert resp.status == 500 and (await resp.json())["success"] is False
    assert await pool.fetchval("SELECT result FROM marketplace_events") == "failed"
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(7301, "freeze"))
    assert resp.status == 200 and (await resp.json())["result"] == "applied"
    assert await pool.fetchval("SELECT integration_status FROM companies WHERE salon_id = 7301") == "frozen"
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(7301, "freeze"))
    assert (await resp.json())["result"] == "duplicate" and len(calls) == 2


@pytest.mark.parametrize("raw", [
    b'{"salon_id": 7211, "status": "connected", "x": Infinity}',
    b'{"salon_id": 7211, "status": "connected", "x": NaN}',
    b'{"salon_id": 7211, "status": "connected", "x": "\\ud800"}',
    b'{"salon_id": 7211, "status": "connected", "x": "a\\u0000b"}',
])
async def test_salon_callback_refuses_json_postgres_cannot_store(mp: Mp, pool, raw: bytes) -> None:
    a = await mp.register(7211)
    resp = await mp.client.post("/marketplace/callback", data=raw,
                                headers={"X-API-Key": a["api_key"], "Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_json"
    assert await pool.fetchval("SELECT count(*) FROM marketplace_events WHERE source = 'callback'") == 0
