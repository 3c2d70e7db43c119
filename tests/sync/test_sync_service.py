"""Sync of a salon's data into Postgres, against the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from gateway.clock import FakeClock
from sync.sandbox import Sandbox, generated_salon
from sync.service import SyncService
from sync.store import SyncStore
from tests.sync.conftest import DEMO_SALON, add_company

TODAY = date(2026, 11, 23)


async def _updated_at(pool: Any) -> dict[str, list[Any]]:
    out = {}
    for table in ("sync_company_info", "sync_services", "sync_staff", "sync_schedules", "sync_records"):
        out[table] = [r[0] for r in await pool.fetch(f"SELECT updated_at FROM {table} ORDER BY 1")]
    return out


async def test_full_sync_of_the_demo_salon(make_service, pool) -> None:
    cid = await add_company(pool, DEMO_SALON)
    service: SyncService = make_service()
    report = await service.run_once(cid)
    assert report.ok, report.to_json()
    store: SyncStore = service.store

    info = await store.company_info(cid)
    assert info and info.title == "Салон красоты «Лаванда»" and info.timezone == "Europe/Moscow"
    assert info.schedule_text == "Пн–Сб 10:00–21:00, Вс 11:00–19:00" and info.phone == "+74951234567"

    services = {s.service_id: s for s in await store.services(cid)}
    assert len(services) == 14
    gel = services[1011]
    assert (gel.title, gel.price_min, gel.price_max, gel.duration_s) == ("Маникюр с покрытием гель-лак", 2200, 2200, 5400)
    assert gel.category_title == "Ногтевой сервис" and gel.staff_ids == (2003, 2004)

    staff = {m.staff_id: m for m in await store.staff(cid)}
    assert len(staff) == 7 and staff[2007].service_ids == (1002, 1003)
    assert staff[2005].specialization == "Бровист, лэшмейкер"

    days = await store.schedules(cid, TODAY, TODAY + timedelta(days=29))
    assert len(days) == 7 * 30
    monday_anna = next(d for d in days if d.staff_id == 2001 and d.date == TODAY)
    assert monday_anna.is_working and monday_anna.slots == (("10:00", "20:00"),)

    elena = await store.records_by_phone(cid, "+7 (916) 123-45-67")
    assert [(r.record_id, r.service_ids, r.staff_id) for r in elena] == [(4001, (1001,), 2001), (4004, (1011,), 2003)]
    assert elena[0].starts_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 12:00 MSK
    assert elena[0].client_name == "Елена Орлова"

    status = await service.status(cid)
    json.dumps(status)  # JSON-serialisable for the marketplace status endpoint
    assert status["ok"] is True
    assert status["counts"] == {"services": 14, "staff": 7, "schedules": 210, "records": 4}
    assert set(status["kinds"]) == {"company", "services", "staff", "schedules", "records"}
    assert status["kinds"]["records"]["items"] == 4 and status["kinds"]["records"]["last_error"] is None


async def test_second_run_changes_nothing(make_service, pool) -> None:
    cid = await add_company(pool, DEMO_SALON)
    service: SyncService = make_service()
    first = await service.run_once(cid)
    assert first.changed > 200
    before = await _updated_at(pool)
    second = await service.run_once(cid)
    assert second.ok and second.changed == 0
    assert await _updated_at(pool) == before


async def test_changed_and_deleted_records_show_up(make_service, pool, sandbox: Sandbox, clock: FakeClock) -> None:
    cid = await add_company(pool, DEMO_SALON)
    service: SyncService = make_service()
    await service.run_once(cid)
    salon = sandbox.salons[DEMO_SALON]
    salon.records[4001].start += timedelta(hours=2)  # moved by the salon
    salon.records[4001].comment = "перенесли"
    salon.records[4001].changed_at = clock.now()
    salon.records[4002].deleted = True  # cancelled in YClients
    del salon.records[4003]  # gone without a trace
    report = await service.run_once(cid, "records")
    assert report.ok and report.kinds["records"].changed == 3
    moved = await service.store.record(cid, 4001)
    assert moved and moved.comment == "перенесли" and moved.starts_at == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert (await service.store.record(cid, 4002)).deleted  # type: ignore[union-attr]
    assert (await service.store.record(cid, 4003)).deleted  # type: ignore[union-attr]
    assert [r.record_id for r in await service.store.records_by_phone(cid, "79031112233")] == []
    assert (await service.status(cid))["counts"]["records"] == 2


async def test_5xx_is_retried_then_reported_keeping_synced_data(make_service, pool, sandbox: Sandbox, sleeps) -> None:
    cid = await add_company(pool, DEMO_SALON)
    service: SyncService = make_service(max_attempts=3)
    await service.run_once(cid)
    fault = sandbox.add_fault(rf"/company/{DEMO_SALON}/staff$", "status", status=503)
    sandbox.salons[DEMO_SALON].staff[2007].name = "Игорь Новый"  # would change, if it got through
    report = await service.run_once(cid)
    assert fault.hits == 3 and len(sleeps.delays) == 2  # retried twice, then gave up
    assert report.kinds["staff"].error and "ServerError" in report.kinds["staff"].error
    assert all(report.kinds[k].error is None for k in ("company", "services", "schedules", "records"))
    status = await service.status(cid)
    assert status["ok"] is False and "ServerError" in status["kinds"]["staff"]["last_error"]
    assert status["kinds"]["staff"]["last_success_at"] is not None
    assert status["counts"]["staff"] == 7  # nothing lost
    assert {m.name for m in await service.store.staff(cid)} >= {"Игорь Морозов"}
    sandbox.clear_faults()
    assert (await service.run_once(cid, "staff")).ok
    status = await service.status(cid)
    assert status["ok"] is True and status["kinds"]["staff"]["last_error"] is None
    assert "Игорь Новый" in {m.name for m in await service.store.staff(cid)}


async def test_one_failing_salon_does_not_stop_the_others(make_service, pool, sandbox: Sandbox) -> None:
    sandbox.add_salon(generated_salon(777, services=12, staff=3))
    good = await add_company(pool, DEMO_SALON)
    missing = await add_company(pool, 31337)  # not in YClients: 404 everywhere
    other = await add_company(pool, 777)
    await add_company(pool, 4242, status="pending")  # not active: not synced
    service: SyncService = make_service()
    reports = {r.company_id: r for r in await service.run_all(["services", "staff"])}
    assert set(reports) == {good, missing, other}
    assert reports[good].ok and reports[other].ok and not reports[missing].ok
    assert len(await service.store.services(other)) == 12
    assert "NotFound" in (await service.status(missing))["kinds"]["services"]["last_error"]


async def test_unknown_kind_and_company(make_service, pool) -> None:
    service: SyncService = make_service()
    with pytest.raises(LookupError):
        await service.run_once(999_999)
    cid = await add_company(pool, DEMO_SALON)
    with pytest.raises(ValueError):
        await service.run_once(cid, "goods")


async def test_services_removed_in_yclients_are_marked_deleted(make_service, pool, sandbox: Sandbox) -> None:
    cid = await add_company(pool, DEMO_SALON)
    service: SyncService = make_service()
    await service.run_once(cid, ["services", "staff"])
    salon = sandbox.salons[DEMO_SALON]
    del salon.services[1032]
    salon.staff[2006].services.remove(1032)
    salon.staff[2006].fired = True
    report = await service.run_once(cid, ["services", "staff"])
    assert report.ok
    assert 1032 not in {s.service_id for s in await service.store.services(cid)}
    assert 2006 not in {m.staff_id for m in await service.store.staff(cid)}
    assert (await service.store.services(cid))[0].service_id  # the rest is intact
    assert len(await service.store.services(cid)) == 13


async def test_jobs_registered_and_ticks_sync_active_companies(make_service, pool, sandbox: Sandbox) -> None:
    class FakeScheduler:
        def __init__(self) -> None:
            self.jobs: dict[str, Any] = {}

        def every(self, name: str, interval_s: float, fn: Any) -> None:
            self.jobs[name] = (interval_s, fn)

        def cron(self, name: str, expr: str, fn: Any) -> None:
            self.jobs[name] = (expr, fn)

    cid = await add_company(pool, DEMO_SALON)
    service: SyncService = make_service()
    scheduler = FakeScheduler()
    service.register_jobs(scheduler)
    assert scheduler.jobs["sync-records"][0] == 900.0 and scheduler.jobs["sync-schedules-near"][0] == 3600.0
    assert isinstance(scheduler.jobs["sync-catalog"][0], str)
    await scheduler.jobs["sync-schedules-near"][1]()
    assert (await service.status(cid))["counts"]["schedules"] == 7 * 2  # today and tomorrow
    await scheduler.jobs["sync-records"][1]()
    status = await service.status(cid)
    assert status["counts"]["records"] == 4
    assert status["counts"]["services"] == 14  # never synced before: the records tick caught it up
    calls = len(sandbox.requests)
    await scheduler.jobs["sync-records"][1]()
    assert {r.path for r in sandbox.requests[calls:]} == {f"/api/v1/records/{DEMO_SALON}"}  # records only now


async def test_a_record_moved_out_of_the_window_is_not_taken_for_deleted(make_service, pool, sandbox: Sandbox,
                                                                        clock: FakeClock) -> None:
    cid = await add_company(pool, DEMO_SALON)
    service: SyncService = make_service()
    await service.run_once(cid, "records")
    record = sandbox.salons[DEMO_SALON].records[4002]
    record.start += timedelta(days=45)  # beyond the 30-day window
    record.changed_at = clock.now()
    report = await service.run_once(cid, "records")
    assert report.ok and report.kinds["records"].items == 3 and report.kinds["records"].changed == 1
    moved = await service.store.record(cid, 4002)
    assert moved is not None and not moved.deleted and moved.starts_at == record.start
    lookups = sandbox.requests_to(r"/record/962302/4002$")
    assert len(lookups) == 1  # one look-up for the one record missing from the listing


async def test_records_beyond_the_lookup_budget_are_never_marked_deleted_without_evidence(
    make_service, pool, sandbox: Sandbox, clock: FakeClock
) -> None:
    from sync.service import MISSING_LOOKUPS

    cid = await add_company(pool, DEMO_SALON)
    service: SyncService = make_service(page_size=100)
    salon = sandbox.salons[DEMO_SALON]
    start = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    added = [salon.add_record(2001, [1001], start + timedelta(days=i % 20, minutes=15 * (i // 20)), clock.now(),
                              phone=f"7916000{i:04d}", name=f"Клиент {i}")
             for i in range(25)]
    assert (await service.run_once(cid, "records")).ok
    assert (await service.status(cid))["counts"]["records"] == 4 + 25
    await clock.advance(60)
    for rec in added:  # all moved more than 30 days ahead: gone from the window's listing
        rec.start += timedelta(days=40)
        rec.changed_at = clock.now()
    salon.records[4002].deleted = True  # cancelled in YClients: the listing says so (with_deleted)
    salon.records[4002].changed_at = clock.now()

    report = await service.run_once(cid, "records")
    assert report.ok, report.to_json()
    assert len(sandbox.requests_to(rf"/record/{DEMO_SALON}/\d+$")) == MISSING_LOOKUPS  # the budget, no more
    rows = {r.record_id: r for r in [await service.store.record(cid, rec.id) for rec in added] if r}
    assert not any(r.deleted for r in rows.values())  # no evidence of deletion: none marked deleted
    moved = [rid for rid, r in rows.items() if r.starts_at == salon.records[rid].start]
    assert len(moved) == MISSING_LOOKUPS  # looked up and saved with their new time
    assert (await service.store.record(cid, 4002)).deleted  # type: ignore[union-attr]

    report = await service.run_once(cid, "records")  # the rest are checked in the next run
    assert report.ok
    assert len(sandbox.requests_to(rf"/record/{DEMO_SALON}/\d+$")) == 25
    for rec in added:
        row = await service.store.record(cid, rec.id)
        assert row is not None and not row.deleted and row.starts_at == rec.start
    assert (await service.run_once(cid, "records")).kinds["records"].changed == 0
    assert len(sandbox.requests_to(rf"/record/{DEMO_SALON}/\d+$")) == 25  # nothing left to look up


async def test_an_older_copy_of_a_record_never_overwrites_a_newer_one(pool) -> None:
    from sync.models import Record

    cid = await add_company(pool, DEMO_SALON)
    store = SyncStore(pool)

    def copy(changed: str | None, comment: str, when: str = "2026-11-25T12:00:00+03:00") -> Record:
        return Record.from_api({"id": 5001, "staff_id": 2001, "datetime": when, "comment": comment,
                                "client": {"id": 1, "name": "Анна", "phone": "+79160001122"},
                                "last_change_date": changed})

    assert await store.save_record(cid, copy("2026-11-23T11:00:00+03:00", "перенесли", "2026-11-26T15:00:00+03:00")) == 1
    # a listing read before that change comes in late: ignored
    assert await store.save_records(cid, [copy("2026-11-23T10:00:00+0300", "старое")]) == 0
    row = await store.record(cid, 5001)
    assert row and row.comment == "перенесли" and row.starts_at == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert await store.save_record(cid, copy("2026-11-23T11:00:00+03:00", "перенесли", "2026-11-26T15:00:00+03:00")) == 0
    assert await store.save_record(cid, copy("2026-11-23T08:30:00Z", "новее")) == 1  # 11:30 MSK: newer
    assert (await store.record(cid, 5001)).comment == "новее"  # type: ignore[union-attr]
    assert await store.save_record(cid, copy(None, "без даты")) == 1  # nothing to compare: taken
