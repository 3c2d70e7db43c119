"""The simulator transport on its own, as an engine worker hosts it: own Redis client, no spawner,
phone side reached only through Redis pub/sub."""

from __future__ import annotations

import asyncio

from gateway.clock import FakeClock
from gateway.redis_client import create_redis
from sessions.config import SimConfig
from sessions.sim import SimTransportFactory
from sessions.sim_phone import SimPhone
from sessions.transport import Connected, IncomingText, NotConnectedError, QrCode, TransportEvent


async def next_event(events, timeout_s: float = 10.0) -> TransportEvent:  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(events.__anext__(), timeout_s)


async def test_worker_style_transport_scan_inbound_and_dedupe(redis, redis_url: str, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    worker_redis = create_redis(redis_url)  # what a worker process would open for itself
    factory = SimTransportFactory(worker_redis, clock=clock, qr_first_s=30, qr_count=2)
    assert factory.config == SimConfig(qr_first_s=30, qr_count=2)
    phone = SimPhone(redis, clock)  # the daemon side: no shared hub, pub/sub only
    transport = factory.create(41)
    try:
        await transport.start()
        events = transport.events().__aiter__()
        qr = await next_event(events)
        assert isinstance(qr, QrCode) and qr.expires_in_s == 30 and qr.index == 0
        try:
            await transport.send_text("79160000000@s.whatsapp.net", "рано")
            raise AssertionError("sent while not linked")
        except NotConnectedError:
            pass

        await phone.scan(41, "+79995550000")
        linked = await next_event(events)
        assert isinstance(linked, Connected) and linked.phone == "+79995550000"

        mid = await phone.inbound(41, "+79161234567", "Добрый день")
        incoming = await next_event(events)
        assert isinstance(incoming, IncomingText)
        assert (incoming.message_id, incoming.chat, incoming.sender_phone, incoming.from_me) == (
            mid, "79161234567@s.whatsapp.net", "+79161234567", False)

        first = await transport.send_text(incoming.chat, "Здравствуйте!", message_id="3EB0FIXED")
        again = await transport.send_text(incoming.chat, "Здравствуйте!", message_id="3EB0FIXED")
        assert first == again == "3EB0FIXED"
        assert [m.text for m in await phone.outbound(41, to="+79161234567")] == ["Здравствуйте!"]  # deduped by id
    finally:
        await transport.stop()
        await factory.close()
        await worker_redis.aclose()
    # A new transport (a restarted worker) resumes the linked device without a scan.
    again_factory = SimTransportFactory(redis, clock=clock)
    resumed = again_factory.create(41)
    try:
        await resumed.start()
        event = await next_event(resumed.events().__aiter__())
        assert isinstance(event, Connected) and event.phone == "+79995550000"
    finally:
        await resumed.stop()
        await again_factory.close()
