"""The YClients calls the marketplace makes: activation callback, application status, company info.

`PartnerApi` is the narrow interface the marketplace service uses; `HttpPartnerApi` is the real
one (it talks to YClients or to the sandbox: only the base URL differs). Every HTTP status and
non-JSON answer is mapped to the typed errors below here, and nowhere else.
"""

from __future__ import annotations

from typing import Any, Protocol

import aiohttp
import structlog

log = structlog.get_logger(__name__)

ACCEPT = "application/vnd.yclients.v2+json"


class PartnerError(Exception):
    """A failed partner call. `transient` ones may be retried with backoff."""

    transient = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PartnerTransientError(PartnerError):
    """Network trouble, 429, 5xx, or an HTML/non-JSON answer: retry later."""

    transient = True


class PartnerAuthError(PartnerError):
    """401/403: our partner token or application is not accepted."""


class PartnerRejectedError(PartnerError):
    """404/422 and other 4xx: YClients refused the request as sent (e.g. app already installed)."""


class PartnerApi(Protocol):
    """What the marketplace needs from YClients."""

    async def activate(self, salon_id: int, application_id: int, api_key: str, webhook_urls: list[str]) -> None:
        """`POST /marketplace/partner/callback`; returns when YClients accepted it."""

    async def application_status(self, salon_id: int, application_id: int) -> str | None:
        """`connection_status.status` of the app in that salon (`active`, `pending`...), None if unknown."""

    async def company_info(self, salon_id: int) -> dict[str, Any]:
        """`GET /api/v1/company/{id}` data (title, address, phone, timezone_name...)."""


class HttpPartnerApi:
    """`PartnerApi` over HTTP with the partner token (and the user token for company info)."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, partner_token: str, *,
        user_token: str = "", timeout_s: float = 15.0,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._partner = partner_token
        self._user = user_token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def _headers(self, *, user: bool = False) -> dict[str, str]:
        auth = f"Bearer {self._partner}" + (f", User {self._user}" if user and self._user else "")
        return {"Accept": ACCEPT, "Content-Type": "application/json", "Authorization": auth}

    async def _call(self, method: str, path: str, *, json_body: Any = None, user: bool = False) -> Any:
        url = self._base + path
        try:
            async with self._session.request(
                method, url, json=json_body, headers=self._headers(user=user), timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                ctype = resp.headers.get("Content-Type", "")
                text = await resp.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PartnerTransientError(f"{method} {path}: {type(exc).__name__}") from exc
        return _interpret(method, path, status, ctype, text)

    async def activate(self, salon_id: int, application_id: int, api_key: str, webhook_urls: list[str]) -> None:
        body = {"salon_id": salon_id, "application_id": application_id, "api_key": api_key,
                "webhook_urls": webhook_urls}
        await self._call("POST", "/marketplace/partner/callback", json_body=body)

    async def application_status(self, salon_id: int, application_id: int) -> str | None:
        data = await self._call("GET", f"/marketplace/salon/{salon_id}/application/{application_id}")
        status = ((data or {}).get("data") or {}).get("connection_status") or {}
        value = status.get("status") if isinstance(status, dict) else None
        return str(value) if value is not None else None

    async def company_info(self, salon_id: int) -> dict[str, Any]:
        data = await self._call("GET", f"/api/v1/company/{salon_id}", user=True)
        inner = (data or {}).get("data") if isinstance(data, dict) else None
        return inner if isinstance(inner, dict) else {}


def _interpret(method: str, path: str, status: int, ctype: str, text: str) -> Any:
    """Map one answer to data or a typed error (the single place that knows status codes)."""
    what = f"{method} {path} -> {status}"
    is_json = "json" in ctype.lower()
    payload: Any = None
    if is_json and text:
        try:
            import json

            payload = json.loads(text)
        except ValueError:
            is_json = False
    if status in (301, 302):  # /callback/redirect style success
        return {}
    if 200 <= status < 300:
        if text and not is_json:
            # An HTML page where JSON was expected (edge page, followed redirect): retried, never parsed.
            raise PartnerTransientError(f"{what}: non-JSON answer {text[:60]!r}", status=status)
        if isinstance(payload, dict) and payload.get("success") is False:
            raise PartnerRejectedError(f"{what}: {_message(payload)}", status=status)
        return payload if payload is not None else {}
    message = _message(payload) if isinstance(payload, dict) else (text[:60] if text else "")
    if status == 429 or status >= 500 or not is_json:
        raise PartnerTransientError(f"{what}: {message}", status=status)
    if status in (401, 403):
        raise PartnerAuthError(f"{what}: {message}", status=status)
    raise PartnerRejectedError(f"{what}: {message}", status=status)


def _message(payload: dict[str, Any]) -> str:
    meta = payload.get("meta")
    if isinstance(meta, dict) and meta.get("message"):
        return str(meta["message"])[:200]
    errors = payload.get("errors")
    if isinstance(errors, dict) and errors.get("message"):
        return str(errors["message"])[:200]
    return "error"
