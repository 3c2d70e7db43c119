"""The simulator transport (`sim`): a faithful stand-in for WhatsApp for tests and demo mode.

The "phone side" (pending scans and pairing confirmations, injected faults, client messages
waiting for delivery, what the bot sent, linked devices) lives in Redis, never in process memory, so a transport can run inside an engine worker process while the simulator API
(`SimPhone`) runs in the daemon. The phone side queues a command and publishes the company id on
`keys.sim_wake_channel`; `SimHub` (one subscription per process) wakes that company's transport,
which drains its queues. Commands survive a missed wake-up: a transport drains them on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog

from sessions import keys
from sessions.aio import cancel_and_wait, close_within
from sessions.config import SimConfig
from sessions.jid import jid_to_phone, phone_to_jid
from sessions.runtime import Clock, Spawner
from sessions.transport import (
    ClientOutdated,
    Connected,
    Disconnected,
    IncomingText,
    LoggedOut,
    NotConnectedError,
    PairingCode,
    PairingNotSupportedError,
    QrCode,
    QrSeriesExpired,
    StreamReplaced,
    TemporaryBan,
    TransportError,
    TransportEvent,
)

log = structlog.get_logger(__name__)

FAULT_KINDS = frozenset({"disconnect", "logout", "ban", "replaced", "outdated", "pairing_failed"})
_PAIR_ALPHABET = "ABCDEFGHJKLMNPQRSTVWXYZ23456789"
# Decrement the fail-starts counter only while it is positive; returns the value before.
_TAKE_FAILURE = """
local v = tonumber(redis.call('get', KEYS[1]) or '0')
if v > 0 then redis.call('decr', KEYS[1]) end
return v
"""


def new_message_id() -> str:
    """A WhatsApp-style message id (whatsmeow's format: '3EB0' + 16 hex digits)."""
    return "3EB0" + secrets.token_hex(8).upper()


def default_sim_phone(company_id: int) -> str:
    """The phone number a scan links when none is given."""
    return f"+7999{company_id:07d}"


@dataclass(frozen=True)
class SimDevice:
    """A linked simulator device."""

    jid: str
    phone: str
    linked_at: float


async def load_device(redis: aioredis.Redis, company_id: int) -> SimDevice | None:
    """The company's linked device, or None."""
    raw = await redis.get(keys.sim_device(company_id))
    if raw is None:
        return None
    data = json.loads(raw)
    return SimDevice(str(data["jid"]), str(data["phone"]), float(data["linked_at"]))


async def forget_device(redis: aioredis.Redis, company_id: int) -> None:
    """Unlink: the next start needs a new scan."""
    await redis.delete(keys.sim_device(company_id))


def _spawn(spawner: Spawner | None, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    if spawner is not None:
        return spawner.spawn(name, coro)
    return asyncio.get_running_loop().create_task(coro, name=name)  # worker process without a supervisor


class SimHub:
    """One Redis subscription per process that wakes the local simulator transports."""

    def __init__(self, redis: aioredis.Redis, spawner: Spawner | None = None) -> None:
        self._redis = redis
        self._spawner = spawner
        self._wakers: dict[int, asyncio.Event] = {}
        self._task: asyncio.Task[Any] | None = None
        self._ready: asyncio.Event | None = None
        self._lock = asyncio.Lock()

    async def ensure_started(self) -> None:
        """Subscribe once (idempotent); returns when the subscription is active."""
        async with self._lock:
            if self._task is None or self._task.done() or self._ready is None:
                fresh = self._ready = asyncio.Event()
                self._task = _spawn(self._spawner, "sim-hub", self._listen(fresh))
                # A hub closed before it subscribed must not leave anyone waiting forever.
                self._task.add_done_callback(lambda _: fresh.set())
            ready = self._ready
        await ready.wait()  # a second caller waits for the same subscription too

    async def _listen(self, ready: asyncio.Event) -> None:
        delay_s = 0.1
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.sim_wake_channel(self._redis))
                ready.set()
                delay_s = 0.1
                for waker in list(self._wakers.values()):
                    waker.set()  # drain whatever was queued while we were not listening
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        with contextlib.suppress(ValueError, TypeError):
                            self.wake(int(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis went away: resubscribe with backoff
                log.warning("sim_hub_resubscribe", error=repr(exc), delay_s=delay_s)
                ready.set()
                # Real time: this waits for the Redis server, not for the simulated phone.
                await asyncio.sleep(delay_s)
                delay_s = min(5.0, delay_s * 2)
            finally:
                await close_within(pubsub.aclose(), "sim_hub_pubsub")

    def register(self, company_id: int, waker: asyncio.Event) -> None:
        self._wakers[company_id] = waker

    def unregister(self, company_id: int, waker: asyncio.Event) -> None:
        if self._wakers.get(company_id) is waker:
            del self._wakers[company_id]

    def wake(self, company_id: int) -> None:
        """Wake the transport of `company_id` if it runs in this process."""
        waker = self._wakers.get(company_id)
        if waker is not None:
            waker.set()

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)


class SimTransport:
    """One simulated WhatsApp session (implements `sessions.transport.Transport`)."""

    def __init__(
        self,
        company_id: int,
        redis: aioredis.Redis,
        config: SimConfig,
        clock: Clock,
        hub: SimHub | None = None,
        spawner: Spawner | None = None,
    ) -> None:
        self.company_id = company_id
        self._redis = redis
        self._config = config
        self._clock = clock
        self._hub = hub or SimHub(redis, spawner)
        self._own_hub = hub is None
        self._spawner = spawner
        self._queue: asyncio.Queue[TransportEvent | None] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self._phase = "idle"  # idle | qr | connected | down | stopped
        self._pairing: tuple[str, str] | None = None  # (code, phone)
        self._log = log.bind(company_id=company_id)

    # --- Transport protocol ------------------------------------------------------------
    async def start(self) -> None:
        if self._phase != "idle":
            return
        cid = self.company_id
        ban = await self._redis.get(keys.sim_ban(cid))
        if ban is not None and float(ban) > self._clock.time():
            self._phase = "down"
            self._emit(TemporaryBan(code="sim-ban", expires_at=float(ban)))
            return
        before = int(await self._redis.eval(_TAKE_FAILURE, 1, keys.sim_fail_starts(cid)))
        if before > 0:
            raise TransportError("sim: connection refused (injected)")
        await self._hub.ensure_started()
        self._hub.register(cid, self._wake)
        device = await load_device(self._redis, cid)
        if device is not None:
            self._phase = "connected"
            self._emit(Connected(jid=device.jid, phone=device.phone))
        else:
            self._phase = "qr"
        self._task = _spawn(self._spawner, f"sim-transport-{cid}", self._run())

    async def request_pairing_code(self, phone: str) -> PairingCode:
        if self._phase == "connected":
            raise PairingNotSupportedError("already linked")
        if self._phase not in ("qr", "idle"):
            raise PairingNotSupportedError(f"cannot pair while {self._phase}")
        raw = "".join(secrets.choice(_PAIR_ALPHABET) for _ in range(8))
        code = f"{raw[:4]}-{raw[4:]}"
        self._pairing = (code, phone)
        ttl_ms = int(self._config.pairing_code_ttl_s * 1000)
        await self._redis.set(keys.sim_pairing(self.company_id), json.dumps({"code": code, "phone": phone}), px=ttl_ms)
        return PairingCode(code=code, expires_in_s=self._config.pairing_code_ttl_s)

    @property
    def idempotent_send(self) -> bool:
        """Whether a resend with the same id is dropped (WhatsApp-like); off, the simulator behaves
        like neonize: it picks its own id and delivers every call."""
        return self._config.idempotent_send

    async def send_text(self, chat: str, text: str, message_id: str | None = None) -> str:
        if self._phase != "connected":
            raise NotConnectedError(f"sim session is {self._phase}")
        cid = self.company_id
        mid = (message_id if self.idempotent_send else None) or new_message_id()
        call = {"id": mid, "requested_id": message_id, "chat": chat, "to": jid_to_phone(chat), "text": text,
                "at": self._clock.time()}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(keys.sim_send_calls(cid), json.dumps(call, ensure_ascii=False))
            pipe.ltrim(keys.sim_send_calls(cid), -self._config.outbound_keep, -1)
            pipe.hget(keys.sim_send_hold(cid), chat)
            hold = (await pipe.execute())[-1]
        if hold == "before":
            await self._hang(mid)
        if not self.idempotent_send or await self._redis.sadd(keys.sim_sent_ids(cid), mid):
            record = {"id": mid, "chat": chat, "to": jid_to_phone(chat), "text": text, "sent_at": self._clock.time()}
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.rpush(keys.sim_outbound(cid), json.dumps(record, ensure_ascii=False))
                pipe.ltrim(keys.sim_outbound(cid), -self._config.outbound_keep, -1)
                await pipe.execute()
        else:
            self._log.info("sim_duplicate_send_dropped", message_id=mid)
        if hold == "after":
            await self._hang(mid)  # delivered, but the caller does not hear so
        return mid

    async def _hang(self, message_id: str) -> None:
        """A test hook (`SimPhone.hold_sends`): wait for a release, at most `send_hold_max_s` (real time)."""
        cid = self.company_id
        await self._redis.sadd(keys.sim_send_held(cid), message_id)
        try:
            await self._redis.blpop([keys.sim_send_release(cid)], timeout=self._config.send_hold_max_s)
        finally:
            with contextlib.suppress(Exception):
                await self._redis.srem(keys.sim_send_held(cid), message_id)

    async def send_typing(self, chat: str, typing: bool = True) -> None:
        if self._phase != "connected":
            raise NotConnectedError(f"sim session is {self._phase}")
        presence = {"chat": chat, "state": "composing" if typing else "paused", "at": self._clock.time()}
        async with self._redis.pipeline(transaction=True) as pipe:
            if typing:
                pipe.rpush(keys.sim_typing(self.company_id), chat)
                pipe.ltrim(keys.sim_typing(self.company_id), -100, -1)
            pipe.rpush(keys.sim_presence(self.company_id), json.dumps(presence))
            pipe.ltrim(keys.sim_presence(self.company_id), -100, -1)
            await pipe.execute()

    async def mark_read(self, chat: str, message_ids: list[str], sender: str) -> None:
        return None

    async def logout(self) -> None:
        await forget_device(self._redis, self.company_id)
        if self._phase != "stopped":
            self._phase = "down"
            self._emit(LoggedOut(reason="logout requested"))

    async def stop(self) -> None:
        if self._phase == "stopped":
            return
        self._phase = "stopped"
        self._hub.unregister(self.company_id, self._wake)
        task, self._task = self._task, None
        await cancel_and_wait(task)
        with contextlib.suppress(Exception):
            await self._redis.delete(keys.sim_qr(self.company_id))
        if self._own_hub:
            await self._hub.close()
        self._queue.put_nowait(None)

    async def events(self) -> AsyncIterator[TransportEvent]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event

    # --- internals ---------------------------------------------------------------------
    def _emit(self, event: TransportEvent) -> None:
        if self._phase != "stopped" or isinstance(event, LoggedOut):
            self._queue.put_nowait(event)

    async def _run(self) -> None:
        if self._phase == "qr":
            await self._qr_series()
        while self._phase not in ("stopped", "down"):
            await self._drain()
            if self._phase in ("stopped", "down"):
                break
            await self._wake.wait()
            self._wake.clear()

    async def _qr_series(self) -> None:
        cid = self.company_id
        series = secrets.token_hex(3)
        for index in range(self._config.qr_count):
            ttl_s = self._config.qr_first_s if index == 0 else self._config.qr_next_s
            code = f"2@sim-{cid}-{series}-{index},{secrets.token_urlsafe(24)}"
            await self._redis.set(keys.sim_qr(cid), code, px=max(1, int(ttl_s * 1000)))
            self._emit(QrCode(code=code, expires_in_s=ttl_s, issued_at=self._clock.time(), index=index))
            deadline = self._clock.monotonic() + ttl_s
            while True:
                await self._drain()
                if self._phase != "qr":
                    await self._redis.delete(keys.sim_qr(cid))
                    return
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    break
                await self._wait(remaining)
        await self._redis.delete(keys.sim_qr(cid))
        self._phase = "expired"
        self._emit(QrSeriesExpired())

    async def _wait(self, timeout_s: float) -> None:
        """Until woken by the phone side or `timeout_s` of clock time passed."""
        if self._wake.is_set():
            self._wake.clear()
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(timeout_s))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
        self._wake.clear()

    async def _drain(self) -> None:
        cid = self.company_id
        while self._phase not in ("stopped", "down"):
            raw = await self._redis.lpop(keys.sim_commands(cid))
            if raw is None:
                break
            try:
                command = json.loads(str(raw))
                await self._apply(command)
            except (ValueError, KeyError, TypeError) as exc:
                self._log.warning("sim_bad_command", error=repr(exc))
        while self._phase == "connected":
            raw = await self._redis.lpop(keys.sim_inbox(cid))
            if raw is None:
                break
            try:
                m = json.loads(str(raw))
                chat = m.get("chat") or phone_to_jid(m["from"])
                self._emit(
                    IncomingText(
                        chat=chat,
                        sender=m.get("sender") or chat,
                        message_id=m["id"],
                        text=m["text"],
                        timestamp=float(m["ts"]),
                        from_me=bool(m.get("from_me")),
                        is_group=chat.endswith("@g.us"),
                        is_status=chat == "status@broadcast",
                        sender_phone=m.get("from"),
                        push_name=m.get("push_name"),
                    )
                )
            except (ValueError, KeyError, TypeError) as exc:
                self._log.warning("sim_bad_inbound", error=repr(exc))

    async def _link(self, phone: str) -> None:
        jid = f"{phone.lstrip('+')}:1@s.whatsapp.net"
        device = {"jid": jid, "phone": phone, "linked_at": self._clock.time()}
        await self._redis.set(keys.sim_device(self.company_id), json.dumps(device))
        await self._redis.delete(keys.sim_pairing(self.company_id))
        self._phase = "connected"
        self._log.info("sim_linked", phone=phone)
        self._emit(Connected(jid=jid, phone=phone))

    async def _apply(self, command: dict[str, Any]) -> None:
        kind = command["kind"]
        cid = self.company_id
        if kind == "scan":
            if self._phase == "qr":
                await self._link(command.get("phone") or default_sim_phone(cid))
        elif kind == "pair":
            if self._phase == "qr" and self._pairing and command.get("code") in (None, self._pairing[0]):
                await self._link(self._pairing[1])
        elif kind == "disconnect":
            count = max(1, int(command.get("count") or 1))
            if count > 1:
                await self._redis.set(keys.sim_fail_starts(cid), count - 1)
            self._phase = "down"
            self._emit(Disconnected(reason="sim: connection lost (injected)", transient=True))
        elif kind == "logout":
            await forget_device(self._redis, cid)
            self._phase = "down"
            self._emit(LoggedOut(reason="logged out from the phone"))
        elif kind == "ban":
            expires_at = self._clock.time() + float(command.get("expires_in_s") or 3600)
            await self._redis.set(keys.sim_ban(cid), str(expires_at))
            self._phase = "down"
            self._emit(TemporaryBan(code="sim-ban", expires_at=expires_at))
        elif kind == "replaced":
            self._phase = "down"
            self._emit(StreamReplaced())
        elif kind == "outdated":
            self._phase = "down"
            self._emit(ClientOutdated())
        elif kind == "pairing_failed":  # what neonize reports for a failed PairStatus: not transient
            self._phase = "down"
            self._emit(Disconnected(reason="pairing_failed: sim (injected)", transient=False))
        else:
            self._log.warning("sim_unknown_command", kind=kind)


class SimTransportFactory:
    """Creates simulator transports sharing one `SimHub` (implements `TransportFactory`).

    Needs only a Redis client and a clock, so an engine worker process can host it. The `qr_*` and
    `idempotent_send` keywords override the matching `SimConfig` fields.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        config: SimConfig | None = None,
        *,
        clock: Clock,
        spawner: Spawner | None = None,
        qr_first_s: float | None = None,
        qr_next_s: float | None = None,
        qr_count: int | None = None,
        idempotent_send: bool | None = None,
    ) -> None:
        base = config or SimConfig()
        self.config = dataclasses.replace(
            base,
            qr_first_s=base.qr_first_s if qr_first_s is None else qr_first_s,
            qr_next_s=base.qr_next_s if qr_next_s is None else qr_next_s,
            qr_count=base.qr_count if qr_count is None else qr_count,
            idempotent_send=base.idempotent_send if idempotent_send is None else idempotent_send,
        )
        self._redis = redis
        self._clock = clock
        self._spawner = spawner
        self.hub = SimHub(redis, spawner)

    @property
    def idempotent_send(self) -> bool:
        """What its transports declare (`SimConfig.idempotent_send`)."""
        return self.config.idempotent_send

    def create(self, company_id: int) -> SimTransport:
        return SimTransport(company_id, self._redis, self.config, self._clock, self.hub, self._spawner)

    async def forget(self, company_id: int) -> None:
        await forget_device(self._redis, company_id)

    async def close(self) -> None:
        await self.hub.close()
