"""Fixtures of the sessions tests: companies, a simulator-backed manager, an event recorder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from gateway.clock import FakeClock, settle
from gateway.tasks import TaskSupervisor
from sessions.api import SessionEvent, SessionState
from sessions.config import InboxConfig, OutboxConfig, SessionsConfig, SimConfig
from sessions.inbox import Inbox
from sessions.lease import LeaseKeeper
from sessions.manager import SessionManager
from sessions.outbox import Outbox
from sessions.sim import SimTransportFactory
from sessions.sim_phone import SimPhone
from tests.conftest import close_all


async def make_company(pool: asyncpg.Pool, salon_id: int) -> int:
    """Insert a salon; returns its company_id."""
    return int(await pool.fetchval("INSERT INTO companies (salon_id, title) VALUES ($1, $2) RETURNING id",
                                   salon_id, f"Салон {salon_id}"))


class Recorder:
    """Collects session events and lets a test wait for one (event-driven, with a safety timeout)."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: SessionEvent) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def states(self, company_id: int) -> list[str]:
        return [e.data["state"] for e in self.events if e.company_id == company_id and e.type == "state"]

    def of_type(self, company_id: int, type_: str) -> list[SessionEvent]:
        return [e for e in self.events if e.company_id == company_id and e.type == type_]

    async def wait_state(self, company_id: int, state: SessionState, timeout_s: float = 10.0) -> None:
        async def cond() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: state.value in self.states(company_id))

        await asyncio.wait_for(cond(), timeout_s)

    async def wait_event(self, company_id: int, type_: str, n: int = 1, timeout_s: float = 10.0) -> SessionEvent:
        async def cond() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.of_type(company_id, type_)) >= n)

        await asyncio.wait_for(cond(), timeout_s)
        return self.of_type(company_id, type_)[n - 1]

    async def wait_count(self, company_id: int, state: SessionState, n: int, timeout_s: float = 10.0) -> None:
        async def cond() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.states(company_id).count(state.value) >= n)

        await asyncio.wait_for(cond(), timeout_s)


class Engine:
    """A manager + inbox + outbox on the simulator, as the wiring builds them."""

    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, clock: FakeClock, **cfg: Any) -> None:
        self.tasks = TaskSupervisor("test")
        self.sim_config = SimConfig(**cfg.get("sim", {}))
        self.factory = SimTransportFactory(redis, self.sim_config, clock=clock, spawner=self.tasks)
        instance = cfg.get("instance")
        self.lease = LeaseKeeper(redis, instance) if instance else None
        self.manager = SessionManager(pool, redis, self.factory, SessionsConfig(**cfg.get("sessions", {})), clock,
                                      self.tasks, lease=self.lease)
        self.inbox = Inbox(pool, redis, InboxConfig(**cfg.get("inbox", {})), clock, self.tasks)
        self.manager.set_message_sink(self.inbox.accept)
        outbox_cfg = {"typing_max_ms": 0, **cfg.get("outbox", {})}  # the typing pause is opt-in here
        self.outbox = Outbox(pool, redis, OutboxConfig(**outbox_cfg), clock, self.manager.transport_for)
        self.phone = SimPhone(redis, clock, self.factory.hub)
        self.recorder = Recorder()
        self.manager.add_listener(self.recorder)

    async def close(self) -> None:
        await self.manager.close()
        await self.factory.close()
        await self.tasks.close()


EngineFactory = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def make_engine(pool: asyncpg.Pool, redis: aioredis.Redis, clock: FakeClock) -> AsyncIterator[EngineFactory]:
    engines: list[Engine] = []

    async def factory(**cfg: Any) -> Engine:
        engine = Engine(pool, redis, clock, **cfg)
        engines.append(engine)
        return engine

    try:
        yield factory
    finally:
        await close_all([e.close for e in reversed(engines)])


@pytest.fixture
async def engine(make_engine: EngineFactory) -> Engine:
    return await make_engine()


@pytest.fixture
async def company(pool: asyncpg.Pool) -> int:
    return await make_company(pool, 501)


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Wait until an I/O-driven condition holds (yields to the loop; never advances the app clock)."""
    async def loop() -> None:
        while not await predicate():
            await settle(5)
            await asyncio.sleep(0.005)

    await asyncio.wait_for(loop(), timeout_s)
