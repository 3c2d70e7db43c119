"""Redis key names of the marketplace package (the only place they are spelled)."""

from __future__ import annotations


def token(token_value: str) -> str:
    """The seed's key: connect token -> our company id (TTL 24 h)."""
    return f"marketplace:token:{token_value}"


def company_token(company_id: int) -> str:
    """The seed's key: company id -> its latest connect token (TTL 24 h)."""
    return f"marketplace:company:{company_id}:token"


def ws_rate(ip: str) -> str:
    """Sorted set of WebSocket connection times from one IP (sliding 60 s window)."""
    return f"marketplace:ws-rate:{ip}"


def activation_lock(company_id: int) -> str:
    """Held while one instance runs the activation of a company."""
    return f"marketplace:activation:{company_id}:lock"
