"""The booking ports over the `sync` package: the YClients client and the salon data.

`SyncBookingApi` is the ONE place where YClients errors become the booking error tree:
slot taken / no specialist -> SlotTaken; timeouts and dropped connections -> OutcomeUnknown (a
change may have happened); 429, 5xx, HTML pages, auth -> BookingUnavailable (nothing changed, try
again); other refusals -> BookingRejected.
"""

from __future__ import annotations

import time as _time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from booking.model import CatalogService, CatalogStaff, SalonCatalog
from booking.ports import (
    BookedRecord,
    BookingRejected,
    BookingUnavailable,
    ClientRecord,
    FreeSlot,
    OutcomeUnknown,
    SalonInfo,
    SlotTaken,
)
from sync import errors as yc
from sync.client import YClientsClient
from sync.models import Appointment

log = structlog.get_logger(__name__)

CANCEL_COMMENT = "Отмена по просьбе клиента (WhatsApp)"


def _digits(phone: str | None) -> str:
    return "".join(ch for ch in (phone or "") if ch.isdigit())


@asynccontextmanager
async def mapped_errors() -> AsyncIterator[None]:
    """Translate YClients failures into the booking error tree (the one mapping)."""
    try:
        yield
    except (yc.SlotTaken, yc.NoStaffAvailable, yc.AppointmentsOverlap) as exc:
        raise SlotTaken(str(exc)) from exc
    except yc.TransportError as exc:  # the request may have reached YClients: outcome unknown
        raise OutcomeUnknown(f"{type(exc).__name__}: {exc}") from exc
    except (yc.NonJsonResponse, yc.RateLimited, yc.ServerError, yc.AuthError,
            yc.PaymentRequired) as exc:
        raise BookingUnavailable(f"{type(exc).__name__}: {exc}") from exc
    except yc.YClientsError as exc:
        raise BookingRejected(f"{type(exc).__name__}: {exc}") from exc
    except (OSError, TimeoutError) as exc:
        raise BookingUnavailable(repr(exc)) from exc


class SyncBookingApi:
    """`booking.ports.YClientsBooking` over `sync.client.YClientsClient`."""

    def __init__(
        self,
        client: YClientsClient,
        *,
        records_by_phone: Callable[[int, str, datetime], Awaitable[list[ClientRecord]]] | None = None,
        records_days: int = 60,
    ) -> None:
        self.client = client
        self._records_by_phone = records_by_phone
        self._records_days = records_days

    async def book_times(self, salon_id: int, staff_id: int, day: date, service_ids: list[int]) -> list[FreeSlot]:
        async with mapped_errors():
            slots = await self.client.book_times(salon_id, staff_id, day, service_ids)
        return [FreeSlot(staff_id, s.time, s.datetime, s.seance_length_s) for s in slots if s.datetime]

    async def book_check(self, salon_id: int, staff_id: int, service_ids: list[int], datetime_raw: str) -> None:
        async with mapped_errors():
            await self.client.book_check(salon_id, [Appointment(tuple(service_ids), staff_id, datetime_raw)])

    async def book_record(
        self,
        salon_id: int,
        *,
        phone: str,
        fullname: str,
        staff_id: int,
        service_ids: list[int],
        datetime_raw: str,
        api_id: str,
        comment: str,
    ) -> BookedRecord:
        async with mapped_errors():
            created = await self.client.book_record(
                salon_id, phone=phone, fullname=fullname, comment=comment, api_id=api_id,
                appointments=[Appointment(tuple(service_ids), staff_id, datetime_raw)],
            )
        if not created or not created[0].record_id:
            raise BookingRejected("book_record returned no record")
        return BookedRecord(created[0].record_id, created[0].record_hash or None)

    async def reschedule(self, salon_id: int, record_id: int, datetime_raw: str, comment: str) -> None:
        async with mapped_errors():
            await self.client.reschedule(salon_id, record_id, datetime_raw, comment)

    async def working_dates(
        self, salon_id: int, staff_id: int, service_ids: list[int], start: date, end: date
    ) -> set[date]:
        async with mapped_errors():
            found = await self.client.book_dates(
                salon_id, service_ids=service_ids, staff_id=staff_id, date_from=start, date_to=end
            )
        return set(found.working_dates)

    async def cancel(self, salon_id: int, record_id: int, record_hash: str | None) -> None:
        async with mapped_errors():
            if record_hash:
                try:
                    await self.client.cancel(record_id, record_hash)
                    return
                except yc.NotFound:  # the hash may not stay valid for days (reference 2.10)
                    log.info("cancel_hash_refused", salon_id=salon_id, record_id=record_id)
            try:
                # A client's cancellation deletes the record (reference 3.6), as the salon's admin would.
                await self.client.delete_record(salon_id, record_id)
                return
            except yc.BadRequest:
                # Observed in some setups (reference gotcha 1): then the documented soft cancel (3.7).
                log.warning("delete_record_refused_soft_cancel", salon_id=salon_id, record_id=record_id)
            record = await self.client.record(salon_id, record_id)
            if record.visit_id is None:
                raise BookingRejected("record without hash and visit id")
            await self.client.set_attendance(record.visit_id, record_id, -1, CANCEL_COMMENT)

    async def client_name(self, salon_id: int, phone: str) -> str | None:
        digits = _digits(phone)
        async with mapped_errors():
            found = await self.client.search_clients(salon_id, digits, page_size=10)
        for c in found:
            if _digits(c.phone) == digits and c.name:
                return str(c.name)
        return None

    async def client_records(self, salon_id: int, phone: str, since: datetime) -> list[ClientRecord]:
        if self._records_by_phone is not None:
            return await self._records_by_phone(salon_id, phone, since)
        digits = _digits(phone)
        async with mapped_errors():
            records = await self.client.records(
                salon_id, start_date=since.date() - timedelta(days=1),
                end_date=since.date() + timedelta(days=self._records_days),
            )
        out: list[ClientRecord] = []
        for r in records:
            if r.cancelled or r.starts_at is None or r.starts_at < since:
                continue
            if r.client is None or _digits(r.client.phone) != digits:
                continue
            out.append(ClientRecord(r.id, r.starts_at, r.staff_id, r.service_ids, None, "+" + digits))
        return out


async def catalog_from_sync_store(store: Any, company_id: int) -> SalonCatalog | None:
    """The salon's catalog from the synced local copy (`sync.store.SyncStore`), None before a sync."""
    info = await store.company_info(company_id)
    if info is None:
        return None
    services = await store.services(company_id)
    staff = await store.staff(company_id)
    if not services or not any(m.service_ids for m in staff):
        return None  # not synced yet, or a sync in progress: the live catalog is used meanwhile
    return SalonCatalog(
        salon_id=info.salon_id,
        title=info.title,
        timezone=info.timezone or "Europe/Moscow",
        address=info.address,
        phone=info.phone,
        schedule=info.schedule_text,
        services=tuple(
            CatalogService(id=s.service_id, title=s.title, category_id=s.category_id,
                           category_title=s.category_title, price_min=s.price_min, price_max=s.price_max,
                           duration_s=s.duration_s)
            for s in services
        ),
        staff=tuple(
            CatalogStaff(id=m.staff_id, name=m.name, specialization=m.specialization,
                         service_ids=tuple(m.service_ids))
            for m in staff
        ),
    )


class LiveSalonDirectory:
    """Salon catalogs by company id: `companies.salon_id` + the salon's services/staff, cached.

    Reads YClients through the client (services, staff, company) and keeps each catalog for
    `ttl_s`; `loader` may replace the remote read with the synced local store.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: YClientsClient | None,
        *,
        ttl_s: float = 300.0,
        loader: Callable[[int], Awaitable[SalonCatalog | None]] | None = None,
        monotonic: Callable[[], float] = _time.monotonic,
    ) -> None:
        self._pool = pool
        self._client = client
        self._ttl_s = ttl_s
        self._loader = loader
        self._monotonic = monotonic
        self._cache: dict[int, tuple[float, SalonInfo | None]] = {}

    def invalidate(self, company_id: int | None = None) -> None:
        """Forget cached catalogs (all, or one company's)."""
        if company_id is None:
            self._cache.clear()
        else:
            self._cache.pop(company_id, None)

    async def salon(self, company_id: int) -> SalonInfo | None:
        hit = self._cache.get(company_id)
        if hit is not None and hit[0] > self._monotonic():
            return hit[1]
        info = await self._load(company_id)
        # An unknown company or a partial catalog (YClients was down) is retried soon.
        complete = info is not None and bool(info.catalog.services) and any(
            m.service_ids for m in info.catalog.staff
        )
        self._cache[company_id] = (self._monotonic() + (self._ttl_s if complete else 10.0), info)
        return info

    async def _load(self, company_id: int) -> SalonInfo | None:
        row = await self._pool.fetchrow("SELECT salon_id, title, address, phone, timezone FROM companies WHERE id = $1",
                                        company_id)
        if row is None:
            return None
        salon_id = int(row["salon_id"])
        catalog: SalonCatalog | None = None
        if self._loader is not None:
            catalog = await self._loader(company_id)
        if catalog is None and self._client is not None:
            try:
                catalog = await self._remote_catalog(salon_id)
            except (yc.YClientsError, OSError, TimeoutError) as exc:
                log.warning("catalog_load_failed", company_id=company_id, error=repr(exc))
                catalog = None
        if catalog is None:
            catalog = SalonCatalog(salon_id=salon_id, title=row["title"] or "", address=row["address"] or "",
                                   phone=row["phone"] or "", timezone=row["timezone"] or "Europe/Moscow")
        return SalonInfo(company_id=company_id, salon_id=salon_id, catalog=catalog)

    async def _remote_catalog(self, salon_id: int) -> SalonCatalog:
        assert self._client is not None
        company = await self._client.company(salon_id)
        services = [s for s in await self._client.services(salon_id) if s.active]
        staff = [m for m in await self._client.staff(salon_id) if not m.fired and not m.hidden]
        book = await self._client.book_services(salon_id)
        categories = {c.id: c.title for c in getattr(book, "categories", ())}
        performs: dict[int, list[int]] = {}
        for s in services:
            for staff_id, _length in s.staff:
                performs.setdefault(staff_id, []).append(s.id)
        durations = {s.id: s.duration_s for s in getattr(book, "services", ())}
        raw: dict[str, Any] = company.raw or {}
        return SalonCatalog(
            salon_id=salon_id,
            title=str(raw.get("public_title") or company.title),
            timezone=company.timezone_name or "Europe/Moscow",
            address=company.address,
            phone=company.phone,
            schedule=company.schedule,
            services=tuple(
                CatalogService(
                    id=s.id, title=s.title, category_id=s.category_id,
                    category_title=categories.get(s.category_id) if s.category_id is not None else None,
                    price_min=s.price_min, price_max=s.price_max,
                    duration_s=durations.get(s.id) or next((ln for _, ln in s.staff if ln), None),
                )
                for s in services
            ),
            staff=tuple(
                CatalogStaff(id=m.id, name=m.name, specialization=m.specialization,
                             service_ids=tuple(performs.get(m.id, ())))
                for m in staff
            ),
        )
