"""The one repository module of `sync`: raw SQL over the sync_* tables (migration 0020).

Writers are idempotent upserts that touch a row only when something changed (and say how many
rows changed); readers return the frozen dataclasses of `sync.rows` (re-exported here) for the
booking handler and the status API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from sync.models import Company, Record, ScheduleDay, Service, ServiceCategory, Staff, phone_digits
from sync.rows import CompanyInfo, CompanyRef, SyncedRecord, SyncedService, SyncedStaff, WebhookEvent

WEBHOOK_MAX_ATTEMPTS = 5  # refresh attempts of one webhook event before it is left alone


def _f(value: Decimal | float | None) -> float | None:
    return float(value) if value is not None else None


__all__ = ["CompanyInfo", "CompanyRef", "SyncStore", "SyncedRecord", "SyncedService", "SyncedStaff", "WebhookEvent"]


class SyncStore:
    """Postgres access for `sync` (company ids are our `companies.id`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # --- companies ---------------------------------------------------------------------------
    async def active_companies(self) -> list[CompanyRef]:
        """Companies whose integration is active and sync enabled."""
        rows = await self._pool.fetch(
            "SELECT id, salon_id FROM companies WHERE integration_status = 'active' AND sync_enabled ORDER BY id"
        )
        return [CompanyRef(r["id"], r["salon_id"]) for r in rows]

    async def company_ref(self, company_id: int) -> CompanyRef | None:
        """Any company by our id (active or not), or None."""
        row = await self._pool.fetchrow("SELECT id, salon_id FROM companies WHERE id = $1", company_id)
        return CompanyRef(row["id"], row["salon_id"]) if row else None

    # --- writers -----------------------------------------------------------------------------
    async def save_company(self, ref: CompanyRef, company: Company, schedule_text: str) -> int:
        """Upsert the salon profile; 1 if it changed."""
        row = await self._pool.fetchval(
            """
            INSERT INTO sync_company_info AS t (company_id, salon_id, title, address, phone, timezone,
                                                schedule_text, raw)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            ON CONFLICT (company_id) DO UPDATE SET
                salon_id = EXCLUDED.salon_id, title = EXCLUDED.title, address = EXCLUDED.address,
                phone = EXCLUDED.phone, timezone = EXCLUDED.timezone, schedule_text = EXCLUDED.schedule_text,
                raw = EXCLUDED.raw, updated_at = NOW()
            WHERE (t.salon_id, t.title, t.address, t.phone, t.timezone, t.schedule_text, t.raw)
                IS DISTINCT FROM (EXCLUDED.salon_id, EXCLUDED.title, EXCLUDED.address, EXCLUDED.phone,
                                  EXCLUDED.timezone, EXCLUDED.schedule_text, EXCLUDED.raw)
            RETURNING 1
            """,
            ref.company_id, ref.salon_id, company.title, company.address, company.phone,
            company.timezone_name, schedule_text, company.raw,
        )
        return 1 if row else 0

    async def save_services(
        self, company_id: int, services: Sequence[Service], categories: Sequence[ServiceCategory]
    ) -> int:
        """Replace the catalogue: upsert categories, services and who performs them; services
        gone from YClients are marked deleted. Returns the number of rows changed."""
        changed = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for c in categories:
                changed += bool(await conn.fetchval(
                    """
                    INSERT INTO sync_service_categories AS t (company_id, category_id, title, weight)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (company_id, category_id) DO UPDATE SET title = EXCLUDED.title,
                        weight = EXCLUDED.weight, deleted = FALSE, updated_at = NOW()
                    WHERE (t.title, t.weight, t.deleted) IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.weight, FALSE)
                    RETURNING 1
                    """,
                    company_id, c.id, c.title, c.weight,
                ))
            for s in services:
                durations = [d for _, d in s.staff if d]
                changed += bool(await conn.fetchval(
                    """
                    INSERT INTO sync_services AS t (company_id, service_id, title, category_id, price_min,
                        price_max, duration_s, active, weight, comment)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                    ON CONFLICT (company_id, service_id) DO UPDATE SET title = EXCLUDED.title,
                        category_id = EXCLUDED.category_id, price_min = EXCLUDED.price_min,
                        price_max = EXCLUDED.price_max, duration_s = EXCLUDED.duration_s,
                        active = EXCLUDED.active, weight = EXCLUDED.weight, comment = EXCLUDED.comment,
                        deleted = FALSE, updated_at = NOW()
                    WHERE (t.title, t.category_id, t.price_min, t.price_max, t.duration_s, t.active, t.weight,
                           t.comment, t.deleted)
                        IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.category_id, EXCLUDED.price_min,
                           EXCLUDED.price_max, EXCLUDED.duration_s, EXCLUDED.active, EXCLUDED.weight,
                           EXCLUDED.comment, FALSE)
                    RETURNING 1
                    """,
                    company_id, s.id, s.title, s.category_id, s.price_min, s.price_max,
                    min(durations) if durations else None, s.active, s.weight, s.comment,
                ))
            ids = [s.id for s in services]
            changed += len(await conn.fetch(
                "UPDATE sync_services SET deleted = TRUE, updated_at = NOW() "
                "WHERE company_id = $1 AND NOT deleted AND NOT (service_id = ANY($2::bigint[])) RETURNING 1",
                company_id, ids,
            ))
            pairs = {(sid, s.id): d for s in services for sid, d in s.staff}
            existing = {
                (r["staff_id"], r["service_id"]): r["duration_s"]
                for r in await conn.fetch(
                    "SELECT staff_id, service_id, duration_s FROM sync_staff_services WHERE company_id = $1",
                    company_id,
                )
            }
            if existing != pairs:
                await conn.execute("DELETE FROM sync_staff_services WHERE company_id = $1", company_id)
                await conn.executemany(
                    "INSERT INTO sync_staff_services (company_id, staff_id, service_id, duration_s) "
                    "VALUES ($1, $2, $3, $4)",
                    [(company_id, st, sv, d) for (st, sv), d in pairs.items()],
                )
                changed += len(set(pairs.items()) ^ set(existing.items()))
        return changed

    async def save_staff(self, company_id: int, staff: Sequence[Staff]) -> int:
        """Upsert staff; staff gone from YClients are marked deleted. Rows changed."""
        changed = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for m in staff:
                changed += bool(await conn.fetchval(
                    """
                    INSERT INTO sync_staff AS t (company_id, staff_id, name, specialization, position, avatar,
                        fired, hidden)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT (company_id, staff_id) DO UPDATE SET name = EXCLUDED.name,
                        specialization = EXCLUDED.specialization, position = EXCLUDED.position,
                        avatar = EXCLUDED.avatar, fired = EXCLUDED.fired, hidden = EXCLUDED.hidden,
                        deleted = FALSE, updated_at = NOW()
                    WHERE (t.name, t.specialization, t.position, t.avatar, t.fired, t.hidden, t.deleted)
                        IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.specialization, EXCLUDED.position,
                                          EXCLUDED.avatar, EXCLUDED.fired, EXCLUDED.hidden, FALSE)
                    RETURNING 1
                    """,
                    company_id, m.id, m.name, m.specialization, m.position, m.avatar, m.fired, m.hidden,
                ))
            changed += len(await conn.fetch(
                "UPDATE sync_staff SET deleted = TRUE, updated_at = NOW() "
                "WHERE company_id = $1 AND NOT deleted AND NOT (staff_id = ANY($2::bigint[])) RETURNING 1",
                company_id, [m.id for m in staff],
            ))
        return changed

    async def save_schedules(self, company_id: int, days: Iterable[ScheduleDay], start: date, end: date) -> int:
        """Upsert working days in [start, end]; days in that range not returned are dropped."""
        changed = 0
        seen: list[tuple[int, date]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            for d in days:
                seen.append((d.staff_id, d.date))
                slots = [list(s) for s in d.slots]
                changed += bool(await conn.fetchval(
                    """
                    INSERT INTO sync_schedules AS t (company_id, staff_id, day, is_working, slots)
                    VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (company_id, staff_id, day) DO UPDATE SET is_working = EXCLUDED.is_working,
                        slots = EXCLUDED.slots, updated_at = NOW()
                    WHERE (t.is_working, t.slots) IS DISTINCT FROM (EXCLUDED.is_working, EXCLUDED.slots)
                    RETURNING 1
                    """,
                    company_id, d.staff_id, d.date, d.is_working, slots,
                ))
            changed += len(await conn.fetch(
                """
                DELETE FROM sync_schedules s WHERE s.company_id = $1 AND s.day BETWEEN $2 AND $3
                  AND NOT EXISTS (SELECT 1 FROM unnest($4::bigint[], $5::date[]) AS k(staff_id, day)
                                  WHERE k.staff_id = s.staff_id AND k.day = s.day)
                RETURNING 1
                """,
                company_id, start, end, [s for s, _ in seen], [d for _, d in seen],
            ))
        return changed

    async def save_record(self, company_id: int, r: Record, conn: asyncpg.Connection | None = None) -> int:
        """Upsert one record (cancelled ones are stored as deleted); 1 if it changed. A copy older
        than the stored one (by YClients' `last_change_date`) never overwrites it: a listing read
        before a webhook refresh must not undo it."""
        client = r.client
        services = [{"id": s.id, "title": s.title, "cost": s.cost} for s in r.services]
        args = (
            company_id, r.id, r.staff_id, r.staff_name, client.id if client else None,
            client.name if client else "", client.phone if client else "", r.starts_at, r.date_local,
            r.length_s, list(r.service_ids), services, r.comment, r.attendance, r.cancelled, r.api_id,
            r.visit_id, r.last_change_date,
        )
        sql = """
            INSERT INTO sync_records AS t (company_id, record_id, staff_id, staff_name, client_id, client_name,
                client_phone, starts_at, date_local, length_s, service_ids, services, comment, attendance,
                deleted, api_id, visit_id, last_change_date)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
            ON CONFLICT (company_id, record_id) DO UPDATE SET staff_id = EXCLUDED.staff_id,
                staff_name = EXCLUDED.staff_name, client_id = EXCLUDED.client_id,
                client_name = EXCLUDED.client_name, client_phone = EXCLUDED.client_phone,
                starts_at = EXCLUDED.starts_at, date_local = EXCLUDED.date_local, length_s = EXCLUDED.length_s,
                service_ids = EXCLUDED.service_ids, services = EXCLUDED.services, comment = EXCLUDED.comment,
                attendance = EXCLUDED.attendance, deleted = EXCLUDED.deleted, api_id = EXCLUDED.api_id,
                visit_id = EXCLUDED.visit_id, last_change_date = EXCLUDED.last_change_date, updated_at = NOW()
            WHERE (t.last_change_date IS NULL OR EXCLUDED.last_change_date IS NULL
                   OR EXCLUDED.last_change_date >= t.last_change_date)
              AND (t.staff_id, t.staff_name, t.client_id, t.client_name, t.client_phone, t.starts_at,
                   t.date_local, t.length_s, t.service_ids, t.services, t.comment, t.attendance, t.deleted,
                   t.api_id, t.visit_id, t.last_change_date)
                IS DISTINCT FROM (EXCLUDED.staff_id, EXCLUDED.staff_name, EXCLUDED.client_id,
                   EXCLUDED.client_name, EXCLUDED.client_phone, EXCLUDED.starts_at, EXCLUDED.date_local,
                   EXCLUDED.length_s, EXCLUDED.service_ids, EXCLUDED.services, EXCLUDED.comment,
                   EXCLUDED.attendance, EXCLUDED.deleted, EXCLUDED.api_id, EXCLUDED.visit_id,
                   EXCLUDED.last_change_date)
            RETURNING 1
        """
        if conn is not None:
            return 1 if await conn.fetchval(sql, *args) else 0
        return 1 if await self._pool.fetchval(sql, *args) else 0

    async def save_records(self, company_id: int, records: Sequence[Record]) -> int:
        """Upsert many records in one transaction; rows changed."""
        changed = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for r in records:
                changed += await self.save_record(company_id, r, conn)
        return changed

    async def live_record_ids(self, company_id: int, start: datetime, end: datetime) -> set[int]:
        """Ids of stored, not deleted records starting in [start, end)."""
        rows = await self._pool.fetch(
            "SELECT record_id FROM sync_records WHERE company_id = $1 AND NOT deleted "
            "AND starts_at >= $2 AND starts_at < $3",
            company_id, start, end,
        )
        return {r["record_id"] for r in rows}

    async def mark_record_deleted(self, company_id: int, record_id: int) -> int:
        """Mark one record deleted (cancelled in YClients); 1 if it changed."""
        rows = await self._pool.fetch(
            "UPDATE sync_records SET deleted = TRUE, updated_at = NOW() "
            "WHERE company_id = $1 AND record_id = $2 AND NOT deleted RETURNING 1",
            company_id, record_id,
        )
        return len(rows)

    async def set_status(
        self, company_id: int, kind: str, at: datetime, *, items: int = 0, changed: int = 0, error: str | None = None
    ) -> None:
        """Record the outcome of one sync of one kind: an error keeps the last success; a success
        clears the current error (`last_error_at` stays as history)."""
        if error is None:
            await self._pool.execute(
                """
                INSERT INTO sync_status (company_id, kind, last_success_at, item_count, changed_count)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (company_id, kind) DO UPDATE SET last_success_at = EXCLUDED.last_success_at,
                    item_count = EXCLUDED.item_count, changed_count = EXCLUDED.changed_count, last_error = NULL
                """,
                company_id, kind, at, items, changed,
            )
        else:
            await self._pool.execute(
                """
                INSERT INTO sync_status (company_id, kind, last_error_at, last_error) VALUES ($1, $2, $3, $4)
                ON CONFLICT (company_id, kind) DO UPDATE SET last_error_at = EXCLUDED.last_error_at,
                    last_error = EXCLUDED.last_error
                """,
                company_id, kind, at, error[:500],
            )

    async def ever_synced(self, company_id: int) -> bool:
        """Whether the company's catalogue (services) was ever synced successfully."""
        return bool(await self._pool.fetchval(
            "SELECT 1 FROM sync_status WHERE company_id = $1 AND kind = 'services' AND last_success_at IS NOT NULL",
            company_id,
        ))

    async def status_rows(self, company_id: int) -> list[dict[str, Any]]:
        """The raw status rows of one company."""
        rows = await self._pool.fetch("SELECT * FROM sync_status WHERE company_id = $1 ORDER BY kind", company_id)
        return [dict(r) for r in rows]

    async def counts(self, company_id: int) -> dict[str, int]:
        """How many live rows of each kind are stored for the company."""
        row = await self._pool.fetchrow(
            """
            SELECT (SELECT count(*) FROM sync_services WHERE company_id = $1 AND NOT deleted) AS services,
                   (SELECT count(*) FROM sync_staff WHERE company_id = $1 AND NOT deleted) AS staff,
                   (SELECT count(*) FROM sync_schedules WHERE company_id = $1) AS schedules,
                   (SELECT count(*) FROM sync_records WHERE company_id = $1 AND NOT deleted) AS records
            """,
            company_id,
        )
        return {k: int(v) for k, v in dict(row).items()}

    # --- webhook events ------------------------------------------------------------------------
    async def webhook_company(self, company_id: int) -> tuple[CompanyRef, bool] | None:
        """A company and whether its data webhooks are processed now: integration active (or its
        activation in flight: YClients starts sending on our callback) and sync enabled."""
        row = await self._pool.fetchrow(
            "SELECT id, salon_id, integration_status IN ('active', 'activating') AND sync_enabled AS live "
            "FROM companies WHERE id = $1",
            company_id,
        )
        return (CompanyRef(row["id"], row["salon_id"]), bool(row["live"])) if row else None

    async def add_webhook_event(
        self, company_id: int, dedupe_key: str, resource: str, resource_id: int | None, status: str,
        payload: dict[str, Any], received_at: datetime, *, ignored: bool = False,
    ) -> int | None:
        """Store an event once; None when it was a duplicate. An `ignored` event is stored as
        already processed (outcome 'ignored')."""
        return await self._pool.fetchval(
            """
            INSERT INTO sync_webhook_events (company_id, dedupe_key, resource, resource_id, status, payload,
                                             received_at, processed_at, outcome)
            VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, CASE WHEN $8::boolean THEN $7::timestamptz END,
                    CASE WHEN $8::boolean THEN 'ignored' END)
            ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
            """,
            company_id, dedupe_key, resource, resource_id, status, payload, received_at, ignored,
        )

    async def claim_webhook_events(
        self, owner: str, now: datetime, lease_s: float, company_id: int | None = None, *,
        after_id: int = 0, limit: int = 50, max_attempts: int = WEBHOOK_MAX_ATTEMPTS,
    ) -> list[WebhookEvent]:
        """Claim unprocessed events with id > `after_id` (oldest first) for `owner` until
        `now + lease_s`, counting one more attempt. Events another instance holds a live claim on
        are not returned (SKIP LOCKED covers the instant of claiming, the lease the processing)."""
        rows = await self._pool.fetch(
            """
            UPDATE sync_webhook_events SET attempts = attempts + 1, claimed_by = $4,
                claimed_until = $5::timestamptz + make_interval(secs => $6)
            WHERE id IN (
                SELECT id FROM sync_webhook_events
                WHERE processed_at IS NULL AND attempts < $7 AND ($1::int IS NULL OR company_id = $1)
                  AND id > $3 AND (claimed_until IS NULL OR claimed_until <= $5)
                ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
            RETURNING id, company_id, resource, resource_id, status, payload
            """,
            company_id, limit, after_id, owner, now, float(lease_s), max_attempts,
        )
        return sorted(
            (WebhookEvent(r["id"], r["company_id"], r["resource"], r["resource_id"], r["status"],
                          r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"]))
             for r in rows),
            key=lambda e: e.id,
        )

    async def finish_webhook_events(
        self, event_ids: Sequence[int], owner: str, at: datetime, *, outcome: str = "", error: str | None = None
    ) -> None:
        """Mark events processed with their outcome; or, with an error, keep them pending for a
        later sweep and give up our claim (only while it is still ours)."""
        if error is None:
            await self._pool.execute(
                "UPDATE sync_webhook_events SET processed_at = $2, outcome = $3, last_error = NULL, "
                "claimed_until = NULL WHERE id = ANY($1::bigint[])",
                list(event_ids), at, outcome,
            )
        else:
            await self._pool.execute(
                "UPDATE sync_webhook_events SET last_error = $2, "
                "claimed_until = CASE WHEN claimed_by = $3 THEN NULL ELSE claimed_until END "
                "WHERE id = ANY($1::bigint[])",
                list(event_ids), error[:500], owner,
            )

    async def prune_webhook_events(self, before: datetime, *, batch: int = 5000) -> int:
        """Delete events received before `before` (processed or not: an event is only a hint, and
        the records sync catches what one said); in batches. Returns how many rows went."""
        deleted = 0
        while True:
            status = await self._pool.execute(
                """
                DELETE FROM sync_webhook_events WHERE id IN (
                    SELECT id FROM sync_webhook_events WHERE received_at < $1 ORDER BY id LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                """,
                before, batch,
            )
            n = int(status.split()[-1])  # "DELETE <n>"
            deleted += n
            if n < batch:
                return deleted

    # --- readers for the booking handler ----------------------------------------------------------
    async def company_info(self, company_id: int) -> CompanyInfo | None:
        """The salon's title, address, phone, timezone and opening hours text, once synced."""
        r = await self._pool.fetchrow("SELECT * FROM sync_company_info WHERE company_id = $1", company_id)
        if r is None:
            return None
        return CompanyInfo(r["company_id"], r["salon_id"], r["title"], r["address"], r["phone"], r["timezone"],
                           r["schedule_text"])

    async def services(self, company_id: int, *, include_inactive: bool = False) -> list[SyncedService]:
        """Services (not deleted; active only unless asked) with prices, durations, categories
        and the ids of the staff who perform them, ordered by category then title."""
        rows = await self._pool.fetch(
            """
            SELECT s.*, c.title AS category_title,
                   COALESCE(array_agg(ss.staff_id ORDER BY ss.staff_id)
                            FILTER (WHERE ss.staff_id IS NOT NULL AND NOT st.deleted AND NOT st.fired
                                    AND NOT st.hidden), '{}') AS staff_ids
            FROM sync_services s
            LEFT JOIN sync_service_categories c ON c.company_id = s.company_id AND c.category_id = s.category_id
            LEFT JOIN sync_staff_services ss ON ss.company_id = s.company_id AND ss.service_id = s.service_id
            LEFT JOIN sync_staff st ON st.company_id = ss.company_id AND st.staff_id = ss.staff_id
            WHERE s.company_id = $1 AND NOT s.deleted AND (s.active OR $2)
            GROUP BY s.company_id, s.service_id, c.title
            ORDER BY s.category_id NULLS LAST, s.title
            """,
            company_id, include_inactive,
        )
        return [
            SyncedService(r["service_id"], r["title"], r["category_id"], r["category_title"], _f(r["price_min"]),
                          _f(r["price_max"]), r["duration_s"], tuple(r["staff_ids"]), r["active"])
            for r in rows
        ]

    async def staff(self, company_id: int) -> list[SyncedStaff]:
        """Working staff (not fired, hidden or deleted) with the ids of their services."""
        rows = await self._pool.fetch(
            """
            SELECT st.*, COALESCE(array_agg(ss.service_id ORDER BY ss.service_id)
                                  FILTER (WHERE ss.service_id IS NOT NULL), '{}') AS service_ids
            FROM sync_staff st
            LEFT JOIN sync_staff_services ss ON ss.company_id = st.company_id AND ss.staff_id = st.staff_id
            WHERE st.company_id = $1 AND NOT st.deleted AND NOT st.fired AND NOT st.hidden
            GROUP BY st.company_id, st.staff_id ORDER BY st.name
            """,
            company_id,
        )
        return [SyncedStaff(r["staff_id"], r["name"], r["specialization"], r["position"], tuple(r["service_ids"]))
                for r in rows]

    async def schedules(self, company_id: int, start: date, end: date) -> list[ScheduleDay]:
        """Working days of every specialist in [start, end]."""
        rows = await self._pool.fetch(
            "SELECT * FROM sync_schedules WHERE company_id = $1 AND day BETWEEN $2 AND $3 ORDER BY staff_id, day",
            company_id, start, end,
        )
        return [ScheduleDay(r["staff_id"], r["day"], r["is_working"], tuple(tuple(s) for s in r["slots"]))
                for r in rows]

    async def records_by_phone(
        self, company_id: int, phone: str, *, since: datetime | None = None, include_deleted: bool = False
    ) -> list[SyncedRecord]:
        """The client's records (phone in any form, matched as E.164 digits), soonest first."""
        rows = await self._pool.fetch(
            """
            SELECT * FROM sync_records WHERE company_id = $1 AND client_phone = $2
              AND ($3::timestamptz IS NULL OR starts_at >= $3) AND (NOT deleted OR $4)
            ORDER BY starts_at, record_id
            """,
            company_id, phone_digits(phone), since, include_deleted,
        )
        return [_record(r) for r in rows]

    async def record(self, company_id: int, record_id: int) -> SyncedRecord | None:
        """One stored record (deleted ones included), or None."""
        r = await self._pool.fetchrow(
            "SELECT * FROM sync_records WHERE company_id = $1 AND record_id = $2", company_id, record_id
        )
        return _record(r) if r else None

    async def records_between(self, company_id: int, start: datetime, end: datetime) -> list[SyncedRecord]:
        """Live records starting in [start, end) (reminders, reviews)."""
        rows = await self._pool.fetch(
            "SELECT * FROM sync_records WHERE company_id = $1 AND NOT deleted AND starts_at >= $2 "
            "AND starts_at < $3 ORDER BY starts_at, record_id",
            company_id, start, end,
        )
        return [_record(r) for r in rows]


def _record(r: asyncpg.Record) -> SyncedRecord:
    return SyncedRecord(
        record_id=r["record_id"], staff_id=r["staff_id"], staff_name=r["staff_name"], client_id=r["client_id"],
        client_name=r["client_name"], client_phone=r["client_phone"], starts_at=r["starts_at"],
        date_local=r["date_local"], length_s=r["length_s"], service_ids=tuple(r["service_ids"]),
        comment=r["comment"], attendance=r["attendance"], deleted=r["deleted"], api_id=r["api_id"],
        visit_id=r["visit_id"],
    )
