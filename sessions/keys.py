"""Redis key names of the sessions engine (the only place they are spelled)."""

from __future__ import annotations

EVENTS_CHANNEL = "sessions:events"  # pub/sub: JSON SessionEvent of every instance


def current_qr(company_id: int) -> str:
    """The seed's key: `{qr, generated_at, expires_at}` JSON, TTL = the QR's remaining validity."""
    return f"marketplace:qr:{company_id}"


def lease(company_id: int) -> str:
    """Which instance owns the session (value: instance id + epoch)."""
    return f"sessions:lease:{company_id}"


def lease_epoch(company_id: int) -> str:
    """Monotonic fencing counter for the session lease."""
    return f"sessions:lease-epoch:{company_id}"


def outbox_rate(company_id: int) -> str:
    """Sliding window of send timestamps for the per-session rate limit."""
    return f"sessions:outbox-rate:{company_id}"


def chat_rate(company_id: int, chat: str) -> str:
    """Last send time to one chat (1 message/s per chat)."""
    return f"sessions:chat-rate:{company_id}:{chat}"


def handoff(company_id: int, chat: str) -> str:
    """Set while the salon's staff handle a chat by hand (bot paused); TTL = the pause."""
    return f"sessions:handoff:{company_id}:{chat}"


def sim_prefix(company_id: int) -> str:
    """Prefix of the simulator's phone-side keys for one company."""
    return f"sim:{company_id}"
