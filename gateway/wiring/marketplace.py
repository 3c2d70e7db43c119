"""Wiring of the `marketplace` package into the application."""

from __future__ import annotations

from aiohttp import web


def install(app: web.Application) -> None:
    """Add marketplace's routes, middlewares and cleanup context."""
