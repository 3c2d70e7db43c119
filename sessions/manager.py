"""SessionManager: the sessions engine (implements `sessions.api.SessionService`).

One `Session` object per company on this instance; the desired state (`running`/`stopped`) is
stored so `restore()` at boot starts exactly the sessions that should run, with bounded
concurrency and staggered starts. Control messages (from the CLI, or forwarded by another
instance) arrive on `keys.control_channel`.

With a `LeaseKeeper` (several instances), a session runs only on the instance holding its lease
(DESIGN.md section 9): stop/logout/pairing requests reaching another instance are forwarded to the
owner over the control channel; leases are renewed in the background, a lost lease stops the local
session, and sessions nobody owns (a dead instance's) are claimed up to a fair share.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import secrets
from collections.abc import Awaitable, Callable

import asyncpg
import redis.asyncio as aioredis
import structlog

from sessions import keys
from sessions.aio import cancel_and_wait, close_within
from sessions.api import CurrentQr, SessionEvent, SessionInfo, SessionListener, SessionState
from sessions.config import SessionsConfig
from sessions.events import publish_event
from sessions.jid import is_e164
from sessions.lease import LeaseKeeper
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
        lease: LeaseKeeper | None = None,
        pace: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.store = SessionStore(pool)
        self.redis = redis
        self.factory = factory
        self.config = config
        self.clock = clock
        self.spawner = spawner
        self.metrics = metrics
        # Staggers restores; real time (it paces CPU and WhatsApp's servers), injectable for tests.
        self._pace = pace
        self._sessions: dict[int, Session] = {}
        self._listeners: list[SessionListener] = []
        self._ctx = SessionContext(
            store=self.store, redis=redis, factory=factory, config=config, clock=clock, spawner=spawner,
            publish=self._publish, on_state=self._on_state, rng=rng or random.Random(), metrics=metrics,
        )
        self._ctx.on_finished = self._finished
        self.lease = lease
        self._control_task: asyncio.Task[object] | None = None
        self._lease_task: asyncio.Task[object] | None = None
        self._claim_task: asyncio.Task[object] | None = None
        self._restored = False  # orphans are claimed only after this instance's own restore
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

    async def report_send_failure(self, company_id: int, error: str) -> bool:
        """A send said "not connected" while we believe CONNECTED (a zombie): reconnect the transport.

        Stopping the transport ends its events; the session loop treats that as a transient drop
        (DISCONNECTED, backoff, reconnect). Returns True when a reconnect was triggered.
        """
        session = self._sessions.get(company_id)
        if session is None or session.state is not S.CONNECTED or session.transport is None:
            return False
        log.warning("session_zombie_detected", company_id=company_id, error=error)
        session.last_error = f"send failed while connected: {error}"
        try:
            await session.transport.stop()
        except Exception as exc:  # noqa: BLE001 - the loop sees the stream end either way
            log.warning("session_zombie_stop_failed", company_id=company_id, error=repr(exc))
        return True

    def connected_company_ids(self) -> list[int]:
        """Companies whose session is CONNECTED on this instance (the outbox claims only theirs)."""
        return [cid for cid, s in self._sessions.items() if s.state is S.CONNECTED and s.transport is not None]

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
        """Desired-running; start unless it is already active (here, or on the instance owning it)."""
        session = await self._session(company_id)
        async with session.lock:
            await self._set_desired(session, "running")
            if session.running and session.state in ACTIVE_STATES:
                return session.info()
            launched = await self._launch(session)
        return session.info() if launched else await self.info(company_id)

    async def request_qr(self, company_id: int) -> SessionInfo:
        """A fresh QR series unless connected or a series is already running."""
        return await self.start(company_id)

    async def stop(self, company_id: int, *, forwarded: bool = False) -> SessionInfo:
        """Desired-stopped; disconnect keeping credentials (forwarded to the owner if elsewhere)."""
        session = await self._session(company_id)
        async with session.lock:
            if not await self._stopping_here(session, "stop", forwarded):
                return await self.info(company_id)
            await session.halt()
            await session.settle(S.STOPPED, "stopped by request")
            await self._release(session)
        return session.info()

    async def logout(self, company_id: int, *, forwarded: bool = False) -> SessionInfo:
        """Unlink the device and delete its credentials; desired-stopped."""
        session = await self._session(company_id)
        async with session.lock:
            if not await self._stopping_here(session, "logout", forwarded):
                return await self.info(company_id)
            transport = session.transport
            if transport is not None:
                try:
                    await transport.logout()
                except Exception as exc:  # noqa: BLE001 - forget locally anyway; the phone may still list us
                    log.warning("session_logout_failed", company_id=company_id, error=repr(exc))
            await session.halt()
            await self.factory.forget(company_id)
            session.jid = None
            session.connected_at = None
            await session.settle(S.LOGGED_OUT, "logout requested")
            await self._release(session)
        return session.info()

    async def _stopping_here(self, session: Session, action: str, forwarded: bool) -> bool:
        """Desired-stopped (unless forwarded); True when this instance owns the session and acts,
        False when the request went to the owner instead (the caller holds `session.lock`)."""
        if not forwarded:
            await self._set_desired(session, "stopped")
        if await self._own(session):
            return True
        if not forwarded:
            await send_control(self.redis, session.company_id, action)
        return False

    async def info(self, company_id: int) -> SessionInfo:
        session = self._sessions.get(company_id)
        if session is not None and (self.lease is None or session.running):
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

    async def request_pairing_code(self, company_id: int, phone: str, *, forwarded: bool = False) -> tuple[str, int]:
        """Start the session if needed, ask the transport for a code, go PAIRING."""
        if not is_e164(phone):
            raise ValueError("phone must be E.164, e.g. +79161234567")
        session = await self._session(company_id)
        if session.state is S.CONNECTED:
            raise PairingNotSupportedError("the session is already connected")
        if self.lease is not None and not session.running:
            holder = await self.lease.holder(company_id)
            if holder is not None and holder[0] != self.lease.instance_id:
                if forwarded:
                    raise PairingNotSupportedError("not the owner")
                return await self._pairing_on_owner(company_id, phone)
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

    async def _pairing_on_owner(self, company_id: int, phone: str, timeout_s: int = 10) -> tuple[str, int]:
        """Ask the instance owning the session for a pairing code (Redis request/reply)."""
        request_id = secrets.token_hex(8)
        await self.redis.publish(keys.control_channel(self.redis), json.dumps(
            {"company_id": company_id, "action": "request_pairing_code", "phone": phone, "reply": request_id}))
        answer = await self.redis.blpop([keys.rpc_reply(request_id)], timeout=timeout_s)
        if answer is None:
            raise PairingNotSupportedError("the instance owning this session did not answer")
        data = json.loads(answer[1])
        if "error" in data:
            raise PairingNotSupportedError(str(data["error"]))
        return str(data["code"]), int(data["expires_in"])

    # --- ownership ---------------------------------------------------------------------
    async def _own(self, session: Session) -> bool:
        """True when this instance may act on the session (holds or just took its lease)."""
        if self.lease is None or (session.running and session.epoch is not None):
            return True
        epoch = await self.lease.acquire(session.company_id)
        if epoch is None:
            return False
        if epoch != session.epoch:
            row = await self.store.get_session(session.company_id)
            if row is not None:
                old = session.state
                session.load(row)
                self._on_state(old, session.state)
            session.epoch = epoch
        return True

    async def _release(self, session: Session) -> None:
        if self.lease is not None and session.epoch is not None:
            with contextlib.suppress(Exception):
                await self.lease.release(session.company_id, session.epoch)
        session.epoch = None

    async def _finished(self, session: Session) -> None:
        """A session loop ended by itself (terminal state): give the lease up."""
        await self._release(session)

    async def _set_desired(self, session: Session, desired: str) -> None:
        session.desired = desired
        await self.store.set_desired(session.company_id, desired, self.clock.now())

    async def _launch(self, session: Session) -> bool:
        """Start the session's loop here; False when another instance owns it or this one is closing."""
        if self._closed:
            return False  # a start racing the shutdown must not leave a loop nobody will stop
        if session.running:
            await session.halt()
        if not await self._own(session):
            return False
        session.attempts = 0
        session.launch()
        return True

    # --- lifecycle ---------------------------------------------------------------------
    async def restore(self) -> int:
        """Start every desired-running session that is not in a terminal/expired state; returns how many."""
        try:
            rows = [r for r in await self.store.list_sessions() if r.desired == "running"]
            wanted = [r.company_id for r in rows if S(r.state) in ACTIVE_STATES or S(r.state) is S.STOPPED]
            started = await self._start_many(wanted)
            log.info("sessions_restored", count=started, skipped=len(rows) - started)
            return started
        finally:
            self._restored = True

    async def _start_many(self, company_ids: list[int], limit: int | None = None) -> int:
        """Launch sessions with bounded concurrency and staggered starts; returns how many started here."""
        sem = asyncio.Semaphore(max(1, self.config.restore_concurrency))
        stagger_s = self.config.restore_stagger_ms / 1000.0
        started = 0
        reserved = 0  # slots taken by launches in progress (for `limit`)

        async def one(company_id: int) -> None:
            nonlocal started, reserved
            async with sem:
                if self._closed or (limit is not None and reserved >= limit):
                    return
                reserved += 1
                session = await self._session(company_id)
                async with session.lock:
                    if session.running or not await self._launch(session):
                        reserved -= 1
                        return  # already running, or another instance owns it
                started += 1
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(session.started.wait(), timeout=30)
                if stagger_s > 0:
                    # Holding the slot: at most `restore_concurrency` starts per stagger interval.
                    await self._pace(stagger_s)

        await asyncio.gather(*(one(cid) for cid in company_ids))
        return started

    def start_background(self, *, lease_loop: bool = True) -> None:
        """Listen for control messages; with leases, renew them and claim orphaned sessions.

        Tests pass `lease_loop=False` and call `lease_tick()` themselves.
        """
        if self._control_task is None:
            self._control_task = self.spawner.spawn("sessions-control", self._control_loop())
        if lease_loop and self.lease is not None and self._lease_task is None:
            self._lease_task = self.spawner.spawn("sessions-leases", self._lease_loop())

    start_control_listener = start_background

    async def _lease_loop(self) -> None:
        assert self.lease is not None
        period_s = self.lease.ttl_ms / 3000.0
        while True:
            try:
                await self.renew_leases()
            except Exception as exc:  # noqa: BLE001 - keep renewing after a Redis hiccup
                log.error("sessions_lease_tick_failed", error=repr(exc))
            # Claiming starts sessions (up to 30 s each): in its own task, so renewals never wait for it.
            if self._claim_task is None or self._claim_task.done():
                self._claim_task = self.spawner.spawn("sessions-claim-orphans", self._claim_logged())
            # Lease TTLs are Redis (real) time, so the renewal period is real time too.
            await asyncio.sleep(period_s)

    async def _claim_logged(self) -> None:
        try:
            await self.claim_orphans()
        except Exception as exc:  # noqa: BLE001 - the next period tries again
            log.error("sessions_claim_failed", error=repr(exc))

    async def lease_tick(self) -> None:
        """Heartbeat, renew held leases (a lost one stops the local session), claim orphans."""
        await self.renew_leases()
        await self.claim_orphans()

    async def renew_leases(self) -> None:
        """Heartbeat and renew held leases; a lost one stops the local session."""
        if self.lease is None or self._closed:
            return
        await self.lease.heartbeat()
        for session in list(self._sessions.values()):
            if not session.running or session.epoch is None:
                continue
            if not await self.lease.renew(session.company_id, session.epoch):
                log.warning("session_lease_lost", company_id=session.company_id, epoch=session.epoch)
                async with session.lock:
                    await session.halt()
                    session.epoch = None

    async def claim_orphans(self) -> int:
        """Start desired-running sessions nobody owns (a dead instance's), up to a fair share."""
        if self.lease is None or not self._restored or self._closed:
            return 0
        rows = [r for r in await self.store.list_sessions()
                if r.desired == "running" and (S(r.state) in ACTIVE_STATES or S(r.state) is S.STOPPED)]
        if not rows:
            return 0
        fair = math.ceil(len(rows) / await self.lease.live_instances())
        room = fair - sum(1 for s in self._sessions.values() if s.running)
        if room <= 0:
            return 0
        orphans = []
        for row in rows:
            local = self._sessions.get(row.company_id)
            if (local is not None and local.running) or await self.lease.holder(row.company_id) is not None:
                continue
            orphans.append(row.company_id)
        claimed = await self._start_many(orphans, limit=room) if orphans else 0
        if claimed:
            log.info("sessions_claimed", count=claimed)
        return claimed

    async def _control_loop(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(keys.control_channel(self.redis))
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    data = json.loads(message["data"])
                    company_id, action = int(data["company_id"]), str(data["action"])
                except (ValueError, KeyError, TypeError):
                    log.warning("sessions_control_malformed")
                    continue
                try:
                    await self._on_control(company_id, action, data)
                except Exception as exc:  # noqa: BLE001 - keep listening
                    log.error("sessions_control_failed", company_id=company_id, action=action, error=repr(exc))
        finally:
            await close_within(pubsub.aclose(), "sessions_control_pubsub")

    async def _on_control(self, company_id: int, action: str, data: dict[str, object]) -> None:
        if action == "start" or action == "request_qr":
            await self.start(company_id)
        elif action == "stop":
            await self.stop(company_id, forwarded=True)
        elif action == "logout":
            await self.logout(company_id, forwarded=True)
        elif action == "request_pairing_code":
            session = self._sessions.get(company_id)
            if session is None or not session.running:
                return  # only the owner answers
            reply = keys.rpc_reply(str(data["reply"]))
            try:
                code, expires_in = await self.request_pairing_code(company_id, str(data["phone"]), forwarded=True)
                answer: dict[str, object] = {"code": code, "expires_in": expires_in}
            except Exception as exc:  # noqa: BLE001 - the asking instance reports it
                answer = {"error": str(exc)}
            await self.redis.rpush(reply, json.dumps(answer))
            await self.redis.expire(reply, 30)
        else:
            log.warning("sessions_control_unknown", action=action)
            return
        log.info("sessions_control", company_id=company_id, action=action)

    async def close(self) -> None:
        """Stop every transport on this instance, keeping desired states (a restart restores them)."""
        self._closed = True
        for task in (self._control_task, self._lease_task, self._claim_task):
            if task is not None:
                await cancel_and_wait(task)
        for session in list(self._sessions.values()):
            try:
                await asyncio.shield(self._shutdown_one(session))
            except Exception as exc:  # noqa: BLE001 - shut the others down too
                log.error("session_shutdown_failed", company_id=session.company_id, error=repr(exc))

    async def _shutdown_one(self, session: Session) -> None:
        was_active = session.running or session.state in ACTIVE_STATES
        await session.halt()
        await session.inbound.close(self.config.stop_timeout_s)
        if was_active and (self.lease is None or session.epoch is not None):
            await session.transition(S.STOPPED, "instance shutting down")
        await self._release(session)


async def send_control(redis: aioredis.Redis, company_id: int, action: str) -> int:
    """Ask running daemons to act on a session; returns how many daemons listened."""
    if action not in CONTROL_ACTIONS:
        raise ValueError(f"action must be one of {sorted(CONTROL_ACTIONS)}")
    return int(await redis.publish(keys.control_channel(redis), json.dumps({"company_id": company_id, "action": action})))
