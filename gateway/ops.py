"""Operational HTTP: `/healthz`, `/readyz`, `/metrics`, the JSON error middleware and request metrics."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway import db, redis_client
from gateway.appkeys import POOL, READINESS, REDIS, REGISTRY
from gateway.metrics import HttpMetrics, render

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HTTP_METRICS = web.AppKey("http_metrics", HttpMetrics)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def error_body(status: int, code: str | None = None, message: str | None = None) -> dict[str, object]:
    """The contract error shape: `{"success": false, "error": {"code", "message"}}`."""
    return {
        "success": False,
        "error": {"code": code or _CODES.get(status, "error"), "message": message or web.HTTPException.__name__},
    }


def _route_of(request: web.Request) -> str:
    """The route template, never the raw path (paths can carry tokens: /marketplace/qr/{token})."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _wants_json(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return not ("text/html" in accept and request.method == "GET")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as the JSON error shape (pages keep their HTML); nothing leaks a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json" or not _wants_json(request):
            raise
        message = exc.reason if exc.text in (None, "", f"{exc.status}: {exc.reason}") else exc.text
        log.info("request_rejected", route=_route_of(request), status=exc.status, why=message)
        return web.json_response(
            error_body(exc.status, message=message), status=exc.status, headers=_keep_headers(exc)
        )
    except json.JSONDecodeError:
        log.info("request_rejected", route=_route_of(request), status=400, why="malformed json")
        return web.json_response(error_body(400, "invalid_json", "Body is not valid JSON"), status=400)
    except Exception as exc:
        log.error("unhandled_error", route=_route_of(request), error=repr(exc), exc_info=exc)
        return web.json_response(error_body(500, message="Internal server error"), status=500)


def _keep_headers(exc: web.HTTPException) -> dict[str, str]:
    keep = {}
    for name in ("Retry-After", "Allow", "WWW-Authenticate"):
        if name in exc.headers:
            keep[name] = exc.headers[name]
    return keep


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count requests by route template (never by raw path: ids would explode the label set)."""
    metrics = request.app[HTTP_METRICS]
    route = _route_of(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.requests.labels(request.method, route, str(status)).inc()
        metrics.latency.labels(route).observe(time.perf_counter() - started)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"success": True, "status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: startup finished and Postgres and Redis answer."""
    readiness = request.app[READINESS]
    checks: dict[str, bool] = {"started": readiness.started and not readiness.stopping}
    if POOL in request.app:
        checks["postgres"] = await db.ping(request.app[POOL])
    else:
        checks["postgres"] = False
    checks["redis"] = await redis_client.ping(request.app[REDIS]) if REDIS in request.app else False
    ok = all(checks.values())
    request.app[HTTP_METRICS].ready.set(1 if ok else 0)
    body: dict[str, object] = {"success": ok, "status": "ready" if ok else "not_ready", "checks": checks}
    if readiness.startup_error:
        body["startup_error"] = readiness.startup_error
    return web.json_response(body, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition."""
    payload, content_type = render(request.app[REGISTRY])
    resp = web.Response(body=payload)
    resp.headers["Content-Type"] = content_type
    return resp


def setup(app: web.Application) -> None:
    """Install the ops routes and the HTTP middlewares' state."""
    app[HTTP_METRICS] = HttpMetrics(app[REGISTRY])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
