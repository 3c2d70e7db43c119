"""The daemon's shutdown finishes in bounded time even when something still holds a resource."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import db
from gateway.app import create_app
from gateway.appkeys import POOL, READINESS


async def test_shutdown_terminates_a_pool_whose_connection_was_never_released(settings, monkeypatch) -> None:
    monkeypatch.setattr(db, "POOL_CLOSE_TIMEOUT_S", 0.2, raising=False)
    app = create_app(settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    await asyncio.wait_for(app[READINESS].finished.wait(), 30)
    pool = app[POOL]
    conn = await pool.acquire()  # e.g. held by a task that was left behind
    try:
        await asyncio.wait_for(client.close(), 10)  # Pool.close() waited for it forever before
    finally:
        with pytest.raises(Exception):  # noqa: B017 - terminated: any use fails
            await conn.fetchval("SELECT 1")
