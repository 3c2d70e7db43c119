"""Configuration of the notifications (mapped from gateway settings by gateway/wiring/notifications.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time


@dataclass(frozen=True)
class QuietHours:
    """Salon-local hours when nothing is sent: [start_hour, end_hour), wrapping midnight ("21-10")."""

    start_hour: int = 21
    end_hour: int = 10

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """'21-10' -> QuietHours(21, 10); '' or '0-0' -> no quiet hours. ValueError on bad input."""
        text = (text or "").strip()
        if not text:
            return cls(0, 0)
        try:
            start_s, end_s = text.split("-", 1)
            start, end = int(start_s), int(end_s)
        except ValueError:
            raise ValueError(f"QUIET_HOURS must look like '21-10', got {text!r}") from None
        if not (0 <= start <= 23 and 0 <= end <= 23):
            raise ValueError(f"QUIET_HOURS hours must be 0..23, got {text!r}")
        return cls(start, end)

    def contains(self, local: datetime) -> bool:
        """True when the salon-local moment is inside the quiet hours."""
        if self.start_hour == self.end_hour:
            return False
        h = local.hour
        if self.start_hour < self.end_hour:
            return self.start_hour <= h < self.end_hour
        return h >= self.start_hour or h < self.end_hour

    def end_after(self, local: datetime) -> datetime:
        """The first moment at or after `local` outside the quiet hours (same tz)."""
        if not self.contains(local):
            return local
        day = local.date()
        if self.start_hour > self.end_hour and local.hour >= self.start_hour:
            day = day.fromordinal(day.toordinal() + 1)
        return datetime.combine(day, time(self.end_hour), local.tzinfo)


@dataclass(frozen=True)
class NotificationsConfig:
    """What, when and how often."""

    enabled: bool = True
    day_before_hour: int = 19  # salon-local hour the evening-before reminders start
    hours_before: float = 2.0  # the "soon" reminder, hours before the visit
    min_lead_s: int = 30 * 60  # no "soon" reminder for a visit starting sooner than this
    review_delay_hours: float = 3.0  # after the visit's end
    review_give_up_hours: float = 24.0  # a review request later than due + this is dropped
    quiet: QuietHours = field(default_factory=QuietHours)
    created_notice_days: int = 14  # "you are booked" notices only for visits this close
    reply_window_hours: float = 72.0  # a rating/comment answers a review request this long
    interval_s: float = 300.0  # the job's period
    bot_api_id_prefix: str = "wa-"  # records the bot booked (booking.actions api_id)
    bot_comment_marker: str = "WhatsApp"  # comments the bot writes on moves/cancels/bookings
