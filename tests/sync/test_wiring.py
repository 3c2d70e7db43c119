"""The sync package wired into the real app (demo mode: the sandbox mounted in-process)."""

from __future__ import annotations

from gateway.appkeys import POOL, SCHEDULER
from sync.appkeys import SYNC_SERVICE, SYNC_STORE, SYNC_WEBHOOKS, YCLIENTS, YCLIENTS_SANDBOX
from tests.conftest import app_of
from tests.sync.conftest import DEMO_SALON


async def test_demo_app_serves_the_sandbox_and_syncs_through_it(make_client) -> None:
    client = await make_client(demo=True, yclients_rate_per_s=1000.0, sync_webhook_retention_days=3)
    app = app_of(client)
    headers = {"Accept": "application/vnd.yclients.v2+json", "Authorization": "Bearer dev-partner-token"}
    resp = await client.get(f"/sandbox/yclients/api/v1/book_services/{DEMO_SALON}", headers=headers)
    assert resp.status == 200 and len((await resp.json())["data"]["services"]) == 14
    resp = await client.get(f"/sandbox/yclients/api/v1/book_services/{DEMO_SALON}")
    assert resp.status == 401
    yc = app[YCLIENTS]
    assert yc.transport.url("/x") == f"http://127.0.0.1:{client.port}/sandbox/yclients/api/v1/x"
    assert (await yc.company(DEMO_SALON)).title == "Салон красоты «Лаванда»"

    pool = app[POOL]
    cid = await pool.fetchval("SELECT id FROM companies WHERE salon_id = $1", DEMO_SALON)
    if cid is None:
        cid = await pool.fetchval(
            "INSERT INTO companies (salon_id, integration_status) VALUES ($1, 'active') RETURNING id", DEMO_SALON
        )
    report = await app[SYNC_SERVICE].sync_company_now(cid, wait=True)
    assert report is not None and report.ok, report.to_json() if report else None
    assert len(await app[SYNC_STORE].services(cid)) == 14
    assert (await app[SYNC_SERVICE].status(cid))["counts"]["records"] == 4
    assert {"sync-records", "sync-catalog", "sync-schedules", "sync-schedules-near", "sync-webhook-sweep",
            "sync-webhook-prune"} <= set(app[SCHEDULER].jobs)
    assert app[SYNC_WEBHOOKS].config.webhook_retention_days == 3  # SYNC_WEBHOOK_RETENTION_DAYS
    assert app[YCLIENTS_SANDBOX].requests_to(r"/records/")  # it really went over HTTP

    resp = await client.post("/marketplace/webhook/987654", json={"company_id": 1})
    assert resp.status == 404 and (await resp.json())["success"] is False
    resp = await client.post(
        f"/marketplace/webhook/{cid}",
        json={"company_id": DEMO_SALON, "resource": "record", "resource_id": 4001, "status": "update", "data": {}},
    )
    assert resp.status == 200 and (await resp.json())["success"] is True
    active = await pool.fetchval("SELECT integration_status = 'active' FROM companies WHERE id = $1", cid)
    assert (await resp.json())["ignored"] is (not active)  # the demo salon is only pending until connected


async def test_sandbox_install_helper_in_demo_points_at_our_install_route(make_client) -> None:
    client = await make_client(demo=True)
    resp = await client.get("/sandbox/yclients/sandbox/install", params={"salon_id": DEMO_SALON})
    url = (await resp.json())["data"]["url"]
    assert url.startswith(f"http://127.0.0.1:{client.port}/marketplace/yclients/install?salon_id={DEMO_SALON}&")
