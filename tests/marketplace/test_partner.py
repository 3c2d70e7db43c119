"""The partner API's answer mapping: HTML/non-JSON and 5xx are transient, 401/403 auth, other 4xx rejected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from marketplace.partner import PartnerAuthError, PartnerRejectedError, PartnerTransientError, _interpret
from marketplace.partner_sync import SyncPartnerApi
from sync.errors import AuthError, NonJsonResponse, ServerError, ValidationFailed
from sync.sandbox import Sandbox
from tests.sync.conftest import DEMO_SALON

JSON = "application/json"


def test_interpret_maps_statuses() -> None:
    assert _interpret("POST", "/cb", 201, JSON, '{"success": true, "data": null, "meta": {}}')["success"] is True
    assert _interpret("POST", "/cb", 201, "", "") == {}
    assert _interpret("POST", "/cb/redirect", 301, "text/html", "<html>") == {}
    with pytest.raises(PartnerTransientError):
        _interpret("POST", "/cb", 200, "text/html", "<!DOCTYPE html><html>oops</html>")
    with pytest.raises(PartnerTransientError):
        _interpret("POST", "/cb", 200, JSON, "<!DOCTYPE html>")  # says JSON, is not
    with pytest.raises(PartnerTransientError):
        _interpret("POST", "/cb", 502, "text/html", "<html>Bad gateway</html>")
    with pytest.raises(PartnerTransientError):
        _interpret("POST", "/cb", 429, JSON, '{"success": false, "meta": {"message": "slow down"}}')
    with pytest.raises(PartnerAuthError, match="Необходима авторизация"):
        _interpret("POST", "/cb", 401, JSON, '{"success": false, "data": null, "meta": {"message": "Необходима авторизация"}}')
    with pytest.raises(PartnerRejectedError):
        _interpret("POST", "/cb", 422, JSON, '{"success": false, "meta": {"message": "already installed"}}')
    with pytest.raises(PartnerRejectedError):
        _interpret("POST", "/cb", 200, JSON, '{"success": false, "meta": {"message": "no"}}')


class _Transport:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def call(self, *args: object, **kwargs: object) -> None:
        raise self.exc


class _Client:
    def __init__(self, exc: Exception) -> None:
        self.transport = _Transport(exc)


@pytest.mark.parametrize(("exc", "expected"), [
    (NonJsonResponse("html", status=200, snippet="<!DOCTYPE html>"), PartnerTransientError),
    (ServerError("boom", status=503), PartnerTransientError),
    (AuthError("no", status=401), PartnerAuthError),
    (ValidationFailed("already installed", status=422), PartnerRejectedError),
])
async def test_sync_client_errors_are_folded(exc: Exception, expected: type[Exception]) -> None:
    api = SyncPartnerApi(_Client(exc))  # type: ignore[arg-type]
    with pytest.raises(expected):
        await api.activate(1, 18000, "sk_x", [])


async def test_activation_through_the_sync_client_is_one_request_per_attempt(
    sandbox: Sandbox, make_yclients: Callable[..., Any], sleeps: Any,
) -> None:
    """The activator owns activation retries: the sync client must not retry inside each attempt."""
    api = SyncPartnerApi(make_yclients(max_attempts=4))
    sandbox.add_fault("/partner/callback", "status", status=503)
    with pytest.raises(PartnerTransientError):
        await api.activate(DEMO_SALON, 18000, "sk_test", ["https://bot.example/webhook"])
    assert len(sandbox.requests_to("/partner/callback", "POST")) == 1
    assert sleeps.delays == []  # and no wall-clock backoff hidden below the activator's
    sandbox.clear_faults()
    await api.activate(DEMO_SALON, 18000, "sk_test", ["https://bot.example/webhook"])
    body = sandbox.requests_to("/partner/callback", "POST")[-1].body
    assert body == {"salon_id": DEMO_SALON, "application_id": 18000, "api_key": "sk_test",
                    "webhook_urls": ["https://bot.example/webhook"]}
    assert sandbox.install(DEMO_SALON).status == "active"
    # Reads keep the client's own retries (nobody retries them above).
    sandbox.add_fault("/application/", "status", status=503, times=1)
    assert await api.application_status(DEMO_SALON, 18000) == "active"
