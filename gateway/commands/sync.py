"""`ai-admin sync COMPANY_ID [--what services|staff|schedules|records|company|all]`: sync one
company now and print the report as JSON (exit 0 when every kind synced, 1 otherwise)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from gateway.settings import Settings

WHAT = ("all", "company", "services", "staff", "schedules", "records")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the `sync` subcommand."""
    parser = sub.add_parser("sync", help="sync one company's YClients data now")
    parser.add_argument("company_id", type=int, help="our company id (companies.id)")
    parser.add_argument("--what", choices=WHAT, default="all", help="which data (default: all)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run_sync(settings, args.company_id, args.what))


async def run_sync(settings: Settings, company_id: int, what: str) -> int:
    """Open the stores, run one sync, print the report and the resulting status."""
    import aiohttp

    from gateway.cli_support import open_stores
    from gateway.clock import SystemClock
    from gateway.wiring.sync import build_sync

    async with open_stores(settings) as stores, aiohttp.ClientSession() as session:
        assert stores.redis is not None
        _, _, service, _ = build_sync(settings, session, stores.redis, stores.pool, SystemClock(), None)
        try:
            report = await service.run_once(company_id, what)
        except LookupError as exc:
            print(json.dumps({"success": False, "error": str(exc)}, ensure_ascii=False))
            return 2
        out = {"success": report.ok, "report": report.to_json(), "status": await service.status(company_id)}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0 if report.ok else 1
