"""Activation: once WhatsApp is connected, tell YClients (partner callback), then sync and welcome.

`Activator.on_session_event` is registered as a SessionService listener: it keeps the `companies`
WhatsApp columns in step with the session and starts the activation when the session connects.
Activation is idempotent: an active company is left alone, and a YClients "already installed"
refusal counts as success when the status route says the app is active in that salon.

Retries have two levels, both owned here (the partner client makes one HTTP call per attempt):
within a run, transient errors are retried `activation_attempts` times with a short backoff; a run
that still fails leaves `activation_failed` with a retry time (capped exponential backoff with
jitter, `activation_retry_base_s` doubling up to `activation_retry_cap_s`) that the sweep honours.
Terminal refusals (401/403, 404/422 that the status route does not contradict) get no retry time:
only the operator (`POST /marketplace/activate/{id}`) or a new install from YClients tries again.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from marketplace import keys
from marketplace import store as st
from marketplace.partner import PartnerAuthError, PartnerError, PartnerRejectedError, PartnerTransientError
from marketplace.service import MarketplaceService
from marketplace.tokens import new_api_key
from sessions.api import OutboxSender, SessionEvent, SessionState
from sessions.jid import phone_to_jid
from sessions.runtime import Spawner

log = structlog.get_logger(__name__)
_RELEASE_IF_OURS = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

InitialSync = Callable[[int], Awaitable[Any]]


@dataclass(frozen=True)
class _Outcome:
    """How one activation run ended."""

    ok: bool
    error: str | None = None
    lost: bool = False  # the claim was taken away (uninstall, freeze, reinstall): do nothing more
    terminal: bool = False  # YClients refused (401/403/404/422): never retried automatically


class Activator:
    """Runs activations (each in a supervised task) and mirrors session state into `companies`."""

    def __init__(
        self, service: MarketplaceService, spawner: Spawner, *, outbox: OutboxSender | None = None,
        initial_sync: InitialSync | None = None,
    ) -> None:
        self._svc = service
        self._spawner = spawner
        self._outbox = outbox
        self._initial_sync = initial_sync
        self._running: dict[int, asyncio.Task[Any]] = {}
        self._closed = False

    async def on_session_event(self, event: SessionEvent) -> None:
        """SessionService listener."""
        store, now = self._svc.store, self._svc.clock.now()
        if event.type == "connected":
            company = await store.get(event.company_id)
            if company is not None and company.integration_status in (st.FROZEN, st.UNINSTALLED):
                # Whatever path started it (a race, an operator command): no bot for a dead integration.
                log.warning("session_connected_while_inactive", company_id=event.company_id,
                            integration_status=company.integration_status)
                # In its own task: this listener may run inside the session's loop, which stop() halts.
                self._spawner.spawn(f"marketplace-stop-{event.company_id}", self._svc.sessions.stop(event.company_id))
                return
            phone = event.data.get("phone")
            await store.set_whatsapp(event.company_id, connected=True, phone=phone if isinstance(phone, str) else None,
                                     at=now)
            log.info("whatsapp_connected", company_id=event.company_id)
            self.schedule(event.company_id)
        elif event.type == "state":
            state = event.data.get("state")
            if state == SessionState.CONNECTED.value:
                await store.set_whatsapp(event.company_id, connected=True, phone=None, at=now)
            elif isinstance(state, str):
                await store.set_whatsapp(event.company_id, connected=False, phone=None, at=now)

    def schedule(self, company_id: int) -> asyncio.Task[Any] | None:
        """Start the activation of a company unless one is already running here (None once closed)."""
        if self._closed:
            log.info("activation_not_started", company_id=company_id, why="shutting down; the sweep takes it later")
            return None
        task = self._running.get(company_id)
        if task is None or task.done():
            task = self._spawner.spawn(f"marketplace-activate-{company_id}", self.activate(company_id))
            self._running[company_id] = task
        return task

    async def run_once(self, stale_s: float = 900.0) -> int:
        """Periodic sweep: activate connected companies a missed event or a crash left behind
        (`pending`, `activating` older than `stale_s`), and failed ones whose retry time has come
        (never terminal refusals). Returns how many activations were started."""
        stale_before = self._svc.clock.now() - timedelta(seconds=stale_s)
        ids = await self._svc.store.needing_activation(stale_before)
        started = sum(1 for company_id in ids if self.schedule(company_id) is not None)
        if started:
            log.info("activation_sweep", started=started)
        return started

    async def close(self, timeout_s: float = 5.0) -> None:
        """Shutdown, before the HTTP client goes: start nothing more and cancel running activations.

        A cancelled activation stays `activating` (its lock is released); the sweep of the next
        start takes it over once stale.
        """
        self._closed = True
        tasks = [t for t in self._running.values() if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=timeout_s)
            if stuck:
                log.error("activation_did_not_stop", count=len(stuck), timeout_s=timeout_s)

    async def wait_idle(self) -> None:
        """Wait for every running activation (tests, shutdown)."""
        while tasks := [t for t in self._running.values() if not t.done()]:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def activate(self, company_id: int, *, manual: bool = False) -> bool:
        """Activate once the session is connected; True when the integration is (already) active.

        Automatic runs (connect events, the sweep) leave an `activation_failed` company alone until
        its retry time, and for good after a terminal refusal; `manual` (the operator) always tries.
        """
        svc = self._svc
        company = await svc.store.get(company_id)
        if company is None or company.integration_status in (st.FROZEN, st.UNINSTALLED):
            return False
        if company.integration_status == st.ACTIVE:
            return True
        if not company.whatsapp_connected:
            log.info("activation_deferred", company_id=company_id, why="whatsapp not connected")
            return False
        if not manual and company.integration_status == st.ACTIVATION_FAILED and (
                company.activation_retry_at is None or company.activation_retry_at > svc.clock.now()):
            log.info("activation_not_due", company_id=company_id, retry_at=str(company.activation_retry_at))
            return False
        lock, token = keys.activation_lock(company_id), secrets.token_hex(8)
        if not await svc.redis.set(lock, token, nx=True, ex=600):
            log.info("activation_skipped", company_id=company_id, why="running on another instance")
            return False
        try:
            api_key, prefix, digest = new_api_key()
            claim = await svc.store.claim_activation(company_id, key_prefix=prefix, key_sha256=digest,
                                                     due_only=not manual)
            if claim is None:
                return (await svc.store.get(company_id) or company).integration_status == st.ACTIVE
            outcome = await self._call_yclients(company.id, company.salon_id, claim.install_seq, api_key)
            retry_at = None if outcome.ok or outcome.terminal else self._retry_at(claim.attempts + 1)
            # Conditional on the claim: an uninstall/freeze/reinstall meanwhile wins, and then
            # nothing follows (no status, no audit of success, no sync, no welcome).
            won = not outcome.lost and await svc.store.finish_activation(
                company_id, claim.install_seq, ok=outcome.ok, error=outcome.error, retry_at=retry_at)
            if not won:
                log.warning("activation_superseded", company_id=company_id,
                            why="uninstalled, frozen or reinstalled while the activation ran")
                return False
            if outcome.ok:
                await svc.store.audit("system", "activate", company_id, {"salon_id": company.salon_id})
                log.info("activation_succeeded", company_id=company_id)
            else:
                details = {"error": outcome.error, "attempt": claim.attempts + 1,
                           "retry_at": retry_at.isoformat() if retry_at else None}
                await svc.store.audit("system", "activation_failed", company_id, details)
                log.warning("activation_failed", company_id=company_id, **details)
        finally:
            # Only our own lock: after a 600 s run it may have expired and be another instance's.
            await svc.redis.eval(_RELEASE_IF_OURS, 1, lock, token)
        if outcome.ok:
            await self._after_activation(company_id)
        return outcome.ok

    async def _call_yclients(self, company_id: int, salon_id: int, seq: int, api_key: str) -> _Outcome:
        svc, cfg = self._svc, self._svc.config
        webhooks = [f"{cfg.public_base_url}/marketplace/webhook/{company_id}"]
        error, terminal = "not attempted", False
        for attempt in range(max(1, cfg.activation_attempts)):
            if not await svc.store.still_activating(company_id, seq):
                return _Outcome(False, "claim lost", lost=True)  # never activate an app just uninstalled
            try:
                await svc.partner.activate(salon_id, cfg.application_id, api_key, webhooks)
                return _Outcome(True)
            except PartnerTransientError as exc:
                error = str(exc)
                log.warning("activation_retry", company_id=company_id, attempt=attempt + 1, error=error)
                if attempt + 1 < cfg.activation_attempts:
                    delay = min(cfg.activation_backoff_cap_s, cfg.activation_backoff_s * 2**attempt)
                    await svc.clock.sleep(delay * random.uniform(0.5, 1.0))
            except PartnerRejectedError as exc:
                error, terminal = str(exc), True
                break  # e.g. "already installed": confirmed below with the status route
            except PartnerAuthError as exc:
                return _Outcome(False, str(exc), terminal=True)
        if await self._already_active(salon_id):
            log.info("activation_already_ours", company_id=company_id)
            return _Outcome(True)
        return _Outcome(False, error, terminal=terminal)

    def _retry_at(self, failures: int) -> datetime:
        """When the sweep retries after `failures` failed runs: capped doubling, jittered to 50-100 %."""
        cfg = self._svc.config
        delay_s = min(cfg.activation_retry_cap_s, cfg.activation_retry_base_s * 2 ** min(failures - 1, 30))
        return self._svc.clock.now() + timedelta(seconds=delay_s * random.uniform(0.5, 1.0))

    async def _already_active(self, salon_id: int) -> bool:
        try:
            return await self._svc.partner.application_status(salon_id, self._svc.config.application_id) == "active"
        except PartnerError:
            return False

    async def _after_activation(self, company_id: int) -> None:
        if self._initial_sync is not None:
            try:
                await self._initial_sync(company_id)
            except Exception as exc:  # noqa: BLE001 - sync has its own retries; activation stands
                log.warning("initial_sync_failed", company_id=company_id, error=repr(exc))
        company = await self._svc.store.get(company_id)
        if self._outbox is not None and company is not None and company.whatsapp_phone:
            chat = phone_to_jid(company.whatsapp_phone)
            try:
                await self._outbox.enqueue(
                    company_id, chat, self._svc.config.welcome_text,
                    idempotency_key=f"marketplace-welcome:{company_id}", kind="notification",
                )
            except Exception as exc:  # noqa: BLE001
                log.warning("welcome_enqueue_failed", company_id=company_id, error=repr(exc))
