"""Inbound texts the message sink could not take yet, retried in arrival order.

WhatsApp has acknowledged an inbound message before we see it (DESIGN.md section 7), so a sink
failure (Postgres down for a moment) must not drop it. A session hands every text to its
`InboundBuffer`: when nothing is waiting it goes straight to the sink; when the sink fails with
a transient error the text is kept, and so is every later one (order is kept), and one task
retries them with exponential backoff, jitter and a cap on the injected clock. The buffer is
bounded; a text that does not fit, or that the store refuses for good (bad data), is dropped
with an error log and counted as lost. The buffer outlives stops and reconnects of its session;
only the process's shutdown ends it (after one last bounded try).
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog

from sessions.aio import cancel_and_wait
from sessions.config import SessionsConfig
from sessions.runtime import Clock, Spawner
from sessions.state import backoff_s
from sessions.transport import IncomingText

log = structlog.get_logger(__name__)

Sink = Callable[[int, IncomingText], Awaitable[object]]

# The store refused the message itself: retrying the same text cannot help.
_PERMANENT = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, asyncpg.SyntaxOrAccessError,
              ValueError, TypeError, KeyError)


def is_permanent(exc: BaseException) -> bool:
    """True for a failure caused by the message, not by the store being unavailable."""
    return isinstance(exc, _PERMANENT)


class InboundBuffer:
    """One session's inbound texts on their way to the sink (see the module docstring)."""

    def __init__(
        self,
        company_id: int,
        sink: Callable[[], Sink | None],
        clock: Clock,
        spawner: Spawner,
        config: SessionsConfig,
        rng: random.Random,
        count: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self.company_id = company_id
        self._sink = sink
        self._clock = clock
        self._spawner = spawner
        self._config = config
        self._rng = rng
        self._count = count
        self._queue: deque[IncomingText] = deque()
        self._task: asyncio.Task[Any] | None = None
        self._log = log.bind(company_id=company_id)

    @property
    def waiting(self) -> int:
        """Texts kept for a retry."""
        return len(self._queue)

    async def put(self, event: IncomingText) -> None:
        """Hand `event` to the sink now, or keep it behind the ones already waiting."""
        sink = self._sink()
        if sink is None:
            return
        if not self._queue:
            try:
                await sink(self.company_id, event)
                return
            except Exception as exc:  # noqa: BLE001 - classified below
                if is_permanent(exc):
                    self._lost(event, exc)
                    return
                self._log.warning("inbound_sink_failed", error=repr(exc), wa_message_id=event.message_id,
                                  hint="kept in memory and retried")
        self._keep(event)

    def _keep(self, event: IncomingText) -> None:
        if len(self._queue) >= self._config.inbound_retry_max:
            self._lost(event, OverflowError(f"{len(self._queue)} inbound messages already wait for the store"))
            return
        self._queue.append(event)
        self._count("deferred")
        if self._task is None or self._task.done():
            self._task = self._spawner.spawn(f"inbound-retry-{self.company_id}", self._retry())

    def _lost(self, event: IncomingText, exc: BaseException) -> None:
        self._log.error("inbound_lost", error=repr(exc), wa_message_id=event.message_id)
        self._count("lost")

    async def _retry(self) -> None:
        attempt = 0
        while self._queue:
            attempt += 1
            delay_s = backoff_s(attempt, self._config.inbound_retry_base_s, self._config.inbound_retry_cap_s, self._rng)
            await self._clock.sleep(delay_s)
            if await self._drain():
                attempt = 0

    async def _drain(self) -> bool:
        """Deliver from the head until the queue is empty (True) or the sink fails again (False)."""
        sink = self._sink()
        while self._queue:
            event = self._queue[0]
            try:
                if sink is None:
                    raise RuntimeError("no message sink")
                await sink(self.company_id, event)
            except Exception as exc:  # noqa: BLE001 - classified below
                if is_permanent(exc):
                    self._queue.popleft()
                    self._lost(event, exc)
                    continue
                self._log.warning("inbound_retry_failed", error=repr(exc), waiting=len(self._queue))
                return False
            self._queue.popleft()
        self._log.info("inbound_retry_done")
        return True

    async def close(self, timeout_s: float) -> None:
        """Shutdown: one last bounded try, then what is still waiting is lost (and logged)."""
        await cancel_and_wait(self._task)
        self._task = None
        if self._queue:
            try:
                await asyncio.wait_for(self._drain(), timeout_s)
            except Exception as exc:  # noqa: BLE001 - includes TimeoutError
                self._log.warning("inbound_final_try_failed", error=repr(exc))
        if self._queue:
            self._log.error("inbound_lost_on_shutdown", count=len(self._queue),
                            wa_message_ids=[e.message_id for e in self._queue][:20])
            for _ in range(len(self._queue)):
                self._count("lost")
            self._queue.clear()
