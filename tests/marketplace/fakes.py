"""Faithful in-memory stand-ins for the sessions engine and the YClients partner API.

`FakeSessions` follows the `SessionService` contract: desired state, a QR series that rotates on
the injected clock, scan/pairing, events to local listeners AND Redis pub/sub (like the real
manager). `FakePartner` records activation calls and can fail on purpose.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

import redis.asyncio as aioredis

from marketplace.partner import PartnerAuthError, PartnerRejectedError, PartnerTransientError
from sessions.api import CurrentQr, SessionEvent, SessionInfo, SessionListener, SessionState
from sessions.events import publish_event


class FakeSessions:
    """A SessionService whose QR rotation is driven by `rotate()` and scanning by `scan()`."""

    def __init__(self, redis: aioredis.Redis, clock: Any, *, qr_s: int = 20) -> None:
        self._redis = redis
        self._clock = clock
        self._qr_s = qr_s
        self._infos: dict[int, SessionInfo] = {}
        self._qrs: dict[int, CurrentQr] = {}
        self._listeners: list[SessionListener] = []
        self._seq = itertools.count(1)
        self.credentials: set[int] = set()
        self.calls: list[tuple[str, int]] = []

    def add_listener(self, listener: SessionListener) -> None:
        self._listeners.append(listener)

    async def _emit(self, cid: int, type_: str, data: dict[str, Any]) -> None:
        event = SessionEvent(cid, type_, data)
        for listener in self._listeners:
            await listener(event)
        await publish_event(self._redis, event)

    async def _set(self, cid: int, state: SessionState, **changes: Any) -> SessionInfo:
        info = replace(self._infos.get(cid, SessionInfo(cid, SessionState.STOPPED)), state=state, **changes)
        self._infos[cid] = info
        await self._emit(cid, "state", {"state": state.value, "reason": info.reason})
        return info

    async def info(self, company_id: int) -> SessionInfo:
        return self._infos.get(company_id, SessionInfo(company_id, SessionState.STOPPED))

    async def start(self, company_id: int) -> SessionInfo:
        self.calls.append(("start", company_id))
        if company_id in self.credentials:
            info = await self._set(company_id, SessionState.CONNECTED, desired="running")
            await self._emit(company_id, "connected", {"phone": info.phone})
            return info
        info = await self._set(company_id, SessionState.SCAN_QR, desired="running")
        await self.rotate(company_id)
        return info

    async def rotate(self, company_id: int) -> str:
        """Issue the next QR of the series (what the transport does when the previous one expires)."""
        code = f"2@fake-qr-{company_id}-{next(self._seq)},key,adv"
        self._qrs[company_id] = CurrentQr(code, self._clock.time() + self._qr_s)
        await self._emit(company_id, "qr", {"qr": code, "expires_in": self._qr_s})
        return code

    async def scan(self, company_id: int, phone: str = "+79001112233") -> None:
        """The salon's phone scans the QR."""
        self.credentials.add(company_id)
        self._qrs.pop(company_id, None)
        await self._set(company_id, SessionState.CONNECTED, phone=phone, jid=phone[1:] + "@s.whatsapp.net")
        await self._emit(company_id, "connected", {"phone": phone})

    async def stop(self, company_id: int) -> SessionInfo:
        self.calls.append(("stop", company_id))
        self._qrs.pop(company_id, None)
        return await self._set(company_id, SessionState.STOPPED, desired="stopped")

    async def logout(self, company_id: int) -> SessionInfo:
        self.calls.append(("logout", company_id))
        self.credentials.discard(company_id)
        self._qrs.pop(company_id, None)
        return await self._set(company_id, SessionState.LOGGED_OUT, desired="stopped", phone=None, jid=None)

    async def current_qr(self, company_id: int) -> CurrentQr | None:
        qr = self._qrs.get(company_id)
        return qr if qr and qr.expires_at > self._clock.time() else None

    async def request_qr(self, company_id: int) -> SessionInfo:
        self.calls.append(("request_qr", company_id))
        info = await self._set(company_id, SessionState.SCAN_QR, desired="running")
        await self.rotate(company_id)
        return info

    async def request_pairing_code(self, company_id: int, phone: str) -> tuple[str, int]:
        code = "ABCD-EFGH"
        await self._set(company_id, SessionState.PAIRING)
        await self._emit(company_id, "pairing_code", {"code": code, "expires_in": 60})
        return code, 60


@dataclass
class FakePartner:
    """Records what YClients would receive; `fail_with` queues errors for the next activations."""

    activations: list[dict[str, Any]] = field(default_factory=list)
    fail_with: list[Exception] = field(default_factory=list)
    installed: set[int] = field(default_factory=set)
    companies: dict[int, dict[str, Any]] = field(default_factory=dict)
    status_of: dict[int, str | Exception] = field(default_factory=dict)  # status route overrides (or errors)

    async def activate(self, salon_id: int, application_id: int, api_key: str, webhook_urls: list[str]) -> None:
        self.activations.append({"salon_id": salon_id, "application_id": application_id, "api_key": api_key,
                                 "webhook_urls": webhook_urls})
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.installed.add(salon_id)

    async def application_status(self, salon_id: int, application_id: int) -> str | None:
        override = self.status_of.get(salon_id)
        if isinstance(override, Exception):
            raise override
        if override is not None:
            return override
        return "active" if salon_id in self.installed else "pending"

    async def company_info(self, salon_id: int) -> dict[str, Any]:
        return self.companies.get(salon_id, {})


__all__ = ["FakePartner", "FakeSessions", "PartnerAuthError", "PartnerRejectedError", "PartnerTransientError"]
