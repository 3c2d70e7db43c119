"""Crash test through the real app: ENGINE_WORKERS=1 with the simulator inside the worker process.

A worker holding a CONNECTED session is SIGKILLed: the session comes back CONNECTED on a new worker,
every persisted inbound message is handled exactly once, and no outbox message is sent twice.
"""

from __future__ import annotations

import os
import signal

from gateway.appkeys import POOL
from gateway.clock import FakeClock
from gateway.wiring.sessions import INBOX, OUTBOX, SESSION_MANAGER, TRANSPORT_FACTORY
from sessions.api import InboundMessage
from sessions.api import SessionState as S
from sessions.supervisor import EngineSupervisor
from tests.conftest import app_of
from tests.sessions.conftest import Recorder, eventually, make_company

CLIENT = "+79161234567"


class Replier:
    """A stand-in booking handler answering through the app's outbox."""

    def __init__(self, outbox) -> None:
        self.outbox = outbox
        self.seen: list[InboundMessage] = []

    async def handle(self, message: InboundMessage) -> None:
        self.seen.append(message)
        await self.outbox.enqueue(message.company_id, message.chat, f"Ответ на: {message.text}",
                                  idempotency_key=f"reply:{message.id}")


async def test_sigkilled_worker_sessions_come_back_connected_without_loss_or_duplicates(
    make_client, clock: FakeClock
) -> None:
    client = await make_client(engine_workers=1, whatsapp_provider="sim")
    app = app_of(client)
    supervisor = app[TRANSPORT_FACTORY]
    assert isinstance(supervisor, EngineSupervisor)
    manager, outbox = app[SESSION_MANAGER], app[OUTBOX]
    replier = Replier(outbox)
    app[INBOX].set_handler(replier)
    recorder = Recorder()
    manager.add_listener(recorder)

    company = await make_company(app[POOL], 901)
    await manager.start(company)
    await recorder.wait_state(company, S.SCAN_QR, timeout_s=20)
    qr = await manager.current_qr(company)  # issued in the worker, on the daemon's (shifted) time
    assert qr is not None and 50 <= qr.expires_in_s(clock.time()) <= 60
    resp = await client.post(f"/sim/{company}/scan", json={"phone": "+79990000001"})
    assert resp.status == 200, await resp.text()
    await recorder.wait_event(company, "connected", timeout_s=15)
    first_worker = supervisor.worker_of(company)
    assert first_worker is not None and first_worker.pid != os.getpid()

    async def inbound(text: str) -> None:
        r = await client.post(f"/sim/{company}/inbound", json={"from": CLIENT, "text": text})
        assert r.status == 200, await r.text()

    async def sent_count(n: int) -> bool:
        return [r.status for r in await outbox.store.list_outbox(company)] == ["sent"] * n

    await inbound("Сколько стоит стрижка?")
    await eventually(lambda: sent_count(1), timeout_s=15)

    os.kill(first_worker.pid, signal.SIGKILL)
    await recorder.wait_state(company, S.DISCONNECTED, timeout_s=15)
    await inbound("А завтра в 10 можно?")  # written while the worker is dead: waits in the simulator
    queued = await outbox.enqueue(company, "79161234567@s.whatsapp.net", "Напоминаем о визите",
                                  idempotency_key="reminder:crash-test")
    assert queued is not None  # queued while no worker holds the session

    advanced_s = 0.0

    async def reconnected() -> bool:
        nonlocal advanced_s
        state = (await manager.info(company)).state
        if len(recorder.of_type(company, "connected")) == 2 and state is S.CONNECTED:
            return True
        if state is S.DISCONNECTED and advanced_s < 30:
            await clock.advance(1)  # only the manager's reconnect backoff runs on the app's clock
            advanced_s += 1
        return False

    await eventually(reconnected, timeout_s=20)
    second_worker = supervisor.worker_of(company)
    assert second_worker is not None and second_worker.pid != first_worker.pid
    # resumed from the stored device: no new scan, the same phone
    assert [e.data["phone"] for e in recorder.of_type(company, "connected")] == ["+79990000001"] * 2

    async def all_sent() -> bool:
        nonlocal advanced_s
        if await sent_count(3):
            return True
        if advanced_s < 60:
            await clock.advance(0.5)  # the per-chat send interval (1 s) runs on the app's clock
            advanced_s += 0.5
        return False

    await eventually(all_sent, timeout_s=15)
    assert [m.text for m in replier.seen] == ["Сколько стоит стрижка?", "А завтра в 10 можно?"]
    rows = await app[POOL].fetch("SELECT direction, count(*) AS n FROM messages WHERE company_id = $1 GROUP BY 1",
                                 company)
    assert {r["direction"]: r["n"] for r in rows}.get("in") == 2
    out = await (await client.get(f"/sim/{company}/outbound", params={"to": CLIENT})).json()
    assert sorted(m["text"] for m in out["messages"]) == ["Напоминаем о визите", "Ответ на: А завтра в 10 можно?",
                                                           "Ответ на: Сколько стоит стрижка?"]


async def test_neonize_in_workers_through_the_app_reports_a_clear_disconnect_offline(
    make_client,  # type: ignore[no-untyped-def]
) -> None:
    """WHATSAPP_PROVIDER=neonize, ENGINE_WORKERS=1: a start with no network is DISCONNECTED with the
    library's reason (a clear state, not a hang)."""
    client = await make_client(engine_workers=1, whatsapp_provider="neonize", neonize_connect_attempts=1)
    app = app_of(client)
    assert isinstance(app[TRANSPORT_FACTORY], EngineSupervisor)
    recorder = Recorder()
    app[SESSION_MANAGER].add_listener(recorder)
    company = await make_company(app[POOL], 902)
    await app[SESSION_MANAGER].start(company)
    await recorder.wait_state(company, S.DISCONNECTED, timeout_s=25)
    info = await app[SESSION_MANAGER].info(company)
    assert info.state is S.DISCONNECTED
    assert info.reason is not None and "connect_failed" in info.reason and "web.whatsapp.com" in info.reason
