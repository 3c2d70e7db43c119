"""The install redirect treats `salon_id` as a claim: a signed blob of one salon opens no other salon.

`user_data_sign` covers `user_data` only, so whoever installed the app in their own salon can
pair their valid blob with a victim's `salon_id`. These tests are that attack and its limits.
"""

from __future__ import annotations

from typing import Any

from marketplace.partner import PartnerRejectedError, PartnerTransientError
from marketplace.signing import sign_user_data
from tests.conftest import PARTNER_TOKEN
from tests.marketplace.support import ADMIN, Mp
from tests.marketplace.test_install_lifecycle import install, token_from

OWNER = {"id": 5001, "name": "Владелец", "salon_name": "Салон Жертва"}
ATTACKER = {"id": 6666, "name": "Чужой", "salon_name": "Салон Чужого"}


def query(salon_id: int, user: dict[str, Any] | None) -> dict[str, str]:
    if user is None:
        return {"salon_id": str(salon_id)}
    user_data, sign = sign_user_data(user, PARTNER_TOKEN)
    return {"salon_id": str(salon_id), "user_data": user_data, "user_data_sign": sign}


async def installed_by_owner(mp: Mp, salon_id: int, *, connect: bool) -> tuple[int, str]:
    resp = await install(mp, query(salon_id, OWNER))
    assert resp.status == 302
    token = token_from(resp.headers["Location"])
    cid = await mp.service.store.by_salon(salon_id)
    assert cid is not None
    if connect:
        await mp.sessions.scan(cid.id, "+79001230001")
        await mp.activator.wait_idle()
    return cid.id, token


async def assert_refused(mp: Mp, resp: Any, pool: Any, salon_id: int, reason: str) -> None:
    assert resp.status == 403 and "Location" not in resp.headers
    html = await resp.text()
    assert "text/html" in resp.headers["Content-Type"] and "поддержку" in html
    row = await pool.fetchrow("SELECT company_id, details FROM audit_log WHERE action = 'install_refused' "
                              "ORDER BY id DESC LIMIT 1")
    assert row is not None and row["details"]["reason"] == reason and row["details"]["salon_id"] == salon_id


async def test_another_users_blob_gets_no_token_for_an_active_salon(mp: Mp, pool, redis) -> None:
    cid, owner_token = await installed_by_owner(mp, 3001, connect=True)
    before = await pool.fetchrow("SELECT * FROM companies WHERE id = $1", cid)
    issued = await redis.get(f"marketplace:company:{cid}:token")
    resp = await install(mp, query(3001, ATTACKER))  # the attacker's own valid blob, the victim's salon id
    await assert_refused(mp, resp, pool, 3001, "installed_by_another_user")
    assert "другой учётной записи" in await resp.text()
    assert dict(await pool.fetchrow("SELECT * FROM companies WHERE id = $1", cid)) == dict(before)
    assert await redis.get(f"marketplace:company:{cid}:token") == issued  # no token was issued
    assert await pool.fetchval("SELECT installed_by_user_id FROM companies WHERE id = $1", cid) == "5001"
    # The owner's own link and a re-install by the owner still work.
    assert (await mp.client.get(f"/marketplace/status/{cid}", params={"token": owner_token})).status == 200
    assert (await install(mp, query(3001, OWNER))).status == 302


async def test_a_pending_salon_cannot_be_scanned_by_someone_else(mp: Mp, pool) -> None:
    await installed_by_owner(mp, 3002, connect=False)
    resp = await install(mp, query(3002, ATTACKER))
    await assert_refused(mp, resp, pool, 3002, "installed_by_another_user")
    resp = await install(mp, query(3002, {"name": "без id"}))  # signed, but says nothing about who
    await assert_refused(mp, resp, pool, 3002, "unsigned_request_for_a_claimed_salon")


async def test_signed_salon_ids_must_include_the_requested_salon(mp: Mp, pool) -> None:
    for key, value in (("salon_ids", [4001, 4002]), ("salon_id", 4001), ("company_id", "4001")):
        resp = await install(mp, query(3003, {**ATTACKER, key: value}))
        await assert_refused(mp, resp, pool, 3003, "salon_not_in_signed_user_data")
    assert await pool.fetchval("SELECT count(*) FROM companies") == 0
    # Naming the salon is YClients vouching for the pair: enough even for a salon bound to nobody we know.
    reg = await mp.register(3004)
    await mp.sessions.scan(reg["company_id"])
    await mp.activator.wait_idle()
    assert (await install(mp, query(3004, {**ATTACKER, "salon_ids": ["3004"]}))).status == 302


async def test_a_bound_salon_without_a_known_installer_needs_the_operator(mp: Mp, pool, settings) -> None:
    from gateway.commands.companies import set_installer

    reg = await mp.register(3005)  # registered by the operator: no YClients user recorded
    cid = reg["company_id"]
    await mp.sessions.scan(cid)
    await mp.activator.wait_idle()
    resp = await install(mp, query(3005, OWNER))
    await assert_refused(mp, resp, pool, 3005, "salon_bound_installer_unknown")
    # Support confirmed the owner: the operator records them, and their redirect works.
    assert await set_installer(settings, cid, "5001") == 0
    assert (await install(mp, query(3005, OWNER))).status == 302
    assert (await install(mp, query(3005, ATTACKER))).status == 403


async def test_after_an_uninstall_the_next_install_takes_the_salon(mp: Mp, pool) -> None:
    cid, _ = await installed_by_owner(mp, 3006, connect=True)
    resp = await mp.client.post("/marketplace/webhook/yclients", json={
        "salon_id": 3006, "application_id": 18000, "event": "uninstall", "partner_token": PARTNER_TOKEN})
    assert (await resp.json())["result"] == "applied"
    assert (await install(mp, query(3006, ATTACKER))).status == 302  # the salon's new account installed it
    assert await pool.fetchval("SELECT installed_by_user_id FROM companies WHERE id = $1", cid) == "6666"
    assert (await install(mp, query(3006, OWNER))).status == 403


async def test_yclients_saying_not_installed_refuses_a_first_install(mp: Mp, pool) -> None:
    mp.partner.status_of[3007] = PartnerRejectedError("GET -> 404: not installed", status=404)
    resp = await install(mp, query(3007, ATTACKER))
    await assert_refused(mp, resp, pool, 3007, "app_not_installed_in_salon")
    assert "не установлено" in await resp.text()
    mp.partner.status_of[3007] = "uninstalled"
    await assert_refused(mp, await install(mp, query(3007, ATTACKER)), pool, 3007, "app_not_installed_in_salon")
    # YClients unreachable: an unproven first claim waits; the recorded installer goes on.
    mp.partner.status_of[3007] = PartnerTransientError("GET -> 502")
    await assert_refused(mp, await install(mp, query(3007, ATTACKER)), pool, 3007, "install_not_confirmed_by_yclients")
    assert await pool.fetchval("SELECT count(*) FROM companies") == 0
    mp.partner.status_of.pop(3007)
    cid, _ = await installed_by_owner(mp, 3007, connect=False)
    mp.partner.status_of[3007] = PartnerTransientError("GET -> 502")
    assert (await install(mp, query(3007, OWNER))).status == 302
    assert cid


async def test_unsigned_sandbox_mode_still_protects_claimed_salons(mp_factory, pool) -> None:
    mp = await mp_factory(marketplace_allow_unsigned=True)
    assert (await install(mp, query(3008, None))).status == 302  # a sandbox's first install
    assert (await install(mp, query(3008, None))).status == 302  # still pending, nobody recorded
    cid, _ = await installed_by_owner(mp, 3009, connect=True)
    await assert_refused(mp, await install(mp, query(3009, None)), pool, 3009, "unsigned_request_for_a_claimed_salon")
    status = await (await mp.client.get(f"/marketplace/status/{cid}", headers=ADMIN)).json()
    assert status["integration_status"] == "active"


def test_claim_policy_table() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from marketplace import claims
    from marketplace.store import Company

    now = datetime(2026, 11, 23, tzinfo=UTC)
    row = Company(id=1, salon_id=10, title=None, phone=None, email=None, address=None, timezone="Europe/Moscow",
                  whatsapp_connected=False, whatsapp_phone=None, whatsapp_connected_at=None,
                  integration_status="pending", integration_error=None, connected_at=None, activated_at=None,
                  token_generation=1, install_seq=1, created_at=now, updated_at=None, installed_by_user_id=None,
                  activation_attempts=0, activation_retry_at=None)
    owner = claims.claim_of(10, {"id": 1})
    other = claims.claim_of(10, {"user_id": "2"})
    unsigned = claims.claim_of(10, None)
    assert claims.refusal(other, None) is None and claims.refusal(unsigned, None) is None
    assert claims.refusal(other, row) is None  # pending, nobody recorded
    assert claims.refusal(other, replace(row, whatsapp_connected=True)) == claims.OWNER_UNKNOWN
    assert claims.refusal(unsigned, replace(row, integration_status="frozen")) == claims.NO_USER
    owned = replace(row, installed_by_user_id="1", integration_status="frozen")
    assert claims.refusal(owner, owned) is None and claims.refusal(other, owned) == claims.OTHER_USER
    assert claims.refusal(other, replace(owned, integration_status="uninstalled")) is None
    assert claims.refusal(claims.claim_of(10, {"id": 2, "salon_ids": [10, 11]}), owned) is None
    assert claims.refusal(claims.claim_of(10, {"id": 1, "salon_ids": [11]}), owned) == claims.NOT_IN_USER_DATA
    assert claims.claim_of(10, {"id": True}).user_id is None
    assert claims.claim_of(10, {"id": 1, "salon_ids": None}).user_salon_ids is None


async def test_migration_backfills_the_installer_from_the_first_signed_install(pool) -> None:
    from pathlib import Path

    import gateway.migrations

    sql = (Path(gateway.migrations.__file__).parent / "0042_marketplace_installer.sql").read_text()
    await pool.execute("ALTER TABLE companies DROP COLUMN installed_by_user_id")
    a = await pool.fetchval("INSERT INTO companies (salon_id) VALUES (1) RETURNING id")
    b = await pool.fetchval("INSERT INTO companies (salon_id) VALUES (2) RETURNING id")
    for company_id, details in ((a, {"user_id": 77}), (a, {"user_id": 88}), (b, {"user_id": None})):
        await pool.execute("INSERT INTO audit_log (actor, action, company_id, details) VALUES ('yclients', 'install', $1, $2)",
                           company_id, details)
    await pool.execute(sql)
    rows = dict(await pool.fetch("SELECT id, installed_by_user_id FROM companies"))
    assert rows == {a: "77", b: None}
