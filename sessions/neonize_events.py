"""Map neonize 0.5.2 event objects (protobufs of `neonize.proto.Neonize_pb2`) to our transport events.

Pure functions, no I/O: the neonize transport calls them on the library's threads. Importing this
module imports neonize (which calls `logging.basicConfig`): configure logging first.
"""

from __future__ import annotations

import time

from neonize.proto import Neonize_pb2 as pb
from neonize.utils.jid import Jid2String

from sessions.jid import jid_to_phone
from sessions.transport import (
    ClientOutdated,
    Connected,
    Disconnected,
    IncomingText,
    LoggedOut,
    NotConnectedError,
    NotSentError,
    QrCode,
    SendOutcomeUnknownError,
    StreamReplaced,
    TemporaryBan,
    TransportError,
    TransportEvent,
)

QR_FIRST_S = 60.0  # whatsmeow: the first code of a series is valid 60 s ...
QR_NEXT_S = 20.0  # ... the next five 20 s each
STATUS_BROADCAST = "status@broadcast"


def jid_str(jid: pb.JID) -> str:
    """'79161234567@s.whatsapp.net' (with ':device' when set); '' for an empty JID."""
    if not jid.User and not jid.Server:
        return ""
    return str(Jid2String(jid))


def qr_event(code: bytes | str, index: int, now_s: float | None = None) -> QrCode:
    """The `index`-th QR string of a series, with whatsmeow's validity."""
    text = code.decode() if isinstance(code, bytes) else code
    return QrCode(code=text, expires_in_s=QR_FIRST_S if index == 0 else QR_NEXT_S,
                  issued_at=time.time() if now_s is None else now_s, index=index)


def connected_event(jid: str) -> Connected:
    """Connected with the phone taken from our own JID ('79161234567:12@s.whatsapp.net')."""
    return Connected(jid=jid, phone=jid_to_phone(jid) or "")


def paired_jid(ev: pb.PairStatus) -> str | None:
    """The JID a successful pairing gave us; None for a failed one."""
    if ev.Error or ev.Status == pb.PairStatus.ERROR:
        return None
    return jid_str(ev.ID) or None


def pair_error(ev: pb.PairStatus) -> Disconnected | None:
    """A failed pairing (e.g. a linking check we cannot pass) as a clear, non-transient error."""
    if ev.Error or ev.Status == pb.PairStatus.ERROR:
        return Disconnected(reason=f"pairing_failed: {ev.Error or 'unknown'}", transient=False)
    return None


def message_event(ev: pb.Message) -> IncomingText | None:
    """A text (plain or extended) message; None for media and everything else we do not handle."""
    msg = ev.Message
    if msg.conversation:
        text = msg.conversation
    elif msg.extendedTextMessage.text:
        text = msg.extendedTextMessage.text
    else:
        return None
    info = ev.Info
    source = info.MessageSource
    chat = jid_str(source.Chat)
    sender = jid_str(source.Sender)
    phone = jid_to_phone(sender)
    if phone is None and source.HasField("SenderAlt"):  # a @lid sender: the phone JID rides along
        phone = jid_to_phone(jid_str(source.SenderAlt))
    timestamp = float(info.Timestamp)
    if timestamp > 1e11:  # milliseconds
        timestamp /= 1000.0
    return IncomingText(
        chat=chat, sender=sender, message_id=info.ID, text=text, timestamp=timestamp,
        from_me=bool(source.IsFromMe), is_group=bool(source.IsGroup) or chat.endswith("@g.us"),
        is_status=chat == STATUS_BROADCAST, sender_phone=phone, push_name=info.Pushname or None,
    )


def _reason_name(value: int) -> str:
    try:
        return str(pb.ConnectFailureReason.Name(value)).lower()
    except ValueError:
        return f"reason_{value}"


def logged_out_event(ev: pb.LoggedOut) -> LoggedOut:
    """Unlinked from the phone (or by WhatsApp)."""
    return LoggedOut(reason=_reason_name(ev.Reason) if ev.Reason else "logged_out")


def temporary_ban_event(ev: pb.TemporaryBan, now_s: float | None = None) -> TemporaryBan:
    """Banned for `Expire` seconds."""
    try:
        code = str(pb.TemporaryBan.TempBanReason.Name(ev.Code))
    except ValueError:
        code = f"BAN_{ev.Code}"
    now = time.time() if now_s is None else now_s
    return TemporaryBan(code=code, expires_at=now + ev.Expire if ev.Expire else None)


def connect_failure_event(ev: pb.ConnectFailure) -> TransportEvent:
    """WhatsApp refused the connection: terminal reasons map to their own events."""
    if ev.Reason in (pb.LOGGED_OUT, pb.MAIN_DEVICE_GONE, pb.UNKNOWN_LOGOUT):
        return LoggedOut(reason=_reason_name(ev.Reason))
    if ev.Reason == pb.TEMP_BANNED:
        return TemporaryBan(code="TEMP_BANNED")
    if ev.Reason == pb.CLIENT_OUTDATED:
        return ClientOutdated()
    detail = f" {ev.Message}" if ev.Message else ""
    return Disconnected(reason=f"connect_failure: {_reason_name(ev.Reason)}{detail}", transient=True)


def simple_event(ev: object) -> TransportEvent | None:
    """Events without payload we care about."""
    if isinstance(ev, pb.ClientOutdated):
        return ClientOutdated()
    if isinstance(ev, pb.StreamReplaced):
        return StreamReplaced()
    if isinstance(ev, pb.KeepAliveTimeout):
        return Disconnected(reason="keepalive_timeout", transient=True)
    if isinstance(ev, pb.Disconnected):
        return Disconnected(reason="disconnected", transient=True)
    if isinstance(ev, pb.StreamError):
        return Disconnected(reason=f"stream_error: {ev.Code}", transient=True)
    return None


# whatsmeow's SendMessage errors that mean the message never left (error texts of whatsmeow as
# bundled with neonize 0.5.2). ErrNotConnected / ErrNotLoggedIn come before anything is sent;
# device lists, encryption and marshalling fail before the message node is written; a server
# error in the ack (e.g. rate-overlimit) means WhatsApp refused it. Everything else — notably
# "timed out waiting for message send response" and write failures of the node — may have been
# delivered.
_SEND_NOT_CONNECTED = ("websocket not connected", "the store doesn't contain a device jid")
_SEND_NOT_SENT = ("failed to get device list", "failed to encrypt", "failed to marshal", "server returned error",
                  "rate-overlimit")


def send_error(message: str) -> TransportError:
    """Our error for a failed send_message: NotConnectedError / NotSentError when the message
    certainly did not leave, SendOutcomeUnknownError when it may have."""
    lowered = message.lower()
    if any(part in lowered for part in _SEND_NOT_CONNECTED):
        return NotConnectedError(message)
    if any(part in lowered for part in _SEND_NOT_SENT):
        return NotSentError(message)
    return SendOutcomeUnknownError(message)
