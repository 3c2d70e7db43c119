"""Strict parsing of JSON request bodies that end up in PostgreSQL (text and JSONB columns).

Python's `json.loads` accepts what PostgreSQL refuses: NaN/Infinity, U+0000 in strings and lone
UTF-16 surrogates ("\\ud800"). Such a body must be a 400 at the door, not a 500 at the INSERT.
Used by sync's webhook route and by marketplace's `read_json_object` (marketplace -> sync), as is
`error_json`, the one builder of the contract error body (marketplace, web and sync answer with it).
"""

from __future__ import annotations

import json
from typing import Any


def error_json(code: str, message: str) -> str:
    """The contract error body `{"success": false, "error": {"code", "message"}}` as JSON text."""
    return json.dumps({"success": False, "error": {"code": code, "message": message}}, ensure_ascii=False)


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


def unstorable(value: Any) -> str | None:
    """Why `value` cannot be stored as PostgreSQL text/JSONB (NUL, lone surrogates), or None.

    Iterative, so a deeply nested body cannot hide a bad string below a depth limit.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "Body must not contain NUL (\\u0000) characters"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "Body must not contain unpaired UTF-16 surrogates"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None
