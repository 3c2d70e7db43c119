"""SessionManager: the sessions engine (implements `sessions.api.SessionService`).

One `Session` object per company on this instance; the desired state (`running`/`stopped`) is
stored so `restore()` at boot starts exactly the sessions that should run, with bounded
concurrency and staggered starts. Control messages from the CLI arrive on `keys.CONTROL_CHANNEL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random

import asyncpg
import redis.asyncio as aioredis
import structlog

from sessions import keys
from sessions.api import CurrentQr, SessionEvent, SessionInfo, SessionListener, SessionState
from sessions.config import SessionsConfig
from sessions.events import publish_event
from sessions.jid import is_e164
from sessions.metrics import SessionMetrics
from sessions.runtime import Clock, Spawner
from sessions.session import MessageSink, Session, SessionContext
from sessions.state import ACTIVE_STATES
from sessions.store import SessionStore
from sessions.transport import PairingNotSupportedError, Transport, TransportFactory

log = structlog.get_logger(__name__)
S = SessionState

CONTROL_ACTIONS = frozenset({"start", "stop", "logout", "request_qr"})


class SessionManager:
    """Starts, stops and watches the WhatsApp sessions of every company served by this instance."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        factory: TransportFactory,
        config: SessionsConfig,
        clock: Clock,
        spawner: Spawner,
        *,
        metrics: SessionMetrics | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = SessionStore(pool)
        self.redis = redis
        self.factory = factory
        self.config = config
        self.clock = clock
        self.spawner = spawner
        self.metrics = metrics
        self._sessions: dict[int, Session] = {}
        self._listeners: list[SessionListener] = []
        self._ctx = SessionContext(
            store=self.store, redis=redis, factory=factory, config=config, clock=clock, spawner=spawner,
            publish=self._publish, on_state=self._on_state, rng=rng or random.Random(),
        )
        self._control_task: asyncio.Task[object] | None = None
        self._closed = False

    # --- wiring hooks ------------------------------------------------------------------
    def set_message_sink(self, sink: MessageSink | None) -> None:
        """Where inbound texts go (the inbox's `accept`)."""
        self._ctx.message_sink = sink

    def add_listener(self, listener: SessionListener) -> None:
        self._listeners.append(listener)

    def transport_for(self, company_id: int) -> Transport | None:
        """The transport of a CONNECTED session on this instance (for the outbox), else None."""
        session = self._sessions.get(company_id)
        if session is None or session.state is not S.CONNECTED:
            return None
        return session.transport

    def local_sessions(self) -> list[SessionInfo]:
        """Snapshots of the sessions this instance holds."""
        return [s.info() for s in self._sessions.values()]

    async def _publish(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception as exc:  # noqa: BLE001 - a listener must not break the session
                log.error("session_listener_failed", company_id=event.company_id, error=repr(exc))
        try:
            await publish_event(self.redis, event)
        except Exception as exc:  # noqa: BLE001 - pub/sub is best effort; state is persisted
            log.warning("session_event_publish_failed", company_id=event.company_id, error=repr(exc))

    def _on_state(self, old: SessionState | None, new: SessionState) -> None:
        if self.metrics is not None:
            self.metrics.state_changed(old, new)

    async def _session(self, company_id: int) -> Session:
        session = self._sessions.get(company_id)
        if session is None:
            row = await self.store.get_session(company_id)
            session = self._sessions.get(company_id)  # another caller may have raced us
            if session is None:
                session = Session(self._ctx, company_id, row)
                self._sessions[company_id] = session
                self._on_state(None, session.state)
        return session

    # --- SessionService ----------------------------------------------------------------
    async def start(self, company_id: int) -> SessionInfo:
        """Desired-running; start unless it is already active."""
        session = await self._session(company_id)
        async with session.lock:
            await self._set_desired(session, "running")
            if not (session.running and session.state in ACTIVE_STATES):
                await self._launch(session)
        return session.info()

    async def request_qr(self, company_id: int) -> SessionInfo:
        """A fresh QR series unless connected or a series is already running."""
        return await self.start(company_id)

    async def stop(self, company_id: int) -> SessionInfo:
        session = await self._session(company_id)
        async with session.lock:
            await self._set_desired(session, "stopped")
            await session.halt()
            if session.state is not S.STOPPED:
                await session.transition(S.STOPPED, "stopped by request")
        return session.info()

    async def logout(self, company_id: int) -> SessionInfo:
        session = await self._session(company_id)
        async with session.lock:
            await self._set_desired(session, "stopped")
            transport = session.transport
            if transport is not None:
                with contextlib.suppress(Exception):
                    await transport.logout()
            await session.halt()
            await self.factory.forget(company_id)
            session.jid = None
            session.connected_at = None
            await session.transition(S.LOGGED_OUT, "logout requested")
        return session.info()

    async def info(self, company_id: int) -> SessionInfo:
        session = self._sessions.get(company_id)
        if session is not None:
            return session.info()
        row = await self.store.get_session(company_id)
        if row is None:
            return SessionInfo(company_id=company_id, state=S.STOPPED)
        return SessionInfo(
            company_id=company_id, state=S(row.state), reason=row.reason, desired=row.desired, phone=row.phone,
            jid=row.jid, attempts=row.attempts, last_error=row.last_error, connected_at=row.connected_at,
            updated_at=row.updated_at,
        )

    async def current_qr(self, company_id: int) -> CurrentQr | None:
        raw = await self.redis.get(keys.current_qr(company_id))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            qr = CurrentQr(code=str(data["qr"]), expires_at=float(data["expires_at"]))
        except (ValueError, KeyError, TypeError):
            return None
        return qr if qr.expires_at > self.clock.time() else None

    async def request_pairing_code(self, company_id: int, phone: str) -> tuple[str, int]:
        """Start the session if needed, ask the transport for a code, go PAIRING."""
        if not is_e164(phone):
            raise ValueError("phone must be E.164, e.g. +79161234567")
        session = await self._session(company_id)
        if session.state is S.CONNECTED:
            raise PairingNotSupportedError("the session is already connected")
        await self.start(company_id)
        await asyncio.wait_for(session.started.wait(), timeout=30)
        async with session.lock:
            transport = session.transport
            if transport is None or session.state not in (S.STARTING, S.SCAN_QR, S.PAIRING):
                raise PairingNotSupportedError(f"cannot pair while the session is {session.state.value}")
            pairing = await transport.request_pairing_code(phone)
            await session.transition(S.PAIRING, "waiting for the pairing code to be entered")
            await self._publish(
                SessionEvent(company_id, "pairing_code", {"code": pairing.code, "expires_in": int(pairing.expires_in_s)})
            )
        return pairing.code, int(pairing.expires_in_s)

    # --- lifecycle ---------------------------------------------------------------------
    async def _set_desired(self, session: Session, desired: str) -> None:
        session.desired = desired
        await self.store.set_desired(session.company_id, desired, self.clock.now())

    async def _launch(self, session: Session) -> None:
        if session.running:
            await session.halt()
        session.attempts = 0
        session.launch()

    async def restore(self) -> int:
        """Start every desired-running session that is not in a terminal/expired state; returns how many."""
        rows = [r for r in await self.store.list_sessions() if r.desired == "running"]
        wanted = [r.company_id for r in rows if S(r.state) in ACTIVE_STATES or S(r.state) is S.STOPPED]
        sem = asyncio.Semaphore(max(1, self.config.restore_concurrency))
        stagger_s = self.config.restore_stagger_ms / 1000.0

        async def one(company_id: int) -> None:
            async with sem:
                if self._closed:
                    return
                session = await self._session(company_id)
                async with session.lock:
                    if not session.running:
                        await self._launch(session)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(session.started.wait(), timeout=30)
                if stagger_s > 0:
                    # Pacing real resources (CPU, WhatsApp servers): real time, not the app clock.
                    await asyncio.sleep(stagger_s)

        await asyncio.gather(*(one(cid) for cid in wanted))
        log.info("sessions_restored", count=len(wanted), skipped=len(rows) - len(wanted))
        return len(wanted)

    def start_control_listener(self) -> None:
        """Listen for CLI control messages (start/stop/logout) on Redis."""
        if self._control_task is None:
            self._control_task = self.spawner.spawn("sessions-control", self._control_loop())

    async def _control_loop(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.CONTROL_CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    data = json.loads(message["data"])
                    company_id, action = int(data["company_id"]), str(data["action"])
                except (ValueError, KeyError, TypeError):
                    log.warning("sessions_control_malformed")
                    continue
                if action not in CONTROL_ACTIONS:
                    log.warning("sessions_control_unknown", action=action)
                    continue
                log.info("sessions_control", company_id=company_id, action=action)
                try:
                    await getattr(self, action)(company_id)
                except Exception as exc:  # noqa: BLE001 - keep listening
                    log.error("sessions_control_failed", company_id=company_id, action=action, error=repr(exc))
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def close(self) -> None:
        """Stop every transport on this instance, keeping desired states (a restart restores them)."""
        self._closed = True
        if self._control_task is not None:
            self._control_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._control_task
        for session in list(self._sessions.values()):
            with contextlib.suppress(Exception):
                await asyncio.shield(self._shutdown_one(session))

    async def _shutdown_one(self, session: Session) -> None:
        was_active = session.running or session.state in ACTIVE_STATES
        await session.halt()
        if was_active:
            await session.transition(S.STOPPED, "instance shutting down")


async def send_control(redis: aioredis.Redis, company_id: int, action: str) -> int:
    """Ask running daemons to act on a session; returns how many daemons listened."""
    if action not in CONTROL_ACTIONS:
        raise ValueError(f"action must be one of {sorted(CONTROL_ACTIONS)}")
    return int(await redis.publish(keys.CONTROL_CHANNEL, json.dumps({"company_id": company_id, "action": action})))
