"""Reminders, review requests and salon-change notices: salon-local timing, once per claim."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from gateway.clock import FakeClock
from sessions.api import SessionInfo, SessionState
from sync.store import SyncStore
from tests.booking.test_notifications_support import CLIENT_PHONE, RecordingOutbox, add_salon, jobs, record

MSK = ZoneInfo("Europe/Moscow")  # UTC+3
YEKT = ZoneInfo("Asia/Yekaterinburg")  # UTC+5
CHAT = f"{CLIENT_PHONE}@s.whatsapp.net"


def utc(h: int, m: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, h, m, tzinfo=UTC)


async def two_salons(pool: asyncpg.Pool) -> tuple[int, int]:
    msk = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow", title="Лаванда")
    ekb = await add_salon(pool, salon_id=1002, timezone="Asia/Yekaterinburg", title="Урал")
    store = SyncStore(pool)
    await store.save_records(msk, [record(11, datetime(2026, 11, 24, 12, 0, tzinfo=MSK))])
    await store.save_records(
        ekb, [record(21, datetime(2026, 11, 24, 12, 0, tzinfo=YEKT), phone="79220001122")]
    )
    return msk, ekb


async def test_evening_reminders_follow_each_salons_timezone(pool: asyncpg.Pool, clock: FakeClock) -> None:
    msk, ekb = await two_salons(pool)
    job, out = jobs(pool, clock)
    assert (await job.run_once(utc(13, 30))).total == 0  # 16:30 MSK, 18:30 YEKT: too early for both
    await job.run_once(utc(14, 30))  # 17:30 MSK, 19:30 YEKT: Yekaterinburg's evening only
    assert [(m["company_id"], m["kind"]) for m in out.sent] == [(ekb, "reminder")]
    assert "«Урал» завтра, 24 ноября, в 12:00" in out.sent[0]["text"]
    assert "Ответьте «да», чтобы подтвердить" in out.sent[0]["text"]
    await job.run_once(utc(16, 30))  # 19:30 MSK (21:30 YEKT is quiet, and Urals was sent anyway)
    assert [m["company_id"] for m in out.sent] == [ekb, msk]
    text = out.sent[1]["text"]
    assert "Елена" in text and "«Лаванда» завтра, 24 ноября, в 12:00" in text
    assert "Маникюр классический" in text and "мастер Ольга" in text
    assert (await job.run_once(utc(17, 30))).total == 0  # 20:30 MSK: claimed already


async def test_two_hours_before_in_salon_time(pool: asyncpg.Pool, clock: FakeClock) -> None:
    msk, ekb = await two_salons(pool)
    job, out = jobs(pool, clock)
    assert (await job.run_once(utc(4, 55, day=24))).total == 0  # 09:55 YEKT: quiet hours until 10:00
    await job.run_once(utc(5, 5, day=24))  # 10:05 YEKT, visit at 12:00 YEKT; 08:05 MSK is quiet
    assert [(m["company_id"], m["key"].split(":")[3]) for m in out.sent] == [(ekb, "two_hours")]
    assert "сегодня в 12:00" in out.sent[0]["text"]
    await job.run_once(utc(7, 5, day=24))  # 10:05 MSK, visit at 12:00 MSK
    assert [m["company_id"] for m in out.sent] == [ekb, msk]


async def test_sent_once_across_reruns_and_two_instances(pool: asyncpg.Pool, clock: FakeClock) -> None:
    await two_salons(pool)
    first, out1 = jobs(pool, clock)
    second, out2 = jobs(pool, clock)  # another process: its own outbox connection, same database
    now = utc(16, 30)
    reports = await asyncio.gather(*(j.run_once(now) for j in (first, second, first, second)))
    assert sum(r.total for r in reports) == 1  # only Moscow's reminder is due, and only one claim wins
    assert len(out1.sent) + len(out2.sent) == 1
    assert (await first.run_once(now + timedelta(minutes=5))).total == 0
    rows = await pool.fetch("SELECT kind, status, outbox_id FROM notifications")
    assert [(r["kind"], r["status"], r["outbox_id"]) for r in rows] == [("day_before", "queued", 1)]


async def test_none_for_cancelled_no_show_or_past_visits(pool: asyncpg.Pool, clock: FakeClock) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    store = SyncStore(pool)
    tomorrow = datetime(2026, 11, 24, 12, 0, tzinfo=MSK)
    await store.save_records(
        cid,
        [
            record(31, tomorrow, deleted=True),
            record(32, tomorrow + timedelta(hours=1), attendance=-1, phone="79160000032"),
            record(
                33, datetime(2026, 11, 23, 19, 10, tzinfo=MSK), phone="79160000033"
            ),  # in 10 min: too close
            record(34, datetime(2026, 11, 23, 12, 0, tzinfo=MSK), phone="79160000034"),  # this morning: past
            record(35, tomorrow + timedelta(hours=2), phone=""),  # no phone to write to
        ],
    )
    job, out = jobs(pool, clock)
    report = await job.run_once(utc(16, 0))  # 19:00 MSK
    assert report.reminders == 0 and out.kinds() == ["review"]  # the morning visit is reviewed, not reminded
    assert [r["kind"] for r in await pool.fetch("SELECT kind FROM notifications")] == ["review"]


async def test_bad_timezone_falls_back_to_moscow(pool: asyncpg.Pool, clock: FakeClock) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Mars/Olympus")
    await SyncStore(pool).save_records(cid, [record(41, datetime(2026, 11, 24, 12, 0, tzinfo=MSK))])
    job, out = jobs(pool, clock)
    assert (await job.run_once(utc(16, 0))).reminders == 1
    assert "завтра, 24 ноября, в 12:00" in out.sent[0]["text"]


async def test_disabled_sends_nothing(pool: asyncpg.Pool, clock: FakeClock) -> None:
    await two_salons(pool)
    job, out = jobs(pool, clock, enabled=False)
    assert (await job.run_once(utc(16, 30))).total == 0 and out.sent == []


# --- review requests -----------------------------------------------------------------------------
async def test_review_request_after_the_visit_not_at_night(pool: asyncpg.Pool, clock: FakeClock) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    await SyncStore(pool).save_records(
        cid,
        [
            record(51, datetime(2026, 11, 23, 12, 0, tzinfo=MSK), length_s=3600),  # ends 13:00 -> due 16:00
            record(
                52, datetime(2026, 11, 23, 19, 0, tzinfo=MSK), length_s=3600, phone="79160000052"
            ),  # due 10:00
            record(
                53, datetime(2026, 11, 23, 12, 0, tzinfo=MSK), attendance=-1, phone="79160000053"
            ),  # no-show
            record(54, datetime(2026, 11, 23, 12, 0, tzinfo=MSK), deleted=True, phone="79160000054"),
        ],
    )
    job, out = jobs(pool, clock)
    assert (await job.run_once(utc(12, 55))).reviews == 0  # 15:55 MSK
    assert (await job.run_once(utc(13, 5))).reviews == 1  # 16:05 MSK
    assert (
        out.sent[0]["chat"] == CHAT
        and "Оцените" in out.sent[0]["text"]
        and "«Лаванда»" in out.sent[0]["text"]
    )
    assert (await job.run_once(utc(13, 10))).reviews == 0  # once per record
    assert (await job.run_once(utc(20, 30))).reviews == 0  # 23:30 MSK: record 52 is due, but it is night
    assert (await job.run_once(utc(6, 55, day=24))).reviews == 0  # 09:55 MSK
    assert (await job.run_once(utc(7, 5, day=24))).reviews == 1  # 10:05 MSK
    assert out.sent[-1]["chat"] == "79160000052@s.whatsapp.net"
    assert (await job.run_once(utc(12, 0, day=25))).reviews == 0


async def test_review_delay_is_configurable(pool: asyncpg.Pool, clock: FakeClock) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    await SyncStore(pool).save_records(cid, [record(61, datetime(2026, 11, 23, 12, 0, tzinfo=MSK))])
    job, _ = jobs(pool, clock, review_delay_hours=1.0)
    assert (await job.run_once(utc(10, 55))).reviews == 0  # 13:55 MSK
    assert (await job.run_once(utc(11, 5))).reviews == 1  # 14:05 MSK


# --- change notices ------------------------------------------------------------------------------
async def test_change_notices_for_salon_made_changes_only(pool: asyncpg.Pool, clock: FakeClock) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    store = SyncStore(pool)
    day = datetime(2026, 11, 26, 12, 0, tzinfo=MSK)
    await store.save_records(
        cid,
        [
            record(71, day, services=(1011, 1012)),
            record(72, day + timedelta(hours=2), api_id="wa-0123456789abcdef", phone="79160000072"),
            record(73, day + timedelta(hours=4), phone="79160000073"),
            record(74, day + timedelta(hours=6), phone="79160000074"),
        ],
    )
    await pool.execute(
        """INSERT INTO bookings (company_id, idempotency_key, status, record_id, client_phone, created_by_bot)
           VALUES ($1, 'k74', 'booked', 74, '+79160000074', TRUE)""",
        cid,
    )
    job, out = jobs(pool, clock)
    now = utc(8, 0)  # 11:00 MSK
    assert (await job.run_once(now)).changes == 0  # the first scan only takes the snapshot

    # The salon reorders the services of 71 (same set), moves 72 and 74 (booked by the bot: their
    # clients must hear of it too) and 73.
    await store.save_records(
        cid,
        [
            record(71, day, services=(1012, 1011)),
            record(72, day + timedelta(hours=3), api_id="wa-0123456789abcdef", phone="79160000072"),
            record(73, day + timedelta(days=1, hours=4), phone="79160000073"),
            record(74, day + timedelta(hours=7), phone="79160000074"),
        ],
    )
    assert await pool.fetchval("SELECT services FROM sync_records WHERE record_id = 71") != []
    report = await job.run_once(now + timedelta(minutes=5))
    assert report.changes == 3
    by_chat = {n["chat"]: n for n in out.sent}
    assert set(by_chat) == {f"7916000007{i}@s.whatsapp.net" for i in (2, 3, 4)}  # not 71: same set
    notice = by_chat["79160000073@s.whatsapp.net"]
    assert notice["kind"] == "notice"
    assert "изменена: теперь в пятницу, 27 ноября, в 16:00" in notice["text"]
    assert (await job.run_once(now + timedelta(minutes=10))).changes == 0  # once per change

    # Moved again, then cancelled by the salon: one notice each.
    await store.save_records(cid, [record(73, day + timedelta(days=1, hours=5), phone="79160000073")])
    assert (await job.run_once(now + timedelta(minutes=15))).changes == 1
    await store.save_records(
        cid, [record(73, day + timedelta(days=1, hours=5), phone="79160000073", deleted=True)]
    )
    assert (await job.run_once(now + timedelta(minutes=20))).changes == 1
    assert "отменена" in out.sent[-1]["text"]
    assert (await job.run_once(now + timedelta(minutes=25))).changes == 0


async def test_created_by_salon_is_announced_bot_bookings_are_not(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    store = SyncStore(pool)
    job, out = jobs(pool, clock)
    now = utc(8, 0)
    await job.run_once(now)  # baseline of an empty book
    day = datetime(2026, 11, 25, 15, 0, tzinfo=MSK)
    await store.save_records(
        cid,
        [
            record(81, day),  # made by the salon's admin
            record(82, day, api_id="wa-feedbeef00000000", phone="79160000082"),  # booked by the bot
            record(83, day, comment="Записано через WhatsApp", phone="79160000083"),
            record(84, day + timedelta(days=40), phone="79160000084"),  # far ahead: entered sync's window
        ],
    )
    assert (await job.run_once(now + timedelta(minutes=5))).changes == 1
    assert (
        out.sent[0]["chat"] == CHAT
        and "Вы записаны в «Лаванда» в среду, 25 ноября, в 15:00" in out.sent[0]["text"]
    )


async def test_a_moved_visit_gets_reminders_for_its_new_time(pool: asyncpg.Pool, clock: FakeClock) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    store = SyncStore(pool)
    await store.save_records(cid, [record(91, datetime(2026, 11, 24, 12, 0, tzinfo=MSK))])
    job, out = jobs(pool, clock)
    assert (await job.run_once(utc(16, 30))).reminders == 1  # evening before
    await store.save_records(cid, [record(91, datetime(2026, 11, 24, 16, 0, tzinfo=MSK))])  # salon moves it
    report = await job.run_once(utc(7, 0, day=24))  # 10:00 MSK next day
    assert report.changes == 1 and report.reminders == 0
    report = await job.run_once(utc(11, 5, day=24))  # 14:05 MSK: two hours before the NEW time
    assert report.reminders == 1 and "сегодня в 16:00" in out.sent[-1]["text"]


async def test_changes_wait_for_the_morning(pool: asyncpg.Pool, clock: FakeClock) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    store = SyncStore(pool)
    job, _ = jobs(pool, clock)
    await job.run_once(utc(8, 0))
    await store.save_records(cid, [record(95, datetime(2026, 11, 25, 15, 0, tzinfo=MSK))])
    assert (await job.run_once(utc(20, 0))).changes == 0  # 23:00 MSK
    assert (await job.run_once(utc(7, 5, day=24))).changes == 1  # 10:05 MSK


async def test_a_salon_booking_for_tomorrow_made_in_the_evening_is_told_once(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    store = SyncStore(pool)
    job, out = jobs(pool, clock)
    await job.run_once(utc(8, 0))
    await store.save_records(cid, [record(97, datetime(2026, 11, 24, 12, 0, tzinfo=MSK))])
    report = await job.run_once(utc(16, 30))  # 19:30 MSK: the evening reminder would be due too
    assert (report.changes, report.reminders) == (1, 0)
    assert [m["kind"] for m in out.sent] == ["notice"] and "Вы записаны" in out.sent[0]["text"]
    assert (await job.run_once(utc(16, 35))).total == 0


@dataclass
class FlakyOutbox(RecordingOutbox):
    """Fails the first `failures` enqueues (e.g. Postgres of the outbox unreachable)."""

    failures: int = 1

    async def enqueue(
        self, company_id: int, chat: str, text: str, *, idempotency_key: str, kind: str = "reply"
    ) -> int | None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("outbox down")
        return await super().enqueue(company_id, chat, text, idempotency_key=idempotency_key, kind=kind)


async def test_a_failed_enqueue_is_retried_next_tick_and_other_salons_still_go(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    first = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    second = await add_salon(pool, salon_id=1003, timezone="Europe/Moscow", title="Роза")
    tomorrow = datetime(2026, 11, 24, 12, 0, tzinfo=MSK)
    store = SyncStore(pool)
    await store.save_records(first, [record(12, tomorrow), record(13, tomorrow, phone="79160000013")])
    await store.save_records(second, [record(14, tomorrow, phone="79160000014")])
    out = FlakyOutbox(failures=1)
    job, _ = jobs(pool, clock, outbox=out)
    report = await job.run_once(utc(16, 30))  # the first salon's first enqueue fails
    assert report.failed_companies == 1 and [m["company_id"] for m in out.sent] == [second]
    assert await pool.fetchval("SELECT count(*) FROM notifications WHERE company_id = $1", first) == 0
    report = await job.run_once(utc(16, 35))  # released claims: retried, each once
    assert report.reminders == 2 and sorted(m["key"].split(":")[2] for m in out.sent) == ["12", "13", "14"]
    assert (await job.run_once(utc(16, 40))).total == 0


async def test_an_out_of_range_rating_is_refused_and_stores_nothing(pool: asyncpg.Pool) -> None:
    from booking.notifications.store import NotificationStore

    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    with pytest.raises(ValueError, match="rating must be 1..5"):
        await NotificationStore(pool).add_review(
            cid, 1, "+79160000001", 6, flagged=False, comment=None, now=utc(9)
        )
    assert await pool.fetchval("SELECT count(*) FROM reviews") == 0


@dataclass
class Sessions:
    connected: bool = False

    async def info(self, company_id: int) -> SessionInfo:
        state = SessionState.CONNECTED if self.connected else SessionState.DISCONNECTED
        return SessionInfo(company_id=company_id, state=state)


async def test_nothing_is_queued_while_the_salons_whatsapp_is_offline(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    await two_salons(pool)
    job, out = jobs(pool, clock)
    job.sessions = probe = Sessions(connected=False)
    report = await job.run_once(utc(16, 30))
    assert report.offline_companies == 2 and out.sent == []
    assert await pool.fetchval("SELECT count(*) FROM notifications") == 0
    probe.connected = True
    assert (await job.run_once(utc(16, 45))).reminders == 1  # still the evening: it goes now
