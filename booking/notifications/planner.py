"""What is due, and when: pure functions of a record's times, the salon's timezone and `now`.

Decisions (documented in the package README section of the final report):
- The evening-before reminder goes from `day_before_hour` (19:00) salon-local until quiet hours
  begin (21:00) on the day before the visit. A booking that appears after that window gets no
  evening reminder; its "soon" reminder still goes. Nothing is ever sent at night.
- The "soon" reminder is due `hours_before` (2 h) before the visit; when that moment falls in
  quiet hours it moves to their end, and it is dropped when the visit is then less than
  `min_lead_s` (30 min) away.
- A review request is due `review_delay_hours` after the visit's end, moved out of quiet hours
  to their end (10:00), and dropped when more than `review_give_up_hours` late.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from booking.notifications.config import NotificationsConfig

DAY_BEFORE = "day_before"
TWO_HOURS = "two_hours"
REVIEW = "review"


def salon_tz(name: str | None) -> ZoneInfo:
    """The salon's timezone; Moscow when unset or unknown."""
    try:
        return ZoneInfo(name or "Europe/Moscow")
    except (KeyError, ValueError):
        return ZoneInfo("Europe/Moscow")


def day_before_due(starts_at: datetime, now: datetime, tz: ZoneInfo, cfg: NotificationsConfig) -> bool:
    """Is the evening-before reminder due now?"""
    if starts_at <= now:
        return False
    local_now = now.astimezone(tz)
    if starts_at.astimezone(tz).date() != local_now.date() + timedelta(days=1):
        return False
    return local_now.hour >= cfg.day_before_hour and not cfg.quiet.contains(local_now)


def soon_due_at(starts_at: datetime, tz: ZoneInfo, cfg: NotificationsConfig) -> datetime | None:
    """When the "soon" reminder should go (moved out of quiet hours); None: not at all."""
    due = (starts_at - timedelta(hours=cfg.hours_before)).astimezone(tz)
    due = cfg.quiet.end_after(due)
    if due > starts_at - timedelta(seconds=cfg.min_lead_s):
        return None
    return due


def soon_due(starts_at: datetime, now: datetime, tz: ZoneInfo, cfg: NotificationsConfig) -> bool:
    """Is the "soon" (2 h before) reminder due now?"""
    due = soon_due_at(starts_at, tz, cfg)
    if due is None or cfg.quiet.contains(now.astimezone(tz)):
        return False
    return due <= now < starts_at - timedelta(seconds=cfg.min_lead_s)


def review_due_at(starts_at: datetime, length_s: int, tz: ZoneInfo, cfg: NotificationsConfig) -> datetime:
    """When the review request should go: after the visit's end + delay, never at night."""
    ended = starts_at + timedelta(seconds=max(0, length_s))
    return cfg.quiet.end_after((ended + timedelta(hours=cfg.review_delay_hours)).astimezone(tz))


def review_due(
    starts_at: datetime, length_s: int, now: datetime, tz: ZoneInfo, cfg: NotificationsConfig
) -> bool:
    """Is the review request due now (and not too late)?"""
    if cfg.quiet.contains(now.astimezone(tz)):
        return False
    due = review_due_at(starts_at, length_s, tz, cfg)
    return due <= now <= due + timedelta(hours=cfg.review_give_up_hours)


def fingerprint(
    starts_at: datetime | None, staff_id: int | None, service_ids: object, cancelled: bool
) -> str:
    """What a change notice is about: time, master, the SET of services, cancelled. Order-free."""
    services = ",".join(str(s) for s in sorted({int(x) for x in service_ids}))  # type: ignore[attr-defined]
    when = starts_at.astimezone(ZoneInfo("UTC")).isoformat() if starts_at else ""
    raw = f"{when}|{staff_id or ''}|{services}|{int(cancelled)}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]
