"""Wiring of the `booking` package into the application.

The booking handler plugs into the sessions inbox (`Inbox.set_handler`), replies through the
sessions outbox and books through the sync package's YClients client (the mounted sandbox in demo
mode). Objects of other packages are looked up by their wiring modules' AppKeys; when the sessions
engine is missing the bot stays off and the rest of the app still runs.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from booking.actions import BookingActions
from booking.adapters import LiveSalonDirectory, SyncBookingApi, catalog_from_sync_store
from booking.config import BookingConfig
from booking.dialogue import Dialogue
from booking.llm import LlmDriver
from booking.pipeline import BookingHandler
from booking.slots import SlotFinder
from booking.store import BookingStore
from gateway.appkeys import CLOCK, POOL, READINESS, REDIS, SCHEDULER, SETTINGS, TASKS
from gateway.settings import Settings
from sync.client import YClientsClient
from sync.config import YClientsConfig
from sync.http import ApiTransport
from sync.ratelimit import RedisRateLimiter

log = structlog.get_logger(__name__)

BOOKING_HANDLER = web.AppKey("booking_handler", BookingHandler)
BOOKING_DIRECTORY = web.AppKey("booking_directory", LiveSalonDirectory)
BOOKING_CONFIG = web.AppKey("booking_config", BookingConfig)
# Tests may put a YClientsClient here to bypass the sync package's client.
BOOKING_YCLIENTS = web.AppKey("booking_yclients", YClientsClient)


def config_from(settings: Settings) -> BookingConfig:
    """Map the process settings onto the booking configuration."""
    return BookingConfig(
        debounce_ms=settings.debounce_ms,
        llm_base_url=settings.llm_base_url,
        llm_api_key=settings.llm_api_key,
        llm_model=settings.llm_model,
        llm_timeout_s=settings.llm_timeout_s,
    )


def install(app: web.Application) -> None:
    """Add booking's cleanup context (after sync and sessions)."""
    app[BOOKING_CONFIG] = config_from(app[SETTINGS])
    app.cleanup_ctx.append(_booking_ctx)


def _lookup(app: web.Application, module_name: str, names: tuple[str, ...]) -> Any:
    """An object another package stored under one of its AppKeys `names` (None if absent)."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    for name in names:
        key = getattr(module, name, None)
        if isinstance(key, web.AppKey) and key in app:
            return app[key]
    return None


def yclients_base_url(settings: Settings) -> str:
    """Where YClients is: the mounted sandbox in demo mode, else the configured base URL."""
    if settings.demo:
        return f"http://127.0.0.1:{settings.port}/sandbox/yclients"
    return settings.yclients_base_url.rstrip("/")


async def _booking_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    config = app[BOOKING_CONFIG]
    inbox = _lookup(app, "gateway.wiring.sessions", ("INBOX",))
    outbox = _lookup(app, "gateway.wiring.sessions", ("OUTBOX", "OUTBOX_SENDER"))
    if inbox is None or outbox is None:
        log.error("booking_disabled", why="no sessions inbox/outbox wired")
        yield
        return
    session = aiohttp.ClientSession()
    client: YClientsClient | None = app.get(BOOKING_YCLIENTS) or _lookup(app, "sync.appkeys", ("YCLIENTS",))
    sync_store = _lookup(app, "sync.appkeys", ("SYNC_STORE",))
    if client is None:
        yc_config = YClientsConfig(
            base_url=yclients_base_url(settings),
            partner_token=settings.yclients_partner_token,
            user_token=settings.yclients_user_token,
            application_id=settings.yclients_application_id,
            rate_per_s=settings.yclients_rate_per_s,
            timeout_s=settings.yclients_timeout_s,
        )
        client = YClientsClient(
            ApiTransport(yc_config, session, RedisRateLimiter(app[REDIS], settings.yclients_rate_per_s))
        )
    from booking.nlu import understand

    store = BookingStore(app[POOL])
    api = SyncBookingApi(client)
    loader = None
    if sync_store is not None:

        async def loader(company_id: int) -> Any:
            return await catalog_from_sync_store(sync_store, company_id)

    directory = LiveSalonDirectory(app[POOL], client, monotonic=app[CLOCK].monotonic, loader=loader)
    dialogue = Dialogue(BookingActions(api, store, app[CLOCK]), SlotFinder(api, offer_max=config.offer_max,
                                                                search_days=config.search_days), inbox)
    driver = LlmDriver(config, session, dialogue) if config.llm_enabled else None
    handler = BookingHandler(
        store=store, dialogue=dialogue, directory=directory, outbox=outbox, understand=understand,
        redis=app[REDIS], clock=app[CLOCK], spawner=app[TASKS], config=config, handoff=inbox, driver=driver,
    )
    inbox.set_handler(handler)
    app[BOOKING_HANDLER] = handler
    app[BOOKING_DIRECTORY] = directory

    async def warm_up_nlu() -> None:
        from booking import nlu

        nlu.warm_up()  # the morphology dictionaries, once, before the first client message

    app[READINESS].hooks.append(("booking_nlu_warm_up", warm_up_nlu))
    app[READINESS].hooks.append(("booking_recover", handler.recover_once))
    app[SCHEDULER].every("booking-sweep", config.recover_interval_s, handler.sweep)
    log.info("booking_ready", llm=config.llm_enabled, debounce_ms=config.debounce_ms)
    try:
        yield
    finally:
        await handler.close()
        await session.close()
