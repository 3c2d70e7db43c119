"""The supervisor <-> worker line protocol: round trips and malformed input."""

from __future__ import annotations

import pytest

from sessions import wire
from sessions.transport import (
    ClientOutdated,
    Connected,
    Disconnected,
    IncomingText,
    LoggedOut,
    NotConnectedError,
    NotSentError,
    PairingCode,
    QrCode,
    QrSeriesExpired,
    SendOutcomeUnknownError,
    StreamReplaced,
    TemporaryBan,
    TransportError,
)

EVENTS = [
    QrCode(code="2@abc,def", expires_in_s=60.0, issued_at=1700000000.5, index=0),
    QrSeriesExpired(),
    PairingCode(code="ABCD-EFGH", expires_in_s=60.0),
    Connected(jid="79161234567:3@s.whatsapp.net", phone="+79161234567"),
    IncomingText(chat="79990001122@s.whatsapp.net", sender="79990001122@s.whatsapp.net", message_id="3EB0X",
                 text="Здравствуйте! Запишите меня\nна стрижку", timestamp=1700000001.0, from_me=False,
                 is_group=False, is_status=False, sender_phone="+79990001122", push_name="Анна"),
    Disconnected(reason="keepalive_timeout", transient=True),
    LoggedOut(reason="unlinked_from_phone"),
    TemporaryBan(code="SEND_TO_TOO_MANY_PEOPLE", expires_at=1700003600.0),
    ClientOutdated(),
    StreamReplaced(),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_survives_a_line_round_trip(event: object) -> None:
    line = wire.encode(wire.event_message(42, event))  # type: ignore[arg-type]
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # newlines in text stay escaped
    msg = wire.decode(line)
    assert msg is not None and msg["company_id"] == 42
    assert wire.event_from_dict(msg["event"]) == event


@pytest.mark.parametrize(
    "line",
    [b"", b"   \n", b"not json\n", b"[1,2]\n", b'{"kind":"nope"}\n', b'{"kind":"cmd","id":"x","op":"start"}\n',
     b'{"kind":"cmd","id":1,"op":"rm -rf"}\n', b'{"kind":"reply","id":1}\n', b'{"kind":"event","company_id":1}\n',
     b'{"kind":"event","company_id":"1","event":{}}\n', b"\xff\xfe\n", b"x" * (wire.MAX_LINE_BYTES + 1)],
)
def test_malformed_lines_decode_to_none(line: bytes) -> None:
    assert wire.decode(line) is None


def test_unknown_or_broken_event_payloads_raise_wire_error() -> None:
    with pytest.raises(wire.WireError):
        wire.event_from_dict({"type": "Exploded"})
    with pytest.raises(wire.WireError):
        wire.event_from_dict({"type": "Connected", "jid": "x"})  # phone missing


def test_errors_keep_their_type_across_the_boundary() -> None:
    reply = wire.decode(wire.encode(wire.reply_error(5, NotConnectedError("not paired"))))
    assert reply is not None and reply["ok"] is False
    err = wire.error_from_reply(reply)
    assert isinstance(err, NotConnectedError) and str(err) == "not paired"
    other = wire.error_from_reply(wire.reply_error(6, RuntimeError("boom")))
    assert type(other) is TransportError and "boom" in str(other)
    # What the outbox needs to know about a failed send survives the boundary too.
    for error in (NotSentError("rate-overlimit"), SendOutcomeUnknownError("no ack")):
        back = wire.error_from_reply(wire.reply_error(7, error))
        assert type(back) is type(error) and str(back) == str(error)


def test_commands_round_trip() -> None:
    msg = wire.decode(wire.encode(wire.command(9, "send_text", 3, chat="7999@s.whatsapp.net", text="Привет")))
    assert msg == {"kind": "cmd", "id": 9, "op": "send_text", "company_id": 3,
                   "args": {"chat": "7999@s.whatsapp.net", "text": "Привет"}}
