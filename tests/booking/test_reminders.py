"""Reminders and review requests: salon-local timing, sent once, and the client's answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from booking.dialogue import Turn
from booking.model import Understanding
from booking.reminders import Reminders, chat_of
from booking.state import DialogueState
from booking.store import BookingStore
from gateway.clock import FakeClock
from tests.booking.conftest import Bot
from tests.booking.fakes import FakeOutbox

MSK = ZoneInfo("Europe/Moscow")


@dataclass
class Rec:
    record_id: int
    starts_at: datetime
    client_phone: str = "79161234567"
    client_name: str = "Елена Орлова"
    staff_id: int = 2003
    service_ids: tuple[int, ...] = (1011,)
    length_s: int = 5400
    attendance: int = 0
    deleted: bool = False


@dataclass
class Ref:
    company_id: int


@dataclass
class Source:
    company_id: int
    records: list[Rec] = field(default_factory=list)

    async def active_companies(self) -> list[Ref]:
        return [Ref(self.company_id)]

    async def records_between(self, company_id: int, start: datetime, end: datetime) -> list[Rec]:
        assert company_id == self.company_id
        return [r for r in self.records if start <= r.starts_at < end and not r.deleted]


class Directory:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def salon(self, company_id: int):
        return self.bot.salon if company_id == self.bot.salon.company_id else None


def make(bot: Bot, pool: asyncpg.Pool, clock: FakeClock, records: list[Rec]) -> tuple[Reminders, FakeOutbox]:
    outbox = FakeOutbox()
    rem = Reminders(store=BookingStore(pool), source=Source(bot.salon.company_id, records),
                    directory=Directory(bot), outbox=outbox, clock=clock)
    return rem, outbox


async def test_day_before_only_in_the_salon_evening_and_once(bot: Bot, pool, clock: FakeClock) -> None:
    tomorrow = Rec(501, datetime(2026, 11, 24, 12, 0, tzinfo=MSK))
    rem, outbox = make(bot, pool, clock, [tomorrow])
    assert await rem.run_once() == 0  # 10:00 Moscow: too early for "tomorrow" reminders
    clock.set(datetime(2026, 11, 23, 18, 5, tzinfo=MSK))  # 15:05 UTC, evening in Moscow
    assert await rem.run_once() == 1
    assert await rem.run_once() == 0  # claimed: a second run (or instance) sends nothing
    [(_cid, chat, text, _key)] = outbox.sent
    assert chat == chat_of("79161234567") and "завтра в 12:00" in text and "Елена" in text and "Маникюр" in text


async def test_two_hours_before_and_not_for_cancelled(bot: Bot, pool, clock: FakeClock) -> None:
    soon = Rec(502, datetime(2026, 11, 23, 11, 45, tzinfo=MSK))
    gone = Rec(503, datetime(2026, 11, 23, 11, 30, tzinfo=MSK), client_phone="79031112233", attendance=-1)
    too_soon = Rec(504, datetime(2026, 11, 23, 10, 20, tzinfo=MSK), client_phone="79257654321")
    rem, outbox = make(bot, pool, clock, [soon, gone, too_soon])
    assert await rem.run_once() == 1
    assert "сегодня в 11:45" in outbox.sent[0][2]


async def test_yes_to_a_reminder_confirms_the_visit(bot: Bot, pool, clock: FakeClock) -> None:
    rem, _outbox = make(bot, pool, clock, [Rec(505, datetime(2026, 11, 23, 11, 30, tzinfo=MSK))])
    await rem.run_once()
    chat = chat_of("79161234567")
    conv = await BookingStore(pool).load_conversation(bot.salon.company_id, chat)
    st = DialogueState.from_json(conv.state)
    assert st.awaiting == "visit" and st.target is not None and st.target.record_id == 505
    turn = Turn(bot.salon, chat, "+79161234567", clock.now(), "да, буду")
    r = await bot.dialogue.step(turn, st, Understanding("confirm"))
    assert "подтвердили" in r[0] and bot.api.confirmed == [505] and st.awaiting is None


async def test_cancel_answer_to_a_reminder_targets_that_visit(bot: Bot, pool, clock: FakeClock) -> None:
    rem, _ = make(bot, pool, clock, [Rec(506, datetime(2026, 11, 23, 11, 30, tzinfo=MSK))])
    await rem.run_once()
    chat = chat_of("79161234567")
    st = DialogueState.from_json((await BookingStore(pool).load_conversation(bot.salon.company_id, chat)).state)
    r = await bot.dialogue.step(Turn(bot.salon, chat, "+79161234567", clock.now(), "не смогу, отмените"), st,
                                Understanding("cancel"))
    assert "Отменить" in r[0] and st.flow == "cancel" and st.target is not None and st.target.record_id == 506


async def test_review_request_and_low_rating_flagged(bot: Bot, pool, clock: FakeClock) -> None:
    visit = Rec(507, datetime(2026, 11, 23, 10, 0, tzinfo=MSK) - timedelta(hours=5), length_s=3600)
    rem, outbox = make(bot, pool, clock, [visit])
    assert await rem.run_once() == 1 and "от 1 до 5" in outbox.sent[0][2]
    chat = chat_of("79161234567")
    st = DialogueState.from_json((await BookingStore(pool).load_conversation(bot.salon.company_id, chat)).state)
    r = await bot.dialogue.step(Turn(bot.salon, chat, "+79161234567", clock.now(), "2, долго ждала"), st,
                                Understanding("other"))
    assert "администратор свяжется" in r[0]
    row = await pool.fetchrow("SELECT rating, flagged FROM reviews WHERE record_id = 507")
    assert row["rating"] == 2 and row["flagged"] is True


async def test_two_visits_one_message_and_cancel_asks_which(bot: Bot, pool, clock: FakeClock) -> None:
    a = Rec(508, datetime(2026, 11, 24, 12, 0, tzinfo=MSK), service_ids=(1001,), staff_id=2001)
    b = Rec(509, datetime(2026, 11, 24, 14, 0, tzinfo=MSK))
    rem, outbox = make(bot, pool, clock, [a, b])
    clock.set(datetime(2026, 11, 23, 19, 0, tzinfo=MSK))
    assert await rem.run_once() == 1 and len(outbox.sent) == 1
    assert "12:00" in outbox.sent[0][2] and "14:00" in outbox.sent[0][2]
    chat = chat_of("79161234567")
    st = DialogueState.from_json((await BookingStore(pool).load_conversation(bot.salon.company_id, chat)).state)
    r = await bot.dialogue.step(Turn(bot.salon, chat, "+79161234567", clock.now(), "отмените"), st,
                                Understanding("cancel"))
    assert "Какую запись" in r[0] and st.awaiting == "record" and len(st.records) == 2
    r = await bot.dialogue.step(Turn(bot.salon, chat, "+79161234567", clock.now(), "2"), st, Understanding("other"))
    assert "Отменить" in r[0] and st.target is not None and st.target.record_id == 509
