"""Redis key names owned by `sync` (every sync key in Redis comes from here)."""

from __future__ import annotations


def rate_limit(scope: str = "global") -> str:
    """Sliding-window log of YClients requests, shared by every instance (one egress IP)."""
    return f"sync:yclients:ratelimit:{scope}"
