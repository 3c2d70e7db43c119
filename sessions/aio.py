"""Small asyncio helpers of the sessions engine."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait for it to end, swallowing its errors but never our own cancellation."""
    if task is None or task is asyncio.current_task():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # we are being cancelled ourselves: propagate
    except Exception as exc:  # noqa: BLE001 - the task's own failure is not the caller's
        log.debug("cancelled_task_failed", task=task.get_name(), error=repr(exc))
