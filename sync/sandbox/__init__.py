"""A faithful local stand-in for the YClients REST and marketplace partner APIs.

    sandbox = Sandbox(clock=clock, partner_token="p", user_token="u")
    sandbox.add_salon_file("fixtures/demo-salon.json")
    app = build_app(sandbox)   # REST under /api/v1, partner routes under /marketplace

Tests run it on a TestServer; demo mode mounts it under `/sandbox/yclients/`.
"""

from __future__ import annotations

from aiohttp import web

from sync.sandbox.core import Fault, RecordedRequest, Sandbox
from sync.sandbox.http import SANDBOX, sandbox_middleware
from sync.sandbox.partner import signed_install_url
from sync.sandbox.state import SandboxSalon, generated_salon

__all__ = [
    "SANDBOX",
    "Fault",
    "RecordedRequest",
    "Sandbox",
    "SandboxSalon",
    "build_app",
    "generated_salon",
    "signed_install_url",
]


def build_app(sandbox: Sandbox) -> web.Application:
    """The sandbox as an aiohttp application (mountable as a sub-application)."""
    from sync.sandbox import partner, rest

    app = web.Application(middlewares=[sandbox_middleware], client_max_size=1024 * 1024)
    app[SANDBOX] = sandbox
    app.add_routes(rest.routes())
    app.add_routes(partner.routes())
    return app
