"""Fixtures for sync: a sandbox on a loopback TestServer and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.clock import FakeClock
from sync.client import YClientsClient
from sync.config import YClientsConfig
from sync.http import ApiTransport
from sync.sandbox import Sandbox, build_app

PARTNER = "partner-token-test"
USER = "user-token-test"
APP_ID = 18000
DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo-salon.json"
DEMO_SALON = 962302


class RecordingSleep:
    """Stands in for asyncio.sleep in retry backoff: records delays, never waits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    """A sandbox holding the demo salon, on the test's fake clock (Mon 2026-11-23 10:00 MSK)."""
    sb = Sandbox(clock=clock, partner_token=PARTNER, user_token=USER, application_id=APP_ID)
    sb.add_salon_file(DEMO)
    return sb


@pytest.fixture
async def sandbox_url(sandbox: Sandbox) -> AsyncIterator[str]:
    """The sandbox served on a loopback port; its base URL (no /api/v1)."""
    server = TestServer(build_app(sandbox), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


MakeClient = Callable[..., YClientsClient]


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def make_yclients(sandbox_url: str, http_session: aiohttp.ClientSession, sleeps: RecordingSleep) -> MakeClient:
    """Build a client against the sandbox; keyword args override YClientsConfig fields."""

    def factory(limiter: Any = None, **overrides: Any) -> YClientsClient:
        values: dict[str, Any] = {
            "base_url": sandbox_url,
            "partner_token": PARTNER,
            "user_token": USER,
            "application_id": APP_ID,
            "timeout_s": 5.0,
            "page_size": 2,
        }
        values.update(overrides)
        transport = ApiTransport(YClientsConfig(**values), http_session, limiter, sleep=sleeps, rand=lambda: 1.0)
        return YClientsClient(transport)

    return factory


@pytest.fixture
def yc(make_yclients: MakeClient) -> YClientsClient:
    return make_yclients()


async def add_company(pool: Any, salon_id: int, status: str = "active") -> int:
    """Insert a companies row; returns our company id."""
    return await pool.fetchval(
        "INSERT INTO companies (salon_id, company_id, yclients_id, title, integration_status) "
        "VALUES ($1, $1, $1, $2, $3) RETURNING id",
        salon_id, f"Салон {salon_id}", status,
    )


@pytest.fixture
def make_service(make_yclients: MakeClient, pool: Any, clock: FakeClock) -> Callable[..., Any]:
    """A SyncService over the sandbox client and this test's database."""
    from sync.service import SyncService
    from sync.store import SyncStore

    def factory(**client_overrides: Any) -> SyncService:
        return SyncService(make_yclients(**client_overrides), SyncStore(pool), clock)

    return factory
