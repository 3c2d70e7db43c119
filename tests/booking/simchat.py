"""Chatting with the bot like a client, two ways, with the same scenario code:

- `AppChat`: the real app in demo mode, through the simulator API (POST /sim/{id}/inbound,
  GET /sim/{id}/outbound), the sessions inbox and outbox, and the mounted YClients sandbox;
- `PipeChat`: the booking pipeline alone (BookingHandler + real NLU + the sandbox on loopback),
  replies read from an in-memory outbox.

Time moves only on the FakeClock: after a client's message the harness waits (bounded, for I/O
only) until the message reached the booking inbox, advances the clock past the debounce window,
lets the turn finish, runs the outbox once and reads what the bot sent to that phone.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from booking.pipeline import BookingHandler
from gateway.appkeys import POOL
from gateway.clock import FakeClock
from sessions.api import InboundMessage
from tests.booking.fakes import FakeHandoff, FakeOutbox
from tests.conftest import app_of

DEMO_SALON = 962302
IO_WAIT_S = 10.0


def lookup_key(module: str, *names: str) -> Any:
    """An AppKey another package defines (None when that package has not wired it)."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    for name in names:
        key = getattr(mod, name, None)
        if key is not None:
            return key
    return None


async def until(predicate: Any, what: str, timeout_s: float = IO_WAIT_S) -> Any:
    """Wait for asynchronous I/O (pub/sub, HTTP) to land; never used to let time pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def _messages(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    for name in ("messages", "outbound", "data", "items"):
        if isinstance(body.get(name), list):
            return list(body[name])
    return []


@dataclass
class Chat:
    """What both harnesses share: the sandbox view and the answer bookkeeping."""

    clock: FakeClock
    pool: asyncpg.Pool
    sandbox: Any
    company_id: int
    salon_id: int = DEMO_SALON
    seen: dict[str, int] = field(default_factory=dict)
    last_count: int = 0  # how many messages the last answer had

    @property
    def salon(self) -> Any:
        return self.sandbox.salons[self.salon_id]

    async def _inbox_count(self) -> int:
        return int(await self.pool.fetchval(
            "SELECT count(*) FROM booking_inbox WHERE company_id = $1", self.company_id))

    def records_of(self, phone_digits: str) -> list[Any]:
        """Live sandbox records of the client with this phone."""
        clients = {c.id for c in self.salon.clients.values() if c.phone == phone_digits}
        return sorted(
            (r for r in self.salon.records.values()
             if r.client_id in clients and not r.deleted and r.attendance != -1),
            key=lambda r: r.start,
        )

    # --- implemented by each harness -----------------------------------------------------
    async def _post(self, phone: str, text: str) -> None:
        raise NotImplementedError

    async def _sent_to(self, phone: str) -> list[str]:
        raise NotImplementedError

    async def _deliver(self) -> None:
        raise NotImplementedError

    @property
    def handler(self) -> BookingHandler:
        raise NotImplementedError

    # --- the client's side ---------------------------------------------------------------
    async def _stored_elsewhere(self, text: str) -> bool:
        """True once a message that does not reach the bot (paused chat) was taken in."""
        return await self._inbox_count() > 0

    async def send(self, phone: str, *texts: str, reaches_bot: bool = True) -> None:
        """The client types these messages in a row (one burst, inside the debounce window)."""
        for text in texts:
            before = await self._inbox_count()
            await self._post(phone, text)

            async def arrived(before: int = before, text: str = text) -> bool:
                if not reaches_bot:
                    return await self._stored_elsewhere(text)
                # Stored AND the chat's debounce timer armed (else advancing the clock could miss it).
                return (await self._inbox_count() > before
                        and self.handler.is_waiting(self.company_id, f"{phone[1:]}@s.whatsapp.net"))

            await until(arrived, f"inbound {text!r}")
            await self.clock.advance(0.3)

    async def answer(self, phone: str, *, expect: bool = True) -> str:
        """Let the debounce window pass and return what the bot sent since the last call."""
        await self.clock.advance(self.handler.config.debounce_s + 0.1)
        await self.handler.wait_idle()
        await self.clock.advance(1.1)  # the outbox's per-chat spacing
        await self._deliver()
        start = self.seen.get(phone, 0)
        if not expect:
            return "\n".join((await self._sent_to(phone))[start:])

        async def fresh() -> list[str]:
            await self._deliver()
            got = await self._sent_to(phone)
            if len(got) <= start:
                # A reply may wait on the outbox's send spacing: let a little time pass.
                await self.clock.advance(0.2)
                await self.handler.wait_idle()
            return got[start:]

        new = await until(fresh, f"reply to {phone}")
        self.seen[phone] = start + len(new)
        self.last_count = len(new)
        return "\n".join(new)

    async def say(self, phone: str, *texts: str) -> str:
        """Send a burst and return the bot's answer to it."""
        await self.send(phone, *texts)
        return await self.answer(phone)


@dataclass
class AppChat(Chat):
    """The real app: simulator API, sessions inbox/outbox, mounted sandbox."""

    client: TestClient | None = None

    @property
    def app(self) -> Any:
        assert self.client is not None
        return app_of(self.client)

    @property
    def handler(self) -> BookingHandler:
        from gateway.wiring.booking import BOOKING_HANDLER

        return self.app[BOOKING_HANDLER]

    @classmethod
    async def start(cls, client: TestClient, clock: FakeClock, salon_id: int = DEMO_SALON) -> AppChat:
        """Connect the salon's simulated WhatsApp (the demo salon is registered by demo mode)."""
        app = app_of(client)
        pool = app[POOL]

        async def company() -> Any:
            return await pool.fetchval("SELECT id FROM companies WHERE salon_id = $1", salon_id)

        company_id = int(await until(company, f"company of salon {salon_id}"))
        sessions = app[lookup_key("gateway.wiring.sessions", "SESSION_MANAGER", "SESSIONS", "SESSION_SERVICE")]
        if salon_id != DEMO_SALON:
            await sessions.start(company_id)  # demo mode starts the demo salon's session itself

        async def scanned() -> bool:
            # The session shows its first QR asynchronously after start: scan once one is on screen.
            if await sessions.current_qr(company_id) is None:
                return False
            resp = await client.post(f"/sim/{company_id}/scan", json={})
            assert resp.status in (200, 409), await resp.text()
            return resp.status == 200

        await until(scanned, f"scan of company {company_id}")

        async def connected() -> bool:
            return bool((await sessions.info(company_id)).connected)

        await until(connected, f"WhatsApp of company {company_id} connected")
        sandbox = app[lookup_key("sync.appkeys", "YCLIENTS_SANDBOX")]
        return cls(clock, pool, sandbox, company_id, salon_id, client=client)

    async def open_salon(self, salon_id: int) -> AppChat:
        """Another salon of the same app (its company row must exist)."""
        assert self.client is not None
        return await AppChat.start(self.client, self.clock, salon_id)

    async def _stored_elsewhere(self, text: str) -> bool:
        # A paused chat: the sessions inbox stores and closes the message without calling the bot.
        return bool(await self.pool.fetchval(
            "SELECT handled_at IS NOT NULL FROM messages WHERE company_id = $1 AND direction = 'in' AND text = $2 "
            "ORDER BY id DESC LIMIT 1", self.company_id, text))

    async def _post(self, phone: str, text: str) -> None:
        assert self.client is not None
        resp = await self.client.post(f"/sim/{self.company_id}/inbound", json={"from": phone, "text": text})
        assert resp.status in (200, 201, 202), await resp.text()

    async def _sent_to(self, phone: str) -> list[str]:
        assert self.client is not None
        resp = await self.client.get(f"/sim/{self.company_id}/outbound", params={"to": phone})
        assert resp.status == 200, await resp.text()
        return [str(m.get("text", "")) for m in _messages(await resp.json())]

    async def _deliver(self) -> None:
        outbox = self.app[lookup_key("gateway.wiring.sessions", "OUTBOX", "OUTBOX_SENDER")]
        await outbox.run_once()


@dataclass
class PipeChat(Chat):
    """The booking pipeline over the sandbox, without the WhatsApp side."""

    pipe: BookingHandler | None = None
    outbox: FakeOutbox = field(default_factory=FakeOutbox)
    handoff: FakeHandoff = field(default_factory=FakeHandoff)
    next_id: list[int] = field(default_factory=lambda: [0])

    @property
    def handler(self) -> BookingHandler:
        assert self.pipe is not None
        return self.pipe

    async def open_salon(self, salon_id: int) -> PipeChat:
        company_id = int(await self.pool.fetchval("SELECT id FROM companies WHERE salon_id = $1", salon_id))
        return PipeChat(self.clock, self.pool, self.sandbox, company_id, salon_id, pipe=self.pipe,
                        outbox=self.outbox, handoff=self.handoff, next_id=self.next_id)

    async def _post(self, phone: str, text: str) -> None:
        self.next_id[0] += 1
        mid = self.next_id[0]
        await self.handler.handle(InboundMessage(
            id=mid, company_id=self.company_id, chat=f"{phone[1:]}@s.whatsapp.net", sender_phone=phone,
            wa_message_id=f"pipe-{mid}", text=text, received_at=self.clock.now(),
        ))

    async def _sent_to(self, phone: str) -> list[str]:
        chat = f"{phone[1:]}@s.whatsapp.net"
        return [t for cid, c, t, _ in self.outbox.sent if c == chat and cid == self.company_id]

    async def _deliver(self) -> None:
        return None
