"""`PartnerApi` on top of the sync package's YClients client (the app's one client and error tree).

Retries: the activation callback is sent once per call (the activator owns its retries); the
status and company reads keep the client's own retries (nobody retries them above).

The sync client maps HTTP answers to `sync.errors`; here those are folded into the marketplace's
three outcomes: transient (retry later), auth (terminal), rejected (terminal, maybe "already ours").
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from marketplace.partner import PartnerAuthError, PartnerError, PartnerRejectedError, PartnerTransientError
from sync.client import YClientsClient
from sync.errors import AuthError, Forbidden, YClientsError

T = TypeVar("T")


async def _mapped(call: Awaitable[T]) -> T:
    try:
        return await call
    except YClientsError as exc:
        status = getattr(exc, "status", None)
        message = f"{type(exc).__name__}: {exc}" + (f" (HTTP {status})" if status else "")
        if exc.retryable:
            raise PartnerTransientError(message, status=status) from exc
        if isinstance(exc, (AuthError, Forbidden)):
            raise PartnerAuthError(message, status=status) from exc
        raise PartnerRejectedError(message, status=status) from exc
    except PartnerError:
        raise


class SyncPartnerApi:
    """The marketplace's partner calls through `sync.client.YClientsClient`."""

    def __init__(self, client: YClientsClient) -> None:
        self._client = client

    async def activate(self, salon_id: int, application_id: int, api_key: str, webhook_urls: list[str]) -> None:
        """One `POST /marketplace/partner/callback`, never retried here.

        `YClientsClient.activate` marks the call idempotent, so its transport would retry it up to
        YCLIENTS_MAX_ATTEMPTS times inside each of the activator's attempts (4 x 4 calls, sleeping
        on the wall clock); the activator owns activation retries, so this sends exactly one request.
        """
        body = {"salon_id": salon_id, "application_id": application_id, "api_key": api_key,
                "webhook_urls": list(webhook_urls)}
        await _mapped(self._client.transport.call(
            "POST", "/partner/callback", api="marketplace", body=body, idempotent=False))

    async def application_status(self, salon_id: int, application_id: int) -> str | None:
        status = await _mapped(self._client.application_status(salon_id, application_id))
        return status.status or None

    async def company_info(self, salon_id: int) -> dict[str, Any]:
        company = await _mapped(self._client.company(salon_id))
        return dict(company.raw) if company.raw else {
            "title": company.title, "address": company.address, "phone": company.phone,
            "timezone_name": company.timezone_name}
