#!/usr/bin/env python3
"""Measure the rule engine on a labelled message set: intent accuracy and per-slot accuracy.

    .venv/bin/python scripts/eval_nlu.py                      # the held-out set
    .venv/bin/python scripts/eval_nlu.py tests/booking/nlu_cases/dev.jsonl --show-errors

A slot is correct when the output equals the label exactly (an empty slot must stay empty), so a
message with no service counts for `service_ids` too. Also prints the slot accuracy over messages
whose label has that slot (recall-like), the exact-line rate, and the per-message latency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from booking.model import SalonCatalog
from booking.nlu import NluEngine

FIELDS = ("intent", "service_ids", "staff_id", "date", "time", "part_of_day")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", default=str(ROOT / "tests/booking/nlu_cases/heldout.jsonl"))
    parser.add_argument("--salon-file", default=str(ROOT / "fixtures/demo-salon.json"))
    parser.add_argument("--show-errors", action="store_true", help="print every message with a wrong field")
    args = parser.parse_args(argv)

    catalog = SalonCatalog.from_salon_file(args.salon_file)
    cases = [json.loads(line) for line in Path(args.cases).read_text("utf-8").splitlines() if line.strip()]
    engine = NluEngine()
    engine.understand("прогрев", datetime.fromisoformat("2026-11-23T10:00:00+03:00"), catalog)

    correct = dict.fromkeys(FIELDS, 0)
    present = dict.fromkeys(FIELDS, 0)
    present_correct = dict.fromkeys(FIELDS, 0)
    names_total = names_ok = exact = 0
    latencies_ms: list[float] = []
    for case in cases:
        now = datetime.fromisoformat(case["now"])
        started = time.perf_counter()
        result = engine.understand(case["text"], now, catalog, context=case.get("context"))
        latencies_ms.append((time.perf_counter() - started) * 1000)
        got = result.to_eval_json()
        expect = case["expect"]
        wrong = []
        for name in FIELDS:
            ok = got[name] == expect[name]
            correct[name] += ok
            if expect[name] not in (None, []):
                present[name] += 1
                present_correct[name] += ok
            if not ok:
                wrong.append(f"{name}: got {got[name]!r}, want {expect[name]!r}")
        if "client_name" in expect:
            names_total += 1
            if result.client_name == expect["client_name"]:
                names_ok += 1
            else:
                wrong.append(f"client_name: got {result.client_name!r}, want {expect['client_name']!r}")
        exact += not wrong
        if wrong and args.show_errors:
            print(f"- {case['text']}\n    " + "\n    ".join(wrong))

    total = len(cases)
    print(f"cases: {total} ({args.cases})")
    print(f"{'field':<13} {'accuracy':>9}   {'when labelled':>15}")
    for name in FIELDS:
        labelled = (
            f"{present_correct[name]}/{present[name]} = {present_correct[name] / present[name]:.1%}"
            if present[name]
            else "-"
        )
        print(f"{name:<13} {correct[name] / total:>9.1%}   {labelled:>15}")
    if names_total:
        print(f"{'client_name':<13} {names_ok / names_total:>9.1%}   ({names_ok}/{names_total})")
    print(f"exact lines   {exact / total:>9.1%}")
    latencies_ms.sort()
    p99 = latencies_ms[min(len(latencies_ms) - 1, int(len(latencies_ms) * 0.99))]
    p50 = statistics.median(latencies_ms)
    print(f"latency ms    p50 {p50:.3f}  p99 {p99:.3f}  (first pass, per-word caches cold)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
