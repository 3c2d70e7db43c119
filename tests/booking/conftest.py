"""Fixtures of the booking tests: the demo salon as a company, the dialogue over fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from booking.actions import BookingActions
from booking.dialogue import Dialogue
from booking.model import SalonCatalog
from booking.ports import SalonInfo
from booking.slots import SlotFinder
from booking.store import BookingStore
from gateway.clock import FakeClock
from tests.booking.fakes import FakeHandoff, FakeYClients, demo_data
from tests.booking.simchat import AppChat, lookup_key

if TYPE_CHECKING:
    from booking.adapters import LiveSalonDirectory, SyncBookingApi
    from sync.client import YClientsClient
    from sync.sandbox import Sandbox


@pytest.fixture
async def app_chat(make_client: Any, clock: FakeClock) -> AsyncIterator[AppChat]:
    """The whole app in demo mode, driven as a client's phone through the simulator API."""
    if lookup_key("gateway.wiring.sessions", "INBOX") is None:
        pytest.skip("the sessions engine is not wired")
    client = await make_client(demo=True, yclients_rate_per_s=1000.0, yclients_max_attempts=1)
    yield await AppChat.start(client, clock)


async def add_company(pool: asyncpg.Pool, salon_id: int = 962302, title: str = "Лаванда") -> int:
    return int(
        await pool.fetchval(
            "INSERT INTO companies (salon_id, company_id, yclients_id, title) VALUES ($1, $1, $1, $2) RETURNING id",
            salon_id, title,
        )
    )


@dataclass
class Bot:
    dialogue: Dialogue
    api: FakeYClients
    store: BookingStore
    salon: SalonInfo
    handoff: FakeHandoff


@pytest.fixture
async def bot(pool: asyncpg.Pool, clock: FakeClock) -> Bot:
    company_id = await add_company(pool)
    api = FakeYClients()
    store = BookingStore(pool)
    handoff = FakeHandoff()
    dialogue = Dialogue(BookingActions(api, store, clock), SlotFinder(api), handoff)
    salon = SalonInfo(company_id, 962302, SalonCatalog.from_salon_json(demo_data()))
    return Bot(dialogue, api, store, salon, handoff)


# --- the real sandbox and sync client (no whole app) ---------------------------------------
SB_PARTNER = "partner-token-test"
SB_USER = "user-token-test"


@dataclass
class SandboxStack:
    sandbox: Sandbox
    client: YClientsClient
    api: SyncBookingApi
    directory: LiveSalonDirectory
    company_id: int


@asynccontextmanager
async def open_sandbox_stack(pool: asyncpg.Pool, clock: FakeClock) -> AsyncIterator[SandboxStack]:
    """The demo salon in a sandbox on a loopback port, a sync client on it, the salon as a company."""
    import aiohttp
    from aiohttp.test_utils import TestServer

    from booking.adapters import LiveSalonDirectory, SyncBookingApi
    from sync.client import YClientsClient
    from sync.config import YClientsConfig
    from sync.http import ApiTransport
    from sync.sandbox import Sandbox, build_app
    from tests.booking.fakes import DEMO

    sandbox = Sandbox(clock=clock, partner_token=SB_PARTNER, user_token=SB_USER)
    sandbox.add_salon_file(DEMO)
    server = TestServer(build_app(sandbox), host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()

    async def no_sleep(_s: float) -> None:
        return None

    try:
        config = YClientsConfig(base_url=str(server.make_url("")).rstrip("/"), partner_token=SB_PARTNER,
                                user_token=SB_USER, timeout_s=5.0, max_attempts=2)
        client = YClientsClient(ApiTransport(config, session, None, sleep=no_sleep))
        company_id = await add_company(pool)
        yield SandboxStack(sandbox, client, SyncBookingApi(client), LiveSalonDirectory(pool, client), company_id)
    finally:
        await session.close()
        await server.close()


@pytest.fixture
async def sandbox_stack(pool: asyncpg.Pool, clock: FakeClock) -> AsyncIterator[SandboxStack]:
    async with open_sandbox_stack(pool, clock) as stack:
        yield stack
