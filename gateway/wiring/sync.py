"""Wiring of the `sync` package into the application."""

from __future__ import annotations

from aiohttp import web


def install(app: web.Application) -> None:
    """Add sync's routes, middlewares and cleanup context."""
