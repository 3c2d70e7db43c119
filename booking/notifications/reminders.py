"""Reminders of upcoming visits: the evening before and ~2 h before, judged in the salon's timezone."""

from __future__ import annotations

from datetime import datetime, timedelta

from booking.notifications import texts
from booking.notifications.config import NotificationsConfig
from booking.notifications.planner import DAY_BEFORE, TWO_HOURS, day_before_due, soon_due
from booking.notifications.sender import Notifier, RecordSource, SalonContext, digits


def is_live(record: object) -> bool:
    """Not deleted, not cancelled (attendance -1), has a start and a client phone."""
    return (
        not getattr(record, "deleted", False)
        and getattr(record, "attendance", 0) != -1
        and getattr(record, "starts_at", None) is not None
        and bool(digits(getattr(record, "client_phone", "")))
    )


async def run_reminders(
    ctx: SalonContext,
    source: RecordSource,
    notifier: Notifier,
    now: datetime,
    cfg: NotificationsConfig,
) -> int:
    """Queue the reminders due now for one salon; returns how many were queued."""
    sent = 0
    today = now.astimezone(ctx.tz).date()
    for r in await source.records_between(ctx.company_id, now, now + timedelta(days=2)):
        if not is_live(r) or r.starts_at <= now:
            continue
        for kind, due in ((DAY_BEFORE, day_before_due), (TWO_HOURS, soon_due)):
            if due(r.starts_at, now, ctx.tz, cfg):
                text = texts.reminder(ctx.visit(r), r.client_name, today, ask=r.attendance != 2)
                sent += await notifier.send(ctx.company_id, r, kind, text, now, outbox_kind="reminder")
    return sent
