"""The line-delimited JSON protocol between the engine supervisor and its worker processes.

One JSON object per line over the child's stdin (parent -> worker) and stdout (worker -> parent);
the worker's stderr carries its JSON logs. Message kinds:

- ``{"kind": "cmd", "id": 7, "op": "start", "company_id": 1, "args": {...}}`` parent -> worker;
  ops: start, stop, logout, send_text, send_typing, mark_read, request_pairing_code, forget, shutdown.
- ``{"kind": "reply", "id": 7, "ok": true, "result": ...}`` or
  ``{"kind": "reply", "id": 7, "ok": false, "error": {"type": "NotConnectedError", "message": "..."}}``.
- ``{"kind": "event", "company_id": 1, "event": {"type": "QrCode", "code": "...", ...}}``: every
  TransportEvent of a session, in order.
- ``{"kind": "ended", "company_id": 1}``: that session's event stream ended (stopped).
- ``{"kind": "hello", "pid": 123, "capacity": 50, "idempotent_send": false}`` once at start
  (`idempotent_send`: the hosted transports' capability, see `sessions.transport.Transport`), and
  ``{"kind": "heartbeat", "sessions": 3, "connects": 12, "ts": 1700000000.0}`` periodically.

A malformed line decodes to None: the reader logs and skips it, and never crashes.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sessions.transport import (
    ClientOutdated,
    Connected,
    Disconnected,
    IncomingText,
    LoggedOut,
    NotConnectedError,
    NotSentError,
    PairingCode,
    PairingNotSupportedError,
    QrCode,
    QrSeriesExpired,
    SendOutcomeUnknownError,
    StreamReplaced,
    TemporaryBan,
    TransportError,
    TransportEvent,
)

MAX_LINE_BYTES = 1024 * 1024  # a text message is far smaller; anything longer is refused

COMMAND_OPS = frozenset(
    {"start", "stop", "logout", "send_text", "send_typing", "mark_read", "request_pairing_code", "forget",
     "shutdown"}
)
KINDS = frozenset({"cmd", "reply", "event", "ended", "hello", "heartbeat"})

EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (QrCode, QrSeriesExpired, PairingCode, Connected, IncomingText, Disconnected, LoggedOut,
                TemporaryBan, ClientOutdated, StreamReplaced)
}

ERROR_TYPES: dict[str, type[TransportError]] = {
    "TransportError": TransportError,
    "NotConnectedError": NotConnectedError,
    "NotSentError": NotSentError,
    "SendOutcomeUnknownError": SendOutcomeUnknownError,
    "PairingNotSupportedError": PairingNotSupportedError,
}


class WireError(ValueError):
    """A line or payload that does not follow the protocol."""


def encode(message: dict[str, Any]) -> bytes:
    """One protocol message as a newline-terminated UTF-8 JSON line."""
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def decode(line: bytes | str) -> dict[str, Any] | None:
    """Parse one line; None when it is not a well-formed protocol message."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            return None
        try:
            line = line.decode()
        except UnicodeDecodeError:
            return None
    line = line.strip()
    if not line:
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("kind") not in KINDS:
        return None
    kind = obj["kind"]
    if kind == "cmd" and (not isinstance(obj.get("id"), int) or obj.get("op") not in COMMAND_OPS):
        return None
    if kind == "reply" and (not isinstance(obj.get("id"), int) or not isinstance(obj.get("ok"), bool)):
        return None
    if kind in ("event", "ended") and not isinstance(obj.get("company_id"), int):
        return None
    if kind == "event" and not isinstance(obj.get("event"), dict):
        return None
    return obj


def event_to_dict(event: TransportEvent) -> dict[str, Any]:
    """A transport event as a JSON-able dict tagged with its class name."""
    data = dataclasses.asdict(event)
    data["type"] = type(event).__name__
    return data


def event_from_dict(data: dict[str, Any]) -> TransportEvent:
    """Rebuild a transport event; raises WireError on an unknown type or bad fields."""
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        raise WireError(f"unknown event type {data.get('type')!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:
        raise WireError(f"bad {cls.__name__} fields: {exc}") from exc


def command(request_id: int, op: str, company_id: int | None = None, **args: Any) -> dict[str, Any]:
    """A command message."""
    return {"kind": "cmd", "id": request_id, "op": op, "company_id": company_id, "args": args}


def reply_ok(request_id: int, result: Any = None) -> dict[str, Any]:
    """A successful reply."""
    return {"kind": "reply", "id": request_id, "ok": True, "result": result}


def reply_error(request_id: int, exc: BaseException) -> dict[str, Any]:
    """A failed reply; transport errors keep their type across the process boundary."""
    name = type(exc).__name__ if type(exc).__name__ in ERROR_TYPES else "TransportError"
    return {"kind": "reply", "id": request_id, "ok": False, "error": {"type": name, "message": str(exc) or name}}


def error_from_reply(reply: dict[str, Any]) -> TransportError:
    """The exception a failed reply stands for."""
    raw = reply.get("error")
    err: dict[str, Any] = raw if isinstance(raw, dict) else {}
    cls = ERROR_TYPES.get(str(err.get("type")), TransportError)
    return cls(str(err.get("message") or "worker error"))


def event_message(company_id: int, event: TransportEvent) -> dict[str, Any]:
    """An event message of one session."""
    return {"kind": "event", "company_id": company_id, "event": event_to_dict(event)}
