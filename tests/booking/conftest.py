"""Fixtures of the booking tests: the demo salon as a company, the dialogue over fakes."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import pytest

from booking.actions import BookingActions
from booking.dialogue import Dialogue
from booking.model import SalonCatalog
from booking.ports import SalonInfo
from booking.slots import SlotFinder
from booking.store import BookingStore
from tests.booking.fakes import FakeHandoff, FakeYClients, demo_data


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
async def bot(pool: asyncpg.Pool) -> Bot:
    company_id = await add_company(pool)
    api = FakeYClients()
    store = BookingStore(pool)
    handoff = FakeHandoff()
    dialogue = Dialogue(BookingActions(api, store), SlotFinder(api), handoff)
    salon = SalonInfo(company_id, 962302, SalonCatalog.from_salon_json(demo_data()))
    return Bot(dialogue, api, store, salon, handoff)
