"""The shared vocabulary of the booking handler: the salon catalog and what a message means.

`booking.nlu` turns text into an `Understanding`; the dialogue consumes it. The catalog comes from
the synced data (daemon) or from a salon file in the demo-salon.json format (`ai-admin understand`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any

INTENTS = (
    "book",
    "reschedule",
    "cancel",
    "prices",
    "services",
    "my_records",
    "hours_address",
    "greeting",
    "thanks",
    "human",
    "confirm",
    "decline",
    "other",
)

PARTS_OF_DAY = ("morning", "day", "afternoon", "evening")


@dataclass(frozen=True)
class CatalogService:
    id: int
    title: str
    category_id: int | None = None
    category_title: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    duration_s: int | None = None


@dataclass(frozen=True)
class CatalogStaff:
    id: int
    name: str
    specialization: str = ""
    service_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class SalonCatalog:
    """What the bot knows of one salon to understand and answer."""

    salon_id: int
    title: str
    timezone: str = "Europe/Moscow"
    address: str = ""
    phone: str = ""
    schedule: str = ""
    services: tuple[CatalogService, ...] = ()
    staff: tuple[CatalogStaff, ...] = ()

    @classmethod
    def from_salon_json(cls, data: dict[str, Any]) -> SalonCatalog:
        """Build from the demo-salon.json format."""
        company = data["company"]
        categories = {c["id"]: c["title"] for c in data.get("service_categories", [])}
        services = tuple(
            CatalogService(
                id=int(s["id"]),
                title=s["title"],
                category_id=s.get("category_id"),
                category_title=categories.get(s.get("category_id")),
                price_min=s.get("price_min"),
                price_max=s.get("price_max"),
                duration_s=s.get("seance_length"),
            )
            for s in data.get("services", [])
        )
        staff = tuple(
            CatalogStaff(
                id=int(m["id"]),
                name=m["name"],
                specialization=m.get("specialization", ""),
                service_ids=tuple(int(x) for x in m.get("services", [])),
            )
            for m in data.get("staff", [])
        )
        return cls(
            salon_id=int(company["id"]),
            title=company.get("public_title") or company["title"],
            timezone=company.get("timezone_name", "Europe/Moscow"),
            address=company.get("address", ""),
            phone=company.get("phone", ""),
            schedule=company.get("schedule", ""),
            services=services,
            staff=staff,
        )

    @classmethod
    def from_salon_file(cls, path: str | Path) -> SalonCatalog:
        """Read a demo-salon.json-format file."""
        return cls.from_salon_json(json.loads(Path(path).read_text("utf-8")))


@dataclass
class Understanding:
    """What one message says. Dates and times are salon-local."""

    intent: str = "other"
    service_ids: list[int] = field(default_factory=list)
    staff_id: int | None = None
    date: date | None = None
    time: time | None = None
    part_of_day: str | None = None  # one of PARTS_OF_DAY
    client_name: str | None = None  # "меня зовут Аня"
    confidence: float = 0.0
    # Extra hints for the dialogue (e.g. {"any_staff": True, "weekend": True}).
    hints: dict[str, Any] = field(default_factory=dict)

    def to_eval_json(self) -> dict[str, Any]:
        """The evaluation interface's line (DESIGN.md section 8)."""
        return {
            "intent": self.intent,
            "service_ids": sorted(self.service_ids),
            "staff_id": self.staff_id,
            "date": self.date.isoformat() if self.date else None,
            "time": self.time.strftime("%H:%M") if self.time else None,
            "part_of_day": self.part_of_day,
        }
