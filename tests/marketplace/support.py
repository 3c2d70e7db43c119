"""Fixtures shared by tests/marketplace and tests/web: the real app with fake sessions/partner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from gateway.appkeys import READINESS
from gateway.clock import FakeClock
from gateway.wiring.marketplace import MP_OUTBOX, MP_PARTNER, MP_SESSIONS
from marketplace.activation import Activator
from marketplace.appkeys import ACTIVATOR, MARKETPLACE
from marketplace.service import MarketplaceService
from tests.conftest import ADMIN_KEY, close_all, free_port, make_settings
from tests.marketplace.fakes import FakePartner, FakeSessions

ADMIN = {"X-API-Key": ADMIN_KEY}


@dataclass
class FakeOutbox:
    sent: list[tuple[int, str, str, str]]

    async def enqueue(self, company_id: int, chat: str, text: str, *, idempotency_key: str,
                      kind: str = "reply") -> int | None:
        if any(k == idempotency_key for _, _, _, k in self.sent):
            return None
        self.sent.append((company_id, chat, text, idempotency_key))
        return len(self.sent)


@dataclass
class Mp:
    """One running app with its fakes."""

    client: TestClient
    sessions: FakeSessions
    partner: FakePartner
    outbox: FakeOutbox
    clock: FakeClock

    @property
    def service(self) -> MarketplaceService:
        return self.client.server.app[MARKETPLACE]  # type: ignore[index]

    @property
    def activator(self) -> Activator:
        return self.client.server.app[ACTIVATOR]  # type: ignore[index]

    async def register(self, salon_id: int = 4564, **extra: Any) -> dict[str, Any]:
        body = {"salon_id": salon_id, "phone": "+79001234567", "email": "salon@example.com", **extra}
        resp = await self.client.post("/marketplace/register", json=body, headers=ADMIN)
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.fixture
async def mp_factory(database_url: str, redis_url: str, redis: aioredis.Redis, tmp_path: Path,
                     clock: FakeClock) -> AsyncIterator[Any]:
    """Start the real app with FakeSessions/FakePartner/FakeOutbox injected; call with Settings overrides."""
    clients: list[TestClient] = []
    await isolate_company_ids(database_url)

    async def factory(**overrides: Any) -> Mp:
        from gateway.app import create_app

        port = free_port()
        overrides.setdefault("port", port)
        overrides.setdefault("public_base_url", f"http://127.0.0.1:{port}")
        settings = make_settings(database_url, redis_url, tmp_path, **overrides)
        app = create_app(settings, clock=clock)
        sessions = FakeSessions(redis, clock)
        partner = FakePartner()
        outbox = FakeOutbox([])
        app[MP_SESSIONS] = sessions
        app[MP_PARTNER] = partner
        app[MP_OUTBOX] = outbox
        client = TestClient(TestServer(app, host="127.0.0.1", port=settings.port))
        await client.start_server()
        clients.append(client)
        await app[READINESS].finished.wait()
        return Mp(client, sessions, partner, outbox, clock)

    try:
        yield factory
    finally:
        await close_all([c.close for c in reversed(clients)])


@pytest.fixture
async def mp(mp_factory: Any) -> Mp:
    """The default app."""
    return await mp_factory()


async def isolate_company_ids(database_url: str) -> None:
    """Start company ids at a random high number.

    Redis pub/sub channels are global to the server (not per logical db), so concurrent test runs
    on one Redis would otherwise see each other's session events for company 1.
    """
    import random

    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"ALTER SEQUENCE companies_id_seq RESTART WITH {random.randint(10**6, 9 * 10**8)}")
    finally:
        await conn.close()


async def wait_subscribed(*apps: Any) -> None:
    """Until the WebSocket hub of each app listens on the session events channel."""
    import asyncio

    from web.ws import WS_HUB

    for app in apps:
        await asyncio.wait_for(app[WS_HUB].subscribed.wait(), timeout=10)


async def eventually(check: Any, *, timeout_s: float = 15.0) -> Any:
    """Poll an async `check()` until it returns something truthy (yields for I/O; bounded)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition never held: {check}")
        await asyncio.sleep(0.01)


async def drive(clock: FakeClock, task: Any, step_s: float = 30.0) -> None:
    """Run `task` to completion, advancing the fake clock whenever it is parked in a sleep.

    Between checks it yields for I/O (Postgres/Redis answers) — bounded, never a timed wait on logic.
    """
    import asyncio

    for _ in range(2000):
        if task.done():
            return
        if clock.pending_sleepers:
            await clock.advance(step_s)
        else:
            await asyncio.sleep(0.005)
    raise AssertionError("task did not finish")
