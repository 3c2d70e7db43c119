"""`ai-admin companies list [--salon-id N] [--json]`, `companies show ID [--salon]` and
`companies set-installer ID USER_ID|--clear`.

Views of the `companies` table for operators, and the one override support needs: who owns a
salon's install redirects (marketplace/claims.py). Every call is written to `audit_log`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from gateway.clock import SystemClock
from gateway.settings import Settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the `companies` subcommand."""
    parser = sub.add_parser("companies", help="list or show salons (companies)")
    cmds = parser.add_subparsers(dest="companies_command", required=True)
    lst = cmds.add_parser("list", help="totals and a page of companies")
    lst.add_argument("--salon-id", type=int, default=None, help="only this YClients salon")
    lst.add_argument("--page", type=int, default=1)
    lst.add_argument("--count", type=int, default=50)
    lst.add_argument("--json", action="store_true", help="print JSON instead of a table")
    lst.set_defaults(func=_list)
    show = cmds.add_parser("show", help="one company: status, WhatsApp, audit trail")
    show.add_argument("id", type=int, help="our company id (or a salon id with --salon)")
    show.add_argument("--salon", action="store_true", help="ID is a YClients salon id")
    show.set_defaults(func=_show)
    owner = cmds.add_parser("set-installer", help="set (or clear) the YClients user whose install redirects get a "
                                                  "connect link for this salon")
    owner.add_argument("id", type=int, help="our company id")
    owner.add_argument("user_id", nargs="?", default=None, help="YClients user id (user_data id)")
    owner.add_argument("--clear", action="store_true", help="forget the installer: the next install redirect takes it "
                                                          "(only while the salon is pending)")
    owner.set_defaults(func=_set_installer)


def _clock(settings: Settings) -> SystemClock:
    """The daemon's clock outside the daemon (DEMO_NOW in demo mode), for the audit rows written here."""
    return SystemClock(settings.demo_now if settings.demo else None)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(list_companies(settings, args.salon_id, max(1, args.page), max(1, min(args.count, 500)),
                                      as_json=args.json))


def _show(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(show_company(settings, args.id, by_salon=args.salon))


def _set_installer(args: argparse.Namespace, settings: Settings) -> int:
    if (args.user_id is None) == (not args.clear):
        print("give a USER_ID or --clear")
        return 2
    return asyncio.run(set_installer(settings, args.id, None if args.clear else str(args.user_id)))


async def set_installer(settings: Settings, company_id: int, user_id: str | None) -> int:
    """Record who may install this salon (exit 1 when the company is unknown)."""
    from gateway.cli_support import open_stores
    from marketplace.store import MarketplaceStore

    async with open_stores(settings, redis=False) as stores:
        store = MarketplaceStore(stores.pool, _clock(settings))
        if not await store.set_installer(company_id, user_id[:64] if user_id else None):
            print(json.dumps({"success": False, "error": "company not found"}))
            return 1
        await store.audit("admin:cli", "set_installer", company_id, {"installed_by_user_id": user_id})
    print(json.dumps({"success": True, "company_id": company_id, "installed_by_user_id": user_id}))
    return 0


async def list_companies(settings: Settings, salon_id: int | None, page: int, count: int, *, as_json: bool) -> int:
    """Print totals and one page."""
    from gateway.cli_support import open_stores
    from marketplace.store import MarketplaceStore

    async with open_stores(settings, redis=False) as stores:
        store = MarketplaceStore(stores.pool, _clock(settings))
        stats = await store.stats()
        rows = await store.page(salon_id=salon_id, limit=count, offset=(page - 1) * count)
        await store.audit("admin:cli", "companies_list", None, {"page": page, "salon_id": salon_id})
    if as_json:
        print(json.dumps({"success": True, "stats": stats, "page": page, "count": len(rows), "companies": [
            {"company_id": c.id, "salon_id": c.salon_id, "title": c.title, "integration_status": c.integration_status,
             "whatsapp_connected": c.whatsapp_connected, "whatsapp_phone": c.whatsapp_phone} for c in rows]},
            ensure_ascii=False, indent=2))
        return 0
    by_status = ", ".join(f"{k}={v}" for k, v in sorted(stats["by_status"].items())) or "-"
    print(f"total={stats['total']} connected={stats['connected']} ({by_status})")
    print(f"{'ID':>8} {'SALON':>10} {'STATUS':<18} {'WA':<3} {'PHONE':<16} TITLE")
    for c in rows:
        print(f"{c.id:>8} {c.salon_id:>10} {c.integration_status:<18} {'yes' if c.whatsapp_connected else 'no':<3} "
              f"{c.whatsapp_phone or '-':<16} {c.title or ''}")
    return 0


async def show_company(settings: Settings, ident: int, *, by_salon: bool) -> int:
    """Print one company as JSON (exit 1 when unknown)."""
    from gateway.cli_support import open_stores
    from marketplace.store import MarketplaceStore

    async with open_stores(settings, redis=False) as stores:
        store = MarketplaceStore(stores.pool, _clock(settings))
        company = await (store.by_salon(ident) if by_salon else store.get(ident))
        if company is None:
            print(json.dumps({"success": False, "error": "company not found"}))
            return 1
        await store.audit("admin:cli", "company_show", company.id)
        trail = await store.audit_rows(company.id)
    out = {"success": True, "company": {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                        for k, v in company.__dict__.items()},
           "audit": [{"at": r["at"].isoformat(), "actor": r["actor"], "action": r["action"]} for r in trail[-20:]]}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0
