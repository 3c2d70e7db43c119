"""The sync of each salon's data: company, services, staff, schedules and records.

`run_once(company_id, what)` is the one entry point (jobs, the CLI, tests and activation all use
it). Each kind is synced and reported on its own: a failing endpoint marks that kind's status
with the error and keeps what was synced before; a failing salon never stops the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from sync.client import YClientsClient
from sync.clock import Clock
from sync.config import SyncConfig
from sync.errors import NotFound, YClientsError
from sync.store import CompanyRef, SyncStore

log = structlog.get_logger(__name__)

ORDER = ("company", "services", "staff", "schedules", "records")
SCHEDULE_CHUNK = 10  # staff per schedule request
MISSING_LOOKUPS = 20  # records gone from the listing looked up one by one per run (rate budget)


class Spawner(Protocol):
    """Starts named background tasks (gateway.tasks.TaskSupervisor)."""

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...


class JobScheduler(Protocol):
    """The scheduler's registration API (gateway.scheduler.Scheduler)."""

    def every(self, name: str, interval_s: float, fn: Callable[[], Awaitable[object]]) -> None: ...

    def cron(self, name: str, expr: str, fn: Callable[[], Awaitable[object]]) -> None: ...


@dataclass
class KindResult:
    """The outcome of syncing one kind of data for one company."""

    items: int = 0
    changed: int = 0
    error: str | None = None


@dataclass
class SyncReport:
    """What one `run_once` did, per kind."""

    company_id: int
    kinds: dict[str, KindResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(k.error is None for k in self.kinds.values())

    @property
    def changed(self) -> int:
        return sum(k.changed for k in self.kinds.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "company_id": self.company_id,
            "ok": self.ok,
            "kinds": {n: {"items": k.items, "changed": k.changed, "error": k.error} for n, k in self.kinds.items()},
        }


def expand(what: str | Sequence[str]) -> list[str]:
    """"all" or a kind or a list of kinds -> kinds in sync order; ValueError for unknown ones."""
    kinds = list(ORDER) if what == "all" else [what] if isinstance(what, str) else list(what)
    unknown = [k for k in kinds if k not in ORDER]
    if unknown:
        raise ValueError(f"unknown sync kind(s): {', '.join(unknown)}")
    return [k for k in ORDER if k in kinds]


class SyncService:
    """Copies YClients data of active companies into Postgres."""

    def __init__(
        self,
        client: YClientsClient,
        store: SyncStore,
        clock: Clock,
        config: SyncConfig | None = None,
        spawner: Spawner | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.config = config or SyncConfig()
        self._spawner = spawner

    # --- entry points -----------------------------------------------------------------------
    async def run_once(
        self, company_id: int, what: str | Sequence[str] = "all", *, near_only: bool = False
    ) -> SyncReport:
        """Sync the given kinds of one company now. `near_only` limits schedules to today and
        tomorrow (the hourly job). Raises LookupError for an unknown company."""
        kinds = expand(what)
        ref = await self.store.company_ref(company_id)
        if ref is None:
            raise LookupError(f"unknown company {company_id}")
        report = SyncReport(company_id)
        bound = log.bind(company_id=company_id, salon_id=ref.salon_id)
        for kind in kinds:
            result = KindResult()
            try:
                result.items, result.changed = await self._sync_kind(ref, kind, near_only)
            except (YClientsError, ValueError, LookupError) as exc:
                result.error = f"{type(exc).__name__}: {exc}"
                bound.warning("sync_kind_failed", kind=kind, error=result.error)
                await self.store.set_status(company_id, kind, self.clock.now(), error=result.error)
            else:
                await self.store.set_status(
                    company_id, kind, self.clock.now(), items=result.items, changed=result.changed
                )
            report.kinds[kind] = result
        bound.info("sync_done", ok=report.ok, changed=report.changed, kinds=",".join(kinds))
        return report

    async def run_all(
        self, what: str | Sequence[str] = "all", *, near_only: bool = False, catch_up: bool = False
    ) -> list[SyncReport]:
        """Sync every active company (bounded concurrency); one salon's failure stops no other.
        `catch_up`: a company never synced successfully gets a full sync instead (e.g. active
        before this daemon was deployed, or its first sync failed)."""
        companies = await self.store.active_companies()
        gate = asyncio.Semaphore(max(1, self.config.company_concurrency))

        async def one(ref: CompanyRef) -> SyncReport | None:
            async with gate:
                try:
                    kinds: str | Sequence[str] = what
                    if catch_up and not await self.store.ever_synced(ref.company_id):
                        kinds = "all"
                    return await self.run_once(ref.company_id, kinds, near_only=near_only)
                except Exception as exc:
                    log.error("sync_company_failed", company_id=ref.company_id, error=repr(exc), exc_info=exc)
                    return None

        results = await asyncio.gather(*(one(ref) for ref in companies))
        return [r for r in results if r is not None]

    async def sync_company_now(self, company_id: int, *, wait: bool = False) -> SyncReport | None:
        """Start a full sync of a company that just became active. In the background (returns
        None) when a spawner was given and `wait` is False; otherwise runs it and returns the report."""
        if self._spawner is not None and not wait:
            self._spawner.spawn(f"sync-company-{company_id}", self._safe_run(company_id))
            return None
        return await self.run_once(company_id)

    async def initial_sync(self, company_id: int) -> None:
        """The marketplace's hook after activation: a full sync in the background."""
        await self.sync_company_now(company_id)

    async def _safe_run(self, company_id: int) -> None:
        try:
            await self.run_once(company_id)
        except Exception as exc:
            log.error("sync_company_now_failed", company_id=company_id, error=repr(exc), exc_info=exc)

    async def status(self, company_id: int) -> dict[str, Any]:
        """JSON-serialisable sync status of one company: per kind last success / last error /
        counts, the stored totals, and `ok` (every kind synced, none failing since)."""
        rows = await self.store.status_rows(company_id)
        kinds: dict[str, Any] = {}
        healthy = bool(rows)
        last_success: datetime | None = None
        for r in rows:
            ok_at, err_at = r["last_success_at"], r["last_error_at"]
            failing = r["last_error"] is not None  # cleared by the next success
            healthy = healthy and not failing
            if ok_at and (last_success is None or ok_at > last_success):
                last_success = ok_at
            kinds[r["kind"]] = {
                "last_success_at": ok_at.isoformat() if ok_at else None,
                "last_error_at": err_at.isoformat() if err_at else None,
                "last_error": r["last_error"] if failing else None,
                "items": r["item_count"],
                "changed": r["changed_count"],
            }
        return {
            "ok": healthy,
            "last_success_at": last_success.isoformat() if last_success else None,
            "kinds": kinds,
            "counts": await self.store.counts(company_id),
        }

    def register_jobs(self, scheduler: JobScheduler) -> None:
        """Periodic jobs: catalogue daily, schedules nightly + near days hourly, records every 15 min
        (which also fully syncs any active company never synced before)."""
        c = self.config
        scheduler.cron("sync-catalog", c.catalog_cron, lambda: self.run_all(["company", "services", "staff"]))
        scheduler.cron("sync-schedules", c.schedules_cron, lambda: self.run_all(["schedules"]))
        scheduler.every(
            "sync-schedules-near", c.schedules_near_interval_s, lambda: self.run_all(["schedules"], near_only=True)
        )
        scheduler.every(
            "sync-records", c.records_interval_s, lambda: self.run_all(["records"], catch_up=True)
        )

    # --- the kinds ----------------------------------------------------------------------------
    async def _tz(self, ref: CompanyRef) -> ZoneInfo:
        info = await self.store.company_info(ref.company_id)
        try:
            return ZoneInfo(info.timezone if info else "Europe/Moscow")
        except (KeyError, ValueError):
            return ZoneInfo("Europe/Moscow")

    async def _sync_kind(self, ref: CompanyRef, kind: str, near_only: bool) -> tuple[int, int]:
        sid, cid = ref.salon_id, ref.company_id
        if kind == "company":
            company = await self.client.company(sid)
            return 1, await self.store.save_company(ref, company, company.schedule)
        if kind == "services":
            services = await self.client.services(sid)
            categories = (await self.client.book_services(sid)).categories
            return len(services), await self.store.save_services(cid, services, categories)
        if kind == "staff":
            staff = await self.client.staff(sid)
            return len(staff), await self.store.save_staff(cid, staff)
        tz = await self._tz(ref)
        today = self.clock.now().astimezone(tz).date()
        if kind == "schedules":
            end = today + timedelta(days=1 if near_only else self.config.days_ahead - 1)
            staff_ids = [m.staff_id for m in await self.store.staff(cid)]
            chunks = [staff_ids[i : i + SCHEDULE_CHUNK] for i in range(0, len(staff_ids), SCHEDULE_CHUNK)] or [[]]
            days = []
            for chunk in chunks:
                days += await self.client.staff_schedules(sid, today, end, staff_ids=chunk)
            return len(days), await self.store.save_schedules(cid, days, today, end)
        if kind == "records":
            end_day = today + timedelta(days=self.config.days_ahead)
            window = (_midnight(today, tz), _midnight(end_day + timedelta(days=1), tz))
            known = await self.store.live_record_ids(cid, *window)
            # with_deleted: records cancelled in YClients come back flagged `deleted` (evidence),
            # instead of just vanishing like records moved out of the window.
            records = await self.client.records(sid, start_date=today, end_date=end_day, with_deleted=True)
            changed = await self.store.save_records(cid, records)
            missing = sorted(known - {r.id for r in records})
            resolved, deferred = await self._resolve_missing(ref, missing)
            if deferred:
                log.info("sync_records_lookups_deferred", company_id=cid, deferred=deferred, budget=MISSING_LOOKUPS)
            return len(records), changed + resolved
        raise ValueError(f"unknown kind {kind}")

    async def _resolve_missing(self, ref: CompanyRef, record_ids: list[int]) -> tuple[int, int]:
        """Records we had in the window that the listing (deleted ones included) no longer has:
        moved out of the window, or removed without a trace. Look each up: a 404 is the evidence
        of deletion, an answer is saved as it is. Only MISSING_LOOKUPS per run; the rest stay as
        they are and come up again in the next run (they are still live in the window then).
        Returns (rows changed, ids left unchecked)."""
        changed = 0
        for rid in record_ids[:MISSING_LOOKUPS]:
            try:
                record = await self.client.record(ref.salon_id, rid)
            except NotFound:
                changed += await self.store.mark_record_deleted(ref.company_id, rid)
            else:
                changed += await self.store.save_record(ref.company_id, record)
        return changed, max(0, len(record_ids) - MISSING_LOOKUPS)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)
