"""The sandbox's data: salons (demo-salon.json format), their records, and free-time arithmetic.

Free times follow the salon's rules: each specialist's weekly hours, the services' durations
(seconds; several services add up), the slot step (`company.slot_step_minutes`), existing
non-deleted records, and nothing in the past of the sandbox clock. Everything is salon-local
in `company.timezone_name`.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hhmm(value: str) -> time:
    hours, minutes = value.split(":")[:2]
    return time(int(hours), int(minutes))


@dataclass
class SbService:
    id: int
    title: str
    category_id: int | None
    price_min: float
    price_max: float
    seance_length: int
    active: bool = True
    comment: str = ""
    weight: int = 0


@dataclass
class SbStaff:
    id: int
    name: str
    specialization: str
    services: list[int]
    weekly: dict[str, tuple[str, str] | None]
    fired: bool = False
    hidden: bool = False

    def hours_on(self, day: date) -> tuple[time, time] | None:
        """Working hours on `day`, or None for a day off."""
        hours = self.weekly.get(WEEKDAYS[day.weekday()])
        if not hours:
            return None
        return parse_hhmm(hours[0]), parse_hhmm(hours[1])


@dataclass
class SbClient:
    id: int
    name: str
    phone: str  # digits
    email: str = ""


@dataclass
class SbRecord:
    id: int
    staff_id: int
    service_ids: list[int]
    client_id: int | None
    start: datetime  # aware, salon-local
    length_s: int
    record_hash: str
    visit_id: int
    created_at: datetime
    changed_at: datetime
    comment: str = ""
    api_id: str = ""
    attendance: int = 0
    deleted: bool = False
    online: bool = False

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.length_s)


@dataclass
class Install:
    """The marketplace state of one salon for one application."""

    status: str = "uninstalled"
    api_key: str = ""
    webhook_urls: list[str] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)


class SandboxSalon:
    """One YClients company with its services, staff, clients and records."""

    def __init__(self, data: dict[str, Any], *, now: datetime, ids: itertools.count[int]) -> None:
        company = dict(data["company"])
        self.company = company
        self.id = int(company["id"])
        self.tz = ZoneInfo(company.get("timezone_name") or "Europe/Moscow")
        self.slot_step = timedelta(minutes=int(company.get("slot_step_minutes") or 15))
        self.categories = [dict(c) for c in data.get("service_categories", [])]
        self.services: dict[int, SbService] = {}
        for s in data.get("services", []):
            self.services[int(s["id"])] = SbService(
                id=int(s["id"]),
                title=s["title"],
                category_id=s.get("category_id"),
                price_min=float(s.get("price_min") or 0),
                price_max=float(s.get("price_max") or s.get("price_min") or 0),
                seance_length=int(s.get("seance_length") or 3600),
                weight=int(s.get("weight") or 0),
            )
        self.staff: dict[int, SbStaff] = {}
        for m in data.get("staff", []):
            weekly = {k: (tuple(v) if v else None) for k, v in (m.get("weekly") or {}).items()}
            self.staff[int(m["id"])] = SbStaff(
                id=int(m["id"]),
                name=m["name"],
                specialization=m.get("specialization", ""),
                services=[int(x) for x in m.get("services", [])],
                weekly=weekly,
            )
        self.clients: dict[int, SbClient] = {}
        for c in data.get("clients", []):
            self.clients[int(c["id"])] = SbClient(int(c["id"]), c["name"], _digits(c.get("phone")), c.get("email", ""))
        self.blacklist: set[str] = set()
        self.sms_code: str | None = None  # set (or sent by book_code) to require a code in book_record
        self.sms_sent: list[tuple[str, str]] = []  # (phone, code) "texted" by book_code
        self.records: dict[int, SbRecord] = {}
        self._ids = ids
        today = now.astimezone(self.tz).date()
        for r in data.get("records", []):
            day = today + timedelta(days=int(r.get("day_offset", 0)))
            start = datetime.combine(day, parse_hhmm(r["time"]), tzinfo=self.tz)
            services = [int(x) for x in r["services"]]
            self.records[int(r["id"])] = self._new_record(
                int(r["id"]), int(r["staff_id"]), services, r.get("client_id"), start, now, comment=r.get("comment", "")
            )

    # --- helpers ------------------------------------------------------------------------
    def _new_record(
        self,
        record_id: int,
        staff_id: int,
        service_ids: list[int],
        client_id: int | None,
        start: datetime,
        now: datetime,
        **extra: Any,
    ) -> SbRecord:
        return SbRecord(
            id=record_id,
            staff_id=staff_id,
            service_ids=service_ids,
            client_id=client_id,
            start=start,
            length_s=self.duration_s(service_ids),
            record_hash=hashlib.md5(f"{record_id}:{secrets.token_hex(8)}".encode()).hexdigest(),
            visit_id=record_id + 7_000_000,
            created_at=now,
            changed_at=now,
            **extra,
        )

    def next_id(self) -> int:
        """A fresh id for a record, client or visit (unique across the whole sandbox)."""
        return next(self._ids)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def duration_s(self, service_ids: list[int]) -> int:
        return sum(self.services[s].seance_length for s in service_ids if s in self.services) or 3600

    def active_staff(self) -> list[SbStaff]:
        return [m for m in self.staff.values() if not m.fired and not m.hidden]

    def performers(self, service_ids: list[int]) -> list[SbStaff]:
        """Staff who perform every one of these services."""
        return [m for m in self.active_staff() if all(s in m.services for s in service_ids)]

    def live_records(self, staff_id: int | None = None) -> list[SbRecord]:
        return [r for r in self.records.values() if not r.deleted and (staff_id is None or r.staff_id == staff_id)]

    def find_client(self, phone: str) -> SbClient | None:
        digits = _digits(phone)
        return next((c for c in self.clients.values() if c.phone == digits), None)

    def upsert_client(self, phone: str, name: str, email: str = "") -> SbClient:
        client = self.find_client(phone)
        if client is None:
            client = SbClient(self.next_id(), name, _digits(phone), email)
            self.clients[client.id] = client
        return client

    def add_record(
        self,
        staff_id: int,
        service_ids: list[int],
        start: datetime,
        now: datetime,
        *,
        phone: str = "",
        name: str = "",
        comment: str = "",
    ) -> SbRecord:
        """Put a record straight into the salon (as the salon's staff would), no checks."""
        client = self.upsert_client(phone, name or "Клиент") if phone else None
        rid = self.next_id()
        rec = self._new_record(rid, staff_id, service_ids, client.id if client else None, self.local(start), now,
                               comment=comment)
        self.records[rid] = rec
        return rec

    # --- availability ---------------------------------------------------------------------
    def free_starts(
        self,
        staff_id: int,
        day: date,
        service_ids: list[int],
        now: datetime,
        *,
        ignore_record: int | None = None,
    ) -> list[datetime]:
        """Free start times of one specialist on one day for these services."""
        member = self.staff.get(staff_id)
        if member is None or member.fired or member.hidden:
            return []
        if service_ids and not all(s in member.services for s in service_ids):
            return []
        hours = member.hours_on(day)
        if hours is None:
            return []
        length = timedelta(seconds=self.duration_s(service_ids))
        opens = datetime.combine(day, hours[0], tzinfo=self.tz)
        closes = datetime.combine(day, hours[1], tzinfo=self.tz)
        busy = [(r.start, r.end) for r in self.live_records(staff_id) if r.id != ignore_record]
        out: list[datetime] = []
        start = opens
        while start + length <= closes:
            end = start + length
            if start > now and not any(b0 < end and start < b1 for b0, b1 in busy):
                out.append(start)
            start += self.slot_step
        return out

    def free_times(self, staff_id: int, day: date, service_ids: list[int], now: datetime) -> list[tuple[datetime, int]]:
        """(start, staff_id) pairs; staff 0 = the union over every performer (first one wins)."""
        if staff_id:
            return [(t, staff_id) for t in self.free_starts(staff_id, day, service_ids, now)]
        seen: dict[datetime, int] = {}
        for member in self.performers(service_ids):
            for t in self.free_starts(member.id, day, service_ids, now):
                seen.setdefault(t, member.id)
        return sorted(seen.items())

    def is_free(
        self, staff_id: int, start: datetime, service_ids: list[int], now: datetime, ignore_record: int | None = None
    ) -> bool:
        """Whether `start` is one of the free starts of that specialist."""
        day = self.local(start).date()
        return self.local(start) in self.free_starts(staff_id, day, service_ids, now, ignore_record=ignore_record)

    def working_dates(self, staff_id: int, days: list[date], service_ids: list[int]) -> list[date]:
        staff = [self.staff[staff_id]] if staff_id and staff_id in self.staff else self.performers(service_ids)
        return [d for d in days if any(m.hours_on(d) for m in staff)]

    def schedule_day(self, member: SbStaff, day: date) -> dict[str, Any]:
        """One day of `GET /schedule` for a specialist."""
        hours = member.hours_on(day)
        slots = [{"from": hours[0].strftime("%H:%M"), "to": hours[1].strftime("%H:%M")}] if hours else []
        return {"date": day.isoformat(), "is_working": 1 if hours else 0, "slots": slots}


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def generated_salon(salon_id: int, *, services: int, staff: int, seed: int = 1) -> dict[str, Any]:
    """A big salon in demo-salon.json format (benchmarks, scale tests): every staff member works
    Mon-Sat 09:00-21:00 and performs a tenth of the services."""
    categories = [{"id": salon_id * 100 + i, "title": f"Категория {i}"} for i in range(1, 11)]
    svc = [
        {
            "id": salon_id * 10_000 + i,
            "category_id": categories[i % 10]["id"],
            "title": f"Услуга {i}",
            "price_min": 500 + 10 * i,
            "price_max": 900 + 10 * i,
            "seance_length": 1800 + 900 * (i % 4),
        }
        for i in range(1, services + 1)
    ]
    hours = ["09:00", "21:00"]
    members = [
        {
            "id": salon_id * 1000 + j,
            "name": f"Мастер {j}",
            "specialization": "Мастер",
            "services": [s["id"] for k, s in enumerate(svc) if (k + j + seed) % 10 == 0],
            "weekly": {d: (hours if d != "sun" else None) for d in WEEKDAYS},
        }
        for j in range(1, staff + 1)
    ]
    return {
        "company": {
            "id": salon_id,
            "title": f"Салон {salon_id}",
            "address": "Москва",
            "phone": "+74950000000",
            "timezone_name": "Europe/Moscow",
            "slot_step_minutes": 15,
        },
        "service_categories": categories,
        "services": svc,
        "staff": members,
        "clients": [],
        "records": [],
    }
