"""Wiring of the `sessions` package into the application."""

from __future__ import annotations

from aiohttp import web


def install(app: web.Application) -> None:
    """Add sessions's routes, middlewares and cleanup context."""
