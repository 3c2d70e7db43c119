"""Demo mode (`ai-admin serve --demo`, what `make run` starts): the demo salon, ready to connect.

The other wiring modules already switch to demo behaviour on `settings.demo` (the YClients sandbox
mounted under /sandbox/yclients/ and used by the client, the simulator transport and /sim API).
Here, once sessions are restored, the salon of fixtures/demo-salon.json is registered (or found),
its company info filled from the fixture, its session started, and the URLs printed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from gateway.appkeys import READINESS, SETTINGS
from marketplace.appkeys import MARKETPLACE

log = structlog.get_logger(__name__)

DEMO_EMAIL = "demo@ai-admin.app"


def load_demo_salon() -> dict[str, Any]:
    """The demo salon fixture (fixtures/demo-salon.json next to the packages)."""
    path = Path(__file__).resolve().parents[2] / "fixtures" / "demo-salon.json"
    if not path.exists():  # installed as a wheel: packaged copy
        return json.loads(resources.files("sync").joinpath("demo-salon.json").read_text("utf-8"))
    return json.loads(path.read_text("utf-8"))


def install(app: web.Application) -> None:
    """In demo mode, register the demo salon and print the URLs after startup."""
    if app[SETTINGS].demo:
        app.cleanup_ctx.append(_demo_ctx)


async def _demo_ctx(app: web.Application) -> AsyncIterator[None]:
    async def prepare() -> None:
        await prepare_demo_salon(app)

    app[READINESS].hooks.append(("demo_salon", prepare))
    yield


async def prepare_demo_salon(app: web.Application) -> dict[str, Any]:
    """Register (once) and connect-ready the demo salon; print and return its URLs."""
    settings = app[SETTINGS]
    service = app[MARKETPLACE]
    salon = load_demo_salon()["company"]
    salon_id = int(salon["id"])
    api_key = None
    if await service.store.by_salon(salon_id) is None:
        registration = await service.register(salon_id, salon["phone"], DEMO_EMAIL, actor="demo")
        api_key = registration.api_key
    company, _ = await service.store.upsert_installed(
        salon_id,
        {
            "title": salon["title"],
            "phone": salon["phone"],
            "address": salon["address"],
            "timezone_name": salon["timezone_name"],
        },
    )
    token = await service.issue_connect_token(company)
    await service.ensure_session(company)
    base = settings.effective_public_base_url()
    urls = {
        "company_id": company.id,
        "connect_url": service.connect_url(token),
        "simulator_url": f"{base}/sim/{company.id}",
        "sandbox_url": f"{base}/sandbox/yclients/api/v1/company/{salon_id}",
        "status_url": f"{base}/marketplace/status/{company.id}?token={token}",
    }
    lines = [
        "",
        "=" * 72,
        f"  AI Admin demo — {salon['title']} (company_id {company.id}, YClients salon {salon_id})",
        f"  Connect page (scan the QR):   {urls['connect_url']}",
        f"  Simulator phone (scan, chat): {urls['simulator_url']}",
        f"  Salon status:                 {urls['status_url']}",
        f"  YClients sandbox:             {urls['sandbox_url']}",
        f"  Admin API key (X-API-Key):    {settings.admin_api_key}",
    ]
    if api_key:
        lines.append(f"  Salon API key (shown once):   {api_key}")
    lines += ["=" * 72, ""]
    print("\n".join(lines), flush=True)
    log.info("demo_ready", company_id=company.id, salon_id=salon_id)
    return urls
