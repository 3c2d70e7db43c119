"""The YClients client: one typed method per call the product needs (reference sections 2-4).

`salon_id` is the YClients company id (our `companies.salon_id`). Booking-chain methods use the
partner token only; admin reads (section 3) add the user token when one is configured.
`book_record` and `create_client` are never retried: a retry after a timeout could double-book
(reference 2.7); the caller re-reads `book_times`/records to learn the outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sync.http import ApiResponse, ApiTransport, Params, list_param
from sync.models import (
    ApplicationStatus,
    Appointment,
    BookableService,
    BookableStaff,
    BookDates,
    BookedRecord,
    BookServices,
    Client,
    Company,
    Record,
    ScheduleDay,
    Service,
    ServiceCategory,
    Staff,
    TimeSlot,
    as_date,
    as_int,
)

MAX_PAGES = 1000  # a server that ignores `page` must not keep us looping


def _items(data: Any) -> list[dict[str, Any]]:
    """A list of objects from a list, a single object, or nothing."""
    if isinstance(data, list):
        return [x for x in data if isinstance(x, dict)]
    if isinstance(data, dict):
        return [data]
    return []


class YClientsClient:
    """Typed calls over one `ApiTransport` (shared session, rate limiter, retries)."""

    def __init__(self, transport: ApiTransport) -> None:
        self.transport = transport

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent so far by this client (retries included)."""
        return self.transport.requests_sent

    async def _get(self, path: str, params: Params | None = None, *, user: bool = False) -> ApiResponse:
        return await self.transport.call("GET", path, params=params, user=user, idempotent=True)

    async def _pages(self, path: str, params: list[tuple[str, str | int]], *, user: bool) -> list[dict[str, Any]]:
        """All items of a `page`/`count` paginated list (reference 1.7)."""
        count = self.transport.config.page_size
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            resp = await self._get(path, [*params, ("page", page), ("count", count)], user=user)
            items = _items(resp.data)
            out.extend(items)
            total = as_int(resp.meta_get("total_count"))
            if len(items) < count or (total is not None and page * count >= total) or page >= MAX_PAGES:
                return out
            page += 1

    # --- online booking chain (P) ---------------------------------------------------------
    async def book_services(
        self,
        salon_id: int,
        *,
        staff_id: int | None = None,
        datetime: str | None = None,
        service_ids: Sequence[int] = (),
    ) -> BookServices:
        """Bookable services and categories (`GET /book_services/{salon_id}`)."""
        params: list[tuple[str, str | int]] = list_param("service_ids", service_ids)
        if staff_id is not None:
            params.append(("staff_id", staff_id))
        if datetime:
            params.append(("datetime", datetime))
        data = (await self._get(f"/book_services/{salon_id}", params)).data or {}
        categories = data.get("category", data.get("categories")) or []
        return BookServices(
            services=tuple(BookableService.from_api(s) for s in _items(data.get("services"))),
            categories=tuple(
                ServiceCategory(id=as_int(c.get("id"), 0) or 0, title=str(c.get("title") or ""),
                                weight=as_int(c.get("weight"), 0) or 0)
                for c in _items(categories)
            ),
        )

    async def book_staff(
        self, salon_id: int, *, service_ids: Sequence[int] = (), datetime: str | None = None
    ) -> list[BookableStaff]:
        """Specialists who can perform the services (`GET /book_staff/{salon_id}`)."""
        params: list[tuple[str, str | int]] = list_param("service_ids", service_ids)
        if datetime:
            params.append(("datetime", datetime))
        data = (await self._get(f"/book_staff/{salon_id}", params)).data
        return [BookableStaff.from_api(s) for s in _items(data)]

    async def book_dates(
        self,
        salon_id: int,
        *,
        service_ids: Sequence[int] = (),
        staff_id: int | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        month_of: date | None = None,
    ) -> BookDates:
        """Dates with free slots (`GET /book_dates/{salon_id}`); a range or the month of a day."""
        params: list[tuple[str, str | int]] = list_param("service_ids", service_ids)
        if staff_id is not None:
            params.append(("staff_id", staff_id))
        if date_from and date_to:
            params += [("date_from", date_from.isoformat()), ("date_to", date_to.isoformat())]
        elif month_of:
            params.append(("date", month_of.isoformat()))
        data = (await self._get(f"/book_dates/{salon_id}", params)).data or {}
        return BookDates(
            booking_dates=tuple(d for d in (as_date(x) for x in data.get("booking_dates") or []) if d),
            working_dates=tuple(d for d in (as_date(x) for x in data.get("working_dates") or []) if d),
        )

    async def book_times(
        self, salon_id: int, staff_id: int, day: date, service_ids: Sequence[int] = ()
    ) -> list[TimeSlot]:
        """Free slots of one day (`GET /book_times/{salon_id}/{staff_id}/{date}`); staff 0 = any."""
        data = (
            await self._get(f"/book_times/{salon_id}/{staff_id}/{day.isoformat()}", list_param("service_ids", service_ids))
        ).data
        return [TimeSlot.from_api(s) for s in _items(data)]

    async def book_code(self, salon_id: int, phone: str, fullname: str) -> None:
        """Ask YClients to SMS a confirmation code (`POST /book_code/{salon_id}`); only for salons
        with `phone_confirmation`. The name goes as both `fulname` (schema) and `fullname` (prose)."""
        digits = "".join(ch for ch in phone if ch.isdigit())
        await self.transport.call(
            "POST", f"/book_code/{salon_id}", body={"phone": digits, "fulname": fullname, "fullname": fullname},
            idempotent=False,  # a retry would send the client a second SMS
        )

    async def book_check(self, salon_id: int, appointments: Sequence[Appointment]) -> None:
        """Validate appointments before booking; raises SlotTaken, NoStaffAvailable, ... on 422."""
        await self.transport.call(
            "POST",
            f"/book_check/{salon_id}",
            body={"appointments": [a.to_api() for a in appointments]},
            idempotent=True,  # a pure check: safe to repeat
        )

    async def book_record(
        self,
        salon_id: int,
        *,
        phone: str,
        fullname: str,
        appointments: Sequence[Appointment],
        email: str = "",
        comment: str = "",
        api_id: str = "",
        code: str | None = None,
        notify_by_sms: int = 0,
        notify_by_email: int = 0,
    ) -> list[BookedRecord]:
        """Create the booking (`POST /book_record/{salon_id}`). NEVER retried automatically."""
        body: dict[str, Any] = {
            "phone": "".join(ch for ch in phone if ch.isdigit()),
            "fullname": fullname,
            "email": email,
            "comment": comment,
            "notify_by_sms": notify_by_sms,
            "notify_by_email": notify_by_email,
            "api_id": api_id,
            "appointments": [a.to_api() for a in appointments],
        }
        if code is not None:
            body["code"] = code
        resp = await self.transport.call("POST", f"/book_record/{salon_id}", body=body, idempotent=False)
        return [
            BookedRecord(
                appointment_id=as_int(x.get("id"), 0) or 0,
                record_id=as_int(x.get("record_id"), 0) or 0,
                record_hash=str(x.get("record_hash") or ""),
            )
            for x in _items(resp.data)
        ]

    async def reschedule(self, salon_id: int, record_id: int, datetime: str, comment: str = "") -> Record:
        """Move a booking to a new time (`PUT /book_record/{salon_id}/{record_id}`); time only."""
        resp = await self.transport.call(
            "PUT",
            f"/book_record/{salon_id}/{record_id}",
            body={"datetime": datetime, "comment": comment},
            idempotent=True,  # the same target time twice is the same result
        )
        return Record.from_api(resp.data or {})

    async def get_booking(self, salon_id: int, record_id: int, record_hash: str) -> Record:
        """Read one booking by id and hash (`GET /book_record/{salon_id}/{record_id}/{hash}`)."""
        resp = await self._get(f"/book_record/{salon_id}/{record_id}/{record_hash}")
        return Record.from_api(resp.data or {})

    async def cancel(self, record_id: int, record_hash: str) -> None:
        """Cancel a booking (`DELETE /user/records/{record_id}/{record_hash}`); any 2xx is success."""
        await self.transport.call("DELETE", f"/user/records/{record_id}/{record_hash}", idempotent=True)

    # --- admin data (P+U) -------------------------------------------------------------------
    async def company(self, salon_id: int) -> Company:
        """The salon profile (`GET /company/{salon_id}`)."""
        return Company.from_api((await self._get(f"/company/{salon_id}", user=True)).data or {})

    async def services(self, salon_id: int) -> list[Service]:
        """All services with performers and durations (`GET /company/{salon_id}/services`)."""
        data = (await self._get(f"/company/{salon_id}/services", user=True)).data
        return [Service.from_api(s) for s in _items(data)]

    async def staff(self, salon_id: int) -> list[Staff]:
        """All staff (`GET /company/{salon_id}/staff`); callers skip fired/hidden ones."""
        data = (await self._get(f"/company/{salon_id}/staff", user=True)).data
        return [Staff.from_api(s) for s in _items(data)]

    async def schedule(self, salon_id: int, staff_id: int, start: date, end: date) -> list[ScheduleDay]:
        """One specialist's working days (`GET /schedule/{salon_id}/{staff_id}/{start}/{end}`)."""
        data = (await self._get(f"/schedule/{salon_id}/{staff_id}/{start}/{end}", user=True)).data
        return [ScheduleDay.from_api(d, staff_id) for d in _items(data)]

    async def staff_schedules(
        self, salon_id: int, start: date, end: date, staff_ids: Sequence[int] = ()
    ) -> list[ScheduleDay]:
        """Working days of many specialists at once (`GET /company/{salon_id}/staff/schedule`)."""
        params: list[tuple[str, str | int]] = [("start_date", start.isoformat()), ("end_date", end.isoformat())]
        params += list_param("staff_ids", staff_ids)
        data = (await self._get(f"/company/{salon_id}/staff/schedule", params, user=True)).data
        return [ScheduleDay.from_api(d) for d in _items(data)]

    async def records(
        self,
        salon_id: int,
        *,
        start_date: date | None = None,
        end_date: date | None = None,
        changed_after: str | None = None,
        staff_id: int | None = None,
        with_deleted: bool = False,
    ) -> list[Record]:
        """Bookings, every page (`GET /records/{salon_id}`)."""
        params: list[tuple[str, str | int]] = []
        if start_date:
            params.append(("start_date", start_date.isoformat()))
        if end_date:
            params.append(("end_date", end_date.isoformat()))
        if changed_after:
            params.append(("changed_after", changed_after))
        if staff_id is not None:
            params.append(("staff_id", staff_id))
        if with_deleted:
            params.append(("with_deleted", 1))
        return [Record.from_api(r) for r in await self._pages(f"/records/{salon_id}", params, user=True)]

    async def record(self, salon_id: int, record_id: int) -> Record:
        """One booking (`GET /record/{salon_id}/{record_id}`); NotFound once it is gone."""
        return Record.from_api((await self._get(f"/record/{salon_id}/{record_id}", user=True)).data or {})

    async def delete_record(self, salon_id: int, record_id: int) -> None:
        """Delete a booking as the salon's admin would (`DELETE /record/{salon_id}/{record_id}`, 204)."""
        await self.transport.call("DELETE", f"/record/{salon_id}/{record_id}", user=True, idempotent=True)

    async def set_attendance(self, visit_id: int, record_id: int, attendance: int, comment: str = "") -> None:
        """Set a visit's attendance (`PUT /visits/{visit_id}/{record_id}`): 2 confirmed, -1 no-show."""
        await self.transport.call(
            "PUT",
            f"/visits/{visit_id}/{record_id}",
            body={"attendance": attendance, "comment": comment},
            user=True,
            idempotent=True,
        )

    async def search_clients(self, salon_id: int, query: str, *, page_size: int = 50) -> list[Client]:
        """Clients whose name or phone contains `query` (`POST /company/{salon_id}/clients/search`)."""
        out: list[Client] = []
        page = 1
        while True:
            body = {
                "page": page,
                "page_size": page_size,
                "fields": ["id", "name", "phone", "email"],
                "operation": "AND",
                "filters": [{"type": "quick_search", "state": {"value": query}}],
            }
            resp = await self.transport.call(
                "POST", f"/company/{salon_id}/clients/search", body=body, user=True, idempotent=True
            )
            items = _items(resp.data)
            out += [Client.from_api(c) for c in items]
            total = as_int(resp.meta_get("total_count"))
            if len(items) < page_size or (total is not None and page * page_size >= total):
                return out
            page += 1

    async def create_client(self, salon_id: int, *, name: str, phone: str, email: str = "", comment: str = "") -> Client:
        """Create a client card (`POST /clients/{salon_id}`). Not retried."""
        body = {"name": name, "phone": "".join(ch for ch in phone if ch.isdigit()), "email": email, "comment": comment}
        resp = await self.transport.call("POST", f"/clients/{salon_id}", body=body, user=True, idempotent=False)
        return Client.from_api(resp.data or {})

    # --- marketplace partner API (P, base {base}/marketplace) ---------------------------------
    async def activate(
        self,
        salon_id: int,
        *,
        api_key: str,
        webhook_urls: Sequence[str] = (),
        application_id: int | None = None,
        channels: Sequence[str] | None = None,
    ) -> None:
        """Activation callback (`POST /marketplace/partner/callback`), 201 = installed.

        Retried on transient failures (HTML pages included, reference gotcha 4); a repeat for an
        installed salon is idempotent on YClients' side.
        """
        body: dict[str, Any] = {
            "salon_id": salon_id,
            "application_id": application_id or self.transport.config.application_id,
            "api_key": api_key,
            "webhook_urls": list(webhook_urls),
        }
        if channels is not None:
            body["channels"] = list(channels)
        await self.transport.call("POST", "/partner/callback", api="marketplace", body=body, idempotent=True)

    async def application_status(self, salon_id: int, application_id: int | None = None) -> ApplicationStatus:
        """The salon's install status (`GET /marketplace/salon/{salon_id}/application/{app_id}`)."""
        app_id = application_id or self.transport.config.application_id
        resp = await self.transport.call(
            "GET", f"/salon/{salon_id}/application/{app_id}", api="marketplace", idempotent=True
        )
        return ApplicationStatus.from_api(resp.data or {})

    async def uninstall(self, salon_id: int, application_id: int | None = None) -> None:
        """Uninstall from our side (`POST /marketplace/salon/{salon_id}/application/{app_id}/uninstall`)."""
        app_id = application_id or self.transport.config.application_id
        await self.transport.call(
            "POST", f"/salon/{salon_id}/application/{app_id}/uninstall", api="marketplace", idempotent=True
        )
