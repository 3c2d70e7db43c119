"""The install redirect's `user_data` / `user_data_sign` check (reference 4.2)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any


class SignatureError(Exception):
    """`user_data` missing, undecodable, or not signed with our partner token."""


def decode_user_data(user_data: str) -> bytes:
    """Base64 (standard or url-safe) to bytes; '+' turned ' ' by form decoding and missing padding are fixed."""
    s = user_data.strip().replace(" ", "+")
    s += "=" * (-len(s) % 4)
    try:
        if "-" in s or "_" in s:
            return base64.urlsafe_b64decode(s)
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("user_data is not base64") from exc


def verify_user_data(user_data: str, sign: str, partner_token: str) -> dict[str, Any]:
    """The decoded user JSON when `sign` is hex(HMAC-SHA256(partner_token, decoded JSON)); else SignatureError."""
    if not user_data or not sign:
        raise SignatureError("user_data or user_data_sign missing")
    if not partner_token:
        raise SignatureError("no partner token configured")
    raw = decode_user_data(user_data)
    expected = hmac.new(partner_token.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), sign.strip().lower().encode()):
        raise SignatureError("user_data_sign mismatch")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignatureError("user_data is not JSON") from exc
    if not isinstance(data, dict):
        raise SignatureError("user_data is not a JSON object")
    return data


def sign_user_data(data: dict[str, Any], partner_token: str) -> tuple[str, str]:
    """(user_data, user_data_sign) as YClients builds them: for tests and the sandbox helper."""
    raw = json.dumps(data, ensure_ascii=False).encode()
    return base64.b64encode(raw).decode(), hmac.new(partner_token.encode(), raw, hashlib.sha256).hexdigest()
