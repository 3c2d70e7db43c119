"""The application factory and the process lifecycle (DESIGN.md section 3).

Startup: settings -> embedded services if needed -> Postgres -> migrations -> Redis -> each
package's resources (cleanup contexts installed by `gateway.wiring`) -> listen -> background
startup hooks (sessions restored, staggered) -> scheduler -> ready. `/healthz` answers from the
moment the server listens; `/readyz` only once the hooks have finished.

Shutdown runs the cleanup contexts in reverse: not ready, scheduler stopped, packages drained and
closed, background tasks cancelled and awaited, stores closed, embedded servers stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from gateway import db, embedded, ops, wiring
from gateway.appkeys import (
    CLOCK,
    EMBEDDED,
    POOL,
    READINESS,
    REDIS,
    REGISTRY,
    SCHEDULER,
    SETTINGS,
    TASKS,
    Readiness,
)
from gateway.clock import FakeClock, SystemClock
from gateway.redis_client import create_redis
from gateway.scheduler import Scheduler
from gateway.settings import Settings
from gateway.tasks import TaskSupervisor

log = structlog.get_logger(__name__)


def create_app(settings: Settings, *, clock: SystemClock | FakeClock | None = None) -> web.Application:
    """Build the daemon's aiohttp application; nothing starts until the app starts up.

    Raises InsecureSettings outside demo mode when a secret is unset or a development default.
    """
    settings.require_production_secrets()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[ops.error_middleware, ops.metrics_middleware],
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock(settings.demo_now if settings.demo else None)
    app[REGISTRY] = CollectorRegistry()
    app[READINESS] = Readiness()
    app[TASKS] = TaskSupervisor("app")
    ops.setup(app)
    app.cleanup_ctx.append(_core_ctx)
    wiring.install_all(app)
    app.cleanup_ctx.append(_startup_ctx)
    return app


async def _core_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    services = await embedded.start_embedded(
        settings.var_dir, need_pg=not settings.database_url, need_redis=not settings.redis_url
    )
    app[EMBEDDED] = services
    dsn = settings.database_url or services.database_url
    redis_url = settings.redis_url or services.redis_url
    assert dsn and redis_url
    pool = await db.create_pool(dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn)
    except BaseException:
        await db.close_pool(pool)
        services.stop()
        raise
    app[POOL] = pool
    redis = create_redis(redis_url)
    app[REDIS] = redis
    app[SCHEDULER] = Scheduler(redis, app[TASKS])
    log.info("core_ready", embedded_pg=not settings.database_url, embedded_redis=not settings.redis_url)
    try:
        yield
    finally:
        await app[TASKS].close(grace_s=0)
        await redis.aclose()
        await db.close_pool(pool)
        services.stop()


async def _startup_ctx(app: web.Application) -> AsyncIterator[None]:
    readiness = app[READINESS]
    scheduler = app[SCHEDULER]

    async def run_hooks() -> None:
        try:
            for name, hook in readiness.hooks:
                try:
                    await hook()
                except Exception as exc:
                    readiness.startup_error = f"{name}: {exc!r}"
                    log.error("startup_hook_failed", hook=name, error=repr(exc), exc_info=exc)
                    return
            scheduler.start()
            readiness.started = True
            log.info("startup_finished")
        finally:
            readiness.finished.set()

    app[TASKS].spawn("startup", run_hooks())
    try:
        yield
    finally:
        readiness.stopping = True
        scheduler.stop()
