"""The message pipeline: debounce per chat, one answer per burst, locks, durability, multi-tenancy."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from booking import keys
from booking.actions import BookingActions
from booking.config import BookingConfig
from booking.dialogue import Dialogue
from booking.model import SalonCatalog, Understanding
from booking.pipeline import SORRY, BookingHandler, merge_understandings
from booking.ports import SalonInfo
from booking.slots import SlotFinder
from booking.store import BookingStore
from gateway.clock import FakeClock
from gateway.tasks import TaskSupervisor
from sessions.api import InboundMessage
from tests.booking.conftest import add_company
from tests.booking.fakes import FakeHandoff, FakeOutbox, FakeYClients, demo_data


def scripted(text: str, now: datetime, catalog: SalonCatalog, context: dict[str, Any] | None = None) -> Understanding:
    """A tiny keyword parser standing in for booking.nlu (the pipeline, not the NLU, is under test)."""
    t = text.lower()
    if "привет" in t:
        return Understanding("greeting")
    if "маникюр" in t:
        return Understanding("book", [1012], None, date(2026, 11, 24), time(11) if "11" in t else None)
    if "завтра в 11" in t:
        return Understanding("other", [], None, date(2026, 11, 24), time(11))
    if t in ("да", "ок"):
        return Understanding("confirm")
    if "адрес" in t:
        return Understanding("hours_address")
    return Understanding("other")


class Directory:
    def __init__(self, salons: dict[int, SalonInfo]) -> None:
        self.salons = salons

    async def salon(self, company_id: int) -> SalonInfo | None:
        return self.salons.get(company_id)


async def make_handler(pool: asyncpg.Pool, redis: aioredis.Redis, clock: FakeClock, companies: list[int],
                       outbox: FakeOutbox, api: FakeYClients | None = None) -> tuple[BookingHandler, TaskSupervisor]:
    api = api or FakeYClients()
    store = BookingStore(pool)
    cat = SalonCatalog.from_salon_json(demo_data())
    tasks = TaskSupervisor("test")
    handler = BookingHandler(
        store=store, dialogue=Dialogue(BookingActions(api, store, clock), SlotFinder(api), FakeHandoff()),
        directory=Directory({c: SalonInfo(c, 962302, cat) for c in companies}), outbox=outbox,
        understand=scripted, redis=redis, clock=clock, spawner=tasks, config=BookingConfig(debounce_ms=2000),
    )
    return handler, tasks


async def tick(clock: FakeClock, handler: BookingHandler, seconds: float) -> None:
    """Move time on and let every turn that became due finish."""
    await clock.advance(seconds)
    await handler.wait_idle()


def msg(mid: int, company_id: int, text: str, chat: str = "79990001122@s.whatsapp.net") -> InboundMessage:
    return InboundMessage(id=mid, company_id=company_id, chat=chat, sender_phone="+" + chat.split("@")[0],
                          wa_message_id=f"wa{mid}", text=text, received_at=datetime(2026, 11, 23, 7, 0))


async def test_burst_gets_one_answer_after_quiet_window(pool, redis, clock: FakeClock) -> None:
    cid = await add_company(pool)
    outbox = FakeOutbox()
    handler, tasks = await make_handler(pool, redis, clock, [cid], outbox)
    try:
        await handler.handle(msg(1, cid, "привет"))
        await tick(clock, handler, 1.5)
        await handler.handle(msg(2, cid, "хочу на маникюр"))
        await tick(clock, handler, 1.5)
        await handler.handle(msg(3, cid, "завтра в 11"))
        await tick(clock, handler, 1.9)
        assert outbox.sent == []  # still inside the window of the last message
        await tick(clock, handler, 0.2)
        assert len(outbox.sent) == 1
        assert "записываю" in outbox.sent[0][2] or "зовут" in outbox.sent[0][2]
        # A redelivered message is not answered again.
        await handler.handle(msg(3, cid, "завтра в 11"))
        await tick(clock, handler, 5)
        assert len(outbox.sent) == 1
    finally:
        await handler.close()
        await tasks.close(grace_s=0)


async def test_chats_and_companies_are_separate(pool, redis, clock: FakeClock) -> None:
    a = await add_company(pool, 962302)
    b = await add_company(pool, 962303, "Другой")
    outbox = FakeOutbox()
    handler, tasks = await make_handler(pool, redis, clock, [a, b], outbox)
    try:
        chat = "79990001122@s.whatsapp.net"
        await handler.handle(msg(1, a, "маникюр завтра в 11", chat))
        await handler.handle(msg(1, b, "какой адрес", chat))  # same message id and chat, other salon
        await tick(clock, handler, 2.1)
        assert sorted(c for c, *_ in outbox.sent) == [a, b]
        assert await BookingStore(pool).load_conversation(a, chat) != await BookingStore(pool).load_conversation(b, chat)
        state_b = (await BookingStore(pool).load_conversation(b, chat)).state
        assert state_b.get("flow") is None
    finally:
        await handler.close()
        await tasks.close(grace_s=0)


async def test_message_pending_at_crash_is_answered_after_restart(pool, redis, clock: FakeClock) -> None:
    cid = await add_company(pool)
    outbox = FakeOutbox()
    first, tasks1 = await make_handler(pool, redis, clock, [cid], outbox)
    await first.handle(msg(1, cid, "какой адрес"))
    await tick(clock, first, 1.0)
    await first.close()  # the process dies inside the debounce window
    await tasks1.close(grace_s=0)
    assert outbox.sent == []
    second, tasks2 = await make_handler(pool, redis, clock, [cid], outbox)
    try:
        assert await second.recover_once() == 1
        await tick(clock, second, 0.1)
        assert len(outbox.sent) == 1 and "Садовая" in outbox.sent[0][2]
        assert await second.recover_once() == 0
    finally:
        await second.close()
        await tasks2.close(grace_s=0)


async def test_chat_locked_elsewhere_waits_for_recovery(pool, redis, clock: FakeClock) -> None:
    cid = await add_company(pool)
    outbox = FakeOutbox()
    handler, tasks = await make_handler(pool, redis, clock, [cid], outbox)
    chat = "79990001122@s.whatsapp.net"
    try:
        await redis.set(keys.chat_lock(cid, chat), "other-instance", px=30_000)
        await handler.handle(msg(1, cid, "какой адрес", chat))
        await tick(clock, handler, 2.1)
        assert outbox.sent == []  # another instance holds the chat: nothing answered twice
        await tick(clock, handler, 1.0)
        assert outbox.sent == []
        await redis.delete(keys.chat_lock(cid, chat))
        await tick(clock, handler, 1.0)  # retried shortly after the other instance let go
        assert len(outbox.sent) == 1
        # Held for good: after a few tries the chat is left to the periodic sweep.
        await redis.set(keys.chat_lock(cid, chat), "other-instance", px=60_000)
        await handler.handle(msg(2, cid, "какой адрес", chat))
        for _ in range(8):
            await tick(clock, handler, 1.0)
        assert len(outbox.sent) == 1 and handler.waiting_chats == 0
        await redis.delete(keys.chat_lock(cid, chat))
        assert await handler.recover_once() == 1
        await tick(clock, handler, 0.1)
        assert len(outbox.sent) == 2
    finally:
        await handler.close()
        await tasks.close(grace_s=0)


async def test_yclients_down_keeps_nothing_lost(pool, redis, clock: FakeClock) -> None:
    cid = await add_company(pool)
    outbox = FakeOutbox()
    api = FakeYClients()
    handler, tasks = await make_handler(pool, redis, clock, [cid], outbox, api)
    try:
        await handler.handle(msg(1, cid, "маникюр завтра в 11"))
        await tick(clock, handler, 2.1)
        await handler.handle(msg(2, cid, "Аня"))
        await tick(clock, handler, 2.1)
        api.down = True
        await handler.handle(msg(3, cid, "да"))
        await tick(clock, handler, 2.1)
        assert "не отвечает" in outbox.sent[-1][2] and not api.records
        api.down = False
        await handler.handle(msg(4, cid, "да"))
        await tick(clock, handler, 2.1)
        assert "Готово" in outbox.sent[-1][2] and len(api.records) == 1
    finally:
        await handler.close()
        await tasks.close(grace_s=0)


def test_merge_prefers_specific_intent_and_latest_slots() -> None:
    u = merge_understandings([
        Understanding("greeting"),
        Understanding("book", [1011], None, date(2026, 11, 24), time(11)),
        Understanding("other", [1013], None, None, time(15)),
    ])
    assert u.intent == "book" and u.service_ids == [1011, 1013] and u.time == time(15) and u.date == date(2026, 11, 24)


class FlakyOutbox(FakeOutbox):
    """Fails the first enqueue (the process dies between saving the turn and the outbox)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next = True

    async def enqueue(self, company_id: int, chat: str, text: str, *, idempotency_key: str,
                      kind: str = "reply") -> int | None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("outbox down")
        return await super().enqueue(company_id, chat, text, idempotency_key=idempotency_key, kind=kind)


async def test_saved_turn_is_resent_not_rerun(pool, redis, clock: FakeClock) -> None:
    cid = await add_company(pool)
    outbox = FlakyOutbox()
    api = FakeYClients()
    handler, tasks = await make_handler(pool, redis, clock, [cid], outbox, api)
    try:
        await handler.handle(msg(1, cid, "маникюр завтра в 11"))
        await tick(clock, handler, 2.1)
        assert outbox.sent == [] and api.calls.count("book_times") >= 1
        calls_before = list(api.calls)
        await handler.recover_once()
        await tick(clock, handler, 0.1)
        assert len(outbox.sent) == 1 and api.calls == calls_before  # replayed, not re-run
        assert await handler.recover_once() == 0
    finally:
        await handler.close()
        await tasks.close(grace_s=0)


async def test_conversation_version_conflict_reruns_the_turn(pool, redis, clock: FakeClock) -> None:
    cid = await add_company(pool)
    outbox = FakeOutbox()
    handler, tasks = await make_handler(pool, redis, clock, [cid], outbox)
    chat = "79990001122@s.whatsapp.net"
    store = BookingStore(pool)
    original = handler.dialogue.step
    calls = 0

    async def racing_step(turn, st, u):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:  # another writer changes the chat while this turn runs
            conv = await store.load_conversation(cid, chat)
            assert await store.save_conversation(conv, {"client_name": "Катя"})
        return await original(turn, st, u)

    handler.dialogue.step = racing_step  # type: ignore[method-assign]
    try:
        await handler.handle(msg(1, cid, "какой адрес", chat))
        await tick(clock, handler, 2.1)
        assert calls == 2 and len(outbox.sent) == 1
        conv = await store.load_conversation(cid, chat)
        assert conv.state["client_name"] == "Катя" and conv.version == 2  # the other write was kept
        stale = await store.load_conversation(cid, chat)
        assert await store.save_conversation(stale, {}) and not await store.save_conversation(stale, {})
    finally:
        await handler.close()
        await tasks.close(grace_s=0)


async def test_a_failing_turn_gets_an_apology_once(pool, redis, clock: FakeClock) -> None:
    cid = await add_company(pool)
    outbox = FakeOutbox()
    handler, tasks = await make_handler(pool, redis, clock, [cid], outbox)

    async def broken(turn, st, u):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug")

    handler.dialogue.step = broken  # type: ignore[method-assign]
    try:
        await handler.handle(msg(1, cid, "какой адрес"))
        await tick(clock, handler, 2.1)
        assert [t for _, _, t, _ in outbox.sent] == [SORRY]
        assert await handler.recover_once() == 0  # answered: not retried forever
    finally:
        await handler.close()
        await tasks.close(grace_s=0)


async def test_non_stop_typing_is_answered_after_the_cap(pool, redis, clock: FakeClock) -> None:
    cid = await add_company(pool)
    outbox = FakeOutbox()
    handler, tasks = await make_handler(pool, redis, clock, [cid], outbox)
    try:
        for i in range(1, 7):  # a message every 1.8 s: the 2 s window never closes by itself
            await handler.handle(msg(i, cid, "привет"))
            await tick(clock, handler, 1.8)
        assert len(outbox.sent) == 1  # answered once the 10 s cap passed, all six in one turn
    finally:
        await handler.close()
        await tasks.close(grace_s=0)


async def test_sweep_forgets_old_answered_messages_only(pool, redis, clock: FakeClock) -> None:
    cid = await add_company(pool)
    outbox = FakeOutbox()
    handler, tasks = await make_handler(pool, redis, clock, [cid], outbox)
    try:
        await handler.handle(msg(1, cid, "какой адрес"))
        await tick(clock, handler, 2.1)
        await handler.handle(msg(2, cid, "привет", chat="79990003344@s.whatsapp.net"))  # still pending
        await pool.execute("UPDATE booking_inbox SET done_at = NOW() - interval '8 days' WHERE message_id = 1")
        await handler.sweep()
        rows = await pool.fetch("SELECT message_id, status FROM booking_inbox ORDER BY message_id")
        assert [(r["message_id"], r["status"]) for r in rows] == [(2, "pending")]
    finally:
        await handler.close()
        await tasks.close(grace_s=0)
