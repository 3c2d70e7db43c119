"""What the daemon hands to domain packages: a clock and a task spawner (typed structurally).

`gateway` provides the concrete objects (`gateway.clock.SystemClock`/`FakeClock`,
`gateway.tasks.TaskSupervisor`); packages that may import `sessions` (marketplace, booking, web)
use these protocols too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol


class Clock(Protocol):
    """An injectable source of time."""

    def now(self) -> datetime:
        """The current aware datetime (UTC)."""

    def time(self) -> float:
        """Unix seconds."""

    def monotonic(self) -> float:
        """Monotonic seconds for deadlines."""

    async def sleep(self, seconds: float) -> None:
        """Sleep on this clock (a fake clock wakes sleepers when advanced)."""


class Spawner(Protocol):
    """Creates named, supervised background tasks."""

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start `coro` as a supervised task."""


class WallClock:
    """Wall-clock time shifted by `offset_s` (the daemon's `SystemClock` and engine worker processes)."""

    def __init__(self, offset_s: float = 0.0) -> None:
        self._offset_s = offset_s

    def now(self) -> datetime:
        """The current aware datetime (UTC)."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def time(self) -> float:
        """The current Unix time in seconds."""
        return time.time() + self._offset_s

    def monotonic(self) -> float:
        """A monotonic reading in seconds, for durations and deadlines."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await asyncio.sleep(max(0.0, seconds))
