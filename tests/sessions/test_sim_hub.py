"""SimHub start/close: nobody waits forever on a subscription that never came."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import redis.asyncio as aioredis

from sessions.sim import SimHub


class _SlowSubscribe:
    """Pub/sub whose `subscribe` blocks until released (Redis slow to answer)."""

    def __init__(self, inner: Any, release: asyncio.Event, entered: asyncio.Event) -> None:
        self._inner, self._release, self._entered = inner, release, entered

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def subscribe(self, *channels: str) -> None:
        self._entered.set()
        await self._release.wait()
        await self._inner.subscribe(*channels)


class _Redis:
    def __init__(self, inner: aioredis.Redis) -> None:
        self._inner = inner
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def pubsub(self, **kwargs: Any) -> _SlowSubscribe:
        return _SlowSubscribe(self._inner.pubsub(**kwargs), self.release, self.entered)


async def test_closing_the_hub_before_it_subscribed_releases_ensure_started(redis: aioredis.Redis) -> None:
    wrapped = _Redis(redis)
    hub = SimHub(cast(aioredis.Redis, wrapped))
    starting = asyncio.create_task(hub.ensure_started())
    await asyncio.wait_for(wrapped.entered.wait(), 5)
    await hub.close()
    done, _ = await asyncio.wait({starting}, timeout=5)
    assert starting in done, "ensure_started hung after the hub was closed"
    starting.result()


async def test_a_second_caller_waits_for_the_same_subscription(redis: aioredis.Redis) -> None:
    wrapped = _Redis(redis)
    hub = SimHub(cast(aioredis.Redis, wrapped))
    first = asyncio.create_task(hub.ensure_started())
    await asyncio.wait_for(wrapped.entered.wait(), 5)
    second = asyncio.create_task(hub.ensure_started())
    for _ in range(20):
        await asyncio.sleep(0)  # let it run as far as it can
    assert not second.done(), "the second caller returned before the subscription was active"
    wrapped.release.set()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    await hub.close()
