"""Wiring of the `sync` package into the application.

- the YClients client (one ClientSession per process, the Redis rate limiter shared by the
  cluster), the store, the sync service with its scheduler jobs, the webhook ingest;
- `POST /marketplace/webhook/{companyId:\\d+}` (data webhooks; `/marketplace/webhook/yclients`
  belongs to the marketplace package);
- demo mode: the YClients sandbox serving fixtures/demo-salon.json under `/sandbox/yclients/`,
  and the client pointed at it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from gateway.appkeys import CLOCK, POOL, REDIS, SCHEDULER, SETTINGS, TASKS
from gateway.settings import Settings
from sync.appkeys import SYNC_SERVICE, SYNC_STORE, SYNC_WEBHOOKS, YCLIENTS, YCLIENTS_SANDBOX
from sync.client import YClientsClient
from sync.clock import Clock
from sync.config import SyncConfig, YClientsConfig
from sync.http import ApiTransport
from sync.ratelimit import RedisRateLimiter
from sync.sandbox import Sandbox, build_app
from sync.service import Spawner, SyncService
from sync.store import SyncStore
from sync.webhooks import WebhookIngest

DEMO_SALON_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "demo-salon.json"
SANDBOX_PREFIX = "/sandbox/yclients"


def yclients_base_url(settings: Settings) -> str:
    """Demo mode with the default base URL talks to the in-process sandbox; else the configured one."""
    if settings.demo and settings.yclients_base_url == Settings.model_fields["yclients_base_url"].default:
        return f"http://127.0.0.1:{settings.port}{SANDBOX_PREFIX}"
    return settings.yclients_base_url


def yclients_config(settings: Settings) -> YClientsConfig:
    """Settings -> the client's config."""
    base = yclients_base_url(settings)
    return YClientsConfig(
        base_url=base,
        partner_token=settings.yclients_partner_token,
        user_token=settings.yclients_user_token,
        application_id=settings.yclients_application_id,
        rate_per_s=settings.yclients_rate_per_s,
        timeout_s=settings.yclients_timeout_s,
        max_attempts=settings.yclients_max_attempts,
        backoff_base_s=settings.yclients_backoff_base_s,
        backoff_cap_s=settings.yclients_backoff_cap_s,
    )


def sync_config(settings: Settings) -> SyncConfig:
    """Settings -> the sync jobs' config."""
    return SyncConfig(
        days_ahead=settings.sync_days_ahead,
        records_interval_s=settings.sync_records_interval_s,
        webhook_retention_days=settings.sync_webhook_retention_days,
    )


def build_sync(
    settings: Settings,
    session: aiohttp.ClientSession,
    redis: aioredis.Redis,
    pool: asyncpg.Pool,
    clock: Clock,
    spawner: Spawner | None,
) -> tuple[YClientsClient, SyncStore, SyncService, WebhookIngest]:
    """Assemble client, store, service and webhook ingest (used by the app and the CLI)."""
    config = yclients_config(settings)
    limiter = RedisRateLimiter(redis, config.rate_per_s)
    client = YClientsClient(ApiTransport(config, session, limiter))
    store = SyncStore(pool)
    jobs = sync_config(settings)
    service = SyncService(client, store, clock, jobs, spawner)
    return client, store, service, WebhookIngest(store, client, clock, spawner, jobs)


def install(app: web.Application) -> None:
    """Add sync's routes, middlewares and cleanup context."""
    settings = app[SETTINGS]
    app.router.add_post(r"/marketplace/webhook/{companyId:\d+}", _webhook)
    if settings.demo:
        sandbox = Sandbox(
            clock=app[CLOCK],
            partner_token=settings.yclients_partner_token,
            user_token=settings.yclients_user_token,
            application_id=settings.yclients_application_id,
            install_target=f"{settings.effective_public_base_url()}/marketplace/yclients/install",
        )
        sandbox.add_salon(_demo_salon())
        app[YCLIENTS_SANDBOX] = sandbox
        app.add_subapp(SANDBOX_PREFIX + "/", build_app(sandbox))
    app.cleanup_ctx.append(_sync_ctx)


def _demo_salon() -> dict[str, Any]:
    """fixtures/demo-salon.json, or the copy packaged with `sync` when installed as a wheel."""
    if DEMO_SALON_FILE.exists():
        return dict(json.loads(DEMO_SALON_FILE.read_text("utf-8")))
    return dict(json.loads(resources.files("sync").joinpath("demo-salon.json").read_text("utf-8")))


async def _webhook(request: web.Request) -> web.Response:
    return await request.app[SYNC_WEBHOOKS].handle(request)


async def _sync_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    session = aiohttp.ClientSession()
    client, store, service, ingest = build_sync(settings, session, app[REDIS], app[POOL], app[CLOCK], app[TASKS])
    app[YCLIENTS] = client
    app[SYNC_STORE] = store
    app[SYNC_SERVICE] = service
    app[SYNC_WEBHOOKS] = ingest
    service.register_jobs(app[SCHEDULER])
    ingest.register_jobs(app[SCHEDULER])
    try:
        yield
    finally:
        await session.close()
