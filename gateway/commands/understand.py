"""`ai-admin understand`: the evaluation interface of the rule engine (DESIGN.md section 8, contract).

    ai-admin understand --now 2026-11-23T10:00:00+03:00 --salon-file fixtures/demo-salon.json < messages.txt

Reads one message per line on stdin, writes one JSON object per line on stdout
(`Understanding.to_eval_json()`); an empty line gives an "other" line so output stays aligned with
input. Needs no Postgres or Redis.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import IO, Any

from booking.model import SalonCatalog, Understanding


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the `understand` subcommand."""
    parser = sub.add_parser(
        "understand",
        help="read messages (one per line) on stdin, print their understanding as JSON lines",
    )
    parser.add_argument(
        "--now", required=True, help="the current moment, ISO 8601 (e.g. 2026-11-23T10:00:00+03:00)"
    )
    parser.add_argument("--salon-file", required=True, help="the salon in the demo-salon.json format")
    parser.add_argument(
        "--context", default=None, help='optional dialogue context as JSON, e.g. {"expecting": "name"}'
    )
    parser.set_defaults(func=_understand)


def _parse_now(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise SystemExit(f"ai-admin understand: --now is not an ISO 8601 moment: {value!r}") from exc


def run(
    lines: IO[str], out: IO[str], now: datetime, catalog: SalonCatalog, context: dict[str, Any] | None
) -> int:
    """Understand every line of `lines`, writing one JSON line each to `out`; returns the count."""
    from booking.nlu import NluEngine

    engine = NluEngine()
    count = 0
    for line in lines:
        text = line.rstrip("\r\n")
        if text.strip():
            result = engine.understand(text, now, catalog, context=context)
        else:
            result = Understanding(intent="other")
        out.write(json.dumps(result.to_eval_json(), ensure_ascii=False) + "\n")
        out.flush()
        count += 1
    return count


def _understand(args: argparse.Namespace, settings: object) -> int:
    now = _parse_now(args.now)
    try:
        catalog = SalonCatalog.from_salon_file(args.salon_file)
    except (OSError, ValueError, KeyError) as exc:
        print(f"ai-admin understand: cannot read the salon file {args.salon_file!r}: {exc}", file=sys.stderr)
        return 2
    context = None
    if args.context:
        try:
            context = json.loads(args.context)
        except ValueError as exc:
            print(f"ai-admin understand: --context is not JSON: {exc}", file=sys.stderr)
            return 2
    # Messages are UTF-8 whatever the locale; a broken byte must not lose the line.
    for stream in (sys.stdin, sys.stdout):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(encoding="utf-8", errors="replace")
    run(sys.stdin, sys.stdout, now, catalog, context)
    return 0
