"""Values from WhatsApp made safe to store: what a peer sends is not ours to trust.

PostgreSQL text cannot hold U+0000 and UTF-8 cannot hold lone surrogates; a timestamp far out of
range cannot become a datetime. Either would fail the INSERT and lose a client's message.
"""

from __future__ import annotations

from datetime import UTC, datetime


def storable_text(value: str) -> str:
    """`value` without NUL characters, lone surrogates replaced by U+FFFD."""
    cleaned = value.replace("\x00", "")
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError:
        cleaned = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in cleaned)
    return cleaned


def utc_from_timestamp(ts: float | None) -> datetime | None:
    """Unix seconds as an aware UTC datetime; None when absent or not representable."""
    if not ts:
        return None
    try:
        return datetime.fromtimestamp(ts, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None
