"""The WhatsApp transport protocol (DESIGN.md section 7) and the events a transport emits.

A transport drives one WhatsApp session for one company. The simulator and neonize transports
implement it; so does the proxy that talks to a transport inside an engine worker process.
Events are frozen dataclasses delivered through `events()`, an async iterator that ends when the
transport stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


class TransportError(Exception):
    """Base of transport failures."""


class NotSentError(TransportError):
    """A send that certainly did not reach WhatsApp (refused before the wire, or rejected by the
    server, e.g. rate-overlimit): safe to retry."""


class NotConnectedError(NotSentError):
    """The session is not connected (not paired yet, or down): nothing was sent."""


class SendOutcomeUnknownError(TransportError):
    """The send may or may not have reached WhatsApp (it timed out, or the process doing it died).

    Any send failure that is not a `NotSentError` is treated this way.
    """


class PairingNotSupportedError(TransportError):
    """The transport or the current state cannot produce a pairing code."""


@dataclass(frozen=True)
class QrCode:
    """A QR string to render; valid for `expires_in_s` seconds from `issued_at` (unix seconds)."""

    code: str
    expires_in_s: float
    issued_at: float
    index: int = 0  # 0 for the first QR of a series


@dataclass(frozen=True)
class QrSeriesExpired:
    """Nobody scanned any QR of the series (about 160 s with WhatsApp's timings)."""


@dataclass(frozen=True)
class PairingCode:
    """A code to type into WhatsApp → Linked devices → Link with phone number."""

    code: str
    expires_in_s: float


@dataclass(frozen=True)
class Connected:
    """The session is logged in and usable. `phone` is E.164 with '+'."""

    jid: str
    phone: str


@dataclass(frozen=True)
class IncomingText:
    """A text message seen by the session (including our own echoes, flagged `from_me`)."""

    chat: str  # chat JID, e.g. 79161234567@s.whatsapp.net or ...@g.us
    sender: str  # sender JID
    message_id: str  # WhatsApp message id (unique per chat)
    text: str
    timestamp: float  # unix seconds
    from_me: bool = False
    is_group: bool = False
    is_status: bool = False  # status@broadcast
    sender_phone: str | None = None  # E.164 when known (a @lid sender may not have one)
    push_name: str | None = None


@dataclass(frozen=True)
class Disconnected:
    """The connection dropped. Transient ones are retried with backoff."""

    reason: str
    transient: bool = True


@dataclass(frozen=True)
class LoggedOut:
    """The device was unlinked (from the phone, or by our own logout). Terminal."""

    reason: str = "logged_out"


@dataclass(frozen=True)
class TemporaryBan:
    """WhatsApp banned the number for a while. Terminal until `expires_at` (unix seconds)."""

    code: str
    expires_at: float | None = None


@dataclass(frozen=True)
class ClientOutdated:
    """WhatsApp refused our client version. Terminal until the software is updated."""


@dataclass(frozen=True)
class StreamReplaced:
    """Another client took over this session (WhatsApp error 440). Terminal."""


TransportEvent = (
    QrCode
    | QrSeriesExpired
    | PairingCode
    | Connected
    | IncomingText
    | Disconnected
    | LoggedOut
    | TemporaryBan
    | ClientOutdated
    | StreamReplaced
)


class Transport(Protocol):
    """One WhatsApp session. All methods are safe to call from the event loop."""

    company_id: int
    @property
    def idempotent_send(self) -> bool:
        """True when a resend with the same `message_id` can never reach the client twice.

        The transport or the receiver drops the copy: the simulator can; neonize 0.5.2 cannot
        choose the WhatsApp id, so a send whose outcome is unknown must not be repeated with it.
        """

    async def start(self) -> None:
        """Connect: resume a stored device, or begin a QR series when there is none."""

    async def request_pairing_code(self, phone: str) -> PairingCode:
        """Ask for a pairing code for `phone` (E.164) instead of the QR."""

    async def send_text(self, chat: str, text: str, message_id: str | None = None) -> str:
        """Send a text; returns the WhatsApp id it went out with.

        Raises NotConnectedError when down and NotSentError when the message certainly did not
        leave; any other error means the outcome is unknown. `message_id` is the id to send with
        where the transport can choose it (`idempotent_send`); others send with their own id and
        return it.
        """

    async def send_typing(self, chat: str, typing: bool = True) -> None:
        """Show (or clear) the typing indicator in `chat`."""

    async def mark_read(self, chat: str, message_ids: list[str], sender: str) -> None:
        """Mark messages as read."""

    async def logout(self) -> None:
        """Unlink the device (credentials are gone afterwards); emits LoggedOut."""

    async def stop(self) -> None:
        """Disconnect, keeping credentials; idempotent; ends `events()`."""

    def events(self) -> AsyncIterator[TransportEvent]:
        """The transport's events, in order, until it stops."""


class TransportFactory(Protocol):
    """Creates the transport of a company (in-process or proxied to an engine worker)."""

    @property
    def idempotent_send(self) -> bool:
        """What the transports it creates declare."""

    def create(self, company_id: int) -> Transport:
        """A new, not yet started transport for `company_id`."""

    async def forget(self, company_id: int) -> None:
        """Delete the stored WhatsApp credentials of `company_id` (uninstall)."""
