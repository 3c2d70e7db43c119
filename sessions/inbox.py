"""The inbox: every inbound text is persisted first, then handed to the message handler once.

- Groups, status broadcasts and our own echoes (from_me with one of our outbox message ids) are
  filtered out.
- A message the salon's staff typed by hand on the phone (from_me, not ours) is stored as 'staff'
  and pauses automatic replies in that chat for `handoff_pause_minutes` (Redis key with a TTL).
- Handling is durable: a message is claimed (atomic UPDATE) before the handler runs and marked
  handled after; `recover()` hands over persisted-but-unhandled messages after a crash. A claim
  older than `claim_timeout_s` counts as abandoned (the process died mid-handler).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import structlog

from sessions import keys
from sessions.api import InboundMessage, MessageHandler
from sessions.config import InboxConfig
from sessions.jid import jid_to_phone
from sessions.metrics import SessionMetrics
from sessions.runtime import Clock, Spawner
from sessions.store import MessageRow, SessionStore
from sessions.transport import IncomingText
from sessions.values import storable_text, utc_from_timestamp

log = structlog.get_logger(__name__)


class NoopHandler:
    """The default handler until booking wires its own: logs and does nothing."""

    async def handle(self, message: InboundMessage) -> None:
        log.info("inbound_unhandled_noop", company_id=message.company_id, message_id=message.id)


class EchoHandler:
    """A demo handler: answers every message with its own text through an outbox."""

    def __init__(self, outbox: Any) -> None:
        self._outbox = outbox

    async def handle(self, message: InboundMessage) -> None:
        await self._outbox.enqueue(
            message.company_id, message.chat, f"Эхо: {message.text}", idempotency_key=f"echo:{message.id}"
        )


class Inbox:
    """Persist-then-handle for inbound WhatsApp texts, with human handoff."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        config: InboxConfig,
        clock: Clock,
        spawner: Spawner,
        handler: MessageHandler | None = None,
        metrics: SessionMetrics | None = None,
    ) -> None:
        self.store = SessionStore(pool)
        self.redis = redis
        self.config = config
        self.clock = clock
        self.spawner = spawner
        self.handler: MessageHandler = handler or NoopHandler()
        self.metrics = metrics
        self._pending: set[asyncio.Task[Any]] = set()
        self._inflight: set[int] = set()  # claimed here and not finished: never recovered by this process

    def set_handler(self, handler: MessageHandler) -> None:
        """Install the message handler (booking does this at wiring time)."""
        self.handler = handler

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.inbound.labels(outcome).inc()

    async def accept(self, company_id: int, event: IncomingText) -> int | None:
        """Persist one inbound text and schedule its handling; returns messages.id, or None if not handled."""
        if event.is_group or event.is_status or event.chat.endswith("@g.us") or event.chat == "status@broadcast":
            self._count("filtered")
            return None
        now = self.clock.now()
        sent_at = utc_from_timestamp(event.timestamp)
        body = storable_text(event.text)
        push_name = storable_text(event.push_name) if event.push_name else event.push_name
        if event.from_me:
            if await self.store.is_outbox_message(company_id, event.message_id):
                self._count("echo")
                return None
            stored = await self.store.insert_message(
                company_id, direction="staff", wa_message_id=event.message_id, chat=event.chat, text=body,
                sender_phone=None, push_name=None, sent_at=sent_at, received_at=now, handled=True, note="staff",
            )
            if stored is not None:
                await self.pause(company_id, event.chat)
                log.info("handoff_staff_message", company_id=company_id, chat=event.chat)
            self._count("staff")
            return None
        message_id = await self.store.insert_message(
            company_id, direction="in", wa_message_id=event.message_id, chat=event.chat, text=body,
            sender_phone=event.sender_phone or jid_to_phone(event.sender) or jid_to_phone(event.chat),
            push_name=push_name, sent_at=sent_at, received_at=now,
        )
        if message_id is None:
            self._count("duplicate")
            log.info("inbound_duplicate", company_id=company_id, wa_message_id=event.message_id)
            return None
        self._count("stored")
        self._dispatch(message_id)
        return message_id

    def _dispatch(self, message_id: int) -> None:
        task = self.spawner.spawn(f"inbox-{message_id}", self.handle_stored(message_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def handle_stored(self, message_id: int) -> bool:
        """Claim a stored message and run the handler on it; False when someone else has it or it is done."""
        if message_id in self._inflight:
            return False
        self._inflight.add(message_id)
        try:
            return await self._handle_claimed(message_id)
        finally:
            self._inflight.discard(message_id)

    async def _handle_claimed(self, message_id: int) -> bool:
        now = self.clock.now()
        row = await self.store.claim_message(message_id, now, now - timedelta(seconds=self.config.claim_timeout_s))
        if row is None:
            return False
        if await self.is_paused(row.company_id, row.chat):
            await self.store.mark_handled(row.id, self.clock.now(), "paused: staff handles this chat")
            self._count("paused")
            return True
        try:
            await self.handler.handle(_inbound(row))
        except Exception as exc:
            log.error("inbound_handler_failed", company_id=row.company_id, message_id=row.id, error=repr(exc),
                      exc_info=exc)
            await self.store.mark_handled(row.id, self.clock.now(), f"handler error: {exc!r}"[:500])
            self._count("handler_error")
            return True
        await self.store.mark_handled(row.id, self.clock.now(), None)
        self._count("handled")
        return True

    async def recover(self) -> int:
        """Hand over messages persisted but never handled (a crash between insert and handler)."""
        now = self.clock.now()
        ids = await self.store.unhandled_message_ids(now - timedelta(seconds=self.config.claim_timeout_s))
        ids = [i for i in ids if i not in self._inflight]
        for message_id in ids:
            self._dispatch(message_id)
        if ids:
            log.info("inbox_recovered", count=len(ids))
        return len(ids)

    async def run_recovery(self, interval_s: float | None = None) -> None:
        """Periodically hand over abandoned messages (claims of a process that died mid-handler)."""
        period_s = interval_s if interval_s is not None else max(1.0, self.config.claim_timeout_s / 2)
        while True:
            await self.clock.sleep(period_s)
            try:
                await self.recover()
            except Exception as exc:  # noqa: BLE001 - retried next period
                log.error("inbox_recovery_failed", error=repr(exc))

    async def drain(self) -> None:
        """Wait for the handling already scheduled (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # --- human handoff -----------------------------------------------------------------
    async def pause(self, company_id: int, chat: str, minutes: float | None = None) -> None:
        """Silence the bot in `chat` (staff took over, or the client asked for a human)."""
        ttl_s = int((minutes if minutes is not None else self.config.handoff_pause_minutes) * 60)
        until = self.clock.time() + ttl_s
        await self.redis.set(keys.handoff(company_id, chat), str(until), ex=max(1, ttl_s))

    async def resume(self, company_id: int, chat: str) -> None:
        """Let the bot answer in `chat` again."""
        await self.redis.delete(keys.handoff(company_id, chat))

    async def is_paused(self, company_id: int, chat: str) -> bool:
        """True while the bot must stay silent in `chat` (judged on the app clock, TTL as a backstop)."""
        raw = await self.redis.get(keys.handoff(company_id, chat))
        if raw is None:
            return False
        try:
            return float(raw) > self.clock.time()
        except ValueError:
            return True


def _inbound(row: MessageRow) -> InboundMessage:
    return InboundMessage(
        id=row.id, company_id=row.company_id, chat=row.chat, sender_phone=row.sender_phone,
        wa_message_id=row.wa_message_id, text=row.text, received_at=row.received_at, push_name=row.push_name,
    )
