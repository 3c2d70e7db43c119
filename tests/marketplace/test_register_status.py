"""Registration, connect tokens, status and the admin list over HTTP."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import jwt

from tests.conftest import JWT_SECRET
from tests.marketplace.support import ADMIN, Mp


def token_of(reg: dict) -> str:
    return parse_qs(urlsplit(reg["connect_url"]).query)["token"][0]


async def test_test_endpoint_shape(mp: Mp) -> None:
    resp = await mp.client.get("/marketplace/test")
    body = await resp.json()
    assert resp.status == 200
    assert body["success"] is True and body["status"] == "ok"
    assert body["message"] == "Marketplace integration endpoints are ready"
    assert "register" in body["endpoints"]


async def test_register_returns_key_once_and_connect_url(mp: Mp, pool, redis) -> None:
    reg = await mp.register(4564)
    assert reg["success"] is True and reg["salon_id"] == 4564
    assert reg["api_key"].startswith("sk_")
    base = str(mp.client.make_url("")).rstrip("/")
    assert reg["connect_url"].startswith(base + "/marketplace/connect?token=")
    token = token_of(reg)
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["company_id"] == reg["company_id"]
    assert claims["exp"] - claims["iat"] == 24 * 3600
    # Stored as prefix + sha256 only.
    row = await pool.fetchrow("SELECT prefix, key_sha256 FROM api_keys WHERE company_id = $1", reg["company_id"])
    assert row["key_sha256"] == hashlib.sha256(reg["api_key"].encode()).hexdigest()
    assert reg["api_key"].startswith(row["prefix"]) and len(row["prefix"]) < 16
    assert not await pool.fetchval("SELECT count(*) FROM api_keys WHERE key_sha256 = $1", reg["api_key"])
    # Seed Redis keys, 24 h.
    assert await redis.get(f"marketplace:token:{token}") == str(reg["company_id"])
    assert await redis.get(f"marketplace:company:{reg['company_id']}:token") == token
    assert 24 * 3600 - 5 < await redis.ttl(f"marketplace:token:{token}") <= 24 * 3600
    # The session was started so the QR is ready when the page opens.
    assert ("start", reg["company_id"]) in mp.sessions.calls
    audit = await pool.fetch("SELECT actor, action FROM audit_log WHERE company_id = $1", reg["company_id"])
    assert [(r["actor"], r["action"]) for r in audit] == [("admin", "register")]


async def test_register_twice_is_409_and_keeps_the_first(mp: Mp, pool) -> None:
    first = await mp.register(777)
    resp = await mp.client.post("/marketplace/register", headers=ADMIN,
                                json={"salon_id": 777, "phone": "+79001234568", "email": "x@example.com"})
    body = await resp.json()
    assert resp.status == 409
    assert body["success"] is False and body["error"]["code"] == "already_registered"
    assert str(first["company_id"]) in body["error"]["message"]
    assert await pool.fetchval("SELECT count(*) FROM companies WHERE salon_id = 777") == 1
    assert await pool.fetchval("SELECT phone FROM companies WHERE salon_id = 777") == "+79001234567"


async def test_register_needs_admin_key(mp: Mp) -> None:
    body = {"salon_id": 1, "phone": "+79001234567", "email": "a@b.ru"}
    resp = await mp.client.post("/marketplace/register", json=body)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"
    resp = await mp.client.post("/marketplace/register", json=body, headers={"X-API-Key": "wrong"})
    assert resp.status == 403
    reg = await mp.register(2)
    resp = await mp.client.post("/marketplace/register", json=body, headers={"X-API-Key": reg["api_key"]})
    assert resp.status == 403  # a salon key is not the admin key


async def test_status_auth_matrix(mp: Mp) -> None:
    a = await mp.register(1001)
    b = await mp.register(1002)
    ta, tb = token_of(a), token_of(b)
    url_a, url_b = f"/marketplace/status/{a['company_id']}", f"/marketplace/status/{b['company_id']}"
    # Own token as Bearer or ?token=, own api key, admin: allowed.
    for kwargs in ({"headers": {"Authorization": f"Bearer {ta}"}}, {"params": {"token": ta}},
                   {"headers": {"X-API-Key": a["api_key"]}}, {"headers": ADMIN}):
        resp = await mp.client.get(url_a, **kwargs)
        assert resp.status == 200, kwargs
        body = await resp.json()
        assert body["company_id"] == a["company_id"] and body["salon_id"] == 1001
        assert body["whatsapp_connected"] is False and body["integration_status"] == "pending"
        assert body["session_state"] == "SCAN_QR"
    # A's credentials on B: 403.
    for kwargs in ({"headers": {"Authorization": f"Bearer {ta}"}}, {"params": {"token": ta}},
                   {"headers": {"X-API-Key": a["api_key"]}}):
        resp = await mp.client.get(url_b, **kwargs)
        assert resp.status == 403, kwargs
        assert (await resp.json())["error"]["code"] == "forbidden"
    assert (await mp.client.get(url_b, params={"token": tb})).status == 200
    # Nothing, forged, expired: 401.
    assert (await mp.client.get(url_a)).status == 401
    forged = jwt.encode({"company_id": a["company_id"], "iat": 1, "exp": 9999999999}, "not-the-secret-but-long-enough-32b",
                        algorithm="HS256")
    assert (await mp.client.get(url_a, params={"token": forged})).status == 401
    now = int(mp.clock.time())
    expired = jwt.encode({"company_id": a["company_id"], "iat": now - 90000, "exp": now - 3600}, JWT_SECRET,
                         algorithm="HS256")
    assert (await mp.client.get(url_a, params={"token": expired})).status == 401
    assert (await mp.client.get(url_a, headers={"X-API-Key": "sk_unknown"})).status == 401
    # Admin on an unknown company: 404.
    assert (await mp.client.get("/marketplace/status/99999", headers=ADMIN)).status == 404


async def test_token_expires_on_the_injected_clock(mp: Mp) -> None:
    a = await mp.register(3003)
    url = f"/marketplace/status/{a['company_id']}"
    from datetime import timedelta

    start = mp.clock.now()
    mp.clock.set(start + timedelta(seconds=24 * 3600 - 10))  # wall time only: no background loop runs a day
    assert (await mp.client.get(url, params={"token": token_of(a)})).status == 200
    mp.clock.set(start + timedelta(seconds=24 * 3600 + 1))
    assert (await mp.client.get(url, params={"token": token_of(a)})).status == 401


async def test_companies_admin_list(mp: Mp, pool) -> None:
    for salon in (11, 12, 13):
        await mp.register(salon)
    resp = await mp.client.get("/marketplace/companies", headers=ADMIN)
    body = await resp.json()
    assert resp.status == 200
    assert body["stats"]["total"] == 3 and body["stats"]["connected"] == 0
    assert body["stats"]["by_status"] == {"pending": 3}
    assert [c["salon_id"] for c in body["companies"]] == [11, 12, 13]
    assert set(body["companies"][0]) >= {"company_id", "salon_id", "title", "integration_status", "whatsapp_connected"}
    resp = await mp.client.get("/marketplace/companies", params={"salon_id": "12"}, headers=ADMIN)
    body = await resp.json()
    assert [c["salon_id"] for c in body["companies"]] == [12] and body["count"] == 1
    resp = await mp.client.get("/marketplace/companies", params={"page": "2", "count": "2"}, headers=ADMIN)
    assert [c["salon_id"] for c in (await resp.json())["companies"]] == [13]
    assert (await mp.client.get("/marketplace/companies")).status == 401
    assert (await mp.client.get("/marketplace/companies", params={"page": "x"}, headers=ADMIN)).status == 400
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'admin:companies'") == 4


async def test_stored_timestamps_come_from_the_injected_clock(mp: Mp, pool) -> None:
    from tests.conftest import START

    reg = await mp.register(4600)
    cid = reg["company_id"]
    assert mp.clock.now() == START  # a fake day, far from the machine's
    row = await pool.fetchrow("SELECT created_at, status_changed_at FROM companies WHERE id = $1", cid)
    assert row["created_at"] == START and row["status_changed_at"] == START
    assert await pool.fetchval("SELECT created_at FROM api_keys WHERE company_id = $1", cid) == START
    assert await pool.fetchval("SELECT at FROM audit_log WHERE company_id = $1", cid) == START
    await mp.clock.advance(60)
    resp = await mp.client.post("/marketplace/callback", json={"status": "connected"},
                                headers={"X-API-Key": reg["api_key"]})
    assert resp.status == 200
    assert await pool.fetchval("SELECT received_at FROM marketplace_events WHERE company_id = $1", cid) == mp.clock.now()
