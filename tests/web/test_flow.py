"""The whole flow on the real app: sessions engine with the simulator, the YClients sandbox, demo mode.

register -> connect URL -> WebSocket (state + QR at once) -> QR rotates on the fake clock ->
POST /sim/{id}/scan -> `connected` -> activation accepted by the sandbox -> status active.
And the lifecycle: signed install -> connect page -> scan -> active -> freeze -> install -> active
-> uninstall -> credentials gone, tokens rejected.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from gateway.settings import DEV_PARTNER_TOKEN
from gateway.wiring.demo import load_demo_salon
from gateway.wiring.sessions import SESSION_MANAGER
from marketplace.appkeys import MARKETPLACE
from sessions.api import SessionState
from sync.appkeys import SYNC_SERVICE, YCLIENTS_SANDBOX
from tests.conftest import app_of
from tests.marketplace.support import ADMIN, eventually, isolate_company_ids, wait_subscribed

SALON = 880001


def add_sandbox_salon(app: Any, salon_id: int, title: str) -> None:
    data = copy.deepcopy(load_demo_salon())
    data["company"]["id"] = salon_id
    data["company"]["title"] = title
    app[YCLIENTS_SANDBOX].add_salon(data)


def rel(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def token_in(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def recv_until(ws: aiohttp.ClientWebSocketResponse, kind: str, seen: list[dict]) -> dict:
    for _ in range(20):
        msg = await ws.receive_json(timeout=10)
        seen.append(msg)
        if msg["type"] == kind:
            return msg
    raise AssertionError(f"no {kind} message in {seen}")


@pytest.fixture
async def app_client(make_client, database_url, clock):
    await isolate_company_ids(database_url)
    return await make_client(demo=True)


async def test_register_connect_scan_activate(app_client, clock, pool) -> None:
    client = app_client
    app = app_of(client)
    add_sandbox_salon(app, SALON, "Салон Поток")
    resp = await client.post("/marketplace/register", headers=ADMIN,
                             json={"salon_id": SALON, "phone": "+79001234567", "email": "flow@example.com"})
    assert resp.status == 200
    reg = await resp.json()
    cid, token = reg["company_id"], token_in(reg["connect_url"])
    page = await client.get(rel(reg["connect_url"]))
    assert page.status == 200
    await wait_subscribed(app)
    ws = await client.ws_connect("/marketplace/ws", params={"token": token})
    seen: list[dict] = []
    first = await ws.receive_json(timeout=10)
    assert first["type"] == "state"
    qr1 = await recv_until(ws, "qr", seen)
    assert qr1["qr"].startswith("data:image/png;base64,") and qr1["expires_in"] > 0
    # The simulator rotates the QR when it expires: on the injected clock, no sleeping.
    await clock.advance(qr1["expires_in"] + 1)
    qr2 = await recv_until(ws, "qr", seen)
    while qr2["qr"] == qr1["qr"]:  # the first QR's own event may arrive after the greeting carried it
        qr2 = await recv_until(ws, "qr", seen)
    assert qr2["qr"] != qr1["qr"]
    resp = await client.post(f"/sim/{cid}/scan", json={"phone": "+79005550011"})
    assert resp.status == 200, await resp.text()
    connected = await recv_until(ws, "connected", seen)
    assert connected["phone"] == "+79005550011"
    await ws.close()

    async def active() -> dict | None:
        body = await (await client.get(f"/marketplace/status/{cid}", params={"token": token})).json()
        return body if body["integration_status"] == "active" else None

    status = await eventually(active)
    assert status["whatsapp_connected"] is True and status["whatsapp_phone"] == "+79005550011"
    assert status["session_state"] == "CONNECTED"
    row = await pool.fetchrow("SELECT whatsapp_connected, whatsapp_phone, integration_status FROM companies "
                              "WHERE id = $1", cid)
    assert dict(row) == {"whatsapp_connected": True, "whatsapp_phone": "+79005550011", "integration_status": "active"}
    install = app[YCLIENTS_SANDBOX].install(SALON)
    assert install.status == "active" and install.api_key.startswith("sk_")
    assert install.webhook_urls == [f"{app[MARKETPLACE].config.public_base_url}/marketplace/webhook/{cid}"]
    calls = app[YCLIENTS_SANDBOX].requests_to("/partner/callback", "POST")
    assert len(calls) == 1
    assert calls[0].body["salon_id"] == SALON and calls[0].body["application_id"] == 18000
    # The key given to YClients is this salon's api key on our API.
    resp = await client.get(f"/marketplace/status/{cid}", headers={"X-API-Key": install.api_key})
    assert resp.status == 200
    # The welcome message to the salon's own number went through the durable outbox, once.
    async def welcome() -> list:
        return await pool.fetch("SELECT text, chat FROM outbox WHERE company_id = $1", cid)

    rows = await eventually(welcome)  # queued right after activation; the initial sync runs in the background
    assert len(rows) == 1 and "AI Admin" in rows[0]["text"] and "79005550011" in rows[0]["chat"]

    # The initial sync (started by the activation) shows in the status with its real values.
    async def sync_status() -> dict:
        return (await (await client.get(f"/marketplace/status/{cid}", params={"token": token})).json())["sync"]

    async def synced() -> dict | None:
        body = await sync_status()
        return body if len(body.get("kinds", {})) == 5 else None

    synced_at = clock.now()  # the clock stands still while the background sync runs
    sync = await eventually(synced)
    assert sync["ok"] is True and datetime.fromisoformat(sync["last_success_at"]) == synced_at
    assert sync["counts"] == {"services": 14, "staff": 7, "schedules": 7 * 30, "records": 4}
    assert {k: (v["items"], v["last_error"], v["last_error_at"]) for k, v in sync["kinds"].items()} == {
        "company": (1, None, None), "services": (14, None, None), "staff": (7, None, None),
        "schedules": (7 * 30, None, None), "records": (4, None, None)}
    assert {datetime.fromisoformat(v["last_success_at"]) for v in sync["kinds"].values()} == {synced_at}

    # A failing sync: the error and its time show, the last success and the counts stay.
    await clock.advance(60)
    failed_at = clock.now()
    app[YCLIENTS_SANDBOX].add_fault(rf"/company/{SALON}/staff$", "status", status=403)  # not retried
    assert not (await app[SYNC_SERVICE].run_once(cid, "staff")).ok
    sync = await sync_status()
    staff = sync["kinds"]["staff"]
    assert sync["ok"] is False and "Forbidden" in staff["last_error"]
    assert datetime.fromisoformat(staff["last_error_at"]) == failed_at
    assert datetime.fromisoformat(staff["last_success_at"]) == synced_at and staff["items"] == 7
    assert datetime.fromisoformat(sync["last_success_at"]) == synced_at
    assert sync["counts"] == {"services": 14, "staff": 7, "schedules": 7 * 30, "records": 4}
    app[YCLIENTS_SANDBOX].clear_faults()
    assert (await app[SYNC_SERVICE].run_once(cid, "staff")).ok
    sync = await sync_status()
    assert sync["ok"] is True and sync["kinds"]["staff"]["last_error"] is None
    assert datetime.fromisoformat(sync["kinds"]["staff"]["last_success_at"]) == failed_at
    assert datetime.fromisoformat(sync["last_success_at"]) == failed_at


async def test_install_lifecycle(app_client, pool) -> None:
    client = app_client
    app = app_of(client)
    sandbox = app[YCLIENTS_SANDBOX]
    manager = app[SESSION_MANAGER]
    add_sandbox_salon(app, SALON + 1, "Салон Цикл")
    base = app[MARKETPLACE].config.public_base_url
    # "Connect" clicked in the marketplace: YClients marks the app pending there and signs the redirect.
    helper = await client.get("/sandbox/yclients/install", params={"salon_id": str(SALON + 1)})
    url = (await helper.json())["data"]["url"]
    assert url.startswith(f"{base}/marketplace/yclients/install?") and sandbox.install(SALON + 1).status == "pending"
    resp = await client.get(rel(url), allow_redirects=False)
    assert resp.status == 302
    connect = resp.headers["Location"]
    token = token_in(connect)
    page = await client.get(rel(connect))
    assert page.status == 200 and "Салон Цикл" in await page.text()
    cid = await pool.fetchval("SELECT id FROM companies WHERE salon_id = $1", SALON + 1)

    async def has_qr() -> bool:
        return (await client.get(f"/marketplace/qr/{token}")).status == 200

    await eventually(has_qr)
    assert (await client.post(f"/sim/{cid}/scan", json={"phone": "+79005550022"})).status == 200

    async def status_is(value: str) -> Any:
        async def check() -> dict | None:
            body = await (await client.get(f"/marketplace/status/{cid}", headers=ADMIN)).json()
            return body if body["integration_status"] == value else None
        return await eventually(check)

    await status_is("active")
    calls = sandbox.requests_to("/partner/callback", "POST")
    assert len(calls) == 1, "the sandbox must receive exactly one activation callback"
    body = calls[0].body
    assert set(body) == {"salon_id", "application_id", "api_key", "webhook_urls"}
    assert body["salon_id"] == SALON + 1 and body["application_id"] == 18000
    assert body["api_key"].startswith("sk_") and body["webhook_urls"] == [f"{base}/marketplace/webhook/{cid}"]
    assert calls[0].headers.get("Authorization", "").startswith("Bearer ")
    assert sandbox.install(SALON + 1).status == "active"
    assert sandbox.install(SALON + 1).api_key == body["api_key"]
    assert sandbox.install(SALON + 1).webhook_urls == [f"{base}/marketplace/webhook/{cid}"]
    yclients_key = {"X-API-Key": body["api_key"]}  # what YClients may call us with from now on
    assert (await client.get(f"/marketplace/status/{cid}", headers=yclients_key)).status == 200

    notice = {"salon_id": SALON + 1, "application_id": 18000, "partner_token": DEV_PARTNER_TOKEN}
    resp = await client.post("/marketplace/webhook/yclients", json={**notice, "event": "freeze"})
    assert (await resp.json())["result"] == "applied"
    body = await status_is("frozen")
    assert body["whatsapp_connected"] is False
    assert (await manager.info(cid)).state is SessionState.STOPPED

    resp = await client.get(rel(url), allow_redirects=False)  # installed again: unfreezes
    assert resp.status == 302
    body = await status_is("active")
    assert body["whatsapp_connected"] is True and body["whatsapp_phone"] == "+79005550022"

    resp = await client.post("/marketplace/webhook/yclients", json={**notice, "event": "uninstall"})
    assert (await resp.json())["result"] == "applied"
    await status_is("uninstalled")
    info = await manager.info(cid)
    assert info.state is SessionState.LOGGED_OUT and info.desired == "stopped"  # credentials deleted
    assert (await client.get(f"/marketplace/qr/{token}")).status == 401
    assert (await client.get(f"/marketplace/status/{cid}", params={"token": token})).status == 401
    assert (await client.get(f"/marketplace/status/{cid}", headers=yclients_key)).status == 401
    assert (await client.post(f"/marketplace/activate/{cid}", headers=yclients_key)).status == 401
    assert (await client.get(rel(connect))).status in (401, 403)
    assert await pool.fetchval("SELECT count(*) FROM api_keys WHERE company_id = $1 AND revoked_at IS NULL", cid) == 0
    # Credentials gone: a new install must scan a QR again instead of resuming.
    resp = await client.get(rel(url), allow_redirects=False)
    token2 = token_in(resp.headers["Location"])

    async def scan_state() -> bool:
        return (await manager.info(cid)).state is SessionState.SCAN_QR

    await eventually(scan_state)
    assert (await client.get(f"/marketplace/qr/{token2}")).status in (200, 202)


async def test_pairing_code_instead_of_the_qr(app_client) -> None:
    client = app_client
    app = app_of(client)
    add_sandbox_salon(app, SALON + 2, "Салон Код")
    resp = await client.post("/marketplace/register", headers=ADMIN,
                             json={"salon_id": SALON + 2, "phone": "+79001234567", "email": "code@example.com"})
    reg = await resp.json()
    cid, token = reg["company_id"], token_in(reg["connect_url"])
    await wait_subscribed(app)
    ws = await client.ws_connect("/marketplace/ws", params={"token": token})
    seen: list[dict] = []
    await ws.send_json({"type": "request_pairing_code", "phone": "+79005550033"})
    code_msg = await recv_until(ws, "pairing_code", seen)
    assert code_msg["code"] and code_msg["expires_in"] > 0
    resp = await client.post(f"/marketplace/pairing-code/{token}", json={"phone": "+79005550033"})
    body = await resp.json()
    assert resp.status == 200 and body["success"] is True and body["code"] and body["expires_in"] > 0
    resp = await client.post(f"/sim/{cid}/pair", json={"code": body["code"]})
    assert resp.status == 200, await resp.text()
    connected = await recv_until(ws, "connected", seen)
    assert connected["phone"] == "+79005550033"
    await ws.close()
