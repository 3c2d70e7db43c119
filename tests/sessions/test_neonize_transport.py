"""The neonize transport offline: the bundled Go library, a start with no network, and neonize's
own event objects fed through its own dispatch (`Event.execute`, the QR callback) to our events."""

from __future__ import annotations

import asyncio
import ctypes
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sessions.factory import EngineConfig
from sessions.transport import (
    ClientOutdated,
    Connected,
    Disconnected,
    IncomingText,
    LoggedOut,
    NotConnectedError,
    NotSentError,
    PairingNotSupportedError,
    QrCode,
    QrSeriesExpired,
    SendOutcomeUnknownError,
    StreamReplaced,
    TemporaryBan,
    TransportEvent,
)

neonize = pytest.importorskip("neonize")  # configures logging on import; fine in tests
from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message as WaMessage

from sessions import neonize_events as ne
from sessions.neonize_transport import NeonizeTransport, NeonizeTransportFactory


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> pb.JID:
    return pb.JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


OWN = jid("79161234567", device=12)
CLIENT = jid("79990001122")


def make_factory(tmp_path: Path, **overrides: object) -> NeonizeTransportFactory:
    fields: dict[str, object] = {"provider": "neonize", "var_dir": str(tmp_path), "neonize_connect_attempts": 2,
                                 "neonize_connect_retry_s": 0.05, "neonize_connect_settle_s": 2.0}
    fields.update(overrides)
    return NeonizeTransportFactory(EngineConfig(**fields))  # type: ignore[arg-type]


async def next_event(events: AsyncIterator[TransportEvent], timeout_s: float = 10.0) -> TransportEvent:
    return await asyncio.wait_for(events.__anext__(), timeout_s)


def complete(message: Any) -> Any:
    """Fill the proto2 `required` fields a real library event always carries with their defaults."""
    for field in message.DESCRIPTOR.fields:
        required = field.is_required
        if field.type == field.TYPE_MESSAGE:
            if field.is_repeated:
                for item in getattr(message, field.name):
                    complete(item)
            elif required or message.HasField(field.name):
                sub = getattr(message, field.name)
                sub.SetInParent()
                complete(sub)
        elif required and not message.HasField(field.name):
            setattr(message, field.name, field.default_value)
    return message


def feed(client: object, event: object) -> None:
    """Deliver `event` the way the Go library does: serialized bytes through Event.execute."""
    complete(event)
    missing = event.FindInitializationErrors()  # type: ignore[attr-defined]
    assert not missing, f"test bug: {type(event).__name__} lacks {missing}"
    data = event.SerializeToString()  # type: ignore[attr-defined]
    buf = ctypes.create_string_buffer(data, len(data) or 1)
    client.event.execute(0, ctypes.addressof(buf), len(data), EVENT_TO_INT[type(event)])  # type: ignore[attr-defined]


def feed_qr(client: object, code: bytes) -> None:
    """The QR callback the Go library calls with a C string."""
    buf = ctypes.create_string_buffer(code)
    client._NewClient__onQr(0, ctypes.addressof(buf))  # type: ignore[attr-defined]


def text_message(text: str, *, chat: pb.JID = CLIENT, sender: pb.JID = CLIENT, from_me: bool = False,
                 is_group: bool = False, extended: bool = False) -> pb.Message:
    wa = WaMessage(extendedTextMessage=ExtendedTextMessage(text=text)) if extended else WaMessage(conversation=text)
    info = pb.MessageInfo(ID="3EB0ABC", Timestamp=1795420000, Pushname="Анна",
                          MessageSource=pb.MessageSource(Chat=chat, Sender=sender, IsFromMe=from_me,
                                                         IsGroup=is_group))
    return pb.Message(Info=info, Message=wa)


def test_the_bundled_go_library_loads_and_reports_its_version() -> None:
    from neonize._binder import gocode

    assert gocode.GetVersion() == b"0.5.2"
    assert neonize.__version__ == "0.5.2"


async def test_a_start_without_network_ends_in_a_clear_disconnected_event(tmp_path: Path) -> None:
    factory = make_factory(tmp_path)
    transport = factory.create(1)
    events = transport.events()
    client = transport.prepare()
    await transport.start()
    event = await next_event(events, 25.0)
    assert isinstance(event, Disconnected) and event.transient
    assert event.reason.startswith("connect_failed:") and "web.whatsapp.com" in event.reason
    assert factory.connects == 2  # the first connect was retried once, then given up
    with pytest.raises(NotConnectedError):
        await transport.send_text("79990001122@s.whatsapp.net", "Здравствуйте")
    await transport.stop()
    with pytest.raises(StopAsyncIteration):
        await next_event(events)
    # stopped explicitly: garbage-collecting this client must not stop a newer one with its uuid
    assert not client._stop_finalizer.alive


async def test_neonize_events_map_to_ours_through_the_library_dispatch(tmp_path: Path) -> None:
    factory = make_factory(tmp_path)
    transport: NeonizeTransport = factory.create(5)
    events = transport.events()
    client = transport.prepare()

    feed_qr(client, b"2@first,qr")
    feed_qr(client, b"2@second,qr")
    first, second = await next_event(events), await next_event(events)
    assert isinstance(first, QrCode) and (first.code, first.expires_in_s, first.index) == ("2@first,qr", 60.0, 0)
    assert isinstance(second, QrCode) and (second.expires_in_s, second.index) == (20.0, 1)

    feed(client, pb.PairStatus(ID=OWN, Status=pb.PairStatus.SUCCESS, BusinessName="", Platform="android", Error=""))
    feed(client, pb.Connected(status=True))
    assert await next_event(events) == Connected(jid="79161234567:12@s.whatsapp.net", phone="+79161234567")
    assert factory.devices.get(5) == "79161234567:12@s.whatsapp.net"  # a restart resumes it with jid=

    feed(client, text_message("Хочу записаться на стрижку"))
    incoming = await next_event(events)
    assert incoming == IncomingText(chat="79990001122@s.whatsapp.net", sender="79990001122@s.whatsapp.net",
                                    message_id="3EB0ABC", text="Хочу записаться на стрижку", timestamp=1795420000.0,
                                    from_me=False, is_group=False, is_status=False, sender_phone="+79990001122",
                                    push_name="Анна")

    feed(client, pb.LoggedOut(OnConnect=False, Reason=pb.LOGGED_OUT))
    assert await next_event(events) == LoggedOut(reason="logged_out")
    assert factory.devices.get(5) is None
    await transport.stop()


async def test_terminal_and_transient_library_events(tmp_path: Path) -> None:
    transport = make_factory(tmp_path).create(6)
    events = transport.events()
    client = transport.prepare()
    feed(client, pb.TemporaryBan(Code=pb.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600))
    ban = await next_event(events)
    assert isinstance(ban, TemporaryBan) and ban.code == "SEND_TO_TOO_MANY_PEOPLE" and ban.expires_at
    for proto, expected in [
        (pb.ClientOutdated(), ClientOutdated()),
        (pb.StreamReplaced(), StreamReplaced()),
        (pb.KeepAliveTimeout(ErrorCount=2, LastSuccess=1795420000), Disconnected(reason="keepalive_timeout", transient=True)),
        (pb.Disconnected(status=True), Disconnected(reason="disconnected", transient=True)),
        (pb.ConnectFailure(Reason=pb.CLIENT_OUTDATED), ClientOutdated()),
        (pb.ConnectFailure(Reason=pb.MAIN_DEVICE_GONE), LoggedOut(reason="main_device_gone")),
    ]:
        feed(client, proto)
        assert await next_event(events) == expected
    feed(client, pb.PairStatus(ID=jid(""), Status=pb.PairStatus.ERROR, Error="passkey required", BusinessName="", Platform=""))
    failure = await next_event(events)
    assert failure == Disconnected(reason="pairing_failed: passkey required", transient=False)
    await transport.stop()


def test_message_flags_and_filters() -> None:
    group = jid("120363000000000000", "g.us")
    status = jid("status", "broadcast")
    lid = jid("123456789012345", "lid")
    m = ne.message_event(text_message("всем привет", chat=group, is_group=True))
    assert m is not None and m.is_group and m.chat == "120363000000000000@g.us"
    m = ne.message_event(text_message("моя история", chat=status))
    assert m is not None and m.is_status
    m = ne.message_event(text_message("ответ администратора", from_me=True, extended=True))
    assert m is not None and m.from_me and m.text == "ответ администратора"
    lid_msg = text_message("через lid", sender=lid)
    lid_msg.Info.MessageSource.SenderAlt.CopyFrom(CLIENT)
    m = ne.message_event(lid_msg)
    assert m is not None and m.sender == "123456789012345@lid" and m.sender_phone == "+79990001122"
    image_only = pb.Message(Info=text_message("x").Info, Message=WaMessage())
    assert ne.message_event(image_only) is None


async def test_the_qr_series_ends_with_our_own_timeout(tmp_path: Path) -> None:
    transport = make_factory(tmp_path, neonize_qr_series_timeout_s=0.3).create(7)
    events = transport.events()
    client = transport.prepare()
    feed_qr(client, b"2@only,qr")
    assert isinstance(await next_event(events), QrCode)
    assert await next_event(events, 10.0) == QrSeriesExpired()
    await transport.stop()


async def test_no_sending_or_pairing_code_before_pairing(tmp_path: Path) -> None:
    transport = make_factory(tmp_path).create(8)
    transport.prepare()
    with pytest.raises(NotConnectedError):
        await transport.send_text("79990001122@s.whatsapp.net", "Здравствуйте")
    with pytest.raises(NotConnectedError):
        await transport.send_typing("79990001122@s.whatsapp.net")
    with pytest.raises(NotConnectedError):
        await transport.logout()
    with pytest.raises(PairingNotSupportedError):
        await transport.request_pairing_code("+79161234567")
    await transport.stop()


@pytest.mark.parametrize(
    ("library_error", "ours"),
    [
        ("failed to send message node: websocket not connected", NotConnectedError),
        ("the store doesn't contain a device JID", NotConnectedError),
        ("failed to get device list: info query timed out", NotSentError),
        ("failed to encrypt message for 79990001122.0:0: no signal session established", NotSentError),
        ("server returned error 479", NotSentError),
        ("timed out waiting for message send response", SendOutcomeUnknownError),
        ("failed to send message node: write tcp: broken pipe", SendOutcomeUnknownError),
    ],
)
async def test_send_errors_say_whether_the_message_may_have_left(
    tmp_path: Path, library_error: str, ours: type[Exception]
) -> None:
    """neonize sends with its own id (no idempotent resend), so the outbox must know which failures
    certainly did not send: only those are retried."""
    from neonize.exc import SendMessageError

    class FailingClient:
        def send_message(self, to: object, text: str) -> object:
            raise SendMessageError(library_error)

    factory = make_factory(tmp_path)
    transport = factory.create(9)
    assert transport.idempotent_send is False and factory.idempotent_send is False
    transport._client, transport._connected = FailingClient(), True  # as if paired
    with pytest.raises(ours) as caught:
        await transport.send_text("79990001122@s.whatsapp.net", "Здравствуйте", message_id="3EB0OURS")
    assert type(caught.value) is ours and library_error in str(caught.value)


async def test_connect_starts_pass_the_gate_one_at_a_time(tmp_path: Path) -> None:
    """Concurrent connect() calls crash the Go library: three starts must never overlap."""
    import threading
    import time

    factory = make_factory(tmp_path, neonize_connect_attempts=1, neonize_connect_settle_s=5.0)
    active, peak, lock = [0], [0], threading.Lock()

    def fake_connect() -> None:  # stands in for the blocking Go call; fails like an offline dial
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        raise RuntimeError("dial failed")

    transports = [factory.create(cid) for cid in (11, 12, 13)]
    streams = [t.events() for t in transports]
    for t in transports:
        t.prepare().connect = fake_connect
    for t in transports:
        await t.start()
    for stream in streams:
        event = await next_event(stream)
        assert isinstance(event, Disconnected) and "dial failed" in event.reason
    assert peak[0] == 1 and factory.connects == 3
    for t in transports:
        await t.stop()


async def test_a_jid_missing_from_the_store_pairs_anew_instead_of_crashing(tmp_path: Path) -> None:
    """Connecting with jid= for a device the store lacks is a Go nil-pointer panic that aborts the
    process: such a JID (known elsewhere, e.g. from wa_sessions) is checked and dropped first."""
    asked: list[int] = []

    async def hint(company_id: int) -> str | None:
        asked.append(company_id)
        return "79161234567:12@s.whatsapp.net"

    config = EngineConfig(provider="neonize", var_dir=str(tmp_path), neonize_connect_attempts=1)
    factory = NeonizeTransportFactory(config, device_hint=hint)
    factory.devices.set(32, "79160000000:3@s.whatsapp.net")  # a stale local mapping
    for cid in (31, 32):
        transport = factory.create(cid)
        events = transport.events()
        await transport.start()
        assert isinstance(await next_event(events, 20.0), Disconnected)  # offline, and still alive
        client = transport.prepare()
        assert client.jid is None and client.new_device is True
        assert factory.devices.get(cid) is None
        await transport.stop()
    assert asked == [31]  # the local mapping came first for 32


async def test_a_device_known_elsewhere_is_resumed_with_its_jid(tmp_path: Path) -> None:
    """No local mapping, but the manager stored the JID and the shared store has the device: the
    client is built with jid= (resume), not as a new device."""

    async def hint(company_id: int) -> str | None:
        return "79161234567:12@s.whatsapp.net"

    config = EngineConfig(provider="neonize", var_dir=str(tmp_path), neonize_connect_attempts=1)
    factory = NeonizeTransportFactory(config, device_hint=hint)
    assert not factory.device_in_store("79161234567:12@s.whatsapp.net")  # also creates the schema
    with sqlite3.connect(config.store_dsn()) as db:  # a linked device as whatsmeow stores it
        db.execute(
            "INSERT INTO whatsmeow_device (jid, registration_id, noise_key, identity_key, signed_pre_key,"
            " signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details, adv_account_sig, adv_account_sig_key,"
            " adv_device_sig) VALUES (?, 1234, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            ("79161234567:12@s.whatsapp.net", os.urandom(32), os.urandom(32), os.urandom(32), os.urandom(64),
             os.urandom(32), b"", os.urandom(64), os.urandom(32), os.urandom(64)))
    assert factory.device_in_store("79161234567:12@s.whatsapp.net")
    transport = factory.create(33)
    events = transport.events()
    await transport.start()
    assert isinstance(await next_event(events, 20.0), Disconnected)  # offline, as expected
    client = transport.prepare()
    assert (client.jid.User, client.jid.Device, client.jid.Server) == ("79161234567", 12, "s.whatsapp.net")
    assert client.new_device is False
    assert factory.devices.get(33) == "79161234567:12@s.whatsapp.net"
    await transport.stop()
