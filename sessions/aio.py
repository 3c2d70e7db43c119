"""Small asyncio helpers of the sessions engine (also used by web and gateway for bounded shutdowns)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# How long a close may wait for a cancelled task or a Redis subscription to let go (real seconds).
CLOSE_TIMEOUT_S = 5.0


async def cancel_and_wait(task: asyncio.Task[Any] | None, timeout_s: float | None = CLOSE_TIMEOUT_S) -> None:
    """Cancel `task` and wait (at most `timeout_s`) for it to end.

    The task's own errors are swallowed, never our own cancellation. A task that does not end in
    time (stuck in a cleanup that never returns) is logged and left behind: a close must finish.
    """
    current = asyncio.current_task()
    if task is None or task is current:
        return
    # A close may run inside a task that was cancelled before (aiohttp's `run_app` runs the app's
    # cleanup in its cancelled main task on SIGINT/SIGTERM): only a cancellation requested while
    # we wait is ours to propagate, not the one our caller is already handling.
    cancelling_before = current.cancelling() if current is not None else 0
    task.cancel()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout_s)
    except asyncio.CancelledError:
        if current is not None and current.cancelling() > cancelling_before:
            raise  # we are being cancelled ourselves: propagate
    except TimeoutError:
        log.error("task_did_not_stop", task=task.get_name(), timeout_s=timeout_s)
    except Exception as exc:  # noqa: BLE001 - the task's own failure is not the caller's
        log.debug("cancelled_task_failed", task=task.get_name(), error=repr(exc))


async def close_within(closing: Awaitable[Any], what: str, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
    """Await a cleanup step (e.g. `pubsub.aclose()`) for at most `timeout_s`; its failure is logged, not raised.

    Used in `finally` blocks of cancelled loops: a cleanup that hangs must not hang the shutdown.
    """
    try:
        await asyncio.wait_for(closing, timeout_s)
    except TimeoutError:
        log.warning("close_timed_out", what=what, timeout_s=timeout_s)
    except Exception as exc:  # noqa: BLE001 - the resource may be broken already
        log.debug("close_failed", what=what, error=repr(exc))
