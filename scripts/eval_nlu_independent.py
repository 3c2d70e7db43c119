#!/usr/bin/env python3
"""Score the NLU through its public CLI (`ai-admin understand`, the evaluation contract) on a set.

    .venv/bin/python scripts/eval_nlu_independent.py                              # independent.jsonl
    .venv/bin/python scripts/eval_nlu_independent.py tests/booking/nlu_cases/independent2.jsonl --show-errors

Each line of the set is {"text", "now", "expected": {intent, service_ids, staff_id, date, time,
part_of_day}, "why"?}. Messages are fed to `python -m gateway understand` (one process per distinct
`now`) exactly as an outside evaluator would, so the figures cover the CLI too.

Printed: per-field accuracy (a field is right only when equal to the label, an empty label must stay
empty), the "all slots" rate (every field but intent right), the exact-line rate, and intent
accuracy by labelled intent. The product requirement (issue 5): intent >= 90%, each slot >= 80%.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("intent", "service_ids", "staff_id", "date", "time", "part_of_day")
SLOTS = FIELDS[1:]
INTENT_TARGET, SLOT_TARGET = 0.90, 0.80


def load_cases(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL set; a line that is not a valid case stops with its line number."""
    cases = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
            expected = case.get("expected", case.get("expect"))
            missing = [name for name in FIELDS if name not in expected]
        except (ValueError, TypeError, AttributeError) as exc:
            raise SystemExit(f"{path}:{number}: not a case line: {exc}") from exc
        if missing or "\n" in case["text"]:
            raise SystemExit(f"{path}:{number}: missing fields {missing} or a multi-line text")
        case["expected"] = expected
        cases.append(case)
    return cases


def understand_via_cli(texts: list[str], now: str, salon_file: str) -> list[dict[str, Any]]:
    """Run `python -m gateway understand` once over `texts` and return its JSON lines."""
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "understand", "--now", now, "--salon-file", salon_file],
        input="".join(text + "\n" for text in texts),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"understand failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    if len(lines) != len(texts):
        raise SystemExit(f"understand printed {len(lines)} lines for {len(texts)} messages")
    return lines


def score(cases: list[dict[str, Any]], outputs: list[dict[str, Any]], show_errors: bool) -> dict[str, float]:
    """Print the report; return {field: accuracy, "all_slots": ..., "exact": ...}."""
    correct = dict.fromkeys(FIELDS, 0)
    all_slots = exact = 0
    by_intent: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case, got in zip(cases, outputs):
        expected = case["expected"]
        wrong = [name for name in FIELDS if got[name] != expected[name]]
        for name in FIELDS:
            correct[name] += name not in wrong
        all_slots += not any(name in wrong for name in SLOTS)
        exact += not wrong
        tally = by_intent[expected["intent"]]
        tally[0] += "intent" not in wrong
        tally[1] += 1
        if wrong and show_errors:
            details = "; ".join(f"{n}: got {got[n]!r} want {expected[n]!r}" for n in wrong)
            print(f"- {case['text']}\n    {details}")
    total = len(cases)
    result = {name: correct[name] / total for name in FIELDS}
    result["all_slots"] = all_slots / total
    result["exact"] = exact / total
    print(f"cases: {total}")
    for name in FIELDS:
        target = INTENT_TARGET if name == "intent" else SLOT_TARGET
        mark = "ok" if result[name] >= target else "BELOW TARGET"
        print(f"{name:<12} {correct[name]:>4}/{total} = {result[name]:6.1%}  (target {target:.0%}: {mark})")
    print(f"{'all slots':<12} {all_slots:>4}/{total} = {result['all_slots']:6.1%}")
    print(f"{'exact line':<12} {exact:>4}/{total} = {result['exact']:6.1%}")
    print("intent by label: " + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(by_intent.items())))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", default=str(ROOT / "tests/booking/nlu_cases/independent.jsonl"))
    parser.add_argument("--salon-file", default=str(ROOT / "fixtures/demo-salon.json"))
    parser.add_argument("--show-errors", action="store_true", help="print every message with a wrong field")
    args = parser.parse_args(argv)

    cases = load_cases(Path(args.cases))
    by_now: dict[str, list[int]] = defaultdict(list)
    for index, case in enumerate(cases):
        by_now[case["now"]].append(index)
    outputs: list[dict[str, Any]] = [{} for _ in cases]
    for now, indexes in by_now.items():
        lines = understand_via_cli([cases[i]["text"] for i in indexes], now, args.salon_file)
        for index, line in zip(indexes, lines):
            outputs[index] = line
    score(cases, outputs, args.show_errors)
    return 0


if __name__ == "__main__":
    sys.exit(main())
