"""The inside of an engine worker: runs transports and answers the parent's commands.

Separate from `sessions.worker` (process setup) so it can be exercised in-process by tests.
Commands of one company run in order (a lock per company); different companies run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

import structlog

from sessions import wire
from sessions.transport import NotConnectedError, Transport, TransportError, TransportFactory

log = structlog.get_logger(__name__)


class WorkerFullError(TransportError):
    """This worker already holds its maximum number of sessions."""


class WorkerHost:
    """Hosts up to `capacity` sessions and serves the line protocol until stdin ends."""

    def __init__(self, factory: TransportFactory, *, capacity: int, write: Callable[[bytes], None],
                 heartbeat_s: float = 5.0, stop_timeout_s: float = 20.0) -> None:
        self._factory = factory
        self._capacity = capacity
        self._write = write
        self._heartbeat_s = heartbeat_s
        self._stop_timeout_s = stop_timeout_s
        self._sessions: dict[int, Transport] = {}
        self._pumps: dict[int, asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._starts = 0
        self._stopping = False

    # --- plumbing ---------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        """Write one protocol line to the parent (a dead parent is not our problem)."""
        try:
            self._write(wire.encode(message))
        except (BrokenPipeError, OSError, ValueError):
            pass

    def _spawn(self, name: str, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def connects(self) -> int:
        """Store connections opened so far (the factory's count when it keeps one)."""
        return int(getattr(self._factory, "connects", self._starts))

    async def serve(self, reader: asyncio.StreamReader) -> None:
        """Read commands until EOF, then stop every session and return."""
        self.send({"kind": "hello", "pid": os.getpid(), "capacity": self._capacity,
                   "idempotent_send": bool(getattr(self._factory, "idempotent_send", False))})
        beat = self._spawn("worker-heartbeat", self._heartbeat())
        try:
            while not self._stopping:
                try:
                    line = await reader.readline()
                except ValueError:  # over-long line: the reader dropped it
                    log.warning("worker_line_too_long")
                    continue
                if not line:
                    break
                msg = wire.decode(line)
                if msg is None or msg["kind"] != "cmd":
                    log.warning("worker_bad_line", line=line[:200].decode(errors="replace"))
                    continue
                self._spawn(f"worker-cmd-{msg['op']}-{msg['id']}", self._run_command(msg))
        finally:
            beat.cancel()
            await self.shutdown()

    async def _heartbeat(self) -> None:
        while True:
            self.send({"kind": "heartbeat", "sessions": len(self._sessions), "connects": self.connects,
                       "ts": time.time()})
            await asyncio.sleep(self._heartbeat_s)

    async def shutdown(self) -> None:
        """Stop every session (bounded), then cancel what is left."""
        self._stopping = True
        stops = [self._stop_one(cid) for cid in list(self._sessions)]
        if stops:
            try:
                await asyncio.wait_for(asyncio.gather(*stops, return_exceptions=True), self._stop_timeout_s + 5)
            except TimeoutError:
                log.warning("worker_shutdown_slow", sessions=len(self._sessions))
        for task in list(self._tasks) + list(self._pumps.values()):
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*self._pumps.values(), return_exceptions=True)

    async def _stop_one(self, company_id: int) -> None:
        transport = self._sessions.get(company_id)
        if transport is None:
            return
        try:
            await asyncio.wait_for(transport.stop(), self._stop_timeout_s)
        except Exception as exc:  # noqa: BLE001 - shutting down regardless
            log.warning("worker_stop_failed", company_id=company_id, error=repr(exc))

    # --- commands ---------------------------------------------------------------------------

    async def _run_command(self, msg: dict[str, Any]) -> None:
        request_id, op = msg["id"], msg["op"]
        company_id = msg.get("company_id")
        raw_args = msg.get("args")
        args: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
        try:
            if op == "shutdown":
                self._stopping = True
                self.send(wire.reply_ok(request_id))
                await self.shutdown()
                return
            if not isinstance(company_id, int):
                raise TransportError(f"{op} needs an integer company_id")
            lock = self._locks.setdefault(company_id, asyncio.Lock())
            async with lock:
                result = await self._dispatch(op, company_id, args)
            self.send(wire.reply_ok(request_id, result))
        except Exception as exc:  # noqa: BLE001 - every failure goes back as a reply
            if not isinstance(exc, TransportError):
                log.warning("worker_command_failed", op=op, company_id=company_id, error=repr(exc))
            self.send(wire.reply_error(request_id, exc))

    async def _dispatch(self, op: str, company_id: int, args: dict[str, Any]) -> Any:
        if op == "start":
            return await self._start(company_id, args.get("jid"))
        if op == "forget":
            await self._factory.forget(company_id)
            return None
        transport = self._sessions.get(company_id)
        if op == "stop":
            if transport is not None:
                await transport.stop()
                await self._end_pump(company_id)
            return None
        if transport is None:
            # Nothing was attempted: for a send, "not connected" (retried once the session is back).
            raise NotConnectedError(f"session {company_id} is not running in this worker")
        if op == "send_text":
            extra = {"message_id": args["message_id"]} if args.get("message_id") else {}
            return await transport.send_text(str(args["chat"]), str(args["text"]), **extra)
        if op == "send_typing":
            await transport.send_typing(str(args["chat"]), bool(args.get("typing", True)))
            return None
        if op == "mark_read":
            await transport.mark_read(str(args["chat"]), [str(m) for m in args["message_ids"]], str(args["sender"]))
            return None
        if op == "request_pairing_code":
            code = await transport.request_pairing_code(str(args["phone"]))
            return {"code": code.code, "expires_in_s": code.expires_in_s}
        if op == "logout":
            await transport.logout()
            return None
        raise TransportError(f"unknown op {op}")

    async def _start(self, company_id: int, jid: Any = None) -> dict[str, Any]:
        if company_id in self._sessions:
            return {"already_running": True}  # idempotent: a resumed start after a parent retry
        if len(self._sessions) >= self._capacity:
            raise WorkerFullError(f"worker holds {self._capacity} sessions")
        transport = self._factory.create(company_id)
        use_jid = getattr(transport, "use_stored_jid", None)
        if jid and use_jid is not None:
            use_jid(str(jid))
        self._sessions[company_id] = transport
        self._pumps[company_id] = self._spawn(f"worker-pump-{company_id}", self._pump(company_id, transport))
        self._starts += 1
        try:
            await transport.start()
        except BaseException:
            await self._forget_session(company_id, transport)
            raise
        return {"already_running": False}

    async def _pump(self, company_id: int, transport: Transport) -> None:
        """Forward the session's events, in order, then say that its stream ended."""
        try:
            async for event in transport.events():
                self.send(wire.event_message(company_id, event))
        except Exception as exc:  # noqa: BLE001 - a broken stream ends the session, not the worker
            log.warning("worker_event_stream_failed", company_id=company_id, error=repr(exc))
        finally:
            if self._sessions.get(company_id) is transport:
                del self._sessions[company_id]
                self._pumps.pop(company_id, None)
            self.send({"kind": "ended", "company_id": company_id})

    async def _end_pump(self, company_id: int) -> None:
        """After a stop: give the stream a moment to end on its own, then end it ourselves."""
        pump = self._pumps.get(company_id)
        if pump is None:
            return
        done, _ = await asyncio.wait({pump}, timeout=5.0)
        if not done:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    async def _forget_session(self, company_id: int, transport: Transport) -> None:
        if self._sessions.get(company_id) is transport:
            del self._sessions[company_id]
        pump = self._pumps.pop(company_id, None)
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        with contextlib.suppress(Exception):  # it never started
            await transport.stop()
