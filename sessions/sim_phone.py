"""The simulator's phone side: what a person (or a test) does on the simulated phone.

Everything is written to Redis and announced on `keys.sim_wake_channel`, so it reaches
the company's simulator transport wherever it runs (this process or an engine worker).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from sessions import keys
from sessions.jid import is_e164, phone_to_jid
from sessions.runtime import Clock
from sessions.sim import FAULT_KINDS, SimHub, default_sim_phone, load_device, new_message_id


class SimError(Exception):
    """A phone-side action that cannot be done now (`code` is a stable machine-readable name)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SimOutbound:
    """A message the bot sent, as the simulated phone of the client saw it."""

    id: str
    to: str | None
    chat: str
    text: str
    sent_at: float

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "to": self.to, "chat": self.chat, "text": self.text, "sent_at": self.sent_at}


@dataclass(frozen=True)
class SimSendCall:
    """One send_text call the simulated WhatsApp got (a resend is a second call)."""

    id: str  # the id it went out with
    requested_id: str | None  # the id the caller asked for
    chat: str
    text: str
    at: float


class SimPhone:
    """Scan, pairing confirmation, client messages, faults, and the record of what the bot sent."""

    def __init__(self, redis: aioredis.Redis, clock: Clock, hub: SimHub | None = None) -> None:
        self._redis = redis
        self._clock = clock
        self._hub = hub

    async def _wake(self, company_id: int) -> None:
        await self._redis.publish(keys.sim_wake_channel(self._redis), str(company_id))
        if self._hub is not None:
            self._hub.wake(company_id)

    async def _command(self, company_id: int, command: dict[str, Any]) -> None:
        await self._redis.rpush(keys.sim_commands(company_id), json.dumps(command, ensure_ascii=False))
        await self._wake(company_id)

    async def scan(self, company_id: int, phone: str | None = None) -> str:
        """Scan the QR on screen with `phone` (default a fixed test number); returns the phone."""
        phone = phone or default_sim_phone(company_id)
        if not is_e164(phone):
            raise SimError("invalid_phone", "phone must be E.164, e.g. +79161234567")
        if not await self._redis.exists(keys.sim_qr(company_id)):
            raise SimError("no_qr", "no QR code is on screen for this company (start the session first)")
        await self._command(company_id, {"kind": "scan", "phone": phone})
        return phone

    async def confirm_pairing(self, company_id: int, code: str | None = None) -> str:
        """Type the pairing code on the phone; returns the phone being linked."""
        raw = await self._redis.get(keys.sim_pairing(company_id))
        if raw is None:
            raise SimError("no_pairing_code", "no pairing code is pending for this company")
        pending = json.loads(raw)
        if code is not None and code.strip().upper() != pending["code"]:
            raise SimError("wrong_code", "the pairing code does not match")
        await self._command(company_id, {"kind": "pair", "code": pending["code"]})
        return str(pending["phone"])

    async def inbound(
        self,
        company_id: int,
        from_phone: str,
        text: str,
        *,
        from_me: bool = False,
        chat: str | None = None,
        message_id: str | None = None,
        push_name: str | None = None,
    ) -> str:
        """A client (or, with `from_me`, the salon's staff) writes; delivered once the session is up."""
        if not is_e164(from_phone):
            raise SimError("invalid_phone", "'from' must be an E.164 phone, e.g. +79161234567")
        if not text.strip():
            raise SimError("empty_text", "'text' must not be empty")
        if await load_device(self._redis, company_id) is None:
            raise SimError("not_linked", "the salon's WhatsApp is not linked (scan the QR first)")
        mid = message_id or new_message_id()
        record = {
            "id": mid,
            "from": from_phone,
            "chat": chat or phone_to_jid(from_phone),
            "text": text,
            "ts": self._clock.time(),
            "from_me": from_me,
            "push_name": push_name,
        }
        await self._redis.rpush(keys.sim_inbox(company_id), json.dumps(record, ensure_ascii=False))
        await self._wake(company_id)
        return mid

    async def fault(self, company_id: int, kind: str, *, count: int = 1, expires_in_s: float = 3600.0) -> None:
        """Inject a fault: disconnect (transient; `count` connection attempts fail), logout, ban, replaced,
        outdated, pairing_failed (a non-transient disconnect)."""
        if kind not in FAULT_KINDS:
            raise SimError("invalid_fault", f"kind must be one of {sorted(FAULT_KINDS)}")
        if count < 1 or count > 1000:
            raise SimError("invalid_count", "count must be 1..1000")
        await self._command(company_id, {"kind": kind, "count": count, "expires_in_s": expires_in_s})

    async def outbound(self, company_id: int, to: str | None = None) -> list[SimOutbound]:
        """What the bot sent (optionally only to phone `to`), oldest first."""
        items = []
        for raw in await self._redis.lrange(keys.sim_outbound(company_id), 0, -1):
            m = json.loads(raw)
            if to is None or m.get("to") == to:
                items.append(SimOutbound(m["id"], m.get("to"), m["chat"], m["text"], float(m["sent_at"])))
        return items

    async def send_calls(self, company_id: int, to: str | None = None) -> list[SimSendCall]:
        """Every send_text call a connected session got (duplicates included), oldest first."""
        calls = []
        for raw in await self._redis.lrange(keys.sim_send_calls(company_id), 0, -1):
            m = json.loads(raw)
            if to is None or m.get("to") == to:
                calls.append(SimSendCall(m["id"], m.get("requested_id"), m["chat"], m["text"], float(m["at"])))
        return calls

    async def hold_sends(self, company_id: int, chat: str, *, after_delivery: bool = True) -> None:
        """Test hook: sends to `chat` hang until `release_sends` — after reaching the client (the
        caller cannot tell it was delivered) or before."""
        await self._redis.hset(keys.sim_send_hold(company_id), chat, "after" if after_delivery else "before")

    async def held_sends(self, company_id: int) -> int:
        """How many sends hang right now."""
        return int(await self._redis.scard(keys.sim_send_held(company_id)))

    async def release_sends(self, company_id: int) -> None:
        """Sends hang no more; the hanging ones return."""
        held = await self.held_sends(company_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.sim_send_hold(company_id))
            if held:
                pipe.rpush(keys.sim_send_release(company_id), *(["go"] * held))
                pipe.expire(keys.sim_send_release(company_id), 60)
            await pipe.execute()

    async def typing(self, company_id: int) -> list[str]:
        """Chats the bot showed 'typing…' in (most recent last)."""
        return [str(c) for c in await self._redis.lrange(keys.sim_typing(company_id), 0, -1)]

    async def presence(self, company_id: int) -> list[tuple[str, str, float]]:
        """(chat, 'composing' | 'paused', at) the bot sent, oldest first."""
        items = [json.loads(raw) for raw in await self._redis.lrange(keys.sim_presence(company_id), 0, -1)]
        return [(str(m["chat"]), str(m["state"]), float(m["at"])) for m in items]

    async def linked_phone(self, company_id: int) -> str | None:
        device = await load_device(self._redis, company_id)
        return device.phone if device else None
