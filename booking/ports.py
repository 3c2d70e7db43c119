"""The narrow interfaces the booking handler needs from the outside world.

`YClientsBooking` is the online booking chain of one salon (implemented over the `sync` client in
`booking.adapters`); `SalonDirectory` gives what the bot knows of a salon (from the synced data);
`Handoff` pauses automatic replies in a chat (the sessions inbox). Errors of the booking chain are
mapped onto the small tree below in ONE place (the adapter), so the dialogue never sees HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from booking.model import SalonCatalog


class BookingError(Exception):
    """Base of the errors the dialogue handles."""


class BookingUnavailable(BookingError):
    """YClients did not answer usefully (down, 5xx, rate limited, timeout): nothing was changed."""


class OutcomeUnknown(BookingUnavailable):
    """A change was sent but no answer came (timeout, dropped connection): it may have happened."""


class SlotTaken(BookingError):
    """The chosen time is no longer free (433) or no specialist is free (436)."""


class BookingRejected(BookingError):
    """YClients refused for a reason the client should hear (blacklisted, forbidden, gone...)."""


@dataclass(frozen=True)
class FreeSlot:
    """One free time from `book_times` for one specialist. `datetime_raw` is passed on verbatim."""

    staff_id: int
    time: str  # "HH:MM", salon-local
    datetime_raw: str  # ISO string exactly as book_times gave it
    seance_length_s: int | None = None

    @property
    def starts_at(self) -> datetime:
        return datetime.fromisoformat(self.datetime_raw)


@dataclass(frozen=True)
class BookedRecord:
    record_id: int
    record_hash: str | None


@dataclass(frozen=True)
class ClientRecord:
    """A future visit of the client, from the synced store or from the bot's own bookings."""

    record_id: int
    starts_at: datetime
    staff_id: int | None
    service_ids: tuple[int, ...]
    record_hash: str | None = None
    client_phone: str | None = None


class YClientsBooking(Protocol):
    """The YClients online-booking chain, addressed by the salon's YClients id."""

    async def book_times(
        self, salon_id: int, staff_id: int, day: date, service_ids: list[int]
    ) -> list[FreeSlot]:
        """Free times of `staff_id` on `day` for these services (live, never cached)."""

    async def working_dates(
        self, salon_id: int, staff_id: int, service_ids: list[int], start: date, end: date
    ) -> set[date]:
        """The days in [start, end] the master (0: any master of these services) works (book_dates)."""

    async def book_check(self, salon_id: int, staff_id: int, service_ids: list[int], datetime_raw: str) -> None:
        """Validate a booking; raises SlotTaken when the time is gone."""

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
        """Create the booking (NOT idempotent: callers guard it)."""

    async def reschedule(self, salon_id: int, record_id: int, datetime_raw: str, comment: str) -> None:
        """Move a booking to another free time (PUT book_record)."""

    async def cancel(self, salon_id: int, record_id: int, record_hash: str | None) -> None:
        """Cancel a booking: DELETE /user/records/{id}/{hash} for the bot's own (with a hash), else the
        salon's record is deleted (DELETE /record/{salon}/{id})."""

    async def client_name(self, salon_id: int, phone: str) -> str | None:
        """The client's name when the salon knows this phone (client search), else None."""

    async def client_records(self, salon_id: int, phone: str, since: datetime) -> list[ClientRecord]:
        """The client's visits from `since` on, matched by phone (may be empty)."""


@dataclass(frozen=True)
class SalonInfo:
    """A salon as the bot sees it."""

    company_id: int
    salon_id: int
    catalog: SalonCatalog
    extra: dict[str, object] = field(default_factory=dict)


class SalonDirectory(Protocol):
    """What the bot knows of each salon, by our company_id."""

    async def salon(self, company_id: int) -> SalonInfo | None:
        """The salon's catalog, or None for an unknown company."""


class Handoff(Protocol):
    """Pausing automatic replies so the salon's staff can answer by hand."""

    async def pause(self, company_id: int, chat: str) -> None:
        """Pause the bot in this chat (for the configured handoff time)."""

    async def is_paused(self, company_id: int, chat: str) -> bool:
        """True while the bot must stay silent in this chat."""
