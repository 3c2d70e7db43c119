"""Reminders (the evening before, salon-local, and 2 h before) and review requests after a visit.

`Reminders.run_once()` is the periodic job (and the tests' entry point). Every notification is
claimed by a unique row (company, record, kind) BEFORE it is queued, so duplicate job runs on
several instances send it once. Times are judged in each salon's own timezone. The chat's
dialogue state remembers which visit was mentioned, so a "да" confirms attendance (visit status 2),
"перенесите"/"отмените" act on that visit, and a digit answers the review request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from booking import texts
from booking.ports import SalonDirectory, SalonInfo
from booking.state import DialogueState, RecordRef
from booking.store import BookingStore
from sessions.api import OutboxSender
from sessions.runtime import Clock

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReminderConfig:
    day_before_hour: int = 18  # salon-local hour from which tomorrow's visits are reminded
    two_hours_s: int = 2 * 3600
    min_lead_s: int = 30 * 60  # no "2 h" reminder for a visit starting sooner (just booked)
    review_after_s: int = 3 * 3600  # after the visit's end
    review_window_s: int = 9 * 3600  # give up asking for a review after this


class RecordSource(Protocol):
    """The synced records (sync.store.SyncStore satisfies it)."""

    async def active_companies(self) -> list[Any]:
        """Objects with `company_id`."""

    async def records_between(self, company_id: int, start: datetime, end: datetime) -> list[Any]:
        """Live records starting in [start, end): record_id, starts_at, length_s, staff_id,
        service_ids, client_phone (digits), client_name, attendance, deleted."""


def chat_of(phone_digits: str) -> str:
    """The personal chat JID of a phone."""
    return f"{phone_digits}@s.whatsapp.net"


class Reminders:
    """Sends reminders and review requests; `run_once()` is idempotent."""

    def __init__(
        self,
        *,
        store: BookingStore,
        source: RecordSource,
        directory: SalonDirectory,
        outbox: OutboxSender,
        clock: Clock,
        config: ReminderConfig | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.directory = directory
        self.outbox = outbox
        self.clock = clock
        self.config = config or ReminderConfig()

    async def run_once(self) -> int:
        """One pass over every active salon; returns how many notifications were queued."""
        sent = 0
        for ref in await self.source.active_companies():
            try:
                sent += await self.run_company(int(ref.company_id))
            except Exception as exc:  # noqa: BLE001 - one salon's failure must not stop the others
                log.error("reminders_failed", company_id=ref.company_id, error=repr(exc))
        return sent

    async def run_company(self, company_id: int) -> int:
        """Queue what is due for one salon now; returns how many messages were queued."""
        salon = await self.directory.salon(company_id)
        if salon is None:
            return 0
        tz = ZoneInfo(salon.catalog.timezone or "Europe/Moscow")
        now = self.clock.now()
        local = now.astimezone(tz)
        cfg = self.config
        due: list[tuple[str, Any]] = []
        if local.hour >= cfg.day_before_hour:
            start = datetime.combine(local.date() + timedelta(days=1), time(0), tz)
            due += [("day_before", r) for r in
                    await self.source.records_between(company_id, start, start + timedelta(days=1))]
        due += [("two_hours", r) for r in await self.source.records_between(
            company_id, now + timedelta(seconds=cfg.min_lead_s), now + timedelta(seconds=cfg.two_hours_s))]
        since = now - timedelta(seconds=cfg.review_window_s + 24 * 3600)
        for r in await self.source.records_between(company_id, since, now):
            age_s = (now - (r.starts_at + timedelta(seconds=int(r.length_s or 0)))).total_seconds()
            if cfg.review_after_s <= age_s <= cfg.review_window_s:
                due.append(("review", r))
        # Claim each (record, kind) once; one message per client and kind (two visits tomorrow: one text).
        groups: dict[tuple[str, str], list[Any]] = {}
        for kind, r in due:
            phone = "".join(ch for ch in str(r.client_phone or "") if ch.isdigit())
            if not phone or r.deleted or r.attendance == -1 or r.starts_at is None:
                continue
            if await self.store.claim_notification(company_id, int(r.record_id), kind, "+" + phone, r.starts_at):
                groups.setdefault((phone, kind), []).append(r)
        for (phone, kind), records in groups.items():
            await self._send(salon, phone, kind, sorted(records, key=lambda r: r.starts_at), local)
        return len(groups)

    async def _send(self, salon: SalonInfo, phone: str, kind: str, records: list[Any], local_now: datetime) -> None:
        refs = [RecordRef(int(r.record_id), r.starts_at.isoformat(), r.staff_id, [int(x) for x in r.service_ids])
                for r in records]
        chat = chat_of(phone)
        await self._remember(salon.company_id, chat, refs, "rating" if kind == "review" else "visit")
        ids = ",".join(str(r.record_id) for r in records)
        await self.outbox.enqueue(
            salon.company_id, chat, self._text(salon, records, kind, local_now),
            idempotency_key=f"notify:{salon.company_id}:{kind}:{ids}",
            kind="review" if kind == "review" else "reminder",
        )
        log.info("notification_queued", company_id=salon.company_id, records=ids, kind=kind)

    def _text(self, salon: SalonInfo, records: list[Any], kind: str, local_now: datetime) -> str:
        cat = salon.catalog
        tz = ZoneInfo(cat.timezone or "Europe/Moscow")
        name = (str(records[0].client_name or "").split() or [""])[0]
        hello = f"Здравствуйте, {name}!" if name else "Здравствуйте!"
        if kind == "review":
            return (f"{hello} Спасибо, что были у нас в салоне {texts.salon_name(cat)} 🌸 Оцените, пожалуйста, "
                    "визит от 1 до 5 — ответьте одной цифрой.")
        lines = []
        for r in records:
            starts = r.starts_at.astimezone(tz)
            when = f"{texts.short_day(starts.date(), local_now.date())} в {starts.strftime('%H:%M')}"
            lines.append(f"{when} — {texts.services_title(cat, list(r.service_ids))}, "
                         f"мастер {texts.staff_name(cat, r.staff_id)}")
        visits = lines[0] if len(lines) == 1 else "\n" + "\n".join(f"• {line}" for line in lines) + "\n"
        noun = "визите" if len(lines) == 1 else "визитах"
        return (f"{hello} Напоминаем о {noun} в салон {texts.salon_name(cat)}: {visits}"
                + (f" Адрес: {cat.address}." if cat.address else "")
                + " Всё в силе? Ответьте «да», или напишите, если нужно перенести или отменить.")

    async def _remember(self, company_id: int, chat: str, records: list[RecordRef], awaiting: str) -> None:
        """Let the chat's next "да"/digit answer this notification (unless a request is in progress)."""
        for _ in range(3):
            conv = await self.store.load_conversation(company_id, chat)
            st = DialogueState.from_json(conv.state)
            if st.flow is not None:
                return
            st.awaiting = awaiting
            st.target = records[0]
            st.records = records if len(records) > 1 else []
            state = st.to_json()
            if "_replies" in conv.state:  # keep the last turn's replay record intact
                state["_replies"] = conv.state["_replies"]
            if await self.store.save_conversation(conv, state):
                return
