"""The partner API's answer mapping: HTML/non-JSON and 5xx are transient, 401/403 auth, other 4xx rejected."""

from __future__ import annotations

import pytest

from marketplace.partner import PartnerAuthError, PartnerRejectedError, PartnerTransientError, _interpret
from marketplace.partner_sync import SyncPartnerApi
from sync.errors import AuthError, NonJsonResponse, ServerError, ValidationFailed

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


class _Client:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def activate(self, *args: object, **kwargs: object) -> None:
        raise self.exc


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
