"""A frozen or uninstalled salon cannot turn its bot back on (QR, pairing code, WebSocket requests)."""

from __future__ import annotations

from typing import Any

from sessions.api import SessionState
from tests.conftest import PARTNER_TOKEN
from tests.marketplace.support import ADMIN, Mp, eventually, wait_subscribed
from tests.marketplace.test_register_status import token_of
from tests.web.test_ws import recv_until


def notice(salon_id: int, event: str) -> dict[str, Any]:
    return {"salon_id": salon_id, "application_id": 18000, "event": event, "partner_token": PARTNER_TOKEN}


async def connected_and_frozen(mp: Mp, salon_id: int) -> dict[str, Any]:
    reg = await mp.register(salon_id)
    await mp.sessions.scan(reg["company_id"])
    await mp.activator.wait_idle()
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(salon_id, "freeze"))
    assert (await resp.json())["result"] == "applied"
    assert (await mp.sessions.info(reg["company_id"])).state is SessionState.STOPPED
    return reg


async def test_frozen_salon_gets_no_pairing_code(mp: Mp) -> None:
    reg = await connected_and_frozen(mp, 1201)
    cid, token = reg["company_id"], token_of(reg)
    resp = await mp.client.post(f"/marketplace/pairing-code/{token}", json={"phone": "+79001234567"})
    body = await resp.json()
    assert resp.status == 409, body
    assert body["success"] is False and body["error"]["code"] == "integration_inactive"
    assert "приостановлена" in body["error"]["message"]
    info = await mp.sessions.info(cid)
    assert info.state is SessionState.STOPPED and info.desired == "stopped"
    # The operator is refused too: nobody restarts a frozen salon's bot through the API.
    resp = await mp.client.post(f"/marketplace/pairing-code/{token}", json={"phone": "+79001234567"}, headers=ADMIN)
    assert resp.status == 409
    assert (await mp.sessions.info(cid)).state is SessionState.STOPPED


async def test_frozen_salon_websocket_requests_are_refused(mp: Mp) -> None:
    reg = await connected_and_frozen(mp, 1202)
    cid = reg["company_id"]
    await wait_subscribed(mp.client.server.app)
    ws = await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
    await recv_until(ws, {"type": "state", "state": "STOPPED"})
    await ws.send_json({"type": "request_qr"})
    refused = await recv_until(ws, {"type": "error", "code": "integration_inactive"})
    assert "YClients" in refused["message"]
    await ws.send_json({"type": "request_pairing_code", "phone": "+79001234567"})
    await recv_until(ws, {"type": "error", "code": "integration_inactive"})
    await ws.close()
    assert ("request_qr", cid) not in mp.sessions.calls
    assert mp.sessions.calls.count(("start", cid)) == 1  # only the registration's
    assert (await mp.sessions.info(cid)).state is SessionState.STOPPED


async def test_uninstalled_salon_cannot_start_even_for_the_operator(mp: Mp) -> None:
    reg = await mp.register(1203)
    cid = reg["company_id"]
    resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(1203, "uninstall"))
    assert (await resp.json())["result"] == "applied"
    # The salon's own links are revoked; the operator's socket (?company_id=) is refused the QR.
    ws = await mp.client.ws_connect("/marketplace/ws", params={"company_id": str(cid)}, headers=ADMIN)
    await recv_until(ws, {"type": "state", "state": "LOGGED_OUT"})
    await ws.send_json({"type": "request_qr"})
    await recv_until(ws, {"type": "error", "code": "integration_inactive"})
    await ws.close()
    assert (await mp.sessions.info(cid)).state is SessionState.LOGGED_OUT
    assert ("request_qr", cid) not in mp.sessions.calls


async def test_a_start_that_races_a_freeze_is_undone(mp: Mp) -> None:
    reg = await mp.register(1204)
    cid, token = reg["company_id"], token_of(reg)
    real = mp.sessions.request_pairing_code

    async def freeze_meanwhile(company_id: int, phone: str) -> tuple[str, int]:
        result = await real(company_id, phone)
        resp = await mp.client.post("/marketplace/webhook/yclients", json=notice(1204, "freeze"))
        assert (await resp.json())["result"] == "applied"
        await mp.sessions.request_qr(company_id)  # a start that slipped in after the freeze's stop
        return result

    mp.sessions.request_pairing_code = freeze_meanwhile  # type: ignore[method-assign]
    resp = await mp.client.post(f"/marketplace/pairing-code/{token}", json={"phone": "+79001234567"})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "integration_inactive"
    assert (await mp.sessions.info(cid)).state is SessionState.STOPPED


async def test_a_session_that_connects_while_frozen_is_stopped(mp: Mp) -> None:
    reg = await connected_and_frozen(mp, 1205)
    cid = reg["company_id"]
    stops = mp.sessions.calls.count(("stop", cid))
    await mp.sessions.start(cid)  # e.g. an operator command: the kept credentials reconnect

    async def stopped_again() -> bool:
        return mp.sessions.calls.count(("stop", cid)) > stops

    await eventually(stopped_again)
    assert (await mp.sessions.info(cid)).state is SessionState.STOPPED
    status = await (await mp.client.get(f"/marketplace/status/{cid}", headers=ADMIN)).json()
    assert status["integration_status"] == "frozen" and status["whatsapp_connected"] is False
    assert len(mp.partner.activations) == 1 and len(mp.outbox.sent) == 1  # nothing re-activated
