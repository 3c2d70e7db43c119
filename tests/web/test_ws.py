"""The connect page's WebSocket (DESIGN.md section 6) against the fake sessions engine."""

from __future__ import annotations

import asyncio

import aiohttp

from marketplace.appkeys import ACTIVATOR
from tests.marketplace.support import Mp, wait_subscribed
from tests.marketplace.test_register_status import token_of


async def recv(ws: aiohttp.ClientWebSocketResponse) -> dict:
    msg = await ws.receive_json(timeout=5)
    assert isinstance(msg, dict)
    return msg


async def recv_until(ws: aiohttp.ClientWebSocketResponse, want: dict) -> dict:
    """The next message containing `want` (events published before the socket opened may still trickle in)."""
    seen = []
    for _ in range(12):
        msg = await recv(ws)
        seen.append(msg)
        if want.items() <= msg.items():
            return msg
    raise AssertionError(f"no {want} in {seen}")


async def test_ws_state_and_qr_at_once_rotation_and_connected(mp: Mp, redis) -> None:
    reg = await mp.register(801)
    cid = reg["company_id"]
    await wait_subscribed(mp.client.server.app)
    ws = await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
    first, second = await recv(ws), await recv(ws)
    assert first == {"type": "state", "state": "SCAN_QR", "reason": None}
    assert second["type"] == "qr" and second["qr"].startswith("data:image/png;base64,")
    assert second["expires_in"] == 20
    # WhatsApp rotates the QR: the page gets the new one (no sleeping: the fake clock drives expiry).
    await mp.clock.advance(20)
    code = await mp.sessions.rotate(cid)
    rotated = await recv_until(ws, {"type": "qr", "qr": mp.service.qr.data_url(code)})
    assert rotated["qr"] != second["qr"] and rotated["expires_in"] == 20
    await mp.sessions.scan(cid, "+79005554433")
    await recv_until(ws, {"type": "state", "state": "CONNECTED", "reason": None})
    await recv_until(ws, {"type": "connected", "phone": "+79005554433"})
    await ws.close()
    await mp.client.server.app[ACTIVATOR].wait_idle()  # type: ignore[index]
    status = await (await mp.client.get(f"/marketplace/status/{cid}", params={"token": token_of(reg)})).json()
    assert status["whatsapp_connected"] is True and status["whatsapp_phone"] == "+79005554433"
    assert status["integration_status"] == "active"


async def test_ws_client_messages(mp: Mp, redis) -> None:
    reg = await mp.register(802)
    await wait_subscribed(mp.client.server.app)
    ws = await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
    await recv(ws), await recv(ws)
    await ws.send_json({"type": "request_pairing_code", "phone": "+79001234567"})
    await recv_until(ws, {"type": "pairing_code", "code": "ABCD-EFGH", "expires_in": 60})
    await ws.send_json({"type": "request_pairing_code", "phone": "nope"})
    await recv_until(ws, {"type": "error", "code": "invalid_phone"})
    await ws.send_str("{broken")
    await recv_until(ws, {"type": "error", "code": "invalid_json"})
    await ws.send_json({"type": "dance"})
    await recv_until(ws, {"type": "error", "code": "unknown_type"})
    await mp.clock.advance(25)  # QR expired: request_qr starts a new series
    await ws.send_json({"type": "request_qr"})
    await recv_until(ws, {"type": "qr", "expires_in": 20})
    assert ("request_qr", reg["company_id"]) in mp.sessions.calls
    await ws.close()


async def test_ws_rejects_foreign_forged_and_missing_tokens(mp: Mp) -> None:
    a, b = await mp.register(811), await mp.register(812)
    for params, status in (({"token": token_of(a), "company_id": str(b["company_id"])}, 403),
                           ({"token": "forged.jwt.value"}, 401), ({}, 401)):
        try:
            await mp.client.ws_connect("/marketplace/ws", params=params)
            raise AssertionError("upgrade should be refused")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == status, params


async def test_sixth_ws_connection_in_a_minute_is_429(mp: Mp) -> None:
    reg = await mp.register(821)
    sockets = []
    for _ in range(5):
        sockets.append(await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)}))
    try:
        await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
        raise AssertionError("sixth connection should be refused")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 429
    for ws in sockets:
        await ws.close()
    await mp.clock.advance(61)  # the window slides on the injected clock
    ws = await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
    await ws.close()


async def test_failed_attempts_count_too(mp: Mp) -> None:
    reg = await mp.register(822)
    for _ in range(5):
        try:
            await mp.client.ws_connect("/marketplace/ws", params={"token": "guess"})
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 401
    try:
        await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
        raise AssertionError("token guessing uses up the window")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 429


async def test_ws_limit_holds_across_instances(mp_factory) -> None:
    one = await mp_factory()
    two = await mp_factory()
    reg = await one.register(831)
    for i in range(5):
        app = one if i % 2 else two
        ws = await app.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
        await ws.close()
    try:
        await two.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
        raise AssertionError("limit is per IP across instances")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 429


async def test_events_reach_sockets_on_another_instance(mp_factory, redis) -> None:
    one = await mp_factory()
    two = await mp_factory()
    reg = await one.register(841)
    await wait_subscribed(one.client.server.app, two.client.server.app)
    ws = await two.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
    assert (await recv(ws))["type"] == "state"
    # The QR and the connect happen on instance one's engine; the socket is on instance two.
    code = await one.sessions.rotate(reg["company_id"])
    expected = one.service.qr.data_url(code)
    for _ in range(6):
        msg = await recv(ws)
        if msg.get("qr") == expected:
            break
    else:
        raise AssertionError("instance one's QR never reached the socket on instance two")
    await one.sessions.scan(reg["company_id"], "+79001110000")
    await recv_until(ws, {"type": "connected", "phone": "+79001110000"})
    await ws.close()


async def test_shutdown_closes_sockets_going_away(mp_factory) -> None:
    mp = await mp_factory()
    reg = await mp.register(851)
    ws = await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
    await recv(ws)

    async def read_until_closed() -> aiohttp.WSMessage:
        msg = await ws.receive(timeout=5)
        while msg.type == aiohttp.WSMsgType.TEXT:  # the greeting's QR may still be queued
            msg = await ws.receive(timeout=5)
        return msg

    reader = asyncio.ensure_future(read_until_closed())  # the browser keeps reading while we shut down
    await mp.client.server.close()
    msg = await reader
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert ws.close_code == aiohttp.WSCloseCode.GOING_AWAY


async def test_uninstall_closes_the_salons_open_sockets(mp: Mp) -> None:
    from tests.conftest import PARTNER_TOKEN

    reg = await mp.register(861)
    other = await mp.register(862)
    await wait_subscribed(mp.client.server.app)
    ws = await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
    ws_other = await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(other)})
    resp = await mp.client.post("/marketplace/webhook/yclients", json={
        "salon_id": 861, "application_id": 18000, "event": "uninstall", "partner_token": PARTNER_TOKEN})
    assert (await resp.json())["result"] == "applied"
    seen = []
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        seen.append(msg.json())
    assert {"type": "error", "code": "token_revoked"}.items() <= seen[-1].items()
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert not ws_other.closed  # the other salon's page is untouched
    await ws_other.close()


class _RecordingSocket:
    closed = False

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_str(self, data: str) -> None:
        self.sent.append(data)


async def test_events_wait_for_the_greeting(mp: Mp) -> None:
    import json

    from sessions.api import SessionEvent
    from web.ws import WS_HUB

    hub = mp.client.server.app[WS_HUB]  # type: ignore[index]
    ws = _RecordingSocket()
    hub.add(42, ws)  # type: ignore[arg-type]
    await hub.dispatch(SessionEvent(42, "state", {"state": "SCAN_QR", "reason": None}))
    assert ws.sent == []  # held: the greeting (state + current QR) must go first
    await ws.send_str('{"type": "greeting"}')
    await hub.release(ws)  # type: ignore[arg-type]
    await hub.dispatch(SessionEvent(42, "connected", {"phone": "+79001234567"}))
    assert [json.loads(m)["type"] for m in ws.sent] == ["greeting", "state", "connected"]
    hub.discard(42, ws)  # type: ignore[arg-type]
