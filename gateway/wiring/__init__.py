"""Wiring of the domain packages into the application, one module per package.

Each module's `install(app)` adds that package's routes and middlewares (at construction time)
and appends its cleanup context (resources at startup). Order matters: a package's context can
use what earlier ones stored.
"""

from __future__ import annotations

from aiohttp import web

from gateway.wiring import booking, demo, marketplace, notifications, sessions, sync


def install_all(app: web.Application) -> None:
    """Install every package, dependencies first."""
    sync.install(app)
    sessions.install(app)
    booking.install(app)
    notifications.install(app)  # wraps the booking handler: replies to reminders/reviews
    marketplace.install(app)
    demo.install(app)
