"""Scheduler ticks run under the task supervisor: one at a time per job, cancelled on shutdown."""

from __future__ import annotations

import asyncio

from gateway import keys
from gateway.scheduler import Scheduler
from gateway.tasks import TaskSupervisor


async def test_ticks_run_under_the_spawner_one_at_a_time_and_are_cancelled_on_shutdown(redis) -> None:
    tasks = TaskSupervisor("t")
    scheduler = Scheduler(redis, tasks)
    starts = 0
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_job() -> None:
        nonlocal starts
        starts += 1
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    scheduler.every("slow", 0.02, slow_job)
    scheduler.start()
    try:
        await asyncio.wait_for(started.wait(), 5)
        for _ in range(10):  # several more triggers pass (real time: APScheduler's clock)
            await asyncio.sleep(0.02)
        assert starts == 1  # the running tick is not started again
        assert tasks.active == 1  # the tick is the supervisor's, not a stray task
    finally:
        scheduler.stop()
        await tasks.close()
    assert cancelled.is_set()
    assert await redis.get(keys.job_lock("slow")) is None  # the lock went with it
