"""The notifications' Postgres repository (raw SQL): claims in `notifications`, ratings in
`reviews` (tables of migration 0031, extended by 0035), change snapshots and baselines.

It also READS, never writes, neighbours' tables: `companies` (timezone, title, the salon's own
WhatsApp number), booking's `bookings` (was a record made by the bot?) and `bot_record_changes`
(did the bot move or cancel it?), `conversations` and `booking_inbox` (is the dialogue in the middle
of a request in this chat?).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

REMINDER_KINDS = ("day_before", "two_hours")


@dataclass(frozen=True)
class Notification:
    """One claimed notification."""

    id: int
    company_id: int
    record_id: int
    kind: str
    client_phone: str  # '+' and digits
    starts_at: datetime | None
    status: str
    chat: str | None
    answer: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class DialogueActivity:
    """Is the booking dialogue in the middle of something in this chat?"""

    flow_updated_at: datetime | None  # when a request in progress (booking/move/cancel) last moved
    pending_messages: bool  # messages waiting for the dialogue's debounced answer

    def busy_since(self, moment: datetime | None) -> bool:
        """True when the dialogue has a request newer than `moment`, or unanswered messages."""
        if self.pending_messages:
            return True
        return self.flow_updated_at is not None and (moment is None or self.flow_updated_at > moment)


@dataclass(frozen=True)
class Salon:
    """What the notifications need of a company."""

    company_id: int
    salon_id: int
    title: str
    timezone: str
    whatsapp_phone: str | None  # the salon's own number, E.164


@dataclass(frozen=True)
class Snapshot:
    """The last state of a record the change notices saw."""

    record_id: int
    fingerprint: str
    starts_at: datetime | None
    staff_id: int | None
    service_ids: tuple[int, ...]
    cancelled: bool
    seen_at: datetime | None = None  # when a scan first saw this state (None: not stored yet)


def _notification(r: asyncpg.Record) -> Notification:
    return Notification(
        r["id"],
        r["company_id"],
        r["record_id"],
        r["kind"],
        r["client_phone"],
        r["starts_at"],
        r["status"],
        r["chat"],
        r["answer"],
        r["created_at"],
        r["sent_at"],
    )


class NotificationStore:
    """Postgres access for booking.notifications."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- companies (read only) ----------------------------------------------------------------
    async def salon(self, company_id: int) -> Salon | None:
        r = await self._pool.fetchrow(
            "SELECT id, salon_id, COALESCE(title, '') AS title, timezone, whatsapp_phone FROM companies WHERE id = $1",
            company_id,
        )
        return Salon(r["id"], r["salon_id"], r["title"], r["timezone"], r["whatsapp_phone"]) if r else None

    async def made_by_bot(self, company_id: int, record_id: int) -> bool:
        """True when booking's `bookings` table says the bot booked this record."""
        return bool(
            await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM bookings WHERE company_id = $1 AND record_id = $2 AND created_by_bot)",
                company_id,
                record_id,
            )
        )

    async def bot_changed(
        self, company_id: int, record_id: int, action: str, starts_at: datetime | None, since: datetime | None
    ) -> bool:
        """True when booking's `bot_record_changes` logs the bot making this change of the record
        (`action` 'cancelled', or 'moved' to `starts_at`) at or after `since` (any time when None)."""
        return bool(
            await self._pool.fetchval(
                """SELECT EXISTS (SELECT 1 FROM bot_record_changes
                   WHERE company_id = $1 AND record_id = $2 AND action = $3
                     AND ($4::timestamptz IS NULL OR starts_at = $4::timestamptz)
                     AND ($5::timestamptz IS NULL OR changed_at >= $5::timestamptz))""",
                company_id,
                record_id,
                action,
                starts_at,
                since,
            )
        )

    async def dialogue_activity(self, company_id: int, chat: str) -> DialogueActivity:
        """What booking's `conversations` and `booking_inbox` say about the chat (read only)."""
        row = await self._pool.fetchrow(
            """SELECT (SELECT updated_at FROM conversations
                       WHERE company_id = $1 AND chat = $2 AND state->>'flow' IS NOT NULL) AS flow_updated_at,
                      EXISTS (SELECT 1 FROM booking_inbox
                              WHERE company_id = $1 AND chat = $2 AND status = 'pending') AS pending""",
            company_id,
            chat,
        )
        return DialogueActivity(row["flow_updated_at"], bool(row["pending"]))

    # --- claims -------------------------------------------------------------------------------
    async def claim(
        self,
        company_id: int,
        record_id: int,
        kind: str,
        client_phone: str,
        chat: str,
        starts_at: datetime | None,
        now: datetime,
    ) -> int | None:
        """Insert-if-absent the notification row; its id, or None when it was claimed before."""
        return await self._pool.fetchval(
            """INSERT INTO notifications (company_id, record_id, kind, client_phone, chat, starts_at, status,
                                          created_at)
               VALUES ($1, $2, $3, $4, $5, $6, 'claimed', $7)
               ON CONFLICT (company_id, record_id, kind) DO NOTHING RETURNING id""",
            company_id,
            record_id,
            kind,
            client_phone,
            chat,
            starts_at,
            now,
        )

    async def mark_queued(self, notification_id: int, outbox_id: int | None, now: datetime) -> None:
        await self._pool.execute(
            "UPDATE notifications SET status = 'queued', outbox_id = $2, sent_at = $3 WHERE id = $1",
            notification_id,
            outbox_id,
            now,
        )

    async def mark_covered(self, notification_id: int, now: datetime) -> None:
        """A reminder made unnecessary by a change notice that just told the same visit."""
        await self._pool.execute(
            "UPDATE notifications SET status = 'covered', sent_at = $2 WHERE id = $1", notification_id, now
        )

    async def release(self, notification_id: int) -> None:
        """Drop a claim whose message could not be queued, so the next tick tries again."""
        await self._pool.execute(
            "DELETE FROM notifications WHERE id = $1 AND status = 'claimed'", notification_id
        )

    async def archive_reminders(self, company_id: int, record_id: int) -> int:
        """The visit moved: rename its reminder claims so the new time gets its own reminders."""
        rows = await self._pool.fetch(
            """UPDATE notifications SET kind = kind || '#' || id::text
               WHERE company_id = $1 AND record_id = $2 AND kind = ANY($3::text[]) RETURNING 1""",
            company_id,
            record_id,
            list(REMINDER_KINDS),
        )
        return len(rows)

    async def latest_open(
        self,
        company_id: int,
        client_phone: str,
        kinds: tuple[str, ...],
        since: datetime,
    ) -> Notification | None:
        """The newest unanswered notification of these kinds for this phone, created after `since`.

        Only rows this package sent (`sent_at` set): claims made by booking's own reminder job are
        answered by booking's dialogue, which remembers them in its conversation state."""
        r = await self._pool.fetchrow(
            """SELECT * FROM notifications
               WHERE company_id = $1 AND client_phone = $2 AND kind = ANY($3::text[]) AND answered_at IS NULL
                 AND created_at >= $4 AND status = 'queued' AND sent_at IS NOT NULL
               ORDER BY created_at DESC, id DESC LIMIT 1""",
            company_id,
            client_phone,
            list(kinds),
            since,
        )
        return _notification(r) if r else None

    async def open_reminders(self, company_id: int, client_phone: str, now: datetime) -> list[Notification]:
        """Unanswered reminders and change notices of this phone for visits not started, soonest first."""
        rows = await self._pool.fetch(
            """SELECT * FROM notifications
               WHERE company_id = $1 AND client_phone = $2 AND answered_at IS NULL
                 AND (kind = ANY($3::text[]) OR kind LIKE 'change:%')
                 AND starts_at > $4 AND status = 'queued' AND sent_at IS NOT NULL
               ORDER BY starts_at, id""",
            company_id,
            client_phone,
            list(REMINDER_KINDS),
            now,
        )
        return [_notification(r) for r in rows]

    async def mark_answered(
        self, company_id: int, record_id: int, kinds: tuple[str, ...], answer: str, now: datetime
    ) -> int:
        """Close every open reminder/notice of the record (kinds, plus change notices); how many closed.
        Two racing answers: only one closes anything."""
        rows = await self._pool.fetch(
            """UPDATE notifications SET answered_at = $5, answer = $4, status = 'answered'
               WHERE company_id = $1 AND record_id = $2 AND (kind = ANY($3::text[]) OR kind LIKE 'change:%')
                 AND answered_at IS NULL RETURNING 1""",
            company_id,
            record_id,
            list(kinds),
            answer,
            now,
        )
        return len(rows)

    async def change_answer(
        self, company_id: int, record_id: int, kinds: tuple[str, ...], from_answer: str, to_answer: str
    ) -> None:
        """Rewrite the answer of a record's answered reminders/notices (e.g. confirm_pending -> confirmed)."""
        await self._pool.execute(
            """UPDATE notifications SET answer = $5
               WHERE company_id = $1 AND record_id = $2 AND (kind = ANY($3::text[]) OR kind LIKE 'change:%')
                 AND answer = $4""",
            company_id,
            record_id,
            list(kinds),
            from_answer,
            to_answer,
        )

    async def records_with_answer(self, company_id: int, answer: str, now: datetime) -> list[int]:
        """Records of visits not started yet whose notifications carry this answer."""
        rows = await self._pool.fetch(
            """SELECT DISTINCT record_id FROM notifications
               WHERE company_id = $1 AND answer = $2 AND starts_at > $3 ORDER BY record_id""",
            company_id,
            answer,
            now,
        )
        return [r["record_id"] for r in rows]

    async def transition(
        self, notification_id: int, from_answer: str | None, to_answer: str, *, close: bool, now: datetime
    ) -> bool:
        """Move an open notification's answer from `from_answer` to `to_answer` (closing it when
        `close`); False when another message got there first."""
        row = await self._pool.fetchval(
            """UPDATE notifications SET answer = $3,
                   answered_at = CASE WHEN $4 THEN $5::timestamptz ELSE NULL END,
                   status = CASE WHEN $4 THEN 'answered' ELSE status END
               WHERE id = $1 AND answered_at IS NULL AND answer IS NOT DISTINCT FROM $2 RETURNING id""",
            notification_id,
            from_answer,
            to_answer,
            close,
            now,
        )
        return row is not None

    # --- reviews ------------------------------------------------------------------------------
    async def add_review(
        self,
        company_id: int,
        record_id: int,
        client_phone: str,
        rating: int,
        *,
        flagged: bool,
        comment: str | None,
        now: datetime,
    ) -> bool:
        """Store a rating (once per record); False when this record was rated before."""
        if not 1 <= rating <= 5:
            raise ValueError(f"rating must be 1..5, got {rating}")
        row = await self._pool.fetchval(
            """INSERT INTO reviews (company_id, record_id, client_phone, rating, comment, flagged, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (company_id, record_id) DO NOTHING RETURNING id""",
            company_id,
            record_id,
            client_phone,
            rating,
            comment,
            flagged,
            now,
        )
        return row is not None

    async def add_review_comment(self, company_id: int, record_id: int, comment: str) -> None:
        await self._pool.execute(
            """UPDATE reviews SET comment = CASE WHEN comment IS NULL OR comment = '' THEN $3
                                               ELSE comment || E'\n' || $3 END
               WHERE company_id = $1 AND record_id = $2""",
            company_id,
            record_id,
            comment[:2000],
        )

    # --- change snapshots ---------------------------------------------------------------------
    async def has_baseline(self, company_id: int) -> bool:
        return bool(
            await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM notification_baselines WHERE company_id = $1)", company_id
            )
        )

    async def set_baseline(self, company_id: int, now: datetime) -> None:
        await self._pool.execute(
            "INSERT INTO notification_baselines (company_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            company_id,
            now,
        )

    async def snapshots(self, company_id: int) -> dict[int, Snapshot]:
        rows = await self._pool.fetch(
            "SELECT * FROM notification_snapshots WHERE company_id = $1", company_id
        )
        return {
            r["record_id"]: Snapshot(
                r["record_id"],
                r["fingerprint"],
                r["starts_at"],
                r["staff_id"],
                tuple(r["service_ids"]),
                r["cancelled"],
                r["updated_at"],
            )
            for r in rows
        }

    async def save_snapshots(self, company_id: int, snaps: list[Snapshot], now: datetime) -> None:
        """Upsert the records' latest seen state, in one round trip."""
        if not snaps:
            return
        await self._pool.executemany(
            """INSERT INTO notification_snapshots AS t (company_id, record_id, fingerprint, starts_at, staff_id,
                                                        service_ids, cancelled, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (company_id, record_id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,
                   starts_at = EXCLUDED.starts_at, staff_id = EXCLUDED.staff_id,
                   service_ids = EXCLUDED.service_ids, cancelled = EXCLUDED.cancelled,
                   updated_at = EXCLUDED.updated_at""",
            [
                (
                    company_id,
                    s.record_id,
                    s.fingerprint,
                    s.starts_at,
                    s.staff_id,
                    list(s.service_ids),
                    s.cancelled,
                    now,
                )
                for s in snaps
            ],
        )

    async def prune_snapshots(self, company_id: int, before: datetime) -> int:
        """Forget records that started before `before` (or were cancelled and are past)."""
        rows = await self._pool.fetch(
            "DELETE FROM notification_snapshots WHERE company_id = $1 AND (starts_at IS NULL OR starts_at < $2) "
            "RETURNING 1",
            company_id,
            before,
        )
        return len(rows)
