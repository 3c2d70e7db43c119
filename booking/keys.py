"""Redis key names of the booking handler (the only place they are spelled)."""

from __future__ import annotations


def chat_lock(company_id: int, chat: str) -> str:
    """Held while one instance runs a dialogue step for this chat (value: a random token)."""
    return f"booking:lock:{company_id}:{chat}"
