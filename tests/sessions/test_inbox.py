"""Inbox: persist first, handle once, filter noise, pause on staff messages, recover after a crash."""

from __future__ import annotations

import asyncio

from gateway.clock import FakeClock
from sessions.api import InboundMessage
from sessions.api import SessionState as S
from sessions.inbox import Inbox
from sessions.transport import IncomingText
from tests.sessions.conftest import Engine, eventually


class RecordingHandler:
    def __init__(self) -> None:
        self.seen: list[InboundMessage] = []

    async def handle(self, message: InboundMessage) -> None:
        self.seen.append(message)


def text(mid: str, chat: str = "79161234567@s.whatsapp.net", **kw: object) -> IncomingText:
    values: dict[str, object] = {"chat": chat, "sender": chat, "message_id": mid, "text": "Привет", "timestamp": 1.0}
    values.update(kw)
    return IncomingText(**values)  # type: ignore[arg-type]


async def test_sim_inbound_reaches_handler_persisted(engine: Engine, company: int, pool) -> None:
    handler = RecordingHandler()
    engine.inbox.set_handler(handler)
    await engine.manager.start(company)
    await engine.recorder.wait_state(company, S.SCAN_QR)
    await engine.phone.scan(company)
    await engine.recorder.wait_event(company, "connected")
    mid = await engine.phone.inbound(company, "+79161234567", "Хочу на стрижку завтра", push_name="Анна")

    async def handled() -> bool:
        await engine.inbox.drain()
        return len(handler.seen) == 1

    await eventually(handled)
    m = handler.seen[0]
    assert (m.company_id, m.chat, m.sender_phone, m.wa_message_id, m.text, m.push_name) == (
        company, "79161234567@s.whatsapp.net", "+79161234567", mid, "Хочу на стрижку завтра", "Анна")
    row = await pool.fetchrow("SELECT direction, handled_at, handle_note FROM messages WHERE id = $1", m.id)
    assert row["direction"] == "in" and row["handled_at"] is not None and row["handle_note"] is None


async def test_duplicate_delivery_is_handled_once(engine: Engine, company: int, pool) -> None:
    handler = RecordingHandler()
    engine.inbox.set_handler(handler)
    first = await engine.inbox.accept(company, text("ABC1"))
    second = await engine.inbox.accept(company, text("ABC1"))
    await engine.inbox.drain()
    assert first is not None and second is None
    assert [m.wa_message_id for m in handler.seen] == ["ABC1"]
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE company_id = $1", company) == 1


async def test_groups_status_and_echoes_are_filtered(engine: Engine, company: int, pool) -> None:
    handler = RecordingHandler()
    engine.inbox.set_handler(handler)
    ours = await engine.outbox.enqueue(company, "+79161234567", "Ответ бота", idempotency_key="k1")
    row = await engine.outbox.store.get_outbox(ours or 0)
    assert row is not None
    assert await engine.inbox.accept(company, text("G1", chat="120363@g.us", is_group=True)) is None
    assert await engine.inbox.accept(company, text("S1", chat="status@broadcast", is_status=True)) is None
    assert await engine.inbox.accept(company, text(row.wa_message_id, from_me=True)) is None
    await engine.inbox.drain()
    assert handler.seen == []
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0
    assert not await engine.inbox.is_paused(company, "79161234567@s.whatsapp.net")  # our echo is no handoff


async def test_staff_message_pauses_the_chat(engine: Engine, company: int, clock: FakeClock, pool) -> None:
    handler = RecordingHandler()
    engine.inbox.set_handler(handler)
    chat = "79161234567@s.whatsapp.net"
    other = "79160000000@s.whatsapp.net"
    assert await engine.inbox.accept(company, text("STAFF1", from_me=True, text="Здравствуйте, это Мария")) is None
    assert await engine.inbox.is_paused(company, chat)
    assert await pool.fetchval("SELECT direction FROM messages WHERE wa_message_id = 'STAFF1'") == "staff"

    paused_id = await engine.inbox.accept(company, text("C1"))
    await engine.inbox.accept(company, text("C2", chat=other, sender=other))
    await engine.inbox.drain()
    assert [m.wa_message_id for m in handler.seen] == ["C2"]  # the paused chat got no bot
    note = await pool.fetchval("SELECT handle_note FROM messages WHERE id = $1", paused_id)
    assert note is not None and note.startswith("paused")

    await clock.advance(120 * 60 + 1)
    assert not await engine.inbox.is_paused(company, chat)
    await engine.inbox.accept(company, text("C3"))
    await engine.inbox.drain()
    assert [m.wa_message_id for m in handler.seen] == ["C2", "C3"]


async def test_explicit_pause_and_resume(engine: Engine, company: int) -> None:
    chat = "79161234567@s.whatsapp.net"
    await engine.inbox.pause(company, chat, minutes=5)
    assert await engine.inbox.is_paused(company, chat)
    await engine.inbox.resume(company, chat)
    assert not await engine.inbox.is_paused(company, chat)


async def test_crash_between_insert_and_handler_recovers_once(
    engine: Engine, company: int, pool, redis, clock: FakeClock
) -> None:
    # The crashed process stored the message but never ran the handler.
    stored = await engine.inbox.store.insert_message(
        company, direction="in", wa_message_id="LOST1", chat="79161234567@s.whatsapp.net", text="Есть окно?",
        sender_phone="+79161234567", push_name=None, sent_at=None, received_at=clock.now(),
    )
    handler = RecordingHandler()
    restarted = Inbox(pool, redis, engine.inbox.config, clock, engine.tasks, handler)
    assert await restarted.recover() == 1
    await restarted.drain()
    assert [m.id for m in handler.seen] == [stored]
    assert await restarted.recover() == 0  # handled: never again
    await restarted.drain()
    assert len(handler.seen) == 1


async def test_claim_lets_only_one_instance_handle(engine: Engine, company: int, pool, redis, clock) -> None:
    stored = await engine.inbox.store.insert_message(
        company, direction="in", wa_message_id="RACE1", chat="79161234567@s.whatsapp.net", text="Привет",
        sender_phone=None, push_name=None, sent_at=None, received_at=clock.now(),
    )
    a, b = RecordingHandler(), RecordingHandler()
    one = Inbox(pool, redis, engine.inbox.config, clock, engine.tasks, a)
    two = Inbox(pool, redis, engine.inbox.config, clock, engine.tasks, b)
    results = await asyncio.gather(one.handle_stored(stored or 0), two.handle_stored(stored or 0))
    assert sorted(results) == [False, True]
    assert len(a.seen) + len(b.seen) == 1


async def test_handler_error_is_recorded_not_retried(engine: Engine, company: int, pool) -> None:
    class Boom:
        calls = 0

        async def handle(self, message: InboundMessage) -> None:
            Boom.calls += 1
            raise RuntimeError("booking exploded")

    engine.inbox.set_handler(Boom())
    mid = await engine.inbox.accept(company, text("E1"))
    await engine.inbox.drain()
    assert await engine.inbox.recover() == 0
    assert Boom.calls == 1
    note = await pool.fetchval("SELECT handle_note FROM messages WHERE id = $1", mid)
    assert "booking exploded" in note


async def test_claim_abandoned_mid_handler_is_recovered_later(
    engine: Engine, company: int, pool, redis, clock: FakeClock
) -> None:
    stored = await engine.inbox.store.insert_message(
        company, direction="in", wa_message_id="MID1", chat="79161234567@s.whatsapp.net", text="Запишите меня",
        sender_phone=None, push_name=None, sent_at=None, received_at=clock.now(),
    )
    # A process claimed it, then died inside the handler.
    assert await engine.inbox.store.claim_message(stored or 0, clock.now(), clock.now()) is not None
    handler = RecordingHandler()
    survivor = Inbox(pool, redis, engine.inbox.config, clock, engine.tasks, handler)
    assert await survivor.recover() == 0  # the claim is fresh: maybe still being handled
    await clock.advance(301)
    assert await survivor.recover() == 1
    await survivor.drain()
    assert [m.id for m in handler.seen] == [stored]


async def test_text_postgres_cannot_store_is_cleaned_not_lost(engine: Engine, company: int, pool) -> None:
    handler = RecordingHandler()
    engine.inbox.set_handler(handler)
    # A peer controls the text, the name and the timestamp: none of them may lose the message.
    first = await engine.inbox.accept(company, text("NUL1", text="при\x00вет", push_name="Ан\x00на"))
    second = await engine.inbox.accept(company, text("SUR1", text="смайл \ud83d", timestamp=1e308))
    await engine.inbox.drain()
    assert first is not None and second is not None
    assert sorted(m.text for m in handler.seen) == ["привет", "смайл \ufffd"]
    rows = await pool.fetch("SELECT text, push_name, sent_at FROM messages WHERE company_id = $1 ORDER BY id", company)
    assert [(r["text"], r["push_name"]) for r in rows] == [("привет", "Анна"), ("смайл \ufffd", None)]
    assert rows[1]["sent_at"] is None
