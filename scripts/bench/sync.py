"""Benchmark: a full sync of a big salon from the sandbox on loopback, at the YClients rate limit.

A salon with 300 services, 40 staff, 30 days of schedules and a few hundred records is served by
the sandbox on 127.0.0.1; one SyncService copies it into a scratch Postgres database with the
Redis rate limiter at 5 requests/second (the documented limit). Prints the number of API calls
and the wall time per kind, then the same with no limiter (what the sandbox + Postgres cost).

    .venv/bin/python scripts/bench/sync.py [--database-url URL] [--redis-url URL] [--rate 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import datetime, timedelta
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp
import asyncpg
from aiohttp.test_utils import TestServer

from gateway import db
from gateway.clock import SystemClock
from gateway.logging import configure_logging
from gateway.redis_client import create_redis
from sync import keys
from sync.client import YClientsClient
from sync.config import YClientsConfig
from sync.http import ApiTransport
from sync.ratelimit import RedisRateLimiter
from sync.sandbox import Sandbox, build_app, generated_salon
from sync.service import SyncService
from sync.store import SyncStore

SALON = 500_001


def _dsn_with_db(dsn: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def make_sandbox(records: int) -> Sandbox:
    clock = SystemClock()
    sandbox = Sandbox(clock=clock, partner_token="bench-partner", user_token="bench-user")
    salon = sandbox.add_salon(generated_salon(SALON, services=300, staff=40))
    now = clock.now()
    today = now.astimezone(salon.tz).date()
    members = list(salon.staff.values())
    for i in range(records):
        member = members[i % len(members)]
        day = today + timedelta(days=1 + (i // len(members)) % 29)
        start = datetime.combine(day, dtime(9 + (i % 11)), tzinfo=salon.tz)
        salon.add_record(member.id, member.services[:1], start, now, phone=f"7916{i:07d}", name=f"Клиент {i}")
    return sandbox


async def run_one(pool: asyncpg.Pool, base_url: str, session: aiohttp.ClientSession, limiter: object,
                  sandbox: Sandbox, company_id: int, label: str) -> None:
    config = YClientsConfig(base_url=base_url, partner_token="bench-partner", user_token="bench-user", page_size=100)
    client = YClientsClient(ApiTransport(config, session, limiter))  # type: ignore[arg-type]
    service = SyncService(client, SyncStore(pool), SystemClock())
    for attempt in ("first", "again"):
        sandbox.requests.clear()
        started = time.perf_counter()
        per_kind = []
        for kind in ("company", "services", "staff", "schedules", "records"):
            t0 = time.perf_counter()
            before = len(sandbox.requests)
            report = await service.run_once(company_id, kind)
            result = report.kinds[kind]
            assert result.error is None, result.error
            per_kind.append((kind, len(sandbox.requests) - before, result.items, result.changed,
                             time.perf_counter() - t0))
        wall = time.perf_counter() - started
        print(f"\n[{label}, {attempt} run] {len(sandbox.requests)} API calls, wall {wall:.2f} s")
        print(f"  {'kind':<10} {'calls':>5} {'items':>6} {'changed':>7} {'seconds':>8}")
        for kind, calls, items, changed, secs in per_kind:
            print(f"  {kind:<10} {calls:>5} {items:>6} {changed:>7} {secs:>8.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second (YClients: 5)")
    parser.add_argument("--records", type=int, default=400)
    args = parser.parse_args()
    configure_logging("WARNING", "console")

    name = f"aiad_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(args.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    pool = await db.create_pool(_dsn_with_db(args.database_url, name), min_size=1, max_size=4)
    redis = create_redis(args.redis_url)
    sandbox = make_sandbox(args.records)
    server = TestServer(build_app(sandbox), host="127.0.0.1")
    await server.start_server()
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn)
        company_id = await pool.fetchval(
            "INSERT INTO companies (salon_id, integration_status) VALUES ($1, 'active') RETURNING id", SALON)
        salon = sandbox.salons[SALON]
        print(f"salon: {len(salon.services)} services, {len(salon.staff)} staff, {len(salon.records)} records, "
              f"30 days of schedules; sandbox on {server.make_url('')}")
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as session:
            key = keys.rate_limit(f"bench-{uuid.uuid4().hex[:6]}")
            await run_one(pool, base, session, RedisRateLimiter(redis, args.rate, key=key), sandbox, company_id,
                          f"rate limit {args.rate:g} req/s")
            await pool.execute("DELETE FROM sync_services; DELETE FROM sync_staff; DELETE FROM sync_records; "
                               "DELETE FROM sync_schedules; DELETE FROM sync_company_info; "
                               "DELETE FROM sync_staff_services; DELETE FROM sync_service_categories")
            await run_one(pool, base, session, None, sandbox, company_id, "no rate limit")
    finally:
        await server.close()
        await redis.aclose()
        await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
