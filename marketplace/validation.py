"""Input validation for the marketplace API: clear 400s, never a 500."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from sessions.jid import is_e164
from sync.jsonbody import BadJson, error_json, parse_json_body

_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63})+$")
MAX_INT = 2**31 - 1


def is_digits(value: str) -> bool:
    """ASCII digits only, at most 18 (`str.isdigit` also accepts '¹' or '٣', which `int()` refuses,
    and `int()` refuses thousands of digits)."""
    return 0 < len(value) <= 18 and value.isascii() and value.isdigit()


def bad_request(code: str, message: str) -> web.HTTPBadRequest:
    """A 400 in the contract shape."""
    return web.HTTPBadRequest(text=error_json(code, message), content_type="application/json")


def json_error(exc_cls: type[web.HTTPException], code: str, message: str, **kw: Any) -> web.HTTPException:
    """Any HTTP error in the contract shape."""
    return exc_cls(text=error_json(code, message), content_type="application/json", **kw)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (400 for malformed JSON, another JSON type, NaN/Infinity,
    NUL characters or lone surrogates: PostgreSQL cannot store those)."""
    raw = await request.read()  # 413 is raised here past client_max_size
    try:
        data = parse_json_body(raw)
    except BadJson as exc:
        raise bad_request("invalid_json", str(exc)) from None
    if not isinstance(data, dict):
        raise bad_request("invalid_json", "Body must be a JSON object")
    return data


def positive_int(value: Any, field: str) -> int:
    """A positive 32-bit integer (ints, or digit strings as YClients sometimes sends)."""
    if isinstance(value, bool):
        raise bad_request("invalid_field", f"{field} must be a positive integer")
    if isinstance(value, str) and is_digits(value) and len(value) <= 10:
        value = int(value)
    if not isinstance(value, int) or not 0 < value <= MAX_INT:
        raise bad_request("invalid_field", f"{field} must be a positive integer")
    return value


def phone_e164(value: Any, field: str = "phone") -> str:
    """An E.164 phone number (`+` and 8-15 digits); spaces, dashes and brackets are tolerated."""
    if not isinstance(value, str):
        raise bad_request("invalid_field", f"{field} must be a string in E.164 format, e.g. +79001234567")
    cleaned = re.sub(r"[\s\-()]", "", value)
    if not is_e164(cleaned):
        raise bad_request("invalid_field", f"{field} must be in E.164 format, e.g. +79001234567")
    return cleaned


def email(value: Any, field: str = "email") -> str:
    """A plausible email address (max 100 characters, the column's size)."""
    if not isinstance(value, str) or len(value) > 100 or not _EMAIL.match(value):
        raise bad_request("invalid_field", f"{field} must be a valid email address")
    return value


def path_int(request: web.Request, name: str) -> int:
    """A positive integer path parameter (404-free: a 400 for junk)."""
    raw = request.match_info.get(name, "")
    if not is_digits(raw) or len(raw) > 10 or not 0 < int(raw) <= MAX_INT:
        raise bad_request("invalid_field", f"{name} must be a positive integer")
    return int(raw)
