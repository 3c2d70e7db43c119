"""`GET /marketplace/qr/{token}` and `POST /marketplace/pairing-code/{token}`."""

from __future__ import annotations

import base64
import io

from PIL import Image

from tests.marketplace.support import Mp
from tests.marketplace.test_register_status import token_of


def png_of(data_url: str) -> Image.Image:
    assert data_url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


async def test_qr_is_a_png_data_url_and_rotates(mp: Mp) -> None:
    reg = await mp.register(501)
    token = token_of(reg)
    resp = await mp.client.get(f"/marketplace/qr/{token}")
    body = await resp.json()
    assert resp.status == 200 and body["success"] is True
    assert body["expires_in"] == 20
    image = png_of(body["qr"])
    assert image.format == "PNG" and image.size[0] > 100
    await mp.clock.advance(5)
    body2 = await (await mp.client.get(f"/marketplace/qr/{token}")).json()
    assert body2["qr"] == body["qr"] and body2["expires_in"] == 15
    await mp.sessions.rotate(reg["company_id"])
    body3 = await (await mp.client.get(f"/marketplace/qr/{token}")).json()
    assert body3["qr"] != body["qr"] and body3["expires_in"] == 20


async def test_qr_202_while_none_and_after_expiry(mp: Mp) -> None:
    reg = await mp.register(502)
    token = token_of(reg)
    await mp.clock.advance(21)  # the QR expired and nobody rotated it
    resp = await mp.client.get(f"/marketplace/qr/{token}")
    body = await resp.json()
    assert resp.status == 202
    assert body["success"] is False and body["error"]["code"] == "qr_not_ready"
    assert body["state"] == "SCAN_QR"


async def test_qr_and_pairing_reject_foreign_or_bad_tokens(mp: Mp) -> None:
    a, b = await mp.register(601), await mp.register(602)
    ta = token_of(a)
    resp = await mp.client.get(f"/marketplace/qr/{ta}", params={"company_id": str(b["company_id"])})
    assert resp.status == 403
    resp = await mp.client.post(f"/marketplace/pairing-code/{ta}", params={"company_id": str(b["company_id"])},
                                json={"phone": "+79001234567"})
    assert resp.status == 403
    assert (await mp.client.get("/marketplace/qr/not-a-token")).status == 401
    assert (await mp.client.get(f"/marketplace/qr/{ta[:-3]}abc")).status == 401
    assert (await mp.client.get(f"/marketplace/qr/{ta}", params={"company_id": str(a["company_id"])})).status == 200


async def test_pairing_code(mp: Mp) -> None:
    reg = await mp.register(701)
    token = token_of(reg)
    resp = await mp.client.post(f"/marketplace/pairing-code/{token}", json={"phone": "+7 (900) 123-45-67"})
    body = await resp.json()
    assert resp.status == 200
    assert body == {"success": True, "code": "ABCD-EFGH", "expires_in": 60}
    for bad in ({"phone": "89001234567"}, {"phone": 79001234567}, {}, {"phone": "<script>"}):
        resp = await mp.client.post(f"/marketplace/pairing-code/{token}", json=bad)
        assert resp.status == 400, bad
        assert (await resp.json())["success"] is False
    resp = await mp.client.post(f"/marketplace/pairing-code/{token}", data=b"{not json",
                                headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"
