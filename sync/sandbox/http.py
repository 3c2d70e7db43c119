"""HTTP plumbing shared by the sandbox routes: error shapes, auth and Accept checks, faults,
the request recorder, and query/body parsing (brackets percent-encoded or not)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sync.sandbox.core import Sandbox

ACCEPT = "application/vnd.yclients.v2+json"
AUTH_MESSAGE = "Необходима авторизация"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SANDBOX = web.AppKey("yclients_sandbox", Sandbox)


def ok(data: Any = None, meta: Any = None, status: int = 200) -> web.Response:
    """The v2 envelope."""
    return web.json_response(
        {"success": True, "data": data, "meta": [] if meta is None else meta}, status=status, dumps=_dumps
    )


def err_a(status: int, message: str, errors: Any = None) -> web.Response:
    """Shape A: `{"success": false, "data": null, "meta": {"message"[, "errors"]}}`."""
    meta: dict[str, Any] = {"message": message}
    if errors is not None:
        meta["errors"] = errors
    return web.json_response({"success": False, "data": None, "meta": meta}, status=status, dumps=_dumps)


def err_b(code: int, message: str, *, status: int = 422, appointment_id: Any = None) -> web.Response:
    """Shape B: a booking business code in `meta.errors[]` (with the appointment id, [sbx])."""
    item: dict[str, Any] = {"code": code, "message": message}
    if appointment_id is not None:
        item["id"] = appointment_id
    return err_a(status, "An error has occurred", [item])


def err_c(status: int, message: str) -> web.Response:
    """Shape C: `{"errors": {"code", "message"}, "meta": {"message"}}` (company endpoints)."""
    return web.json_response(
        {"errors": {"code": status, "message": message}, "meta": {"message": message}}, status=status, dumps=_dumps
    )


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def auth(kind: str, shape: str = "A") -> Callable[[Handler], Handler]:
    """Mark a handler's auth: "P" partner token, "PU" partner + user token (or an installed
    salon, reference gotcha 2), "none" for sandbox helpers. `shape` is its 401/404 error shape."""

    def mark(handler: Handler) -> Handler:
        handler._sandbox_auth = (kind, shape)  # type: ignore[attr-defined]
        return handler

    return mark


def parse_authorization(header: str) -> tuple[str | None, str | None]:
    """`Bearer <partner>[, User <user>]` -> (partner, user)."""
    partner = user = None
    for part in header.split(","):
        part = part.strip()
        if part.lower().startswith("bearer "):
            partner = part[7:].strip()
        elif part.lower().startswith("user "):
            user = part[5:].strip()
    return partner, user


def ids_param(request: web.Request, name: str) -> list[int]:
    """Array query values: `name[]=1&name[]=2`, `name%5B%5D=`, `name[0]=`, or plain `name=`."""
    pattern = re.compile(rf"^{re.escape(name)}(\[\d*\])?$")
    out: list[int] = []
    for key, value in request.query.items():
        if pattern.match(key):
            for piece in str(value).split(","):  # tolerate a comma list from sloppy clients
                if piece.strip().lstrip("-").isdigit():
                    out.append(int(piece))
    return out


def str_list_param(request: web.Request, name: str) -> list[str]:
    """Array query values as strings (`include[]=a&include[]=b`, encoded or not, or `name=`)."""
    pattern = re.compile(rf"^{re.escape(name)}(\[\d*\])?$")
    return [str(v) for k, v in request.query.items() if pattern.match(k)]


def int_param(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None or not raw.strip().lstrip("-").isdigit():
        return default
    return int(raw)


async def json_body(request: web.Request) -> Any:
    """The JSON body, or raise a shape-A 400."""
    if not request.body_exists:
        return {}
    try:
        return await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(
            text=json.dumps({"success": False, "data": None, "meta": {"message": "Недопустимый формат запроса"}}),
            content_type="application/json",
        ) from None


def _salon_id_of(request: web.Request) -> int | None:
    raw = request.match_info.get("cid") or request.match_info.get("salon_id")
    return int(raw) if raw and raw.isdigit() else None


@web.middleware
async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every request, then apply faults, then check Accept and tokens like the real API."""
    sandbox = request.app[SANDBOX]
    body: Any = None
    if request.body_exists:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = raw.decode("utf-8", "replace")
    sandbox.record(
        request.method,
        request.path,
        list(request.query.items()),
        body,
        {k: v for k, v in request.headers.items() if k.lower() in ("accept", "authorization", "content-type")},
    )
    kind, shape = getattr(request.match_info.handler, "_sandbox_auth", ("P", "A"))
    if kind != "none":
        fault = sandbox.fault_for(request.method, request.path)
        if fault is not None:
            if fault.kind == "content_type":
                answer = await _checked(request, handler, sandbox, kind, shape)
                if isinstance(answer, web.Response):
                    answer.content_type = fault.content_type
                return answer
            if fault.kind == "latency":
                await asyncio.sleep(fault.delay_s)
            elif fault.kind == "html":
                page = f"<!DOCTYPE html><html><head><title>{fault.status}</title></head><body>Bad Gateway</body></html>"
                return web.Response(status=fault.status, text=page, content_type="text/html")
            elif fault.kind == "rate_limit":
                headers = {"Retry-After": str(fault.retry_after_s)} if fault.retry_after_s is not None else {}
                resp = err_a(429, "Too Many Requests")
                resp.headers.update(headers)
                return resp
            else:
                return err_a(fault.status, "Внутренняя ошибка сервера" if fault.status >= 500 else "Ошибка")
    return await _checked(request, handler, sandbox, kind, shape)


async def _checked(
    request: web.Request, handler: Handler, sandbox: Sandbox, kind: str, shape: str
) -> web.StreamResponse:
    """Check tokens and Accept like the real API, then run the handler."""
    if kind != "none":
        partner, user = parse_authorization(request.headers.get("Authorization", ""))
        unauthorized = err_c(401, AUTH_MESSAGE) if shape == "C" else err_a(401, AUTH_MESSAGE)
        if partner != sandbox.partner_token:
            return unauthorized
        if user is not None and user != sandbox.user_token:
            return unauthorized
        if request.headers.get("Accept", "").strip() != ACCEPT:
            return err_a(406, "Неверный заголовок Accept: нужен " + ACCEPT)
        if kind == "PU" and user is None:
            salon_id = _salon_id_of(request)
            if salon_id is not None and salon_id in sandbox.salons and not sandbox.is_installed(salon_id):
                return err_a(403, "Нет прав на выполнение операции")
    return await handler(request)
