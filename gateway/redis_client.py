"""Redis connection helpers (key names live in each package's `keys` module)."""

from __future__ import annotations

import redis.asyncio as aioredis


def create_redis(url: str) -> aioredis.Redis:
    """A redis-py asyncio client returning `str` values. Accepts redis:// and unix:// URLs."""
    return aioredis.Redis.from_url(url, decode_responses=True, health_check_interval=30)


async def ping(client: aioredis.Redis) -> bool:
    """True when Redis answers."""
    try:
        return bool(await client.ping())
    except Exception:  # noqa: BLE001 - readiness must never raise
        return False
