"""The durable outbox (implements `sessions.api.OutboxSender`) and its delivery loop.

Each row gets its WhatsApp message id when it is created. Rows wait (not counted as attempts,
polled ever more gently) while the session is down or a rate limit holds: per session
`per_minute` messages per 60 s, per chat one message every `chat_interval_s` (atomic Lua in Redis,
on the app clock). "typing..." is shown first, for a pause proportional to the text (capped, on the
app clock: the row is simply due again after it, nothing sleeps), then the text, then "paused".

What happens after a failed send depends on what is known about it:
- certainly not sent (`NotSentError`: not connected, refused before the wire, rejected by the
  server): retried with exponential backoff and jitter; after `max_attempts` the row is 'dead';
- outcome unknown (a timeout, the engine worker died mid-send, a row found 'sending' with its send
  started, after a crash): a transport that declares `idempotent_send` gets the same id again (the
  receiver drops the copy); any other (neonize) is never resent: the row goes 'uncertain', logged
  with its company and counted in the metrics, so the client never gets the message twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
import redis.asyncio as aioredis
import structlog

from sessions import keys
from sessions.config import OutboxConfig
from sessions.jid import to_chat_jid
from sessions.metrics import SessionMetrics
from sessions.runtime import Clock
from sessions.sim import new_message_id
from sessions.state import backoff_s
from sessions.store import OutboxRow, SessionStore
from sessions.transport import NotConnectedError, NotSentError, Transport

log = structlog.get_logger(__name__)

TransportLookup = Callable[[int], Transport | None]

# KEYS: session window zset, chat last-send key. ARGV: at (the send's time, may be ahead of now when the
# typing pause comes first), window_s, limit, chat_interval_s, member.
# Returns "0" when the send may go at that time (and records it), else the seconds to wait.
_RATE = """
local now = tonumber(ARGV[1]); local window = tonumber(ARGV[2]); local limit = tonumber(ARGV[3])
local gap = tonumber(ARGV[4])
local last = tonumber(redis.call('get', KEYS[2]) or '-1e18')
if now - last < gap then return tostring(gap - (now - last)) end
redis.call('zremrangebyscore', KEYS[1], '-inf', now - window)
if redis.call('zcard', KEYS[1]) >= limit then
  local first = redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(first[2]) + window - now)
end
redis.call('zadd', KEYS[1], now, ARGV[5])
redis.call('expire', KEYS[1], math.ceil(window) + 60)
redis.call('set', KEYS[2], tostring(now), 'EX', math.ceil(gap) + 60)
return '0'
"""


class Outbox:
    """Enqueue replies and notifications; `run_once()` delivers what is due."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        config: OutboxConfig,
        clock: Clock,
        transports: TransportLookup,
        *,
        metrics: SessionMetrics | None = None,
        rng: random.Random | None = None,
        local_companies: Callable[[], list[int]] | None = None,
        on_not_connected: Callable[[int, str], Awaitable[object]] | None = None,
    ) -> None:
        self.store = SessionStore(pool)
        # With several instances: claim only rows of sessions connected here (others wait for their owner).
        self.local_companies = local_companies
        # Told when a transport we were handed says "not connected" (zombie detection).
        self.on_not_connected = on_not_connected
        self.redis = redis
        self.config = config
        self.clock = clock
        self.transports = transports
        self.metrics = metrics
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()

    async def enqueue(
        self, company_id: int, chat: str, text: str, *, idempotency_key: str, kind: str = "reply"
    ) -> int | None:
        """Queue `text` for `chat` (a chat JID or an E.164 phone); None when the key was already used."""
        if not text.strip():
            raise ValueError("text must not be empty")
        if not idempotency_key:
            raise ValueError("idempotency_key is required")
        outbox_id = await self.store.enqueue_outbox(
            company_id, chat=to_chat_jid(chat), text=text, idempotency_key=idempotency_key, kind=kind,
            wa_message_id=new_message_id(), now=self.clock.now(),
        )
        if outbox_id is None:
            log.info("outbox_duplicate_key", company_id=company_id, kind=kind)
        else:
            self._wake.set()
        return outbox_id

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.outbound.labels(outcome).inc()

    async def run_once(self) -> int:
        """Deliver every due row once; returns how many were sent."""
        now = self.clock.now()
        companies = self.local_companies() if self.local_companies is not None else None
        if companies is not None and not companies:
            return 0
        rows = await self.store.claim_outbox(
            now, now - timedelta(seconds=self.config.claim_timeout_s), self.config.batch_size, companies
        )
        sent = 0
        for row in rows:
            if await self._deliver(row):
                sent += 1
        return sent

    async def _deliver(self, row: OutboxRow) -> bool:
        transport = self.transports(row.company_id)
        if transport is None:
            # A send left in flight by a crash stays marked: whether to resend it needs the transport.
            await self._wait_for_session(row, "session not connected", keep_send_started=True)
            return False
        idempotent = bool(getattr(transport, "idempotent_send", False))
        if row.send_started_at is not None:  # claimed again after a crash while its send was in flight
            if not idempotent:
                await self._uncertain(row, "its send was in flight when the process sending it stopped")
                return False
            log.info("outbox_resend_same_id", company_id=row.company_id, outbox_id=row.id)
        pause_s = self.typing_pause_s(row.text)
        if pause_s > 0 and row.typing_at is None:
            await self._show_typing(transport, row, pause_s)
            return False
        if row.typing_at is None:  # no pause: the rate slot is taken now (else it was when typing began)
            if await self._rate_limited(row, self.clock.time()):
                return False
            if not await self._typing(transport, row, True):
                return False
        return await self._send(transport, row, idempotent)

    def typing_pause_s(self, text: str) -> float:
        """How long "typing..." shows before `text` goes out."""
        pause_ms = min(self.config.typing_max_ms, self.config.typing_ms_per_char * len(text))
        return max(0.0, pause_ms / 1000.0)

    async def _show_typing(self, transport: Transport, row: OutboxRow, pause_s: float) -> None:
        """A row's first step: take the rate slot for when the text will go, show "typing...", and
        make the row due again after the pause."""
        now = self.clock.now()
        if await self._rate_limited(row, self.clock.time() + pause_s):
            return
        if await self._typing(transport, row, True):
            await self.store.mark_outbox_typing(row.id, now, now + timedelta(seconds=pause_s))

    async def _typing(self, transport: Transport, row: OutboxRow, typing: bool) -> bool:
        """Best effort (cosmetic). Before the text, False when it found the session down (the row
        waits) or wedged (a timeout: the text is not tried now, it is retried with backoff)."""
        try:
            await asyncio.wait_for(transport.send_typing(row.chat, typing), self.config.send_timeout_s)
        except NotConnectedError as exc:
            if typing:
                await self._not_connected(row, exc)
                return False
        except TimeoutError as exc:
            log.warning("outbox_typing_timed_out", company_id=row.company_id, outbox_id=row.id)
            if typing:
                await self._defer(row, f"typing indicator timed out: {exc!r}", count=True, status="failed")
                self._count("failed")
                return False
        except Exception as exc:  # noqa: BLE001 - the indicator is not worth failing a message for
            log.warning("outbox_typing_failed", company_id=row.company_id, outbox_id=row.id, error=repr(exc))
        return True

    async def _send(self, transport: Transport, row: OutboxRow, idempotent: bool) -> bool:
        bound = log.bind(company_id=row.company_id, outbox_id=row.id)
        await self.store.mark_outbox_sending(row.id, self.clock.now())
        try:
            # Bounded: a send that hangs would stall delivery for every salon and outlive its claim.
            sent_id = await asyncio.wait_for(
                transport.send_text(row.chat, row.text, message_id=row.wa_message_id), self.config.send_timeout_s
            )
        except NotConnectedError as exc:
            await self._not_connected(row, exc)
            return False
        except NotSentError as exc:
            bound.warning("outbox_send_failed", error=repr(exc), attempts=row.attempts + 1)
            await self._defer(row, repr(exc)[:500], count=True, status="failed")
            self._count("failed")
            return False
        except Exception as exc:  # noqa: BLE001 - anything else may have reached the client
            if not idempotent:
                await self._uncertain(row, f"outcome unknown: {exc!r}")
                return False
            bound.warning("outbox_send_outcome_unknown", error=repr(exc), attempts=row.attempts + 1,
                          hint="resent later with the same id")
            await self._defer(row, repr(exc)[:500], count=True, status="failed")
            self._count("failed")
            return False
        sent_id = str(sent_id or row.wa_message_id)
        now = self.clock.now()
        await self.store.mark_outbox_sent(row.id, now, sent_id)
        self._count("sent")
        # Stored with the id it went out with (neonize picks its own) so the own-echo filter knows it.
        await self.store.insert_message(
            row.company_id, direction="out", wa_message_id=sent_id, chat=row.chat, text=row.text,
            sender_phone=None, push_name=None, sent_at=now, received_at=now, handled=True, note=row.kind,
        )
        bound.info("outbox_sent", kind=row.kind)
        await self._typing(transport, row, False)
        return True

    async def _not_connected(self, row: OutboxRow, exc: NotConnectedError) -> None:
        await self._wait_for_session(row, f"not connected: {exc}")
        if self.on_not_connected is not None:
            with contextlib.suppress(Exception):
                await self.on_not_connected(row.company_id, str(exc))

    async def _rate_limited(self, row: OutboxRow, at_s: float) -> bool:
        """Take the row's rate slot for a send at `at_s`; when none is free, reschedule the row."""
        wait_s = await self._rate_wait(row, at_s)
        if wait_s <= 0:
            return False
        await self.store.reschedule_outbox(
            row.id, next_attempt_at=self.clock.now() + timedelta(seconds=wait_s), count_attempt=False, error=None,
            keep_send_started=True,
        )
        self._count("rate_limited")
        return True

    async def _uncertain(self, row: OutboxRow, error: str) -> None:
        """It may have reached the client and the transport cannot resend it safely: never resend."""
        await self.store.reschedule_outbox(
            row.id, next_attempt_at=self.clock.now(), count_attempt=True, error=error[:500], status="uncertain",
            keep_send_started=True,
        )
        log.error("outbox_send_uncertain", company_id=row.company_id, outbox_id=row.id, kind=row.kind, error=error,
                  hint="not resent: this transport cannot send with the same id twice")
        self._count("uncertain")

    async def _wait_for_session(self, row: OutboxRow, error: str, *, keep_send_started: bool = False) -> None:
        """The session is down (or held elsewhere): retry later without spending an attempt.

        The delay grows with the row's age (half of it, at least `backoff_base_s`, at most
        `backoff_cap_s`, jittered), so a long outage is polled ever more gently.
        """
        age_s = max(0.0, (self.clock.now() - row.created_at).total_seconds())
        ceiling = min(self.config.backoff_cap_s, max(self.config.backoff_base_s, age_s / 2))
        delay_s = ceiling / 2 + self._rng.random() * ceiling / 2
        await self.store.reschedule_outbox(
            row.id, next_attempt_at=self.clock.now() + timedelta(seconds=delay_s), count_attempt=False, error=error,
            keep_send_started=keep_send_started, keep_typing=False,
        )
        self._count("deferred_down")

    async def _defer(self, row: OutboxRow, error: str, *, count: bool, status: str = "pending") -> None:
        attempts = row.attempts + (1 if count else 0)
        if attempts >= self.config.max_attempts:
            await self.store.reschedule_outbox(
                row.id, next_attempt_at=self.clock.now(), count_attempt=count, error=error, status="dead"
            )
            log.error("outbox_dead", company_id=row.company_id, outbox_id=row.id, error=error)
            self._count("dead")
            return
        delay_s = backoff_s(attempts, self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
        await self.store.reschedule_outbox(
            row.id, next_attempt_at=self.clock.now() + timedelta(seconds=delay_s), count_attempt=count, error=error,
            status=status, keep_typing=False,
        )

    async def _rate_wait(self, row: OutboxRow, at_s: float) -> float:
        """0 when a send at `at_s` (unix seconds) fits the limits (the slot is then taken), else the wait."""
        result = await self.redis.eval(
            _RATE, 2, keys.outbox_rate(row.company_id), keys.chat_rate(row.company_id, row.chat),
            repr(at_s), 60, self.config.per_minute, self.config.chat_interval_s, row.wa_message_id,
        )
        return max(0.0, float(result))

    def wake(self) -> None:
        """Deliver soon (e.g. a session just connected)."""
        self._wake.set()

    async def run(self) -> None:
        """The delivery loop: run_once, then sleep until woken, the next due row, or `poll_s`."""
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception as exc:  # noqa: BLE001 - keep delivering after a store hiccup
                log.error("outbox_loop_error", error=repr(exc))
            delay_s = self.config.poll_s
            due = await self._next_due_s()
            if due is not None:
                delay_s = max(0.01, min(delay_s, due))
            if self._wake.is_set():
                continue
            waiter = asyncio.ensure_future(self._wake.wait())
            sleeper = asyncio.ensure_future(self.clock.sleep(delay_s))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                sleeper.cancel()

    async def _next_due_s(self) -> float | None:
        with contextlib.suppress(Exception):
            companies = self.local_companies() if self.local_companies is not None else None
            if companies is not None and not companies:
                return None
            due = await self.store.next_outbox_due(companies)
            if due is not None:
                return (due - self.clock.now()).total_seconds()
        return None
