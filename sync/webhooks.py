"""YClients data webhooks (reference section 5): `POST /marketplace/webhook/{companyId}`.

Delivery is once, unordered, possibly partial and unsigned. So: validate, store the event once
(dedupe hash), answer 200 at once, and process in the background by RE-FETCHING the record from
the API: the payload is only a hint. Cancellations (`status: delete`, `deleted: true`,
`attendance: -1`) end up as deleted records because the API shows them so (or 404s).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import structlog
from aiohttp import web

from sync.client import YClientsClient
from sync.clock import Clock
from sync.errors import NotFound, YClientsError
from sync.jsonbody import BadJson, error_json, parse_json_body
from sync.models import as_int
from sync.service import Spawner
from sync.store import SyncStore, WebhookEvent

log = structlog.get_logger(__name__)

STATUSES = ("create", "update", "delete")


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

    def __init__(self, store: SyncStore, client: YClientsClient, clock: Clock, spawner: Spawner | None = None) -> None:
        self.store = store
        self.client = client
        self.clock = clock
        self._spawner = spawner
        self._running: set[int] = set()  # companies with a processing task in flight
        self._dirty: set[int] = set()  # ... that got new events since it started

    async def handle(self, request: web.Request) -> web.Response:
        """The HTTP handler: 200 fast; 400 malformed; 404 unknown company (JSON error shape)."""
        raw_id = request.match_info["companyId"]
        company_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 10 else 0
        ref = await self.store.company_ref(company_id) if 0 < company_id <= MAX_COMPANY_ID else None
        if ref is None:
            raise web.HTTPNotFound(text=error_json("not_found", "Unknown company"), content_type="application/json")
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
        event_id = await self.store.add_webhook_event(company_id, key, resource, resource_id, status, payload)
        log.info("webhook_received", company_id=company_id, resource=resource, resource_id=resource_id,
                 status=status, duplicate=event_id is None)
        if event_id is not None:
            self._kick(company_id)
        return web.json_response({"success": True, "duplicate": event_id is None})

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
        Events whose refresh failed stay pending for the next sweep (up to 5 attempts)."""
        done = 0
        last_id = 0  # each event at most once per call
        while True:
            events = await self.store.claim_webhook_events(company_id, after_id=last_id)
            if not events:
                return done
            last_id = events[-1].id
            for event in events:
                try:
                    await self._process(event)
                except YClientsError as exc:
                    log.warning("webhook_refresh_failed", company_id=event.company_id, event_id=event.id,
                                error=f"{type(exc).__name__}: {exc}")
                    await self.store.finish_webhook_event(event.id, self.clock.now(), error=str(exc) or repr(exc))
                else:
                    await self.store.finish_webhook_event(event.id, self.clock.now())
                    done += 1

    async def _process(self, event: WebhookEvent) -> None:
        if event.resource != "record" or event.resource_id is None:
            return  # stored for the record; only records feed the local copy
        ref = await self.store.company_ref(event.company_id)
        if ref is None:
            return
        try:
            record = await self.client.record(ref.salon_id, event.resource_id)
        except NotFound:
            changed = await self.store.mark_record_deleted(event.company_id, event.resource_id)
            log.info("webhook_record_gone", company_id=event.company_id, record_id=event.resource_id, changed=changed)
            return
        changed = await self.store.save_record(event.company_id, record)
        log.info("webhook_record_refreshed", company_id=event.company_id, record_id=record.id,
                 cancelled=record.cancelled, hinted_cancel=is_cancellation(event.status, event.payload.get("data")),
                 changed=changed)
