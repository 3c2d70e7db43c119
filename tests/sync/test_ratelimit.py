"""The cluster-wide rate limiter, measured at the sandbox (real time: rate limiting is about it)."""

from __future__ import annotations

import asyncio

import aiohttp
import redis.asyncio as aioredis

from sync.ratelimit import RedisRateLimiter
from sync.sandbox import Sandbox
from tests.sync.conftest import DEMO_SALON, MakeClient


async def test_two_clients_sharing_redis_stay_under_5_per_second(
    make_yclients: MakeClient, sandbox: Sandbox, redis: aioredis.Redis, redis_url: str
) -> None:
    from gateway.redis_client import create_redis

    other_redis = create_redis(redis_url)  # a second process would have its own connection
    try:
        a = make_yclients(limiter=RedisRateLimiter(redis, 5.0))
        async with aiohttp.ClientSession() as other_session:
            b_limiter = RedisRateLimiter(other_redis, 5.0)
            b = make_yclients(limiter=b_limiter)
            b.transport._session = other_session  # its own connection pool, as another instance
            calls = [a.book_services(DEMO_SALON) for _ in range(6)] + [b.book_staff(DEMO_SALON) for _ in range(6)]
            await asyncio.gather(*calls)
    finally:
        await other_redis.aclose()
    stamps = sorted(r.wall for r in sandbox.requests)
    assert len(stamps) == 12
    # no 1-second window holds more than 5 requests: the 6th after any request is >= 1 s later
    gaps = [stamps[i + 5] - stamps[i] for i in range(len(stamps) - 5)]
    assert min(gaps) >= 1.0, gaps
    # and the limiter does not starve: both clients were served, 12 requests in ~2 windows
    assert stamps[-1] - stamps[0] < 3.5
    assert {r.path.split("/")[3] for r in sandbox.requests} == {"book_services", "book_staff"}


async def test_limiter_waits_only_when_the_window_is_full(redis: aioredis.Redis) -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        await redis.delete("sync:yclients:ratelimit:test")  # time "passes": the window empties

    limiter = RedisRateLimiter(redis, 3.0, key="sync:yclients:ratelimit:test", sleep=fake_sleep)
    for _ in range(3):
        assert await limiter.acquire() == 0.0
    assert waits == []
    waited = await limiter.acquire()
    assert len(waits) == 1 and 0.9 < waits[0] <= 1.1 and waited == waits[0]


async def test_limiter_falls_back_to_local_spacing_when_redis_is_down() -> None:
    from gateway.redis_client import create_redis

    dead = create_redis("redis://127.0.0.1:1/0")  # nothing listens there
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    limiter = RedisRateLimiter(dead, 5.0, sleep=fake_sleep)
    try:
        for _ in range(3):
            await limiter.acquire()
    finally:
        await dead.aclose()
    # the first goes at once; the next ones are scheduled ~1/5 s apart (the fake sleep does not
    # pass time, so the third waits for two slots)
    assert len(waits) == 2 and 0.15 < waits[0] <= 0.25 and 0.35 < waits[1] <= 0.5
