"""The change notices and the bot's own moves and cancellations of records the SALON made.

Such a record has no `bookings` row and no api_id of ours; a cancellation deletes it without a
comment. The client already read the bot's confirmation in the chat: the change scan must not
send a second "Ваша запись … отменена/изменена". A change the salon makes in YClients still gets
its notice. Whole app in demo mode (simulator WhatsApp, mounted sandbox, sync, the sessions outbox);
the clock starts Mon 2026-11-23 10:00 Moscow. Demo records: Елена (+79161234567) tomorrow 12:00
(4001) and 14:00 маникюр (4004); Сергей (+79031112233) in two days 18:00 (4002); Наталья
(+79257654321) today 16:00 (4003).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from booking.notifications import NotificationJobs
from booking.notifications.service import TickReport
from booking.notifications.store import NotificationStore
from booking.store import BookingStore
from gateway.clock import FakeClock
from tests.booking.simchat import AppChat, lookup_key
from tests.booking.test_notifications_support import add_salon, jobs, record

MSK = ZoneInfo("Europe/Moscow")
ELENA, SERGEY, NATALIA = "+79161234567", "+79031112233", "+79257654321"


async def open_salon(make_client: Any, clock: FakeClock) -> AppChat:
    client = await make_client(demo=True, yclients_rate_per_s=1000.0, yclients_max_attempts=1)
    chat = await AppChat.start(client, clock)
    await chat.pool.execute("UPDATE companies SET integration_status = 'active' WHERE id = $1", chat.company_id)
    return chat


def change_job(chat: AppChat, **config: Any) -> NotificationJobs:
    """The app's notifications job, or the same pieces with a different configuration."""
    from gateway.wiring.notifications import NOTIFICATION_JOBS

    job = chat.app[NOTIFICATION_JOBS]
    if not config:
        return job
    return NotificationJobs(
        store=NotificationStore(chat.pool),
        source=job.source,
        outbox=chat.app[lookup_key("gateway.wiring.sessions", "OUTBOX")],
        clock=job.clock,
        config=dataclasses.replace(job.config, **config),
    )


async def scan(chat: AppChat, job: NotificationJobs) -> TickReport:
    """Sync the sandbox into the local copy, then one notifications tick at the clock's time."""
    sync = chat.app[lookup_key("sync.appkeys", "SYNC_SERVICE")]
    assert (await sync.run_once(chat.company_id, "records")).ok
    return await job.run_once()


async def notices_to(chat: AppChat, phone: str) -> list[str]:
    """Change notices queued in the outbox for this phone."""
    rows = await chat.pool.fetch(
        "SELECT text FROM outbox WHERE company_id = $1 AND chat = $2 AND kind = 'notice' ORDER BY id",
        chat.company_id, f"{phone[1:]}@s.whatsapp.net",
    )
    return [r["text"] for r in rows]


def salon_changes(chat: AppChat, record_id: int, *, moved_by: timedelta | None = None) -> None:
    """The salon's admin edits a record in YClients (not through the bot): moves it, or deletes it."""
    r = chat.salon.records[record_id]
    if moved_by is None:
        r.deleted = True
    else:
        r.start += moved_by
    r.changed_at = chat.clock.now()


async def test_a_salon_record_the_client_cancels_through_the_bot_gets_no_cancellation_notice(
    make_client: Any, clock: FakeClock
) -> None:
    chat = await open_salon(make_client, clock)
    job = change_job(chat)
    assert (await scan(chat, job)).changes == 0  # the baseline snapshot

    r = await chat.say(ELENA, "хочу отменить запись на маникюр")
    assert "Отменить" in r and "14:00" in r
    r = await chat.say(ELENA, "да")
    assert "отменена" in r
    assert 4004 not in {rec.id for rec in chat.records_of(ELENA[1:])}
    assert await chat.pool.fetchval(
        "SELECT count(*) FROM bookings WHERE company_id = $1", chat.company_id
    ) == 0  # a salon-made record: no `bookings` row, and the deletion leaves no comment
    salon_changes(chat, 4003)  # and the salon cancels Наталья's visit itself

    await clock.advance(60)
    report = await scan(chat, job)
    assert report.changes == 1
    assert await notices_to(chat, ELENA) == []
    [notice] = await notices_to(chat, NATALIA)
    assert "сегодня в 16:00 отменена" in notice
    assert (await scan(chat, job)).changes == 0


@pytest.mark.parametrize("marker", ["WhatsApp", ""], ids=["move_comment_kept", "move_comment_dropped"])
async def test_a_salon_record_the_client_moves_through_the_bot_gets_no_move_notice(
    make_client: Any, clock: FakeClock, marker: str
) -> None:
    """The bot's move comment carries the marker; with it ignored (a YClients that keeps the
    record's own comment on a move) the bot's log alone must recognise the move."""
    chat = await open_salon(make_client, clock)
    job = change_job(chat) if marker else change_job(chat, bot_comment_marker="")
    assert (await scan(chat, job)).changes == 0

    r = await chat.say(SERGEY, "можно перенести мою запись на четверг?")
    assert "1)" in r and "чт 26" in r
    r = await chat.say(SERGEY, "1")
    assert "Переношу" in r
    r = await chat.say(SERGEY, "да")
    assert "перенесена" in r
    [moved] = chat.records_of(SERGEY[1:])
    assert moved.id == 4002 and moved.start.date() == datetime(2026, 11, 26, tzinfo=MSK).date()
    salon_changes(chat, 4001, moved_by=timedelta(hours=2))  # the salon moves Елена's 12:00 to 14:00

    await clock.advance(60)
    report = await scan(chat, job)
    assert report.changes == 1
    assert await notices_to(chat, SERGEY) == []
    [notice] = await notices_to(chat, ELENA)
    assert "изменена: теперь завтра, 24 ноября, в 14:00" in notice


# --- the matching rules, over the stores ------------------------------------------------------------
async def test_only_the_change_the_bot_made_is_silent(pool: asyncpg.Pool, clock: FakeClock) -> None:
    """A salon change after the bot's (even back to the bot's time) and a different one are told."""
    from sync.store import SyncStore

    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    sync, bot = SyncStore(pool), BookingStore(pool)
    day = datetime(2026, 11, 26, 12, 0, tzinfo=MSK)
    await sync.save_records(
        cid, [record(61, day, phone="79160000061"), record(62, day, phone="79160000062", staff_id=2004)]
    )
    job, out = jobs(pool, clock)
    now = datetime(2026, 11, 23, 11, 0, tzinfo=MSK)
    await job.run_once(now)  # baseline

    # The bot moves 61 to 15:00 and 62 to 13:00; the synced 62 is at 14:00 (the salon moved it after).
    await bot.record_bot_change(cid, 61, "moved", day + timedelta(hours=3), now + timedelta(minutes=1))
    await bot.record_bot_change(cid, 62, "moved", day + timedelta(hours=1), now + timedelta(minutes=1))
    await sync.save_records(
        cid,
        [
            record(61, day + timedelta(hours=3), phone="79160000061"),  # where the bot put it
            record(62, day + timedelta(hours=2), phone="79160000062", staff_id=2004),  # not where the bot did
        ],
    )
    assert (await job.run_once(now + timedelta(minutes=5))).changes == 1
    assert [m["chat"] for m in out.sent] == ["79160000062@s.whatsapp.net"]

    # The salon moves 61 away and later back to the bot's old time: both are the salon's.
    await sync.save_records(cid, [record(61, day + timedelta(hours=5), phone="79160000061")])
    assert (await job.run_once(now + timedelta(minutes=10))).changes == 1
    await sync.save_records(cid, [record(61, day + timedelta(hours=3), phone="79160000061")])
    assert (await job.run_once(now + timedelta(minutes=15))).changes == 1
    assert "в 15:00" in out.sent[-1]["text"]

    # The bot's cancellation is silent; a cancellation logged for another record is not this one's.
    await bot.record_bot_change(cid, 61, "cancelled", None, now + timedelta(minutes=16))
    await sync.save_records(
        cid,
        [
            record(61, day + timedelta(hours=3), phone="79160000061", deleted=True),
            record(62, day + timedelta(hours=2), phone="79160000062", staff_id=2004, deleted=True),
        ],
    )
    assert (await job.run_once(now + timedelta(minutes=20))).changes == 1
    assert out.sent[-1]["chat"] == "79160000062@s.whatsapp.net" and "отменена" in out.sent[-1]["text"]


async def test_the_bot_changes_log_keeps_two_weeks_and_refuses_unknown_actions(pool: asyncpg.Pool) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    bot = BookingStore(pool)
    t0 = datetime(2026, 11, 1, 12, 0, tzinfo=MSK)
    await bot.record_bot_change(cid, 1, "cancelled", t0 + timedelta(days=3), t0)  # no time kept for a cancel
    await bot.record_bot_change(cid, 2, "moved", t0 + timedelta(days=3), t0 + timedelta(days=1))
    with pytest.raises(ValueError, match="action"):
        await bot.record_bot_change(cid, 3, "booked", None, t0 + timedelta(days=2))
    rows = await pool.fetch("SELECT record_id, starts_at FROM bot_record_changes ORDER BY record_id")
    assert [(r["record_id"], r["starts_at"]) for r in rows] == [(1, None), (2, t0 + timedelta(days=3))]
    await bot.record_bot_change(cid, 4, "cancelled", None, t0 + timedelta(days=14, hours=1))
    rows = await pool.fetch("SELECT record_id FROM bot_record_changes ORDER BY record_id")
    assert [r["record_id"] for r in rows] == [2, 4]  # the entry older than 14 days is gone
