"""The real daemon process stops cleanly on SIGTERM and SIGINT.

In-process test clients never run the cleanup the way `web.run_app` does (inside its cancelled
main task), so this starts `ai-admin serve --demo` as a child process, waits until it is ready with
the demo salon's session running, sends the signal and checks what a clean stop leaves behind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import date, timedelta, timezone
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from sessions import keys as session_keys
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0

DEMO_TZ = timezone(timedelta(hours=3))

pytestmark = pytest.mark.slow


async def wait_ready(port: int, proc: asyncio.subprocess.Process) -> None:
    """Poll /readyz until 200 (bounded; fails early if the process died)."""
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            if proc.returncode is not None:
                raise AssertionError(f"daemon exited early with {proc.returncode}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("daemon did not become ready")


async def wait_session_state(database_url: str, state: str) -> None:
    """Wait (bounded) until the demo salon's session is in `state`."""
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(150):
            row = await conn.fetchrow("SELECT state FROM wa_sessions LIMIT 1")
            if row is not None and row["state"] == state:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"session never reached {state}")
    finally:
        await conn.close()


async def first_company_id(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT company_id FROM wa_sessions LIMIT 1"))
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("signum", "engine_workers"),
    [(signal.SIGTERM, 0), (signal.SIGINT, 0), (signal.SIGTERM, 1)],
    ids=["SIGTERM", "SIGINT", "SIGTERM-engine-worker"],
)
async def test_daemon_stops_cleanly_on_signal(
    signum: signal.Signals, engine_workers: int, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VAR_DIR": str(tmp_path / "var"),
        "LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
        "ENGINE_WORKERS": str(engine_workers),
    }
    env["DEMO_NOW"] = "2026-11-23T10:00:00+03:00"  # one clock for the whole daemon, workers included
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", "--demo", "--port", str(port),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_ready(port, proc)
        await wait_session_state(database_url, "SCAN_QR")
        company_id = await first_company_id(database_url)
        scan_url = f"http://127.0.0.1:{port}/sim/{company_id}/scan"
        async with aiohttp.ClientSession() as http, http.post(scan_url, json={}) as resp:
            assert resp.status == 200, await resp.text()
        await wait_session_state(database_url, "CONNECTED")
        proc.send_signal(signum)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), STOP_TIMEOUT_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    output = stdout.decode(errors="replace") + stderr.decode(errors="replace")
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "CleanupError" not in output

    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT company_id, state, desired, connected_at FROM wa_sessions")
    finally:
        await conn.close()
    # The manager closed its sessions: stopped here, still wanted, so the next start restores it.
    assert row["state"] == "STOPPED"
    assert row["desired"] == "running"
    # Connected at DEMO_NOW (plus the seconds the test took), not at today's wall-clock date.
    assert row["connected_at"].astimezone(DEMO_TZ).date() == date(2026, 11, 23)
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.get(session_keys.lease(row["company_id"])) is None  # lease released
    finally:
        await client.aclose()
