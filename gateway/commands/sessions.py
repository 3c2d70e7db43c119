"""`ai-admin sessions list|show|start|stop|logout COMPANY_ID`.

`start`/`stop`/`logout` store the desired state in Postgres and send a control message on Redis
(`sessions.keys.control_channel`) that every running daemon listens to; with no daemon running,
the desired state is applied at its next start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, TextIO

from gateway.settings import Settings


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the `sessions` subcommand."""
    parser = sub.add_parser("sessions", help="WhatsApp sessions: list, show, start, stop, logout")
    actions = parser.add_subparsers(dest="action", required=True)
    lst = actions.add_parser("list", help="every stored session")
    lst.add_argument("--json", action="store_true", help="JSON output")
    for name, text in (("show", "one session in detail"), ("start", "desired running; start it now"),
                       ("stop", "desired stopped; disconnect keeping credentials"),
                       ("logout", "unlink the device and delete its credentials")):
        p = actions.add_parser(name, help=text)
        p.add_argument("company_id", type=int)
        if name == "show":
            p.add_argument("--json", action="store_true", help="JSON output")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run(settings, args.action, getattr(args, "company_id", None),
                           as_json=getattr(args, "json", False)))


async def run(settings: Settings, action: str, company_id: int | None, *, as_json: bool = False,
              out: TextIO | None = None) -> int:
    """Run one sessions command against the stores; returns the exit code."""
    from gateway.cli_support import open_stores
    from sessions.manager import send_control
    from sessions.store import SessionStore

    out = out or sys.stdout
    async with open_stores(settings) as stores:
        store = SessionStore(stores.pool)
        if action == "list":
            rows = await store.list_sessions()
            if as_json:
                print(json.dumps([_row_json(r) for r in rows], ensure_ascii=False), file=out)
            else:
                print(f"{'company':>8}  {'state':<16} {'desired':<8} {'phone':<16} reason", file=out)
                for r in rows:
                    print(f"{r.company_id:>8}  {r.state:<16} {r.desired:<8} {r.phone or '-':<16} {r.reason or ''}",
                          file=out)
            return 0
        assert company_id is not None
        if not await store.company_exists(company_id):
            print(f"no company {company_id}", file=sys.stderr)
            return 1
        if action == "show":
            row = await store.get_session(company_id)
            data = _row_json(row) if row else {"company_id": company_id, "state": "STOPPED", "desired": "stopped"}
            # 'uncertain' sends (outcome unknown, never resent) and 'dead' ones need a person's look.
            data["outbox"] = await store.outbox_counts(company_id)
            if as_json:
                print(json.dumps(data, ensure_ascii=False), file=out)
            else:
                for key, value in data.items():
                    if isinstance(value, dict):
                        value = ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or None
                    print(f"{key:>14}: {value if value is not None else '-'}", file=out)
            return 0
        from gateway.clock import SystemClock

        desired = "running" if action == "start" else "stopped"
        await store.set_desired(company_id, desired, SystemClock().now())
        assert stores.redis is not None
        listeners = await send_control(stores.redis, company_id, action)
        if listeners:
            print(f"{action}: sent to {listeners} running daemon(s); desired state {desired}", file=out)
        else:
            print(f"{action}: no daemon is running; desired state {desired} applies at its next start", file=out)
            if action == "logout":
                print("note: credentials are deleted only by a running daemon", file=out)
        return 0


def _row_json(row: Any) -> dict[str, Any]:
    return {
        "company_id": row.company_id, "state": row.state, "reason": row.reason, "desired": row.desired,
        "phone": row.phone, "jid": row.jid, "attempts": row.attempts, "last_error": row.last_error,
        "connected_at": row.connected_at.isoformat() if row.connected_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }
