"""Marketplace micro-benchmarks: QR PNG rendering, connect-token issue/verify, install signature check.

Prints figures (no assertions). Run: .venv/bin/python scripts/bench/marketplace.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from marketplace.qrimage import QrRenderer
from marketplace.signing import sign_user_data, verify_user_data
from marketplace.tokens import decode_token, issue_token

QR = "2@" + "x" * 100 + ",AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/=,QWERTYUIOPasdfghjklzxcvbnm1234567890+/=,abcdefgh=="


def timed(n: int, fn) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    print(f"{name:<34} n={len(ms):<6} p50={statistics.median(ms):.3f} ms  p95={ms[int(len(ms) * .95) - 1]:.3f} ms"
          f"  max={ms[-1]:.3f} ms")


def main() -> None:
    renderer = QrRenderer(cache_size=8)
    report("qr png render (new code)", timed(200, lambda i: renderer.data_url(f"{QR}{i}")))
    renderer.data_url(QR)
    report("qr png render (cached, fan-out)", timed(5000, lambda i: renderer.data_url(QR)))
    secret = "s" * 32
    tokens = [issue_token(secret, i, now_s=time.time(), ttl_s=86400, generation=1) for i in range(2000)]
    report("jwt issue", timed(2000, lambda i: issue_token(secret, i, now_s=time.time(), ttl_s=86400, generation=1)))
    report("jwt verify", timed(2000, lambda i: decode_token(secret, tokens[i], now_s=time.time())))
    data, sign = sign_user_data({"id": 1, "name": "Иван", "salon_name": "Салон"}, "partner-token")
    report("user_data_sign verify", timed(5000, lambda i: verify_user_data(data, sign, "partner-token")))


if __name__ == "__main__":
    main()
