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
    await mp.sessions.rotate(cid)
    rotated = await recv(ws)
    assert rotated["type"] == "qr" and rotated["qr"] != second["qr"]
    await mp.sessions.scan(cid, "+79005554433")
    seen = [await recv(ws), await recv(ws)]
    assert {"type": "state", "state": "CONNECTED", "reason": None} in seen
    assert {"type": "connected", "phone": "+79005554433"} in seen
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
    got = [await recv(ws) for _ in range(3)]  # state PAIRING + pairing_code event + direct answer
    assert {"type": "pairing_code", "code": "ABCD-EFGH", "expires_in": 60} in got
    await ws.send_json({"type": "request_pairing_code", "phone": "nope"})
    err = await recv(ws)
    assert err["type"] == "error" and err["code"] == "invalid_phone"
    await ws.send_str("{broken")
    assert (await recv(ws))["code"] == "invalid_json"
    await ws.send_json({"type": "dance"})
    assert (await recv(ws))["code"] == "unknown_type"
    await mp.clock.advance(25)  # QR expired: request_qr starts a new series
    await ws.send_json({"type": "request_qr"})
    msgs = [await recv(ws) for _ in range(3)]
    assert any(m["type"] == "qr" and m["expires_in"] == 20 for m in msgs)
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
    seen = [await recv(ws), await recv(ws)]
    assert {"type": "connected", "phone": "+79001110000"} in seen
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
    from gateway.settings import DEV_PARTNER_TOKEN

    reg = await mp.register(861)
    other = await mp.register(862)
    await wait_subscribed(mp.client.server.app)
    ws = await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)})
    ws_other = await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(other)})
    resp = await mp.client.post("/marketplace/webhook/yclients", json={
        "salon_id": 861, "application_id": 18000, "event": "uninstall", "partner_token": DEV_PARTNER_TOKEN})
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
