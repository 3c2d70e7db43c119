"""A cluster-wide rate limiter for YClients calls (reference 1.8: 5 requests/second per IP).

A sliding-window log in one Redis sorted set, checked and updated atomically in Lua with the
Redis server's own clock, so every process on every machine shares one budget and clock skew
between machines does not matter. Waiting is real time: the limit is about real time.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from sync import keys

log = structlog.get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Returns 0 when a slot was taken, else the microseconds to wait before the oldest entry expires.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window_us)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window_us / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window_us - now)
"""


class RedisRateLimiter:
    """At most `rate_per_s` acquisitions per second across every holder of the same Redis key.

    The budget is `burst = max(1, floor(rate_per_s))` requests per `burst / rate_per_s` seconds;
    `margin_s` widens the window a little so that network jitter between us and YClients cannot
    squeeze one request too many into a second as YClients sees it.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        rate_per_s: float,
        *,
        key: str | None = None,
        margin_s: float = 0.1,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self._redis = redis
        self._key = key or keys.rate_limit()
        self._limit = max(1, math.floor(rate_per_s))
        self._window_us = int((self._limit / rate_per_s + margin_s) * 1_000_000)
        self._sleep = sleep
        self._script = redis.register_script(_ACQUIRE)
        self._local_next = 0.0  # fallback spacing when Redis is unreachable

    async def acquire(self) -> float:
        """Wait until a request may go out; returns the seconds waited (real time).

        If Redis cannot be reached, falls back to spacing this process's own requests evenly at
        the full rate (fail open: YClients' 429s are retried anyway) and logs a warning.
        """
        waited = 0.0
        while True:
            member = secrets.token_hex(8)
            try:
                wait_us = int(await self._script(keys=[self._key], args=[self._limit, self._window_us, member]))
            except RedisError as exc:
                return waited + await self._local_acquire(exc)
            if wait_us <= 0:
                if waited:
                    log.debug("yclients_rate_limited_wait", waited_s=round(waited, 3))
                return waited
            delay = wait_us / 1_000_000
            waited += delay
            await self._sleep(delay)

    async def _local_acquire(self, exc: Exception) -> float:
        log.warning("yclients_rate_limiter_local_fallback", error=repr(exc))
        now = time.monotonic()
        start = max(now, self._local_next)
        self._local_next = start + self._window_us / 1_000_000 / self._limit
        delay = start - now
        if delay > 0:
            await self._sleep(delay)
        return delay


class NoRateLimit:
    """A limiter that never waits (for the sandbox-only bench baseline and unit tests)."""

    async def acquire(self) -> float:
        return 0.0
