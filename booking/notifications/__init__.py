"""Notifications of the booking handler: reminders, review requests, salon-change notices and the
client's replies to them.

- `NotificationJobs.run_once(now)` (service.py) is the periodic job: reminders (the evening before
  and ~2 h before, salon-local), review requests after a visit, notices when the SALON creates,
  moves or cancels a booking. Every notification is claimed by a unique `notifications` row
  BEFORE it is queued in the outbox (with a stable idempotency key too), so duplicate ticks or
  instances never send twice.
- `NotificationReplies(inner, ...)` (replies.py) wraps the booking MessageHandler: a "да" to an
  open reminder confirms the visit (attendance 2), a 1–5 rating answers a review request (low
  ones are flagged to the salon's own WhatsApp number); anything else goes to `inner`.
"""

from booking.notifications.config import NotificationsConfig, QuietHours
from booking.notifications.replies import NotificationReplies
from booking.notifications.service import NotificationJobs

__all__ = ["NotificationJobs", "NotificationReplies", "NotificationsConfig", "QuietHours"]
