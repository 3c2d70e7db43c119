"""Claim-then-enqueue: the one way a notification leaves, plus the per-salon context texts need."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from booking.notifications.planner import salon_tz
from booking.notifications.store import NotificationStore, Salon
from booking.notifications.texts import Visit
from sessions.api import OutboxSender

log = structlog.get_logger(__name__)


class RecordSource(Protocol):
    """The synced salon data (sync.store.SyncStore satisfies it)."""

    async def active_companies(self) -> list[Any]: ...

    async def records_between(self, company_id: int, start: datetime, end: datetime) -> list[Any]: ...

    async def record(self, company_id: int, record_id: int) -> Any: ...

    async def services(self, company_id: int, *, include_inactive: bool = False) -> list[Any]: ...

    async def company_info(self, company_id: int) -> Any: ...


def digits(phone: str | None) -> str:
    return "".join(ch for ch in str(phone or "") if ch.isdigit())


def chat_of(phone_digits: str) -> str:
    """The personal chat JID of a phone ('79161234567' -> '79161234567@s.whatsapp.net')."""
    return f"{phone_digits}@s.whatsapp.net"


@dataclass
class SalonContext:
    """One salon during one tick: timezone, display name, service titles."""

    salon: Salon
    tz: ZoneInfo
    title: str
    service_titles: dict[int, str] = field(default_factory=dict)

    @property
    def company_id(self) -> int:
        return self.salon.company_id

    def visit(self, record: Any) -> Visit:
        """A synced record as the texts show it (services in a stable order)."""
        titles = [self.service_titles[s] for s in sorted(record.service_ids) if s in self.service_titles]
        starts = record.starts_at.astimezone(self.tz)
        return Visit(self.title, starts, ", ".join(titles), str(record.staff_name or ""))


async def load_context(
    store: NotificationStore, source: RecordSource, company_id: int
) -> SalonContext | None:
    """The salon's context, or None for an unknown company."""
    salon = await store.salon(company_id)
    if salon is None:
        return None
    info = await source.company_info(company_id)
    title = (getattr(info, "title", "") or salon.title or "салон").strip()
    services = await source.services(company_id, include_inactive=True)
    return SalonContext(
        salon, salon_tz(salon.timezone), title, {int(s.service_id): s.title for s in services}
    )


class Notifier:
    """Claims a notification row, then queues its message; never twice for one claim key."""

    def __init__(self, store: NotificationStore, outbox: OutboxSender) -> None:
        self.store = store
        self.outbox = outbox

    async def send(
        self,
        company_id: int,
        record: Any,
        kind: str,
        text: str,
        now: datetime,
        *,
        outbox_kind: str,
    ) -> bool:
        """Claim (company, record, kind) and queue `text` to the record's client; True if queued now."""
        phone = digits(record.client_phone)
        if not phone:
            return False
        chat = chat_of(phone)
        claim_id = await self.store.claim(
            company_id, int(record.record_id), kind, "+" + phone, chat, record.starts_at, now
        )
        if claim_id is None:
            return False
        starts = int(record.starts_at.timestamp()) if record.starts_at else 0
        key = f"notify:{company_id}:{record.record_id}:{kind}:{starts}"
        try:
            outbox_id = await self.outbox.enqueue(
                company_id, chat, text, idempotency_key=key, kind=outbox_kind
            )
        except Exception:
            await self.store.release(claim_id)  # the outbox key keeps a retry from sending twice
            raise
        await self.store.mark_queued(claim_id, outbox_id, now)
        log.info("notification_queued", company_id=company_id, record_id=record.record_id, kind=kind)
        return True
