"""Data webhooks: validated, stored once, answered fast, and the record refreshed from the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import FakeClock
from sync.models import Appointment
from sync.sandbox import Sandbox
from sync.store import SyncStore
from sync.webhooks import WebhookIngest, dedupe_key
from tests.sync.conftest import DEMO_SALON, MakeClient, add_company


@pytest.fixture
async def ingest(make_yclients: MakeClient, pool: Any, clock: FakeClock) -> WebhookIngest:
    return WebhookIngest(SyncStore(pool), make_yclients(), clock)  # no spawner: tests process explicitly


@pytest.fixture
async def hook(ingest: WebhookIngest) -> AsyncIterator[TestClient]:
    app = web.Application()
    app.router.add_post(r"/marketplace/webhook/{companyId:\d+}", ingest.handle)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def event(rid: int, status: str = "update", salon: int = DEMO_SALON, **data: Any) -> dict[str, Any]:
    return {"company_id": salon, "resource": "record", "resource_id": rid, "status": status, "data": {"id": rid, **data}}


async def _events(pool: Any) -> list[Any]:
    return await pool.fetch("SELECT * FROM sync_webhook_events ORDER BY id")


async def test_rejects_unknown_company_malformed_json_and_wrong_salon(hook: TestClient, pool: Any) -> None:
    cid = await add_company(pool, DEMO_SALON)
    resp = await hook.post("/marketplace/webhook/9999", json=event(1))
    assert resp.status == 404
    assert (await resp.json()) == {"success": False, "error": {"code": "not_found", "message": "Unknown company"}}
    resp = await hook.post(f"/marketplace/webhook/{cid}", data="{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"
    resp = await hook.post(f"/marketplace/webhook/{cid}", json=event(1, salon=4564))
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "company_mismatch"
    for bad in ([1, 2], {"company_id": DEMO_SALON, "resource": "record", "status": "moved"},
                {"company_id": DEMO_SALON, "resource": "record", "status": "update", "data": "x", "resource_id": 1}):
        resp = await hook.post(f"/marketplace/webhook/{cid}", json=bad)
        assert resp.status == 400 and (await resp.json())["success"] is False
    assert await _events(pool) == []  # nothing stored from bad input


async def test_event_stored_once_and_record_refreshed(hook: TestClient, ingest: WebhookIngest, pool: Any,
                                                      sandbox: Sandbox) -> None:
    cid = await add_company(pool, DEMO_SALON)
    payload = event(4001, "create", last_change_date="2026-11-20T10:00:00+03:00")
    first = await hook.post(f"/marketplace/webhook/{cid}", json=payload)
    again = await hook.post(f"/marketplace/webhook/{cid}", json=payload)
    assert first.status == again.status == 200
    assert (await first.json())["duplicate"] is False and (await again.json())["duplicate"] is True
    assert len(await _events(pool)) == 1
    assert await ingest.process_pending() == 1
    rec = await ingest.store.record(cid, 4001)
    assert rec and rec.client_phone == "79161234567" and rec.service_ids == (1001,) and not rec.deleted
    assert (await _events(pool))[0]["processed_at"] is not None
    assert await ingest.process_pending() == 0


async def test_partial_out_of_order_update_uses_the_api_state(hook: TestClient, ingest: WebhookIngest, pool: Any,
                                                              sandbox: Sandbox, make_yclients: MakeClient) -> None:
    cid = await add_company(pool, DEMO_SALON)
    yc = make_yclients()
    slot = (await yc.book_times(DEMO_SALON, 2005, __import__("datetime").date(2026, 11, 24), [1021]))[0]
    booked = (await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                                   appointments=[Appointment((1021,), 2005, slot.datetime)]))[0]
    sandbox.salons[DEMO_SALON].records[booked.record_id].comment = "test"
    # the update (partial: only the changed field) arrives before the create
    await hook.post(f"/marketplace/webhook/{cid}", json=event(booked.record_id, "update", comment="test"))
    await hook.post(f"/marketplace/webhook/{cid}", json=event(booked.record_id, "create"))
    assert await ingest.process_pending(cid) == 2
    rec = await ingest.store.record(cid, booked.record_id)
    assert rec and rec.comment == "test" and rec.staff_id == 2005 and rec.client_phone == "79160001122"
    assert rec.starts_at == slot.starts_at


@pytest.mark.parametrize("form", ["delete", "deleted_true", "attendance_minus_one"])
async def test_cancellations_in_all_three_forms(form: str, hook: TestClient, ingest: WebhookIngest, pool: Any,
                                                sandbox: Sandbox) -> None:
    cid = await add_company(pool, DEMO_SALON)
    await hook.post(f"/marketplace/webhook/{cid}", json=event(4002, "create"))
    await ingest.process_pending()
    assert not (await ingest.store.record(cid, 4002)).deleted  # type: ignore[union-attr]
    record = sandbox.salons[DEMO_SALON].records[4002]
    if form == "delete":
        record.deleted = True
        payload = event(4002, "delete")
    elif form == "deleted_true":
        record.deleted = True
        payload = event(4002, "update", deleted=True)
    else:
        record.attendance = -1
        payload = event(4002, "update", attendance=-1)
    resp = await hook.post(f"/marketplace/webhook/{cid}", json=payload)
    assert resp.status == 200
    await ingest.process_pending()
    rec = await ingest.store.record(cid, 4002)
    assert rec is not None and rec.deleted
    assert await ingest.store.records_by_phone(cid, "79031112233") == []


async def test_forged_cancellation_does_not_cancel_a_live_record(hook: TestClient, ingest: WebhookIngest,
                                                                 pool: Any) -> None:
    cid = await add_company(pool, DEMO_SALON)
    await hook.post(f"/marketplace/webhook/{cid}", json=event(4001, "delete"))
    await ingest.process_pending()
    rec = await ingest.store.record(cid, 4001)
    assert rec is not None and not rec.deleted  # the API says it is alive: payloads are only hints


async def test_failed_refresh_stays_pending_for_the_sweep(hook: TestClient, ingest: WebhookIngest, pool: Any,
                                                          sandbox: Sandbox) -> None:
    cid = await add_company(pool, DEMO_SALON)
    sandbox.add_fault(r"/record/", "status", status=500)
    await hook.post(f"/marketplace/webhook/{cid}", json=event(4003, "update"))
    assert await ingest.process_pending() == 0
    row = (await _events(pool))[0]
    assert row["processed_at"] is None and row["last_error"]
    sandbox.clear_faults()
    assert await ingest.process_pending() == 1
    assert await ingest.store.record(cid, 4003) is not None


def test_dedupe_key_follows_the_reference_fields() -> None:
    a = dedupe_key(1, "record", 5, "update", {"last_change_date": "x", "comment": "a"})
    assert a == dedupe_key(1, "record", 5, "update", {"last_change_date": "x", "comment": "b"})
    assert a != dedupe_key(1, "record", 5, "update", {"last_change_date": "y"})
    assert a != dedupe_key(1, "record", 5, "delete", {"last_change_date": "x"})
    assert dedupe_key(1, "record", 5, "update", {"comment": "a"}) != dedupe_key(1, "record", 5, "update", {"comment": "b"})


async def test_sandbox_mutations_emit_webhooks_that_sync_the_record(
    hook: TestClient, ingest: WebhookIngest, pool: Any, sandbox: Sandbox, make_yclients: MakeClient
) -> None:
    import datetime as dt

    cid = await add_company(pool, DEMO_SALON)
    yc = make_yclients()
    await yc.activate(DEMO_SALON, api_key="k", webhook_urls=[str(hook.make_url(f"/marketplace/webhook/{cid}"))])
    sandbox.webhooks.duplicate = True  # YClients may deliver twice: stored once
    sandbox.webhooks.partial = True  # and updates carry only the changed fields
    day = dt.date(2026, 11, 24)
    slots = await yc.book_times(DEMO_SALON, 2005, day, [1021])
    booked = (await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                                   appointments=[Appointment((1021,), 2005, slots[0].datetime)]))[0]
    await yc.reschedule(DEMO_SALON, booked.record_id, slots[-1].datetime)
    assert [(b["status"], s) for _, b, s in sandbox.webhooks.sent] == [("create", 200)] * 2 + [("update", 200)] * 2
    assert set(sandbox.webhooks.sent[2][1]["data"]) <= {"id", "datetime", "date", "comment", "last_change_date"}
    assert len(await _events(pool)) == 2
    await ingest.process_pending()
    rec = await ingest.store.record(cid, booked.record_id)
    assert rec and rec.starts_at == slots[-1].starts_at and not rec.deleted

    # held and delivered newest first: the delete arrives before the update it follows
    sandbox.webhooks.hold = True
    await yc.reschedule(DEMO_SALON, booked.record_id, slots[2].datetime)
    await yc.cancel(booked.record_id, booked.record_hash)
    sandbox.webhooks.hold = False
    assert await sandbox.webhooks.flush(reverse=True) == 2
    await ingest.process_pending()
    rec = await ingest.store.record(cid, booked.record_id)
    assert rec and rec.deleted


async def test_dropped_webhooks_are_caught_by_the_records_sync(
    hook: TestClient, pool: Any, sandbox: Sandbox, make_yclients: MakeClient, make_service
) -> None:
    import datetime as dt

    cid = await add_company(pool, DEMO_SALON)
    yc = make_yclients()
    await yc.activate(DEMO_SALON, api_key="k", webhook_urls=[str(hook.make_url(f"/marketplace/webhook/{cid}"))])
    sandbox.webhooks.drop = True
    slot = (await yc.book_times(DEMO_SALON, 2005, dt.date(2026, 11, 24), [1021]))[0]
    booked = (await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                                   appointments=[Appointment((1021,), 2005, slot.datetime)]))[0]
    assert await _events(pool) == [] and sandbox.webhooks.sent == []
    service = make_service()
    await service.run_once(cid, "records")
    assert (await service.store.record(cid, booked.record_id)) is not None


async def test_a_burst_of_events_is_drained_by_one_background_task(
    make_yclients: MakeClient, pool: Any, clock: FakeClock
) -> None:
    class HeldSpawner:
        def __init__(self) -> None:
            self.spawned: list[tuple[str, Any]] = []

        def spawn(self, name: str, coro: Any) -> Any:
            self.spawned.append((name, coro))
            return None

    spawner = HeldSpawner()
    ingest = WebhookIngest(SyncStore(pool), make_yclients(), clock, spawner)  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_post(r"/marketplace/webhook/{companyId:\d+}", ingest.handle)
    cid = await add_company(pool, DEMO_SALON)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for rid in (4001, 4002, 4003):
            assert (await client.post(f"/marketplace/webhook/{cid}", json=event(rid, "update"))).status == 200
        assert [name for name, _ in spawner.spawned] == [f"sync-webhooks-{cid}"]
        await spawner.spawned[0][1]  # the task runs: drains all three
        assert [r["processed_at"] is not None for r in await _events(pool)] == [True, True, True]
        await client.post(f"/marketplace/webhook/{cid}", json=event(4004, "update"))
        assert len(spawner.spawned) == 2  # idle again: the next event starts a new task
        await spawner.spawned[1][1]


async def test_a_company_id_beyond_int4_is_unknown_not_a_500(hook: TestClient, pool: Any) -> None:
    await add_company(pool, DEMO_SALON)
    for cid in ("99999999999999", "2147483648", "0"):
        resp = await hook.post(f"/marketplace/webhook/{cid}", json=event(1))
        assert resp.status == 404, cid
        assert (await resp.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize("raw", [
    b'{"company_id": %d, "resource": "record", "resource_id": 1, "status": "update", "data": {"x": Infinity}}',
    b'{"company_id": %d, "resource": "record", "resource_id": 1, "status": "update", "data": {"x": "\\ud800"}}',
    b'{"company_id": %d, "resource": "record", "resource_id": 1, "status": "update", "data": {"x": "a\\u0000"}}',
    b'',
])
async def test_json_postgres_cannot_store_is_a_400_and_stores_nothing(hook: TestClient, pool: Any, raw: bytes) -> None:
    cid = await add_company(pool, DEMO_SALON)
    body = raw % DEMO_SALON if raw else raw
    resp = await hook.post(f"/marketplace/webhook/{cid}", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_json"
    assert await _events(pool) == []


async def test_a_non_finite_company_id_in_the_event_is_a_400(hook: TestClient, pool: Any) -> None:
    cid = await add_company(pool, DEMO_SALON)
    for salon in ("1e999", "inf"):
        body = {**event(1), "company_id": salon}
        resp = await hook.post(f"/marketplace/webhook/{cid}", json=body)
        assert resp.status == 400, salon
    assert await _events(pool) == []


async def test_ids_beyond_the_columns_range_are_a_400(hook: TestClient, pool: Any) -> None:
    cid = await add_company(pool, DEMO_SALON)
    for body in ({**event(1), "resource_id": 10**30}, {**event(1), "company_id": 10**30}):
        resp = await hook.post(f"/marketplace/webhook/{cid}", json=body)
        assert resp.status == 400, body
    assert await _events(pool) == []


@pytest.mark.parametrize("state", ["frozen", "uninstalled", "pending"])
async def test_events_of_a_salon_not_active_are_answered_and_recorded_as_ignored(
    state: str, hook: TestClient, ingest: WebhookIngest, pool: Any, sandbox: Sandbox
) -> None:
    cid = await add_company(pool, DEMO_SALON, status=state)
    resp = await hook.post(f"/marketplace/webhook/{cid}", json=event(4001, "update", comment="секрет"))
    assert resp.status == 200 and await resp.json() == {"success": True, "duplicate": False, "ignored": True}
    again = await hook.post(f"/marketplace/webhook/{cid}", json=event(4001, "update", comment="секрет"))
    assert (await again.json())["duplicate"] is True
    (row,) = await _events(pool)
    assert row["outcome"] == "ignored" and row["processed_at"] is not None
    assert "data" not in row["payload"]  # no client data kept for a salon that is not ours now
    assert await ingest.process_pending() == 0
    assert sandbox.requests_to(r"/record/") == [] and await ingest.store.record(cid, 4001) is None


async def test_an_event_of_a_salon_frozen_before_processing_is_ignored(
    hook: TestClient, ingest: WebhookIngest, pool: Any, sandbox: Sandbox
) -> None:
    cid = await add_company(pool, DEMO_SALON)
    assert (await (await hook.post(f"/marketplace/webhook/{cid}", json=event(4001))).json())["ignored"] is False
    await pool.execute("UPDATE companies SET integration_status = 'frozen' WHERE id = $1", cid)
    assert await ingest.process_pending() == 1
    assert [r["outcome"] for r in await _events(pool)] == ["ignored"]
    assert sandbox.requests_to(r"/record/") == []


async def test_events_for_one_record_share_one_refresh(hook: TestClient, ingest: WebhookIngest, pool: Any,
                                                       sandbox: Sandbox) -> None:
    cid = await add_company(pool, DEMO_SALON)
    for payload in (event(4001, "create"), event(4001, comment="a"), event(4002), event(4001, comment="b")):
        assert (await (await hook.post(f"/marketplace/webhook/{cid}", json=payload)).json())["duplicate"] is False
    assert await ingest.process_pending() == 4
    assert sorted(r.path for r in sandbox.requests_to(r"/record/")) == [
        f"/api/v1/record/{DEMO_SALON}/4001", f"/api/v1/record/{DEMO_SALON}/4002"]
    rows = await _events(pool)
    assert [(r["resource_id"], r["outcome"], r["processed_at"] is not None) for r in rows] == [
        (4001, "refreshed", True), (4001, "refreshed", True), (4002, "refreshed", True), (4001, "refreshed", True)]
    assert (await ingest.store.record(cid, 4001)) is not None and (await ingest.store.record(cid, 4002)) is not None


async def test_a_claimed_event_is_not_processed_by_another_instance_until_the_claim_lapses(
    hook: TestClient, ingest: WebhookIngest, pool: Any, sandbox: Sandbox, make_yclients: MakeClient,
    clock: FakeClock
) -> None:
    cid = await add_company(pool, DEMO_SALON)
    other = WebhookIngest(SyncStore(pool), make_yclients(), clock)  # a second instance
    for rid in (4001, 4002, 4003):
        await hook.post(f"/marketplace/webhook/{cid}", json=event(rid))
    lease_s = ingest.config.webhook_lease_s
    claimed = await ingest.store.claim_webhook_events(ingest.owner, clock.now(), lease_s)  # ...and crashes
    assert [e.resource_id for e in claimed] == [4001, 4002, 4003]
    assert await other.process_pending() == 0 and sandbox.requests_to(r"/record/") == []
    assert await other.store.claim_webhook_events(other.owner, clock.now(), lease_s) == []
    await clock.advance(lease_s + 1)  # the claim lapses: the events come back
    assert await other.process_pending() == 3
    assert len(sandbox.requests_to(r"/record/")) == 3
    rows = await _events(pool)
    assert {(r["attempts"], r["claimed_by"], r["outcome"]) for r in rows} == {(2, other.owner, "refreshed")}
    assert await ingest.process_pending() == 0  # done is done


async def test_two_instances_sweeping_at_once_refresh_each_record_once(
    hook: TestClient, ingest: WebhookIngest, pool: Any, sandbox: Sandbox, make_yclients: MakeClient,
    clock: FakeClock
) -> None:
    import asyncio

    cid = await add_company(pool, DEMO_SALON)
    other = WebhookIngest(SyncStore(pool), make_yclients(), clock)
    for rid in (4001, 4002, 4003, 4004):
        await hook.post(f"/marketplace/webhook/{cid}", json=event(rid))
    done = await asyncio.gather(ingest.process_pending(), other.process_pending())
    assert sum(done) == 4
    assert sorted(r.path for r in sandbox.requests_to(r"/record/")) == [
        f"/api/v1/record/{DEMO_SALON}/{rid}" for rid in (4001, 4002, 4003, 4004)]


async def test_old_events_are_pruned_after_the_retention(hook: TestClient, ingest: WebhookIngest, pool: Any,
                                                         clock: FakeClock) -> None:
    cid = await add_company(pool, DEMO_SALON)
    await hook.post(f"/marketplace/webhook/{cid}", json=event(4001))
    await ingest.process_pending()
    await hook.post(f"/marketplace/webhook/{cid}", json=event(4002))  # never processed: pruned all the same
    await clock.advance(10 * 86400)
    await hook.post(f"/marketplace/webhook/{cid}", json=event(4003))
    assert await ingest.prune() == 0  # nothing older than 14 days yet
    await clock.advance(5 * 86400)
    assert ingest.config.webhook_retention_days == 14
    assert await ingest.prune() == 2
    assert [r["resource_id"] for r in await _events(pool)] == [4003]
    # Pruned, a repeat of an old event is new again (its dedupe key went with it).
    assert (await (await hook.post(f"/marketplace/webhook/{cid}", json=event(4001))).json())["duplicate"] is False


def test_the_ingest_registers_its_sweep_and_its_retention_sweep(ingest: WebhookIngest) -> None:
    jobs: dict[str, tuple[float, Any]] = {}

    class Scheduler:
        def every(self, name: str, interval_s: float, fn: Any) -> None:
            jobs[name] = (interval_s, fn)

    ingest.register_jobs(Scheduler())
    assert jobs == {"sync-webhook-sweep": (60.0, ingest.process_pending), "sync-webhook-prune": (3600.0, ingest.prune)}
