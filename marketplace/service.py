"""The marketplace service: registration, connect tokens, API keys, status, QR, pairing, install.

Activation lives in `marketplace.activation`, lifecycle notices in `marketplace.lifecycle`; both
use this service's store and helpers. Everything is keyed by our `company_id`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote

import redis.asyncio as aioredis
import structlog

from marketplace import claims, keys
from marketplace import store as st
from marketplace.config import MarketplaceConfig
from marketplace.partner import PartnerApi, PartnerError
from marketplace.qrimage import QrRenderer
from marketplace.signing import SignatureError, verify_user_data
from marketplace.store import Company, InstallDenied, MarketplaceStore
from marketplace.tokens import (
    TokenError,
    decode_token,
    hash_api_key,
    issue_token,
    new_api_key,
)
from marketplace.validation import is_digits
from sessions.api import SessionService, SessionState
from sessions.runtime import Clock

log = structlog.get_logger(__name__)

SyncStatus = Callable[[int], Awaitable[dict[str, Any] | None]]
T = TypeVar("T")

# States in which opening the connect page (re)starts a QR series.
_NEEDS_QR = {SessionState.STOPPED, SessionState.QR_EXPIRED, SessionState.FAILED, SessionState.LOGGED_OUT}
_DEAD_STATUSES = {st.FROZEN, st.UNINSTALLED}


class ConflictError(Exception):
    """The salon is registered already (register answers 409)."""

    def __init__(self, company_id: int) -> None:
        super().__init__(f"salon already registered as company {company_id}")
        self.company_id = company_id


class InstallRefused(Exception):
    """An install redirect that must not register anything or get a token.

    `reason` is None for a missing/bad signature or salon id, else one of `marketplace.claims`'
    refusal reasons (the salon claim failed).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


# What a salon reads when its frozen/uninstalled integration refuses to (re)start WhatsApp.
INACTIVE_MESSAGE = (
    "Интеграция AI Admin для этого салона приостановлена или отключена в YClients, поэтому WhatsApp "
    "сейчас не подключить. Продлите или подключите приложение в маркетплейсе YClients заново."
)


class IntegrationInactive(Exception):
    """A session-starting action for a frozen or uninstalled salon (answered 409 / a WS `error`)."""

    code = "integration_inactive"

    def __init__(self, company_id: int, status: str | None) -> None:
        super().__init__(f"company {company_id} is {status or 'unknown'}")
        self.company_id, self.status = company_id, status
        self.message = INACTIVE_MESSAGE


@dataclass(frozen=True)
class Registration:
    """The result of `register`: the api key is shown this once."""

    company: Company
    api_key: str
    token: str
    connect_url: str


class MarketplaceService:
    """Salon onboarding and the salon-scoped reads of the /marketplace API."""

    def __init__(
        self, *, store: MarketplaceStore, redis: aioredis.Redis, config: MarketplaceConfig,
        sessions: SessionService, partner: PartnerApi, clock: Clock, sync_status: SyncStatus | None = None,
    ) -> None:
        self.store = store
        self.redis = redis
        self.config = config
        self.sessions = sessions
        self.partner = partner
        self.clock = clock
        self.qr = QrRenderer()
        self._sync_status = sync_status

    # --- registration and tokens ---------------------------------------------------------
    async def register(self, salon_id: int, phone: str, email: str, *, actor: str) -> Registration:
        """Create a salon, its api key and a connect link; ConflictError if the salon exists."""
        company = await self.store.create(salon_id, phone=phone, email=email)
        if company is None:
            existing = await self.store.by_salon(salon_id)
            raise ConflictError(existing.id if existing else 0)
        company = await self._fill_from_yclients(company)
        api_key, prefix, digest = new_api_key()
        await self.store.add_api_key(company.id, prefix, digest)
        token = await self.issue_connect_token(company)
        await self.store.audit(actor, "register", company.id, {"salon_id": salon_id, "api_key_prefix": prefix})
        log.info("company_registered", company_id=company.id, salon_id=salon_id)
        await self.ensure_session(company)
        return Registration(company, api_key, token, self.connect_url(token))

    async def _fill_from_yclients(self, company: Company) -> Company:
        """Best effort: title, address and timezone from YClients' company info."""
        try:
            info = await self.partner.company_info(company.salon_id)
        except PartnerError as exc:
            log.info("company_info_unavailable", company_id=company.id, error=str(exc))
            return company
        if not info:
            return company
        updated, _ = await self.store.upsert_installed(company.salon_id, info)
        return updated

    async def issue_connect_token(self, company: Company) -> str:
        """A fresh 24 h connect token, registered under the seed's Redis keys."""
        ttl = self.config.token_ttl_s
        token = issue_token(
            self.config.jwt_secret, company.id, now_s=self.clock.time(), ttl_s=ttl,
            generation=company.token_generation,
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.token(token), str(company.id), ex=ttl)
            pipe.set(keys.company_token(company.id), token, ex=ttl)
            await pipe.execute()
        return token

    def connect_url(self, token: str) -> str:
        """PUBLIC_BASE_URL + the connect page with this token."""
        return f"{self.config.public_base_url}/marketplace/connect?token={quote(token, safe='')}"

    async def company_for_token(self, token: str) -> int:
        """The company a connect token belongs to; TokenError if forged, expired or revoked."""
        claims = decode_token(self.config.jwt_secret, token, now_s=self.clock.time())
        company = await self.store.get(claims.company_id)
        if company is None:
            raise TokenError("unknown company")
        if company.integration_status == st.UNINSTALLED or claims.generation != company.token_generation:
            raise TokenError("token revoked")
        return company.id

    async def company_for_api_key(self, key: str) -> int | None:
        """The company owning a live `sk_...` key."""
        if not key.startswith("sk_") or len(key) > 200:
            return None
        return await self.store.company_for_key(hash_api_key(key))

    async def revoke_credentials(self, company_id: int) -> None:
        """Uninstall's credential part: status `uninstalled` with every connect token and api key
        revoked in one transaction (so a concurrent activation cannot add a key that survives),
        then the seed's Redis token keys dropped."""
        await self.store.mark_uninstalled(company_id)
        current = await self.redis.get(keys.company_token(company_id))
        names = [keys.company_token(company_id)] + ([keys.token(str(current))] if current else [])
        await self.redis.delete(*names)
        log.info("credentials_revoked", company_id=company_id)

    # --- sessions --------------------------------------------------------------------------
    async def require_live(self, company_id: int) -> Company:
        """The company, unless it is unknown, frozen or uninstalled (IntegrationInactive)."""
        company = await self.store.get(company_id)
        if company is None or company.integration_status in _DEAD_STATUSES:
            raise IntegrationInactive(company_id, company.integration_status if company else None)
        return company

    async def start_guarded(self, company_id: int, action: Callable[[], Awaitable[T]]) -> T:
        """Run a session-starting action (QR, pairing code, start) only for a live integration.

        Checked before, and again after: a freeze or uninstall that landed while the action ran
        stops the session it may have started, so a frozen salon never keeps a running bot.
        """
        await self.require_live(company_id)
        result = await action()
        try:
            await self.require_live(company_id)
        except IntegrationInactive:
            log.warning("session_start_raced_freeze", company_id=company_id)
            await self.sessions.stop(company_id)
            raise
        return result

    async def ensure_session(self, company: Company) -> None:
        """Start a QR series when the salon is waiting to connect and nothing runs."""
        if company.integration_status in _DEAD_STATUSES:
            return
        try:
            info = await self.sessions.info(company.id)
            if info.state in _NEEDS_QR:
                if info.desired == "running" and info.state is not SessionState.STOPPED:
                    await self.start_guarded(company.id, lambda: self.sessions.request_qr(company.id))
                else:
                    await self.start_guarded(company.id, lambda: self.sessions.start(company.id))
        except IntegrationInactive:
            log.info("ensure_session_skipped", company_id=company.id, why="integration frozen or uninstalled")
        except Exception as exc:  # noqa: BLE001 - the page still renders; the socket reports state
            log.warning("ensure_session_failed", company_id=company.id, error=repr(exc))

    async def current_qr(self, company_id: int) -> tuple[str, int] | None:
        """(PNG data URL, expires_in seconds) of the QR valid now, or None."""
        qr = await self.sessions.current_qr(company_id)
        if qr is None:
            return None
        expires_in = qr.expires_in_s(self.clock.time())
        if expires_in <= 0:
            return None
        return await self.qr.render(qr.code), expires_in

    async def status(self, company_id: int) -> dict[str, Any] | None:
        """The status route's body (None for an unknown company)."""
        company = await self.store.get(company_id)
        if company is None:
            return None
        info = await self.sessions.info(company_id)
        body: dict[str, Any] = {
            "success": True,
            "company_id": company.id,
            "salon_id": company.salon_id,
            "title": company.title,
            "whatsapp_connected": company.whatsapp_connected,
            "whatsapp_phone": company.whatsapp_phone,
            "integration_status": company.integration_status,
            "integration_error": company.integration_error,
            "connected_at": _iso(company.connected_at),  # the first connection, kept across reconnects
            "last_connected_at": _iso(company.whatsapp_connected_at),
            "activated_at": _iso(company.activated_at),
            "activation_attempts": company.activation_attempts,
            "activation_retry_at": _iso(company.activation_retry_at),
            "session_state": info.state.value,
            "session_reason": info.reason,
            "session_last_error": info.last_error,
        }
        if self._sync_status is not None:
            try:
                body["sync"] = await self._sync_status(company_id)
            except Exception as exc:  # noqa: BLE001 - status must answer even if sync cannot
                body["sync"] = {"error": repr(exc)[:200]}
        return body

    # --- install redirect ------------------------------------------------------------------
    async def install(self, query: dict[str, list[str]]) -> tuple[Company, str]:
        """Verify an install redirect and the salon claim in it (`marketplace.claims`), upsert the
        salon, and return it with a fresh connect token; InstallRefused (nothing written) otherwise."""
        salon_ids = _salon_ids(query)
        if not salon_ids:
            raise InstallRefused("no salon_id")
        user_data = (query.get("user_data") or [""])[0]
        sign = (query.get("user_data_sign") or [""])[0]
        user: dict[str, Any] | None = None
        try:
            user = verify_user_data(user_data, sign, self.config.partner_token)
        except SignatureError as exc:
            if not self.config.allow_unsigned:
                log.warning("install_refused", salon_id=salon_ids[0], why=str(exc))
                raise InstallRefused(str(exc)) from exc
            log.warning("install_unsigned_allowed", salon_id=salon_ids[0], why=str(exc))
        salon_id = salon_ids[0]  # several branches: the first is installed here
        claim = claims.claim_of(salon_id, user)
        existing = await self.store.by_salon(salon_id)
        reason = claims.refusal(claim, existing) or await self._confirm_with_yclients(claim, existing)
        if reason is not None:
            await self._refuse_install(claim, existing, reason)
        try:
            info = await self.partner.company_info(salon_id)
        except PartnerError as exc:
            log.warning("install_company_info_failed", salon_id=salon_id, error=str(exc))
            info = {}
        if not info.get("title") and user and user.get("salon_name"):
            info = {**info, "title": user.get("salon_name")}
        try:
            # The claim is checked again under the row lock: the read above may be stale.
            company, reinstalled = await self.store.upsert_installed(
                salon_id, info, installer=claim.user_id, authorize=lambda before: claims.refusal(claim, before))
        except InstallDenied as exc:
            await self._refuse_install(claim, exc.company, exc.reason)
        await self.store.audit(
            "yclients", "install", company.id,
            {"salon_id": salon_id, "signed": claim.signed, "reinstall": reinstalled, "user_id": claim.user_id,
             "salon_vouched": claim.salon_vouched},
        )
        log.info("company_installed", company_id=company.id, salon_id=salon_id, reinstall=reinstalled)
        token = await self.issue_connect_token(company)
        await self.ensure_session(company)
        return company, token

    async def _confirm_with_yclients(self, claim: claims.InstallClaim, existing: Company | None) -> str | None:
        """Rule 3 of `marketplace.claims`: refuse when YClients says the app is not installed there.

        When YClients cannot be asked (network, auth), only a claim proven otherwise goes on: the
        signed salon ids include it, or it comes from the salon's recorded installer.
        """
        try:
            status = await self.partner.application_status(claim.salon_id, self.config.application_id)
        except PartnerError as exc:
            if exc.status == 404 and not exc.transient:
                return claims.NOT_INSTALLED
            proven = claim.salon_vouched or (
                existing is not None and existing.installed_by_user_id is not None
                and claim.user_id == existing.installed_by_user_id)
            log.warning("install_status_unconfirmed", salon_id=claim.salon_id, error=str(exc), proven=proven)
            return None if proven else claims.UNCONFIRMED
        if status == "uninstalled":
            return claims.NOT_INSTALLED
        return None

    async def _refuse_install(self, claim: claims.InstallClaim, company: Company | None, reason: str) -> NoReturn:
        """Audit and log a refused claim, then raise InstallRefused (no token, nothing changed)."""
        await self.store.audit(
            "yclients", "install_refused", company.id if company else None,
            {"salon_id": claim.salon_id, "reason": reason, "signed": claim.signed, "user_id": claim.user_id,
             "installed_by_user_id": company.installed_by_user_id if company else None},
        )
        log.warning("install_refused", salon_id=claim.salon_id, company_id=company.id if company else None,
                    why=reason, user_id=claim.user_id)
        raise InstallRefused(reason, reason=reason)


def _salon_ids(query: dict[str, list[str]]) -> list[int]:
    """`salon_id`, `salon_ids[0]`, `salon_ids[1]`..., `salon_ids[]` in that order, valid ones only."""
    raw: list[str] = list(query.get("salon_id", []))
    indexed = sorted(
        (k for k in query if k.startswith("salon_ids[") and k.endswith("]") and is_digits(k[10:-1])),
        key=lambda k: int(k[10:-1]),
    )
    for k in indexed:
        raw.extend(query[k])
    raw.extend(query.get("salon_ids[]", []))
    out: list[int] = []
    for value in raw:
        if is_digits(value) and len(value) <= 10 and 0 < int(value) < 2**31 and int(value) not in out:
            out.append(int(value))
    return out


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
