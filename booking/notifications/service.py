"""The periodic notifications job: change notices, reminders and review requests for every salon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from booking.notifications.attendance import AttendanceClient, retry_pending
from booking.notifications.changes import ChangeNotices
from booking.notifications.config import NotificationsConfig
from booking.notifications.reminders import run_reminders
from booking.notifications.reviews import run_reviews
from booking.notifications.sender import Notifier, RecordSource, load_context
from booking.notifications.store import NotificationStore
from sessions.api import OutboxSender
from sessions.runtime import Clock

log = structlog.get_logger(__name__)


class SessionProbe(Protocol):
    """Is the salon's WhatsApp connected? (sessions.api.SessionService satisfies it.)"""

    async def info(self, company_id: int) -> Any: ...


@dataclass
class TickReport:
    """What one tick queued."""

    reminders: int = 0
    reviews: int = 0
    changes: int = 0
    confirmations: int = 0  # visit confirmations retried into YClients
    failed_companies: int = 0
    offline_companies: int = 0  # WhatsApp not connected: nothing claimed, tried again next tick

    @property
    def total(self) -> int:
        return self.reminders + self.reviews + self.changes


class NotificationJobs:
    """`run_once(now)` is idempotent: every notification is claimed by a unique row before it is queued."""

    def __init__(
        self,
        *,
        store: NotificationStore,
        source: RecordSource,
        outbox: OutboxSender,
        clock: Clock,
        config: NotificationsConfig | None = None,
        client: AttendanceClient | None = None,
        sessions: SessionProbe | None = None,
    ) -> None:
        self.store = store
        self.source = source
        self.clock = clock
        self.client = client  # confirmations YClients missed are retried through it
        # The outbox keeps messages until the session connects: a reminder queued while the salon's
        # WhatsApp is down could arrive after the visit. Offline salons are skipped (not claimed).
        self.sessions = sessions
        self.config = config or NotificationsConfig()
        self.notifier = Notifier(store, outbox)
        self.changes = ChangeNotices(store, source, self.notifier, self.config)

    async def run_once(self, now: datetime | None = None) -> TickReport:
        """One pass over every active salon (the scheduler calls it without `now`)."""
        report = TickReport()
        if not self.config.enabled:
            return report
        now = now or self.clock.now()
        for ref in await self.source.active_companies():
            try:
                await self.run_company(int(ref.company_id), now, report)
            except Exception as exc:  # one salon's failure must not stop the others
                report.failed_companies += 1
                log.error("notifications_failed", company_id=ref.company_id, error=repr(exc), exc_info=exc)
        if report.total:
            log.info(
                "notifications_tick",
                reminders=report.reminders,
                reviews=report.reviews,
                changes=report.changes,
            )
        return report

    async def run_company(
        self, company_id: int, now: datetime, report: TickReport | None = None
    ) -> TickReport:
        """One salon: changes first (a moved visit frees its reminders), then reminders, then reviews."""
        report = report or TickReport()
        ctx = await load_context(self.store, self.source, company_id)
        if ctx is None:
            return report
        if self.sessions is not None and not getattr(
            await self.sessions.info(company_id), "connected", False
        ):
            report.offline_companies += 1
            log.debug("notifications_offline", company_id=company_id)
            return report
        report.changes += await self.changes.run(ctx, now)
        report.reminders += await run_reminders(ctx, self.source, self.notifier, now, self.config)
        report.reviews += await run_reviews(ctx, self.source, self.notifier, now, self.config)
        if self.client is not None:
            report.confirmations += await retry_pending(
                self.store, self.source, self.client, company_id, ctx.salon.salon_id, now
            )
        return report
