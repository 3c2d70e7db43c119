"""Benchmark: N simulator sessions in one process.

For each N (default 100 and 1,000): a scratch Postgres database with N salons whose simulator
devices are linked and whose sessions are desired-running, then a fresh SessionManager:

- restore: time from `restore()` until every session is CONNECTED (the boot path);
- memory: resident set growth per session (psutil), measured after the restore;
- (with leases, the production path: one Redis lease per session, fencing epochs on writes)
- inbound -> handler latency at a steady rate (client messages injected through the simulator's
  phone side, through Redis, the transport, the inbox insert and claim, to the handler), p50/p99.

    .venv/bin/python scripts/bench/sessions.py [--sessions 100 1000] [--rate 200] [--seconds 5]
        [--database-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
import psutil
import redis as sync_redis

from gateway import db
from gateway.clock import SystemClock
from gateway.logging import configure_logging
from gateway.redis_client import create_redis
from gateway.tasks import TaskSupervisor
from sessions import keys
from sessions.api import InboundMessage, SessionEvent
from sessions.config import InboxConfig, SessionsConfig, SimConfig
from sessions.inbox import Inbox
from sessions.lease import LeaseKeeper
from sessions.manager import SessionManager
from sessions.sim import SimTransportFactory
from sessions.sim_phone import SimPhone


def _dsn_with_db(dsn: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _claim_redis_db(url: str) -> tuple[str, int, str]:
    """Claim a free logical db the way the test fixtures do, so concurrent test runs are safe."""
    from urllib.parse import urlsplit, urlunsplit

    admin = sync_redis.Redis.from_url(url)
    token = f"bench-{os.getpid()}"
    for index in range(15, 0, -1):
        if admin.set(f"aiad-test:dblock:{index}", token, nx=True, ex=3600):
            parts = urlsplit(url)
            return urlunsplit((parts.scheme, parts.netloc, f"/{index}", "", "")), index, token
    raise SystemExit("no free Redis db")


def _release_redis_db(url: str, index: int, token: str) -> None:
    admin = sync_redis.Redis.from_url(url)
    if admin.get(f"aiad-test:dblock:{index}") == token.encode():
        admin.delete(f"aiad-test:dblock:{index}")


class TimingHandler:
    def __init__(self, sent_at: dict[str, float]) -> None:
        self.sent_at = sent_at
        self.latencies_ms: list[float] = []
        self.done = asyncio.Event()
        self.expected = 0

    async def handle(self, message: InboundMessage) -> None:
        t0 = self.sent_at.pop(message.wa_message_id, None)
        if t0 is not None:
            self.latencies_ms.append((time.perf_counter() - t0) * 1000)
        if len(self.latencies_ms) >= self.expected:
            self.done.set()


async def run_one(n: int, pg_dsn: str, redis_url: str, rate: float, seconds: float, lease: bool) -> dict[str, float]:
    name = f"aiad_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = _dsn_with_db(pg_dsn, name)
    pool = await db.create_pool(dsn, min_size=2, max_size=10)
    redis = create_redis(redis_url)
    await redis.flushdb()
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn)
            ids = [r["id"] for r in await conn.fetch(
                "INSERT INTO companies (salon_id, title) SELECT g, 'bench ' || g FROM generate_series(1, $1) g "
                "RETURNING id", n)]
            await conn.execute(
                "INSERT INTO wa_sessions (company_id, state, desired) SELECT unnest($1::int[]), 'CONNECTED', 'running'",
                ids)
        clock = SystemClock()
        async with redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                phone = f"+7999{cid:07d}"
                pipe.set(keys.sim_device(cid), json.dumps({"jid": f"{phone[1:]}:1@s.whatsapp.net", "phone": phone,
                                                           "linked_at": clock.time()}))
            await pipe.execute()

        gc.collect()
        proc = psutil.Process()
        rss_before = proc.memory_info().rss
        tasks = TaskSupervisor("bench")
        factory = SimTransportFactory(redis, SimConfig(), clock=clock, spawner=tasks)
        keeper = LeaseKeeper(redis, "bench") if lease else None
        manager = SessionManager(pool, redis, factory, SessionsConfig(), clock, tasks, lease=keeper)
        sent_at: dict[str, float] = {}
        handler = TimingHandler(sent_at)
        inbox = Inbox(pool, redis, InboxConfig(), clock, tasks, handler)
        manager.set_message_sink(inbox.accept)
        connected = asyncio.Event()
        count = 0

        async def on_event(event: SessionEvent) -> None:
            nonlocal count
            if event.type == "connected":
                count += 1
                if count >= n:
                    connected.set()

        manager.add_listener(on_event)
        t0 = time.perf_counter()
        await manager.restore()
        await asyncio.wait_for(connected.wait(), 600)
        restore_s = time.perf_counter() - t0
        gc.collect()
        rss_after = proc.memory_info().rss
        per_session_kb = (rss_after - rss_before) / n / 1024

        phone = SimPhone(redis, clock, factory.hub)
        total = int(rate * seconds)
        handler.expected = total
        rng = random.Random(1)
        interval = 1.0 / rate
        start = time.perf_counter()
        for i in range(total):
            target = start + i * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            cid = rng.choice(ids)
            mid = f"BENCH{i:08d}"
            sent_at[mid] = time.perf_counter()
            await phone.inbound(cid, f"+7916{rng.randrange(10**7):07d}", "Хочу записаться", message_id=mid)
        await asyncio.wait_for(handler.done.wait(), 120)
        lat = sorted(handler.latencies_ms)
        result = {
            "sessions": n,
            "restore_s": restore_s,
            "rss_per_session_kb": per_session_kb,
            "rss_total_mb": rss_after / 1024 / 1024,
            "messages": len(lat),
            "p50_ms": statistics.median(lat),
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "max_ms": lat[-1],
        }
        await manager.close()
        await factory.close()
        await tasks.close()
        return result
    finally:
        await redis.flushdb()
        await redis.aclose()
        await pool.close()
        admin = await asyncpg.connect(pg_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rate", type=float, default=200.0, help="inbound messages per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--no-lease", action="store_true", help="single-instance mode (no Redis leases)")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    configure_logging("WARNING")
    redis_url, index, token = _claim_redis_db(args.redis_url)
    try:
        print(f"{'sessions':>8} {'restore s':>10} {'KB/session':>11} {'RSS MB':>8} {'msgs':>6} "
              f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for n in args.sessions:
            r = await run_one(n, args.database_url, redis_url, args.rate, args.seconds, not args.no_lease)
            print(f"{r['sessions']:>8} {r['restore_s']:>10.2f} {r['rss_per_session_kb']:>11.1f} "
                  f"{r['rss_total_mb']:>8.1f} {r['messages']:>6} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                  f"{r['max_ms']:>8.2f}", flush=True)
    finally:
        _release_redis_db(args.redis_url, index, token)


if __name__ == "__main__":
    asyncio.run(main())
