"""Table-driven tests of the rule engine over realistic client messages (tests/booking/nlu_cases/dev*.jsonl).

Each case gives the message, the moment it was sent and the expected evaluation line; every field
of the line is compared (an omitted slot must come out empty), plus the client's name when given.
The held-out set (heldout.jsonl) is NOT tested here: it is measured by scripts/eval_nlu.py.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from booking.model import SalonCatalog
from booking.nlu import NluEngine

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = Path(__file__).parent / "nlu_cases"


def _load_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(CASES_DIR.glob("dev*.jsonl")):  # never heldout.jsonl
        cases += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return cases


CASES = _load_cases()


@pytest.fixture(scope="module")
def engine() -> NluEngine:
    return NluEngine()


@pytest.fixture(scope="module")
def catalog() -> SalonCatalog:
    return SalonCatalog.from_salon_file(ROOT / "fixtures" / "demo-salon.json")


def test_the_set_is_big_and_varied() -> None:
    assert len(CASES) >= 150
    intents = {case["expect"]["intent"] for case in CASES}
    assert intents >= {
        "book",
        "reschedule",
        "cancel",
        "prices",
        "services",
        "my_records",
        "hours_address",
        "greeting",
        "thanks",
        "human",
        "confirm",
        "decline",
        "other",
    }


@pytest.mark.parametrize("case", CASES, ids=[f"case{i:03d}" for i in range(len(CASES))])
def test_case(case: dict[str, Any], engine: NluEngine, catalog: SalonCatalog) -> None:
    now = datetime.fromisoformat(case["now"])
    result = engine.understand(case["text"], now, catalog, context=case.get("context"))
    expect = dict(case["expect"])
    has_name = "client_name" in expect
    name = expect.pop("client_name", None)
    assert result.to_eval_json() == expect, case["text"]
    if has_name:  # a case may expect no name at all (null)
        assert result.client_name == name, case["text"]
