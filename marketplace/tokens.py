"""Connect tokens (JWT HS256) and salon API keys (`sk_...`, stored as prefix + sha256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import jwt

API_KEY_PREFIX = "sk_"
_VISIBLE_PREFIX_LEN = 10  # "sk_" + 7 characters: enough to recognise, useless to attack


class TokenError(Exception):
    """A token that is malformed, forged, expired or revoked."""


@dataclass(frozen=True)
class TokenClaims:
    """What a valid connect token says."""

    company_id: int
    issued_at: int
    expires_at: int
    generation: int


def issue_token(secret: str, company_id: int, *, now_s: float, ttl_s: int, generation: int) -> str:
    """A connect token: payload `company_id`, `iat`, `exp` (+ `gen`, the revocation generation)."""
    iat = int(now_s)
    payload = {"company_id": company_id, "iat": iat, "exp": iat + ttl_s, "gen": generation}
    return jwt.encode(payload, secret, algorithm="HS256")


def decode_token(secret: str, token: str, *, now_s: float) -> TokenClaims:
    """Verify signature and expiry against the injected clock; raises TokenError."""
    if not token or len(token) > 2048:
        raise TokenError("missing or oversized token")
    try:
        payload = jwt.decode(
            token, secret, algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "require": ["company_id", "iat", "exp"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {type(exc).__name__}") from exc
    try:
        claims = TokenClaims(
            company_id=int(payload["company_id"]), issued_at=int(payload["iat"]),
            expires_at=int(payload["exp"]), generation=int(payload.get("gen", 1)),
        )
    except (TypeError, ValueError) as exc:
        raise TokenError("invalid token claims") from exc
    if claims.expires_at <= now_s:
        raise TokenError("token expired")
    return claims


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: (plaintext shown once, visible prefix, sha256 hex)."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, key[:_VISIBLE_PREFIX_LEN], hash_api_key(key)


def hash_api_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def constant_equals(a: str, b: str) -> bool:
    """Constant-time string comparison (False for empty expected values)."""
    return bool(b) and hmac.compare_digest(a.encode(), b.encode())


def token_fingerprint(token: str) -> str:
    """A loggable stand-in for a token."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]
