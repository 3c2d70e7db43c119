"""The sessions engine's repository: all SQL of wa_sessions, messages and outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class SessionRow:
    """One row of `wa_sessions`."""

    company_id: int
    state: str
    reason: str | None
    desired: str
    jid: str | None
    phone: str | None
    attempts: int
    last_error: str | None
    banned_until: datetime | None
    connected_at: datetime | None
    lease_epoch: int
    updated_at: datetime | None


@dataclass(frozen=True)
class MessageRow:
    """One row of `messages`."""

    id: int
    company_id: int
    direction: str
    wa_message_id: str
    chat: str
    sender_phone: str | None
    push_name: str | None
    text: str
    sent_at: datetime | None
    received_at: datetime
    handled_at: datetime | None
    handle_note: str | None


@dataclass(frozen=True)
class OutboxRow:
    """One row of `outbox`."""

    id: int
    company_id: int
    idempotency_key: str
    kind: str
    chat: str
    text: str
    wa_message_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    send_started_at: datetime | None = None  # a send was handed to the transport (outcome not yet recorded)
    sent_wa_message_id: str | None = None  # the id the transport reported
    typing_at: datetime | None = None  # the typing indicator was shown


_SESSION_COLS = (
    "company_id, state, reason, desired, jid, phone, attempts, last_error, banned_until, connected_at,"
    " lease_epoch, updated_at"
)
_MESSAGE_COLS = (
    "id, company_id, direction, wa_message_id, chat, sender_phone, push_name, text, sent_at, received_at,"
    " handled_at, handle_note"
)
_OUTBOX_COLS = (
    "id, company_id, idempotency_key, kind, chat, text, wa_message_id, status, attempts, next_attempt_at,"
    " last_error, created_at, sent_at, send_started_at, sent_wa_message_id, typing_at"
)


def _session(r: asyncpg.Record) -> SessionRow:
    return SessionRow(**dict(r))


def _message(r: asyncpg.Record) -> MessageRow:
    return MessageRow(**dict(r))


def _outbox(r: asyncpg.Record) -> OutboxRow:
    return OutboxRow(**dict(r))


class SessionStore:
    """Raw SQL over an asyncpg pool; every timestamp comes from the caller's clock."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    # --- companies ---------------------------------------------------------------------
    async def company_exists(self, company_id: int) -> bool:
        return bool(await self.pool.fetchval("SELECT EXISTS(SELECT 1 FROM companies WHERE id = $1)", company_id))

    async def list_companies(self, limit: int = 200) -> list[tuple[int, str | None]]:
        """(company_id, title) of the registered salons, oldest first."""
        rows = await self.pool.fetch("SELECT id, title FROM companies ORDER BY id LIMIT $1", limit)
        return [(r["id"], r["title"]) for r in rows]

    # --- wa_sessions -------------------------------------------------------------------
    async def get_session(self, company_id: int) -> SessionRow | None:
        row = await self.pool.fetchrow(f"SELECT {_SESSION_COLS} FROM wa_sessions WHERE company_id = $1", company_id)
        return _session(row) if row else None

    async def outbox_counts(self, company_id: int) -> dict[str, int]:
        """How many of this company's outbox rows are in each status (for operators)."""
        rows = await self.pool.fetch(
            "SELECT status, count(*) AS n FROM outbox WHERE company_id = $1 GROUP BY status", company_id
        )
        return {r["status"]: int(r["n"]) for r in rows}

    async def list_sessions(self) -> list[SessionRow]:
        rows = await self.pool.fetch(f"SELECT {_SESSION_COLS} FROM wa_sessions ORDER BY company_id")
        return [_session(r) for r in rows]

    async def save_state(
        self,
        company_id: int,
        *,
        state: str,
        reason: str | None,
        jid: str | None,
        phone: str | None,
        attempts: int,
        last_error: str | None,
        banned_until: datetime | None,
        connected_at: datetime | None,
        now: datetime,
        epoch: int | None = None,
    ) -> bool:
        """Persist a transition (the desired state is left as it is).

        With a lease `epoch`, the write is fenced: refused (False) when a newer owner already wrote.
        """
        written = await self.pool.fetchval(
            """INSERT INTO wa_sessions (company_id, state, reason, jid, phone, attempts, last_error, banned_until,
                                        connected_at, created_at, updated_at, lease_epoch)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, COALESCE($11::bigint, 0))
               ON CONFLICT (company_id) DO UPDATE SET state = $2, reason = $3, jid = $4, phone = $5,
                   attempts = $6, last_error = $7, banned_until = $8, connected_at = $9, updated_at = $10,
                   lease_epoch = COALESCE($11::bigint, wa_sessions.lease_epoch)
               WHERE $11::bigint IS NULL OR wa_sessions.lease_epoch <= $11::bigint
               RETURNING 1""",
            company_id, state, reason, jid, phone, attempts, last_error, banned_until, connected_at, now, epoch,
        )
        return written is not None

    async def set_desired(self, company_id: int, desired: str, now: datetime) -> None:
        await self.pool.execute(
            """INSERT INTO wa_sessions (company_id, desired, created_at, updated_at) VALUES ($1, $2, $3, $3)
               ON CONFLICT (company_id) DO UPDATE SET desired = $2, updated_at = $3""",
            company_id, desired, now,
        )

    async def running_company_ids(self) -> list[int]:
        rows = await self.pool.fetch("SELECT company_id FROM wa_sessions WHERE desired = 'running' ORDER BY company_id")
        return [r["company_id"] for r in rows]

    async def count_by_state(self) -> dict[str, int]:
        rows = await self.pool.fetch("SELECT state, count(*) AS n FROM wa_sessions GROUP BY state")
        return {r["state"]: r["n"] for r in rows}

    # --- messages ----------------------------------------------------------------------
    async def insert_message(
        self,
        company_id: int,
        *,
        direction: str,
        wa_message_id: str,
        chat: str,
        text: str,
        sender_phone: str | None,
        push_name: str | None,
        sent_at: datetime | None,
        received_at: datetime,
        handled: bool = False,
        note: str | None = None,
    ) -> int | None:
        """Insert if absent; None when this (company, direction, WhatsApp id) is already stored."""
        return await self.pool.fetchval(
            """INSERT INTO messages (company_id, direction, wa_message_id, chat, sender_phone, push_name, text,
                                     sent_at, received_at, handled_at, handle_note)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::timestamptz,
                       CASE WHEN $10::boolean THEN $9::timestamptz END, $11)
               ON CONFLICT (company_id, direction, wa_message_id) DO NOTHING RETURNING id""",
            company_id, direction, wa_message_id, chat, sender_phone, push_name, text, sent_at, received_at,
            handled, note,
        )

    async def claim_message(self, message_id: int, now: datetime, stale_before: datetime) -> MessageRow | None:
        """Atomically claim an unhandled inbound message (or one whose claim went stale)."""
        row = await self.pool.fetchrow(
            f"""UPDATE messages SET claimed_at = $2
                WHERE id = $1 AND handled_at IS NULL AND (claimed_at IS NULL OR claimed_at < $3)
                RETURNING {_MESSAGE_COLS}""",
            message_id, now, stale_before,
        )
        return _message(row) if row else None

    async def mark_handled(self, message_id: int, now: datetime, note: str | None = None) -> None:
        await self.pool.execute(
            "UPDATE messages SET handled_at = $2, handle_note = $3 WHERE id = $1", message_id, now, note
        )

    async def unhandled_message_ids(self, stale_before: datetime, limit: int = 500) -> list[int]:
        rows = await self.pool.fetch(
            """SELECT id FROM messages WHERE direction = 'in' AND handled_at IS NULL
                   AND (claimed_at IS NULL OR claimed_at < $1) ORDER BY id LIMIT $2""",
            stale_before, limit,
        )
        return [r["id"] for r in rows]

    async def get_message(self, message_id: int) -> MessageRow | None:
        row = await self.pool.fetchrow(f"SELECT {_MESSAGE_COLS} FROM messages WHERE id = $1", message_id)
        return _message(row) if row else None

    async def list_messages(self, company_id: int, chat: str | None = None) -> list[MessageRow]:
        rows = await self.pool.fetch(
            f"""SELECT {_MESSAGE_COLS} FROM messages WHERE company_id = $1 AND ($2::text IS NULL OR chat = $2)
                ORDER BY id""",
            company_id, chat,
        )
        return [_message(r) for r in rows]

    # --- outbox ------------------------------------------------------------------------
    async def enqueue_outbox(
        self, company_id: int, *, chat: str, text: str, idempotency_key: str, kind: str, wa_message_id: str,
        now: datetime,
    ) -> int | None:
        """Insert a pending row; None when the idempotency key was already used."""
        return await self.pool.fetchval(
            """INSERT INTO outbox (company_id, idempotency_key, kind, chat, text, wa_message_id, next_attempt_at,
                                   created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
               ON CONFLICT (company_id, idempotency_key) DO NOTHING RETURNING id""",
            company_id, idempotency_key, kind, chat, text, wa_message_id, now,
        )

    async def claim_outbox(
        self, now: datetime, stale_before: datetime, limit: int, company_ids: list[int] | None = None
    ) -> list[OutboxRow]:
        """Claim due rows: pending ones whose time has come and 'sending' ones abandoned by a crash.

        `company_ids` restricts the claim to those companies (the sessions this instance holds).
        """
        rows = await self.pool.fetch(
            f"""UPDATE outbox SET status = 'sending', claimed_at = $1
                WHERE id IN (
                    SELECT id FROM outbox
                    WHERE ((status IN ('pending', 'failed') AND next_attempt_at <= $1)
                           OR (status = 'sending' AND claimed_at < $2))
                      AND ($4::int[] IS NULL OR company_id = ANY($4::int[]))
                    ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                RETURNING {_OUTBOX_COLS}""",
            now, stale_before, limit, company_ids,
        )
        return sorted((_outbox(r) for r in rows), key=lambda o: (o.next_attempt_at, o.id))

    async def mark_outbox_sending(self, outbox_id: int, now: datetime) -> None:
        """Record that the text is being handed to the transport (a crash from here on leaves the
        outcome unknown)."""
        await self.pool.execute("UPDATE outbox SET send_started_at = $2 WHERE id = $1", outbox_id, now)

    async def mark_outbox_sent(self, outbox_id: int, now: datetime, sent_wa_message_id: str | None = None) -> None:
        await self.pool.execute(
            "UPDATE outbox SET status = 'sent', sent_at = $2, attempts = attempts + 1, last_error = NULL, "
            "sent_wa_message_id = $3 WHERE id = $1",
            outbox_id, now, sent_wa_message_id,
        )

    async def mark_outbox_typing(self, outbox_id: int, now: datetime, next_attempt_at: datetime) -> None:
        """The typing indicator is showing: the text is due at `next_attempt_at` (no attempt spent)."""
        await self.pool.execute(
            "UPDATE outbox SET status = 'pending', typing_at = $2, next_attempt_at = $3, claimed_at = NULL "
            "WHERE id = $1",
            outbox_id, now, next_attempt_at,
        )

    async def reschedule_outbox(
        self, outbox_id: int, *, next_attempt_at: datetime, count_attempt: bool, error: str | None,
        status: str = "pending", keep_send_started: bool = False, keep_typing: bool = True,
    ) -> None:
        """Release a claimed row. The send marker is cleared (the attempt is known not to have gone
        out) unless `keep_send_started`; the typing mark is cleared unless `keep_typing`."""
        await self.pool.execute(
            """UPDATE outbox SET status = $2, next_attempt_at = $3, last_error = COALESCE($4, last_error),
                   attempts = attempts + CASE WHEN $5::boolean THEN 1 ELSE 0 END, claimed_at = NULL,
                   send_started_at = CASE WHEN $6::boolean THEN send_started_at END,
                   typing_at = CASE WHEN $7::boolean THEN typing_at END
               WHERE id = $1""",
            outbox_id, status, next_attempt_at, error, count_attempt, keep_send_started, keep_typing,
        )

    async def get_outbox(self, outbox_id: int) -> OutboxRow | None:
        row = await self.pool.fetchrow(f"SELECT {_OUTBOX_COLS} FROM outbox WHERE id = $1", outbox_id)
        return _outbox(row) if row else None

    async def list_outbox(self, company_id: int) -> list[OutboxRow]:
        rows = await self.pool.fetch(f"SELECT {_OUTBOX_COLS} FROM outbox WHERE company_id = $1 ORDER BY id", company_id)
        return [_outbox(r) for r in rows]

    async def is_outbox_message(self, company_id: int, wa_message_id: str) -> bool:
        """True for an id we sent: the one the outbox assigned, or the one the transport reported
        (stored on the 'out' message row)."""
        return bool(
            await self.pool.fetchval(
                """SELECT EXISTS(SELECT 1 FROM outbox WHERE company_id = $1 AND wa_message_id = $2)
                       OR EXISTS(SELECT 1 FROM messages
                                 WHERE company_id = $1 AND direction = 'out' AND wa_message_id = $2)""",
                company_id, wa_message_id,
            )
        )

    async def next_outbox_due(self, company_ids: list[int] | None = None) -> datetime | None:
        return await self.pool.fetchval(
            "SELECT min(next_attempt_at) FROM outbox WHERE status IN ('pending', 'failed') "
            "AND ($1::int[] IS NULL OR company_id = ANY($1::int[]))",
            company_ids,
        )
