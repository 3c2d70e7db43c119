"""Security of our routes: Origin/CORS allow-list, headers, body limits, bad input, escaping."""

from __future__ import annotations

from marketplace.signing import sign_user_data
from tests.conftest import PARTNER_TOKEN
from tests.marketplace.support import ADMIN, Mp
from tests.marketplace.test_register_status import token_of

EVIL = "<script>alert('x')</script>\"'; DROP TABLE companies; --"


async def test_origin_allow_list_and_cors(mp: Mp) -> None:
    base = str(mp.client.make_url("")).rstrip("/")
    for origin in ("https://ai-admin.app", "https://yclients.com", "https://n123.yclients.com",
                   "https://n.yclients.com", base):
        resp = await mp.client.get("/marketplace/test", headers={"Origin": origin})
        assert resp.status == 200, origin
        assert resp.headers["Access-Control-Allow-Origin"] == origin
    for origin in ("https://evil.example", "https://yclients.com.evil.example", "https://x.yclients.com",
                   "http://yclients.com", "null"):
        resp = await mp.client.get("/marketplace/test", headers={"Origin": origin})
        assert resp.status == 403, origin
        assert (await resp.json())["error"]["code"] == "origin_not_allowed"
    pre = await mp.client.options("/marketplace/register", headers={
        "Origin": "https://yclients.com", "Access-Control-Request-Method": "POST"})
    assert pre.status == 204
    assert "X-API-Key" in pre.headers["Access-Control-Allow-Headers"]
    assert (await mp.client.options("/marketplace/register", headers={"Origin": "https://evil.example"})).status == 403


async def test_extra_origins_setting(mp_factory) -> None:
    mp = await mp_factory(cors_extra_origins="https://partner.example, https://other.example")
    resp = await mp.client.get("/marketplace/test", headers={"Origin": "https://partner.example"})
    assert resp.status == 200


async def test_websocket_checks_origin(mp: Mp) -> None:
    import aiohttp

    reg = await mp.register(1)
    try:
        await mp.client.ws_connect("/marketplace/ws", params={"token": token_of(reg)},
                                   headers={"Origin": "https://evil.example"})
        raise AssertionError("foreign origin must be refused")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 403


async def test_page_security_headers(mp: Mp) -> None:
    reg = await mp.register(2)
    for path in ("/marketplace/", f"/marketplace/connect?token={token_of(reg)}"):
        resp = await mp.client.get(path)
        assert resp.status == 200
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "img-src 'self' data:" in csp
        assert "frame-ancestors 'self' https://yclients.com https://*.yclients.com" in csp
        assert "unsafe-inline" not in csp
        assert "connect-src 'self';" in csp and "ws:" not in csp and "wss:" not in csp  # no socket to any host
        assert "X-Frame-Options" not in resp.headers  # frame-ancestors lists several origins; XFO cannot
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        html = await resp.text()
        assert "<script>" not in html and "onclick" not in html  # no inline script
    static = await mp.client.get("/marketplace/static/connect.js")
    assert static.status == 200 and "WebSocket" in await static.text()


async def test_other_packages_routes_are_left_alone(mp: Mp) -> None:
    resp = await mp.client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert resp.status == 200 and "Content-Security-Policy" not in resp.headers
    resp = await mp.client.get("/metrics", headers={"Origin": "https://evil.example"})
    assert resp.status == 200
    # The data webhook belongs to sync: no origin check, no auth, no headers of ours.
    resp = await mp.client.post("/marketplace/webhook/123", json={"company_id": 1},
                                headers={"Origin": "https://evil.example"})
    assert resp.status != 403 and "Content-Security-Policy" not in resp.headers


async def test_connect_page_with_bad_token_is_a_russian_page(mp: Mp) -> None:
    for query in ("", "?token=forged"):
        resp = await mp.client.get(f"/marketplace/connect{query}")
        assert resp.status in (401, 403)
        assert "text/html" in resp.headers["Content-Type"]
        assert "Ссылка" in await resp.text()


async def test_body_limits_malformed_json_and_wrong_types(mp_factory, pool) -> None:
    mp = await mp_factory(max_body_bytes=2048)
    big = {"salon_id": 1, "phone": "+79001234567", "email": "a@b.ru", "pad": "x" * 4000}
    resp = await mp.client.post("/marketplace/register", json=big, headers=ADMIN)
    assert resp.status == 413
    body = await resp.json()
    assert body["success"] is False and body["error"]["code"] == "payload_too_large"

    async def chunks():
        yield b'{"phone": "' + b"9" * 3000 + b'"}'

    resp = await mp.client.post("/marketplace/register", data=chunks(), headers=ADMIN)  # chunked, no length
    assert resp.status == 413 and (await resp.json())["success"] is False
    for raw in (b"{", b"[]", b"null", b"\xff\xfe", b'"text"'):
        resp = await mp.client.post("/marketplace/register", data=raw, headers={**ADMIN, "Content-Type": "application/json"})
        assert resp.status == 400, raw
        assert (await resp.json())["error"]["code"] == "invalid_json"
    cases = [
        ({"phone": "+79001234567", "email": "a@b.ru"}, "salon_id is required"),
        ({"salon_id": "abc", "phone": "+79001234567", "email": "a@b.ru"}, "salon_id"),
        ({"salon_id": -5, "phone": "+79001234567", "email": "a@b.ru"}, "salon_id"),
        ({"salon_id": True, "phone": "+79001234567", "email": "a@b.ru"}, "salon_id"),
        ({"salon_id": 1.5, "phone": "+79001234567", "email": "a@b.ru"}, "salon_id"),
        ({"salon_id": 2**40, "phone": "+79001234567", "email": "a@b.ru"}, "salon_id"),
        ({"salon_id": 1, "phone": "89001234567", "email": "a@b.ru"}, "E.164"),
        ({"salon_id": 1, "phone": ["+79001234567"], "email": "a@b.ru"}, "E.164"),
        ({"salon_id": 1, "phone": "+79001234567", "email": "not-an-email"}, "email"),
        ({"salon_id": 1, "phone": "+79001234567", "email": EVIL}, "email"),
    ]
    for payload, words in cases:
        resp = await mp.client.post("/marketplace/register", json=payload, headers=ADMIN)
        assert resp.status == 400, payload
        assert words in (await resp.json())["error"]["message"], payload
    # Bad input loses nothing and writes nothing.
    for table in ("companies", "api_keys", "marketplace_events"):
        assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    assert mp.sessions.calls == []


async def test_injection_in_stored_text_is_kept_verbatim_and_shown_escaped(mp: Mp, pool) -> None:
    mp.partner.companies[4242] = {"title": EVIL, "address": EVIL, "timezone_name": "Europe/Moscow",
                                  "short_descr": "nul\u0000inside"}
    user_data, sign = sign_user_data({"salon_name": EVIL, "name": EVIL}, PARTNER_TOKEN)
    resp = await mp.client.get("/marketplace/yclients/install", allow_redirects=False,
                               params={"salon_id": "4242", "user_data": user_data, "user_data_sign": sign})
    assert resp.status == 302
    assert await pool.fetchval("SELECT title FROM companies WHERE salon_id = 4242") == EVIL
    assert await pool.fetchval("SELECT count(*) FROM companies") == 1  # the table is still there
    location = resp.headers["Location"]
    page = await mp.client.get(location[location.index("/marketplace"):])
    html = await page.text()
    assert EVIL not in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    resp = await mp.client.post("/marketplace/webhook/yclients", json={
        "salon_id": 4242, "application_id": 18000, "event": "freeze\u0000", "partner_token": PARTNER_TOKEN})
    assert resp.status == 400 and "NUL" in (await resp.json())["error"]["message"]
    listing = await (await mp.client.get("/marketplace/companies", headers=ADMIN)).json()
    assert listing["companies"][0]["title"] == EVIL  # JSON carries the exact text; pages escape it
    resp = await mp.client.post("/marketplace/webhook/yclients", json={
        "salon_id": 4242, "application_id": 18000, "event": EVIL, "partner_token": PARTNER_TOKEN})
    assert resp.status == 200 and (await resp.json())["result"] == "ignored"
    assert await pool.fetchval("SELECT integration_status FROM companies WHERE salon_id = 4242") == "pending"


def test_client_ip_behind_our_proxy_is_the_hop_the_proxy_added() -> None:
    from aiohttp.test_utils import make_mocked_request

    from web.ws import client_ip

    # The client forged the first hop; nginx appended the real address ($proxy_add_x_forwarded_for).
    request = make_mocked_request("GET", "/marketplace/ws", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})
    assert client_ip(request, trust_forwarded=True) == "203.0.113.9"
    assert client_ip(make_mocked_request("GET", "/", headers={"X-Forwarded-For": " 198.51.100.7 "}), True) == "198.51.100.7"
    assert client_ip(request, trust_forwarded=False) != "6.6.6.6"  # the header is ignored unless trusted
