"""Property run over the /marketplace HTTP API: arbitrary input never gets a 5xx.

Hypothesis generates the requests (paths from the OpenAPI spec and junk ones, bodies of any JSON
shape and random bytes, random credentials); they are replayed against the real app.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PARTNER_TOKEN
from tests.marketplace.support import ADMIN, Mp
from tests.marketplace.test_register_status import token_of

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63) | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=12,
)
fields = st.sampled_from(["salon_id", "phone", "email", "event", "event_type", "partner_token", "application_id",
                          "company_id", "status", "api_key"])
objects = st.dictionaries(fields, json_values, max_size=6)
bodies = st.one_of(objects.map(lambda o: json.dumps(o).encode()), json_values.map(lambda v: json.dumps(v).encode()),
                   st.binary(max_size=64))
segments = st.one_of(st.text(alphabet="abcXYZ019-_.%", min_size=1, max_size=24), st.integers(0, 2**40).map(str))


@st.composite
def requests(draw: Any) -> tuple[str, str, dict[str, str], bytes | None, dict[str, str]]:
    kind = draw(st.sampled_from(["register", "qr", "pairing", "status", "callback", "lifecycle", "companies",
                                 "install", "connect", "ws", "test", "activate"]))
    seg = draw(segments)
    params = draw(st.dictionaries(st.sampled_from(["token", "company_id", "salon_id", "page", "count", "user_data",
                                                   "user_data_sign", "salon_ids[0]", "salon_ids[]"]),
                                  st.text(max_size=30), max_size=3))
    headers = draw(st.sampled_from([{}, ADMIN, {"X-API-Key": "sk_" + seg}, {"Authorization": "Bearer " + seg},
                                    {"Authorization": "Bearer"}, {"Origin": "https://n1.yclients.com"}]))
    body = draw(bodies)
    routes = {
        "register": ("POST", "/marketplace/register"), "qr": ("GET", f"/marketplace/qr/{seg}"),
        "pairing": ("POST", f"/marketplace/pairing-code/{seg}"), "status": ("GET", f"/marketplace/status/{seg}"),
        "callback": ("POST", "/marketplace/callback"), "lifecycle": ("POST", "/marketplace/webhook/yclients"),
        "companies": ("GET", "/marketplace/companies"), "install": ("GET", "/marketplace/yclients/install"),
        "connect": ("GET", "/marketplace/connect"), "ws": ("GET", "/marketplace/ws"),
        "test": ("GET", "/marketplace/test"), "activate": ("POST", f"/marketplace/activate/{seg}"),
    }
    method, path = routes[kind]
    return method, path, params, body if method == "POST" else None, headers


async def test_no_5xx_on_arbitrary_input(mp: Mp) -> None:
    reg = await mp.register(31337)
    cases: list[tuple[str, str, dict[str, str], bytes | None, dict[str, str]]] = []

    @settings(max_examples=int(os.environ.get("MP_FUZZ_EXAMPLES", "250")), deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(requests())
    def collect(case: Any) -> None:
        cases.append(case)

    collect()
    # Valid credentials mixed in, so the handlers behind the auth middleware are exercised too.
    valid = [{"X-API-Key": reg["api_key"]}, {"Authorization": f"Bearer {token_of(reg)}"}]
    for i, (method, path, params, body, headers) in enumerate(cases):
        if i % 3 == 0:
            headers = {**headers, **valid[i % 2]}
        if i % 5 == 0 and "/qr/" in path or "/pairing-code/" in path and i % 2:
            path = path.rsplit("/", 1)[0] + "/" + token_of(reg)
        resp = await mp.client.request(method, path, params=params, data=body, headers=headers,
                                       allow_redirects=False)
        text = await resp.text()
        assert resp.status < 500, (method, path, params, body, headers, resp.status, text[:300])
        if resp.status >= 400 and resp.content_type == "application/json":
            assert json.loads(text)["success"] is False
    assert len(cases) > 100


async def test_openapi_spec_is_served(mp: Mp) -> None:
    spec = await (await mp.client.get("/marketplace/openapi.json")).json()
    assert spec["openapi"].startswith("3.") and "/marketplace/register" in spec["paths"]


async def test_unicode_digits_and_huge_numbers_are_bad_input_not_crashes(mp: Mp) -> None:
    reg = await mp.register(31338)
    key = {"X-API-Key": reg["api_key"]}
    for value in ("¹", "٣", "1" * 5000):
        resp = await mp.client.post("/marketplace/callback", params={"company_id": value}, json={}, headers=key)
        assert resp.status == 403, value
        resp = await mp.client.post("/marketplace/webhook/yclients", json={
            "salon_id": value, "application_id": 18000, "event": "freeze", "partner_token": PARTNER_TOKEN})
        assert resp.status == 400, value
        resp = await mp.client.get("/marketplace/yclients/install", params={"salon_ids[0]": value},
                                   allow_redirects=False)
        assert resp.status == 403, value
