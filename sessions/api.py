"""What other packages use of the sessions engine: the service, its events, the handler hook.

`marketplace` and `web` drive sessions through `SessionService`; `booking` implements
`MessageHandler` and sends through `OutboxSender`. Everything is keyed by our `company_id`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class SessionState(str, enum.Enum):
    """The states of DESIGN.md section 7."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    SCAN_QR = "SCAN_QR"
    PAIRING = "PAIRING"
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"  # transient, backing off
    QR_EXPIRED = "QR_EXPIRED"  # nobody scanned; waits for a new request
    LOGGED_OUT = "LOGGED_OUT"
    REPLACED = "REPLACED"
    BANNED = "BANNED"
    CLIENT_OUTDATED = "CLIENT_OUTDATED"
    FAILED = "FAILED"


TERMINAL_STATES = frozenset(
    {SessionState.LOGGED_OUT, SessionState.REPLACED, SessionState.BANNED, SessionState.CLIENT_OUTDATED,
     SessionState.FAILED}
)


@dataclass(frozen=True)
class SessionInfo:
    """A snapshot of one company's session, as stored."""

    company_id: int
    state: SessionState
    reason: str | None = None
    desired: str = "stopped"  # "running" | "stopped"
    phone: str | None = None  # E.164 with '+'
    jid: str | None = None
    attempts: int = 0
    last_error: str | None = None
    connected_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def connected(self) -> bool:
        return self.state is SessionState.CONNECTED


@dataclass(frozen=True)
class CurrentQr:
    """The QR to show now: `code` is the raw QR string (render it to PNG for the page)."""

    code: str
    expires_at: float  # unix seconds

    def expires_in_s(self, now_s: float) -> int:
        return max(0, round(self.expires_at - now_s))


@dataclass(frozen=True)
class SessionEvent:
    """Published on every transition and QR/pairing update, in-process and over Redis pub/sub.

    `type` is one of: "state", "qr", "pairing_code", "connected" (the WebSocket message types of
    DESIGN.md section 6); `data` carries that message's fields (state/reason, qr string and
    expires_in, code and expires_in, phone).
    """

    company_id: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)


SessionListener = Callable[[SessionEvent], Awaitable[None]]


class SessionService(Protocol):
    """The sessions engine as other packages see it."""

    async def start(self, company_id: int) -> SessionInfo:
        """Mark the session desired-running and start it (a new QR series if not paired)."""

    async def stop(self, company_id: int) -> SessionInfo:
        """Mark it desired-stopped and disconnect, keeping credentials."""

    async def logout(self, company_id: int) -> SessionInfo:
        """Unlink the device and delete its credentials; desired-stopped."""

    async def info(self, company_id: int) -> SessionInfo:
        """The stored state (STOPPED for a company that never had a session)."""

    async def current_qr(self, company_id: int) -> CurrentQr | None:
        """The QR currently valid for this company, from any instance (Redis), or None."""

    async def request_qr(self, company_id: int) -> SessionInfo:
        """Start a fresh QR series (after QR_EXPIRED, or a terminal state the salon resolved)."""

    async def request_pairing_code(self, company_id: int, phone: str) -> tuple[str, int]:
        """A pairing code for `phone` and its validity in seconds."""

    def add_listener(self, listener: SessionListener) -> None:
        """Call `listener` for every event of sessions owned by this instance."""


@dataclass(frozen=True)
class InboundMessage:
    """A client's message, already persisted in `messages`, handed to the message handler."""

    id: int  # our messages.id
    company_id: int
    chat: str  # chat JID
    sender_phone: str | None  # E.164 with '+', when known
    wa_message_id: str
    text: str
    received_at: datetime
    push_name: str | None = None


class MessageHandler(Protocol):
    """Implemented by the booking handler; the sessions engine calls it for each client message."""

    async def handle(self, message: InboundMessage) -> None:
        """Process one inbound message (replies go through the outbox)."""


class OutboxSender(Protocol):
    """Durable sending: enqueue a message; the engine delivers it once, with rate limits."""

    async def enqueue(
        self, company_id: int, chat: str, text: str, *, idempotency_key: str, kind: str = "reply"
    ) -> int | None:
        """Queue `text` for `chat`; returns the outbox id, or None when the key was already used."""
