"""YClients data webhooks (reference section 5): `POST /marketplace/webhook/{companyId}`.

Delivery is once, unordered, possibly partial and unsigned. So: validate, store the event once
(dedupe hash), answer 200 at once, and process in the background by RE-FETCHING the record from
the API: the payload is only a hint. Cancellations (`status: delete`, `deleted: true`,
`attendance: -1`) end up as deleted records because the API shows them so (or 404s).

Events of a salon that is not active (frozen, uninstalled, never activated) are answered 200 and
recorded as ignored, without their data (reference 5, step 2). Events for one record in a claimed
batch share one refresh (the rate budget is shared by every salon). Processing claims events with
a lease, so instances sweeping at once never refresh the same event twice; a sweep deletes events
older than the retention.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

import structlog
from aiohttp import web

from sync.client import YClientsClient
from sync.clock import Clock
from sync.config import SyncConfig
from sync.errors import NotFound, YClientsError
from sync.jsonbody import BadJson, error_json, parse_json_body
from sync.models import as_int
from sync.service import Spawner
from sync.store import CompanyRef, SyncStore, WebhookEvent

log = structlog.get_logger(__name__)

STATUSES = ("create", "update", "delete")
HEADER_FIELDS = ("company_id", "resource", "resource_id", "status")  # all an ignored event keeps


class JobScheduler(Protocol):
    """The scheduler's registration API (gateway.scheduler.Scheduler)."""

    def every(self, name: str, interval_s: float, fn: Callable[[], Awaitable[object]]) -> None: ...


def dedupe_key(company_id: int, resource: str, resource_id: Any, status: str, data: Any) -> str:
    """sha256 of (company_id, resource, resource_id, status, data.last_change_date); without a
    last_change_date the whole `data` stands in for it."""
    changed = data.get("last_change_date") if isinstance(data, dict) else None
    marker = changed if changed else json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    raw = json.dumps([company_id, resource, str(resource_id), status, marker], ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


MAX_COMPANY_ID = 2**31 - 1  # companies.id is an int4
MAX_RESOURCE_ID = 2**63 - 1  # sync_webhook_events.resource_id is a bigint


def _bad(message: str, code: str = "bad_request") -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=error_json(code, message), content_type="application/json")


def is_cancellation(status: str, data: Any) -> bool:
    """Whether an event says the record was cancelled (any of the three forms)."""
    if status == "delete":
        return True
    if isinstance(data, dict):
        if data.get("deleted") in (True, 1, "1", "true"):
            return True
        if as_int(data.get("attendance")) == -1 or as_int(data.get("visit_attendance")) == -1:
            return True
    return False


class WebhookIngest:
    """Accepts, stores and processes data webhooks."""

    def __init__(
        self,
        store: SyncStore,
        client: YClientsClient,
        clock: Clock,
        spawner: Spawner | None = None,
        config: SyncConfig | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.clock = clock
        self.config = config or SyncConfig()
        self._spawner = spawner
        self.owner = f"wh-{secrets.token_hex(6)}"  # this instance's name on its claims
        self._running: set[int] = set()  # companies with a processing task in flight
        self._dirty: set[int] = set()  # ... that got new events since it started

    async def handle(self, request: web.Request) -> web.Response:
        """The HTTP handler: 200 fast (`ignored: true` for a salon not active); 400 malformed;
        404 unknown company (JSON error shape)."""
        raw_id = request.match_info["companyId"]
        company_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 10 else 0
        known = await self.store.webhook_company(company_id) if 0 < company_id <= MAX_COMPANY_ID else None
        if known is None:
            raise web.HTTPNotFound(text=error_json("not_found", "Unknown company"), content_type="application/json")
        ref, live = known
        raw = await request.read()
        if not raw:
            raise _bad("Body is not valid JSON", "invalid_json")
        try:
            payload = parse_json_body(raw)
        except BadJson as exc:
            raise _bad(str(exc), "invalid_json") from None
        if not isinstance(payload, dict):
            raise _bad("Body must be a JSON object")
        salon = as_int(payload.get("company_id"))
        resource, status = payload.get("resource"), payload.get("status")
        resource_id = as_int(payload.get("resource_id"))
        data = payload.get("data") if payload.get("data") is not None else {}
        if resource_id is not None and not 0 <= resource_id <= MAX_RESOURCE_ID:
            raise _bad("resource_id is out of range")
        if salon is None or not isinstance(resource, str) or not resource or status not in STATUSES:
            raise _bad("Need company_id, resource and status (create, update or delete)")
        if not isinstance(data, dict) or (resource == "record" and resource_id is None):
            raise _bad("data must be an object; a record event needs resource_id")
        if salon != ref.salon_id:
            raise _bad("company_id does not match this company's salon", "company_mismatch")
        key = dedupe_key(salon, resource, resource_id, status, data)
        if not live:  # not installed/active here: answered, recorded, never acted on (no client data kept)
            header = {k: payload[k] for k in HEADER_FIELDS if k in payload}
            event_id = await self.store.add_webhook_event(
                company_id, key, resource, resource_id, status, header, self.clock.now(), ignored=True
            )
            log.info("webhook_ignored", company_id=company_id, resource=resource, resource_id=resource_id,
                     status=status, why="company not active")
            return web.json_response({"success": True, "duplicate": event_id is None, "ignored": True})
        event_id = await self.store.add_webhook_event(
            company_id, key, resource, resource_id, status, payload, self.clock.now()
        )
        log.info("webhook_received", company_id=company_id, resource=resource, resource_id=resource_id,
                 status=status, duplicate=event_id is None)
        if event_id is not None:
            self._kick(company_id)
        return web.json_response({"success": True, "duplicate": event_id is None, "ignored": False})

    def _kick(self, company_id: int) -> None:
        """Process the company's events in the background: one task per company at a time
        (a burst of events is drained by the task already running)."""
        if self._spawner is None:
            return
        if company_id in self._running:
            self._dirty.add(company_id)
            return
        self._running.add(company_id)
        self._spawner.spawn(f"sync-webhooks-{company_id}", self._drain(company_id))

    async def _drain(self, company_id: int) -> None:
        try:
            while True:
                self._dirty.discard(company_id)
                try:
                    await self.process_pending(company_id)
                except Exception as exc:
                    log.error("webhook_processing_failed", company_id=company_id, error=repr(exc), exc_info=exc)
                    return
                if company_id not in self._dirty:
                    return
        finally:
            self._running.discard(company_id)

    async def process_pending(self, company_id: int | None = None) -> int:
        """Process stored, unprocessed events (one company or all); returns how many finished.
        Events for the same record in a claimed batch share one refresh. Events whose refresh
        failed stay pending for the next sweep (up to WEBHOOK_MAX_ATTEMPTS attempts)."""
        done = 0
        last_id = 0  # each event at most once per call
        while True:
            events = await self.store.claim_webhook_events(
                self.owner, self.clock.now(), self.config.webhook_lease_s, company_id, after_id=last_id
            )
            if not events:
                return done
            last_id = events[-1].id
            groups: dict[tuple[int, str, int | None], list[WebhookEvent]] = {}
            for event in events:
                groups.setdefault((event.company_id, event.resource, event.resource_id), []).append(event)
            live: dict[int, tuple[CompanyRef, bool] | None] = {}
            for (cid, _, _), group in groups.items():
                if cid not in live:
                    live[cid] = await self.store.webhook_company(cid)
                ids = [e.id for e in group]
                try:
                    outcome = await self._process(group, live[cid])
                except YClientsError as exc:
                    log.warning("webhook_refresh_failed", company_id=cid, event_ids=ids,
                                error=f"{type(exc).__name__}: {exc}")
                    await self.store.finish_webhook_events(ids, self.owner, self.clock.now(),
                                                           error=str(exc) or repr(exc))
                else:
                    await self.store.finish_webhook_events(ids, self.owner, self.clock.now(), outcome=outcome)
                    done += len(ids)

    async def _process(self, group: list[WebhookEvent], company: tuple[CompanyRef, bool] | None) -> str:
        """One refresh for every event of `group` (one company, resource and id); the outcome."""
        event = group[-1]
        if company is None or not company[1]:
            return "ignored"  # the salon stopped being active after the event came in
        if event.resource != "record" or event.resource_id is None:
            return "skipped"  # stored for the record; only records feed the local copy
        ref = company[0]
        try:
            record = await self.client.record(ref.salon_id, event.resource_id)
        except NotFound:
            changed = await self.store.mark_record_deleted(event.company_id, event.resource_id)
            log.info("webhook_record_gone", company_id=event.company_id, record_id=event.resource_id,
                     changed=changed, events=len(group))
            return "deleted"
        changed = await self.store.save_record(event.company_id, record)
        hinted = any(is_cancellation(e.status, e.payload.get("data")) for e in group)
        log.info("webhook_record_refreshed", company_id=event.company_id, record_id=record.id,
                 cancelled=record.cancelled, hinted_cancel=hinted, changed=changed, events=len(group))
        return "refreshed"

    async def prune(self) -> int:
        """Delete events received longer ago than the retention; returns how many went."""
        before = self.clock.now() - timedelta(days=self.config.webhook_retention_days)
        deleted = await self.store.prune_webhook_events(before)
        if deleted:
            log.info("webhook_events_pruned", deleted=deleted, before=before.isoformat())
        return deleted

    def register_jobs(self, scheduler: JobScheduler) -> None:
        """The sweep of events left unprocessed (lost tasks, failed refreshes, other instances'
        lapsed claims) and the retention sweep."""
        scheduler.every("sync-webhook-sweep", self.config.webhook_sweep_interval_s, self.process_pending)
        scheduler.every("sync-webhook-prune", self.config.webhook_prune_interval_s, self.prune)
