"""The independent sets (tests/booking/nlu_cases/independent*.jsonl) as regression cases.

These messages were written by a second engineer without reading the rules (see the README there);
their figures are measured by scripts/eval_nlu_independent.py. Here every line is a test, so a rule
change that breaks one is caught. The lines the engine still gets wrong are listed in KNOWN_MISSES
with the reason; they are xfailed, and `test_known_misses_are_still_misses` fails once a rule fixes
one (so the list stays true).
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
FIELDS = ("intent", "service_ids", "staff_id", "date", "time", "part_of_day")

# text -> why the engine still gets it wrong (kept visible, not hidden by relabelling)
KNOWN_MISSES: dict[str, str] = {
    "в 18 не успеваю, давайте лучше в 19:30": (
        "context decides: a refused offer (book, the dev set's reading of 'в 18 не успеть, давайте в 19')"
        " or a booked visit (reschedule, this label)"
    ),
    "у меня аллергия на лак, это нормально?": "a question about a product reads as a gel manicure booking",
    # set 2 (measured unseen; left as found, not tuned on)
    "Катюша, запиши меня пожалуйста в воскресенье на ноготочки без покрытия к часу": "'к часу' gives no time",
    "мы с мужем не сможем в воскресенье, снимите запись": "'снимите' (take the booking off) reads as a gel removal",
    "сколько по деньгам окрашивание": "'сколько по деньгам' is not a price phrase; the service makes it a booking",
}


def _load() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(CASES_DIR.glob("independent*.jsonl")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if line.strip():
                cases.append((f"{path.stem}:{number}", json.loads(line)))
    return cases


CASES = _load()


@pytest.fixture(scope="module")
def engine() -> NluEngine:
    return NluEngine()


@pytest.fixture(scope="module")
def catalog() -> SalonCatalog:
    return SalonCatalog.from_salon_file(ROOT / "fixtures" / "demo-salon.json")


def test_the_sets_are_well_formed() -> None:
    assert len(CASES) >= 150
    texts = [case["text"] for _, case in CASES]
    assert len(set(texts)) == len(texts), "a message is in the sets twice"
    assert set(KNOWN_MISSES) <= set(texts), "a known miss is not in the sets"
    for _, case in CASES:
        assert set(case["expected"]) == set(FIELDS), case["text"]
        assert case["expected"]["service_ids"] == sorted(case["expected"]["service_ids"]), case["text"]


@pytest.mark.parametrize("name,case", CASES, ids=[name for name, _ in CASES])
def test_case(name: str, case: dict[str, Any], engine: NluEngine, catalog: SalonCatalog) -> None:
    if case["text"] in KNOWN_MISSES:
        pytest.xfail(KNOWN_MISSES[case["text"]])
    result = engine.understand(case["text"], datetime.fromisoformat(case["now"]), catalog)
    assert result.to_eval_json() == case["expected"], case.get("why", case["text"])


@pytest.mark.parametrize("text", sorted(KNOWN_MISSES))
def test_known_misses_are_still_misses(text: str, engine: NluEngine, catalog: SalonCatalog) -> None:
    """When a rule fixes a known miss, move it out of KNOWN_MISSES (this test then fails to say so)."""
    case = next(case for _, case in CASES if case["text"] == text)
    result = engine.understand(text, datetime.fromisoformat(case["now"]), catalog)
    assert result.to_eval_json() != case["expected"]
