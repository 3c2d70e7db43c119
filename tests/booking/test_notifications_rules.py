"""Pure rules of the notifications: quiet hours, rating and confirmation parsing, fingerprints."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from booking.notifications.config import NotificationsConfig, QuietHours
from booking.notifications.planner import fingerprint, review_due_at, soon_due_at
from booking.notifications.replies import is_confirmation
from booking.notifications.reviews import parse_rating

MSK = ZoneInfo("Europe/Moscow")


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("5", 5),
        ("5 из 5", 5),
        ("4/5", 4),
        ("Оценка: 3", 3),
        ("⭐⭐⭐⭐⭐", 5),
        ("★★", 2),
        ("4️⃣", 4),
        ("пять", 5),
        ("На пятёрку!", 5),
        ("троечка", None),
        ("тройка", 3),
        ("1", 1),
        ("Спасибо, всё понравилось 5+", 5),
        ("можно в 15:00?", None),
        ("2 или 3", None),
        ("10 из 10", None),
        ("0", None),
        ("6", None),
        ("спасибо", None),
        ("", None),
    ],
)
def test_parse_rating(text: str, rating: int | None) -> None:
    assert parse_rating(text) == rating


@pytest.mark.parametrize(
    ("text", "yes"),
    [
        ("да", True),
        ("Да!", True),
        ("Да, буду", True),
        ("буду", True),
        ("👍", True),
        ("Подтверждаю", True),
        ("всё в силе", True),
        ("да, но можно перенести?", False),
        ("нет", False),
        ("не смогу", False),
        ("да не, отмените", False),
        ("дайте подумать", False),
        ("хочу записаться", False),
    ],
)
def test_is_confirmation(text: str, yes: bool) -> None:
    assert is_confirmation(text) is yes


def test_quiet_hours() -> None:
    q = QuietHours.parse("21-10")
    assert q.contains(datetime(2026, 11, 23, 21, 0, tzinfo=MSK))
    assert q.contains(datetime(2026, 11, 23, 9, 59, tzinfo=MSK))
    assert not q.contains(datetime(2026, 11, 23, 10, 0, tzinfo=MSK))
    assert q.end_after(datetime(2026, 11, 23, 23, 0, tzinfo=MSK)) == datetime(2026, 11, 24, 10, 0, tzinfo=MSK)
    assert q.end_after(datetime(2026, 11, 24, 3, 0, tzinfo=MSK)) == datetime(2026, 11, 24, 10, 0, tzinfo=MSK)
    assert not QuietHours.parse("").contains(datetime(2026, 11, 23, 3, 0, tzinfo=MSK))
    assert QuietHours.parse("13-15").contains(datetime(2026, 11, 23, 14, 0, tzinfo=MSK))
    for bad in ("21", "a-b", "25-3", "21-10-3"):
        with pytest.raises(ValueError, match="QUIET_HOURS"):
            QuietHours.parse(bad)


def test_timing_edges() -> None:
    cfg = NotificationsConfig()
    # A 10:30 visit: 08:30 is quiet -> 10:00 is still 30 min ahead; a 10:15 visit gets no "soon" reminder.
    assert soon_due_at(datetime(2026, 11, 24, 10, 30, tzinfo=MSK), MSK, cfg) == datetime(
        2026, 11, 24, 10, 0, tzinfo=MSK
    )
    assert soon_due_at(datetime(2026, 11, 24, 10, 15, tzinfo=MSK), MSK, cfg) is None
    assert review_due_at(datetime(2026, 11, 23, 19, 0, tzinfo=MSK), 3600, MSK, cfg) == datetime(
        2026, 11, 24, 10, 0, tzinfo=MSK
    )


def test_fingerprint_ignores_service_order_only() -> None:
    at = datetime(2026, 11, 24, 12, 0, tzinfo=MSK)
    assert fingerprint(at, 1, [3, 1, 2], False) == fingerprint(
        at.astimezone(ZoneInfo("UTC")), 1, (1, 2, 3), False
    )
    assert fingerprint(at, 1, [1, 2], False) != fingerprint(at, 1, [1, 2, 3], False)
    assert fingerprint(at, 1, [1], False) != fingerprint(at, 2, [1], False)
    assert fingerprint(at, 1, [1], False) != fingerprint(at, 1, [1], True)
