"""Activation after the WhatsApp connect: partner callback with retries, idempotency, follow-ups."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from gateway.clock import FakeClock
from gateway.settings import DEV_USER_TOKEN
from gateway.wiring.demo import load_demo_salon
from marketplace.partner import PartnerAuthError, PartnerRejectedError, PartnerTransientError
from sync.sandbox import Sandbox, build_app
from tests.conftest import PARTNER_TOKEN
from tests.marketplace.support import ADMIN, Mp, drive, eventually


async def status_of(mp: Mp, company_id: int) -> dict:
    return await (await mp.client.get(f"/marketplace/status/{company_id}", headers=ADMIN)).json()


async def test_not_activated_before_whatsapp_connects(mp: Mp) -> None:
    reg = await mp.register(901)
    assert await mp.activator.activate(reg["company_id"]) is False
    assert mp.partner.activations == []
    assert (await status_of(mp, reg["company_id"]))["integration_status"] == "pending"


@pytest.fixture
async def sandbox_url(clock: FakeClock) -> AsyncIterator[str]:
    """A YClients sandbox holding salon 902 (the demo salon's data), on a loopback port."""
    sandbox = Sandbox(clock=clock, partner_token=PARTNER_TOKEN, user_token=DEV_USER_TOKEN)
    data = load_demo_salon()
    data["company"]["id"] = 902
    sandbox.add_salon(data)
    server = TestServer(build_app(sandbox), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_activation_after_connect_sends_callback_sync_and_welcome(mp_factory, sandbox_url: str, pool) -> None:
    mp: Mp = await mp_factory(yclients_base_url=sandbox_url)
    reg = await mp.register(902)
    cid = reg["company_id"]
    await mp.sessions.scan(cid, "+79007776655")
    await mp.activator.wait_idle()
    assert len(mp.partner.activations) == 1
    call = mp.partner.activations[0]
    assert call["salon_id"] == 902 and call["application_id"] == 18000
    assert call["api_key"].startswith("sk_")
    base = str(mp.client.make_url("")).rstrip("/")
    assert call["webhook_urls"] == [f"{base}/marketplace/webhook/{cid}"]
    # The key sent to YClients works as this salon's api key.
    resp = await mp.client.get(f"/marketplace/status/{cid}", headers={"X-API-Key": call["api_key"]})
    body = await resp.json()
    assert resp.status == 200 and body["integration_status"] == "active"
    assert body["whatsapp_connected"] is True and body["whatsapp_phone"] == "+79007776655"
    assert body["activated_at"] and body["connected_at"]
    row = await pool.fetchrow("SELECT whatsapp_connected, whatsapp_phone, integration_status FROM companies "
                              "WHERE id = $1", cid)
    assert dict(row) == {"whatsapp_connected": True, "whatsapp_phone": "+79007776655", "integration_status": "active"}
    assert mp.outbox.sent == [(cid, "79007776655@s.whatsapp.net", mp.service.config.welcome_text,
                               f"marketplace-welcome:{cid}")]
    # Idempotent: a repeated activation is a success without a second callback.
    assert await mp.activator.activate(cid) is True
    assert len(mp.partner.activations) == 1 and len(mp.outbox.sent) == 1

    # The activation started the salon's full sync (in the background): its data appears.
    async def synced() -> dict | None:
        sync = (await status_of(mp, cid))["sync"]
        return sync if sync.get("ok") and len(sync["kinds"]) == 5 else None

    sync = await eventually(synced)
    assert sync["counts"] == {"services": 14, "staff": 7, "schedules": 7 * 30, "records": 4}
    assert await pool.fetchval("SELECT title FROM sync_company_info WHERE company_id = $1", cid) == \
        "Салон красоты «Лаванда»"
    assert await pool.fetchval("SELECT count(*) FROM sync_records WHERE company_id = $1", cid) == 4


async def test_html_and_5xx_answers_are_retried_with_backoff(mp: Mp) -> None:
    reg = await mp.register(903)
    cid = reg["company_id"]
    mp.partner.fail_with = [PartnerTransientError("POST -> 200: non-JSON answer '<!DOCTYPE html>'"),
                            PartnerTransientError("POST -> 502: Bad Gateway")]
    await mp.sessions.scan(cid)
    task = mp.activator.schedule(cid)
    await drive(mp.clock, task)  # backoff sleeps run on the injected clock
    await mp.activator.wait_idle()
    assert len(mp.partner.activations) == 3
    assert (await status_of(mp, cid))["integration_status"] == "active"


async def test_rejected_activation_is_visible_in_status(mp: Mp) -> None:
    reg = await mp.register(904)
    cid = reg["company_id"]
    mp.partner.fail_with = [PartnerAuthError("POST /marketplace/partner/callback -> 401: Необходима авторизация")]
    await mp.sessions.scan(cid)
    await mp.activator.wait_idle()
    body = await status_of(mp, cid)
    assert body["integration_status"] == "activation_failed"
    assert "401" in body["integration_error"]
    assert body["whatsapp_connected"] is True
    # Fixed on YClients' side: the operator (or the salon) retries through the API.
    resp = await mp.client.post(f"/marketplace/activate/{cid}", headers={"X-API-Key": reg["api_key"]})
    assert resp.status == 200 and (await resp.json())["integration_status"] == "active"
    other = await mp.register(9040)
    resp = await mp.client.post(f"/marketplace/activate/{cid}", headers={"X-API-Key": other["api_key"]})
    assert resp.status == 403


async def test_already_installed_counts_as_success_when_ours(mp: Mp) -> None:
    reg = await mp.register(905)
    cid = reg["company_id"]
    mp.partner.installed.add(905)
    mp.partner.fail_with = [PartnerRejectedError("POST -> 422: already installed")]
    await mp.sessions.scan(cid)
    await mp.activator.wait_idle()
    assert (await status_of(mp, cid))["integration_status"] == "active"


async def test_transient_errors_exhausted_fail_cleanly(mp: Mp) -> None:
    reg = await mp.register(906)
    cid = reg["company_id"]
    mp.partner.fail_with = [PartnerTransientError("timeout")] * 10
    await mp.sessions.scan(cid)
    task = mp.activator.schedule(cid)
    await drive(mp.clock, task)
    await mp.activator.wait_idle()
    body = await status_of(mp, cid)
    assert body["integration_status"] == "activation_failed" and body["integration_error"] == "timeout"
    assert len(mp.partner.activations) == mp.service.config.activation_attempts


async def test_sweep_activates_what_a_missed_event_left_behind(mp: Mp, pool) -> None:
    reg = await mp.register(907)
    cid = reg["company_id"]
    # Connected while no listener ran (e.g. this instance restarted): only the row says so.
    await mp.service.store.set_whatsapp(cid, connected=True, phone="+79001112299", at=mp.clock.now())
    assert mp.partner.activations == []
    assert await mp.activator.run_once() == 1
    await mp.activator.wait_idle()
    assert (await status_of(mp, cid))["integration_status"] == "active"
    assert await mp.activator.run_once() == 0  # nothing left


async def test_a_long_activation_never_releases_another_instances_lock(mp: Mp) -> None:
    from marketplace import keys

    reg = await mp.register(931)
    cid = reg["company_id"]
    real_activate = mp.partner.activate

    async def slow_activate(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # Our 600 s lock expired during the retries and another instance took it.
        await mp.service.redis.set(keys.activation_lock(cid), "other-instance", ex=600)
        await real_activate(*args, **kwargs)

    mp.partner.activate = slow_activate  # type: ignore[method-assign]
    await mp.sessions.scan(cid, "+79007776631")
    await mp.activator.wait_idle()
    assert (await status_of(mp, cid))["integration_status"] == "active"
    assert await mp.service.redis.get(keys.activation_lock(cid)) == "other-instance"


def _notice(salon_id: int, event: str) -> dict:
    from tests.conftest import PARTNER_TOKEN

    return {"salon_id": salon_id, "application_id": 18000, "event": event, "partner_token": PARTNER_TOKEN}


async def _live_keys(pool, company_id: int) -> int:
    return await pool.fetchval("SELECT count(*) FROM api_keys WHERE company_id = $1 AND revoked_at IS NULL", company_id)


async def test_uninstall_during_the_partner_call_wins(mp: Mp, pool) -> None:
    reg = await mp.register(941)
    cid = reg["company_id"]
    real_activate = mp.partner.activate

    async def held_open(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        # YClients is slow to answer; meanwhile the salon uninstalls the app.
        resp = await mp.client.post("/marketplace/webhook/yclients", json=_notice(941, "uninstall"))
        assert (await resp.json())["result"] == "applied"
        await real_activate(*args, **kwargs)

    mp.partner.activate = held_open  # type: ignore[method-assign]
    await mp.sessions.scan(cid, "+79007776641")
    await mp.activator.wait_idle()
    status = await status_of(mp, cid)
    assert status["integration_status"] == "uninstalled" and status["activated_at"] is None
    assert mp.outbox.sent == []  # no welcome for a salon that left
    assert mp.partner.activations, "the call was made (and held open)"
    sent_key = mp.partner.activations[0]["api_key"]
    assert (await mp.client.get(f"/marketplace/status/{cid}", headers={"X-API-Key": sent_key})).status == 401
    assert await _live_keys(pool, cid) == 0
    actions = [r["action"] for r in await pool.fetch("SELECT action FROM audit_log WHERE company_id = $1", cid)]
    assert "activate" not in actions


async def test_uninstall_right_after_the_claim_leaves_no_live_key(mp: Mp, pool) -> None:
    reg = await mp.register(942)
    cid = reg["company_id"]
    store = mp.service.store
    real_claim = store.claim_activation

    async def claim_then_uninstall(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = await real_claim(*args, **kwargs)
        resp = await mp.client.post("/marketplace/webhook/yclients", json=_notice(942, "uninstall"))
        assert (await resp.json())["result"] == "applied"
        return result

    store.claim_activation = claim_then_uninstall  # type: ignore[method-assign]
    await mp.sessions.scan(cid, "+79007776642")
    await mp.activator.wait_idle()
    assert (await status_of(mp, cid))["integration_status"] == "uninstalled"
    assert await _live_keys(pool, cid) == 0
    assert mp.partner.activations == []  # the claim was lost before YClients was called
    assert mp.outbox.sent == []


async def test_freeze_during_the_partner_call_wins(mp: Mp, pool) -> None:
    reg = await mp.register(943)
    cid = reg["company_id"]
    real_activate = mp.partner.activate

    async def held_open(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        resp = await mp.client.post("/marketplace/webhook/yclients", json=_notice(943, "freeze"))
        assert (await resp.json())["result"] == "applied"
        await real_activate(*args, **kwargs)

    mp.partner.activate = held_open  # type: ignore[method-assign]
    await mp.sessions.scan(cid, "+79007776643")
    await mp.activator.wait_idle()
    assert (await status_of(mp, cid))["integration_status"] == "frozen"
    assert mp.outbox.sent == []


async def _row(pool, cid: int) -> dict:
    return dict(await pool.fetchrow("SELECT integration_status, activation_attempts, activation_retry_at "
                                    "FROM companies WHERE id = $1", cid))


async def test_transient_failures_are_retried_by_the_sweep_with_capped_backoff(mp_factory, pool) -> None:
    from datetime import timedelta

    # Two attempts per run, no in-run backoff: the clock stands still while a run goes on.
    mp = await mp_factory(marketplace_activation_attempts=2, marketplace_activation_backoff_s=0.0,
                          marketplace_activation_retry_base_s=300.0, marketplace_activation_retry_cap_s=500.0)
    attempts = 2
    reg = await mp.register(951)
    cid = reg["company_id"]
    mp.partner.fail_with = [PartnerTransientError("POST -> 502: Bad Gateway")] * attempts
    await mp.sessions.scan(cid, "+79007776651")
    await mp.activator.wait_idle()
    row = await _row(pool, cid)
    assert row["integration_status"] == "activation_failed" and row["activation_attempts"] == 1
    delay = (row["activation_retry_at"] - mp.clock.now()).total_seconds()
    assert 150 <= delay <= 300  # base 300 s, jittered to 50-100 %
    body = await status_of(mp, cid)
    assert body["activation_attempts"] == 1 and body["activation_retry_at"] == row["activation_retry_at"].isoformat()
    calls = len(mp.partner.activations)
    assert calls == attempts  # one request per attempt: no nested retries
    # Not due yet: the sweep leaves it, and so does a reconnect of the session.
    assert await mp.activator.run_once() == 0
    await mp.sessions.scan(cid, "+79007776651")
    await mp.activator.wait_idle()
    assert len(mp.partner.activations) == calls
    # Due: the sweep retries; it fails again and the next delay doubles (capped at 500 s).
    mp.clock.set(row["activation_retry_at"] + timedelta(seconds=1))
    mp.partner.fail_with = [PartnerTransientError("timeout")] * attempts
    assert await mp.activator.run_once() == 1
    await mp.activator.wait_idle()
    row2 = await _row(pool, cid)
    assert row2["activation_attempts"] == 2 and len(mp.partner.activations) == 2 * calls
    delay2 = (row2["activation_retry_at"] - mp.clock.now()).total_seconds()
    assert 250 <= delay2 <= 500  # 600 s capped at 500 s, jittered
    # Third time lucky: active, the count and retry time cleared, the welcome sent once.
    mp.clock.set(row2["activation_retry_at"] + timedelta(seconds=1))
    assert await mp.activator.run_once() == 1
    await mp.activator.wait_idle()
    assert await _row(pool, cid) == {"integration_status": "active", "activation_attempts": 0,
                                      "activation_retry_at": None}
    assert len(mp.outbox.sent) == 1


async def test_terminal_refusals_are_never_retried_automatically(mp: Mp, pool) -> None:
    from datetime import timedelta

    for salon_id, error in ((952, PartnerAuthError("POST -> 401: Необходима авторизация", status=401)),
                            (953, PartnerAuthError("POST -> 403: Нет доступа к приложению", status=403)),
                            (954, PartnerRejectedError("POST -> 422: Неверные параметры", status=422))):
        reg = await mp.register(salon_id)
        cid = reg["company_id"]
        mp.partner.fail_with = [error]
        await mp.sessions.scan(cid)
        await mp.activator.wait_idle()
        row = await _row(pool, cid)
        assert row == {"integration_status": "activation_failed", "activation_attempts": 1,
                       "activation_retry_at": None}, salon_id
        calls = len(mp.partner.activations)
        mp.clock.set(mp.clock.now() + timedelta(days=7))
        assert await mp.activator.run_once() == 0
        await mp.sessions.scan(cid)  # a reconnect is no reason to ask again
        await mp.activator.wait_idle()
        assert len(mp.partner.activations) == calls
        # The operator fixed it with YClients: a manual retry goes through.
        resp = await mp.client.post(f"/marketplace/activate/{cid}", headers=ADMIN)
        assert resp.status == 200 and (await resp.json())["integration_status"] == "active"


async def test_an_install_over_a_failed_activation_starts_it_again(mp: Mp, pool) -> None:
    from tests.marketplace.test_install_lifecycle import install, signed_query

    assert (await install(mp, signed_query(955))).status == 302
    cid = await pool.fetchval("SELECT id FROM companies WHERE salon_id = 955")
    mp.partner.fail_with = [PartnerAuthError("POST -> 401: no", status=401)]
    await mp.sessions.scan(cid)
    await mp.activator.wait_idle()
    assert (await _row(pool, cid))["activation_retry_at"] is None
    assert (await install(mp, signed_query(955))).status == 302  # the salon clicks "Connect" again
    assert await _row(pool, cid) == {"integration_status": "pending", "activation_attempts": 0,
                                      "activation_retry_at": None}
    assert await mp.activator.run_once() == 1
    await mp.activator.wait_idle()
    assert (await _row(pool, cid))["integration_status"] == "active"


async def test_migration_schedules_retries_only_for_old_transient_failures(pool) -> None:
    from pathlib import Path

    import gateway.migrations

    sql = (Path(gateway.migrations.__file__).parent / "0043_marketplace_activation_retry.sql").read_text()
    await pool.execute("DROP INDEX idx_companies_activation_retry")
    await pool.execute("ALTER TABLE companies DROP COLUMN activation_attempts, DROP COLUMN activation_retry_at")
    errors = {1: "POST /marketplace/partner/callback -> 502: Bad Gateway", 2: "timeout",
              3: "POST /marketplace/partner/callback -> 401: Необходима авторизация",
              4: "ValidationFailed: already installed (HTTP 422)", 5: "POST -> 429: slow down"}
    for salon_id, error in errors.items():
        await pool.execute("INSERT INTO companies (salon_id, integration_status, integration_error, status_changed_at) "
                           "VALUES ($1, 'activation_failed', $2, '2026-11-20T10:00:00Z')", salon_id, error)
    await pool.execute("INSERT INTO companies (salon_id, integration_status) VALUES (6, 'active')")
    await pool.execute(sql)
    rows = {r["salon_id"]: r["activation_retry_at"] is not None
            for r in await pool.fetch("SELECT salon_id, activation_retry_at FROM companies")}
    assert rows == {1: True, 2: True, 3: False, 4: False, 5: True, 6: False}


async def test_sweep_takes_over_a_stale_activating_row_on_the_injected_clock(mp: Mp, pool) -> None:
    from marketplace.tokens import new_api_key

    reg = await mp.register(961)
    cid = reg["company_id"]
    # An instance connected the salon, claimed the activation and died before finishing it.
    await mp.service.store.set_whatsapp(cid, connected=True, phone="+79001112261", at=mp.clock.now())
    _, prefix, digest = new_api_key()
    assert await mp.service.store.claim_activation(cid, key_prefix=prefix, key_sha256=digest) is not None
    assert await pool.fetchval("SELECT status_changed_at FROM companies WHERE id = $1", cid) == mp.clock.now()
    await mp.clock.advance(899)
    assert await mp.activator.run_once(stale_s=900) == 0  # maybe still running elsewhere
    await mp.clock.advance(2)
    assert await mp.activator.run_once(stale_s=900) == 1  # 901 s on the clock: taken over
    await mp.activator.wait_idle()
    assert (await status_of(mp, cid))["integration_status"] == "active"
    assert await pool.fetchval("SELECT activated_at FROM companies WHERE id = $1", cid) == mp.clock.now()


async def test_connected_at_is_the_first_connection_across_reconnects(mp: Mp) -> None:
    from datetime import timedelta

    reg = await mp.register(962)
    cid = reg["company_id"]
    first = mp.clock.now()
    await mp.sessions.scan(cid, "+79001112262")
    await mp.activator.wait_idle()
    await mp.clock.advance(3600)
    await mp.sessions.stop(cid)  # e.g. the daemon restarts ...
    await mp.sessions.start(cid)  # ... and the stored credentials reconnect
    body = await status_of(mp, cid)
    assert body["connected_at"] == first.isoformat()
    assert body["last_connected_at"] == (first + timedelta(seconds=3600)).isoformat()


async def test_shutdown_cancels_activations_before_the_http_client_goes(mp: Mp, pool) -> None:
    import asyncio

    from marketplace import keys

    reg = await mp.register(971)
    cid = reg["company_id"]
    entered, never = asyncio.Event(), asyncio.Event()

    async def hanging(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        entered.set()
        await never.wait()

    mp.partner.activate = hanging  # type: ignore[method-assign]
    await mp.sessions.scan(cid)
    await asyncio.wait_for(entered.wait(), 10)
    await mp.activator.close()
    assert (await status_of(mp, cid))["integration_status"] == "activating"  # the next start's sweep takes it
    assert await mp.service.redis.get(keys.activation_lock(cid)) is None
    assert mp.activator.schedule(cid) is None and await mp.activator.run_once(stale_s=0) == 0
