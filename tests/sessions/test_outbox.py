"""Outbox: idempotency, retries while the session is down, rate limits, exactly-once after a crash."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from gateway.clock import FakeClock
from sessions.api import SessionState as S
from sessions.config import OutboxConfig
from sessions.outbox import Outbox
from sessions.transport import TransportError
from tests.sessions.conftest import Engine, EngineFactory

CLIENT = "+79161234567"
CHAT = "79161234567@s.whatsapp.net"


async def connect(engine: Engine, company: int) -> None:
    await engine.manager.start(company)
    await engine.recorder.wait_state(company, S.SCAN_QR)
    await engine.phone.scan(company)
    await engine.recorder.wait_event(company, "connected")


async def test_idempotency_key_dedups(engine: Engine, company: int, pool) -> None:
    first = await engine.outbox.enqueue(company, CLIENT, "Вы записаны", idempotency_key="booking:1:created")
    again = await engine.outbox.enqueue(company, CLIENT, "Вы записаны", idempotency_key="booking:1:created")
    assert first is not None and again is None
    rows = await engine.outbox.store.list_outbox(company)
    assert len(rows) == 1 and rows[0].chat == CHAT and rows[0].status == "pending"
    assert rows[0].wa_message_id.startswith("3EB0")


async def test_bad_input_is_refused(engine: Engine, company: int) -> None:
    with pytest.raises(ValueError):
        await engine.outbox.enqueue(company, CLIENT, "   ", idempotency_key="k")
    with pytest.raises(ValueError):
        await engine.outbox.enqueue(company, "8916", "Текст", idempotency_key="k")
    with pytest.raises(ValueError):
        await engine.outbox.enqueue(company, CLIENT, "Текст", idempotency_key="")
    assert await engine.outbox.store.list_outbox(company) == []


async def test_retries_while_down_then_delivers_with_typing(engine: Engine, company: int, clock: FakeClock) -> None:
    oid = await engine.outbox.enqueue(company, CLIENT, "Напоминание о визите", idempotency_key="r1", kind="reminder")
    assert await engine.outbox.run_once() == 0  # no session yet
    row = await engine.outbox.store.get_outbox(oid or 0)
    # Waiting for the session spends no attempt (a long outage must not kill messages).
    assert row is not None and row.status == "pending" and row.attempts == 0
    assert row.next_attempt_at > clock.now() and "not connected" in (row.last_error or "")
    first_retry = row.next_attempt_at
    assert await engine.outbox.run_once() == 0  # not due yet: nothing claimed
    assert (await engine.outbox.store.get_outbox(oid or 0)).next_attempt_at == first_retry  # type: ignore[union-attr]
    # An hour of outage: the retries thin out (capped) and the row is still pending.
    gaps = []
    for _ in range(12):
        await clock.advance(300)
        before = clock.now()
        await engine.outbox.run_once()
        row = await engine.outbox.store.get_outbox(oid or 0)
        assert row is not None and row.status == "pending" and row.attempts == 0
        gaps.append((row.next_attempt_at - before).total_seconds())
    assert max(gaps) <= 300 and gaps[-1] >= 150

    await connect(engine, company)
    await clock.advance(300)
    assert await engine.outbox.run_once() == 1
    row = await engine.outbox.store.get_outbox(oid or 0)
    assert row is not None and row.status == "sent" and row.sent_at is not None
    sent = await engine.phone.outbound(company, to=CLIENT)
    assert [(m.id, m.text) for m in sent] == [(row.wa_message_id, "Напоминание о визите")]
    assert await engine.phone.typing(company) == [CHAT]
    assert await engine.outbox.run_once() == 0  # sent once only


async def test_rate_limits_per_session_and_per_chat(make_engine: EngineFactory, company: int, clock: FakeClock) -> None:
    engine = await make_engine(outbox={"per_minute": 3, "chat_interval_s": 1.0})
    await connect(engine, company)
    for i in range(5):
        await engine.outbox.enqueue(company, f"+7916000000{i}", f"Сообщение {i}", idempotency_key=f"m{i}")
    assert await engine.outbox.run_once() == 3
    assert await engine.outbox.run_once() == 0  # the other two wait for the window
    await clock.advance(59)
    assert await engine.outbox.run_once() == 0
    await clock.advance(1.5)
    assert await engine.outbox.run_once() == 2
    assert len(await engine.phone.outbound(company)) == 5

    # One chat: at most one message per second.
    await clock.advance(120)
    await engine.outbox.enqueue(company, CLIENT, "Первое", idempotency_key="c1")
    await engine.outbox.enqueue(company, CLIENT, "Второе", idempotency_key="c2")
    assert await engine.outbox.run_once() == 1
    await clock.advance(0.5)
    assert await engine.outbox.run_once() == 0
    await clock.advance(0.6)
    assert await engine.outbox.run_once() == 1
    assert [m.text for m in await engine.phone.outbound(company, to=CLIENT)] == ["Первое", "Второе"]


async def test_nothing_sent_twice_after_crash_between_send_and_mark(
    engine: Engine, company: int, clock: FakeClock, pool, redis
) -> None:
    await connect(engine, company)
    oid = await engine.outbox.enqueue(company, CLIENT, "Ваша запись подтверждена", idempotency_key="x1")
    # The crashed process claimed the row and sent it, then died before marking it sent.
    now = clock.now()
    claimed = await engine.outbox.store.claim_outbox(now, now - timedelta(seconds=120), 10)
    assert [r.id for r in claimed] == [oid]
    transport = engine.manager.transport_for(company)
    assert transport is not None
    await transport.send_text(claimed[0].chat, claimed[0].text, message_id=claimed[0].wa_message_id)

    restarted = Outbox(pool, redis, OutboxConfig(), clock, engine.manager.transport_for)
    assert await restarted.run_once() == 0  # the claim is still fresh
    await clock.advance(121)
    assert await restarted.run_once() == 1  # re-sent with the same WhatsApp id ...
    sent = await engine.phone.outbound(company, to=CLIENT)
    assert [m.text for m in sent] == ["Ваша запись подтверждена"]  # ... so the receiver dropped the copy
    assert (await restarted.store.get_outbox(oid or 0)).status == "sent"  # type: ignore[union-attr]


async def test_crash_after_claim_before_send_delivers_once(engine: Engine, company: int, clock, pool, redis) -> None:
    await connect(engine, company)
    await engine.outbox.enqueue(company, CLIENT, "Текст", idempotency_key="y1")
    now = clock.now()
    await engine.outbox.store.claim_outbox(now, now - timedelta(seconds=120), 10)
    restarted = Outbox(pool, redis, OutboxConfig(), clock, engine.manager.transport_for)
    await clock.advance(121)
    assert await restarted.run_once() == 1
    await clock.advance(10)
    assert await restarted.run_once() == 0
    assert len(await engine.phone.outbound(company, to=CLIENT)) == 1


async def test_send_errors_back_off_then_dead(engine: Engine, company: int, clock: FakeClock, pool, redis) -> None:
    class Broken:
        company_id = company
        calls = 0

        async def send_typing(self, chat: str, typing: bool = True) -> None:
            return None

        async def send_text(self, chat: str, text: str, message_id: str | None = None) -> str:
            Broken.calls += 1
            raise TransportError("server said 500")

    outbox = Outbox(pool, redis, OutboxConfig(max_attempts=3, backoff_base_s=1, backoff_cap_s=4), clock,
                    lambda cid: Broken())  # type: ignore[arg-type,return-value]
    oid = await outbox.enqueue(company, CLIENT, "Текст", idempotency_key="z1")
    await outbox.run_once()
    row = await outbox.store.get_outbox(oid or 0)
    assert row is not None and row.status == "failed" and row.attempts == 1 and row.next_attempt_at > clock.now()
    assert await outbox.run_once() == 0 and Broken.calls == 1  # backing off
    await clock.advance(10)
    for _ in range(2):
        await outbox.run_once()
        await clock.advance(10)
    row = await outbox.store.get_outbox(oid or 0)
    assert row is not None and row.status == "dead" and row.attempts == 3 and "500" in (row.last_error or "")
    assert Broken.calls == 3
    await clock.advance(3600)
    assert await outbox.run_once() == 0 and Broken.calls == 3


async def test_zombie_session_is_reconnected_by_a_failed_send(
    engine: Engine, company: int, clock: FakeClock, pool, redis
) -> None:
    from tests.sessions.test_state_machine import park_and_advance

    await connect(engine, company)
    transport = engine.manager.transport_for(company)
    assert transport is not None
    transport._phase = "down"  # type: ignore[attr-defined]  # the connection died silently
    outbox = Outbox(pool, redis, OutboxConfig(), clock, engine.manager.transport_for,
                    on_not_connected=engine.manager.report_send_failure)
    oid = await outbox.enqueue(company, CLIENT, "Напоминание", idempotency_key="zombie")
    assert await outbox.run_once() == 0
    await engine.recorder.wait_state(company, S.DISCONNECTED)
    info = await engine.manager.info(company)
    assert "send failed while connected" in (info.last_error or "")
    await park_and_advance(clock, 2)
    await engine.recorder.wait_count(company, S.CONNECTED, 2)
    await clock.advance(300)
    assert await outbox.run_once() == 1
    assert (await outbox.store.get_outbox(oid or 0)).status == "sent"  # type: ignore[union-attr]
    assert [m.text for m in await engine.phone.outbound(company, to=CLIENT)] == ["Напоминание"]


class _HangingTransport:
    """A transport whose send never returns (a wedged connection)."""

    async def send_typing(self, chat: str, on: bool) -> None:
        return None

    async def send_text(self, chat: str, text: str, *, message_id: str | None = None) -> str:
        await asyncio.Event().wait()
        return ""


async def test_a_send_that_hangs_is_bounded_and_retried(engine: Engine, company: int, pool, redis, clock: FakeClock) -> None:
    hanging = _HangingTransport()
    outbox = Outbox(pool, redis, OutboxConfig(send_timeout_s=0.05), clock, lambda cid: hanging)  # type: ignore[arg-type,return-value]
    oid = await outbox.enqueue(company, CLIENT, "Напоминание", idempotency_key="hang1")
    assert await asyncio.wait_for(outbox.run_once(), 5) == 0  # hung forever before
    row = await outbox.store.get_outbox(oid or 0)
    assert row is not None and row.status == "failed" and row.attempts == 1
    assert "TimeoutError" in (row.last_error or "")
    assert row.next_attempt_at > clock.now()  # retried later with backoff, same message id
