"""The booking handler's Postgres repository: conversations, bookings, pending inbound messages,
and the log of the bot's own moves and cancellations of records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

# How long the bot's moves/cancellations are kept: far longer than the change scan (every few
# minutes; hours over the night or a sync outage) needs to see them.
BOT_CHANGES_RETENTION = timedelta(days=14)


@dataclass(frozen=True)
class Conversation:
    company_id: int
    chat: str
    state: dict[str, Any]
    version: int  # 0: no row yet


@dataclass(frozen=True)
class PendingMessage:
    message_id: int
    company_id: int
    chat: str
    sender_phone: str | None
    push_name: str | None
    text: str
    received_at: datetime


@dataclass(frozen=True)
class BookingRow:
    id: int
    company_id: int
    idempotency_key: str
    status: str
    record_id: int | None
    record_hash: str | None
    client_phone: str
    client_name: str | None
    staff_id: int | None
    service_ids: tuple[int, ...]
    starts_at: datetime | None
    datetime_raw: str | None


def _booking(row: asyncpg.Record) -> BookingRow:
    return BookingRow(
        id=row["id"],
        company_id=row["company_id"],
        idempotency_key=row["idempotency_key"],
        status=row["status"],
        record_id=row["record_id"],
        record_hash=row["record_hash"],
        client_phone=row["client_phone"],
        client_name=row["client_name"],
        staff_id=row["staff_id"],
        service_ids=tuple(row["service_ids"] or ()),
        starts_at=row["starts_at"],
        datetime_raw=row["datetime_raw"],
    )


class BookingStore:
    """Raw SQL for the booking package; every query carries the company."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- conversations -------------------------------------------------------------------
    async def load_conversation(self, company_id: int, chat: str) -> Conversation:
        """The chat's dialogue state (empty, version 0, when the chat is new)."""
        row = await self._pool.fetchrow(
            "SELECT state, version FROM conversations WHERE company_id = $1 AND chat = $2", company_id, chat
        )
        if row is None:
            return Conversation(company_id, chat, {}, 0)
        return Conversation(company_id, chat, dict(row["state"] or {}), row["version"])

    async def save_conversation(self, conv: Conversation, state: dict[str, Any]) -> bool:
        """Store `state` if nobody changed the chat since `conv` was loaded; False on a conflict."""
        if conv.version == 0:
            row = await self._pool.fetchrow(
                """INSERT INTO conversations (company_id, chat, state, version) VALUES ($1, $2, $3, 1)
                   ON CONFLICT (company_id, chat) DO NOTHING RETURNING version""",
                conv.company_id, conv.chat, state,
            )
        else:
            row = await self._pool.fetchrow(
                """UPDATE conversations SET state = $3, version = version + 1, updated_at = NOW()
                   WHERE company_id = $1 AND chat = $2 AND version = $4 RETURNING version""",
                conv.company_id, conv.chat, state, conv.version,
            )
        return row is not None

    # --- pending inbound messages --------------------------------------------------------
    async def add_pending(self, msg: PendingMessage) -> bool:
        """Accept a message for a debounced answer; False when it was seen before (redelivery)."""
        status = await self._pool.execute(
            """INSERT INTO booking_inbox (message_id, company_id, chat, sender_phone, push_name, text, received_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (company_id, message_id) DO NOTHING""",
            msg.message_id, msg.company_id, msg.chat, msg.sender_phone, msg.push_name, msg.text, msg.received_at,
        )
        return status.endswith(" 1")

    async def pending_for_chat(self, company_id: int, chat: str) -> list[PendingMessage]:
        rows = await self._pool.fetch(
            """SELECT * FROM booking_inbox WHERE company_id = $1 AND chat = $2 AND status = 'pending'
               ORDER BY received_at, message_id""",
            company_id, chat,
        )
        return [
            PendingMessage(r["message_id"], r["company_id"], r["chat"], r["sender_phone"], r["push_name"],
                           r["text"], r["received_at"])
            for r in rows
        ]

    async def pending_and_conversation(
        self, company_id: int, chat: str
    ) -> tuple[list[PendingMessage], Conversation]:
        """The chat's unanswered messages and its dialogue state, over one connection."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT * FROM booking_inbox WHERE company_id = $1 AND chat = $2 AND status = 'pending'
                   ORDER BY received_at, message_id""",
                company_id, chat,
            )
            if not rows:
                return [], Conversation(company_id, chat, {}, 0)
            conv = await conn.fetchrow(
                "SELECT state, version FROM conversations WHERE company_id = $1 AND chat = $2", company_id, chat
            )
        pending = [
            PendingMessage(r["message_id"], r["company_id"], r["chat"], r["sender_phone"], r["push_name"],
                           r["text"], r["received_at"])
            for r in rows
        ]
        if conv is None:
            return pending, Conversation(company_id, chat, {}, 0)
        return pending, Conversation(company_id, chat, dict(conv["state"] or {}), conv["version"])

    async def mark_done(self, company_id: int, message_ids: list[int]) -> None:
        await self._pool.execute(
            """UPDATE booking_inbox SET status = 'done', done_at = NOW()
               WHERE company_id = $1 AND message_id = ANY($2::bigint[])""",
            company_id, message_ids,
        )

    async def purge_done(self, older_than_days: int = 7) -> int:
        """Drop answered inbox rows (kept a week to dedupe late redeliveries); returns how many."""
        status = await self._pool.execute(
            "DELETE FROM booking_inbox WHERE status = 'done' AND done_at < NOW() - make_interval(days => $1)",
            older_than_days,
        )
        return int(status.split()[-1])

    async def pending_chats(self, received_before: datetime | None = None, limit: int = 1000) -> list[tuple[int, str]]:
        """Chats (company, chat) with unanswered messages (all received before the cutoff), oldest first."""
        rows = await self._pool.fetch(
            """SELECT company_id, chat, MIN(received_at) AS since, MAX(received_at) AS latest FROM booking_inbox
               WHERE status = 'pending' GROUP BY company_id, chat
               HAVING $2::timestamptz IS NULL OR MAX(received_at) < $2::timestamptz
               ORDER BY since LIMIT $1""",
            limit, received_before,
        )
        return [(r["company_id"], r["chat"]) for r in rows]

    # --- bookings ------------------------------------------------------------------------
    async def claim_booking(
        self,
        company_id: int,
        idempotency_key: str,
        *,
        chat: str,
        client_phone: str,
        client_name: str | None,
        staff_id: int,
        service_ids: list[int],
        starts_at: datetime,
        datetime_raw: str,
        api_id: str,
    ) -> BookingRow | None:
        """Claim the right to create this booking; None when the key was claimed before."""
        row = await self._pool.fetchrow(
            """INSERT INTO bookings (company_id, idempotency_key, chat, client_phone, client_name, staff_id,
                                     service_ids, starts_at, datetime_raw, api_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (company_id, idempotency_key) DO NOTHING RETURNING *""",
            company_id, idempotency_key, chat, client_phone, client_name, staff_id, service_ids, starts_at,
            datetime_raw, api_id,
        )
        return _booking(row) if row else None

    async def booking_by_key(self, company_id: int, idempotency_key: str) -> BookingRow | None:
        row = await self._pool.fetchrow(
            "SELECT * FROM bookings WHERE company_id = $1 AND idempotency_key = $2", company_id, idempotency_key
        )
        return _booking(row) if row else None

    async def set_booked(self, booking_id: int, record_id: int, record_hash: str | None) -> None:
        await self._pool.execute(
            """UPDATE bookings SET status = 'booked', record_id = $2, record_hash = $3, updated_at = NOW()
               WHERE id = $1""",
            booking_id, record_id, record_hash,
        )

    async def mark_unknown(self, booking_id: int) -> None:
        """The booking call got no answer: keep the claim (no second call) until the outcome is known."""
        await self._pool.execute(
            "UPDATE bookings SET status = 'unknown', updated_at = NOW() WHERE id = $1 AND status = 'pending'",
            booking_id,
        )

    async def release_claim(self, booking_id: int) -> None:
        """Forget a claim whose booking call failed without booking (so the client may retry)."""
        await self._pool.execute(
            "DELETE FROM bookings WHERE id = $1 AND status IN ('pending', 'unknown')", booking_id
        )

    async def client_bookings(self, company_id: int, client_phone: str, since: datetime) -> list[BookingRow]:
        """The bot's live bookings for this phone from `since` on."""
        rows = await self._pool.fetch(
            """SELECT * FROM bookings WHERE company_id = $1 AND client_phone = $2 AND status = 'booked'
               AND starts_at >= $3 ORDER BY starts_at""",
            company_id, client_phone, since,
        )
        return [_booking(r) for r in rows]

    async def record_moved(
        self, company_id: int, record_id: int, starts_at: datetime, datetime_raw: str
    ) -> None:
        await self._pool.execute(
            """UPDATE bookings SET starts_at = $3, datetime_raw = $4, updated_at = NOW()
               WHERE company_id = $1 AND record_id = $2""",
            company_id, record_id, starts_at, datetime_raw,
        )

    async def record_cancelled(self, company_id: int, record_id: int) -> None:
        await self._pool.execute(
            """UPDATE bookings SET status = 'cancelled', updated_at = NOW()
               WHERE company_id = $1 AND record_id = $2""",
            company_id, record_id,
        )

    async def record_hash(self, company_id: int, record_id: int) -> str | None:
        return await self._pool.fetchval(
            "SELECT record_hash FROM bookings WHERE company_id = $1 AND record_id = $2", company_id, record_id
        )

    # --- the bot's own changes of any record -------------------------------------------------
    async def record_bot_change(
        self, company_id: int, record_id: int, action: str, starts_at: datetime | None, changed_at: datetime
    ) -> None:
        """Log that the bot moved (to `starts_at`) or cancelled a record, and forget entries older
        than the retention. The change notices read it (the salon's own records have no `bookings` row)."""
        if action not in ("moved", "cancelled"):
            raise ValueError(f"action must be 'moved' or 'cancelled', got {action!r}")
        await self._pool.execute(
            """WITH pruned AS (DELETE FROM bot_record_changes WHERE changed_at < $6)
               INSERT INTO bot_record_changes (company_id, record_id, action, starts_at, changed_at)
               VALUES ($1, $2, $3, $4, $5)""",
            company_id, record_id, action, starts_at if action == "moved" else None, changed_at,
            changed_at - BOT_CHANGES_RETENTION,
        )
