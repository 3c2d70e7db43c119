"""The typed error tree of the YClients client, and the ONE place that maps answers to errors.

Branch on the class (or `status` / `code`), never on the Russian message text. `retryable`
says whether a failure is transient; the client retries only idempotent calls, and only those.
"""

from __future__ import annotations

import json
from typing import Any


class YClientsError(Exception):
    """Any failure talking to YClients."""

    retryable: bool = False

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


# --- transport: no usable HTTP answer -----------------------------------------------------
class TransportError(YClientsError):
    """Connection refused/reset, DNS failure: the request may or may not have reached YClients."""

    retryable = True


class TimeoutError_(TransportError):
    """No answer in time; for a non-idempotent call the outcome is unknown."""


class NonJsonResponse(YClientsError):
    """An answer that is not JSON (an HTML error page from an edge proxy or a followed redirect)."""

    retryable = True

    def __init__(self, message: str, *, status: int, snippet: str) -> None:
        super().__init__(message, status=status)
        self.snippet = snippet


class MalformedData(YClientsError, ValueError):
    """A successful answer whose data we cannot use (e.g. a schedule day without a date)."""


# --- API errors: a JSON answer with an error status ----------------------------------------
class ApiError(YClientsError):
    """YClients answered with an error status and a JSON body."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None = None,
        errors: Any = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.errors = errors
        self.body = body


class BadRequest(ApiError):
    """400: malformed request."""


class AuthError(ApiError):
    """401: partner or user token missing or invalid."""


class PaymentRequired(ApiError):
    """402: the salon's YClients subscription is not paid."""


class Forbidden(ApiError):
    """403: the token is valid but lacks rights for this salon or action."""


class NotFound(ApiError):
    """404: unknown salon, record or route; on marketplace routes also "app not installed"."""


class ValidationFailed(ApiError):
    """422: validation failed (field errors or a business code without its own class)."""


class RateLimited(ApiError):
    """429: too many requests; `retry_after_s` from the Retry-After header when given."""

    retryable = True

    def __init__(self, message: str, *, status: int = 429, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, status=status, **kw)
        self.retry_after_s = retry_after_s


class ServerError(ApiError):
    """5xx with a JSON body."""

    retryable = True


# --- booking business codes (reference 2.6 / 2.7) ------------------------------------------
class BookingError(ApiError):
    """A booking-chain business error; `appointment_id` is the offending appointment if known."""

    def __init__(self, message: str, *, appointment_id: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.appointment_id = appointment_id


class InvalidPhone(BookingError, ValidationFailed):
    """431: the phone number is in a wrong format."""


class WrongSmsCode(BookingError, ValidationFailed):
    """432: wrong SMS confirmation code."""


class SlotTaken(BookingError, ValidationFailed):
    """433: the chosen time is already taken (or not working)."""


class ClientBlacklisted(BookingError, Forbidden):
    """434: the client's phone is blacklisted in this salon (sent with 403)."""


class ClientNameMissing(BookingError, ValidationFailed):
    """435: the client's name is missing."""


class NoStaffAvailable(BookingError, ValidationFailed):
    """436: no specialist available for "any specialist" (staff_id = 0)."""


class AppointmentsOverlap(BookingError, ValidationFailed):
    """437: two appointments of the same request overlap."""


class ServiceUnavailable(BookingError, ValidationFailed):
    """438: a service is no longer bookable."""


BOOKING_CODES: dict[int, type[BookingError]] = {
    431: InvalidPhone,
    432: WrongSmsCode,
    433: SlotTaken,
    434: ClientBlacklisted,
    435: ClientNameMissing,
    436: NoStaffAvailable,
    437: AppointmentsOverlap,
    438: ServiceUnavailable,
}

_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthError,
    402: PaymentRequired,
    403: Forbidden,
    404: NotFound,
    422: ValidationFailed,
    429: RateLimited,
}


def _message_of(body: Any) -> str:
    if isinstance(body, dict):
        meta = body.get("meta")
        if isinstance(meta, dict) and meta.get("message"):
            return str(meta["message"])
        errors = body.get("errors")  # shape C
        if isinstance(errors, dict) and errors.get("message"):
            return str(errors["message"])
    return ""


def _error_items(body: Any) -> Any:
    """`meta.errors` (a list of `{code, message[, id]}` or an object keyed by field), or shape C."""
    if not isinstance(body, dict):
        return None
    meta = body.get("meta")
    if isinstance(meta, dict) and meta.get("errors") is not None:
        return meta["errors"]
    errors = body.get("errors")
    if isinstance(errors, dict):
        return [errors]
    return None


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After") if headers is not None else None
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def non_json_error(status: int, content_type: str, text: str) -> NonJsonResponse:
    """The error for a body that does not parse as JSON (an HTML page, or broken JSON)."""
    what = "malformed JSON" if "json" in content_type.lower() else "non-JSON answer"
    return NonJsonResponse(f"{what} (HTTP {status})", status=status, snippet=text[:200].replace("\n", " "))


def error_from_response(status: int, content_type: str, text: str, headers: Any = None) -> YClientsError:
    """Map an error answer (status >= 400, or a redirect) to its typed error. The body is read as
    JSON whatever its Content-Type says; one that does not parse is a `NonJsonResponse`."""
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        return non_json_error(status, content_type, text)
    if body is None and "json" not in content_type.lower():
        return NonJsonResponse(f"non-JSON answer (HTTP {status})", status=status, snippet="")
    message = _message_of(body) or f"HTTP {status}"
    items = _error_items(body)
    if isinstance(items, list):
        for item in items:
            if not isinstance(item, dict):
                continue
            try:
                code = int(item.get("code"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            cls = BOOKING_CODES.get(code)
            if cls is not None:
                raw_id = item.get("id")
                appointment_id = int(raw_id) if isinstance(raw_id, (int, str)) and str(raw_id).isdigit() else None
                return cls(
                    str(item.get("message") or message),
                    status=status,
                    code=code,
                    errors=items,
                    body=body,
                    appointment_id=appointment_id,
                )
    if status == 429:
        return RateLimited(message, retry_after_s=_retry_after(headers), errors=items, body=body)
    if status >= 500:
        return ServerError(message, status=status, errors=items, body=body)
    cls_for_status = _BY_STATUS.get(status, ApiError)
    return cls_for_status(message, status=status, errors=items, body=body)
