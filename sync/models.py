"""Typed values the YClients client returns, parsed leniently (reference 1.5, 1.9, gotcha 5).

Numbers may arrive as strings, booleans as 0/1, `position` as `[]`, datetimes as ISO strings
(with or without a colon in the offset) or Unix integers. `raw` keeps the original object.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sync.errors import MalformedData


def as_int(value: Any, default: int | None = None) -> int | None:
    """An int from int/str/float, or `default`."""
    if value is None or value == "" or isinstance(value, (list, dict)):
        return default
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: "1e999", "inf"
        return default


def as_float(value: Any, default: float | None = None) -> float | None:
    """A float from int/str/float, or `default`."""
    if value is None or value == "" or isinstance(value, (list, dict)):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def as_bool(value: Any) -> bool:
    """True for 1/"1"/true/"true"."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def as_datetime(value: Any) -> datetime | None:
    """An aware datetime from an ISO string (any offset form) or Unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return _from_timestamp(value)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_timestamp(value: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, ValueError, OSError):  # out of range for the platform's time_t
        return None


def as_date(value: Any) -> date | None:
    """A date from `YYYY-MM-DD` (or a datetime string)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        parsed = _from_timestamp(value)
        return parsed.date() if parsed else None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def phone_digits(value: Any) -> str:
    """A phone as E.164 digits without '+' ("79161234567"); "" when absent."""
    if value is None:
        return ""
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    return digits


# --- online booking chain -------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceCategory:
    id: int
    title: str
    weight: int = 0


@dataclass(frozen=True)
class BookableService:
    """One item of `book_services`; `duration_s` is set only with a staff filter."""

    id: int
    title: str
    category_id: int | None
    price_min: float | None
    price_max: float | None
    duration_s: int | None = None
    active: bool = True

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> BookableService:
        return cls(
            id=as_int(raw.get("id"), 0) or 0,
            title=str(raw.get("title") or ""),
            category_id=as_int(raw.get("category_id")),
            price_min=as_float(raw.get("price_min")),
            price_max=as_float(raw.get("price_max")),
            duration_s=as_int(raw.get("seance_length")),
            active=as_bool(raw.get("active", 1)),
        )


@dataclass(frozen=True)
class BookServices:
    """`book_services`: the services and their categories."""

    services: tuple[BookableService, ...]
    categories: tuple[ServiceCategory, ...]


@dataclass(frozen=True)
class BookableStaff:
    """One item of `book_staff`."""

    id: int
    name: str
    specialization: str
    bookable: bool
    seance_date: date | None = None

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> BookableStaff:
        return cls(
            id=as_int(raw.get("id"), 0) or 0,
            name=str(raw.get("name") or ""),
            specialization=str(raw.get("specialization") or ""),
            bookable=as_bool(raw.get("bookable")),
            seance_date=as_date(raw.get("seance_date")),
        )


@dataclass(frozen=True)
class BookDates:
    """`book_dates`: days with free slots and working days."""

    booking_dates: tuple[date, ...]
    working_dates: tuple[date, ...]


@dataclass(frozen=True)
class TimeSlot:
    """One free slot of `book_times`. Pass `datetime` verbatim to book_check/book_record."""

    time: str
    datetime: str
    seance_length_s: int
    sum_length_s: int

    @property
    def starts_at(self) -> _dt.datetime:
        """The slot start as an aware datetime."""
        parsed = as_datetime(self.datetime)
        if parsed is None:
            raise MalformedData(f"book_times slot without a usable datetime: {self.datetime!r}")
        return parsed

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> TimeSlot:
        dt = raw.get("datetime")
        if isinstance(dt, (int, float)):
            dt = datetime.fromtimestamp(dt, tz=UTC).isoformat()
        seance = as_int(raw.get("seance_length"), 0) or 0
        return cls(
            time=str(raw.get("time") or ""),
            datetime=str(dt or ""),
            seance_length_s=seance,
            sum_length_s=as_int(raw.get("sum_length"), seance) or seance,
        )


@dataclass(frozen=True)
class Appointment:
    """One appointment of book_check / book_record. `staff_id=0` means any specialist."""

    services: tuple[int, ...]
    staff_id: int
    datetime: str
    id: int = 1

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "services": list(self.services), "staff_id": self.staff_id, "datetime": self.datetime}


@dataclass(frozen=True)
class BookedRecord:
    """One created record of book_record. Store both ids: the hash is returned only here."""

    appointment_id: int
    record_id: int
    record_hash: str


# --- admin data -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Company:
    """`GET /company/{id}`."""

    id: int
    title: str
    address: str
    phone: str
    timezone_name: str
    city: str = ""
    schedule: str = ""
    phone_confirmation: bool = False
    allow_change_record: bool = True
    allow_delete_record: bool = True
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Company:
        return cls(
            id=as_int(raw.get("id"), 0) or 0,
            title=str(raw.get("title") or ""),
            address=str(raw.get("address") or ""),
            phone=str(raw.get("phone") or ""),
            timezone_name=str(raw.get("timezone_name") or "Europe/Moscow"),
            city=str(raw.get("city") or ""),
            schedule=str(raw.get("schedule") or ""),
            phone_confirmation=as_bool(raw.get("phone_confirmation")),
            allow_change_record=as_bool(raw.get("allow_change_record", True)),
            allow_delete_record=as_bool(raw.get("allow_delete_record", True)),
            raw=raw,
        )


@dataclass(frozen=True)
class Service:
    """`GET /company/{id}/services` item; `staff` maps performer id -> duration in seconds."""

    id: int
    title: str
    category_id: int | None
    price_min: float | None
    price_max: float | None
    discount: float
    comment: str
    weight: int
    active: bool
    staff: tuple[tuple[int, int | None], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Service:
        staff = tuple(
            (as_int(s.get("id"), 0) or 0, as_int(s.get("seance_length")))
            for s in raw.get("staff") or []
            if isinstance(s, dict)
        )
        return cls(
            id=as_int(raw.get("id"), 0) or 0,
            title=str(raw.get("title") or ""),
            category_id=as_int(raw.get("category_id")),
            price_min=as_float(raw.get("price_min")),
            price_max=as_float(raw.get("price_max")),
            discount=as_float(raw.get("discount"), 0.0) or 0.0,
            comment=str(raw.get("comment") or ""),
            weight=as_int(raw.get("weight"), 0) or 0,
            active=as_bool(raw.get("active", 1)),
            staff=staff,
            raw=raw,
        )


@dataclass(frozen=True)
class Staff:
    """`GET /company/{id}/staff` item."""

    id: int
    name: str
    specialization: str
    position: str
    avatar: str
    fired: bool
    hidden: bool
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Staff:
        position = raw.get("position")
        return cls(
            id=as_int(raw.get("id"), 0) or 0,
            name=str(raw.get("name") or ""),
            specialization=str(raw.get("specialization") or ""),
            position=str(position.get("title") or "") if isinstance(position, dict) else "",
            avatar=str(raw.get("avatar") or ""),
            fired=as_bool(raw.get("fired")),
            hidden=as_bool(raw.get("hidden")),
            raw=raw,
        )


@dataclass(frozen=True)
class ScheduleDay:
    """One staff member's working day; `slots` are ("HH:MM", "HH:MM") pairs."""

    staff_id: int
    date: date
    is_working: bool
    slots: tuple[tuple[str, str], ...]

    @classmethod
    def from_api(cls, raw: dict[str, Any], staff_id: int | None = None) -> ScheduleDay:
        slots = tuple(
            (str(s.get("from")), str(s.get("to"))) for s in raw.get("slots") or [] if isinstance(s, dict)
        )
        day = as_date(raw.get("date"))
        if day is None:
            raise MalformedData(f"schedule day without a usable date: {raw.get('date')!r}")
        working = raw.get("is_working")
        return cls(
            staff_id=as_int(raw.get("staff_id"), staff_id) or 0,
            date=day,
            is_working=as_bool(working) if working is not None else bool(slots),
            slots=slots,
        )


@dataclass(frozen=True)
class RecordService:
    id: int
    title: str
    cost: float | None
    seance_length_s: int | None = None


@dataclass(frozen=True)
class RecordClient:
    id: int | None
    name: str
    phone: str  # E.164 digits
    email: str = ""


@dataclass(frozen=True)
class Record:
    """A booking as `GET /records` / `GET /record` / `GET book_record` return it."""

    id: int
    company_id: int | None
    staff_id: int | None
    staff_name: str
    services: tuple[RecordService, ...]
    client: RecordClient | None
    starts_at: datetime | None
    date_local: str
    length_s: int
    comment: str
    attendance: int
    deleted: bool
    api_id: str
    visit_id: int | None
    last_change_date: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def service_ids(self) -> tuple[int, ...]:
        """The record's service ids, sorted (compare sets, never lists)."""
        return tuple(sorted(s.id for s in self.services))

    @property
    def cancelled(self) -> bool:
        """Deleted, or attendance -1 (the soft cancel)."""
        return self.deleted or self.attendance == -1

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Record:
        staff_raw = raw.get("staff")
        staff: dict[str, Any] = staff_raw if isinstance(staff_raw, dict) else {}
        client_raw = raw.get("client")
        client = None
        if isinstance(client_raw, dict):
            client = RecordClient(
                id=as_int(client_raw.get("id")),
                name=str(client_raw.get("name") or ""),
                phone=phone_digits(client_raw.get("phone")),
                email=str(client_raw.get("email") or ""),
            )
        services = tuple(
            RecordService(
                id=as_int(s.get("id"), 0) or 0,
                title=str(s.get("title") or ""),
                cost=as_float(s.get("cost")),
                seance_length_s=as_int(s.get("seance_length")),
            )
            for s in raw.get("services") or []
            if isinstance(s, dict)
        )
        length = as_int(raw.get("length"), None) or as_int(raw.get("seance_length"), 0) or 0
        return cls(
            id=as_int(raw.get("id"), 0) or 0,
            company_id=as_int(raw.get("company_id")),
            staff_id=as_int(raw.get("staff_id"), as_int(staff.get("id"))),
            staff_name=str(staff.get("name") or ""),
            services=services,
            client=client,
            starts_at=as_datetime(raw.get("datetime")),
            date_local=str(raw.get("date") or ""),
            length_s=length,
            comment=str(raw.get("comment") or ""),
            attendance=as_int(raw.get("attendance"), as_int(raw.get("visit_attendance"), 0)) or 0,
            deleted=as_bool(raw.get("deleted")),
            api_id=str(raw.get("api_id") or ""),
            visit_id=as_int(raw.get("visit_id")),
            last_change_date=as_datetime(raw.get("last_change_date")),
            raw=raw,
        )


@dataclass(frozen=True)
class Client:
    """A salon client card."""

    id: int
    name: str
    phone: str  # E.164 digits
    email: str = ""

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Client:
        return cls(
            id=as_int(raw.get("id"), 0) or 0,
            name=str(raw.get("name") or ""),
            phone=phone_digits(raw.get("phone")),
            email=str(raw.get("email") or ""),
        )


@dataclass(frozen=True)
class ApplicationStatus:
    """Marketplace salon application status (`connection_status.status`, e.g. "active")."""

    status: str
    logs: tuple[dict[str, Any], ...]
    payments: tuple[dict[str, Any], ...]
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> ApplicationStatus:
        conn_raw = raw.get("connection_status")
        conn: dict[str, Any] = conn_raw if isinstance(conn_raw, dict) else {}
        return cls(
            status=str(conn.get("status") or ""),
            logs=tuple(raw.get("logs") or ()),
            payments=tuple(raw.get("payments") or ()),
            raw=raw,
        )
