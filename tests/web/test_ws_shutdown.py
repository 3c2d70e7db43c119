"""The WebSocket hub's subscriber ends in bounded time even when Redis will not let go."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import redis.asyncio as aioredis

from web.ws import WsHub


class _HangingClosePubSub:
    """A real subscription whose `aclose` never returns (a wedged connection)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def aclose(self) -> None:
        await asyncio.Event().wait()


class _Redis:
    def __init__(self, inner: aioredis.Redis) -> None:
        self._inner = inner
        self.pubsubs: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def pubsub(self, **kwargs: Any) -> _HangingClosePubSub:
        inner = self._inner.pubsub(**kwargs)
        self.pubsubs.append(inner)
        return _HangingClosePubSub(inner)


async def test_hub_run_ends_when_cancelled_even_if_pubsub_close_hangs(redis: aioredis.Redis) -> None:
    hub = WsHub(cast(Any, None))
    hub.close_timeout_s = 0.05
    wrapped = _Redis(redis)
    task = asyncio.create_task(hub.run(cast(aioredis.Redis, wrapped)))
    await asyncio.wait_for(hub.subscribed.wait(), 10)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    try:
        assert task in done, "the hub's run loop hung in its cleanup"
        assert task.cancelled()
        assert not hub.subscribed.is_set()
    finally:
        for pubsub in wrapped.pubsubs:
            await pubsub.aclose()


class _SlowPeerSocket:
    """A socket whose close waits for the peer's close frame (here: until every socket is closing)."""

    def __init__(self, all_closing: asyncio.Event, closing: list[object], total: int) -> None:
        self._all_closing, self._closing, self._total = all_closing, closing, total
        self.closed_with: int | None = None

    async def close(self, *, code: int, message: bytes) -> bool:
        self._closing.append(self)
        if len(self._closing) == self._total:
            self._all_closing.set()
        await self._all_closing.wait()
        self.closed_with = code
        return True


async def test_close_all_closes_sockets_together_not_one_after_another() -> None:
    hub = WsHub(cast(Any, None))
    all_closing, closing = asyncio.Event(), []  # type: ignore[var-annotated]
    sockets = [_SlowPeerSocket(all_closing, closing, 3) for _ in range(3)]
    for company, ws in zip((1, 1, 2), sockets):
        hub.add(company, cast(Any, ws))
    await asyncio.wait_for(hub.close_all(), 5)  # one by one, the first close would wait forever
    assert [ws.closed_with for ws in sockets] == [1001, 1001, 1001]


class _StalledPeer:
    """A peer that stopped reading: sending blocks on the full buffer forever."""

    closed = False

    async def send_str(self, data: str) -> None:
        await asyncio.Event().wait()


class _ListeningPeer:
    closed = False

    def __init__(self) -> None:
        self.received: list[str] = []

    async def send_str(self, data: str) -> None:
        self.received.append(data)


async def test_a_stalled_peer_does_not_stall_the_hub(monkeypatch: Any) -> None:
    from sessions.api import SessionEvent
    from web import ws as ws_module

    monkeypatch.setattr(ws_module, "SEND_TIMEOUT_S", 0.05)
    hub = WsHub(cast(Any, None))
    stalled, listening = _StalledPeer(), _ListeningPeer()
    hub.add(5, cast(Any, stalled))
    hub.add(5, cast(Any, listening))
    await hub.release(cast(Any, stalled))
    await hub.release(cast(Any, listening))
    event = SessionEvent(5, "state", {"state": "SCAN_QR", "reason": None})
    await asyncio.wait_for(hub.dispatch(event), 5)  # blocked forever on the first socket before
    assert len(listening.received) == 1 and '"SCAN_QR"' in listening.received[0]
