"""The connect page in a real headless Chromium (Debian `chromium`, driven by Playwright).

A real server on a free port with the real clock and short simulator QR timings: the page shows
the QR, shows the next one when WhatsApp (the simulator) rotates it, and the success view after
`POST /sim/{id}/scan`. Skipped, with the reason, where Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import urlsplit

import pytest

from gateway.clock import SystemClock
from tests.conftest import app_of
from tests.marketplace.support import ADMIN, isolate_company_ids
from tests.web.test_flow import add_sandbox_salon

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.browser


def _skip_reason() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return "Chromium is not installed (apt-get install -y chromium; `make browser`)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Python playwright is not installed (pip install playwright; `make browser`)"
    return None


async def test_connect_page_in_chromium(make_client, database_url) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    await isolate_company_ids(database_url)
    client = await make_client(demo=True, app_clock=SystemClock(), sim_qr_first_s=3.0, sim_qr_next_s=2.0,
                               sim_qr_count=20)
    app = app_of(client)
    add_sandbox_salon(app, 880100, "Салон Браузер")
    resp = await client.post("/marketplace/register", headers=ADMIN,
                             json={"salon_id": 880100, "phone": "+79001234567", "email": "browser@example.com"})
    reg = await resp.json()
    connect_url = reg["connect_url"]
    assert urlsplit(connect_url).port == client.port

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, args=ARGS,
                                           headless=True)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            sockets: list[str] = []  # the live updates must come over the WebSocket CSP connect-src allows
            page.on("websocket", lambda ws: sockets.append(ws.url))
            await page.goto(connect_url, timeout=15000)
            assert "Салон Браузер" in await page.inner_text("#salon-title")
            assert "Связанные устройства" in await page.inner_text("body")
            await page.wait_for_function(
                "() => (document.querySelector('#qr').getAttribute('src') || '').startsWith('data:image/png')",
                timeout=15000)
            first = await page.get_attribute("#qr", "src")
            # WhatsApp rotates the QR: the page shows the new one (bounded wait, Playwright's own timeout).
            await page.wait_for_function(
                "(old) => { const s = document.querySelector('#qr').getAttribute('src'); return s && s !== old; }",
                arg=first, timeout=15000)
            scan = await client.post(f"/sim/{reg['company_id']}/scan", json={"phone": "+79005550099"})
            assert scan.status == 200
            await page.wait_for_selector("#success-view", state="visible", timeout=15000)
            # The success view opens on the CONNECTED state; the phone arrives with the `connected` message after it.
            await page.wait_for_function(
                "() => document.querySelector('#connected-phone').textContent.includes('+79005550099')",
                timeout=15000)
            assert await page.is_hidden("#connect-view")
            assert not [e for e in errors if "Content Security Policy" in e], errors
            assert sockets and all("/marketplace/ws" in url for url in sockets), sockets
        finally:
            await browser.close()


async def test_connect_page_falls_back_to_polling_without_websocket(make_client, database_url) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    await isolate_company_ids(database_url)
    client = await make_client(demo=True, app_clock=SystemClock(), sim_qr_first_s=60.0)
    app = app_of(client)
    add_sandbox_salon(app, 880101, "Салон Без Сокета")
    resp = await client.post("/marketplace/register", headers=ADMIN,
                             json={"salon_id": 880101, "phone": "+79001234567", "email": "poll@example.com"})
    reg = await resp.json()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, args=ARGS,
                                           headless=True)
        try:
            page = await browser.new_page()
            # A proxy that kills WebSockets: the page must poll /marketplace/qr/{token} instead.
            await page.route_web_socket("**/marketplace/ws*", lambda ws: ws.close())
            qr_polls: list[str] = []
            page.on("request", lambda r: qr_polls.append(r.url) if "/marketplace/qr/" in r.url else None)
            await page.goto(reg["connect_url"], timeout=15000)
            await page.wait_for_function(
                "() => (document.querySelector('#qr').getAttribute('src') || '').startsWith('data:image/png')",
                timeout=15000)
            assert qr_polls, "the QR should have come from polling"
            scan = await client.post(f"/sim/{reg['company_id']}/scan", json={"phone": "+79005550098"})
            assert scan.status == 200
            await page.wait_for_selector("#success-view", state="visible", timeout=15000)
            await page.wait_for_function(
                "() => document.querySelector('#connected-phone').textContent === '+79005550098'", timeout=15000)
        finally:
            await browser.close()
