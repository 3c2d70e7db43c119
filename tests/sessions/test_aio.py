"""Bounded shutdown helpers: a close never waits forever on a task or a cleanup that hangs."""

from __future__ import annotations

import asyncio

from sessions.aio import cancel_and_wait, close_within


async def test_cancel_and_wait_gives_up_on_a_task_stuck_in_its_cleanup() -> None:
    never = asyncio.Event()
    entered = asyncio.Event()

    async def stubborn() -> None:
        try:
            entered.set()
            await asyncio.Event().wait()
        finally:
            await never.wait()  # a cleanup waiting on an event nobody sets

    task = asyncio.create_task(stubborn())
    await entered.wait()
    await asyncio.wait_for(cancel_and_wait(task, timeout_s=0.05), 5)
    assert not task.done()  # left behind, but the caller went on
    never.set()
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()


async def test_cancel_and_wait_still_waits_for_a_task_that_stops() -> None:
    cleaned = []

    async def polite() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)
            cleaned.append(True)

    task = asyncio.create_task(polite())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled() and cleaned == [True]


async def test_close_within_bounds_a_hanging_close_and_swallows_errors() -> None:
    await asyncio.wait_for(close_within(asyncio.Event().wait(), "hang", timeout_s=0.05), 5)

    async def broken() -> None:
        raise ConnectionError("gone")

    await close_within(broken(), "broken")
