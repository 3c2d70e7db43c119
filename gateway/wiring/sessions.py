"""Wiring of the `sessions` package: config mapping, transport factory, manager, inbox, outbox.

Other wirings import the AppKeys defined here (`SESSION_MANAGER`, `INBOX`, `OUTBOX`). The choice of
transport factory lives in one function, `_transport_factory`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from gateway.appkeys import CLOCK, POOL, READINESS, REDIS, REGISTRY, SETTINGS, TASKS
from gateway.settings import Settings
from sessions.aio import cancel_and_wait
from sessions.api import SessionEvent
from sessions.config import InboxConfig, OutboxConfig, SessionsConfig, SimConfig
from sessions.inbox import Inbox
from sessions.lease import LeaseKeeper
from sessions.manager import SessionManager
from sessions.metrics import SessionMetrics
from sessions.outbox import Outbox
from sessions.sim import SimTransportFactory
from sessions.sim_phone import SimPhone
from sessions.transport import TransportFactory

log = structlog.get_logger(__name__)

SESSION_MANAGER = web.AppKey("session_manager", SessionManager)
INBOX = web.AppKey("inbox", Inbox)
OUTBOX = web.AppKey("outbox", Outbox)
SESSION_METRICS = web.AppKey("session_metrics", SessionMetrics)
TRANSPORT_FACTORY = web.AppKey("transport_factory", object)  # a sessions.transport.TransportFactory
SIM_PHONE = web.AppKey("sim_phone", SimPhone)  # only with WHATSAPP_PROVIDER=sim


def sessions_config(settings: Settings) -> SessionsConfig:
    return SessionsConfig(
        max_attempts=settings.session_max_attempts,
        backoff_base_s=settings.session_backoff_base_s,
        backoff_cap_s=settings.session_backoff_cap_s,
        restore_concurrency=settings.restore_concurrency,
        restore_stagger_ms=settings.restore_stagger_ms,
    )


def inbox_config(settings: Settings) -> InboxConfig:
    return InboxConfig(handoff_pause_minutes=settings.handoff_pause_minutes)


def outbox_config(settings: Settings) -> OutboxConfig:
    return OutboxConfig(per_minute=settings.outbox_per_minute, chat_interval_s=settings.outbox_chat_interval_s,
                        typing_ms_per_char=settings.outbox_typing_ms_per_char,
                        typing_max_ms=settings.outbox_typing_max_ms)


def sim_config(settings: Settings) -> SimConfig:
    return SimConfig(qr_first_s=settings.sim_qr_first_s, qr_next_s=settings.sim_qr_next_s, qr_count=settings.sim_qr_count,
                     idempotent_send=settings.sim_idempotent_send)


def _transport_factory(app: web.Application, settings: Settings) -> TransportFactory:
    """THE place choosing the transport factory.

    ENGINE_WORKERS=0: transports run in this process (sim, or neonize); ENGINE_WORKERS=N>0: N engine
    worker processes (sessions.supervisor) host them, the factory returned is the supervisor.
    """
    if settings.whatsapp_provider == "sim" and settings.engine_worker_count() <= 0:
        return SimTransportFactory(app[REDIS], sim_config(settings), clock=app[CLOCK], spawner=app[TASKS])
    import time

    from gateway.appkeys import EMBEDDED
    from sessions.factory import EngineConfig, build_transport_factory

    embedded = app.get(EMBEDDED)
    redis_url = settings.redis_url or (embedded.redis_url if embedded is not None else None)
    config = EngineConfig(
        provider=settings.whatsapp_provider, redis_url=redis_url, sim_qr_first_s=settings.sim_qr_first_s,
        sim_qr_next_s=settings.sim_qr_next_s, sim_qr_count=settings.sim_qr_count,
        sim_idempotent_send=settings.sim_idempotent_send, var_dir=settings.var_dir,
        neonize_store_dsn=settings.neonize_store_dsn, neonize_connect_attempts=settings.neonize_connect_attempts,
        neonize_qr_series_timeout_s=settings.neonize_qr_timeout_s,
        clock_offset_s=app[CLOCK].time() - time.time(),  # workers share the daemon's (DEMO_NOW) time
    )
    from sessions.store import SessionStore

    store = SessionStore(app[POOL])

    async def device_hint(company_id: int) -> str | None:
        """The JID the session last connected with (neonize resumes it from a shared store)."""
        row = await store.get_session(company_id)
        return row.jid if row is not None else None

    if settings.engine_worker_count() <= 0:
        if settings.whatsapp_provider == "neonize":
            log.warning("neonize_in_process", hint="set ENGINE_WORKERS>=1: a Go fatal error would end the daemon")
        return build_transport_factory(config, clock=app[CLOCK], redis=app[REDIS], device_hint=device_hint)
    from sessions.supervisor import EngineSupervisor, SupervisorConfig

    supervisor = EngineSupervisor(
        SupervisorConfig(workers=settings.engine_worker_count(), sessions_per_worker=settings.sessions_per_worker,
                         engine=config, log_level=settings.log_level,
                         heartbeat_timeout_s=settings.engine_heartbeat_timeout_s,
                         recycle_after_connects=(settings.engine_recycle_after_connects
                                                 if settings.whatsapp_provider == "neonize" else 0)),
        app[TASKS],
        device_hint=device_hint,
    )
    supervisor.launch()  # workers boot while the app starts; placement waits for them (bounded)
    return supervisor


def install(app: web.Application) -> None:
    """Add the sessions cleanup context, and the simulator API + phone page when the provider is sim."""
    if app[SETTINGS].whatsapp_provider == "sim":
        from web import sim_page

        sim_page.setup(app)
    app.cleanup_ctx.append(_sessions_ctx)


async def _sessions_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool, redis, clock, tasks = app[POOL], app[REDIS], app[CLOCK], app[TASKS]
    metrics = SessionMetrics(app[REGISTRY])
    factory = _transport_factory(app, settings)
    lease = LeaseKeeper(redis, settings.instance_id, ttl_ms=settings.session_lease_ttl_ms)
    manager = SessionManager(pool, redis, factory, sessions_config(settings), clock, tasks, metrics=metrics,
                             lease=lease)
    inbox = Inbox(pool, redis, inbox_config(settings), clock, tasks, metrics=metrics)
    manager.set_message_sink(inbox.accept)
    outbox = Outbox(pool, redis, outbox_config(settings), clock, manager.transport_for, metrics=metrics,
                    local_companies=manager.connected_company_ids, on_not_connected=manager.report_send_failure)

    async def wake_outbox(event: SessionEvent) -> None:
        if event.type == "connected":
            outbox.wake()

    manager.add_listener(wake_outbox)
    app[SESSION_METRICS] = metrics
    app[TRANSPORT_FACTORY] = factory
    app[SESSION_MANAGER] = manager
    app[INBOX] = inbox
    app[OUTBOX] = outbox
    if settings.whatsapp_provider == "sim":
        from web.sim_page import SIM_API, SimApi

        hub = factory.hub if isinstance(factory, SimTransportFactory) else None
        app[SIM_PHONE] = SimPhone(redis, clock, hub)
        app[SIM_API] = SimApi(app[SIM_PHONE], manager, clock, manager.store.company_exists,
                              manager.store.list_companies)
    app[READINESS].hooks.append(("restore_sessions", manager.restore))
    app[READINESS].hooks.append(("recover_inbox", inbox.recover))
    manager.start_background()
    loops = [tasks.spawn("outbox-delivery", outbox.run()), tasks.spawn("inbox-recovery", inbox.run_recovery())]
    try:
        yield
    finally:
        for loop in loops:
            await cancel_and_wait(loop)
        await manager.close()  # unhandled inbound messages are recovered by the next start
        close = getattr(factory, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()
