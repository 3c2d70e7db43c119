"""Typed application keys for what the gateway owns (packages define keys for their own objects)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway.embedded import EmbeddedServices
from gateway.scheduler import Scheduler
from gateway.settings import Settings
from gateway.tasks import TaskSupervisor
from sessions.runtime import Clock

StartupHook = Callable[[], Awaitable[object]]


@dataclass
class Readiness:
    """Startup progress: `/readyz` says 200 only once `started` and the stores answer."""

    started: bool = False
    stopping: bool = False
    startup_error: str | None = None
    # Run in order in the background once the app is set up (e.g. restore sessions).
    hooks: list[tuple[str, StartupHook]] = field(default_factory=list)
    finished: asyncio.Event = field(default_factory=asyncio.Event)  # set when the hooks are done


SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)  # SystemClock, or FakeClock in tests
TASKS = web.AppKey("tasks", TaskSupervisor)
REGISTRY = web.AppKey("registry", CollectorRegistry)
READINESS = web.AppKey("readiness", Readiness)
EMBEDDED = web.AppKey("embedded", EmbeddedServices)
POOL = web.AppKey("pool", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
SCHEDULER = web.AppKey("scheduler", Scheduler)
