"""The client's answers to notifications, in front of the booking dialogue.

`NotificationReplies(inner, ...)` is a sessions `MessageHandler`: a confirmation ("да", "буду",
"👍") while the chat has an open reminder or change notice sets the visit's attendance to 2 in
YClients and thanks the client; a 1–5 rating after a review request is stored in `reviews` and
thanked; a low rating (1–3) is flagged to the salon's own WhatsApp number and the client is asked
what went wrong (the next message is forwarded as the comment). Everything else — reschedule,
cancel, questions — goes to `inner` (the booking dialogue).
"""

from __future__ import annotations

import re
from datetime import timedelta

import structlog

from booking.notifications import texts
from booking.notifications.attendance import CONFIRMED, PENDING, AttendanceClient, set_confirmed
from booking.notifications.config import NotificationsConfig
from booking.notifications.planner import REVIEW
from booking.notifications.reviews import parse_rating
from booking.notifications.sender import RecordSource, SalonContext, chat_of, digits, load_context
from booking.notifications.store import REMINDER_KINDS, Notification, NotificationStore
from sessions.api import InboundMessage, MessageHandler, OutboxSender
from sessions.runtime import Clock

log = structlog.get_logger(__name__)

_CONFIRM = re.compile(
    r"^(да+|ага|угу|ок|окей|ok|okay|хорошо|конечно|обязательно|подтверждаю|подтверждаем|подтвердить|"
    r"буду|будем|приду|придём|придем|в силе|вс[её] в силе|\+|👍|✅|👌)(\s|$)"
)
_NOT_CONFIRM = re.compile(r"\b(не|нет|перен\w*|отмен\w*|измен\w*|друг\w*|позже|раньше|опозда\w*)\b")
_BOOKING_WORDS = re.compile(r"\b(запис\w*|перен\w*|отмен\w*|свобод\w*|окошк\w*|цен\w*|стоит)\b")
LOW_RATING_MAX = 3


def is_confirmation(text: str) -> bool:
    """A short "yes, I'll come" ("да", "Да, буду!", "👍"); False for "да, но перенесите"."""
    raw = re.sub(r"[!.,)(?]+", " ", (text or "").strip().lower()).strip()
    if not raw or len(raw) > 60:
        return False
    return bool(_CONFIRM.match(raw)) and not _NOT_CONFIRM.search(raw)


def client_phone_of(message: InboundMessage) -> str:
    """The client's phone digits: from a personal chat JID, else the sender's phone."""
    user, _, server = message.chat.partition("@")
    if server == "s.whatsapp.net":
        d = digits(user.split(":", 1)[0])
        if d:
            return d
    return digits(message.sender_phone)


class NotificationReplies:
    """Wraps the booking MessageHandler with the answers to reminders and review requests."""

    def __init__(
        self,
        inner: MessageHandler,
        *,
        store: NotificationStore,
        source: RecordSource,
        client: AttendanceClient,
        outbox: OutboxSender,
        clock: Clock,
        config: NotificationsConfig | None = None,
    ) -> None:
        self.inner = inner
        self.store = store
        self.source = source
        self.client = client
        self.outbox = outbox
        self.clock = clock
        self.config = config or NotificationsConfig()

    async def handle(self, message: InboundMessage) -> None:
        """Answer a notification reply here, or hand the message to the dialogue."""
        if not self.config.enabled or not await self._handled(message):
            await self.inner.handle(message)

    async def _handled(self, message: InboundMessage) -> bool:
        phone = client_phone_of(message)
        if not phone:
            return False
        now = self.clock.now()
        cid = message.company_id
        since = now - timedelta(hours=self.config.reply_window_hours)
        review = await self.store.latest_open(cid, "+" + phone, (REVIEW,), since)
        reminders = (
            await self.store.open_reminders(cid, "+" + phone, now) if is_confirmation(message.text) else []
        )
        if review is None and not reminders:
            return False
        # A "да" or a digit in the middle of a booking the client started after our message is the dialogue's.
        activity = await self.store.dialogue_activity(cid, message.chat)
        if review is not None and not activity.busy_since(review.sent_at or review.created_at):
            if review.answer is None and (rating := parse_rating(message.text)) is not None:
                return await self._rated(message, review, rating, phone)
            if review.answer == "comment_asked":
                if not _BOOKING_WORDS.search(message.text.lower()):
                    return await self._commented(message, review, phone)
                # The client moved on to booking: stop waiting for a comment.
                await self.store.transition(review.id, "comment_asked", "rated", close=True, now=now)
        open_ = [r for r in reminders if not activity.busy_since(r.sent_at or r.created_at)]
        return bool(open_) and await self._confirmed(message, open_)

    # --- reminders -----------------------------------------------------------------------------
    async def _confirmed(self, message: InboundMessage, reminders: list[Notification]) -> bool:
        """Confirm every visit with an open reminder (two visits reminded, one "да" answers both)."""
        cid = message.company_id
        now = self.clock.now()
        ctx = await load_context(self.store, self.source, cid)
        if ctx is None:
            return False
        visits = []
        raced = False
        for record_id in dict.fromkeys(r.record_id for r in reminders):
            record = await self.source.record(cid, record_id)
            if record is None or record.deleted or record.attendance == -1 or record.starts_at is None:
                continue  # cancelled since: not something to confirm
            if not await self.store.mark_answered(cid, record_id, REMINDER_KINDS, CONFIRMED, now):
                raced = True  # a racing "да" already confirmed it
                continue
            visits.append(ctx.visit(record))
            try:
                await set_confirmed(self.client, ctx.salon.salon_id, record)
                log.info("visit_confirmed", company_id=cid, record_id=record_id)
            except Exception as exc:  # noqa: BLE001 - the client is answered anyway; the job retries
                log.error("visit_confirm_failed", company_id=cid, record_id=record_id, error=repr(exc))
                await self.store.change_answer(cid, record_id, REMINDER_KINDS, CONFIRMED, PENDING)
        if not visits:
            return raced
        await self._reply(message, texts.confirmed(visits, now.astimezone(ctx.tz).date()))
        return True

    # --- reviews -------------------------------------------------------------------------------
    async def _rated(self, message: InboundMessage, review: Notification, rating: int, phone: str) -> bool:
        cid = message.company_id
        now = self.clock.now()
        low = rating <= LOW_RATING_MAX
        if not await self.store.transition(
            review.id, None, "comment_asked" if low else "rated", close=not low, now=now
        ):
            return True
        await self.store.add_review(
            cid, review.record_id, "+" + phone, rating, flagged=low, comment=message.text[:500], now=now
        )
        log.info("review_stored", company_id=cid, record_id=review.record_id, rating=rating)
        if not low:
            await self._reply(message, texts.thanks_for_rating())
            return True
        ctx = await load_context(self.store, self.source, cid)
        record = await self.source.record(cid, review.record_id)
        visit = ctx.visit(record) if ctx is not None and record is not None and record.starts_at else None
        name = str(getattr(record, "client_name", "") or message.push_name or "")
        await self._to_salon(
            cid,
            f"notify:{cid}:{review.record_id}:low_rating",
            texts.low_rating_alert(rating, name, "+" + phone, visit),
        )
        await self._reply(message, texts.sorry_low_rating())
        return True

    async def _commented(self, message: InboundMessage, review: Notification, phone: str) -> bool:
        cid = message.company_id
        if not await self.store.transition(
            review.id, "comment_asked", "commented", close=True, now=self.clock.now()
        ):
            return True
        await self.store.add_review_comment(cid, review.record_id, message.text)
        record = await self.source.record(cid, review.record_id)
        name = str(getattr(record, "client_name", "") or message.push_name or "")
        await self._to_salon(
            cid,
            f"notify:{cid}:{review.record_id}:low_rating_comment",
            texts.low_rating_comment_alert(name, "+" + phone, message.text),
        )
        await self._reply(message, texts.thanks_for_comment())
        return True

    # --- sending -------------------------------------------------------------------------------
    async def _reply(self, message: InboundMessage, text: str) -> None:
        await self.outbox.enqueue(
            message.company_id,
            message.chat,
            text,
            idempotency_key=f"notify-reply:{message.company_id}:{message.id}",
            kind="reply",
        )

    async def _to_salon(self, company_id: int, key: str, text: str) -> None:
        """A message to the salon's own WhatsApp number (companies.whatsapp_phone)."""
        salon = await self.store.salon(company_id)
        phone = digits(salon.whatsapp_phone if salon else None)
        if not phone:
            log.warning("salon_alert_no_phone", company_id=company_id, text=text[:80])
            return
        await self.outbox.enqueue(company_id, chat_of(phone), text, idempotency_key=key, kind="alert")


__all__ = ["NotificationReplies", "SalonContext", "client_phone_of", "is_confirmation"]
