"""The clock protocol `sync` needs (structural; gateway provides the concrete clock)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """An injectable source of time."""

    def now(self) -> datetime:
        """The current aware datetime (UTC)."""

    def time(self) -> float:
        """Unix seconds."""

    def monotonic(self) -> float:
        """Monotonic seconds."""

    async def sleep(self, seconds: float) -> None:
        """Sleep on this clock."""
