"""The JSON routes of /marketplace (DESIGN.md section 5). Authentication is done by `auth_middleware`."""

from __future__ import annotations

import functools
import json
from typing import Any

import structlog
from aiohttp import web

from marketplace.appkeys import ACTIVATOR, LIFECYCLE, MARKETPLACE
from marketplace.auth import PRINCIPAL
from marketplace.lifecycle import NoticeRejected
from marketplace.openapi import spec
from marketplace.service import ConflictError, IntegrationInactive
from marketplace.validation import (
    bad_request,
    email,
    json_error,
    path_int,
    phone_e164,
    positive_int,
    read_json_object,
)
from sessions.transport import TransportError

log = structlog.get_logger(__name__)
_DUMPS = functools.partial(json.dumps, ensure_ascii=False)

ENDPOINTS = {
    "landing": "GET /marketplace/",
    "connect": "GET /marketplace/connect?token=",
    "install": "GET /marketplace/yclients/install",
    "register": "POST /marketplace/register",
    "qr": "GET /marketplace/qr/{token}",
    "pairing_code": "POST /marketplace/pairing-code/{token}",
    "status": "GET /marketplace/status/{companyId}",
    "callback": "POST /marketplace/callback",
    "activate": "POST /marketplace/activate/{companyId}",
    "webhook": "POST /marketplace/webhook/{companyId}",
    "lifecycle": "POST /marketplace/webhook/yclients",
    "companies": "GET /marketplace/companies",
    "websocket": "GET /marketplace/ws?token=",
    "openapi": "GET /marketplace/openapi.json",
}


async def test_endpoint(request: web.Request) -> web.Response:
    """`GET /marketplace/test`."""
    return _json({"success": True, "status": "ok", "endpoints": ENDPOINTS,
                              "message": "Marketplace integration endpoints are ready"})


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI description of these routes."""
    return _json(spec(request.app[MARKETPLACE].config.public_base_url))


async def register(request: web.Request) -> web.Response:
    """`POST /marketplace/register` (admin): a new salon, its api key (shown once) and connect URL."""
    body = await read_json_object(request)
    for field in ("salon_id", "phone", "email"):
        if field not in body:
            raise bad_request("missing_field", f"{field} is required")
    salon_id = positive_int(body["salon_id"], "salon_id")
    phone = phone_e164(body["phone"])
    mail = email(body["email"])
    svc = request.app[MARKETPLACE]
    try:
        reg = await svc.register(salon_id, phone, mail, actor=request[PRINCIPAL].actor())
    except ConflictError as exc:
        raise json_error(web.HTTPConflict, "already_registered",
                         f"Salon {salon_id} is already registered (company {exc.company_id})") from None
    return _json({"success": True, "company_id": reg.company.id, "salon_id": reg.company.salon_id,
                              "api_key": reg.api_key, "connect_url": reg.connect_url})


async def qr(request: web.Request) -> web.Response:
    """`GET /marketplace/qr/{token}`: the current QR, or a 202 `{success:false}` while there is none."""
    svc = request.app[MARKETPLACE]
    company_id = request[PRINCIPAL].company_id
    assert company_id is not None
    current = await svc.current_qr(company_id)
    if current is None:
        info = await svc.sessions.info(company_id)
        return _json(
            {"success": False, "state": info.state.value, "connected": info.connected,
             "error": {"code": "qr_not_ready", "message": "No QR code yet; try again in a moment"}},
            status=202,
        )
    data_url, expires_in = current
    return _json({"success": True, "qr": data_url, "expires_in": expires_in})


async def pairing_code(request: web.Request) -> web.Response:
    """`POST /marketplace/pairing-code/{token}` `{phone}` -> `{success, code, expires_in}`."""
    body = await read_json_object(request)
    if "phone" not in body:
        raise bad_request("missing_field", "phone is required")
    phone = phone_e164(body["phone"])
    svc = request.app[MARKETPLACE]
    company_id = request[PRINCIPAL].company_id
    assert company_id is not None
    try:
        code, expires_in = await svc.start_guarded(
            company_id, lambda: svc.sessions.request_pairing_code(company_id, phone))
    except IntegrationInactive as exc:
        raise inactive_error(exc) from None
    except (TransportError, RuntimeError, ValueError, TimeoutError) as exc:
        log.info("pairing_code_failed", company_id=company_id, error=repr(exc))
        raise json_error(web.HTTPConflict, "pairing_unavailable",
                         "A pairing code cannot be issued right now; use the QR code or retry") from None
    return _json({"success": True, "code": code, "expires_in": int(expires_in)})


async def status(request: web.Request) -> web.Response:
    """`GET /marketplace/status/{companyId}`."""
    company_id = path_int(request, "companyId")
    body = await request.app[MARKETPLACE].status(company_id)
    if body is None:
        raise json_error(web.HTTPNotFound, "not_found", f"Company {company_id} not found")
    return _json(body)


async def activate(request: web.Request) -> web.Response:
    """`POST /marketplace/activate/{companyId}`: retry the activation (e.g. after `activation_failed`)."""
    company_id = path_int(request, "companyId")
    svc = request.app[MARKETPLACE]
    if await svc.store.get(company_id) is None:
        raise json_error(web.HTTPNotFound, "not_found", f"Company {company_id} not found")
    await request.app[ACTIVATOR].activate(company_id, manual=True)
    return _json(await svc.status(company_id))


async def callback(request: web.Request) -> web.Response:
    """`POST /marketplace/callback` (salon api key): the salon-side confirmation."""
    body = await read_json_object(request)
    company_id = request[PRINCIPAL].company_id
    if company_id is None:
        raise bad_request("missing_field", "admin calls must use the salon's own api key")
    try:
        result = await request.app[LIFECYCLE].salon_callback(company_id, body)
    except NoticeRejected as exc:
        raise _notice_error(exc) from None
    return _json(result)


async def lifecycle(request: web.Request) -> web.Response:
    """`POST /marketplace/webhook/yclients`: `uninstall` / `freeze`."""
    body = await read_json_object(request)
    try:
        result = await request.app[LIFECYCLE].handle_notice(body)
    except NoticeRejected as exc:
        raise _notice_error(exc) from None
    return _json({"success": True, "result": result.result, "company_id": result.company_id})


async def companies(request: web.Request) -> web.Response:
    """`GET /marketplace/companies` (admin): totals and a page; `?salon_id=`, `?page=`, `?count=`."""
    q = request.query
    salon_id = positive_int(q["salon_id"], "salon_id") if q.get("salon_id") else None
    page = positive_int(q.get("page", "1"), "page")
    count = positive_int(q.get("count", "50"), "count")
    if count > 500:
        raise bad_request("invalid_field", "count must be at most 500")
    svc = request.app[MARKETPLACE]
    rows = await svc.store.page(salon_id=salon_id, limit=count, offset=(page - 1) * count)
    stats = await svc.store.stats()
    return _json({
        "success": True, "stats": stats, "page": page, "count": len(rows),
        "companies": [
            {"company_id": c.id, "salon_id": c.salon_id, "title": c.title,
             "integration_status": c.integration_status, "whatsapp_connected": c.whatsapp_connected,
             "whatsapp_phone": c.whatsapp_phone}
            for c in rows
        ],
    })


def _json(body: Any, *, status: int = 200) -> web.Response:
    """A JSON answer with Russian text kept readable (not \\u-escaped)."""
    return web.json_response(body, status=status, dumps=_DUMPS)


def inactive_error(exc: IntegrationInactive) -> web.HTTPException:
    """409 for a session-starting request of a frozen/uninstalled salon (message in Russian: the page shows it)."""
    return json_error(web.HTTPConflict, exc.code, exc.message)


def _notice_error(exc: NoticeRejected) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound}.get(exc.status, web.HTTPBadRequest)
    return json_error(cls, exc.code, exc.message)


def add_routes(app: web.Application) -> None:
    """Register the JSON routes (names carry the auth policy, see `marketplace.auth`)."""
    r = app.router
    r.add_get("/marketplace/test", test_endpoint, name="mp.public.test")
    r.add_get("/marketplace/openapi.json", openapi, name="mp.public.openapi")
    r.add_post("/marketplace/register", register, name="mp.admin.register")
    r.add_get("/marketplace/qr/{token}", qr, name="mp.tokenpath.qr")
    r.add_post("/marketplace/pairing-code/{token}", pairing_code, name="mp.tokenpath.pairing")
    r.add_get(r"/marketplace/status/{companyId:\d+}", status, name="mp.company.status")
    r.add_post("/marketplace/callback", callback, name="mp.key.callback")
    r.add_post(r"/marketplace/activate/{companyId:\d+}", activate, name="mp.company.activate")
    r.add_post("/marketplace/webhook/yclients", lifecycle, name="mp.public.lifecycle")
    r.add_get("/marketplace/companies", companies, name="mp.admin.companies")
