"""Helpers for CLI commands that need the stores (Postgres, Redis) outside the daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from gateway import db, embedded
from gateway.redis_client import create_redis
from gateway.settings import Settings


@dataclass
class Stores:
    pool: asyncpg.Pool
    redis: aioredis.Redis | None


@asynccontextmanager
async def open_stores(settings: Settings, *, redis: bool = True, migrate: bool = True) -> AsyncIterator[Stores]:
    """Connect to (or start the embedded) Postgres and Redis, migrated, for one command."""
    services = await embedded.start_embedded(
        settings.var_dir,
        need_pg=not settings.database_url,
        need_redis=redis and not settings.redis_url,
    )
    dsn = settings.database_url or services.database_url
    assert dsn
    pool = await db.create_pool(dsn, min_size=1, max_size=4)
    client = None
    try:
        if migrate:
            async with pool.acquire() as conn:
                await db.migrate(conn)
        if redis:
            url = settings.redis_url or services.redis_url
            assert url
            client = create_redis(url)
        yield Stores(pool, client)
    finally:
        if client is not None:
            await client.aclose()
        await db.close_pool(pool)
        services.stop()
