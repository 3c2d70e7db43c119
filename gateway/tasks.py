"""The one helper that creates every background task.

Tasks are named, strongly referenced, their uncaught errors logged, and cancelled and awaited by
their owner on close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class TaskSupervisor:
    """Owns background tasks; `spawn` is the only way the daemon starts one."""

    def __init__(self, name: str = "root", cancel_timeout_s: float = 5.0) -> None:
        self._name = name
        self._cancel_timeout_s = cancel_timeout_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start `coro` as a named task, keep it referenced and log it if it dies with an error."""
        if self._closing:
            coro.close()
            raise RuntimeError(f"task supervisor {self._name} is closing; refused {name}")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background_task_failed", task=task.get_name(), error=repr(exc), exc_info=exc)

    @property
    def active(self) -> int:
        """Number of running tasks."""
        return len(self._tasks)

    async def close(self, grace_s: float = 0.0) -> None:
        """Wait up to `grace_s` for tasks to finish, then cancel the rest and wait for them (bounded).

        A task still running `cancel_timeout_s` after its cancellation (stuck in a cleanup) is
        logged and left behind: the shutdown itself must finish.
        """
        self._closing = True
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s) if grace_s > 0 else (set(), set(tasks))
        for task in pending:
            task.cancel()
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=self._cancel_timeout_s)
            for task in stuck:
                log.error("background_task_did_not_stop", task=task.get_name(), timeout_s=self._cancel_timeout_s)
