"""One company's WhatsApp session: its state, its transport, and the loop that drives it.

The loop creates a transport, starts it and turns its events into state transitions. Transient
failures (a dropped connection, a failed start) back off exponentially with jitter on the injected
clock; terminal outcomes end the loop and are never retried automatically; after
`max_attempts` consecutive failures the session is FAILED with `last_error` kept. Inbound texts
go to the message sink through an `InboundBuffer`, which keeps and retries them while the store
is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
import structlog

from sessions import keys
from sessions.aio import cancel_and_wait
from sessions.api import SessionEvent, SessionInfo, SessionState
from sessions.config import SessionsConfig
from sessions.inbound_retry import InboundBuffer
from sessions.metrics import SessionMetrics
from sessions.runtime import Clock, Spawner
from sessions.state import ACTIVE_STATES, backoff_s, can_transition
from sessions.store import SessionRow, SessionStore
from sessions.transport import (
    ClientOutdated,
    Connected,
    Disconnected,
    IncomingText,
    LoggedOut,
    PairingCode,
    QrCode,
    QrSeriesExpired,
    StreamReplaced,
    TemporaryBan,
    Transport,
    TransportFactory,
)
from sessions.values import utc_from_timestamp

log = structlog.get_logger(__name__)
S = SessionState

MessageSink = Callable[[int, IncomingText], Awaitable[object]]


@dataclass
class SessionContext:
    """What every session of a manager shares."""

    store: SessionStore
    redis: aioredis.Redis
    factory: TransportFactory
    config: SessionsConfig
    clock: Clock
    spawner: Spawner
    publish: Callable[[SessionEvent], Awaitable[None]]
    on_state: Callable[[SessionState | None, SessionState], None] = lambda old, new: None
    message_sink: MessageSink | None = None
    rng: random.Random = field(default_factory=random.Random)
    # Called when a session's loop ends by itself (terminal state): the manager releases the lease.
    on_finished: Callable[[Session], Awaitable[None]] | None = None
    metrics: SessionMetrics | None = None


class Session:
    """The live session of one company on this instance."""

    def __init__(self, ctx: SessionContext, company_id: int, row: SessionRow | None = None) -> None:
        self.ctx = ctx
        self.company_id = company_id
        self.state = S.STOPPED
        self.reason: str | None = None
        self.desired = "stopped"
        self.jid: str | None = None
        self.phone: str | None = None
        self.attempts = 0
        self.last_error: str | None = None
        self.banned_until: datetime | None = None
        self.connected_at: datetime | None = None
        self.updated_at: datetime | None = None
        if row is not None:
            self.load(row)
        self.transport: Transport | None = None
        self.task: asyncio.Task[Any] | None = None
        self.epoch: int | None = None  # lease fencing epoch while this instance owns the session
        self.fenced = False  # a newer owner wrote: this instance must let go
        self.started = asyncio.Event()  # set once a start attempt finished (either way)
        self.lock = asyncio.Lock()
        self._stopping = False
        self._consuming = False
        self.log = log.bind(company_id=company_id)
        # Outlives stops and reconnects: texts WhatsApp already acked wait here while the store is down.
        self.inbound = InboundBuffer(company_id, lambda: ctx.message_sink, ctx.clock, ctx.spawner, ctx.config,
                                     ctx.rng, self._count_inbound)

    def _count_inbound(self, outcome: str) -> None:
        if self.ctx.metrics is not None:
            self.ctx.metrics.inbound.labels(outcome).inc()

    def load(self, row: SessionRow) -> None:
        """Take the stored fields (a live state stored by another process is stale: nothing runs here)."""
        stored = S(row.state)
        self.state = S.STOPPED if stored in ACTIVE_STATES else stored
        self.reason = "not running on this instance" if stored in ACTIVE_STATES else row.reason
        self.desired = row.desired
        self.jid, self.phone = row.jid, row.phone
        self.attempts, self.last_error = row.attempts, row.last_error
        self.banned_until, self.connected_at, self.updated_at = row.banned_until, row.connected_at, row.updated_at

    async def settle(self, new: SessionState, reason: str) -> None:
        """Go to `new` by request; when already there, rewrite and republish it (stale rows get fixed)."""
        if self.state is new:
            self.reason = reason
            if await self.persist():
                await self.ctx.publish(SessionEvent(self.company_id, "state", {"state": new.value, "reason": reason}))
        else:
            await self.transition(new, reason)

    # --- snapshot / persistence --------------------------------------------------------
    def info(self) -> SessionInfo:
        return SessionInfo(
            company_id=self.company_id, state=self.state, reason=self.reason, desired=self.desired,
            phone=self.phone, jid=self.jid, attempts=self.attempts, last_error=self.last_error,
            connected_at=self.connected_at, updated_at=self.updated_at,
        )

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def persist(self) -> bool:
        """Write the state; False when fenced off by a newer lease owner (the loop then lets go)."""
        now = self.ctx.clock.now()
        self.updated_at = now
        written = await self.ctx.store.save_state(
            self.company_id, state=self.state.value, reason=self.reason, jid=self.jid, phone=self.phone,
            attempts=self.attempts, last_error=self.last_error, banned_until=self.banned_until,
            connected_at=self.connected_at, now=now, epoch=self.epoch,
        )
        if not written:
            self.fenced = True
            self._stopping = True
            self.log.warning("session_fenced", epoch=self.epoch)
        return written

    async def transition(self, new: SessionState, reason: str | None) -> bool:
        """Move to `new` if the table allows it: persist, log, publish. False (and logged) if refused."""
        old = self.state
        if not can_transition(old, new):
            self.log.warning("session_transition_refused", old=old.value, new=new.value, reason=reason)
            return False
        self.state, self.reason = new, reason
        if not await self.persist():
            return False
        self.ctx.on_state(old, new)
        self.log.info("session_transition", old=old.value, new=new.value, reason=reason, attempts=self.attempts)
        await self.ctx.publish(SessionEvent(self.company_id, "state", {"state": new.value, "reason": reason}))
        return True

    # --- lifecycle ---------------------------------------------------------------------
    def launch(self) -> None:
        """Start the driving loop (the caller holds `lock` and checked it is not running)."""
        self._stopping = False
        self.fenced = False
        self.started.clear()
        self.task = self.ctx.spawner.spawn(f"session-{self.company_id}", self._run())

    async def halt(self) -> None:
        """Stop the loop and the transport (idempotent); the state is left for the caller to set."""
        self._stopping = True
        transport, task = self.transport, self.task
        if transport is not None:
            await self._stop_transport(transport)
        if task is not None and not task.done() and task is not asyncio.current_task():
            if self._consuming:
                # Let the loop finish the events already delivered (they may be client messages).
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(asyncio.shield(task), self.ctx.config.stop_timeout_s)
            await cancel_and_wait(task)
        self.task = None
        self.transport = None
        self.started.set()
        await self.ctx.redis.delete(keys.current_qr(self.company_id))

    async def _run(self) -> None:
        try:
            while not self._stopping:
                if not await self.transition(S.STARTING, "connecting"):
                    return
                transport = self.ctx.factory.create(self.company_id)
                self.transport = transport
                try:
                    await transport.start()
                except Exception as exc:  # noqa: BLE001 - any start failure is a transient failure
                    self.started.set()
                    await self._drop_transport()
                    if not await self._failed_attempt(f"start failed: {exc}"):
                        return
                    continue
                self.started.set()
                outcome = await self._consume(transport)
                await self._drop_transport()
                if outcome == "done" or self._stopping:
                    return
                if not await self._failed_attempt(self.last_error or "disconnected"):
                    return
        finally:
            self.started.set()
            if not self._stopping and self.ctx.on_finished is not None:
                await self.ctx.on_finished(self)

    async def _drop_transport(self) -> None:
        transport, self.transport = self.transport, None
        if transport is not None:
            await self._stop_transport(transport)

    async def _stop_transport(self, transport: Transport) -> None:
        """Stop a transport within `stop_timeout_s`; a failure is logged, never raised (we are leaving it)."""
        try:
            await asyncio.wait_for(transport.stop(), self.ctx.config.stop_timeout_s)
        except Exception as exc:  # noqa: BLE001 - includes TimeoutError
            self.log.warning("session_transport_stop_failed", error=repr(exc))

    async def _failed_attempt(self, error: str) -> bool:
        """Count a failure; back off and return True to retry, or go FAILED and return False."""
        self.attempts += 1
        self.last_error = error
        if self.attempts >= self.ctx.config.max_attempts:
            await self.transition(S.FAILED, f"gave up after {self.attempts} attempts: {error}")
            return False
        if not await self.transition(S.DISCONNECTED, error):
            await self.persist()
        delay_s = backoff_s(self.attempts, self.ctx.config.backoff_base_s, self.ctx.config.backoff_cap_s, self.ctx.rng)
        self.log.info("session_backoff", attempt=self.attempts, delay_s=round(delay_s, 2), error=error)
        await self.ctx.clock.sleep(delay_s)
        return not self._stopping

    async def _consume(self, transport: Transport) -> str:
        """Handle events until a terminal outcome ('done') or a transient drop ('retry')."""
        self._consuming = True
        try:
            async for event in transport.events():
                outcome = await self._on_event(event)
                if outcome is not None:
                    return outcome
                if self.fenced:
                    return "done"
            if self._stopping:
                return "done"
            self.last_error = self.last_error or "transport ended unexpectedly"
            return "retry"
        finally:
            self._consuming = False

    async def _on_event(self, event: object) -> str | None:
        cid = self.company_id
        if isinstance(event, IncomingText):
            await self.inbound.put(event)  # persisted now, or kept and retried in order
            return None
        if isinstance(event, QrCode):
            # The QR is readable (current_qr) before anyone hears of the SCAN_QR state.
            remaining_s = await self._store_qr(event)
            if self.state not in (S.SCAN_QR, S.PAIRING):
                await self.transition(S.SCAN_QR, "waiting for a QR scan")
            if remaining_s is not None:
                await self.ctx.publish(
                    SessionEvent(cid, "qr", {"qr": event.code, "expires_in": round(remaining_s)})
                )
            return None
        if isinstance(event, PairingCode):
            await self.ctx.publish(
                SessionEvent(cid, "pairing_code", {"code": event.code, "expires_in": int(event.expires_in_s)})
            )
            return None
        if isinstance(event, Connected):
            self.jid, self.phone = event.jid, event.phone
            self.attempts, self.last_error, self.banned_until = 0, None, None
            self.connected_at = self.ctx.clock.now()
            await self.ctx.redis.delete(keys.current_qr(cid))
            if await self.transition(S.CONNECTED, "connected"):
                await self.ctx.publish(SessionEvent(cid, "connected", {"phone": event.phone}))
            return None
        await self.ctx.redis.delete(keys.current_qr(cid))
        if isinstance(event, QrSeriesExpired):
            await self.transition(S.QR_EXPIRED, "nobody scanned the QR code in time")
            return "done"
        if isinstance(event, Disconnected):
            self.last_error = event.reason
            if event.transient:
                return "retry"  # _failed_attempt counts it and goes DISCONNECTED
            await self.transition(S.FAILED, event.reason)
            return "done"
        if isinstance(event, LoggedOut):
            self.jid = None
            self.connected_at = None
            await self.transition(S.LOGGED_OUT, event.reason)
            return "done"
        if isinstance(event, TemporaryBan):
            self.banned_until = utc_from_timestamp(event.expires_at)
            until = f" until {self.banned_until.isoformat()}" if self.banned_until else ""
            await self.transition(S.BANNED, f"temporary ban ({event.code}){until}")
            return "done"
        if isinstance(event, ClientOutdated):
            await self.transition(S.CLIENT_OUTDATED, "WhatsApp refused this client version: update the software")
            return "done"
        if isinstance(event, StreamReplaced):
            await self.transition(S.REPLACED, "another client took over this WhatsApp session")
            return "done"
        self.log.warning("unknown_transport_event", event=type(event).__name__)
        return None

    async def _store_qr(self, event: QrCode) -> float | None:
        """Keep the QR in Redis for every instance; returns its remaining validity (None if expired)."""
        now = self.ctx.clock.time()
        expires_at = event.issued_at + event.expires_in_s
        remaining_s = expires_at - now
        if remaining_s <= 0:
            return None
        value = json.dumps({"qr": event.code, "generated_at": event.issued_at, "expires_at": expires_at})
        await self.ctx.redis.set(keys.current_qr(self.company_id), value, px=max(1, int(remaining_s * 1000)))
        return remaining_s

