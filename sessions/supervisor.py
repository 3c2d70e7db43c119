"""The engine supervisor: runs N worker processes and places sessions on them.

It is the TransportFactory the SessionManager uses when ENGINE_WORKERS > 0: `create()` returns a
ProxyTransport. Sessions go to the least loaded live worker (up to `sessions_per_worker`). A
worker that dies (crash, SIGKILL, silent past the heartbeat timeout) is restarted with exponential
backoff (jitter, cap) and the sessions it held are started again on the new worker — their
credentials live in the shared store, so they resume without a new scan. A worker that has opened
`recycle_after_connects` store connections takes no new sessions and is replaced once empty.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import structlog

from sessions import wire
from sessions.aio import cancel_and_wait
from sessions.factory import DeviceHint, EngineConfig
from sessions.proxy import ProxyTransport, WorkerDiedError, WorkerGoneError
from sessions.runtime import Spawner
from sessions.transport import Disconnected, TransportError
from sessions.worker import CAPACITY_ENV, CONFIG_ENV, HEARTBEAT_ENV, WORKER_ID_ENV

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SupervisorConfig:
    """How many workers, how full, how patient."""

    workers: int = 2
    sessions_per_worker: int = 50
    engine: EngineConfig = field(default_factory=EngineConfig)
    heartbeat_s: float = 5.0
    heartbeat_timeout_s: float = 30.0  # a worker silent this long is killed and restarted
    request_timeout_s: float = 60.0
    place_timeout_s: float = 30.0  # how long a start waits for a worker with room
    restart_base_s: float = 0.5
    restart_cap_s: float = 30.0
    stable_after_s: float = 60.0  # a worker that lived this long resets the backoff
    stop_grace_s: float = 10.0
    recycle_after_connects: int = 0  # 0: never recycle
    log_level: str = "INFO"
    python: str = sys.executable


class WorkerHandle:
    """One worker process as the supervisor sees it."""

    def __init__(self, slot: int, generation: int, process: asyncio.subprocess.Process) -> None:
        self.slot = slot
        self.generation = generation
        self.process = process
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.sessions: dict[int, ProxyTransport] = {}
        self.ready = asyncio.Event()
        self.alive = True
        self.retiring = False
        self.connects = 0
        self.started_at = asyncio.get_running_loop().time()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def name(self) -> str:
        return f"engine-worker-{self.slot}.{self.generation}"


class EngineSupervisor:
    """A TransportFactory backed by worker processes; `start()` / `close()` bracket its life."""

    def __init__(self, config: SupervisorConfig, spawner: Spawner, device_hint: DeviceHint | None = None) -> None:
        self._config = config
        self._spawner = spawner
        self._device_hint = device_hint
        self._workers: dict[int, WorkerHandle] = {}
        self._ids = 0
        self._closing = False
        self._changed = asyncio.Event()  # set whenever a worker comes up (placement waits on it)
        self._slot_tasks: list[asyncio.Task[Any]] = []
        # The worker transports' capability (from the workers' hello); False until one said so.
        self.idempotent_send = False

    # --- lifecycle -----------------------------------------------------------------------------

    def launch(self) -> None:
        """Spawn the worker slots (once); `start()` also waits for them, placement starts them lazily."""
        if self._slot_tasks or self._closing:
            return
        for slot in range(self._config.workers):
            self._slot_tasks.append(self._spawner.spawn(f"engine-slot-{slot}", self._run_slot(slot)))

    async def start(self) -> None:
        """Start every worker and wait (bounded) until each has said hello."""
        self.launch()
        deadline = asyncio.get_running_loop().time() + self._config.place_timeout_s
        while len(self.live_workers()) < self._config.workers:
            if asyncio.get_running_loop().time() > deadline:
                log.warning("engine_workers_slow_to_start", live=len(self.live_workers()))
                break
            await self._wait_changed(0.5)

    async def close(self) -> None:
        """Stop workers gracefully (stdin closed, sessions stopped), kill them after the grace."""
        self._closing = True
        workers = list(self._workers.values())
        for worker in workers:
            for proxy in list(worker.sessions.values()):
                proxy.stream_ended()
            if worker.process.stdin is not None and not worker.process.stdin.is_closing():
                worker.process.stdin.close()
        waits = [asyncio.wait_for(w.process.wait(), self._config.stop_grace_s) for w in workers]
        for worker, result in zip(workers, await asyncio.gather(*waits, return_exceptions=True)):
            if isinstance(result, BaseException):
                log.warning("engine_worker_killed_after_grace", worker=worker.name)
                _kill(worker.process)
                await worker.process.wait()
        for task in self._slot_tasks:
            task.cancel()
        for task in self._slot_tasks:
            await cancel_and_wait(task)  # bounded: a slot stuck in its cleanup cannot hang the close

    def live_workers(self) -> list[WorkerHandle]:
        """Workers that are up and answering."""
        return [w for w in self._workers.values() if w.alive and w.ready.is_set()]

    def worker_of(self, company_id: int) -> WorkerHandle | None:
        """The worker hosting `company_id` now (tests, ops)."""
        for worker in self._workers.values():
            if worker.alive and company_id in worker.sessions:
                return worker
        return None

    # --- TransportFactory -------------------------------------------------------------------

    def create(self, company_id: int) -> ProxyTransport:
        """A new, not yet started transport that will run in a worker."""
        return ProxyTransport(company_id, self)

    async def forget(self, company_id: int) -> None:
        """Delete the company's stored credentials (through any live worker)."""
        worker = await self._pick_worker(for_session=False)
        await self.request(worker, "forget", company_id)

    # --- used by ProxyTransport ------------------------------------------------------------------

    async def start_session(self, proxy: ProxyTransport) -> None:
        """Place `proxy`'s session on the least loaded worker and start it there."""
        async with proxy.lock:
            if not proxy.wanted or proxy.closed or proxy.worker is not None:
                return
            hint = await self._device_hint(proxy.company_id) if self._device_hint is not None else None
            worker = await self._pick_worker(for_session=True, proxy=proxy)
            worker.sessions[proxy.company_id] = proxy
            proxy.worker = worker
            try:
                await self.request(worker, "start", proxy.company_id, **({"jid": hint} if hint else {}))
            except WorkerDiedError:
                return  # the crash handler owns the session now and resumes it
            except BaseException:
                self.detach(proxy)
                raise
            log.info("engine_session_placed", company_id=proxy.company_id, worker=worker.name)

    def detach(self, proxy: ProxyTransport) -> None:
        """Forget where `proxy` runs."""
        worker = proxy.worker
        if worker is not None and worker.sessions.get(proxy.company_id) is proxy:
            del worker.sessions[proxy.company_id]
        proxy.worker = None
        if worker is not None and worker.retiring and not worker.sessions:
            self._retire(worker)

    async def request(self, worker: WorkerHandle, op: str, company_id: int | None, **args: Any) -> Any:
        """Send one command and wait for its reply (bounded).

        WorkerGoneError (a NotSentError): the command never reached the worker. WorkerDiedError or a
        timeout once it was written: the worker may have carried it out.
        """
        if not worker.alive or worker.process.stdin is None or worker.process.stdin.is_closing():
            raise WorkerGoneError(f"{worker.name} is not running")
        self._ids += 1
        request_id = self._ids
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        worker.pending[request_id] = future
        try:
            worker.process.stdin.write(wire.encode(wire.command(request_id, op, company_id, **args)))
            await worker.process.stdin.drain()
            return await asyncio.wait_for(future, self._config.request_timeout_s)
        except (ConnectionError, BrokenPipeError) as exc:
            # The pipe broke while our line was being flushed: it may have been read whole.
            raise WorkerDiedError(f"{worker.name} closed its pipe") from exc
        except TimeoutError as exc:
            raise TransportError(f"{worker.name} did not answer {op} in {self._config.request_timeout_s}s") from exc
        finally:
            worker.pending.pop(request_id, None)

    # --- placement ---------------------------------------------------------------------------------

    async def _pick_worker(self, *, for_session: bool, proxy: ProxyTransport | None = None) -> WorkerHandle:
        self.launch()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.place_timeout_s
        while True:
            if self._closing:
                raise TransportError("engine supervisor is closing")
            if proxy is not None and not proxy.wanted:
                raise TransportError("the session was stopped while waiting for an engine worker")
            candidates = self.live_workers()
            if for_session:
                candidates = [w for w in candidates if len(w.sessions) < self._config.sessions_per_worker]
                # a retiring worker (connect budget spent) takes sessions only when nobody else can
                candidates = [w for w in candidates if not w.retiring] or candidates
            if candidates:
                return min(candidates, key=lambda w: (len(w.sessions), w.slot))
            if loop.time() > deadline:
                live = len(self.live_workers())
                if for_session and live:
                    raise TransportError(f"no engine worker has room for another session ({live} live, "
                                         f"{self._config.sessions_per_worker} sessions each)")
                raise TransportError(f"no engine worker is up ({live} of {self._config.workers} live)")
            await self._wait_changed(min(1.0, max(0.05, deadline - loop.time())))

    async def _wait_changed(self, timeout_s: float) -> None:
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout_s)
        except TimeoutError:
            pass

    # --- one worker slot: spawn, read, restart ----------------------------------------------------

    async def _run_slot(self, slot: int) -> None:
        failures = 0
        generation = 0
        while not self._closing:
            generation += 1
            try:
                worker = await self._spawn_worker(slot, generation)
            except OSError as exc:
                log.error("engine_worker_spawn_failed", slot=slot, error=repr(exc))
                failures += 1
                await asyncio.sleep(self._backoff(failures))
                continue
            self._workers[slot] = worker
            orphans = await self._serve_worker(worker)
            if self._closing:
                return
            lived_s = asyncio.get_running_loop().time() - worker.started_at
            failures = 0 if (lived_s >= self._config.stable_after_s or worker.retiring) else failures + 1
            delay = 0.0 if worker.retiring else self._backoff(failures)
            log.warning("engine_worker_exited", worker=worker.name, pid=worker.pid,
                        returncode=worker.process.returncode, sessions=len(orphans), restart_in_s=round(delay, 2))
            if delay:
                await asyncio.sleep(delay)
            if orphans:
                self._spawner.spawn(f"engine-resume-{slot}.{generation}", self._resume(orphans))

    def _backoff(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        ceiling = min(self._config.restart_cap_s, self._config.restart_base_s * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def _spawn_worker(self, slot: int, generation: int) -> WorkerHandle:
        env = dict(os.environ)
        env[CONFIG_ENV] = self._config.engine.to_json()
        env[CAPACITY_ENV] = str(self._config.sessions_per_worker)
        env[HEARTBEAT_ENV] = str(self._config.heartbeat_s)
        env[WORKER_ID_ENV] = f"{slot}.{generation}"
        env["LOG_LEVEL"] = self._config.log_level
        process = await asyncio.create_subprocess_exec(
            self._config.python, "-m", "sessions.worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, limit=wire.MAX_LINE_BYTES + 2, start_new_session=True,
        )
        worker = WorkerHandle(slot, generation, process)
        log.info("engine_worker_spawned", worker=worker.name, pid=process.pid)
        return worker

    async def _serve_worker(self, worker: WorkerHandle) -> list[ProxyTransport]:
        """Read the worker until it exits; return the sessions it held (to resume)."""
        logs = self._spawner.spawn(f"{worker.name}-stderr", self._pump_stderr(worker))
        assert worker.process.stdout is not None
        try:
            while True:
                try:
                    line = await asyncio.wait_for(worker.process.stdout.readline(),
                                                  self._config.heartbeat_timeout_s)
                except TimeoutError:
                    log.error("engine_worker_silent", worker=worker.name, timeout_s=self._config.heartbeat_timeout_s)
                    _kill(worker.process)
                    break
                except ValueError:
                    log.warning("engine_worker_line_too_long", worker=worker.name)
                    continue
                if not line:
                    break
                self._handle_line(worker, line)
        finally:
            worker.alive = False
            try:  # stdout closed: the process is exiting; a hung one is killed
                await asyncio.wait_for(worker.process.wait(), self._config.stop_grace_s)
            except TimeoutError:
                _kill(worker.process)
                await worker.process.wait()
            # stderr ends with the process, unless something it left behind holds the pipe open.
            await asyncio.wait({logs}, timeout=self._config.stop_grace_s)
            await cancel_and_wait(logs)
            for future in worker.pending.values():
                if not future.done():
                    future.set_exception(WorkerDiedError(f"{worker.name} exited"))
            orphans = [p for p in worker.sessions.values() if p.worker_lost()]
            worker.sessions.clear()
        return orphans

    def _handle_line(self, worker: WorkerHandle, line: bytes) -> None:
        msg = wire.decode(line)
        if msg is None:
            log.warning("engine_worker_bad_line", worker=worker.name, line=line[:200].decode(errors="replace"))
            return
        kind = msg["kind"]
        if kind == "reply":
            future = worker.pending.get(msg["id"])
            if future is not None and not future.done():
                if msg["ok"]:
                    future.set_result(msg.get("result"))
                else:
                    future.set_exception(wire.error_from_reply(msg))
        elif kind == "event":
            proxy = worker.sessions.get(msg["company_id"])
            if proxy is None:
                return
            try:
                proxy.deliver(wire.event_from_dict(msg["event"]))
            except wire.WireError as exc:
                log.warning("engine_worker_bad_event", worker=worker.name, error=str(exc))
        elif kind == "ended":
            proxy = worker.sessions.get(msg["company_id"])
            if proxy is not None:
                self.detach(proxy)
                proxy.stream_ended()
        elif kind == "hello":
            self.idempotent_send = bool(msg.get("idempotent_send", False))
            worker.ready.set()
            self._changed.set()
        elif kind == "heartbeat":
            worker.connects = int(msg.get("connects") or 0)
            limit = self._config.recycle_after_connects
            if limit and worker.connects >= limit and not worker.retiring:
                worker.retiring = True
                log.info("engine_worker_retiring", worker=worker.name, connects=worker.connects)
                if not worker.sessions:
                    self._retire(worker)

    def _retire(self, worker: WorkerHandle) -> None:
        """Close an empty retiring worker's stdin: it exits and its slot starts a fresh one."""
        worker.alive = False  # no placement on it any more
        if worker.process.stdin is not None and not worker.process.stdin.is_closing():
            worker.process.stdin.close()

    async def _pump_stderr(self, worker: WorkerHandle) -> None:
        """Re-log the worker's JSON logs through ours, tagged with the worker."""
        assert worker.process.stderr is not None
        while True:
            try:
                line = await worker.process.stderr.readline()
            except ValueError:
                continue
            if not line:
                return
            text = line.decode(errors="replace").rstrip()
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if isinstance(record, dict):
                level = str(record.pop("level", "info")).lower()
                event = str(record.pop("event", "worker_log"))
                record.pop("timestamp", None)
                record.pop("worker", None)
                fields = {k: v for k, v in record.items() if isinstance(k, str) and k not in ("logger",)}
                getattr(log, level if level in ("debug", "info", "warning", "error") else "info")(
                    "engine_worker_log", worker=worker.name, worker_event=event, **fields)
            elif text:
                log.info("engine_worker_output", worker=worker.name, line=text[:500])

    async def _resume(self, orphans: list[ProxyTransport]) -> None:
        """Start a dead worker's sessions again on the live workers."""
        for proxy in orphans:
            if not proxy.wanted or proxy.closed or proxy.worker is not None:
                continue
            try:
                await self.start_session(proxy)
            except TransportError as exc:
                log.error("engine_session_resume_failed", company_id=proxy.company_id, error=str(exc))
                proxy.deliver(Disconnected(reason=f"engine_resume_failed: {exc}", transient=True))


def _kill(process: asyncio.subprocess.Process) -> None:
    try:
        process.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
