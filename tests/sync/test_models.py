"""Lenient converters of YClients values: junk becomes None/default, never an exception."""

from __future__ import annotations

import pytest

from sync.models import as_date, as_datetime, as_int


@pytest.mark.parametrize("value", ["1e999", "inf", "-inf", float("inf"), "nan", [1], {"a": 1}, "x", ""])
def test_as_int_never_raises(value: object) -> None:
    assert as_int(value, 7) == 7


@pytest.mark.parametrize("value", [1e308, -1e308, 10**30])
def test_out_of_range_timestamps_are_none(value: float) -> None:
    assert as_datetime(value) is None
    assert as_date(value) is None


def test_normal_values_still_convert() -> None:
    assert as_int("42") == 42 and as_int(3.9) == 3
    assert as_datetime(0).isoformat() == "1970-01-01T00:00:00+00:00"  # type: ignore[union-attr]
    assert str(as_date("2026-11-23T10:00:00+03:00")) == "2026-11-23"


def test_a_bad_string_deep_in_the_body_is_found() -> None:
    from sync.jsonbody import BadJson, parse_json_body

    deep = b"[" * 200 + b'"a\\u0000"' + b"]" * 200  # below any fixed depth limit
    with pytest.raises(BadJson, match="NUL"):
        parse_json_body(deep)
    with pytest.raises(BadJson, match="surrogates"):
        parse_json_body(b'{"k": {"\\udc00": 1}}')  # in a key, too
    assert parse_json_body(b'{"ok": [1, "\\u00e9", {"x": null}]}') == {"ok": [1, "é", {"x": None}]}


def test_unusable_data_is_a_validation_error_even_under_python_O() -> None:
    import subprocess
    import sys
    from pathlib import Path

    from sync.errors import MalformedData, YClientsError
    from sync.models import ScheduleDay, TimeSlot

    with pytest.raises(MalformedData, match="schedule day"):
        ScheduleDay.from_api({"date": "not a date", "slots": []})
    with pytest.raises(MalformedData, match="slot"):
        _ = TimeSlot.from_api({"time": "12:00", "datetime": "soon"}).starts_at
    assert issubclass(MalformedData, YClientsError) and issubclass(MalformedData, ValueError)
    code = ("from sync.models import ScheduleDay\n"
            "try:\n    ScheduleDay.from_api({'slots': []})\nexcept Exception as e:\n    print(type(e).__name__)\n")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, cwd=root,
                         env={"PYTHONPATH": str(root)}, timeout=60, check=True)
    assert out.stdout.strip() == "MalformedData"  # asserts are stripped by -O; this check is not
