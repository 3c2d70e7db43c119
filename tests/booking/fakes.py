"""In-memory stand-ins for the booking ports (dialogue unit tests; the app tests use the sandbox)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from booking.ports import BookedRecord, BookingUnavailable, ClientRecord, FreeSlot, OutcomeUnknown, SlotTaken

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo-salon.json"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def demo_data() -> dict:
    return json.loads(DEMO.read_text("utf-8"))


@dataclass
class FakeRecord:
    record_id: int
    record_hash: str
    phone: str
    name: str
    staff_id: int
    service_ids: list[int]
    starts_at: datetime
    length_s: int
    deleted: bool = False


@dataclass
class FakeYClients:
    """Slots every 30 minutes inside the demo staff's weekly hours, minus records."""

    data: dict = field(default_factory=demo_data)
    records: dict[int, FakeRecord] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)  # digits -> name
    down: bool = False
    lose_answer: str | None = None  # "after" (booked, answer lost) | "before" (lost before booking)
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(7000)
        self.tz = ZoneInfo(self.data["company"]["timezone_name"])
        self.staff = {m["id"]: m for m in self.data["staff"]}
        self.services = {s["id"]: s for s in self.data["services"]}
        for c in self.data["clients"]:
            self.clients["".join(ch for ch in c["phone"] if ch.isdigit())] = c["name"]

    def _check(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise BookingUnavailable("fake down")

    def _length(self, service_ids: list[int]) -> int:
        return sum(self.services[s]["seance_length"] for s in service_ids)

    def _busy(self, staff_id: int, start: datetime, length_s: int, skip: int | None = None) -> bool:
        end = start + timedelta(seconds=length_s)
        for r in self.records.values():
            if r.deleted or r.staff_id != staff_id or r.record_id == skip:
                continue
            if start < r.starts_at + timedelta(seconds=r.length_s) and r.starts_at < end:
                return True
        return False

    def _free(self, staff_id: int, day: date, service_ids: list[int]) -> list[datetime]:
        member = self.staff.get(staff_id)
        if member is None or not set(service_ids) <= set(member["services"]):
            return []
        hours = member["weekly"][WEEKDAYS[day.weekday()]]
        if not hours:
            return []
        length = self._length(service_ids)
        t = datetime.combine(day, datetime.strptime(hours[0], "%H:%M").time(), self.tz)
        end = datetime.combine(day, datetime.strptime(hours[1], "%H:%M").time(), self.tz)
        out = []
        while t + timedelta(seconds=length) <= end:
            if not self._busy(staff_id, t, length):
                out.append(t)
            t += timedelta(minutes=30)
        return out

    async def book_times(self, salon_id: int, staff_id: int, day: date, service_ids: list[int]) -> list[FreeSlot]:
        self._check("book_times")
        return [FreeSlot(staff_id, t.strftime("%H:%M"), t.isoformat(), self._length(service_ids))
                for t in self._free(staff_id, day, service_ids)]

    async def working_dates(self, salon_id: int, staff_id: int, service_ids: list[int], start: date,
                            end: date) -> set[date]:
        self._check("working_dates")
        staff = [self.staff[staff_id]] if staff_id else [
            m for m in self.staff.values() if set(service_ids) <= set(m["services"])]
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return {d for d in days if any(m["weekly"][WEEKDAYS[d.weekday()]] for m in staff)}

    async def book_check(self, salon_id: int, staff_id: int, service_ids: list[int], datetime_raw: str) -> None:
        self._check("book_check")
        start = datetime.fromisoformat(datetime_raw)
        if start not in self._free(staff_id, start.date(), service_ids):
            raise SlotTaken("433")

    async def book_record(self, salon_id: int, *, phone: str, fullname: str, staff_id: int, service_ids: list[int],
                          datetime_raw: str, api_id: str, comment: str) -> BookedRecord:
        self._check("book_record")
        if self.lose_answer == "before":
            self.lose_answer = None
            raise OutcomeUnknown("timeout")
        start = datetime.fromisoformat(datetime_raw)
        if start not in self._free(staff_id, start.date(), service_ids):
            raise SlotTaken("433")
        rid = next(self._ids)
        self.records[rid] = FakeRecord(rid, f"h{rid}", "".join(c for c in phone if c.isdigit()), fullname, staff_id,
                                       list(service_ids), start, self._length(service_ids))
        if self.lose_answer == "after":
            self.lose_answer = None
            raise OutcomeUnknown("timeout after the record was made")
        return BookedRecord(rid, f"h{rid}")

    async def reschedule(self, salon_id: int, record_id: int, datetime_raw: str, comment: str) -> None:
        self._check("reschedule")
        r = self.records[record_id]
        start = datetime.fromisoformat(datetime_raw)
        if self._busy(r.staff_id, start, r.length_s, skip=record_id):
            raise SlotTaken("433")
        r.starts_at = start

    async def cancel(self, salon_id: int, record_id: int, record_hash: str | None) -> None:
        self._check("cancel")
        self.records[record_id].deleted = True

    async def client_name(self, salon_id: int, phone: str) -> str | None:
        self._check("client_name")
        return self.clients.get("".join(ch for ch in phone if ch.isdigit()))

    async def client_records(self, salon_id: int, phone: str, since: datetime) -> list[ClientRecord]:
        self._check("client_records")
        digits = "".join(ch for ch in phone if ch.isdigit())
        return [ClientRecord(r.record_id, r.starts_at, r.staff_id, tuple(r.service_ids), None, "+" + r.phone)
                for r in self.records.values() if not r.deleted and r.phone == digits and r.starts_at >= since]


@dataclass
class FakeHandoff:
    paused: set[tuple[int, str]] = field(default_factory=set)

    async def pause(self, company_id: int, chat: str) -> None:
        self.paused.add((company_id, chat))

    async def is_paused(self, company_id: int, chat: str) -> bool:
        return (company_id, chat) in self.paused


@dataclass
class FakeOutbox:
    sent: list[tuple[int, str, str, str]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    async def enqueue(self, company_id: int, chat: str, text: str, *, idempotency_key: str,
                      kind: str = "reply") -> int | None:
        if idempotency_key in self.keys:
            return None
        self.keys.add(idempotency_key)
        self.sent.append((company_id, chat, text, idempotency_key))
        return len(self.sent)

    def texts(self, chat: str | None = None) -> list[str]:
        return [t for _, c, t, _ in self.sent if chat is None or c == chat]
