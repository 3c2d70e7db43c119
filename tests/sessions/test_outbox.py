"""Outbox: idempotency, retries while the session is down, rate limits, exactly-once after a crash."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from gateway.clock import FakeClock
from sessions.api import SessionState as S
from sessions.config import OutboxConfig
from sessions.outbox import Outbox
from sessions.transport import NotSentError, SendOutcomeUnknownError, TransportError
from tests.sessions.conftest import Engine, EngineFactory, eventually

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


async def crashed_mid_send(engine: Engine, clock: FakeClock, company: int, text: str, key: str) -> int:
    """What a process that died mid-send leaves behind: the row claimed ('sending'), its send started
    and delivered, the outcome never recorded."""
    oid = await engine.outbox.enqueue(company, CLIENT, text, idempotency_key=key)
    now = clock.now()
    claimed = await engine.outbox.store.claim_outbox(now, now - timedelta(seconds=120), 10)
    assert [r.id for r in claimed] == [oid]
    await engine.outbox.store.mark_outbox_sending(claimed[0].id, now)
    transport = engine.manager.transport_for(company)
    assert transport is not None
    await transport.send_text(claimed[0].chat, claimed[0].text, message_id=claimed[0].wa_message_id)
    return oid or 0


async def test_a_send_cut_off_by_a_crash_is_resent_with_its_id_on_an_idempotent_transport(
    engine: Engine, company: int, clock: FakeClock, pool, redis
) -> None:
    await connect(engine, company)
    oid = await crashed_mid_send(engine, clock, company, "Ваша запись подтверждена", "x1")
    restarted = Outbox(pool, redis, OutboxConfig(typing_max_ms=0), clock, engine.manager.transport_for)
    assert await restarted.run_once() == 0  # the claim is still fresh
    await clock.advance(121)
    assert await restarted.run_once() == 1  # re-sent with the same WhatsApp id ...
    calls = await engine.phone.send_calls(company, to=CLIENT)
    row = await restarted.store.get_outbox(oid)
    assert row is not None and row.status == "sent"
    assert [c.id for c in calls] == [row.wa_message_id] * 2  # two calls, one id ...
    assert [m.text for m in await engine.phone.outbound(company, to=CLIENT)] == ["Ваша запись подтверждена"]


async def test_a_send_cut_off_by_a_crash_is_never_resent_on_a_non_idempotent_transport(
    make_engine: EngineFactory, company: int, clock: FakeClock, pool, redis
) -> None:
    """neonize's case: a resend would be a second message on the client's phone."""
    engine = await make_engine(sim={"idempotent_send": False})
    await connect(engine, company)
    oid = await crashed_mid_send(engine, clock, company, "Ваша запись подтверждена", "x1")
    restarted = Outbox(pool, redis, OutboxConfig(typing_max_ms=0), clock, engine.manager.transport_for)
    await clock.advance(121)
    with capture_logs() as logs:
        assert await restarted.run_once() == 0
    row = await restarted.store.get_outbox(oid)
    assert row is not None and row.status == "uncertain" and "stopped" in (row.last_error or "")
    uncertain = [e for e in logs if e["event"] == "outbox_send_uncertain"]
    assert uncertain and uncertain[0]["company_id"] == company and uncertain[0]["log_level"] == "error"
    await clock.advance(3600)
    assert await restarted.run_once() == 0  # terminal: never picked up again
    assert len(await engine.phone.send_calls(company, to=CLIENT)) == 1
    assert [m.text for m in await engine.phone.outbound(company, to=CLIENT)] == ["Ваша запись подтверждена"]


@pytest.mark.parametrize("idempotent", [True, False])
async def test_crash_after_claim_before_send_delivers_once(
    make_engine: EngineFactory, company: int, clock, pool, redis, idempotent: bool
) -> None:
    engine = await make_engine(sim={"idempotent_send": idempotent})
    await connect(engine, company)
    oid = await engine.outbox.enqueue(company, CLIENT, "Текст", idempotency_key="y1")
    now = clock.now()
    await engine.outbox.store.claim_outbox(now, now - timedelta(seconds=120), 10)  # then died: nothing sent
    restarted = Outbox(pool, redis, OutboxConfig(typing_max_ms=0), clock, engine.manager.transport_for)
    await clock.advance(121)
    assert await restarted.run_once() == 1
    await clock.advance(10)
    assert await restarted.run_once() == 0
    assert len(await engine.phone.send_calls(company, to=CLIENT)) == 1
    assert len(await engine.phone.outbound(company, to=CLIENT)) == 1
    assert (await restarted.store.get_outbox(oid or 0)).status == "sent"  # type: ignore[union-attr]


@pytest.mark.parametrize("idempotent", [True, False])
async def test_a_send_that_timed_out_after_delivery_reaches_the_client_once(
    make_engine: EngineFactory, company: int, clock: FakeClock, pool, redis, idempotent: bool
) -> None:
    """The text reached the phone but the call never returned (the 30 s send timeout, here 0.2 s)."""
    engine = await make_engine(sim={"idempotent_send": idempotent})
    await connect(engine, company)
    await engine.phone.hold_sends(company, CHAT, after_delivery=True)
    outbox = Outbox(pool, redis, OutboxConfig(typing_max_ms=0, send_timeout_s=0.2, backoff_base_s=1,
                                              backoff_cap_s=2), clock, engine.manager.transport_for)
    oid = await outbox.enqueue(company, CLIENT, "Вы записаны на завтра", idempotency_key="t1")
    assert await outbox.run_once() == 0
    row = await outbox.store.get_outbox(oid or 0)
    assert row is not None and row.attempts == 1 and "TimeoutError" in (row.last_error or "")
    await engine.phone.release_sends(company)
    await clock.advance(600)
    sent = await outbox.run_once()
    calls = await engine.phone.send_calls(company, to=CLIENT)
    row = await outbox.store.get_outbox(oid or 0)
    assert row is not None
    if idempotent:  # sent again with the same id; the receiver dropped the copy
        assert sent == 1 and row.status == "sent" and [c.id for c in calls] == [row.wa_message_id] * 2
    else:  # never sent again
        assert sent == 0 and row.status == "uncertain" and len(calls) == 1
    assert [m.text for m in await engine.phone.outbound(company, to=CLIENT)] == ["Вы записаны на завтра"]


async def test_the_id_a_transport_sent_with_is_stored_so_its_echo_is_ours(
    make_engine: EngineFactory, company: int, pool, redis
) -> None:
    """neonize picks its own message id: the echo of our message carries that id, not the outbox's."""
    engine = await make_engine(sim={"idempotent_send": False})
    await connect(engine, company)
    oid = await engine.outbox.enqueue(company, CLIENT, "Ждём вас в 12:00", idempotency_key="e1")
    assert await engine.outbox.run_once() == 1
    row = await engine.outbox.store.get_outbox(oid or 0)
    [call] = await engine.phone.send_calls(company, to=CLIENT)
    assert row is not None and call.id != row.wa_message_id and row.sent_wa_message_id == call.id
    out = [m for m in await engine.outbox.store.list_messages(company) if m.direction == "out"]
    assert [m.wa_message_id for m in out] == [call.id]
    await engine.phone.inbound(company, CLIENT, "Ждём вас в 12:00", from_me=True, message_id=call.id)
    await engine.phone.inbound(company, CLIENT, "Спасибо!")  # handled after the echo (one session, in order)

    async def thanks_stored() -> bool:
        return any(m.direction == "in" for m in await engine.outbox.store.list_messages(company))

    await eventually(thanks_stored)
    assert not await engine.inbox.is_paused(company, CHAT)  # not mistaken for the staff writing by hand
    assert [m.direction for m in await engine.outbox.store.list_messages(company)] == ["out", "in"]


async def test_send_errors_back_off_then_dead(engine: Engine, company: int, clock: FakeClock, pool, redis) -> None:
    class Broken:
        company_id = company
        calls = 0

        async def send_typing(self, chat: str, typing: bool = True) -> None:
            return None

        async def send_text(self, chat: str, text: str, message_id: str | None = None) -> str:
            Broken.calls += 1
            raise NotSentError("server returned error 500")

    outbox = Outbox(pool, redis, OutboxConfig(max_attempts=3, backoff_base_s=1, backoff_cap_s=4, typing_max_ms=0), clock,
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
    outbox = Outbox(pool, redis, OutboxConfig(typing_max_ms=0), clock, engine.manager.transport_for,
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

    def __init__(self, idempotent_send: bool) -> None:
        self.idempotent_send = idempotent_send
        self.calls = 0

    async def send_typing(self, chat: str, on: bool) -> None:
        return None

    async def send_text(self, chat: str, text: str, *, message_id: str | None = None) -> str:
        self.calls += 1
        await asyncio.Event().wait()
        return ""


@pytest.mark.parametrize("idempotent", [True, False])
async def test_a_send_that_hangs_is_bounded(
    engine: Engine, company: int, pool, redis, clock: FakeClock, idempotent: bool
) -> None:
    hanging = _HangingTransport(idempotent)
    outbox = Outbox(pool, redis, OutboxConfig(send_timeout_s=0.05, typing_max_ms=0), clock, lambda cid: hanging)  # type: ignore[arg-type,return-value]
    oid = await outbox.enqueue(company, CLIENT, "Напоминание", idempotency_key="hang1")
    assert await asyncio.wait_for(outbox.run_once(), 5) == 0  # hung forever before
    row = await outbox.store.get_outbox(oid or 0)
    assert row is not None and row.attempts == 1 and "TimeoutError" in (row.last_error or "")
    if idempotent:
        assert row.status == "failed" and row.next_attempt_at > clock.now()  # retried later, same message id
    else:
        assert row.status == "uncertain"  # it may have gone out: never again
    await clock.advance(3600)
    await asyncio.wait_for(outbox.run_once(), 5)
    assert hanging.calls == (2 if idempotent else 1)


class _Scripted:
    """A transport whose sends fail as scripted, then succeed; counts the calls."""

    idempotent_send = False

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def send_typing(self, chat: str, typing: bool = True) -> None:
        return None

    async def send_text(self, chat: str, text: str, message_id: str | None = None) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "3EB0SENT"


@pytest.mark.parametrize(
    ("error", "status", "calls"),
    [
        (NotSentError("rate-overlimit"), "sent", 2),  # certainly not sent: retried
        (SendOutcomeUnknownError("no ack in time"), "uncertain", 1),  # maybe sent: not again
        (TransportError("worker said something odd"), "uncertain", 1),  # unclassified counts as unknown
    ],
)
async def test_send_failures_are_retried_only_when_certainly_not_sent(
    engine: Engine, company: int, pool, redis, clock: FakeClock, error: Exception, status: str, calls: int
) -> None:
    transport = _Scripted(error)
    outbox = Outbox(pool, redis, OutboxConfig(typing_max_ms=0, backoff_base_s=1, backoff_cap_s=2), clock,
                    lambda cid: transport)  # type: ignore[arg-type,return-value]
    oid = await outbox.enqueue(company, CLIENT, "Текст", idempotency_key="s1")
    await outbox.run_once()
    await clock.advance(60)
    await outbox.run_once()
    row = await outbox.store.get_outbox(oid or 0)
    assert row is not None and row.status == status and transport.calls == calls


async def test_typing_shows_for_a_pause_proportional_to_the_text_then_paused(
    make_engine: EngineFactory, company: int, clock: FakeClock
) -> None:
    engine = await make_engine(outbox={"typing_ms_per_char": 50, "typing_max_ms": 2000})
    await connect(engine, company)
    text = "Записала вас на 12:00"  # 21 characters: 1.05 s of "typing..."
    oid = await engine.outbox.enqueue(company, CLIENT, text, idempotency_key="p1")
    start = clock.time()
    assert await engine.outbox.run_once() == 0  # "typing..." first, nothing sleeps
    assert await engine.phone.presence(company) == [(CHAT, "composing", start)]
    assert await engine.phone.send_calls(company) == []
    row = await engine.outbox.store.get_outbox(oid or 0)
    assert row is not None and row.status == "pending" and row.attempts == 0 and row.typing_at is not None
    await clock.advance(1.0)
    assert await engine.outbox.run_once() == 0  # still typing
    await clock.advance(0.05)
    assert await engine.outbox.run_once() == 1
    [call] = await engine.phone.send_calls(company)
    assert call.text == text and call.at == pytest.approx(start + 1.05)
    assert [state for _, state, _ in await engine.phone.presence(company)] == ["composing", "paused"]

    # A long text types for at most typing_max_ms.
    await engine.outbox.enqueue(company, "+79160000001", "Очень длинный ответ. " * 20, idempotency_key="p2")
    begun = clock.time()
    assert await engine.outbox.run_once() == 0
    await clock.advance(2.0)
    assert await engine.outbox.run_once() == 1
    assert (await engine.phone.send_calls(company))[-1].at == pytest.approx(begun + 2.0)


async def test_typing_pauses_keep_one_message_a_second_per_chat(
    make_engine: EngineFactory, company: int, clock: FakeClock
) -> None:
    engine = await make_engine(outbox={"typing_ms_per_char": 100, "typing_max_ms": 3000, "chat_interval_s": 1.0})
    await connect(engine, company)
    await engine.outbox.enqueue(company, CLIENT, "Длинное первое сообщение", idempotency_key="a")  # 2.4 s
    await engine.outbox.enqueue(company, CLIENT, "Да", idempotency_key="b")  # 0.2 s
    for _ in range(40):
        await engine.outbox.run_once()
        await clock.advance(0.1)
    calls = await engine.phone.send_calls(company, to=CLIENT)
    assert [c.text for c in calls] == ["Длинное первое сообщение", "Да"]
    assert calls[1].at - calls[0].at > 0.999  # a short reply neither overtakes nor crowds the first


class _WedgedTyping(_Scripted):
    """The typing indicator hangs (a wedged connection): the text must not be tried blind."""

    async def send_typing(self, chat: str, typing: bool = True) -> None:
        await asyncio.Event().wait()


async def test_a_hanging_typing_indicator_defers_the_text_untried(
    engine: Engine, company: int, pool, redis, clock: FakeClock
) -> None:
    transport = _WedgedTyping()
    outbox = Outbox(pool, redis, OutboxConfig(typing_max_ms=0, send_timeout_s=0.05), clock,
                    lambda cid: transport)  # type: ignore[arg-type,return-value]
    oid = await outbox.enqueue(company, CLIENT, "Текст", idempotency_key="w1")
    assert await asyncio.wait_for(outbox.run_once(), 5) == 0
    row = await outbox.store.get_outbox(oid or 0)
    assert row is not None and row.status == "failed" and row.send_started_at is None and transport.calls == 0
