"""Rows of the sync_* tables as frozen dataclasses (what `sync.store.SyncStore` reads and writes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CompanyRef:
    """Our company id and its YClients salon id."""

    company_id: int
    salon_id: int


@dataclass(frozen=True)
class CompanyInfo:
    """What the bot tells clients about the salon."""

    company_id: int
    salon_id: int
    title: str
    address: str
    phone: str
    timezone: str
    schedule_text: str


@dataclass(frozen=True)
class SyncedService:
    """A bookable service with its price range, duration (seconds) and category."""

    service_id: int
    title: str
    category_id: int | None
    category_title: str | None
    price_min: float | None
    price_max: float | None
    duration_s: int | None
    staff_ids: tuple[int, ...]
    active: bool


@dataclass(frozen=True)
class SyncedStaff:
    """A working specialist and the services they perform."""

    staff_id: int
    name: str
    specialization: str
    position: str
    service_ids: tuple[int, ...]


@dataclass(frozen=True)
class SyncedRecord:
    """A booking as last seen in YClients."""

    record_id: int
    staff_id: int | None
    staff_name: str
    client_id: int | None
    client_name: str
    client_phone: str
    starts_at: datetime | None
    date_local: str
    length_s: int
    service_ids: tuple[int, ...]
    comment: str
    attendance: int
    deleted: bool
    api_id: str
    visit_id: int | None


@dataclass(frozen=True)
class WebhookEvent:
    id: int
    company_id: int
    resource: str
    resource_id: int | None
    status: str
    payload: dict[str, Any]
