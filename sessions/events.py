"""Session events on the wire: JSON encoding and Redis pub/sub fan-out to every instance."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from sessions import keys
from sessions.aio import close_within
from sessions.api import SessionEvent


def encode_event(event: SessionEvent) -> str:
    """The JSON form published on `keys.events_channel`."""
    return json.dumps({"company_id": event.company_id, "type": event.type, "data": event.data}, ensure_ascii=False)


def decode_event(raw: str | bytes) -> SessionEvent | None:
    """Parse a published event; None for anything malformed."""
    try:
        obj = json.loads(raw)
        return SessionEvent(company_id=int(obj["company_id"]), type=str(obj["type"]), data=dict(obj.get("data") or {}))
    except (ValueError, KeyError, TypeError):
        return None


async def publish_event(redis: aioredis.Redis, event: SessionEvent) -> None:
    """Fan an event out to every instance."""
    await redis.publish(keys.events_channel(redis), encode_event(event))


async def subscribe_events(redis: aioredis.Redis) -> AsyncIterator[SessionEvent]:
    """Events of all instances, until cancelled."""
    channel = keys.events_channel(redis)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    try:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            event = decode_event(message["data"])
            if event is not None:
                yield event
    finally:
        await close_within(pubsub.unsubscribe(channel), "events_unsubscribe")
        await close_within(pubsub.aclose(), "events_pubsub")
