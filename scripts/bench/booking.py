"""Bench: inbound message -> reply in the outbox, rule engine + YClients sandbox on loopback.

    .venv/bin/python scripts/bench/booking.py [--rates 50,200] [--seconds 10] [--salons 100]

Uses the PostgreSQL and Redis of BENCH_DATABASE_URL / BENCH_REDIS_URL (default: the local test
servers); creates and drops its own database. The sandbox runs in a CHILD process (so the CPU
figure is the bot's alone) serving `--salons` copies of the demo salon. Each message comes from
its own chat (the debounce window is set to 0 and is excluded by definition); latency is from
`handle()` to the reply row committed in the sessions outbox. Messages are a realistic mix:
booking requests with a day and time (live book_times for every fitting master), prices,
address, greetings. The YClients 5 req/s per-IP limit is NOT applied (the sandbox is local); in
production that limit, not the bot, bounds booking-search throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DEMO = ROOT / "fixtures" / "demo-salon.json"
BASE_SALON = 5_000_000
PARTNER, USER = "bench-partner", "bench-user"
MESSAGES = [
    "хочу на маникюр завтра в 15",
    "можно на стрижку в пятницу вечером?",
    "сколько стоит педикюр",
    "где вы находитесь и до скольки работаете",
    "привет!",
    "запишите на брови послезавтра утром пожалуйста",
    "а сколько стоит окрашивание",
    "маникюр гель лак на субботу после обеда",
]

SEARCHES = {MESSAGES[0], MESSAGES[1], MESSAGES[5], MESSAGES[7]}


def salon_data(index: int) -> dict[str, Any]:
    data = json.loads(DEMO.read_text("utf-8"))
    data = copy.deepcopy(data)
    data["company"]["id"] = BASE_SALON + index
    data["company"]["public_title"] = f"Салон {index}"
    return data


def serve_sandbox(port: int, salons: int) -> None:
    """Child process: the sandbox with `salons` salons on 127.0.0.1:port."""
    from aiohttp import web

    from gateway.clock import SystemClock
    from sync.sandbox import Sandbox, build_app

    sandbox = Sandbox(clock=SystemClock(), partner_token=PARTNER, user_token=USER, max_recorded=1000)
    for i in range(salons):
        sandbox.add_salon(salon_data(i))
    web.run_app(build_app(sandbox), host="127.0.0.1", port=port, print=None, access_log=None)


async def loop_lag(stop: asyncio.Event, period_s: float = 0.01) -> list[float]:
    """How late the event loop wakes a 10 ms sleeper (starvation or a blocking call shows here)."""
    lags: list[float] = []
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(period_s)
        lags.append(max(0.0, time.perf_counter() - t0 - period_s))
    return lags


async def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("sandbox did not start")


async def run(rates: list[int], seconds: float, salons: int) -> None:
    import aiohttp
    import asyncpg

    from booking.actions import BookingActions
    from booking.adapters import LiveSalonDirectory, SyncBookingApi
    from booking.config import BookingConfig
    from booking.dialogue import Dialogue
    from booking.nlu import understand
    from booking.pipeline import BookingHandler
    from booking.slots import SlotFinder
    from booking.store import BookingStore
    from gateway import db
    from gateway.clock import SystemClock
    from gateway.redis_client import create_redis
    from gateway.tasks import TaskSupervisor
    from sessions.api import InboundMessage
    from sessions.config import OutboxConfig
    from sessions.outbox import Outbox
    from sync.client import YClientsClient
    from sync.config import YClientsConfig
    from sync.http import ApiTransport
    from tests.conftest import dsn_with_database, free_port

    server_dsn = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    name = f"aiad_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    child = subprocess.Popen(  # noqa: ASYNC220 - started once, before measuring
        [sys.executable, __file__, "--serve-sandbox", str(port), "--salons", str(salons)]
    )
    tasks = TaskSupervisor("bench")
    pool = None
    redis = create_redis(redis_url)
    try:
        pool = await db.create_pool(dsn_with_database(server_dsn, name), min_size=30, max_size=30)
        async with pool.acquire() as conn:
            await db.migrate(conn)
        company_ids = []
        for i in range(salons):
            company_ids.append(await pool.fetchval(
                "INSERT INTO companies (salon_id, title) VALUES ($1, $2) RETURNING id", BASE_SALON + i, f"Салон {i}"))
        await wait_port(port)
        clock = SystemClock()
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
        client = YClientsClient(ApiTransport(
            YClientsConfig(base_url=f"http://127.0.0.1:{port}", partner_token=PARTNER, user_token=USER,
                           timeout_s=10.0, max_attempts=1), session, None))
        store = BookingStore(pool)
        api = SyncBookingApi(client)
        directory = LiveSalonDirectory(pool, client, ttl_s=3600)
        outbox = Outbox(pool, redis, OutboxConfig(), clock, lambda _cid: None)
        config = BookingConfig(debounce_ms=0)
        handler = BookingHandler(
            store=store, dialogue=Dialogue(BookingActions(api, store, clock), SlotFinder(api)),
            directory=directory,
            outbox=outbox, understand=understand, redis=redis, clock=clock, spawner=tasks, config=config,
        )
        started: dict[tuple[int, str], tuple[float, bool]] = {}
        latencies: list[float] = []
        by_kind: dict[bool, list[float]] = {True: [], False: []}

        def on_turn(company_id: int, chat: str, _processing_s: float) -> None:
            entry = started.pop((company_id, chat), None)
            if entry is not None:
                latency = time.perf_counter() - entry[0]
                latencies.append(latency)
                by_kind[entry[1]].append(latency)

        handler.on_turn = on_turn
        # Warm up: catalogs of every salon, the NLU engine, connections.
        now = datetime.now(UTC)
        infos = await asyncio.gather(*(directory.salon(c) for c in company_ids))
        for info in infos:  # the NLU compiles each salon's catalog once
            for text in MESSAGES:
                understand(text, now, info.catalog)  # type: ignore[union-attr]
        msg_id = 0
        rng = random.Random(7)
        print(f"salons={salons} seconds_per_rate={seconds:g} sandbox=loopback child process, no YClients rate limit")
        print("rate_msg_s  sent  answered  p50_ms  p90_ms  p99_ms  max_ms  cpu_ms_per_msg")
        # The first pass warms connections (sandbox keep-alive, Postgres plans); it is printed, not counted.
        for rate in [max(rates)] + rates:
            warmup = msg_id == 0
            latencies.clear()
            by_kind[True].clear()
            by_kind[False].clear()
            total = int(rate * (min(2.0, seconds) if warmup else seconds))
            lag_stop = asyncio.Event()
            lag_task = asyncio.ensure_future(loop_lag(lag_stop))
            cpu0 = time.process_time()
            t_start = time.perf_counter()
            for i in range(total):
                target = t_start + i / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                msg_id += 1
                company_id = company_ids[rng.randrange(salons)]
                chat = f"7999{msg_id:07d}@s.whatsapp.net"
                text = rng.choice(MESSAGES)
                started[(company_id, chat)] = (time.perf_counter(), text in SEARCHES)
                message = InboundMessage(
                    id=msg_id, company_id=company_id, chat=chat, sender_phone=f"+7999{msg_id:07d}",
                    wa_message_id=f"b{msg_id}", text=text, received_at=clock.now(),
                )
                tasks.spawn(f"bench-{msg_id}", handler.handle(message))
            deadline = time.perf_counter() + 30
            while len(latencies) < total and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            cpu = time.process_time() - cpu0
            lag_stop.set()
            lags = await lag_task
            load1 = os.getloadavg()[0]
            answered = len(latencies)
            q = statistics.quantiles(latencies, n=100) if answered >= 2 else [0.0] * 99
            print(("warm-up " if warmup else "") + f"{rate:10d}  {total:4d}  {answered:8d}  {q[49]*1000:6.1f}  {q[89]*1000:6.1f}  "
                  f"{q[98]*1000:6.1f}  {max(latencies or [0])*1000:6.1f}  {cpu / max(1, answered) * 1000:14.2f}")
            lq = statistics.quantiles(lags, n=100) if len(lags) >= 2 else [0.0] * 99
            print(f"            event-loop lag p99={lq[98]*1000:.1f} ms max={max(lags or [0])*1000:.1f} ms; "
                  f"machine load(1 min)={load1:.2f} on {os.cpu_count()} cores")
            for kind, label in ((True, "with live book_times"), (False, "answered from synced data")):
                values = by_kind[kind]
                if len(values) >= 2:
                    kq = statistics.quantiles(values, n=100)
                    print(f"            {label}: n={len(values)} p50={kq[49]*1000:.1f} ms p99={kq[98]*1000:.1f} ms")
        await handler.close()
        await session.close()
    finally:
        await tasks.close(grace_s=1)
        child.terminate()
        child.wait(timeout=10)
        await redis.aclose()
        if pool is not None:
            await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,200")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--salons", type=int, default=100)
    parser.add_argument("--serve-sandbox", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox(args.serve_sandbox, args.salons)
        return
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(run([int(r) for r in args.rates.split(",")], args.seconds, args.salons))


if __name__ == "__main__":
    main()
