"""The marketplace pages: landing, connect page, the YClients install redirect and error pages.

Templates are rendered by a jinja2 environment of our own (autoescape on) kept under `WEB_JINJA`,
so it never collides with other pages' template setups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import structlog
from aiohttp import web

from marketplace import claims
from marketplace.appkeys import MARKETPLACE
from marketplace.auth import PRINCIPAL
from marketplace.service import InstallRefused
from marketplace.store import FROZEN, UNINSTALLED

log = structlog.get_logger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
WEB_JINJA = web.AppKey("web_jinja", jinja2.Environment)


def make_environment() -> jinja2.Environment:
    """The pages' jinja2 environment (autoescape always on)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined)


def render(request: web.Request, template: str, context: dict[str, Any], *, status: int = 200) -> web.Response:
    """An HTML response from one of our templates."""
    html = request.app[WEB_JINJA].get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """A Russian error page for people (invalid link, refused install)."""
    titles = {401: "Ссылка недействительна", 403: "Доступ запрещён", 404: "Не найдено"}
    texts = {
        401: "Ссылка для подключения недействительна или устарела. Откройте приложение AI Admin "
             "в маркетплейсе YClients ещё раз, чтобы получить новую ссылку.",
        403: "Ссылка для подключения недействительна или устарела. Откройте приложение AI Admin "
             "в маркетплейсе YClients ещё раз, чтобы получить новую ссылку.",
    }
    return render(request, "mp_error.html", {"title": titles.get(status, "Ошибка"),
                                          "text": texts.get(status, message), "status": status}, status=status)


_INSTALL_UNSIGNED = (
    "Подключение не подтверждено",
    ("Не удалось подтвердить, что запрос пришёл из YClients (нет подписи или она неверна). "
     "Откройте приложение AI Admin в маркетплейсе YClients и нажмите «Подключить» ещё раз."),
)
_OWNED_ELSEWHERE = (
    "Салон подключён из другой учётной записи",
    ("AI Admin в этом салоне уже подключали из другой учётной записи YClients, поэтому ссылку для "
     "подключения WhatsApp мы здесь не выдаём. Откройте приложение AI Admin в маркетплейсе YClients "
     "из учётной записи салона, через которую его устанавливали, или напишите в поддержку AI Admin — "
     "мы поможем подтвердить, что салон ваш."),
)
_NOT_INSTALLED = (
    "Приложение не установлено в салоне",
    ("YClients не подтвердил, что приложение AI Admin установлено в этом салоне. Установите его в "
     "маркетплейсе YClients из учётной записи салона и нажмите «Подключить» ещё раз. Если ошибка "
     "повторится, напишите в поддержку AI Admin."),
)
_INSTALL_REFUSED = {
    claims.NOT_IN_USER_DATA: _OWNED_ELSEWHERE,
    claims.OTHER_USER: _OWNED_ELSEWHERE,
    claims.NO_USER: _OWNED_ELSEWHERE,
    claims.OWNER_UNKNOWN: _OWNED_ELSEWHERE,
    claims.NOT_INSTALLED: _NOT_INSTALLED,
    claims.UNCONFIRMED: _NOT_INSTALLED,
}


async def landing(request: web.Request) -> web.Response:
    """`GET /marketplace/`."""
    return render(request, "mp_landing.html", {})


async def connect(request: web.Request) -> web.Response:
    """`GET /marketplace/connect?token=`: the QR page (live over the WebSocket, polling as fallback)."""
    svc = request.app[MARKETPLACE]
    company_id = request[PRINCIPAL].company_id
    company = await svc.store.get(company_id) if company_id is not None else None
    if company is None:
        return error_page(request, 404, "Салон не найден")
    if company.integration_status in (FROZEN, UNINSTALLED):
        return render(request, "mp_error.html", {
            "title": "Интеграция приостановлена",
            "text": "Интеграция AI Admin для этого салона приостановлена в YClients. "
                    "Продлите или подключите приложение в маркетплейсе YClients заново.",
            "status": 409}, status=409)
    await svc.ensure_session(company)
    info = await svc.sessions.info(company.id)
    token = request.query.get("token") or ""
    current = None if info.connected else await svc.current_qr(company.id)
    return render(request, "mp_connect.html", {
        "company": company,
        "token": token,
        "connected": info.connected,
        "phone": info.phone or company.whatsapp_phone or "",
        "state": info.state.value,
        "qr": current[0] if current else "",
        "expires_in": current[1] if current else 0,
    })


async def install(request: web.Request) -> web.StreamResponse:
    """`GET /marketplace/yclients/install`: verify, register, 302 to the connect page."""
    svc = request.app[MARKETPLACE]
    query = {key: request.query.getall(key) for key in request.query}
    try:
        _company, token = await svc.install(query)
    except InstallRefused as exc:
        log.info("request_rejected", path=request.path, status=403, why=f"install refused: {exc}",
                 remote=request.remote)
        title, text = _INSTALL_REFUSED.get(exc.reason or "", _INSTALL_UNSIGNED)
        return render(request, "mp_error.html", {"title": title, "text": text, "status": 403}, status=403)
    raise web.HTTPFound(svc.connect_url(token))


def add_routes(app: web.Application) -> None:
    """Register the pages and static files (names carry the auth policy)."""
    r = app.router
    r.add_get("/marketplace/", landing, name="mp.public.landing")
    r.add_get("/marketplace", landing, name="mp.public.landing_noslash")
    r.add_get("/marketplace/connect", connect, name="mp.page.connect")
    r.add_get("/marketplace/yclients/install", install, name="mp.public.install")
    r.add_static("/marketplace/static/", STATIC, name="mp.public.static")
