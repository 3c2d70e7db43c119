"""Crash tests through the real app: ENGINE_WORKERS=1 with the simulator inside the worker process.

A worker holding CONNECTED sessions is SIGKILLed: the sessions come back CONNECTED on a new worker,
every persisted inbound message is handled exactly once, and no outbox message reaches the phone
twice — counted as send calls at the simulator, not as its deduplicated list of deliveries.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from gateway.appkeys import POOL
from gateway.clock import FakeClock
from gateway.wiring.sessions import INBOX, OUTBOX, SESSION_MANAGER, SIM_PHONE, TRANSPORT_FACTORY
from sessions.api import InboundMessage
from sessions.api import SessionState as S
from sessions.supervisor import EngineSupervisor
from tests.conftest import app_of
from tests.sessions.conftest import Recorder, eventually, make_company

CLIENT = "+79161234567"
CHAT = "79161234567@s.whatsapp.net"


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
    # The worker's clock runs on in real time from the daemon's offset while the FakeClock stands
    # still, so a loaded machine adds a little; an unshifted clock would be off by days.
    assert qr is not None and 50 <= qr.expires_in_s(clock.time()) <= 90
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
    expected = ["Напоминаем о визите", "Ответ на: А завтра в 10 можно?", "Ответ на: Сколько стоит стрижка?"]
    assert sorted(m["text"] for m in out["messages"]) == expected
    calls = await app[SIM_PHONE].send_calls(company, to=CLIENT)  # every call, duplicates included
    assert sorted(c.text for c in calls) == expected


class GatedReplier(Replier):
    """Answers only once the test opens the gate: until then messages are persisted, not handled."""

    def __init__(self, outbox) -> None:  # type: ignore[no-untyped-def]
        super().__init__(outbox)
        self.gate = asyncio.Event()

    async def handle(self, message: InboundMessage) -> None:
        self.seen.append(message)
        await self.gate.wait()
        await self.outbox.enqueue(message.company_id, message.chat, f"Ответ на: {message.text}",
                                  idempotency_key=f"reply:{message.id}")


@pytest.mark.parametrize("idempotent", [False, True], ids=["neonize-like", "idempotent"])
async def test_sigkill_mid_send_with_several_sessions_loses_nothing_and_sends_nothing_twice(
    make_client, clock: FakeClock, idempotent: bool  # type: ignore[no-untyped-def]
) -> None:
    """Three CONNECTED sessions on one worker; at the kill an outbox send hangs inside the worker's
    send_text (after the text reached the phone) and three inbound messages are persisted but not
    handled. Non-idempotent transport (neonize-like): the send is never repeated ('uncertain');
    idempotent: it is repeated with its id and the phone drops the copy."""
    client = await make_client(engine_workers=1, whatsapp_provider="sim", sim_idempotent_send=idempotent)
    app = app_of(client)
    supervisor, manager, outbox, inbox = app[TRANSPORT_FACTORY], app[SESSION_MANAGER], app[OUTBOX], app[INBOX]
    assert isinstance(supervisor, EngineSupervisor)
    phone, pool = app[SIM_PHONE], app[POOL]
    replier = GatedReplier(outbox)
    inbox.set_handler(replier)
    recorder = Recorder()
    manager.add_listener(recorder)

    companies = [await make_company(pool, 911 + i) for i in range(3)]
    for company in companies:
        await manager.start(company)
    for i, company in enumerate(companies):
        await recorder.wait_state(company, S.SCAN_QR, timeout_s=20)
        await phone.scan(company, f"+7999000001{i}")
        await recorder.wait_event(company, "connected", timeout_s=15)
    worker = supervisor.worker_of(companies[0])
    assert worker is not None and all(supervisor.worker_of(c) is worker for c in companies)
    assert getattr(manager.transport_for(companies[0]), "idempotent_send", None) is idempotent

    # An outbox send stuck inside the worker's send_text; the text already reached the phone.
    first = companies[0]
    await phone.hold_sends(first, CHAT, after_delivery=True)
    reminder = await outbox.enqueue(first, CLIENT, "Напоминаем о визите завтра в 10:00", idempotency_key="reminder:1")
    assert reminder is not None
    await eventually(lambda: _equals(phone.held_sends(first), 1), timeout_s=10)

    # Inbound messages persisted, their handler not finished.
    for company in companies:
        await phone.inbound(company, CLIENT, f"Можно записаться? ({company})")
    await eventually(lambda: _true(len(replier.seen) == 3), timeout_s=10)
    unhandled = await pool.fetch("SELECT id FROM messages WHERE direction = 'in' AND handled_at IS NULL ORDER BY id")
    assert sorted(m.id for m in replier.seen) == [r["id"] for r in unhandled]

    os.kill(worker.pid, signal.SIGKILL)
    for company in companies:
        await recorder.wait_state(company, S.DISCONNECTED, timeout_s=15)
    await phone.release_sends(first)  # the hook is off for the rest of the test

    async def reminder_settled() -> bool:  # the outbox heard that the worker died under its send
        row = await outbox.store.get_outbox(reminder)
        return row is not None and row.status != "sending"

    await eventually(reminder_settled, timeout_s=10)

    advanced_s = 0.0

    async def all_reconnected() -> bool:
        nonlocal advanced_s
        states = [(await manager.info(c)).state for c in companies]
        if all(s is S.CONNECTED for s in states) and all(len(recorder.of_type(c, "connected")) == 2
                                                          for c in companies):
            return True
        if S.DISCONNECTED in states and advanced_s < 30:
            await clock.advance(1)  # the manager's reconnect backoff runs on the app's clock
            advanced_s += 1
        return False

    await eventually(all_reconnected, timeout_s=20)
    for i, company in enumerate(companies):
        moved = supervisor.worker_of(company)
        assert moved is not None and moved.pid != worker.pid
        assert [e.data["phone"] for e in recorder.of_type(company, "connected")] == [f"+7999000001{i}"] * 2

    # A handler still running is not handed out again, even once its claim is old.
    await clock.advance(301)
    assert await inbox.recover() == 0
    replier.gate.set()

    async def replies_sent() -> bool:
        nonlocal advanced_s
        rows = [r for c in companies for r in await outbox.store.list_outbox(c)]
        if all(r.status in ("sent", "uncertain") for r in rows) and len(rows) == 4:
            return True
        if advanced_s < 120:
            await clock.advance(0.5)  # send backoff and the per-chat interval run on the app's clock
            advanced_s += 0.5
        return False

    await eventually(replies_sent, timeout_s=20)
    await inbox.drain()
    handled = await pool.fetch("SELECT id, handled_at FROM messages WHERE direction = 'in' ORDER BY id")
    assert len(handled) == 3 and all(r["handled_at"] is not None for r in handled)
    assert sorted(m.id for m in replier.seen) == [r["id"] for r in handled]  # each handled exactly once

    row = await outbox.store.get_outbox(reminder)
    assert row is not None
    reminder_calls = [c for c in await phone.send_calls(first) if c.text.startswith("Напоминаем")]
    if idempotent:
        assert row.status == "sent" and [c.id for c in reminder_calls] == [row.wa_message_id] * 2
    else:
        assert row.status == "uncertain" and len(reminder_calls) == 1 and "WorkerDiedError" in (row.last_error or "")
    for company in companies:
        texts = [m.text for m in await phone.outbound(company)]
        assert len(texts) == len(set(texts))  # nothing reached the phone twice
        expected = {f"Ответ на: Можно записаться? ({company})"}
        if company == first:
            expected.add("Напоминаем о визите завтра в 10:00")
        assert set(texts) == expected
        replies = [c for c in await phone.send_calls(company) if c.text.startswith("Ответ")]
        assert len(replies) == 1  # one call per reply


async def _equals(value, expected) -> bool:  # type: ignore[no-untyped-def]
    return await value == expected


async def _true(value: bool) -> bool:
    return value


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
