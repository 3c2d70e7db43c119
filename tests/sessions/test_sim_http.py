"""The simulator API and phone page through the real app (`make_client`)."""

from __future__ import annotations

import asyncio

from gateway.appkeys import POOL
from gateway.wiring.sessions import INBOX, OUTBOX, SESSION_MANAGER
from sessions.api import InboundMessage
from sessions.api import SessionState as S
from tests.conftest import app_of
from tests.sessions.conftest import Recorder, eventually, make_company

CLIENT = "+79161234567"


class Replier:
    """A stand-in booking handler: answers through the app's outbox."""

    def __init__(self, outbox) -> None:  # type: ignore[no-untyped-def]
        self.outbox = outbox
        self.seen: list[InboundMessage] = []

    async def handle(self, message: InboundMessage) -> None:
        self.seen.append(message)
        await self.outbox.enqueue(message.company_id, message.chat, f"Ответ на: {message.text}",
                                  idempotency_key=f"reply:{message.id}")


async def _start(client) -> tuple[int, Recorder]:  # type: ignore[no-untyped-def]
    app = app_of(client)
    company = await make_company(app[POOL], 777)
    recorder = Recorder()
    app[SESSION_MANAGER].add_listener(recorder)
    await app[SESSION_MANAGER].start(company)
    await recorder.wait_state(company, S.SCAN_QR)
    return company, recorder


async def test_scan_chat_and_outbound_through_the_app(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    app = app_of(client)
    company, recorder = await _start(client)
    replier = Replier(app[OUTBOX])
    app[INBOX].set_handler(replier)

    resp = await client.post(f"/sim/{company}/scan", json={"phone": "+79990000001"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json()) == {"success": True, "company_id": company, "phone": "+79990000001"}
    await recorder.wait_event(company, "connected")
    state = await (await client.get(f"/sim/{company}/state")).json()
    assert state["state"] == "CONNECTED" and state["phone"] == "+79990000001" and not state["qr_on_screen"]

    resp = await client.post(f"/sim/{company}/inbound", json={"from": CLIENT, "text": "Сколько стоит стрижка?"})
    assert resp.status == 200
    body = await resp.json()
    assert body["success"] and body["message_id"]

    async def replied() -> bool:
        rows = await app[OUTBOX].store.list_outbox(company)
        return [r.status for r in rows] == ["sent"]

    await eventually(replied)
    out = await (await client.get(f"/sim/{company}/outbound", params={"to": CLIENT})).json()
    assert out["messages"][0]["text"] == "Ответ на: Сколько стоит стрижка?"
    assert out["messages"][0]["to"] == CLIENT
    other = await (await client.get(f"/sim/{company}/outbound", params={"to": "+79160000000"})).json()
    assert other == {"success": True, "company_id": company, "count": 0, "messages": []}
    assert [m.text for m in replier.seen] == ["Сколько стоит стрижка?"]

    async def counted() -> bool:
        return 'wa_outbound_messages_total{outcome="sent"} 1.0' in await (await client.get("/metrics")).text()

    await eventually(counted)
    metrics = await (await client.get("/metrics")).text()
    assert 'wa_sessions{state="CONNECTED"} 1.0' in metrics
    assert 'wa_outbound_messages_total{outcome="sent"} 1.0' in metrics
    assert 'wa_inbound_messages_total{outcome="stored"} 1.0' in metrics


async def test_sim_api_validates_input(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    app = app_of(client)
    company = await make_company(app[POOL], 778)

    async def expect(method: str, path: str, status: int, code: str, **kw: object) -> None:
        resp = await client.request(method, path, **kw)  # type: ignore[arg-type]
        body = await resp.json()
        assert resp.status == status, body
        assert body["success"] is False and body["error"]["code"] == code, body

    await expect("POST", f"/sim/{company}/scan", 409, "no_qr", json={})  # no session started: no QR
    await expect("POST", f"/sim/{company}/scan", 400, "invalid_phone", json={"phone": "89161234567"})
    await expect("POST", f"/sim/{company}/inbound", 400, "invalid_phone", json={"from": "12", "text": "Привет"})
    await expect("POST", f"/sim/{company}/inbound", 400, "invalid_phone", json={"text": "Привет"})
    await expect("POST", f"/sim/{company}/inbound", 400, "empty_text", json={"from": CLIENT, "text": "  "})
    await expect("POST", f"/sim/{company}/inbound", 400, "empty_text", json={"from": CLIENT, "text": 5})
    await expect("POST", f"/sim/{company}/inbound", 400, "invalid_json", data=b"{nope",
                 headers={"Content-Type": "application/json"})
    await expect("POST", f"/sim/{company}/inbound", 400, "invalid_json", json=["x"])
    await expect("POST", f"/sim/{company}/inbound", 409, "not_linked", json={"from": CLIENT, "text": "Привет"})
    await expect("GET", f"/sim/{company}/outbound?to=abc", 400, "invalid_phone")
    await expect("POST", f"/sim/{company}/fault", 400, "invalid_fault", json={"kind": "meteor"})
    await expect("POST", f"/sim/{company}/fault", 400, "invalid_count", json={"kind": "disconnect", "count": "x"})
    await expect("POST", f"/sim/{company}/fault", 400, "invalid_expires_in", json={"kind": "ban", "expires_in_s": 1e308})
    # Text PostgreSQL cannot store (NUL, a lone surrogate) is refused at the door, not lost later.
    for raw in (b'{"from": "+79161234567", "text": "a\\u0000b"}', b'{"from": "+79161234567", "text": "\\ud800"}',
                b'{"kind": "ban", "expires_in_s": Infinity}'):
        await expect("POST", f"/sim/{company}/inbound", 400, "invalid_json", data=raw,
                     headers={"Content-Type": "application/json"})
    await expect("POST", f"/sim/{company}/pair", 409, "no_pairing_code", json={"code": "ABCD-EFGH"})
    await expect("POST", "/sim/99999/scan", 404, "company_not_found", json={})
    # Nothing was lost or half-done by the refused requests.
    assert (await app[SESSION_MANAGER].info(company)).state is S.STOPPED
    assert await app[POOL].fetchval("SELECT count(*) FROM messages") == 0


async def test_faults_through_the_api(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    company, recorder = await _start(client)
    assert (await client.post(f"/sim/{company}/scan", json={})).status == 200
    await recorder.wait_event(company, "connected")
    resp = await client.post(f"/sim/{company}/fault", json={"kind": "ban", "expires_in_s": 600})
    assert resp.status == 200
    await recorder.wait_state(company, S.BANNED)
    state = await (await client.get(f"/sim/{company}/state")).json()
    assert state["state"] == "BANNED" and "temporary ban" in state["reason"]


async def test_pairing_through_the_api(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    app = app_of(client)
    company, recorder = await _start(client)
    code, _ = await app[SESSION_MANAGER].request_pairing_code(company, "+79165550000")
    resp = await client.post(f"/sim/{company}/pair", json={"code": code})
    assert resp.status == 200 and (await resp.json())["phone"] == "+79165550000"
    await recorder.wait_event(company, "connected")


async def test_phone_page_and_index(make_client) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    app = app_of(client)
    company = await make_company(app[POOL], 779)
    resp = await client.get(f"/sim/{company}", headers={"Accept": "text/html"})
    html = await resp.text()
    assert resp.status == 200 and "Сканировать QR" in html and 'src="/sim/assets/sim_phone.js"' in html
    assert "<script>" not in html  # no inline script
    resp = await client.get("/sim/", headers={"Accept": "text/html"}, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == f"/sim/{company}"
    js = await client.get("/sim/assets/sim_phone.js")
    assert js.status == 200 and "/inbound" in await js.text()
    assert (await client.get("/sim/assets/sim_phone.css")).status == 200


async def test_restart_of_the_app_keeps_the_session(make_client) -> None:  # type: ignore[no-untyped-def]
    first = await make_client()
    company, recorder = await _start(first)
    assert (await first.post(f"/sim/{company}/scan", json={"phone": "+79990000002"})).status == 200
    await recorder.wait_event(company, "connected")
    await first.close()

    second = await make_client()  # restore ran as a readiness hook before this returns

    async def connected() -> bool:
        return (await app_of(second)[SESSION_MANAGER].info(company)).state is S.CONNECTED

    await eventually(connected)
    state = await (await second.get(f"/sim/{company}/state")).json()
    assert state["phone"] == "+79990000002"
    await asyncio.sleep(0)
