"""Strict parsing of JSON request bodies that end up in PostgreSQL (text and JSONB columns).

Python's `json.loads` accepts what PostgreSQL refuses: NaN/Infinity, U+0000 in strings and lone
UTF-16 surrogates ("\\ud800"). Such a body must be a 400 at the door, not a 500 at the INSERT.
Used by sync's webhook route and by marketplace's `read_json_object` (marketplace -> sync).
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 50


class BadJson(ValueError):
    """The body is not JSON we can store; the message says why (safe to show the caller)."""


def _no_constants(name: str) -> Any:
    raise BadJson(f"Body must not contain {name}")


def parse_json_body(raw: bytes) -> Any:
    """Decode UTF-8 JSON; `BadJson` for malformed JSON or values PostgreSQL cannot hold."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants) if raw else None
    except BadJson:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadJson("Body is not valid JSON") from None
    problem = unstorable(data)
    if problem is not None:
        raise BadJson(problem)
    return data


def unstorable(value: Any, depth: int = 0) -> str | None:
    """Why `value` cannot be stored as PostgreSQL text/JSONB (NUL, lone surrogates), or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "Body must not contain NUL (\\u0000) characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "Body must not contain unpaired UTF-16 surrogates"
        return None
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = unstorable(key, depth + 1) or unstorable(item, depth + 1)
            if problem is not None:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = unstorable(item, depth + 1)
            if problem is not None:
                return problem
    return None
