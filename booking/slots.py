"""Finding 3–5 concrete free times near what the client asked, from LIVE `book_times`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise

from booking.model import SalonCatalog
from booking.ports import BookingError, FreeSlot, YClientsBooking

# Salon-local hour ranges [start, end) for the parts of the day.
PART_RANGES: dict[str, tuple[int, int]] = {
    "morning": (0, 12),
    "day": (11, 17),
    "afternoon": (13, 24),
    "evening": (17, 24),
}


@dataclass(frozen=True)
class OwnVisit:
    """The visit being moved: its time is free for its own new time ("сдвиньте с 16:00 на 17:00")."""

    staff_id: int
    start: datetime  # aware, salon-local
    length_s: int


@dataclass(frozen=True)
class SlotQuery:
    service_ids: list[int]
    staff_id: int | None
    day: date | None
    at: time | None
    part_of_day: str | None
    today: date
    now_hm: time  # salon-local time now: today's past slots are skipped
    only_staff: bool = False  # the asked master only: a move (PUT book_record keeps the master), or insisted
    own: OwnVisit | None = None  # rescheduling: the visit being moved (book_times counts it as busy)
    exclude: tuple[int, ...] = ()  # masters not to offer ("к другому мастеру", "не к Ане")
    not_before: time | None = None  # on `day`: no start before this (a service after the one just booked)


@dataclass(frozen=True)
class SlotSearch:
    """What the search found and why (for the wording of the answer)."""

    slots: list[FreeSlot]
    exact: bool = False  # the asked time with the asked (or any) master is free
    staff_busy: bool = False  # the asked master had nothing; these are other masters
    day_full: bool = False  # the asked day had nothing; these are later days
    day_off: bool = False  # ...because the asked master (or every master of the service) does not work then
    others_at: tuple[int, ...] = ()  # other masters free at the exact asked time (the asked one is busy)


def _minutes(hm: str) -> int:
    h, m = hm.split(":")
    return int(h) * 60 + int(m)


def _in_part(slot: FreeSlot, part: str | None) -> bool:
    if not part or part not in PART_RANGES:
        return True
    lo, hi = PART_RANGES[part]
    return lo * 60 <= _minutes(slot.time) < hi * 60


def freed_by_own(slots: list[FreeSlot], own: OwnVisit, step_min: int = 15) -> list[FreeSlot]:
    """Start times that book_times hides only because the visit being moved occupies them.

    A slot at s means [s, s + length) is free; those intervals with the visit's own interval form
    the time the visit could use. Each step-aligned start whose whole interval fits in that union
    (other than the visit's current start) is a free time for the move."""
    length = own.length_s // 60
    if length <= 0:
        return []
    own_lo = own.start.hour * 60 + own.start.minute
    spans = sorted([(_minutes(s.time), _minutes(s.time) + length) for s in slots] + [(own_lo, own_lo + length)])
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    known = {s.time for s in slots}
    out: list[FreeSlot] = []
    for t in range(own_lo - length + step_min, own_lo + length, step_min):
        hm = f"{t // 60:02d}:{t % 60:02d}"
        if t < 0 or t + length > 24 * 60 or t == own_lo or hm in known:
            continue
        if any(lo <= t and t + length <= hi for lo, hi in merged):
            start = own.start.replace(hour=t // 60, minute=t % 60, second=0, microsecond=0)
            out.append(FreeSlot(own.staff_id, hm, start.isoformat(), own.length_s))
    return out


def pick(slots: list[FreeSlot], query: SlotQuery, limit: int) -> list[FreeSlot]:
    """Up to `limit` slots: nearest to the asked time, else spread over the day; one master per time."""
    by_time: dict[tuple[str, str], FreeSlot] = {}
    preferred = query.staff_id
    for s in sorted(slots, key=lambda s: (s.datetime_raw, s.staff_id != preferred)):
        by_time.setdefault((s.datetime_raw[:10], s.time), s)
    unique = list(by_time.values())
    if query.at is not None:
        target = query.at.hour * 60 + query.at.minute
        unique.sort(key=lambda s: (abs(_minutes(s.time) - target), _minutes(s.time)))
        chosen: list[FreeSlot] = []
        for s in unique:
            if all(abs(_minutes(s.time) - _minutes(c.time)) >= 30 or c.datetime_raw[:10] != s.datetime_raw[:10]
                   for c in chosen) or _minutes(s.time) == target:
                chosen.append(s)
            if len(chosen) >= limit:
                break
        return sorted(chosen, key=lambda s: s.datetime_raw)
    unique.sort(key=lambda s: s.datetime_raw)
    if len(unique) <= limit:
        return unique
    # Spread the offers over the day instead of five neighbouring quarter-hours.
    step = len(unique) / limit
    return [unique[int(i * step)] for i in range(limit)]


class SlotFinder:
    """Queries book_times for the right masters and days and picks the offers."""

    def __init__(self, api: YClientsBooking, *, offer_max: int = 5, search_days: int = 7) -> None:
        self._api = api
        self._offer_max = offer_max
        self._search_days = search_days

    async def _day_slots(self, salon_id: int, staff_ids: list[int], day: date, query: SlotQuery) -> list[FreeSlot]:
        results = await asyncio.gather(
            *(self._api.book_times(salon_id, sid, day, query.service_ids) for sid in staff_ids)
        )
        out: list[FreeSlot] = []
        own = query.own
        for staff_id, slots in zip(staff_ids, results):
            if own is not None and staff_id == own.staff_id and day == own.start.date():
                starts = sorted({_minutes(s.time) for s in slots})
                steps = [b - a for a, b in pairwise(starts)]
                step = min(max(min(steps), 5), 60) if steps else 15
                slots = sorted([*slots, *freed_by_own(list(slots), own, step)], key=lambda s: _minutes(s.time))
            for s in slots:
                slot = s if s.staff_id == staff_id else FreeSlot(staff_id, s.time, s.datetime_raw, s.seance_length_s)
                if day == query.today and _minutes(slot.time) <= query.now_hm.hour * 60 + query.now_hm.minute:
                    continue
                nb = query.not_before
                if nb is not None and day == query.day and _minutes(slot.time) < nb.hour * 60 + nb.minute:
                    continue
                if _in_part(slot, query.part_of_day):
                    out.append(slot)
        return out

    async def search(self, salon_id: int, catalog: SalonCatalog, query: SlotQuery) -> SlotSearch:
        """Free times near the request; raises BookingUnavailable when YClients fails."""
        need = set(query.service_ids)
        masters = [m.id for m in catalog.staff if need.issubset(m.service_ids) and m.id not in query.exclude]
        asked = query.staff_id if query.staff_id in masters else None
        if query.only_staff and query.staff_id is not None:
            masters, asked = [query.staff_id], query.staff_id
        others = [] if query.only_staff else [m for m in masters if m != asked]
        first_day = query.day or query.today
        days = [first_day + timedelta(days=i) for i in range(self._search_days)]
        for index, day in enumerate(days):
            if day < query.today:
                continue
            groups: list[tuple[list[int], bool]] = [([asked], False), (others, True)] if asked else [(masters, False)]
            for staff_ids, other_masters in groups:
                if not staff_ids:
                    continue
                found = await self._day_slots(salon_id, staff_ids, day, query)
                if not found:
                    continue
                picked = pick(found, query, self._offer_max)
                at = query.at.strftime("%H:%M") if query.at is not None else None
                exact = (
                    index == 0 and query.day is not None and at is not None and not other_masters
                    and any(s.time == at for s in picked)
                )
                others_at: list[FreeSlot] = []
                first_asked = index == 0 and query.day is not None and bool(asked) and not other_masters
                if first_asked and at is not None and not exact and others:
                    # The asked master is busy at that very time: who else is free then comes first.
                    free = await self._day_slots(salon_id, others, day, query)
                    others_at = list({s.staff_id: s for s in free if s.time == at}.values())[:2]
                    if others_at:
                        picked = others_at + pick(found, query, self._offer_max - len(others_at))
                day_off = False
                if (other_masters or index > 0) and query.day is not None:
                    day_off = await self._day_off(salon_id, asked or 0, query.service_ids, query.day)
                return SlotSearch(
                    slots=picked,
                    exact=exact,
                    staff_busy=bool(asked) and other_masters,
                    day_full=index > 0 and query.day is not None,
                    day_off=day_off,
                    others_at=tuple(s.staff_id for s in others_at),
                )
        if query.day is None:
            return SlotSearch(slots=[])
        day_off = await self._day_off(salon_id, asked or 0, query.service_ids, query.day)
        return SlotSearch(slots=[], day_full=True, day_off=day_off)

    async def working_on(self, salon_id: int, staff_services: dict[int, list[int]], day: date) -> list[int]:
        """Those of the masters (each with a service of theirs) who work on `day`, from the schedule."""
        staff_ids = list(staff_services)
        found = await asyncio.gather(
            *(self._api.working_dates(salon_id, sid, staff_services[sid], day, day) for sid in staff_ids)
        )
        return [sid for sid, days in zip(staff_ids, found, strict=True) if day in days]

    async def _day_off(self, salon_id: int, staff_id: int, service_ids: list[int], day: date) -> bool:
        """Whether the master (0: every master of the services) does not work that day; False when unknown."""
        try:
            working = await self._api.working_dates(salon_id, staff_id, service_ids, day, day)
        except BookingError:  # only the wording depends on it
            return False
        return day not in working
