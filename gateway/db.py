"""PostgreSQL: the asyncpg pool and the numbered migrations in `gateway/migrations/`.

Migration files are named `NNNN_description.sql`; each runs once, in its own transaction, in
number order, and is recorded in `schema_migrations`. A database whose newest applied migration
is newer than the code knows is refused (an older binary must not write to a newer schema).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed number: serialises migrators of several instances starting at once.
_MIGRATION_LOCK = 0x41_49_41_44  # "AIAD"


class SchemaTooNewError(RuntimeError):
    """The database has migrations this code does not know."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """All migrations shipped with the code, sorted by version."""
    found: list[Migration] = []
    for entry in resources.files("gateway.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"duplicate migration numbers: {versions}")
    return found


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply pending migrations; returns the versions applied now."""
    migrations = load_migrations()
    known = {m.version for m in migrations}
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version INTEGER PRIMARY KEY,
                   name TEXT NOT NULL,
                   applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        unknown = sorted(done - known)
        if unknown and max(unknown) > max(known, default=0):
            raise SchemaTooNewError(
                f"database has migrations {unknown} newer than this code ({max(known, default=0)})"
            )
        for m in migrations:
            if m.version in done:
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name
                )
            applied_now.append(m.version)
            log.info("migration_applied", version=m.version, name=m.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSONB columns come and go as Python objects.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool whose connections decode JSON/JSONB to Python values."""
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
    )
    assert pool is not None
    return pool


POOL_CLOSE_TIMEOUT_S = 10.0


async def close_pool(pool: asyncpg.Pool, timeout_s: float | None = None) -> None:
    """Close the pool gracefully, or terminate it after `timeout_s`.

    `Pool.close()` waits for every connection to be released: one held by a task that never
    finished would hang the shutdown (asyncpg's own advice is to bound it; on timeout it terminates).
    """
    timeout_s = POOL_CLOSE_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        log.warning("db_pool_close_timed_out", timeout_s=timeout_s)
        pool.terminate()


async def ping(pool: asyncpg.Pool, timeout_s: float = 2.0) -> bool:
    """True when Postgres answers."""
    try:
        async with pool.acquire(timeout=timeout_s) as conn:
            await conn.fetchval("SELECT 1", timeout=timeout_s)
        return True
    except Exception:  # noqa: BLE001 - readiness must never raise
        return False


def record_to_dict(record: Any) -> dict[str, Any]:
    """An asyncpg Record as a plain dict (None stays None)."""
    return dict(record) if record is not None else {}
