#!/usr/bin/env python3
"""Benchmark of the NLU rule engine: per-message latency after warm-up, throughput, catalog compile.

    .venv/bin/python scripts/bench/nlu.py [--rounds 20] [--salons 100]

Messages: every case set in tests/booking/nlu_cases (dev and held-out, ~540 client messages). The
engine runs on one core in this process; the figures are for one engine (the daemon keeps one per
process).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from booking.model import SalonCatalog
from booking.nlu import NluEngine


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the message set")
    parser.add_argument("--salons", type=int, default=100, help="distinct catalogs for the multi-salon run")
    args = parser.parse_args(argv)

    base = SalonCatalog.from_salon_file(ROOT / "fixtures" / "demo-salon.json")
    messages: list[tuple[str, datetime]] = []
    for path in sorted((ROOT / "tests/booking/nlu_cases").glob("*.jsonl")):
        for line in path.read_text("utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                messages.append((case["text"], datetime.fromisoformat(case["now"])))

    started = time.perf_counter()
    engine = NluEngine()
    engine.understand("здравствуйте", messages[0][1], base)
    cold_ms = (time.perf_counter() - started) * 1000

    for text, now in messages:  # warm the per-word caches
        engine.understand(text, now, base)

    latencies_us: list[float] = []
    cpu_started = time.process_time()
    wall_started = time.perf_counter()
    for _ in range(args.rounds):
        for text, now in messages:
            t0 = time.perf_counter()
            engine.understand(text, now, base)
            latencies_us.append((time.perf_counter() - t0) * 1e6)
    wall_s = time.perf_counter() - wall_started
    cpu_s = time.process_time() - cpu_started

    catalogs = [dataclasses.replace(base, salon_id=base.salon_id + i) for i in range(args.salons)]
    compile_started = time.perf_counter()
    for catalog in catalogs:
        engine.understand("маникюр", messages[0][1], catalog)
    compile_ms = (time.perf_counter() - compile_started) * 1000 / len(catalogs)
    multi_us: list[float] = []
    for i, (text, now) in enumerate(messages * 4):
        t0 = time.perf_counter()
        engine.understand(text, now, catalogs[i % len(catalogs)])
        multi_us.append((time.perf_counter() - t0) * 1e6)

    count = len(latencies_us)
    print(f"messages: {len(messages)} x {args.rounds} rounds = {count}")
    print(f"first message (analyzer load + catalog compile): {cold_ms:.0f} ms")
    p50, p90, p99 = (_percentile(latencies_us, q) for q in (0.5, 0.9, 0.99))
    print(f"warm latency us: p50 {p50:.0f}  p90 {p90:.0f}  p99 {p99:.0f}  max {max(latencies_us):.0f}")
    print(f"throughput: {count / wall_s:.0f} msg/s on one core; CPU {cpu_s / count * 1e6:.0f} us per message")
    print(f"catalog compile: {compile_ms:.1f} ms per salon ({args.salons} salons, once each)")
    print(
        f"{args.salons} salons interleaved, warm: p50 {statistics.median(multi_us):.0f} us"
        f"  p99 {_percentile(multi_us, 0.99):.0f} us"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
