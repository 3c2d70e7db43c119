"""Wiring of `booking.notifications`: the periodic job and the reply wrapper around the booking handler.

Install AFTER booking (`notifications.install(app)` after `booking.install(app)`): its cleanup
context wraps whatever MessageHandler the sessions inbox holds by then (the booking handler) in
`NotificationReplies`, and registers the `notifications` job on the scheduler. Without the
sessions inbox/outbox or the sync store, notifications stay off and the rest of the app runs.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import structlog
from aiohttp import web

from booking.notifications import NotificationJobs, NotificationReplies, NotificationsConfig, QuietHours
from booking.notifications.store import NotificationStore
from gateway.appkeys import CLOCK, POOL, SCHEDULER, SETTINGS
from gateway.settings import Settings
from gateway.wiring.booking import BOOKING_YCLIENTS

log = structlog.get_logger(__name__)

NOTIFICATIONS_CONFIG = web.AppKey("notifications_config", NotificationsConfig)
NOTIFICATION_JOBS = web.AppKey("notification_jobs", NotificationJobs)
NOTIFICATION_REPLIES = web.AppKey("notification_replies", NotificationReplies)
JOB_NAME = "notifications"


def config_from(settings: Settings) -> NotificationsConfig:
    """Map the process settings onto the notifications configuration (ValueError on a bad QUIET_HOURS)."""
    quiet = QuietHours.parse(settings.quiet_hours)
    config = NotificationsConfig(
        enabled=settings.notifications_enabled,
        day_before_hour=settings.reminder_day_before_hour,
        hours_before=settings.reminder_hours_before,
        review_delay_hours=settings.review_delay_hours,
        quiet=quiet,
        interval_s=settings.notifications_interval_s,
    )
    if quiet.contains(datetime(2000, 1, 1, config.day_before_hour)):
        log.warning(
            "reminder_hour_in_quiet_hours",
            hour=config.day_before_hour,
            quiet=settings.quiet_hours,
            effect="no evening-before reminders",
        )
    return config


def _lookup(app: web.Application, module_name: str, name: str) -> Any:
    """An object another package's wiring stored under its AppKey `name` (None if absent)."""
    try:
        key = getattr(importlib.import_module(module_name), name, None)
    except ImportError:
        return None
    return app[key] if isinstance(key, web.AppKey) and key in app else None


def install(app: web.Application) -> None:
    """Add the notifications' cleanup context (after booking's)."""
    app[NOTIFICATIONS_CONFIG] = config_from(app[SETTINGS])
    app.cleanup_ctx.append(_notifications_ctx)


async def _notifications_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[NOTIFICATIONS_CONFIG]
    inbox = _lookup(app, "gateway.wiring.sessions", "INBOX")
    outbox = _lookup(app, "gateway.wiring.sessions", "OUTBOX")
    source = _lookup(app, "sync.appkeys", "SYNC_STORE")
    client = app.get(BOOKING_YCLIENTS) or _lookup(app, "sync.appkeys", "YCLIENTS")
    if inbox is None or outbox is None or source is None:
        log.error("notifications_disabled", why="no sessions inbox/outbox or sync store wired")
        yield
        return
    store = NotificationStore(app[POOL])
    sessions = _lookup(app, "gateway.wiring.sessions", "SESSION_MANAGER")
    jobs = NotificationJobs(
        store=store,
        source=source,
        outbox=outbox,
        clock=app[CLOCK],
        config=config,
        client=client,
        sessions=sessions,
    )
    app[NOTIFICATION_JOBS] = jobs
    inner = getattr(inbox, "handler", None)
    if inner is not None and client is not None:
        replies = NotificationReplies(
            inner, store=store, source=source, client=client, outbox=outbox, clock=app[CLOCK], config=config
        )
        inbox.set_handler(replies)
        app[NOTIFICATION_REPLIES] = replies
    else:
        log.error("notification_replies_off", why="no message handler or YClients client to wrap")

    async def tick() -> None:
        await jobs.run_once()

    app[SCHEDULER].every(JOB_NAME, config.interval_s, tick)
    log.info("notifications_ready", enabled=config.enabled, interval_s=config.interval_s)
    yield
