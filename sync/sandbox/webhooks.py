"""Data webhooks the sandbox sends on its own mutations (reference section 5), to the
`webhook_urls` a salon's activation registered.

Delivery is inline (the mutating request waits for it, so tests need no background tasks) and
once, like YClients: no retries. Test switches reproduce YClients' delivery faults: `drop`,
`duplicate`, `partial` (data cut to the changed fields), and `hold` (queue events until
`flush(reverse=True)` delivers them, out of order if asked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import structlog

log = structlog.get_logger(__name__)


@dataclass
class WebhookOutbox:
    """What the sandbox does with the events it emits."""

    drop: bool = False
    duplicate: bool = False
    partial: bool = False
    hold: bool = False
    timeout_s: float = 5.0
    held: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any], int | None]] = field(default_factory=list)  # (url, body, status)

    async def emit(self, urls: list[str], body: dict[str, Any], changed: tuple[str, ...] = ()) -> None:
        """Send one event to every URL (or hold/drop it as configured)."""
        if self.partial and body.get("status") == "update" and isinstance(body.get("data"), dict):
            data = body["data"]
            body = {**body, "data": {k: data[k] for k in ("id", *changed) if k in data}}
        for url in urls:
            if self.drop:
                continue
            if self.hold:
                self.held.append((url, body))
                continue
            for _ in range(2 if self.duplicate else 1):
                await self._post(url, body)

    async def flush(self, *, reverse: bool = False) -> int:
        """Deliver held events (newest first with `reverse`); returns how many were sent."""
        queue, self.held = self.held, []
        for url, body in reversed(queue) if reverse else queue:
            await self._post(url, body)
        return len(queue)

    async def _post(self, url: str, body: dict[str, Any]) -> None:
        status: int | None = None
        try:
            async with aiohttp.ClientSession() as session, session.post(
                url, json=body, timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            ) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("sandbox_webhook_failed", url=url, error=repr(exc))  # once, no retry: like YClients
        self.sent.append((url, body, status))
