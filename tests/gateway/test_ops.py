"""The daemon's lifecycle endpoints and migrations, against real Postgres and Redis."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import db
from gateway.app import create_app
from gateway.appkeys import READINESS


async def test_healthz_answers_and_readyz_waits_for_startup(settings):
    """/healthz answers while startup hooks still run; /readyz is 503 until they finish."""
    gate = asyncio.Event()
    app = create_app(settings)

    async def held() -> None:  # a slow session restore, held open by the test
        await gate.wait()

    app[READINESS].hooks.insert(0, ("held", held))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        resp = await client.get("/healthz")
        assert resp.status == 200
        assert (await resp.json())["success"] is True
        resp = await client.get("/readyz")
        assert resp.status == 503
        body = await resp.json()
        assert body["checks"] == {"started": False, "postgres": True, "redis": True}
        gate.set()
        await asyncio.wait_for(app[READINESS].finished.wait(), 10)
        resp = await client.get("/readyz")
        assert resp.status == 200
        assert (await resp.json())["status"] == "ready"
    finally:
        await client.close()


async def test_readyz_reports_a_failed_startup_hook(settings):
    app = create_app(settings)

    async def broken() -> None:
        raise RuntimeError("restore exploded")

    app[READINESS].hooks.insert(0, ("broken", broken))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await asyncio.wait_for(app[READINESS].finished.wait(), 10)
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert "restore exploded" in (await resp.json())["startup_error"]
    finally:
        await client.close()


async def test_metrics_serves_prometheus_text(make_client):
    client = await make_client()
    await client.get("/healthz")
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert "http_requests_total" in text
    assert 'route="/healthz"' in text


async def test_unknown_route_is_json_404(make_client):
    client = await make_client()
    resp = await client.get("/nope")
    assert resp.status == 404
    body = await resp.json()
    assert body == {"success": False, "error": {"code": "not_found", "message": "Not Found"}}


async def test_migrations_are_idempotent_and_recorded(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        assert await db.migrate(conn) == []  # the template already has them all
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        assert versions == [m.version for m in db.load_migrations()]
    finally:
        await conn.close()


async def test_schema_newer_than_code_is_refused(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_the_future')")
        with pytest.raises(db.SchemaTooNewError):
            await db.migrate(conn)
    finally:
        await conn.close()
