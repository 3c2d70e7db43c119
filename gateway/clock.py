"""Clocks: one injectable source of time for the whole daemon.

Domain packages type these structurally (see `sessions.runtime.Clock`, `sync.clock.Clock`); the
concrete classes live here. `FakeClock` lets tests move time forward without sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta

from sessions.runtime import WallClock


class SystemClock(WallClock):
    """Wall-clock time, optionally shifted so that it starts at a given moment (DEMO_NOW)."""

    def __init__(self, start_at: datetime | None = None) -> None:
        offset_s = 0.0
        if start_at is not None:
            if start_at.tzinfo is None:
                start_at = start_at.replace(tzinfo=UTC)
            offset_s = start_at.timestamp() - time.time()
        super().__init__(offset_s)


class FakeClock:
    """A clock that only moves when told to. `sleep()` waits until `advance()` passes its deadline."""

    def __init__(self, start_at: datetime | None = None) -> None:
        start = start_at or datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._t = start.timestamp()
        self._mono = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._t, tz=UTC)

    def time(self) -> float:
        return self._t

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    def set(self, when: datetime) -> None:
        """Jump to an absolute moment (no sleepers are woken; use `advance` for that)."""
        self._t = when.timestamp()

    async def advance(self, seconds: float | timedelta) -> None:
        """Move time forward, waking every sleeper whose deadline passes, in deadline order."""
        step = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        target = self._mono + step
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            self._t += deadline - self._mono
            self._mono = deadline
            if not fut.done():
                fut.set_result(None)
            await settle()
        self._t += target - self._mono
        self._mono = target
        await settle()

    @property
    def pending_sleepers(self) -> int:
        """How many sleeps are waiting (handy to assert a loop is parked)."""
        return sum(1 for _, _, f in self._sleepers if not f.done())


async def settle(rounds: int = 20) -> None:
    """Let ready callbacks and tasks run (yields to the loop; never sleeps in real time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
