"""The sandbox agrees with itself: what book_times offers can be booked, and bookings,
reschedules and cancellations change what it offers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gateway.clock import FakeClock
from sync import errors
from sync.client import YClientsClient
from sync.models import Appointment
from sync.sandbox import Sandbox
from tests.sync.conftest import DEMO_SALON

DAY = date(2026, 11, 25)  # Wednesday


async def _times(yc: YClientsClient, staff_id: int = 2004, service: int = 1012) -> list[str]:
    return [s.datetime for s in await yc.book_times(DEMO_SALON, staff_id, DAY, [service])]


async def test_offered_time_books_and_disappears(yc: YClientsClient) -> None:
    before = await _times(yc)
    chosen = before[3]
    booked = await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                                  appointments=[Appointment((1012,), 2004, chosen)])
    after = await _times(yc)
    assert chosen not in after
    # a 60-minute booking blocks every start that would overlap it (15-minute step)
    idx = before.index(chosen)
    assert set(before) - set(after) == set(before[max(0, idx - 3): idx + 4])
    with pytest.raises(errors.SlotTaken):
        await yc.book_record(DEMO_SALON, phone="79031234567", fullname="Борис",
                             appointments=[Appointment((1012,), 2004, chosen)])
    rec = await yc.get_booking(DEMO_SALON, booked[0].record_id, booked[0].record_hash)
    assert rec.starts_at is not None and rec.starts_at.isoformat() == chosen


async def test_reschedule_frees_the_old_time(yc: YClientsClient) -> None:
    before = await _times(yc)
    old, new = before[0], before[-1]
    booked = (await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                                   appointments=[Appointment((1012,), 2004, old)]))[0]
    assert old not in await _times(yc)
    await yc.reschedule(DEMO_SALON, booked.record_id, new)
    after = await _times(yc)
    assert old in after and new not in after
    with pytest.raises(errors.SlotTaken):  # nobody else can take the new time
        await yc.book_check(DEMO_SALON, [Appointment((1012,), 2004, new)])


async def test_reschedule_onto_a_taken_time_is_refused(yc: YClientsClient, sandbox: Sandbox) -> None:
    times = await _times(yc)
    a = (await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                              appointments=[Appointment((1012,), 2004, times[0])]))[0]
    await yc.book_record(DEMO_SALON, phone="79160001133", fullname="Борис",
                         appointments=[Appointment((1012,), 2004, times[-1])])
    with pytest.raises(errors.SlotTaken):
        await yc.reschedule(DEMO_SALON, a.record_id, times[-1])
    assert sandbox.salons[DEMO_SALON].records[a.record_id].start.isoformat() == times[0]


async def test_cancel_frees_the_time(yc: YClientsClient) -> None:
    times = await _times(yc)
    booked = (await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                                   appointments=[Appointment((1012,), 2004, times[5])]))[0]
    assert times[5] not in await _times(yc)
    await yc.cancel(booked.record_id, booked.record_hash)
    assert await _times(yc) == times
    await yc.cancel(booked.record_id, booked.record_hash)  # cancelling twice is harmless


async def test_any_staff_booking_picks_a_free_specialist(yc: YClientsClient) -> None:
    slots = await yc.book_times(DEMO_SALON, 0, DAY, [1012])
    chosen = slots[0].datetime
    booked = (await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                                   appointments=[Appointment((1012,), 0, chosen)]))[0]
    rec = await yc.get_booking(DEMO_SALON, booked.record_id, booked.record_hash)
    assert rec.staff_id in (2003, 2004)


async def test_the_past_is_not_offered(yc: YClientsClient, clock: FakeClock) -> None:
    today = date(2026, 11, 23)
    first = (await yc.book_times(DEMO_SALON, 2007, today, [1002]))[0]
    assert first.time == "10:15"  # now is 10:00 sharp
    await clock.advance(timedelta(hours=5))
    assert (await yc.book_times(DEMO_SALON, 2007, today, [1002]))[0].time == "15:15"
    with pytest.raises(errors.SlotTaken):
        await yc.book_check(DEMO_SALON, [Appointment((1002,), 2007, first.datetime)])


async def test_concurrent_bookings_of_one_slot_exactly_one_wins(yc: YClientsClient, sandbox: Sandbox) -> None:
    import asyncio

    chosen = (await _times(yc))[0]
    results = await asyncio.gather(
        *(yc.book_record(DEMO_SALON, phone=f"7916000112{i}", fullname="Анна",
                         appointments=[Appointment((1012,), 2004, chosen)]) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, list) for r in results) == 1
    assert sum(isinstance(r, errors.SlotTaken) for r in results) == 4
    assert len(sandbox.salons[DEMO_SALON].live_records(2004)) == 1
