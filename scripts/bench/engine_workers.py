"""Benchmark: engine worker processes (sessions.supervisor) with real processes and real time.

Uses the small file-backed transport of the worker tests (no Postgres/Redis needed) so the figures
are the engine's own overhead: process boot, placement, command round trips through the line
protocol, recovery after a SIGKILL, and resident memory of an idle worker (with and without
neonize's Go library loaded).

    .venv/bin/python scripts/bench/engine_workers.py [--workers 2] [--sessions 200] [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil

from gateway.logging import configure_logging
from gateway.tasks import TaskSupervisor
from sessions.factory import EngineConfig
from sessions.supervisor import EngineSupervisor, SupervisorConfig
from sessions.transport import Connected

PROVIDER = "tests.sessions.worker_fakes:make_factory"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def idle_worker_rss_mb(provider: str, root: str) -> float:
    tasks = TaskSupervisor("bench-rss")
    sup = EngineSupervisor(SupervisorConfig(workers=1, engine=EngineConfig(provider=provider, var_dir=root,
                                                                            extra={"dir": root})), tasks)
    await sup.start()
    await asyncio.sleep(0.5)  # let imports settle (benchmark only)
    rss = psutil.Process(sup.live_workers()[0].pid).memory_info().rss / 2**20
    await sup.close()
    await tasks.close()
    return rss


async def main(workers: int, sessions: int, calls: int) -> None:
    root = tempfile.mkdtemp(prefix="bench-engine-")
    for cid in range(1, sessions + 1):
        Path(root, f"paired-{cid}").touch()
    tasks = TaskSupervisor("bench")
    config = SupervisorConfig(workers=workers, sessions_per_worker=max(1, -(-sessions // workers)),
                              engine=EngineConfig(provider=PROVIDER, extra={"dir": root}),
                              restart_base_s=0.1, restart_cap_s=0.5)
    sup = EngineSupervisor(config, tasks)
    t0 = time.perf_counter()
    await sup.start()
    boot_s = time.perf_counter() - t0

    transports = {cid: sup.create(cid) for cid in range(1, sessions + 1)}
    streams = {cid: t.events() for cid, t in transports.items()}
    t0 = time.perf_counter()
    await asyncio.gather(*(t.start() for t in transports.values()))
    await asyncio.gather(*(s.__anext__() for s in streams.values()))
    start_s = time.perf_counter() - t0

    latencies: list[float] = []
    chat = "79990001122@s.whatsapp.net"
    for i in range(calls):
        cid = 1 + i % sessions
        t1 = time.perf_counter()
        await transports[cid].send_typing(chat)
        latencies.append((time.perf_counter() - t1) * 1000)
    t0 = time.perf_counter()
    await asyncio.gather(*(transports[1 + i % sessions].send_typing(chat) for i in range(calls)))
    concurrent_rate = calls / (time.perf_counter() - t0)

    victim = sup.worker_of(1)
    assert victim is not None
    held = list(victim.sessions)
    t0 = time.perf_counter()
    os.kill(victim.pid, signal.SIGKILL)

    async def back(cid: int) -> None:
        while not isinstance(await streams[cid].__anext__(), Connected):
            pass

    await asyncio.wait_for(asyncio.gather(*(back(cid) for cid in held)), 60)
    recover_s = time.perf_counter() - t0
    await sup.close()
    await tasks.close()

    rss_fake = await idle_worker_rss_mb(PROVIDER, root)
    rss_neonize = await idle_worker_rss_mb("neonize", root)
    print(f"workers={workers} sessions={sessions} cpus={os.cpu_count()}")
    print(f"boot (all workers said hello): {boot_s * 1000:.0f} ms")
    print(f"start {sessions} sessions (placed + first event): {start_s * 1000:.0f} ms")
    print(f"command round trip (sequential, {calls}): p50 {statistics.median(latencies):.2f} ms, "
          f"p99 {pct(latencies, 0.99):.2f} ms")
    print(f"command throughput (concurrent, {calls}): {concurrent_rate:.0f}/s")
    print(f"SIGKILL -> {len(held)} sessions CONNECTED again on a new worker: {recover_s * 1000:.0f} ms")
    print(f"idle worker RSS: {rss_fake:.1f} MiB; with neonize's Go library loaded: {rss_neonize:.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    configure_logging("WARNING")
    asyncio.run(main(args.workers, args.sessions, args.calls))
