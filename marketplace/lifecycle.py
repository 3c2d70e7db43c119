"""YClients lifecycle notices (`uninstall`, `freeze`) and the salon-side `POST /marketplace/callback`.

Notices authenticate only by the partner token in the body (constant-time) and our application
id. Each is logged in `marketplace_events` under an idempotency key made of the salon, the event
and the company's install sequence, so a replayed notice changes nothing while a freeze after a
reinstall is a new notice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import structlog

from marketplace import store as st
from marketplace.service import MarketplaceService
from marketplace.tokens import constant_equals
from marketplace.validation import is_digits

log = structlog.get_logger(__name__)

EVENTS = ("uninstall", "freeze")


class NoticeRejected(Exception):
    """A notice that fails authentication (403) or validation (400)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class NoticeResult:
    """What happened to one notice."""

    result: str  # "applied" | "duplicate" | "unknown_salon" | "ignored"
    company_id: int | None = None


class Lifecycle:
    """Applies lifecycle notices to companies and sessions."""

    def __init__(self, service: MarketplaceService) -> None:
        self._svc = service

    async def handle_notice(self, body: dict[str, Any]) -> NoticeResult:
        """Authenticate, deduplicate, log and apply one notice."""
        cfg = self._svc.config
        token = body.get("partner_token")
        if not isinstance(token, str) or not constant_equals(token, cfg.partner_token):
            raise NoticeRejected(403, "forbidden", "partner_token mismatch")
        app_id = body.get("application_id")
        if str(app_id) != str(cfg.application_id):
            raise NoticeRejected(403, "forbidden", "application_id mismatch")
        event = body.get("event") or body.get("event_type")
        salon_raw = body.get("salon_id")
        if not isinstance(event, str) or not event:
            raise NoticeRejected(400, "invalid_field", "event (or event_type) is required")
        if isinstance(salon_raw, bool) or not is_digits(str(salon_raw)) or not 0 < int(str(salon_raw)) < 2**31:
            raise NoticeRejected(400, "invalid_field", "salon_id must be a positive integer")
        salon_id = int(str(salon_raw))
        safe_payload = {k: v for k, v in body.items() if k != "partner_token"}
        company = await self._svc.store.by_salon(salon_id)
        seq = company.install_seq if company else 0
        key = f"lifecycle:{salon_id}:{event}:{seq}"
        if event not in EVENTS:
            key += ":" + hashlib.sha256(json.dumps(safe_payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
        fresh = await self._svc.store.record_event(
            key, source="lifecycle", event=event, salon_id=salon_id,
            company_id=company.id if company else None, payload=safe_payload,
        )
        if not fresh and not await self._svc.store.retake_failed_event(key):
            log.info("lifecycle_duplicate", salon_id=salon_id, lifecycle_event=event)
            return NoticeResult("duplicate", company.id if company else None)
        if company is None:
            await self._svc.store.set_event_result(key, "unknown_salon")
            log.info("lifecycle_unknown_salon", salon_id=salon_id, lifecycle_event=event)
            return NoticeResult("unknown_salon")
        if company.integration_status == st.UNINSTALLED and event == "freeze":
            await self._svc.store.set_event_result(key, "ignored")  # nothing left to freeze
            return NoticeResult("ignored", company.id)
        try:
            if event == "uninstall":
                await self.uninstall(company.id)
            elif event == "freeze":
                await self.freeze(company.id)
        except Exception:
            await self._svc.store.set_event_result(key, "failed")  # a resend of the notice retries it
            raise
        if event not in EVENTS:
            await self._svc.store.set_event_result(key, "ignored")
            log.info("lifecycle_ignored", company_id=company.id, lifecycle_event=event)
            return NoticeResult("ignored", company.id)
        await self._svc.store.set_event_result(key, "applied")
        return NoticeResult("applied", company.id)

    async def uninstall(self, company_id: int) -> None:
        """Log out and delete WhatsApp credentials, revoke tokens and keys, status `uninstalled`."""
        svc = self._svc
        # First, atomically: status, tokens and keys (a running activation then loses its claim),
        # and the logout's state event closes sockets whose token is now revoked.
        await svc.revoke_credentials(company_id)
        try:
            await svc.sessions.logout(company_id)
        except Exception as exc:  # noqa: BLE001 - credentials are dropped by the engine on next start anyway
            log.warning("uninstall_logout_failed", company_id=company_id, error=repr(exc))
        await svc.store.set_whatsapp(company_id, connected=False, phone=None, at=svc.clock.now())
        await svc.store.audit("yclients", "uninstall", company_id)
        log.info("company_uninstalled", company_id=company_id)

    async def freeze(self, company_id: int) -> None:
        """Stop the session, keep credentials, status `frozen` (a later install unfreezes)."""
        svc = self._svc
        # Status first: from here on every session-starting request is refused (and one that
        # slipped in re-checks afterwards), so the stop below is not undone.
        await svc.store.set_status(company_id, st.FROZEN)
        try:
            await svc.sessions.stop(company_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("freeze_stop_failed", company_id=company_id, error=repr(exc))
        await svc.store.set_whatsapp(company_id, connected=False, phone=None, at=svc.clock.now())
        await svc.store.audit("yclients", "freeze", company_id)
        log.info("company_frozen", company_id=company_id)

    async def salon_callback(self, company_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """The seed's `POST /marketplace/callback`: record the salon-side confirmation."""
        company = await self._svc.store.get(company_id)
        if company is None:
            raise NoticeRejected(404, "not_found", "company not found")
        for field in ("salon_id", "company_id"):
            if field in body and str(body[field]) != str(company.salon_id if field == "salon_id" else company.id):
                raise NoticeRejected(403, "forbidden", f"{field} does not match this api key's salon")
        status = body.get("status")
        if status is not None and not isinstance(status, str):
            raise NoticeRejected(400, "invalid_field", "status must be a string")
        safe = {k: v for k, v in body.items() if k != "api_key"}
        digest = hashlib.sha256(json.dumps(safe, sort_keys=True, default=str).encode()).hexdigest()[:24]
        fresh = await self._svc.store.record_event(
            f"callback:{company_id}:{digest}", source="callback", event=str(status or "callback"),
            salon_id=company.salon_id, company_id=company_id, payload=safe, result="recorded",
        )
        if fresh:
            await self._svc.store.audit(f"salon:{company_id}", "salon_callback", company_id, {"status": status})
        return {"success": True, "company_id": company_id, "salon_id": company.salon_id,
                "recorded": fresh, "integration_status": company.integration_status}
