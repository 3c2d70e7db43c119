"""The booking actions: the only code that changes anything in YClients.

Each action is guarded: booking claims an idempotency key in Postgres BEFORE calling YClients, so
a client confirming twice, or two racing messages, create one record; rescheduling and cancelling
only accept a record found by the client's own phone. Every move and cancellation the bot made is
logged for any record (the salon's own ones too), so the change notices know it was the bot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from booking.ports import (
    BookedRecord,
    BookingError,
    BookingUnavailable,
    ClientRecord,
    OutcomeUnknown,
    SalonInfo,
    YClientsBooking,
)
from booking.state import Offer, RecordRef
from booking.store import BookingStore
from sessions.runtime import Clock

log = structlog.get_logger(__name__)

BOOKING_COMMENT = "Записано через WhatsApp"
MOVE_COMMENT = "Перенос по просьбе клиента (WhatsApp)"


class AlreadyInProgress(BookingError):
    """The same booking is being created by a concurrent step right now."""


@dataclass(frozen=True)
class BookResult:
    record: BookedRecord
    repeated: bool  # True: this key had booked before (a second confirmation)


class BookingActions:
    """Booking, rescheduling, cancelling and listing a client's visits for one salon at a time."""

    def __init__(self, api: YClientsBooking, store: BookingStore, clock: Clock) -> None:
        self.api = api
        self.store = store
        self.clock = clock  # the time the bot's changes are logged with

    async def book(
        self, salon: SalonInfo, *, chat: str, phone: str, name: str, offer: Offer, key: str
    ) -> BookResult:
        """Book an offered and confirmed slot once per `key`."""
        company_id = salon.company_id
        api_id = "wa-" + hashlib.sha256(f"{company_id}:{key}".encode()).hexdigest()[:16]
        claim = await self.store.claim_booking(
            company_id, key, chat=chat, client_phone=phone, client_name=name, staff_id=offer.staff_id,
            service_ids=offer.service_ids, starts_at=datetime.fromisoformat(offer.datetime_raw),
            datetime_raw=offer.datetime_raw, api_id=api_id,
        )
        if claim is None:
            existing = await self.store.booking_by_key(company_id, key)
            if existing is not None and existing.status == "booked" and existing.record_id is not None:
                return BookResult(BookedRecord(existing.record_id, existing.record_hash), repeated=True)
            if existing is None or existing.status != "unknown":
                raise AlreadyInProgress(key)
            # An earlier call got no answer: look before booking again (reference 2.7).
            record_id = await self._find_booked(salon, phone, offer)
            if record_id is not None:
                await self.store.set_booked(existing.id, record_id, None)
                return BookResult(BookedRecord(record_id, None), repeated=True)
            await self.store.release_claim(existing.id)
            claim = await self.store.claim_booking(
                company_id, key, chat=chat, client_phone=phone, client_name=name, staff_id=offer.staff_id,
                service_ids=offer.service_ids, starts_at=datetime.fromisoformat(offer.datetime_raw),
                datetime_raw=offer.datetime_raw, api_id=api_id,
            )
            if claim is None:
                raise AlreadyInProgress(key)
        try:
            await self.api.book_check(salon.salon_id, offer.staff_id, offer.service_ids, offer.datetime_raw)
            record = await self.api.book_record(
                salon.salon_id, phone=phone.lstrip("+"), fullname=name, staff_id=offer.staff_id,
                service_ids=offer.service_ids, datetime_raw=offer.datetime_raw, api_id=api_id,
                comment=BOOKING_COMMENT,
            )
        except OutcomeUnknown:
            record_id = await self._find_booked(salon, phone, offer)
            if record_id is None:
                await self.store.mark_unknown(claim.id)  # a repeated "да" looks again before booking
                raise
            await self.store.set_booked(claim.id, record_id, None)
            log.info("booked_verified", company_id=company_id, record_id=record_id)
            return BookResult(BookedRecord(record_id, None), repeated=False)
        except BookingError:
            await self.store.release_claim(claim.id)
            raise
        except Exception as exc:  # an unexpected failure: nothing is known to be booked
            await self.store.release_claim(claim.id)
            raise BookingUnavailable(repr(exc)) from exc
        await self.store.set_booked(claim.id, record.record_id, record.record_hash)
        log.info("booked", company_id=company_id, record_id=record.record_id, staff_id=offer.staff_id)
        return BookResult(record, repeated=False)

    async def _find_booked(self, salon: SalonInfo, phone: str, offer: Offer) -> int | None:
        """The client's record at the offered time and master, if one exists (None when unsure)."""
        starts = datetime.fromisoformat(offer.datetime_raw)
        try:
            records = await self.api.client_records(salon.salon_id, phone, starts - timedelta(minutes=1))
        except BookingError:
            return None
        for rec in records:
            if rec.starts_at == starts and rec.staff_id == offer.staff_id:
                return rec.record_id
        return None

    async def client_records(self, salon: SalonInfo, phone: str, since: datetime) -> list[RecordRef]:
        """The client's upcoming visits, matched by phone.

        The salon's records (YClients) are the truth: a bot booking the salon has since deleted is
        not listed; hashes of the bot's bookings are added. When the salon's records cannot be read
        (an admin call: outage, or partner-token-only access), the bot's own bookings are used.
        """
        own = {
            row.record_id: RecordRef(
                row.record_id, row.starts_at.isoformat(), row.staff_id, list(row.service_ids), row.record_hash
            )
            for row in await self.store.client_bookings(salon.company_id, phone, since)
            if row.record_id is not None and row.starts_at is not None
        }
        try:
            remote: list[ClientRecord] = await self.api.client_records(salon.salon_id, phone, since)
        except BookingError as exc:
            if not own:
                raise
            log.info("client_records_own_only", company_id=salon.company_id, error=str(exc))
            return sorted(own.values(), key=lambda r: r.starts_at)
        found: dict[int, RecordRef] = {}
        for rec in remote:
            if rec.client_phone and _digits(rec.client_phone) != _digits(phone):
                continue  # never another client's visit, whatever the source returned
            known = own.get(rec.record_id)
            found[rec.record_id] = RecordRef(
                rec.record_id, rec.starts_at.isoformat(), rec.staff_id, list(rec.service_ids),
                rec.record_hash or (known.record_hash if known else None),
            )
        return sorted(found.values(), key=lambda r: r.starts_at)

    async def reschedule(self, salon: SalonInfo, record: RecordRef, offer: Offer) -> None:
        """Move the client's visit to the offered time (the salon's records as well as the bot's)."""
        await self.api.reschedule(salon.salon_id, record.record_id, offer.datetime_raw, MOVE_COMMENT)
        starts_at = datetime.fromisoformat(offer.datetime_raw)
        now = self.clock.now()
        await self.store.record_bot_change(salon.company_id, record.record_id, "moved", starts_at, now)
        await self.store.record_moved(salon.company_id, record.record_id, starts_at, offer.datetime_raw)
        log.info("rescheduled", company_id=salon.company_id, record_id=record.record_id)

    async def cancel(self, salon: SalonInfo, record: RecordRef) -> None:
        """Cancel the client's visit (the salon's records as well as the bot's)."""
        record_hash = record.record_hash or await self.store.record_hash(salon.company_id, record.record_id)
        await self.api.cancel(salon.salon_id, record.record_id, record_hash)
        now = self.clock.now()
        await self.store.record_bot_change(salon.company_id, record.record_id, "cancelled", None, now)
        await self.store.record_cancelled(salon.company_id, record.record_id)
        log.info("cancelled", company_id=salon.company_id, record_id=record.record_id)


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())
