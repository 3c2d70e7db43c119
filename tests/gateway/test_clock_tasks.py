"""The injectable clock and the task supervisor."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

from gateway.clock import FakeClock, SystemClock
from gateway.tasks import TaskSupervisor


async def test_fake_clock_wakes_sleepers_in_deadline_order():
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    woke: list[str] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append(f"{name}@{clock.now():%H:%M:%S}")

    tasks = [asyncio.create_task(sleeper("b", 20)), asyncio.create_task(sleeper("a", 5))]
    await asyncio.sleep(0)
    await clock.advance(10)
    assert woke == ["a@00:00:05"]
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    await clock.advance(timedelta(seconds=10))
    assert woke == ["a@00:00:05", "b@00:00:20"]
    await asyncio.gather(*tasks)


def test_system_clock_starts_at_demo_now():
    start = datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=3)))
    clock = SystemClock(start)
    assert abs((clock.now() - start).total_seconds()) < 5


async def test_supervisor_cancels_and_awaits_its_tasks():
    sup = TaskSupervisor("t")
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    sup.spawn("forever", forever())
    await asyncio.sleep(0)
    assert sup.active == 1
    await sup.close()
    assert cancelled.is_set()
    assert sup.active == 0


async def test_supervisor_keeps_running_after_a_task_fails():
    sup = TaskSupervisor("t")

    async def boom() -> None:
        raise RuntimeError("boom")

    task = sup.spawn("boom", boom())
    await asyncio.gather(task, return_exceptions=True)
    assert sup.active == 0
    sup.spawn("ok", asyncio.sleep(0))
    await sup.close()


async def test_supervisor_close_is_bounded_when_a_task_hangs_in_its_cleanup():
    sup = TaskSupervisor("t", cancel_timeout_s=0.05)
    never = asyncio.Event()
    polite_done = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await never.wait()  # a cleanup waiting on an event nobody sets

    async def polite() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            polite_done.set()

    stuck = sup.spawn("stubborn", stubborn())
    sup.spawn("polite", polite())
    await asyncio.sleep(0)
    await asyncio.wait_for(sup.close(), 5)  # hung forever before
    assert polite_done.is_set()
    assert not stuck.done()
    never.set()
    await asyncio.wait({stuck}, timeout=5)
    assert stuck.cancelled()
