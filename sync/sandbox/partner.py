"""The sandbox's marketplace partner routes (reference 4.3-4.5) and the signed install helper (4.2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from sync.sandbox.core import Sandbox
from sync.sandbox.http import SANDBOX, auth, err_a, int_param, json_body, ok


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


def signed_install_url(
    target: str, salon_id: int, partner_token: str, user: dict[str, Any] | None = None
) -> str:
    """The URL YClients sends an installing salon's browser to: `salon_id`, `user_data` (base64
    JSON) and `user_data_sign` = hex HMAC-SHA256 of the decoded JSON keyed with the partner token."""
    raw = json.dumps(
        user or {"id": 100_000 + salon_id, "name": "Администратор", "phone": "79990000000",
                 "email": f"owner{salon_id}@example.com", "salon_name": f"Салон {salon_id}", "is_approved": True},
        ensure_ascii=False,
    ).encode()
    sign = hmac.new(partner_token.encode(), raw, hashlib.sha256).hexdigest()
    query = urlencode({"salon_id": salon_id, "user_data": base64.b64encode(raw).decode(), "user_data_sign": sign})
    return f"{target}{'&' if '?' in target else '?'}{query}"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@auth("P")
async def callback(request: web.Request) -> web.StreamResponse:
    """Activation: remember the salon as installed (active) with its api_key and webhook URLs."""
    sandbox = _sandbox(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        return err_a(422, "Неверные параметры")
    salon_id, app_id = _int(body.get("salon_id")), _int(body.get("application_id"))
    errors = {}
    if salon_id is None:
        errors["salon_id"] = ["Обязательное поле"]
    if app_id is None:
        errors["application_id"] = ["Обязательное поле"]
    urls = body.get("webhook_urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        errors["webhook_urls"] = ["Должен быть массивом строк"]
    if errors or salon_id is None or app_id is None:
        return err_a(422, "Неверные параметры", errors)
    if app_id != sandbox.application_id:
        return err_a(403, "Нет доступа к приложению")
    if salon_id not in sandbox.salons:
        return err_a(404, "Салон не найден")
    inst = sandbox.install(salon_id, app_id)
    if inst.status == "active" and sandbox.strict_repeat_activation:
        return err_a(422, "Приложение уже подключено")
    inst.api_key = str(body.get("api_key") or "")
    inst.webhook_urls = list(urls)
    sandbox.set_install_status(salon_id, "active", "partner_api", app_id)
    if request.path.endswith("/redirect"):
        raise web.HTTPMovedPermanently(location=f"https://yclients.com/appstore/{salon_id}/setup")
    return web.json_response({"success": True, "data": None, "meta": {}}, status=201)


def _installed(request: web.Request) -> tuple[int, int] | web.Response:
    sandbox = _sandbox(request)
    salon_id, app_id = int(request.match_info["salon_id"]), int(request.match_info["app_id"])
    if app_id != sandbox.application_id:
        return err_a(403, "Нет доступа к приложению")
    if (salon_id, app_id) not in sandbox.installs or sandbox.install(salon_id, app_id).status == "uninstalled":
        return err_a(404, "Приложение не подключено в салоне")
    return salon_id, app_id


@auth("P")
async def salon_status(request: web.Request) -> web.Response:
    found = _installed(request)
    if isinstance(found, web.Response):
        return found
    inst = _sandbox(request).install(*found)
    created = inst.logs[0]["changed_at"] if inst.logs else None
    return ok(
        {"logs": inst.logs, "payments": [], "connection_status": {"status": inst.status, "created_at": created}},
        {},
    )


@auth("P")
async def uninstall(request: web.Request) -> web.Response:
    found = _installed(request)
    if isinstance(found, web.Response):
        return found
    _sandbox(request).set_install_status(found[0], "uninstalled", "partner_api", found[1])
    return ok(None, {})


@auth("P")
async def app_salons(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    if int(request.match_info["app_id"]) != sandbox.application_id:
        return err_a(403, "Нет доступа к приложению")
    page, count = int_param(request, "page"), int_param(request, "count")
    if not page or not count or count > 1000:
        return err_a(422, "page и count обязательны", {"count": ["1..1000"]})
    active = sorted(sid for (sid, aid), inst in sandbox.installs.items() if inst.status == "active")
    data = []
    for sid in active[(page - 1) * count : page * count]:
        c = sandbox.salons[sid].company
        data.append({"id": str(sid), "title": c.get("title"), "phone": c.get("phone"), "city": c.get("city", ""),
                     "timezone_name": c.get("timezone_name"), "address": c.get("address"),
                     "phone_confirmation": False, "active_staff_count": len(sandbox.salons[sid].active_staff())})
    return ok(data, {})


@auth("none")
async def install_helper(request: web.Request) -> web.Response:
    """`GET /sandbox/install?salon_id=&target=` -> the signed install URL (`?redirect=1`: a 302 to it).
    The salon is marked `pending` as YClients would on a click in the marketplace."""
    sandbox = _sandbox(request)
    salon_id = int_param(request, "salon_id")
    if salon_id is None or salon_id not in sandbox.salons:
        return err_a(404, "Салон не найден")
    target = request.query.get("target") or sandbox.install_target
    url = signed_install_url(target, salon_id, sandbox.partner_token)
    if sandbox.install(salon_id).status == "uninstalled":
        sandbox.set_install_status(salon_id, "pending", "marketplace")
    if request.query.get("redirect") == "1":
        raise web.HTTPFound(location=url)
    return ok({"url": url}, {})


def routes() -> list[web.RouteDef]:
    m = "/marketplace"
    return [
        web.post(m + "/partner/callback", callback),
        web.post(m + "/partner/callback/redirect", callback),
        web.get(m + r"/salon/{salon_id:\d+}/application/{app_id:\d+}", salon_status),
        web.post(m + r"/salon/{salon_id:\d+}/application/{app_id:\d+}/uninstall", uninstall),
        web.get(m + r"/application/{app_id:\d+}/salons", app_salons),
        web.get("/sandbox/install", install_helper),
        web.get("/install", install_helper),
    ]
