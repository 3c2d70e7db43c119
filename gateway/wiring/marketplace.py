"""Wiring of the `marketplace` and `web` packages into the application.

Maps Settings onto `MarketplaceConfig`, installs the security and auth middlewares, the JSON
routes, the pages and the WebSocket, and a cleanup context that builds the service on top of the
sessions engine (and the sync package's YClients sandbox/client and outbox when present).
Tests may put their own objects under `MP_SESSIONS` / `MP_PARTNER` before the app starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from gateway.appkeys import CLOCK, POOL, REDIS, SCHEDULER, SETTINGS, TASKS
from gateway.settings import Settings
from marketplace import http as mp_http
from marketplace.activation import Activator
from marketplace.appkeys import ACTIVATOR, LIFECYCLE, MARKETPLACE, MARKETPLACE_CONFIG
from marketplace.auth import PAGE_ERROR, auth_middleware
from marketplace.config import MarketplaceConfig
from marketplace.lifecycle import Lifecycle
from marketplace.partner import HttpPartnerApi, PartnerApi
from marketplace.service import MarketplaceService
from marketplace.store import MarketplaceStore
from sessions.aio import cancel_and_wait
from sessions.api import OutboxSender, SessionService
from web import pages
from web.security import security_middleware
from web.ws import WS_HUB, WS_ROUTE, WsHub, websocket, ws_rate_middleware

log = structlog.get_logger(__name__)

ACTIVATION_SWEEP_S = 300.0
MP_SESSIONS = web.AppKey("marketplace_sessions", object)  # a SessionService override (tests)
MP_PARTNER = web.AppKey("marketplace_partner", object)  # a PartnerApi override (tests)
MP_OUTBOX = web.AppKey("marketplace_outbox", object)  # an OutboxSender override (tests)


def config_from(settings: Settings) -> MarketplaceConfig:
    """Settings -> MarketplaceConfig."""
    extra = tuple(o.strip() for o in settings.cors_extra_origins.split(",") if o.strip())
    return MarketplaceConfig(
        jwt_secret=settings.effective_jwt_secret(),
        public_base_url=settings.effective_public_base_url(),
        admin_api_key=settings.admin_api_key,
        partner_token=settings.yclients_partner_token,
        application_id=settings.yclients_application_id,
        yclients_base_url=_yclients_base(settings),
        yclients_timeout_s=settings.yclients_timeout_s,
        allow_unsigned=settings.marketplace_allow_unsigned,
        token_ttl_s=settings.connect_token_ttl_s,
        max_body_bytes=settings.max_body_bytes,
        extra_origins=extra,
        ws_connects_per_window=settings.ws_connects_per_minute,
        trust_forwarded_for=settings.trust_forwarded_for,
        activation_attempts=settings.marketplace_activation_attempts,
        activation_backoff_s=settings.marketplace_activation_backoff_s,
        activation_retry_base_s=settings.marketplace_activation_retry_base_s,
        activation_retry_cap_s=settings.marketplace_activation_retry_cap_s,
    )


def _yclients_base(settings: Settings) -> str:
    # Demo mode talks to the in-process sandbox unless a real base URL was configured.
    if settings.demo and settings.yclients_base_url == "https://api.yclients.com":
        return f"http://127.0.0.1:{settings.port}/sandbox/yclients"
    return settings.yclients_base_url


def install(app: web.Application) -> None:
    """Add marketplace's and web's middlewares, routes and cleanup context."""
    app[MARKETPLACE_CONFIG] = config_from(app[SETTINGS])
    app[pages.WEB_JINJA] = pages.make_environment()
    app[PAGE_ERROR] = pages.error_page
    app.middlewares.append(security_middleware)
    app.middlewares.append(ws_rate_middleware)
    app.middlewares.append(auth_middleware)
    mp_http.add_routes(app)
    pages.add_routes(app)
    app.router.add_get("/marketplace/ws", websocket, name=WS_ROUTE)
    app.cleanup_ctx.append(_marketplace_ctx)
    app.on_shutdown.append(_close_sockets)


def _lookup(app: web.Application, module_name: str, names: tuple[str, ...]) -> Any:
    """An object another package's wiring stored under one of `names` (None if absent)."""
    import importlib

    module = importlib.import_module(module_name)
    for name in names:
        key = getattr(module, name, None)
        if isinstance(key, web.AppKey) and key in app:
            return app[key]
    return None


async def _marketplace_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[MARKETPLACE_CONFIG]
    sessions: SessionService | None = app.get(MP_SESSIONS) or _lookup(  # type: ignore[assignment]
        app, "gateway.wiring.sessions", ("SESSION_MANAGER", "SESSIONS", "SESSION_SERVICE"))
    if sessions is None:
        # Without the sessions engine nothing here can work; the rest of the app still should.
        log.error("marketplace_disabled", why="no sessions engine wired (SESSION_MANAGER)")
        yield
        return
    outbox: OutboxSender | None = app.get(MP_OUTBOX) or _lookup(  # type: ignore[assignment]
        app, "gateway.wiring.sessions", ("OUTBOX", "OUTBOX_SENDER"))
    initial_sync = _initial_sync(app)
    http_session: aiohttp.ClientSession | None = None
    partner: PartnerApi | None = app.get(MP_PARTNER)  # type: ignore[assignment]
    yclients = _lookup(app, "gateway.wiring.sync", ("YCLIENTS",))
    if partner is None and yclients is not None:
        from marketplace.partner_sync import SyncPartnerApi

        partner = SyncPartnerApi(yclients)  # the app's one YClients client (rate limit, error tree)
    if partner is None:
        http_session = aiohttp.ClientSession()
        partner = HttpPartnerApi(http_session, config.yclients_base_url, config.partner_token,
                                 user_token=app[SETTINGS].yclients_user_token, timeout_s=config.yclients_timeout_s)
    service = MarketplaceService(
        store=MarketplaceStore(app[POOL], app[CLOCK]), redis=app[REDIS], config=config, sessions=sessions,
        partner=partner, clock=app[CLOCK], sync_status=_sync_status(app),
    )
    activator = Activator(service, app[TASKS], outbox=outbox, initial_sync=initial_sync)
    sessions.add_listener(activator.on_session_event)
    hub = WsHub(service)
    app[MARKETPLACE] = service
    app[ACTIVATOR] = activator
    app[LIFECYCLE] = Lifecycle(service)
    app[WS_HUB] = hub
    app[SCHEDULER].every("marketplace-activation-sweep", ACTIVATION_SWEEP_S, activator.run_once)
    hub_task = app[TASKS].spawn("marketplace-ws-hub", hub.run(app[REDIS]))
    try:
        yield
    finally:
        # First: no activation may outlive the YClients HTTP client (closed by sync's context later).
        await activator.close()
        # Cancelling while the subscription is being set up can wedge redis-py: let it settle first.
        try:
            await asyncio.wait_for(hub.subscribed.wait(), timeout=5)
        except TimeoutError:
            pass
        await cancel_and_wait(hub_task)  # bounded: a wedged subscription cannot hang the shutdown
        await hub.close_all()
        if http_session is not None:
            await http_session.close()


async def _close_sockets(app: web.Application) -> None:
    hub = app.get(WS_HUB)
    if hub is not None:
        await hub.close_all()


def _initial_sync(app: web.Application) -> Any:
    service = _lookup(app, "gateway.wiring.sync", ("SYNC_SERVICE", "SYNC"))
    for name in ("initial_sync", "full_sync", "sync_company"):
        method = getattr(service, name, None)
        if callable(method):
            return method
    return None


def _sync_status(app: web.Application) -> Any:
    service = _lookup(app, "gateway.wiring.sync", ("SYNC_SERVICE", "SYNC"))
    method = getattr(service, "status", None)
    return method if callable(method) else None
