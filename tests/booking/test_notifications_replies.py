"""Answers to notifications: "да" confirms the visit in YClients (sandbox), ratings are stored,
low ratings reach the salon; everything else goes to the dialogue."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from booking.notifications import NotificationReplies, NotificationsConfig
from booking.notifications.store import NotificationStore
from gateway.clock import FakeClock
from sessions.api import InboundMessage
from sync.store import SyncStore
from tests.booking.conftest import SandboxStack
from tests.booking.test_notifications_support import (
    CLIENT_PHONE,
    SALON_PHONE,
    RecordingOutbox,
    add_salon,
    jobs,
    record,
)

MSK = ZoneInfo("Europe/Moscow")
_ids = itertools.count(1)


@dataclass
class Inner:
    """The booking dialogue stand-in: records what it was handed."""

    got: list[str] = field(default_factory=list)

    async def handle(self, message: InboundMessage) -> None:
        self.got.append(message.text)


def msg(company_id: int, text: str, phone: str = CLIENT_PHONE) -> InboundMessage:
    n = next(_ids)
    return InboundMessage(
        id=n,
        company_id=company_id,
        chat=f"{phone}@s.whatsapp.net",
        sender_phone="+" + phone,
        wa_message_id=f"WA{n}",
        text=text,
        received_at=datetime.now(UTC),
    )


class NoYClients:
    """Review tests never touch YClients."""

    async def record(self, salon_id: int, record_id: int) -> object:
        raise AssertionError("unexpected YClients call")

    async def set_attendance(self, visit_id: int, record_id: int, attendance: int, comment: str = "") -> None:
        raise AssertionError("unexpected YClients call")


async def test_yes_to_a_reminder_confirms_the_visit_in_yclients(
    pool: asyncpg.Pool, clock: FakeClock, sandbox_stack: SandboxStack
) -> None:
    st = sandbox_stack
    cid = st.company_id
    await pool.execute(
        "UPDATE companies SET integration_status = 'active', timezone = 'Europe/Moscow' WHERE id = $1", cid
    )
    salon = st.sandbox.salon(962302)
    assert salon is not None
    sync = SyncStore(pool)
    await sync.save_records(cid, await st.client.records(962302))
    # Demo record 4003: today 16:00 Moscow, Наталья Белова +79257654321.
    clock.set(datetime(2026, 11, 23, 14, 5, tzinfo=MSK))
    job, out = jobs(pool, clock)
    assert (await job.run_once()).reminders == 1
    phone = "79257654321"
    assert out.sent[0]["chat"] == f"{phone}@s.whatsapp.net" and "сегодня в 16:00" in out.sent[0]["text"]

    inner = Inner()
    replies = NotificationReplies(
        inner, store=NotificationStore(pool), source=sync, client=st.client, outbox=out, clock=clock
    )
    assert salon.records[4003].attendance == 0
    await replies.handle(msg(cid, "Да, буду!", phone))
    assert salon.records[4003].attendance == 2
    assert inner.got == []
    assert "Спасибо, что подтвердили! Ждём вас сегодня в 16:00" in out.to(f"{phone}@s.whatsapp.net")[-1]
    assert await pool.fetchval("SELECT answer FROM notifications WHERE record_id = 4003") == "confirmed"

    # Answered: the next "да" and a reschedule request are the dialogue's business.
    await replies.handle(msg(cid, "да", phone))
    await replies.handle(msg(cid, "перенесите на завтра", phone))
    assert inner.got == ["да", "перенесите на завтра"]


async def test_a_confirmation_yclients_missed_is_retried_by_the_job(
    pool: asyncpg.Pool, clock: FakeClock, sandbox_stack: SandboxStack
) -> None:
    st = sandbox_stack
    cid = st.company_id
    await pool.execute("UPDATE companies SET integration_status = 'active' WHERE id = $1", cid)
    salon = st.sandbox.salon(962302)
    assert salon is not None
    sync = SyncStore(pool)
    await sync.save_records(cid, await st.client.records(962302))
    clock.set(datetime(2026, 11, 23, 14, 5, tzinfo=MSK))
    job, out = jobs(pool, clock)
    job.client = st.client
    assert (await job.run_once()).reminders == 1
    phone = "79257654321"
    fault = st.sandbox.add_fault(r"/visits/", "status", status=503)
    replies = NotificationReplies(
        Inner(), store=NotificationStore(pool), source=sync, client=st.client, outbox=out, clock=clock
    )
    await replies.handle(msg(cid, "да", phone))
    assert fault.hits >= 1 and salon.records[4003].attendance == 0
    assert (
        "Спасибо, что подтвердили" in out.to(f"{phone}@s.whatsapp.net")[-1]
    )  # the client is answered anyway
    assert await pool.fetchval("SELECT answer FROM notifications WHERE record_id = 4003") == "confirm_pending"
    assert (await job.run_once()).confirmations == 0  # YClients still down: kept for the next tick
    st.sandbox.clear_faults()
    assert (await job.run_once()).confirmations == 1
    assert salon.records[4003].attendance == 2
    assert await pool.fetchval("SELECT answer FROM notifications WHERE record_id = 4003") == "confirmed"
    assert (await job.run_once()).confirmations == 0


async def test_one_yes_confirms_both_visits_reminded(
    pool: asyncpg.Pool, clock: FakeClock, sandbox_stack: SandboxStack
) -> None:
    st = sandbox_stack
    cid = st.company_id
    await pool.execute("UPDATE companies SET integration_status = 'active' WHERE id = $1", cid)
    salon = st.sandbox.salon(962302)
    assert salon is not None
    sync = SyncStore(pool)
    await sync.save_records(cid, await st.client.records(962302))
    clock.set(datetime(2026, 11, 23, 19, 30, tzinfo=MSK))  # Елена: 12:00 and 14:00 tomorrow
    job, out = jobs(pool, clock)
    assert (await job.run_once()).reminders == 2
    inner = Inner()
    replies = NotificationReplies(
        inner, store=NotificationStore(pool), source=sync, client=st.client, outbox=out, clock=clock
    )
    await replies.handle(msg(cid, "Да", CLIENT_PHONE))
    assert (salon.records[4001].attendance, salon.records[4004].attendance) == (2, 2)
    assert (
        "завтра, 24 ноября, в 12:00 и завтра, 24 ноября, в 14:00"
        in out.to(f"{CLIENT_PHONE}@s.whatsapp.net")[-1]
    )
    assert inner.got == []


async def test_yes_without_an_open_reminder_or_to_a_cancelled_visit_goes_to_the_dialogue(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    sync = SyncStore(pool)
    inner, out = Inner(), RecordingOutbox()
    replies = NotificationReplies(
        inner, store=NotificationStore(pool), source=sync, client=NoYClients(), outbox=out, clock=clock
    )
    await replies.handle(msg(cid, "да"))  # nothing was sent to this chat
    await sync.save_records(cid, [record(11, datetime(2026, 11, 24, 12, 0, tzinfo=MSK))])
    job, _ = jobs(pool, clock, outbox=out)
    clock.set(datetime(2026, 11, 23, 19, 30, tzinfo=MSK))
    assert (await job.run_once()).reminders == 1
    await sync.save_records(cid, [record(11, datetime(2026, 11, 24, 12, 0, tzinfo=MSK), deleted=True)])
    await replies.handle(msg(cid, "да"))  # the salon cancelled it meanwhile: nothing to confirm
    assert inner.got == ["да", "да"]


async def test_yes_inside_a_booking_the_client_started_later_is_the_dialogues(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    sync = SyncStore(pool)
    await sync.save_records(cid, [record(15, datetime(2026, 11, 24, 12, 0, tzinfo=MSK))])
    job, out = jobs(pool, clock)
    clock.set(datetime(2026, 11, 23, 19, 30, tzinfo=MSK))
    assert (await job.run_once()).reminders == 1
    # Then the client asks to book another visit; the bot offers a slot and asks "(да/нет)".
    await pool.execute(
        """INSERT INTO conversations (company_id, chat, state, updated_at)
           VALUES ($1, $2, '{"flow": "book", "awaiting": "confirm"}'::jsonb, $3)""",
        cid,
        f"{CLIENT_PHONE}@s.whatsapp.net",
        datetime(2026, 11, 23, 19, 40, tzinfo=MSK),
    )
    inner = Inner()
    replies = NotificationReplies(
        inner, store=NotificationStore(pool), source=sync, client=NoYClients(), outbox=out, clock=clock
    )
    await replies.handle(msg(cid, "да"))
    assert inner.got == ["да"]
    assert await pool.fetchval("SELECT answer FROM notifications WHERE record_id = 15") is None


async def test_confirmed_visits_are_reminded_without_asking_again(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    await SyncStore(pool).save_records(
        cid, [record(16, datetime(2026, 11, 24, 14, 0, tzinfo=MSK), attendance=2)]
    )
    job, out = jobs(pool, clock)
    clock.set(datetime(2026, 11, 24, 12, 5, tzinfo=MSK))
    assert (await job.run_once()).reminders == 1
    assert "сегодня в 14:00" in out.sent[0]["text"] and "Ответьте «да»" not in out.sent[0]["text"]


async def test_ratings_are_stored_and_low_ones_flagged_to_the_salon(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    sync = SyncStore(pool)
    happy, unhappy = CLIENT_PHONE, "79160000002"
    visit = datetime(2026, 11, 23, 12, 0, tzinfo=MSK)
    await sync.save_records(
        cid,
        [record(21, visit), record(22, visit, phone=unhappy, name="Анна", staff_id=2004, staff_name="Мария")],
    )
    job, out = jobs(pool, clock)
    clock.set(datetime(2026, 11, 23, 16, 30, tzinfo=MSK))
    assert (await job.run_once()).reviews == 2
    inner = Inner()
    replies = NotificationReplies(
        inner, store=NotificationStore(pool), source=sync, client=NoYClients(), outbox=out, clock=clock
    )

    await replies.handle(msg(cid, "5 из 5, спасибо!", happy))
    assert out.to(f"{happy}@s.whatsapp.net")[-1].startswith("Спасибо за оценку")
    await replies.handle(msg(cid, "2", unhappy))
    salon_chat = SALON_PHONE.lstrip("+") + "@s.whatsapp.net"
    [alert] = out.to(salon_chat)
    assert "Низкая оценка 2/5" in alert and "Анна +79160000002" in alert and "мастер Мария" in alert
    assert "что пошло не так" in out.to(f"{unhappy}@s.whatsapp.net")[-1]
    await replies.handle(msg(cid, "Мастер опоздала на 40 минут", unhappy))
    assert "опоздала на 40 минут" in out.to(salon_chat)[-1]
    assert out.to(f"{unhappy}@s.whatsapp.net")[-1].startswith("Спасибо, что рассказали")
    assert inner.got == []

    rows = {r["record_id"]: r for r in await pool.fetch("SELECT * FROM reviews ORDER BY record_id")}
    assert (rows[21]["rating"], rows[21]["flagged"]) == (5, False)
    assert (rows[22]["rating"], rows[22]["flagged"]) == (2, True)
    assert "опоздала" in rows[22]["comment"]

    # A client asked what went wrong who goes on to book instead is the dialogue's again.
    await sync.save_records(cid, [record(23, visit, phone="79160000003")])
    assert (await job.run_once()).reviews == 1
    await replies.handle(msg(cid, "1", "79160000003"))
    await replies.handle(msg(cid, "хочу записаться к другому мастеру", "79160000003"))
    await replies.handle(msg(cid, "спасибо", "79160000003"))
    assert inner.got == ["хочу записаться к другому мастеру", "спасибо"]
    inner.got.clear()

    # The request is answered: another digit is the dialogue's (e.g. picking a list item).
    await replies.handle(msg(cid, "4", happy))
    assert inner.got == ["4"]
    assert await pool.fetchval("SELECT count(*) FROM reviews") == 3


async def test_stars_and_words_rate_and_other_text_passes_through(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow", whatsapp_phone=None)
    sync = SyncStore(pool)
    visit = datetime(2026, 11, 23, 12, 0, tzinfo=MSK)
    phones = ["79160000011", "79160000012", "79160000013"]
    await sync.save_records(cid, [record(30 + i, visit, phone=p) for i, p in enumerate(phones)])
    job, out = jobs(pool, clock)
    clock.set(datetime(2026, 11, 23, 16, 30, tzinfo=MSK))
    assert (await job.run_once()).reviews == 3
    inner = Inner()
    replies = NotificationReplies(
        inner, store=NotificationStore(pool), source=sync, client=NoYClients(), outbox=out, clock=clock
    )
    await replies.handle(msg(cid, "⭐⭐⭐⭐", phones[0]))
    await replies.handle(msg(cid, "на пятёрку!", phones[1]))
    await replies.handle(msg(cid, "а можно записаться на завтра в 15:00?", phones[2]))
    ratings = {r["client_phone"]: r["rating"] for r in await pool.fetch("SELECT * FROM reviews")}
    assert ratings == {"+" + phones[0]: 4, "+" + phones[1]: 5}
    assert inner.got == ["а можно записаться на завтра в 15:00?"]
    # A review request older than the reply window no longer catches digits.
    clock.set(datetime(2026, 11, 23, 16, 30, tzinfo=MSK) + timedelta(hours=73))
    await replies.handle(msg(cid, "3", phones[2]))
    assert inner.got[-1] == "3"


async def test_notifications_booking_sent_itself_are_left_to_its_dialogue(
    pool: asyncpg.Pool, clock: FakeClock
) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    sync = SyncStore(pool)
    await sync.save_records(cid, [record(41, datetime(2026, 11, 24, 12, 0, tzinfo=MSK))])
    # What booking.reminders.Reminders claims (BookingStore.claim_notification): no sent_at, no chat.
    for kind in ("day_before", "review"):
        await pool.execute(
            """INSERT INTO notifications (company_id, record_id, kind, client_phone, starts_at)
               VALUES ($1, 41, $2, $3, $4)""",
            cid,
            kind,
            "+" + CLIENT_PHONE,
            datetime(2026, 11, 24, 12, 0, tzinfo=MSK),
        )
    clock.set(datetime(2026, 11, 23, 19, 30, tzinfo=MSK))
    inner = Inner()
    replies = NotificationReplies(
        inner,
        store=NotificationStore(pool),
        source=sync,
        client=NoYClients(),
        outbox=RecordingOutbox(),
        clock=clock,
    )
    await replies.handle(msg(cid, "да"))
    await replies.handle(msg(cid, "5"))
    assert inner.got == ["да", "5"]
    job, out = jobs(pool, clock)
    assert (
        await job.run_once()
    ).reminders == 0 and out.sent == []  # and the claim keeps this job from repeating it


async def test_disabled_passes_everything_through(pool: asyncpg.Pool, clock: FakeClock) -> None:
    cid = await add_salon(pool, salon_id=1001, timezone="Europe/Moscow")
    inner = Inner()
    replies = NotificationReplies(
        inner,
        store=NotificationStore(pool),
        source=SyncStore(pool),
        client=NoYClients(),
        outbox=RecordingOutbox(),
        clock=clock,
        config=NotificationsConfig(enabled=False),
    )
    await replies.handle(msg(cid, "5"))
    assert inner.got == ["5"]
