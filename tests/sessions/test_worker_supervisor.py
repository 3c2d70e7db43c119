"""Engine workers as real processes: placement, proxying, protocol robustness, crash and recycle."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.tasks import TaskSupervisor
from sessions import wire
from sessions.factory import EngineConfig
from sessions.proxy import WORKER_CRASHED, ProxyTransport
from sessions.supervisor import EngineSupervisor, SupervisorConfig
from sessions.transport import (
    Connected,
    Disconnected,
    LoggedOut,
    NotConnectedError,
    QrCode,
    TransportError,
    TransportEvent,
)
from sessions.worker import CAPACITY_ENV, CONFIG_ENV

PROVIDER = "tests.sessions.worker_fakes:make_factory"
ROOT = Path(__file__).resolve().parents[2]


def engine(tmp_path: Path) -> EngineConfig:
    return EngineConfig(provider=PROVIDER, extra={"dir": str(tmp_path)})


@pytest.fixture
async def make_supervisor(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[tuple[EngineSupervisor, TaskSupervisor]] = []

    async def make(**overrides: Any) -> EngineSupervisor:
        fields: dict[str, Any] = {"workers": 2, "sessions_per_worker": 2, "engine": engine(tmp_path),
                                  "heartbeat_s": 0.5, "heartbeat_timeout_s": 15.0, "restart_base_s": 0.1,
                                  "restart_cap_s": 0.5, "place_timeout_s": 15.0, "request_timeout_s": 15.0,
                                  "stop_grace_s": 5.0}
        fields.update(overrides)
        tasks = TaskSupervisor("test-engine")
        sup = EngineSupervisor(SupervisorConfig(**fields), tasks)
        made.append((sup, tasks))
        await sup.start()
        return sup

    yield make
    for sup, tasks in made:
        await sup.close()
        await tasks.close()


async def next_event(events: AsyncIterator[TransportEvent], timeout_s: float = 15.0) -> TransportEvent:
    return await asyncio.wait_for(events.__anext__(), timeout_s)


async def until(predicate: Any, timeout_s: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.02)


async def test_sessions_are_spread_over_workers_and_calls_are_proxied(make_supervisor: Any, tmp_path: Path) -> None:
    (tmp_path / "paired-1").touch()
    sup: EngineSupervisor = await make_supervisor()
    assert len(sup.live_workers()) == 2
    transports = {cid: sup.create(cid) for cid in (1, 2, 3)}
    streams = {cid: t.events() for cid, t in transports.items()}
    for t in transports.values():
        await t.start()
    # least loaded placement: 2 workers, 3 sessions -> 2 + 1
    assert sorted(len(w.sessions) for w in sup.live_workers()) == [1, 2]
    first = await next_event(streams[1])
    assert first == Connected(jid="79001:1@s.whatsapp.net", phone="+79001")
    qr = await next_event(streams[2])
    assert isinstance(qr, QrCode) and qr.code == f"qr-2-{sup.worker_of(2).pid}"  # built in the worker process

    mid = await transports[1].send_text("79990001122@s.whatsapp.net", "Добрый день!", message_id="OUT-1")
    assert mid == "OUT-1"
    sent = [json.loads(x) for x in (tmp_path / "sent-1.jsonl").read_text().splitlines()]
    assert sent == [{"chat": "79990001122@s.whatsapp.net", "text": "Добрый день!", "id": "OUT-1",
                     "pid": sup.worker_of(1).pid}]
    with pytest.raises(NotConnectedError):  # the worker's NotConnectedError keeps its type
        await transports[2].send_text("79990001122@s.whatsapp.net", "x")
    code = await transports[2].request_pairing_code("+79161234567")
    assert code.code == "ABCD-EFGH"

    assert isinstance(await next_event(streams[3]), QrCode)
    await transports[3].stop()
    with pytest.raises(StopAsyncIteration):
        await next_event(streams[3])
    assert sup.worker_of(3) is None
    await transports[3].stop()  # idempotent
    with pytest.raises(NotConnectedError):
        await transports[3].send_text("79990001122@s.whatsapp.net", "x")


async def test_a_full_engine_refuses_more_sessions_with_a_clear_error(make_supervisor: Any) -> None:
    sup: EngineSupervisor = await make_supervisor(workers=1, sessions_per_worker=1, place_timeout_s=0.3)
    await sup.create(1).start()
    with pytest.raises(TransportError, match="no engine worker has room"):
        await sup.create(2).start()


async def test_sigkilled_worker_is_restarted_and_its_sessions_resume(make_supervisor: Any, tmp_path: Path) -> None:
    (tmp_path / "paired-7").touch()
    sup: EngineSupervisor = await make_supervisor(workers=1)
    transport = sup.create(7)
    events = transport.events()
    await transport.start()
    assert isinstance(await next_event(events), Connected)
    old = sup.worker_of(7)
    assert old is not None
    os.kill(old.pid, signal.SIGKILL)

    assert await next_event(events) == Disconnected(reason=WORKER_CRASHED, transient=True)
    assert isinstance(await next_event(events), Connected)  # resumed from the shared store, no new scan
    new = sup.worker_of(7)
    assert new is not None and new.pid != old.pid and new.slot == old.slot
    assert await transport.send_text("79990001122@s.whatsapp.net", "снова тут") != ""


async def test_an_unpaired_session_gets_a_fresh_qr_on_the_new_worker(make_supervisor: Any) -> None:
    sup: EngineSupervisor = await make_supervisor(workers=1)
    transport: ProxyTransport = sup.create(8)
    events = transport.events()
    await transport.start()
    first = await next_event(events)
    assert isinstance(first, QrCode)
    os.kill(sup.worker_of(8).pid, signal.SIGKILL)  # type: ignore[union-attr]
    assert isinstance(await next_event(events), Disconnected)
    second = await next_event(events)
    assert isinstance(second, QrCode) and second.code != first.code


async def test_workers_are_recycled_after_their_connect_budget(make_supervisor: Any) -> None:
    sup: EngineSupervisor = await make_supervisor(workers=1, recycle_after_connects=2)
    first = sup.live_workers()[0]
    for cid in (1, 2):
        transport = sup.create(cid)
        await transport.start()
        await transport.stop()
    await until(lambda: bool(sup.live_workers()) and sup.live_workers()[0].generation > first.generation)
    assert first.process.returncode == 0  # it left cleanly, it was not killed
    transport = sup.create(3)
    await transport.start()
    assert sup.worker_of(3) is not None and sup.worker_of(3).generation > first.generation  # type: ignore[union-attr]


async def test_close_stops_workers_gracefully(make_supervisor: Any) -> None:
    sup: EngineSupervisor = await make_supervisor(workers=2)
    transport = sup.create(1)
    events = transport.events()
    await transport.start()
    assert isinstance(await next_event(events), QrCode)
    workers = sup.live_workers()
    await sup.close()
    assert [w.process.returncode for w in workers] == [0, 0]
    with pytest.raises(StopAsyncIteration):
        await next_event(events)


async def test_worker_skips_garbage_and_exits_when_stdin_closes(tmp_path: Path) -> None:
    env = dict(os.environ, **{CONFIG_ENV: engine(tmp_path).to_json(), CAPACITY_ENV: "3"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sessions.worker", cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdin and proc.stdout and proc.stderr
    stderr = asyncio.ensure_future(proc.stderr.read())  # never let the log pipe fill up

    events: list[dict[str, Any]] = []

    async def read_until(kind: str) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                proc.kill()
                raise AssertionError(f"no {kind} from the worker; stderr: {(await stderr)[-3000:]!r}")
            line = await asyncio.wait_for(proc.stdout.readline(), left)  # type: ignore[union-attr]
            assert line, "worker closed stdout"
            msg = wire.decode(line)
            assert msg is not None, f"worker wrote a non-protocol line: {line!r}"
            if msg["kind"] == "event":
                events.append(msg)
            if msg["kind"] == kind:
                return msg

    hello = await read_until("hello")
    assert hello["capacity"] == 3 and hello["pid"] == proc.pid
    proc.stdin.write(b"garbage\n{\"kind\":\"cmd\"}\n\xff\n" + wire.encode(wire.command(1, "start", 5)))
    proc.stdin.write(wire.encode(wire.command(2, "send_text", 5, chat="x@s.whatsapp.net", text="hi")))
    await proc.stdin.drain()
    seen = [await read_until("reply"), await read_until("reply")]  # the event may come in between
    replies = {m["id"]: m for m in seen}
    assert replies[1] == {"kind": "reply", "id": 1, "ok": True, "result": {"already_running": False}}
    assert replies[2]["ok"] is False and replies[2]["error"]["type"] == "NotConnectedError"
    while not events:
        await read_until("event")
    assert events[0]["company_id"] == 5 and events[0]["event"]["type"] == "QrCode"
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 15) == 0
    logs = (await asyncio.wait_for(stderr, 15)).decode()
    assert "worker_bad_line" in logs
    for line in logs.splitlines():  # JSON logs only: ours are configured before anything else
        json.loads(line)


async def test_neonize_runs_inside_a_worker_and_fails_clearly_offline(make_supervisor: Any, tmp_path: Path) -> None:
    """The real neonize transport hosted by a worker process: no network -> a clear Disconnected."""
    config = EngineConfig(provider="neonize", var_dir=str(tmp_path), neonize_connect_attempts=2,
                          neonize_connect_retry_s=0.05)
    sup: EngineSupervisor = await make_supervisor(workers=1, engine=config)
    transport = sup.create(21)
    events = transport.events()
    await transport.start()
    event = await next_event(events, 25.0)
    assert isinstance(event, Disconnected) and event.reason.startswith("connect_failed:")
    assert "web.whatsapp.com" in event.reason
    await until(lambda: sup.live_workers()[0].connects == 2)  # reported in heartbeats (recycling input)
    with pytest.raises(NotConnectedError):
        await transport.send_text("79990001122@s.whatsapp.net", "Здравствуйте")
    await transport.stop()


async def test_a_hung_worker_is_killed_after_the_heartbeat_timeout(make_supervisor: Any, tmp_path: Path) -> None:
    (tmp_path / "paired-9").touch()
    sup: EngineSupervisor = await make_supervisor(workers=1, heartbeat_s=0.2, heartbeat_timeout_s=1.0)
    transport = sup.create(9)
    events = transport.events()
    await transport.start()
    assert isinstance(await next_event(events), Connected)
    hung = sup.worker_of(9)
    assert hung is not None
    os.kill(hung.pid, signal.SIGSTOP)  # alive but silent: no heartbeats, no replies
    assert await next_event(events) == Disconnected(reason=WORKER_CRASHED, transient=True)
    assert isinstance(await next_event(events), Connected)
    assert hung.process.returncode == -signal.SIGKILL
    assert sup.worker_of(9) is not None and sup.worker_of(9).pid != hung.pid  # type: ignore[union-attr]


async def test_stop_while_waiting_for_room_gives_up_promptly(make_supervisor: Any) -> None:
    sup: EngineSupervisor = await make_supervisor(workers=1, sessions_per_worker=1, place_timeout_s=20.0)
    await sup.create(1).start()
    waiting = sup.create(2)
    start = asyncio.ensure_future(waiting.start())
    await until(waiting.lock.locked)  # it is queued, waiting for a worker with room
    await asyncio.wait_for(waiting.stop(), 5.0)
    with pytest.raises(TransportError, match="stopped while waiting"):
        await asyncio.wait_for(start, 5.0)


def test_restart_backoff_grows_with_jitter_up_to_the_cap() -> None:
    sup = EngineSupervisor(SupervisorConfig(restart_base_s=0.5, restart_cap_s=8.0), TaskSupervisor("unused"))
    assert sup._backoff(0) == 0.0
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        delays = {sup._backoff(failures) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered, so crashed workers do not restart in lockstep


async def test_a_neonize_worker_logs_only_our_json_and_exits_on_stdin_close(tmp_path: Path) -> None:
    """Our logging is configured before neonize is imported (its basicConfig must not take over),
    and the Go library's threads do not keep a parentless worker alive."""
    config = EngineConfig(provider="neonize", var_dir=str(tmp_path), neonize_connect_attempts=1)
    env = dict(os.environ, **{CONFIG_ENV: config.to_json(), CAPACITY_ENV: "2"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sessions.worker", cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdin and proc.stdout and proc.stderr
    stderr = asyncio.ensure_future(proc.stderr.read())
    proc.stdin.write(wire.encode(wire.command(1, "start", 3)))
    await proc.stdin.drain()
    seen: list[dict[str, Any]] = []
    while not any(m["kind"] == "event" for m in seen):
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line, "worker closed stdout"
        msg = wire.decode(line)
        assert msg is not None, f"non-protocol line on stdout: {line!r}"
        seen.append(msg)
    event = next(m for m in seen if m["kind"] == "event")["event"]
    assert event["type"] == "Disconnected" and event["reason"].startswith("connect_failed:")
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    lines = (await asyncio.wait_for(stderr, 10)).decode().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one of our JSON records
    assert any(r.get("logger", "").startswith("neonize") or r.get("logger", "").startswith("whatsmeow")
               for r in records)  # the library's own logging went through our handler


async def test_forget_and_logout_go_through_a_worker(make_supervisor: Any, tmp_path: Path) -> None:
    (tmp_path / "paired-4").touch()
    (tmp_path / "paired-5").touch()
    sup: EngineSupervisor = await make_supervisor(workers=1)
    await sup.forget(4)
    assert not (tmp_path / "paired-4").exists()
    transport = sup.create(5)
    events = transport.events()
    await transport.start()
    assert isinstance(await next_event(events), Connected)
    await transport.logout()
    assert isinstance(await next_event(events), LoggedOut)
    assert not (tmp_path / "paired-5").exists()


async def test_the_stored_jid_travels_to_the_worker(make_supervisor: Any, tmp_path: Path) -> None:
    """The JID the manager stored (wa_sessions.jid) reaches the worker's transport (neonize: jid=)."""
    asked: list[int] = []

    async def hint(company_id: int) -> str | None:
        asked.append(company_id)
        return "79001:1@s.whatsapp.net" if company_id == 1 else None

    tasks = TaskSupervisor("test-hint")
    sup = EngineSupervisor(SupervisorConfig(workers=1, engine=engine(tmp_path), place_timeout_s=15.0), tasks,
                           device_hint=hint)
    try:
        await sup.start()
        for cid in (1, 2):
            await sup.create(cid).start()
        assert asked == [1, 2]
        assert (tmp_path / "hint-1").read_text() == "79001:1@s.whatsapp.net"
        assert not (tmp_path / "hint-2").exists()
    finally:
        await sup.close()
        await tasks.close()


async def test_close_is_bounded_when_a_grandchild_holds_the_worker_stderr(tmp_path: Path) -> None:
    # A worker that left a process behind holding its stderr open: the stderr pump never sees EOF.
    launcher = tmp_path / "python-with-grandchild"
    launcher.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {tmp_path}/grandchild.pid\nexec {sys.executable} \"$@\"\n")
    launcher.chmod(0o755)
    tasks = TaskSupervisor("test-engine")
    sup = EngineSupervisor(SupervisorConfig(
        workers=1, sessions_per_worker=1, engine=engine(tmp_path), heartbeat_s=0.5, heartbeat_timeout_s=15.0,
        restart_base_s=0.1, restart_cap_s=0.5, place_timeout_s=15.0, request_timeout_s=15.0, stop_grace_s=0.5,
        python=str(launcher)), tasks)
    process = None
    try:
        await sup.start()
        assert len(sup.live_workers()) == 1
        process = sup.live_workers()[0].process
        closing = asyncio.ensure_future(sup.close())
        done, _ = await asyncio.wait({closing}, timeout=15)
        assert closing in done, "EngineSupervisor.close hung on the worker's stderr"
    finally:
        pid_file = tmp_path / "grandchild.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        if process is not None and process.stderr is not None:
            await until(process.stderr.at_eof)  # the pipe closes with the grandchild: no leaked transport
        await tasks.close()
