"""Authentication and authorisation of the /marketplace routes, as one middleware.

Each of our routes carries its policy in its name, `mp.<policy>.<what>`:

- `public`     no credentials (install redirect, lifecycle notices, landing, test)
- `admin`      `X-API-Key: <ADMIN_API_KEY>`
- `company`    `{companyId}` in the path; that salon's token (Bearer or ?token=), its `sk_` key, or admin
- `tokenpath`  `{token}` in the path is the salon token
- `token`      ?token= or Bearer (connect page, WebSocket); `page` is the same for HTML pages
- `key`        the salon's `X-API-Key: sk_...`

An optional `?company_id=` on token routes must name the token's own company. The principal is
stored in `request[PRINCIPAL]`. Routes of other packages (no `mp.` name) pass untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web

from marketplace.appkeys import MARKETPLACE
from marketplace.service import MarketplaceService
from marketplace.tokens import TokenError, constant_equals, token_fingerprint
from marketplace.validation import is_digits, json_error

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
POLICIES = ("public", "admin", "company", "tokenpath", "token", "page", "key")
_SELF_AUDITED = {"mp.admin.register"}  # handlers that write their own, richer audit row


@dataclass(frozen=True)
class Principal:
    """Who is calling: the operator (`company_id` None) or one salon."""

    kind: str  # "admin" | "salon"
    company_id: int | None
    via: str  # "admin_key" | "token" | "api_key" | "none"

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    def actor(self) -> str:
        return "admin" if self.is_admin else f"salon:{self.company_id}"


PRINCIPAL = web.RequestKey("marketplace_principal", Principal)
PageRenderer = Callable[[web.Request, int, str], web.StreamResponse]
PAGE_ERROR = web.AppKey("marketplace_page_error", object)  # PageRenderer, set by web


class Rejected(Exception):
    def __init__(self, status: int, code: str, why: str, message: str) -> None:
        super().__init__(why)
        self.status, self.code, self.why, self.message = status, code, why, message


def policy_of(request: web.Request) -> str | None:
    """The policy of the matched route, or None for routes that are not ours."""
    name = request.match_info.route.name or ""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == "mp" and parts[1] in POLICIES:
        return parts[1]
    return None


def bearer(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer ...`."""
    value = request.headers.get("Authorization", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate and bind the caller to the company asked about, before any handler runs."""
    policy = policy_of(request)
    if policy is None:
        return await handler(request)
    try:
        request[PRINCIPAL] = await _authenticate(request, policy)
    except Rejected as exc:
        log.info("request_rejected", path=safe_path(request), method=request.method, status=exc.status,
                 why=exc.why, remote=request.remote)
        if policy == "page":
            render = request.app.get(PAGE_ERROR)
            if callable(render):
                return render(request, exc.status, exc.message)
        cls = {401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound}.get(exc.status, web.HTTPForbidden)
        raise json_error(cls, exc.code, exc.message) from None
    principal = request[PRINCIPAL]
    if principal.is_admin and request.match_info.route.name not in _SELF_AUDITED:
        await request.app[MARKETPLACE].store.audit(
            "admin", "admin:" + (request.match_info.route.name or "?").split(".")[-1], principal.company_id,
            {"method": request.method, "path": safe_path(request)})
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:  # bad input and the like: say why in the log (the error body says it too)
            log.info("request_rejected", path=safe_path(request), method=request.method, status=exc.status,
                     why=_why(exc), remote=request.remote)
        raise


def safe_path(request: web.Request) -> str:
    """The request path with a connect token in it replaced by a short fingerprint (never log tokens)."""
    token = request.match_info.get("token")
    return request.path.replace(token, "tok:" + token_fingerprint(token)) if token else request.path


def _why(exc: web.HTTPException) -> str:
    try:
        import json

        return str(json.loads(exc.text or "")["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return (exc.text or exc.reason or "")[:200]


async def _authenticate(request: web.Request, policy: str) -> Principal:
    svc: MarketplaceService = request.app[MARKETPLACE]
    if policy == "public":
        return Principal("public", None, "none")
    admin = _admin(request, svc)
    if policy == "admin":
        if admin:
            return Principal("admin", None, "admin_key")
        raise Rejected(401 if not request.headers.get("X-API-Key") else 403, "unauthorized",
                       "admin key missing or wrong", "A valid admin X-API-Key is required")
    if admin and policy in ("company", "key"):
        return Principal("admin", None, "admin_key")
    if admin:
        return await _admin_on_salon_route(request, policy, svc)
    if policy == "key" or (policy == "company" and request.headers.get("X-API-Key")):
        key = request.headers.get("X-API-Key", "")
        company_id = await svc.company_for_api_key(key) if key else None
        if company_id is None:
            raise Rejected(401, "unauthorized", "api key missing, unknown or revoked", "A valid X-API-Key is required")
        principal = Principal("salon", company_id, "api_key")
    else:
        if policy == "tokenpath":
            token = request.match_info.get("token", "")
        else:
            token = bearer(request) or request.query.get("token", "")
        if not token:
            raise Rejected(401, "unauthorized", "token missing", "A connect token is required")
        try:
            company_id = await svc.company_for_token(token)
        except TokenError as exc:
            raise Rejected(403 if policy == "page" else 401, "invalid_token", str(exc),
                           "The link is invalid or has expired") from None
        principal = Principal("salon", company_id, "token")
    _check_scope(request, policy, principal)
    return principal


async def _admin_on_salon_route(request: web.Request, policy: str, svc: MarketplaceService) -> Principal:
    """The operator on a token route: the company comes from the token, or from ?company_id=."""
    token = request.match_info.get("token", "") if policy == "tokenpath" else (
        bearer(request) or request.query.get("token", ""))
    if token:
        try:
            return Principal("admin", await svc.company_for_token(token), "admin_key")
        except TokenError as exc:
            raise Rejected(401, "invalid_token", str(exc), "The link is invalid or has expired") from None
    asked = request.query.get("company_id", "")
    if is_digits(asked) and 0 < int(asked) < 2**31 and await svc.store.get(int(asked)) is not None:
        return Principal("admin", int(asked), "admin_key")
    raise Rejected(404, "not_found", "admin without a company", "Pass ?company_id= of an existing company")


def _admin(request: web.Request, svc: MarketplaceService) -> bool:
    key = request.headers.get("X-API-Key", "")
    return bool(key) and constant_equals(key, svc.config.admin_api_key)


def _check_scope(request: web.Request, policy: str, principal: Principal) -> None:
    """A salon may only act on its own company."""
    asked: str | None = None
    if policy == "company":
        asked = request.match_info.get("companyId")
    else:
        asked = request.query.get("company_id") or request.query.get("company")
    if asked is None or asked == "":
        return
    if not is_digits(asked) or int(asked) != principal.company_id:
        raise Rejected(403, "forbidden", f"credentials of company {principal.company_id} used for {asked[:12]!r}",
                       "These credentials belong to another salon")
