"""The real WhatsApp transport on neonize 0.5.2 (whatsmeow), per DESIGN.md section 7.

Measured facts this module is built around:
- concurrent `connect()` / `stop()` calls crash the process ("concurrent map writes"): every
  connect-start, stop and logout passes one process-wide gate (`ConnectGate`); a connect holds it
  until its first event, its return, or `neonize_connect_settle_s`;
- the sync `NewClient` runs one thread per session (`connect()` blocks until stopped); events
  arrive on library threads and are bridged into asyncio with `loop.call_soon_threadsafe`;
- a failed first connect is not retried by whatsmeow: we retry `neonize_connect_attempts` times;
- the QR series ends after ~160 s with no event: our own timer emits QrSeriesExpired and stops;
- a local `logout()` emits no event: we emit LoggedOut ourselves;
- several companies share one device store, so a paired device is resumed with `jid=` (the
  company -> JID map is kept by `DeviceDirectory`), and a new one pairs with `new_device=True`;
- every `connect()` opens a store connection that is never closed: `factory.connects` counts them
  so the supervisor can recycle the worker;
- `send_message` cannot take a caller-chosen message id: sends are not idempotent
  (`idempotent_send = False`), and a failed send says whether it certainly did not leave.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog

from sessions.factory import DeviceHint, EngineConfig
from sessions.transport import (
    Disconnected,
    LoggedOut,
    NotConnectedError,
    PairingCode,
    PairingNotSupportedError,
    QrSeriesExpired,
    TransportError,
    TransportEvent,
)

log = structlog.get_logger(__name__)

_END = object()
PAIRING_CODE_TTL_S = 60.0


class ConnectGate:
    """The process-wide lock that keeps connect-starts, stops and logouts one at a time."""

    def __init__(self, timeout_s: float = 60.0) -> None:
        self._lock = threading.Lock()
        self._timeout_s = timeout_s

    def acquire(self) -> None:
        if not self._lock.acquire(timeout=self._timeout_s):
            raise TransportError(f"neonize gate busy for {self._timeout_s}s")

    def release(self) -> None:
        try:
            self._lock.release()
        except RuntimeError:
            pass  # already released by whoever saw the first event


class DeviceDirectory:
    """Which stored WhatsApp device belongs to which company (one small JSON file each)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def get(self, company_id: int) -> str | None:
        try:
            data = json.loads((self._root / f"{company_id}.json").read_text())
        except (OSError, ValueError):
            return None
        jid = data.get("jid") if isinstance(data, dict) else None
        return str(jid) if jid else None

    def set(self, company_id: int, jid: str) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        tmp = self._root / f".{company_id}.json.tmp"
        tmp.write_text(json.dumps({"jid": jid}))
        os.replace(tmp, self._root / f"{company_id}.json")

    def delete(self, company_id: int) -> None:
        (self._root / f"{company_id}.json").unlink(missing_ok=True)


class NeonizeTransportFactory:
    """Creates neonize transports sharing one gate, one device directory and one store."""

    idempotent_send = False  # see NeonizeTransport.send_text

    def __init__(self, config: EngineConfig, device_hint: DeviceHint | None = None) -> None:
        import neonize.client  # noqa: F401 - load the Go library now: a broken install fails at boot

        self.config = config
        self.device_hint = device_hint
        self.gate = ConnectGate()
        store = config.store_dsn()
        if "://" not in store:
            Path(store).parent.mkdir(parents=True, exist_ok=True)
        self.devices = DeviceDirectory(Path(config.var_dir).resolve() / "wa" / "devices")
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="neonize-call")
        self.connects = 0  # store connections opened (never closed by the library)
        self._count_lock = threading.Lock()

    def device_in_store(self, jid: str) -> bool:
        """Whether the device store holds `jid`: connecting with `jid=` for a device that is not
        there is a nil-pointer panic in the Go library that aborts the whole process (measured)."""
        from neonize.client import ClientFactory

        user = jid.partition("@")[0].partition(":")[0]
        try:
            devices = ClientFactory.get_all_devices_from_db(self.config.store_dsn())
        except Exception as exc:  # noqa: BLE001 - an unreadable store: do not risk the panic
            log.warning("neonize_device_store_unreadable", error=repr(exc))
            return False
        return any(d.JID.User.partition(":")[0] == user for d in devices)  # User keeps ":device"

    def count_connect(self) -> None:
        with self._count_lock:
            self.connects += 1

    def create(self, company_id: int) -> NeonizeTransport:
        return NeonizeTransport(company_id, self)

    async def forget(self, company_id: int) -> None:
        """Drop the company's device: the next start pairs a new one (the library cannot delete a
        device row without a connection; a logged-out row is harmless)."""
        self.devices.delete(company_id)


class NeonizeTransport:
    """One company's WhatsApp session on neonize."""

    # neonize 0.5.2 sends with an id of its own: a resend is a second message on the client's phone.
    idempotent_send = False

    def __init__(self, company_id: int, factory: NeonizeTransportFactory) -> None:
        self.company_id = company_id
        self._factory = factory
        self._config = factory.config
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._gate_held = False
        self._gate_lock = threading.Lock()
        self._qr_index = 0
        self._qr_timer: threading.Timer | None = None
        self._jid: str | None = factory.devices.get(company_id)
        self._connected = False
        self._closed = False
        self._log = log.bind(company_id=company_id)

    # --- Transport ------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume the stored device (jid=) or begin pairing (new_device=True) on a session thread."""
        if self._closed:
            raise TransportError("this transport was stopped; create a new one")
        if self._thread is not None and self._thread.is_alive():
            return
        if self._jid is None and self._client is None and self._factory.device_hint is not None:
            self.use_stored_jid(await self._factory.device_hint(self.company_id))
        self.prepare()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"neonize-{self.company_id}", daemon=True)
        self._thread.start()

    async def request_pairing_code(self, phone: str) -> PairingCode:
        """A code to link by phone number; needs a started, not yet paired session."""
        if self._client is None or self._thread is None or not self._thread.is_alive():
            raise PairingNotSupportedError("start the session before asking for a pairing code")
        if self._connected:
            raise PairingNotSupportedError("the session is already paired")
        code = await self._call(self._client.PairPhone, phone.lstrip("+"), True)
        return PairingCode(code=str(code), expires_in_s=PAIRING_CODE_TTL_S)

    async def send_text(self, chat: str, text: str, message_id: str | None = None) -> str:
        """Send a text; returns the id WhatsApp got it with.

        neonize 0.5.2 cannot send with a caller-chosen id, so `message_id` is not used and a resend
        would be a second message (`idempotent_send` is False). Errors: NotConnectedError before
        pairing or while down, NotSentError when the library failed before the wire or WhatsApp
        refused it, SendOutcomeUnknownError otherwise (e.g. no server ack in time).
        """
        client = self._require_connected()
        from neonize.utils.jid import build_jid

        from sessions import neonize_events as ne

        user, _, server = chat.partition("@")
        to = build_jid(user.split(":")[0], server or "s.whatsapp.net")
        try:
            response = await self._call(client.send_message, to, text)
        except TransportError as exc:
            raise ne.send_error(str(exc)) from exc
        return str(response.ID)

    async def send_typing(self, chat: str, typing: bool = True) -> None:
        client = self._require_connected()
        from neonize.utils.enum import ChatPresence, ChatPresenceMedia
        from neonize.utils.jid import build_jid

        user, _, server = chat.partition("@")
        state = ChatPresence.CHAT_PRESENCE_COMPOSING if typing else ChatPresence.CHAT_PRESENCE_PAUSED
        await self._call(client.send_chat_presence, build_jid(user, server or "s.whatsapp.net"), state,
                         ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT)

    async def mark_read(self, chat: str, message_ids: list[str], sender: str) -> None:
        client = self._require_connected()
        from neonize.utils.enum import ReceiptType
        from neonize.utils.jid import build_jid

        def jid(value: str) -> Any:
            user, _, server = value.partition("@")
            return build_jid(user.split(":")[0], server or "s.whatsapp.net")

        await self._call(lambda: client.mark_read(*message_ids, chat=jid(chat), sender=jid(sender),
                                                   receipt=ReceiptType.READ))

    async def logout(self) -> None:
        """Unlink the device; the library emits nothing, so we emit LoggedOut."""
        client = self._require_connected()
        await self._gated(client.logout)
        self._factory.devices.delete(self.company_id)
        self._jid = None
        self._connected = False
        self._emit(LoggedOut(reason="logged_out_locally"))
        await self._halt()

    async def stop(self) -> None:
        """Disconnect, keeping credentials; idempotent; ends `events()`."""
        if self._closed:
            return
        await self._halt()
        self._closed = True
        self._queue.put_nowait(_END)

    async def events(self) -> AsyncIterator[TransportEvent]:
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)
                return
            yield item

    def use_stored_jid(self, jid: str | None) -> None:
        """Resume this device (the JID the session last connected with) unless we know better locally."""
        if jid and self._jid is None and self._client is None:
            self._jid = jid
            self._factory.devices.set(self.company_id, jid)

    def prepare(self) -> Any:
        """Bind to the running loop and build the neonize client (no connection yet); returns it."""
        self._loop = asyncio.get_running_loop()
        if self._client is None:
            self._client = self._make_client()
        return self._client

    # --- the session thread ---------------------------------------------------------------------

    def _make_client(self) -> Any:
        from neonize.client import NewClient
        from neonize.events import (
            ClientOutdatedEv,
            ConnectedEv,
            ConnectFailureEv,
            DisconnectedEv,
            KeepAliveTimeoutEv,
            LoggedOutEv,
            MessageEv,
            PairStatusEv,
            StreamErrorEv,
            StreamReplacedEv,
            TemporaryBanEv,
        )

        jid = None
        if self._jid and not self._factory.device_in_store(self._jid):
            self._log.warning("neonize_device_not_in_store", jid=self._jid, hint="pairing a new device")
            self._factory.devices.delete(self.company_id)
            self._jid = None
        if self._jid:
            from neonize.utils.jid import build_jid

            user, _, server = self._jid.partition("@")
            base, _, device = user.partition(":")
            jid = build_jid(base, server)
            if device.isdigit():
                jid.Device = int(device)
        client = NewClient(self._config.store_dsn(), jid=jid, uuid=f"company-{self.company_id}",
                           new_device=jid is None)
        client.event.qr(self._on_qr)
        client.event.paircode(lambda _c, _code, _connected: None)
        for ev_type in (ClientOutdatedEv, ConnectedEv, ConnectFailureEv, DisconnectedEv, KeepAliveTimeoutEv,
                        LoggedOutEv, MessageEv, PairStatusEv, StreamErrorEv, StreamReplacedEv, TemporaryBanEv):
            client.event(ev_type)(self._on_event)
        return client

    def _run(self) -> None:
        attempts = max(1, self._config.neonize_connect_attempts)
        for attempt in range(1, attempts + 1):
            if self._stopping.is_set():
                return
            error: Exception | None = None
            try:
                self._factory.gate.acquire()
            except TransportError as exc:
                self._emit(Disconnected(reason=str(exc), transient=True))
                return
            with self._gate_lock:
                self._gate_held = True
            timer = threading.Timer(self._config.neonize_connect_settle_s, self._release_gate)
            timer.daemon = True
            timer.start()
            self._factory.count_connect()
            try:
                self._client.connect()
            except Exception as exc:  # noqa: BLE001 - the library raises NeonizeError and friends
                error = exc
            finally:
                timer.cancel()
                self._release_gate()
            if self._stopping.is_set() or error is None:
                return
            self._log.warning("neonize_connect_failed", attempt=attempt, error=str(error))
            if attempt == attempts:
                self._emit(Disconnected(reason=f"connect_failed: {error}", transient=True))
                return
            if self._stopping.wait(self._config.neonize_connect_retry_s * attempt):
                return

    def _release_gate(self) -> None:
        with self._gate_lock:
            if self._gate_held:
                self._gate_held = False
                self._factory.gate.release()

    def _emit(self, event: TransportEvent) -> None:
        """Thread-safe: hand an event to the loop."""
        if self._loop is None or self._closed:
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)
        except RuntimeError:
            pass  # the loop is gone (shutting down)

    def _on_qr(self, _client: Any, code: bytes) -> None:
        from sessions import neonize_events as ne

        self._release_gate()
        index = self._qr_index
        self._qr_index += 1
        if index == 0:
            self._qr_timer = threading.Timer(self._config.neonize_qr_series_timeout_s, self._qr_series_over)
            self._qr_timer.daemon = True
            self._qr_timer.start()
        self._emit(ne.qr_event(code, index))

    def _qr_series_over(self) -> None:
        if self._connected or self._stopping.is_set():
            return
        self._emit(QrSeriesExpired())
        self._stop_client()

    def _on_event(self, client: Any, ev: Any) -> None:
        from neonize.proto import Neonize_pb2 as pb

        from sessions import neonize_events as ne

        self._release_gate()
        try:
            if isinstance(ev, pb.Message):
                incoming = ne.message_event(ev)
                if incoming is not None:
                    self._emit(incoming)
            elif isinstance(ev, pb.PairStatus):
                jid = ne.paired_jid(ev)
                if jid:
                    self._jid = jid
                    self._factory.devices.set(self.company_id, jid)
                    self._cancel_qr_timer()
                else:
                    failure = ne.pair_error(ev)
                    if failure is not None:
                        self._emit(failure)
            elif isinstance(ev, pb.Connected):
                self._connected = True
                self._cancel_qr_timer()
                jid = self._jid or (ne.jid_str(client.me.JID) if client.me is not None else "")
                if jid and not self._jid:
                    self._jid = jid
                    self._factory.devices.set(self.company_id, jid)
                self._emit(ne.connected_event(jid))
            elif isinstance(ev, pb.LoggedOut):
                self._connected = False
                self._factory.devices.delete(self.company_id)
                self._emit(ne.logged_out_event(ev))
            elif isinstance(ev, pb.TemporaryBan):
                self._connected = False
                self._emit(ne.temporary_ban_event(ev))
            elif isinstance(ev, pb.ConnectFailure):
                self._connected = False
                mapped = ne.connect_failure_event(ev)
                if isinstance(mapped, LoggedOut):
                    self._factory.devices.delete(self.company_id)
                self._emit(mapped)
            else:
                if isinstance(ev, (pb.Disconnected, pb.KeepAliveTimeout, pb.StreamReplaced, pb.ClientOutdated)):
                    self._connected = False
                if isinstance(ev, pb.Disconnected) and self._stopping.is_set():
                    return  # our own stop
                simple = ne.simple_event(ev)
                if simple is not None:
                    self._emit(simple)
        except Exception as exc:  # noqa: BLE001 - never raise into the Go callback
            self._log.error("neonize_event_failed", event=type(ev).__name__, error=repr(exc))

    # --- helpers ------------------------------------------------------------------------------

    def _cancel_qr_timer(self) -> None:
        if self._qr_timer is not None:
            self._qr_timer.cancel()
            self._qr_timer = None

    def _stop_client(self) -> None:
        """Blocking: stop the Go client through the gate (runs off the loop)."""
        self._stopping.set()
        self._cancel_qr_timer()
        if self._client is None:
            return
        self._factory.gate.acquire()
        try:
            self._client.stop()
        finally:
            self._factory.gate.release()
        # neonize stops a client again by its uuid when the object is garbage-collected; by then a
        # new transport of this company may be running under the same uuid: we stopped it already.
        finalizer = getattr(self._client, "_stop_finalizer", None)
        if finalizer is not None:
            finalizer.detach()

    async def _halt(self) -> None:
        thread = self._thread
        if thread is None:
            self._stopping.set()
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._factory.executor, self._stop_client)
        await loop.run_in_executor(self._factory.executor, thread.join, self._config.neonize_stop_timeout_s)
        if thread.is_alive():
            self._log.warning("neonize_stop_slow", timeout_s=self._config.neonize_stop_timeout_s)
        self._connected = False

    def _require_connected(self) -> Any:
        if not self._connected or self._client is None:
            raise NotConnectedError(f"WhatsApp session {self.company_id} is not connected")
        return self._client

    async def _call(self, func: Any, *args: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._factory.executor, func, *args)
        except TransportError:
            raise
        except Exception as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc

    async def _gated(self, func: Any) -> Any:
        def run() -> Any:
            self._factory.gate.acquire()
            try:
                return func()
            finally:
                self._factory.gate.release()

        return await self._call(run)
