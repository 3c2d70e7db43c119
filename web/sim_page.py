"""The simulator HTTP API (DESIGN.md section 10) and the simulator phone page.

Registered by gateway/wiring/sessions.py only with WHATSAPP_PROVIDER=sim. The API drives the
simulated phone (`sessions.sim_phone.SimPhone`): scan the QR, type a pairing code, write as a
client, read what the bot sent, inject faults. The page (`/sim/{companyId}`) is a phone in the
browser: the session state, a scan button, and a chat with the bot (external JS, no inline script).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import jinja2
from aiohttp import web

from marketplace.validation import json_error, read_json_object
from sessions.api import SessionService
from sessions.jid import is_e164
from sessions.runtime import Clock
from sessions.sim_phone import SimError, SimPhone

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
SIM_JINJA = web.AppKey("sim_jinja", jinja2.Environment)


@dataclass
class SimApi:
    """What the simulator pages need; the sessions wiring stores one under `SIM_API` at startup."""

    phone: SimPhone
    sessions: SessionService
    clock: Clock
    company_exists: Callable[[int], Awaitable[bool]]
    list_companies: Callable[[], Awaitable[list[tuple[int, str | None]]]]


SIM_API = web.AppKey("sim_api", SimApi)
MAX_TEXT = 4096
MAX_BAN_S = 366 * 86400  # a simulated ban lasts at most a year

_SIM_STATUS = {
    "no_qr": web.HTTPConflict,
    "no_pairing_code": web.HTTPConflict,
    "not_linked": web.HTTPConflict,
    "wrong_code": web.HTTPBadRequest,
    "invalid_phone": web.HTTPBadRequest,
    "empty_text": web.HTTPBadRequest,
    "invalid_fault": web.HTTPBadRequest,
    "invalid_count": web.HTTPBadRequest,
}


def _fail(exc_cls: type[web.HTTPException], code: str, message: str) -> NoReturn:
    raise json_error(exc_cls, code, message)


def _sim_fail(err: SimError) -> NoReturn:
    _fail(_SIM_STATUS.get(err.code, web.HTTPBadRequest), err.code, err.message)


def _phone(request: web.Request) -> SimPhone:
    return request.app[SIM_API].phone


async def _company(request: web.Request) -> int:
    company_id = int(request.match_info["company_id"])
    if not await request.app[SIM_API].company_exists(company_id):
        _fail(web.HTTPNotFound, "company_not_found", f"no company {company_id}")
    return company_id


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON object body ({} when there is none); 400 for anything PostgreSQL could not store."""
    if not request.can_read_body:
        return {}
    return await read_json_object(request)


def _optional_phone(data: dict[str, Any], field: str) -> str | None:
    value = data.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not is_e164(value):
        _fail(web.HTTPBadRequest, "invalid_phone", f"'{field}' must be an E.164 phone, e.g. +79161234567")
    return value


async def scan(request: web.Request) -> web.Response:
    """`POST /sim/{companyId}/scan` [{"phone"}]: scan the QR on screen."""
    company_id = await _company(request)
    phone = _optional_phone(await _body(request), "phone")
    try:
        linked = await _phone(request).scan(company_id, phone)
    except SimError as err:
        _sim_fail(err)
    return web.json_response({"success": True, "company_id": company_id, "phone": linked})


async def pair(request: web.Request) -> web.Response:
    """`POST /sim/{companyId}/pair` {"code"}: type the pairing code on the phone."""
    company_id = await _company(request)
    code = (await _body(request)).get("code")
    if code is not None and not isinstance(code, str):
        _fail(web.HTTPBadRequest, "invalid_code", "'code' must be a string")
    try:
        linked = await _phone(request).confirm_pairing(company_id, code)
    except SimError as err:
        _sim_fail(err)
    return web.json_response({"success": True, "company_id": company_id, "phone": linked})


async def inbound(request: web.Request) -> web.Response:
    """`POST /sim/{companyId}/inbound` {"from": "+7...", "text": "..."}: a client writes to the salon."""
    company_id = await _company(request)
    data = await _body(request)
    sender = data.get("from")
    text = data.get("text")
    if not isinstance(sender, str) or not is_e164(sender):
        _fail(web.HTTPBadRequest, "invalid_phone", "'from' must be an E.164 phone, e.g. +79161234567")
    if not isinstance(text, str) or not text.strip():
        _fail(web.HTTPBadRequest, "empty_text", "'text' must be a non-empty string")
    if len(text) > MAX_TEXT:
        _fail(web.HTTPBadRequest, "text_too_long", f"'text' must be at most {MAX_TEXT} characters")
    from_me = data.get("from_me", False)
    if not isinstance(from_me, bool):
        _fail(web.HTTPBadRequest, "invalid_from_me", "'from_me' must be a boolean")
    try:
        message_id = await _phone(request).inbound(company_id, sender, text, from_me=from_me)
    except SimError as err:
        _sim_fail(err)
    return web.json_response({"success": True, "company_id": company_id, "message_id": message_id,
                              "sent_at": request.app[SIM_API].clock.time()})


async def outbound(request: web.Request) -> web.Response:
    """`GET /sim/{companyId}/outbound?to=+7...`: the messages the bot sent (oldest first)."""
    company_id = await _company(request)
    to = request.query.get("to") or None
    if to is not None and not is_e164(to):
        _fail(web.HTTPBadRequest, "invalid_phone", "'to' must be an E.164 phone, e.g. +79161234567")
    messages = [m.as_json() for m in await _phone(request).outbound(company_id, to)]
    return web.json_response({"success": True, "company_id": company_id, "count": len(messages),
                              "messages": messages})


async def fault(request: web.Request) -> web.Response:
    """`POST /sim/{companyId}/fault` {"kind": "disconnect|logout|ban|replaced|outdated|pairing_failed", "count"?, "expires_in_s"?}."""
    company_id = await _company(request)
    data = await _body(request)
    kind = data.get("kind")
    count = data.get("count", 1)
    expires_in_s = data.get("expires_in_s", 3600)
    if not isinstance(kind, str):
        _fail(web.HTTPBadRequest, "invalid_fault", "'kind' is required")
    if not isinstance(count, int) or isinstance(count, bool):
        _fail(web.HTTPBadRequest, "invalid_count", "'count' must be an integer")
    if (not isinstance(expires_in_s, (int, float)) or isinstance(expires_in_s, bool)
            or not 0 < expires_in_s <= MAX_BAN_S):
        _fail(web.HTTPBadRequest, "invalid_expires_in",
              f"'expires_in_s' must be a positive number of seconds, at most {MAX_BAN_S}")
    try:
        await _phone(request).fault(company_id, kind, count=count, expires_in_s=float(expires_in_s))
    except SimError as err:
        _sim_fail(err)
    return web.json_response({"success": True, "company_id": company_id, "kind": kind})


async def state(request: web.Request) -> web.Response:
    """`GET /sim/{companyId}/state`: what the phone page shows."""
    company_id = await _company(request)
    api = request.app[SIM_API]
    info = await api.sessions.info(company_id)
    qr = await api.sessions.current_qr(company_id)
    return web.json_response({
        "success": True, "company_id": company_id, "state": info.state.value, "reason": info.reason,
        "phone": info.phone, "qr_on_screen": qr is not None,
        "qr_expires_in": qr.expires_in_s(api.clock.time()) if qr else None,
        "linked_phone": await _phone(request).linked_phone(company_id),
    })


async def page(request: web.Request) -> web.Response:
    """`GET /sim/{companyId}`: the simulator phone page."""
    company_id = await _company(request)
    html = request.app[SIM_JINJA].get_template("sim_phone.html").render(company_id=company_id)
    return web.Response(text=html, content_type="text/html", charset="utf-8")


async def index(request: web.Request) -> web.Response:
    """`GET /sim/`: the companies to open a phone for."""
    rows = await request.app[SIM_API].list_companies()
    if len(rows) == 1:
        raise web.HTTPFound(f"/sim/{rows[0][0]}")
    html = request.app[SIM_JINJA].get_template("sim_phone.html").render(
        company_id=None, companies=[{"id": cid, "title": title or f"Салон {cid}"} for cid, title in rows]
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8")


def _asset(name: str, content_type: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=(STATIC / name).read_bytes(), content_type=content_type, charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    return handler


def setup(app: web.Application) -> None:
    """Register the simulator API, page and its assets."""
    app[SIM_JINJA] = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True)
    cid = "{company_id:\\d{1,9}}"
    r = app.router
    r.add_get("/sim/assets/sim_phone.js", _asset("sim_phone.js", "application/javascript"))
    r.add_get("/sim/assets/sim_phone.css", _asset("sim_phone.css", "text/css"))
    r.add_get("/sim/", index)
    r.add_get(f"/sim/{cid}", page)
    r.add_get(f"/sim/{cid}/state", state)
    r.add_post(f"/sim/{cid}/scan", scan)
    r.add_post(f"/sim/{cid}/pair", pair)
    r.add_post(f"/sim/{cid}/inbound", inbound)
    r.add_get(f"/sim/{cid}/outbound", outbound)
    r.add_post(f"/sim/{cid}/fault", fault)
