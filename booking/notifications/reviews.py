"""Review requests after a visit, and reading a 1–5 rating out of the client's answer."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from booking.notifications import texts
from booking.notifications.config import NotificationsConfig
from booking.notifications.planner import REVIEW, review_due
from booking.notifications.reminders import is_live
from booking.notifications.sender import Notifier, RecordSource, SalonContext

WORDS = (
    (re.compile(r"\b(пять|пятерк\w*|пятёрк\w*|отлично на пять)\b"), 5),
    (re.compile(r"\b(четыре|четв[её]рк\w*)\b"), 4),
    (re.compile(r"\b(три|тр[оа]йк\w*)\b"), 3),
    (re.compile(r"\b(два|две|двойк\w*)\b"), 2),
    (re.compile(r"\b(один|одна|единиц\w*|кол)\b"), 1),
)
NUMBER = re.compile(r"(?<![\d:.,])(\d+)(?!\d)(?![:.,]\d)")
OUT_OF = re.compile(r"^\s*(из|/)\s*(5|пяти)\b")
KEYCAPS = {"1️⃣": 1, "2️⃣": 2, "3️⃣": 3, "4️⃣": 4, "5️⃣": 5}


def parse_rating(text: str) -> int | None:
    """A 1–5 rating from "5", "4 из 5", "3/5", "⭐⭐⭐⭐", "5️⃣", "пять", "на троечку"; None otherwise.

    A number with other numbers around it ("в 15:00", "2 или 3") is not a rating.
    """
    raw = (text or "").strip().lower()
    if not raw or len(raw) > 200:
        return None
    for cap, value in KEYCAPS.items():
        if cap in raw:
            return value
    stars = raw.count("⭐") + raw.count("★") + raw.count("🌟")
    if stars:
        return stars if stars <= 5 else None
    numbers = list(NUMBER.finditer(raw))
    if numbers:
        first = numbers[0]
        value = int(first.group(1))
        rest = raw[first.end() :]
        out_of = OUT_OF.match(rest)
        others = len(numbers) - (1 if not out_of else 2 if out_of.group(2) == "5" else 1)
        if 1 <= value <= 5 and others == 0:
            return value
        return None
    for pattern, value in WORDS:
        if pattern.search(raw):
            return value
    return None


async def run_reviews(
    ctx: SalonContext,
    source: RecordSource,
    notifier: Notifier,
    now: datetime,
    cfg: NotificationsConfig,
) -> int:
    """Queue the review requests due now for one salon (once per record); how many were queued."""
    lookback = timedelta(hours=cfg.review_delay_hours + cfg.review_give_up_hours + 36)
    sent = 0
    for r in await source.records_between(ctx.company_id, now - lookback, now):
        if not is_live(r):
            continue
        if review_due(r.starts_at, int(r.length_s or 0), now, ctx.tz, cfg):
            text = texts.review_request(ctx.title, r.client_name)
            sent += await notifier.send(ctx.company_id, r, REVIEW, text, now, outbox_kind="review")
    return sent
