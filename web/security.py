"""HTTP security of our pages and API: Origin/CORS allow-list, body size cap, security headers.

Applies only to routes named `mp.*` (ours) and to CORS preflights under /marketplace/; the
routes of other packages (/sim, /sandbox, ops, /marketplace/webhook/{companyId}) pass untouched.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from marketplace.appkeys import MARKETPLACE_CONFIG
from marketplace.auth import policy_of
from marketplace.config import MarketplaceConfig
from marketplace.validation import json_error

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

BASE_ORIGINS = ("https://ai-admin.app", "https://yclients.com")
_YCLIENTS_NODE = re.compile(r"^https://n[0-9]*\.yclients\.com$")
_OTHERS_WEBHOOK = re.compile(r"^/marketplace/webhook/\d+/?$")


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def allowed_origins(config: MarketplaceConfig) -> frozenset[str]:
    """The exact origins of DESIGN section 5 plus PUBLIC_BASE_URL and CORS_EXTRA_ORIGINS."""
    items = {*BASE_ORIGINS, _origin_of(config.public_base_url), *(o.rstrip("/").lower() for o in config.extra_origins)}
    return frozenset(i for i in items if i)


def origin_allowed(origin: str, request: web.Request, config: MarketplaceConfig) -> bool:
    """True for an allow-listed origin (or the request's own, i.e. same-origin)."""
    origin = origin.rstrip("/").lower()
    if origin in allowed_origins(config) or _YCLIENTS_NODE.match(origin):
        return True
    return origin == f"{request.scheme}://{request.host}".lower()


def csp(config: MarketplaceConfig) -> str:
    """The pages' Content-Security-Policy: no inline script, QR data URLs, framing by YClients only.

    `connect-src 'self'` covers the page's own WebSocket (CSP3: 'self' matches ws:/wss: on the same
    host), without opening sockets to any other host. Framing is limited by `frame-ancestors`,
    not X-Frame-Options, which can name only one origin (and ALLOW-FROM is dead in browsers).
    """
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {' '.join(config.frame_ancestors)}"
    )


def _ours(request: web.Request) -> bool:
    if policy_of(request) is not None:
        return True
    # Preflights match no route: decide by path.
    return (request.method == "OPTIONS" and request.path.startswith("/marketplace/")
            and not _OTHERS_WEBHOOK.match(request.path))


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Origin check, CORS, body cap and headers for our routes."""
    if not _ours(request):
        return await handler(request)
    config = request.app[MARKETPLACE_CONFIG]
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(origin, request, config):
        log.info("request_rejected", path=request.path, status=403, why="origin not allowed", origin=origin[:100],
                 remote=request.remote)
        raise json_error(web.HTTPForbidden, "origin_not_allowed", "This origin is not allowed")
    if request.method == "OPTIONS":
        response: web.StreamResponse = web.Response(status=204)
    else:
        if request.content_length is not None and request.content_length > config.max_body_bytes:
            log.info("request_rejected", path=request.path, status=413, why="body too large",
                     size=request.content_length)
            raise json_error(web.HTTPRequestEntityTooLarge, "payload_too_large",
                             f"Request body is larger than {config.max_body_bytes} bytes",
                             max_size=config.max_body_bytes, actual_size=request.content_length)
        response = await handler(request)
    if response.prepared:  # a WebSocket: its headers are gone already
        return response
    h = response.headers
    if origin is not None:
        h["Access-Control-Allow-Origin"] = origin
        h["Vary"] = "Origin"
        if request.method == "OPTIONS":
            h["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            h["Access-Control-Allow-Headers"] = "Authorization, Content-Type, X-API-Key"
            h["Access-Control-Max-Age"] = "600"
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["Content-Security-Policy"] = csp(config)
    h.setdefault("Cache-Control", "no-store")
    return response
