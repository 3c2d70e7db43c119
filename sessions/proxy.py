"""A Transport whose session runs inside an engine worker process.

The proxy forwards every call to the worker that hosts its session (through the supervisor) and
re-emits the worker's events unchanged. When that worker dies, the proxy emits
`Disconnected("engine_worker_crashed", transient=True)` and the supervisor re-starts the session on
a new worker; the events of the new run then continue on the same stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from sessions.transport import (
    Disconnected,
    NotConnectedError,
    NotSentError,
    PairingCode,
    TransportError,
    TransportEvent,
)

if TYPE_CHECKING:
    from sessions.supervisor import EngineSupervisor, WorkerHandle

_END = object()
WORKER_CRASHED = "engine_worker_crashed"


class WorkerDiedError(TransportError):
    """The worker process exited before it answered: what it was doing may or may not have happened."""


class WorkerGoneError(WorkerDiedError, NotSentError):
    """The command never reached a worker (it was already gone, or its pipe was closed)."""


class ProxyTransport:
    """One company's session, proxied to a worker process."""

    def __init__(self, company_id: int, supervisor: EngineSupervisor) -> None:
        self.company_id = company_id
        self._supervisor = supervisor
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.worker: WorkerHandle | None = None
        self.wanted = False  # started and not stopped: resumed after a worker crash
        self.closed = False
        self.lock = asyncio.Lock()  # serialises start / resume / stop of this proxy

    @property
    def idempotent_send(self) -> bool:
        """What the worker-side transports declare (reported in the workers' hello)."""
        return self._supervisor.idempotent_send

    # --- Transport ------------------------------------------------------------------------

    async def start(self) -> None:
        """Place the session on the least loaded worker and start it there."""
        if self.closed:
            raise TransportError("this transport was stopped; create a new one")
        self.wanted = True
        await self._supervisor.start_session(self)

    async def stop(self) -> None:
        """Stop the session in its worker (idempotent) and end the event stream."""
        self.wanted = False
        if self.closed:
            return
        async with self.lock:
            worker = self.worker
            if worker is not None:
                try:
                    await self._supervisor.request(worker, "stop", self.company_id)
                except TransportError:
                    pass  # the worker is gone: so is the session
                self._supervisor.detach(self)
        self._end()

    async def logout(self) -> None:
        """Unlink the device (the worker's transport emits LoggedOut)."""
        await self._call("logout")

    async def request_pairing_code(self, phone: str) -> PairingCode:
        """A pairing code from the worker's transport."""
        result = await self._call("request_pairing_code", phone=phone)
        return PairingCode(code=str(result["code"]), expires_in_s=float(result["expires_in_s"]))

    async def send_text(self, chat: str, text: str, message_id: str | None = None) -> str:
        """Send through the worker; NotConnectedError while no worker holds the session."""
        args: dict[str, Any] = {"chat": chat, "text": text}
        if message_id:
            args["message_id"] = message_id
        return str(await self._call("send_text", **args))

    async def send_typing(self, chat: str, typing: bool = True) -> None:
        await self._call("send_typing", chat=chat, typing=typing)

    async def mark_read(self, chat: str, message_ids: list[str], sender: str) -> None:
        await self._call("mark_read", chat=chat, message_ids=list(message_ids), sender=sender)

    async def events(self) -> AsyncIterator[TransportEvent]:
        """The session's events from whichever worker runs it, until it stops."""
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # a second reader ends too
                return
            yield item

    # --- called by the supervisor --------------------------------------------------------------

    def deliver(self, event: TransportEvent) -> None:
        """An event of this session arrived from its worker."""
        if not self.closed:
            self._queue.put_nowait(event)

    def stream_ended(self) -> None:
        """The worker's transport ended its stream (stopped, or a terminal event)."""
        self.wanted = False
        self._end()

    def worker_lost(self) -> bool:
        """The hosting worker died; True when the session should be resumed elsewhere."""
        self.worker = None
        if self.closed:
            return False
        self.deliver(Disconnected(reason=WORKER_CRASHED, transient=True))
        return self.wanted

    # --- internals ---------------------------------------------------------------------------

    def _end(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(_END)

    async def _call(self, op: str, **args: Any) -> Any:
        worker = self.worker
        if worker is None or not worker.alive:
            raise NotConnectedError(f"session {self.company_id} is not running on any engine worker")
        return await self._supervisor.request(worker, op, self.company_id, **args)
