"""One client turn as the dialogue sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from booking.model import SalonCatalog
from booking.ports import SalonInfo


@dataclass(frozen=True)
class Turn:
    """One client turn: who writes, to which salon, when, and the (joined) text."""

    salon: SalonInfo
    chat: str
    phone: str  # E.164 with '+'
    now: datetime  # aware
    text: str
    push_name: str | None = None

    @property
    def catalog(self) -> SalonCatalog:
        return self.salon.catalog

    @property
    def local_now(self) -> datetime:
        return self.now.astimezone(ZoneInfo(self.catalog.timezone or "Europe/Moscow"))

    @property
    def today(self) -> date:
        return self.local_now.date()
