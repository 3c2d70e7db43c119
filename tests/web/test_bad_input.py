"""Every HTTP route of the whole app answers junk with a JSON error (4xx), never a 500.

One app, one registered salon; each POST route gets every junk body with an operator key and with
the salon's api key; each GET route gets junk query/path values. Found this way: NaN/Infinity,
NUL and lone surrogates reached PostgreSQL (500), webhook ids beyond int4 (500).
"""

from __future__ import annotations

import json

from tests.conftest import app_of
from tests.marketplace.support import ADMIN, isolate_company_ids
from tests.web.test_flow import add_sandbox_salon

PHONE = "+79161234567"
JUNK_BODIES = [
    b"", b"null", b"[]", b"{", b'"x"', b"\xff\xfe", b"1e999", b'{"a": NaN}', b'{"kind": "ban", "expires_in_s": Infinity}',
    json.dumps({"a": "\u0000"}).encode(),
    json.dumps({"from": PHONE, "text": "hi\u0000there"}).encode(),
    b'{"from": "+79161234567", "text": "\\ud800"}',
    json.dumps({"kind": "ban", "count": 10**30}).encode(),
    json.dumps({"kind": "ban", "count": -5}).encode(),
    json.dumps({"kind": "ban", "expires_in_s": 1e308}).encode(),
    json.dumps({"code": "\u0000"}).encode(),
    json.dumps({"phone": PHONE + "\u0000"}).encode(),
    json.dumps({"salon_id": "٣", "phone": "+79001234567", "email": "a@b.co"}).encode(),
    json.dumps({"salon_id": 10**40, "phone": "+79001234567", "email": "a@b.co"}).encode(),
]


async def test_every_route_answers_junk_with_a_json_4xx(make_client, database_url, pool) -> None:  # type: ignore[no-untyped-def]
    await isolate_company_ids(database_url)
    client = await make_client(demo=True)
    add_sandbox_salon(app_of(client), 880200, "Салон Мусор")
    resp = await client.post("/marketplace/register", headers=ADMIN,
                             json={"salon_id": 880200, "phone": "+79001234567", "email": "junk@example.com"})
    reg = await resp.json()
    cid, key = reg["company_id"], reg["api_key"]
    token = reg["connect_url"].split("token=")[1]
    before = await _counts(pool)
    posts = [f"/sim/{cid}/scan", f"/sim/{cid}/pair", f"/sim/{cid}/inbound", f"/sim/{cid}/fault",
             "/marketplace/register", f"/marketplace/pairing-code/{token}", "/marketplace/pairing-code/junk",
             "/marketplace/callback", f"/marketplace/activate/{cid}", "/marketplace/webhook/yclients",
             f"/marketplace/webhook/{cid}", "/marketplace/webhook/99999999999999", "/sim/999999999/inbound"]
    bad = []
    for path in posts:
        for body in JUNK_BODIES:
            for auth in (ADMIN, {"X-API-Key": key}):
                r = await client.post(path, data=body, headers={**auth, "Content-Type": "application/json"})
                text = await r.text()
                if r.status >= 500 or (r.status >= 400 and not text.startswith("{")):
                    bad.append((path, body[:60], r.status, text[:120]))
    gets = [f"/sim/{cid}/outbound?to=%00", f"/sim/{cid}/outbound?to=+7916", "/marketplace/companies?salon_id=%00",
            "/marketplace/companies?page=-1", "/marketplace/companies?page=99999999999999999999",
            "/marketplace/companies?salon_id=9999999999999", "/marketplace/companies?limit=0",
            f"/marketplace/status/{cid}?token=%00", "/marketplace/status/99999999999999999", "/marketplace/qr/%00",
            "/marketplace/connect?token=%00", "/marketplace/yclients/install?salon_id=%00&user_data=%00&user_data_sign=x",
            "/marketplace/yclients/install?salon_id=99999999999999999999", "/sim/99999999/state", "/marketplace/ws?token=%00"]
    for path in gets:
        r = await client.get(path, headers=ADMIN, allow_redirects=False)
        if r.status >= 500:
            bad.append((path, r.status, (await r.text())[:120]))
    assert not bad, "\n".join(map(repr, bad))
    # Junk created no salon and no booking (some junk is a valid object for a lenient route, e.g.
    # /sim/{id}/scan or the salon callback, so other tables may legitimately change).
    assert await _counts(pool) == before


async def _counts(pool) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"companies": [tuple(r) for r in await pool.fetch("SELECT id, salon_id FROM companies ORDER BY id")],
            "bookings": await pool.fetchval("SELECT count(*) FROM bookings")}
