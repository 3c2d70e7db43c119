"""What the daemon hands to domain packages: a clock and a task spawner (typed structurally).

`gateway` provides the concrete objects (`gateway.clock.SystemClock`/`FakeClock`,
`gateway.tasks.TaskSupervisor`); packages that may import `sessions` (marketplace, booking, web)
use these protocols too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
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
