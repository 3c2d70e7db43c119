"""Helpers of the notifications tests (no tests here): salons, synced records, a recording outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from booking.notifications import NotificationJobs, NotificationsConfig
from booking.notifications.store import NotificationStore
from gateway.clock import FakeClock
from sync.models import Record
from sync.store import SyncStore

CLIENT_PHONE = "79161234567"
SALON_PHONE = "+79990001122"
SERVICES = {1011: "Маникюр классический", 1012: "Покрытие гель-лак", 1013: "Дизайн ногтя"}


@dataclass
class RecordingOutbox:
    """The sessions OutboxSender contract: an idempotency key is used once."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    async def enqueue(
        self, company_id: int, chat: str, text: str, *, idempotency_key: str, kind: str = "reply"
    ) -> int | None:
        if idempotency_key in self.keys:
            return None
        self.keys.add(idempotency_key)
        self.sent.append(
            {"company_id": company_id, "chat": chat, "text": text, "key": idempotency_key, "kind": kind}
        )
        return len(self.sent)

    def kinds(self) -> list[str]:
        return [m["kind"] for m in self.sent]

    def to(self, chat: str) -> list[str]:
        return [m["text"] for m in self.sent if m["chat"] == chat]


async def add_salon(
    pool: asyncpg.Pool,
    *,
    salon_id: int,
    timezone: str,
    title: str = "Лаванда",
    whatsapp_phone: str | None = SALON_PHONE,
) -> int:
    """An active company with its services synced."""
    cid = int(
        await pool.fetchval(
            """INSERT INTO companies (salon_id, company_id, yclients_id, title, timezone, integration_status,
                                  whatsapp_phone)
           VALUES ($1, $1, $1, $2, $3, 'active', $4) RETURNING id""",
            salon_id,
            title,
            timezone,
            whatsapp_phone,
        )
    )
    for sid, name in SERVICES.items():
        await pool.execute(
            "INSERT INTO sync_services (company_id, service_id, title) VALUES ($1, $2, $3)", cid, sid, name
        )
    return cid


def record(
    record_id: int,
    starts_at: datetime,
    *,
    services: tuple[int, ...] = (1011,),
    staff_id: int = 2003,
    staff_name: str = "Ольга",
    phone: str = CLIENT_PHONE,
    name: str = "Елена Орлова",
    length_s: int = 3600,
    attendance: int = 0,
    deleted: bool = False,
    api_id: str = "",
    comment: str = "",
    visit_id: int | None = None,
) -> Record:
    """A YClients record as `GET /records` gives it."""
    return Record.from_api(
        {
            "id": record_id,
            "staff_id": staff_id,
            "staff": {"id": staff_id, "name": staff_name},
            "services": [{"id": s, "title": SERVICES.get(s, str(s)), "cost": 1000} for s in services],
            "client": {"id": 1, "name": name, "phone": phone},
            "datetime": starts_at.isoformat(),
            "length": length_s,
            "attendance": attendance,
            "deleted": deleted,
            "api_id": api_id,
            "comment": comment,
            "visit_id": visit_id if visit_id is not None else record_id + 7_000_000,
        }
    )


def jobs(
    pool: asyncpg.Pool, clock: FakeClock, outbox: RecordingOutbox | None = None, **config: Any
) -> tuple[NotificationJobs, RecordingOutbox]:
    """A notifications job over the real stores (one 'instance')."""
    out = outbox or RecordingOutbox()
    job = NotificationJobs(
        store=NotificationStore(pool),
        source=SyncStore(pool),
        outbox=out,
        clock=clock,
        config=NotificationsConfig(**config),
    )
    return job, out
