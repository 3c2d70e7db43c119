"""The HTTP core of the YClients client: headers, envelope, error mapping, retries, rate limit.

One `aiohttp.ClientSession` per process is passed in; this module never creates one.
Retries (exponential backoff with jitter and a cap, `Retry-After` honoured) happen only for calls
the caller marks idempotent, and only on transient failures (429, 5xx, timeouts, connection
errors, HTML pages). Everything else is raised at once as a typed error from `sync.errors`.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import structlog

from sync.config import YClientsConfig
from sync.errors import (
    RateLimited,
    TimeoutError_,
    TransportError,
    YClientsError,
    error_from_response,
    non_json_error,
)

log = structlog.get_logger(__name__)

ACCEPT = "application/vnd.yclients.v2+json"
Sleep = Callable[[float], Awaitable[None]]
Params = Sequence[tuple[str, str | int]]
Api = Literal["rest", "marketplace"]


class RateLimiter(Protocol):
    """Waits until one more request may go out."""

    async def acquire(self) -> float: ...


@dataclass(frozen=True)
class ApiResponse:
    """An unwrapped successful answer: `data` and `meta` of the envelope (or the bare body)."""

    status: int
    data: Any
    meta: Any

    def meta_get(self, name: str, default: Any = None) -> Any:
        """A key of `meta`, which may be `{}` or `[]` (reference 1.3)."""
        return self.meta.get(name, default) if isinstance(self.meta, dict) else default


_HASH = re.compile(r"/[0-9a-fA-F]{32}(?=/|$)")


def loggable(path: str) -> str:
    """A path fit for logs: record hashes (capabilities to read/cancel a booking) masked."""
    return _HASH.sub("/<hash>", path)


def list_param(name: str, values: Sequence[int]) -> list[tuple[str, str | int]]:
    """PHP-style array params: `service_ids[]=1&service_ids[]=2` (never comma-joined)."""
    return [(f"{name}[]", int(v)) for v in values]


class ApiTransport:
    """Sends one logical call, with rate limiting and (for idempotent calls) retries."""

    def __init__(
        self,
        config: YClientsConfig,
        session: aiohttp.ClientSession,
        limiter: RateLimiter | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._session = session
        self._limiter = limiter
        self._sleep = sleep
        self._rand = rand
        self.requests_sent = 0  # HTTP requests actually sent, retries included

    def url(self, path: str, api: Api = "rest") -> str:
        """The full URL of a path under the REST or marketplace base."""
        base = self.config.base_url.rstrip("/")
        prefix = "/api/v1" if api == "rest" else "/marketplace"
        return f"{base}{prefix}{path}"

    def headers(self, *, user: bool) -> dict[str, str]:
        """Accept, Content-Type and `Bearer <partner>[, User <user>]` (reference 1.2)."""
        auth = f"Bearer {self.config.partner_token}"
        if user and self.config.user_token:
            auth += f", User {self.config.user_token}"
        return {"Accept": ACCEPT, "Content-Type": "application/json", "Authorization": auth}

    def backoff_s(self, attempt: int, error: YClientsError) -> float:
        """Delay before retry number `attempt` (1-based): a random point in [ceiling/2, ceiling],
        the ceiling doubling per attempt up to the cap; a 429 Retry-After is honoured (capped)."""
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            return min(self.config.backoff_cap_s, error.retry_after_s)
        ceiling = min(self.config.backoff_cap_s, self.config.backoff_base_s * (2 ** (attempt - 1)))
        return ceiling * (0.5 + 0.5 * self._rand())

    async def call(
        self,
        method: str,
        path: str,
        *,
        api: Api = "rest",
        params: Params | None = None,
        body: Any = None,
        user: bool = False,
        idempotent: bool,
    ) -> ApiResponse:
        """One API call; raises a `sync.errors` error after the last failed attempt."""
        attempts = max(1, self.config.max_attempts) if idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._send(method, path, api=api, params=params, body=body, user=user)
            except YClientsError as exc:
                if not exc.retryable or attempt >= attempts:
                    log.info(
                        "yclients_call_failed",
                        method=method,
                        path=loggable(path),
                        status=exc.status,
                        code=exc.code,
                        error=type(exc).__name__,
                        attempt=attempt,
                    )
                    raise
                delay = self.backoff_s(attempt, exc)
                log.info(
                    "yclients_call_retry",
                    method=method,
                    path=loggable(path),
                    status=exc.status,
                    error=type(exc).__name__,
                    attempt=attempt,
                    delay_s=round(delay, 3),
                )
                await self._sleep(delay)
        raise AssertionError("unreachable")

    async def _send(
        self, method: str, path: str, *, api: Api, params: Params | None, body: Any, user: bool
    ) -> ApiResponse:
        if self._limiter is not None:
            await self._limiter.acquire()
        self.requests_sent += 1
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self._session.request(
                method,
                self.url(path, api),
                params=list(params) if params else None,
                json=body,
                headers=self.headers(user=user),
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                text = await resp.text(errors="replace")
                status = resp.status
                content_type = resp.headers.get("Content-Type", "")
                headers = resp.headers
        except TimeoutError as exc:
            raise TimeoutError_(f"no answer in {self.config.timeout_s}s: {method} {loggable(path)}") from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{type(exc).__name__}: {method} {loggable(path)}") from exc
        return parse_answer(status, content_type, text, headers)


def parse_answer(status: int, content_type: str, text: str, headers: Any = None) -> ApiResponse:
    """Unwrap `{success, data, meta}` or raise the mapped error (one place: sync.errors)."""
    if status >= 400 or status in (301, 302, 303, 307, 308):
        raise error_from_response(status, content_type, text, headers)
    if not text.strip():  # 204, or a 201/200 with no body
        return ApiResponse(status, None, {})
    try:  # whatever the Content-Type says: a mislabelled JSON body is still the answer
        body = json.loads(text)
    except ValueError:
        raise non_json_error(status, content_type, text) from None
    if isinstance(body, dict) and "success" in body:
        if body.get("success") is False:
            raise error_from_response(400, content_type, text, headers)  # success:false on a 2xx
        return ApiResponse(status, body.get("data"), body.get("meta", {}))
    return ApiResponse(status, body, {})  # bare object (some doc samples)
