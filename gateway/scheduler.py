"""Periodic jobs: APScheduler triggers, each tick run once cluster-wide under a Redis lock.

Jobs are plain async callables (`run_once`-style entry points on domain objects), so tests call
those directly instead of waiting for the scheduler.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from gateway import keys
from sessions.runtime import Spawner

log = structlog.get_logger(__name__)

JobFn = Callable[[], Awaitable[object]]

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: JobFn
    interval_s: float | None = None
    cron: str | None = None  # crontab expression, in UTC
    lock_ttl_s: int = 600


class Scheduler:
    """Registers jobs before start; runs each tick under a cluster-wide lock."""

    def __init__(self, redis: aioredis.Redis, spawner: Spawner | None = None) -> None:
        self._redis = redis
        self._spawner = spawner  # ticks run as its tasks: named, logged, cancelled on shutdown
        self._jobs: dict[str, JobSpec] = {}
        self._aps: AsyncIOScheduler | None = None
        self._ticks: dict[str, asyncio.Task[Any]] = {}

    def every(self, name: str, interval_s: float, fn: JobFn, *, lock_ttl_s: int = 600) -> None:
        """Run `fn` every `interval_s` seconds."""
        self._add(JobSpec(name, fn, interval_s=interval_s, lock_ttl_s=lock_ttl_s))

    def cron(self, name: str, expr: str, fn: JobFn, *, lock_ttl_s: int = 3600) -> None:
        """Run `fn` on a crontab schedule (`"0 3 * * *"`, UTC)."""
        self._add(JobSpec(name, fn, cron=expr, lock_ttl_s=lock_ttl_s))

    def _add(self, spec: JobSpec) -> None:
        if spec.name in self._jobs:
            raise ValueError(f"job {spec.name} registered twice")
        self._jobs[spec.name] = spec

    @property
    def jobs(self) -> dict[str, JobSpec]:
        """The registered jobs by name."""
        return dict(self._jobs)

    async def run_job(self, name: str) -> bool:
        """Run one tick of `name` if no other instance holds its lock; True if it ran."""
        spec = self._jobs[name]
        token = secrets.token_hex(8)
        key = keys.job_lock(name)
        if not await self._redis.set(key, token, nx=True, ex=spec.lock_ttl_s):
            log.debug("job_skipped_locked", job=name)
            return False
        try:
            await spec.fn()
            return True
        except Exception as exc:
            log.error("job_failed", job=name, error=repr(exc), exc_info=exc)
            return False
        finally:
            await self._redis.eval(_RELEASE, 1, key, token)

    def start(self) -> None:
        """Start triggering the registered jobs."""
        self._aps = AsyncIOScheduler(timezone="UTC")
        for spec in self._jobs.values():
            trigger = (
                IntervalTrigger(seconds=spec.interval_s)
                if spec.interval_s is not None
                else CronTrigger.from_crontab(spec.cron or "* * * * *", timezone="UTC")
            )
            job = self.run_job if self._spawner is None else self._spawn_tick
            self._aps.add_job(job, trigger, args=[spec.name], id=spec.name, max_instances=1, coalesce=True)
        self._aps.start()

    async def _spawn_tick(self, name: str) -> None:
        """APScheduler's trigger: start the tick under the spawner (one at a time per job) and return."""
        assert self._spawner is not None
        running = self._ticks.get(name)
        if running is not None and not running.done():
            log.debug("job_tick_still_running", job=name)
            return
        self._ticks[name] = self._spawner.spawn(f"job-{name}", self.run_job(name))

    def stop(self) -> None:
        """Stop triggering; running ticks belong to the spawner, which cancels them on shutdown."""
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
