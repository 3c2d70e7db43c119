"""Behaviour of the NLU engine beyond the table: timezones, hints, context, other catalogs, the CLI."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from booking.model import INTENTS, PARTS_OF_DAY, CatalogService, CatalogStaff, SalonCatalog, Understanding
from booking.nlu import NluEngine, default_engine, understand, warm_up
from booking.nlu.normalize import tokenize
from gateway.commands import understand as understand_cmd

ROOT = Path(__file__).resolve().parents[2]
SALON_FILE = ROOT / "fixtures" / "demo-salon.json"
MONDAY_10 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 10:00 in Moscow, a Monday


@pytest.fixture(scope="module")
def engine() -> NluEngine:
    return NluEngine()


@pytest.fixture(scope="module")
def catalog() -> SalonCatalog:
    return SalonCatalog.from_salon_file(SALON_FILE)


def test_module_function_shares_one_engine(catalog: SalonCatalog) -> None:
    assert default_engine() is default_engine()
    result = understand("маникюр завтра в 3", MONDAY_10, catalog)
    assert result.to_eval_json()["date"] == "2026-11-24"


def test_dates_follow_the_salon_timezone_not_utc(engine: NluEngine, catalog: SalonCatalog) -> None:
    # 22:30 UTC on Monday is 01:30 on Tuesday in Moscow: "завтра" is Wednesday.
    late = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
    assert engine.understand("завтра", late, catalog).date == date(2026, 11, 25)
    # The same instant for a salon in Kaliningrad (UTC+2) is 00:30 Tuesday too; in Samara (UTC+4) 02:30.
    kaliningrad = SalonCatalog(salon_id=1, title="K", timezone="Europe/Kaliningrad")
    assert engine.understand("сегодня", late, kaliningrad).date == date(2026, 11, 24)
    vladivostok = SalonCatalog(salon_id=2, title="V", timezone="Asia/Vladivostok")  # UTC+10: 08:30 Tuesday
    assert engine.understand("сегодня", late, vladivostok).date == date(2026, 11, 24)


def test_naive_now_is_taken_as_salon_local(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert engine.understand("завтра", datetime(2026, 11, 23, 23, 50), catalog).date == date(2026, 11, 24)


def test_ambiguous_service_picks_the_typical_one_and_says_so(
    engine: NluEngine, catalog: SalonCatalog
) -> None:
    result = engine.understand("хочу на маникюр", MONDAY_10, catalog)
    assert result.service_ids == [1012]
    assert result.hints["ambiguous_services"] == {1012: [1011]}
    assert "ambiguous_services" not in engine.understand("маникюр с покрытием", MONDAY_10, catalog).hints


def test_time_and_part_of_day_rule(engine: NluEngine, catalog: SalonCatalog) -> None:
    both = engine.understand("завтра вечером в 7", MONDAY_10, catalog)
    assert (both.time, both.part_of_day) == (time(19, 0), None)
    assert both.hints["part_of_day_said"] == "evening"
    only_part = engine.understand("завтра вечером", MONDAY_10, catalog)
    assert (only_part.time, only_part.part_of_day) == (None, "evening")
    qualifier = engine.understand("в 9 вечера", MONDAY_10, catalog)
    assert (qualifier.time, qualifier.part_of_day) == (time(21, 0), None)
    assert "part_of_day_said" not in qualifier.hints


def test_hints_for_the_dialogue(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert engine.understand("к любому мастеру завтра", MONDAY_10, catalog).hints["any_staff"] is True
    assert engine.understand("на выходных", MONDAY_10, catalog).hints["weekend"] is True
    after = engine.understand("после 5", MONDAY_10, catalog)
    assert after.time == time(17, 0) and after.hints["time_relation"] == "after"
    before = engine.understand("до 12 можно?", MONDAY_10, catalog)
    assert before.time is None and before.hints["time_before"] == "12:00"
    assert engine.understand("часа в четыре", MONDAY_10, catalog).hints["approximate"] is True


def test_not_times(engine: NluEngine, catalog: SalonCatalog) -> None:
    for text in ("через 2 часа", "нас будет 2 человека", "через 3 дня", "на 2 процедуры"):
        assert engine.understand(text, MONDAY_10, catalog).time is None, text


def test_client_name_needs_context_for_a_bare_name(engine: NluEngine, catalog: SalonCatalog) -> None:
    bare = engine.understand("Анна", MONDAY_10, catalog)
    assert bare.client_name is None and bare.staff_id == 2001  # a master, without context
    named = engine.understand("Анна", MONDAY_10, catalog, context={"expecting": "name"})
    assert named.client_name == "Анна" and named.staff_id is None
    intro = engine.understand("меня зовут Марина, хочу к Ане", MONDAY_10, catalog)
    assert (intro.client_name, intro.staff_id) == ("Марина", 2001)


def test_staff_shared_name_is_ambiguous_unless_surname_given(engine: NluEngine) -> None:
    twins = SalonCatalog(
        salon_id=3,
        title="Two Annas",
        staff=(CatalogStaff(id=1, name="Анна Смирнова"), CatalogStaff(id=2, name="Анна Козлова")),
    )
    vague = engine.understand("к ане завтра", MONDAY_10, twins)
    assert vague.staff_id is None and vague.hints["staff_candidates"] == [1, 2]
    assert engine.understand("к анне козловой", MONDAY_10, twins).staff_id == 2
    assert engine.understand("к смирновой", MONDAY_10, twins).staff_id == 1


def test_works_on_another_salons_catalog(engine: NluEngine) -> None:
    other = SalonCatalog(
        salon_id=4,
        title="Barber",
        timezone="Asia/Yekaterinburg",
        services=(
            CatalogService(id=10, title="Стрижка машинкой"),
            CatalogService(id=11, title="Оформление бороды"),
            CatalogService(id=12, title="Камуфляж седины"),
        ),
        staff=(CatalogStaff(id=7, name="Дмитрий"), CatalogStaff(id=8, name="Светлана Орлова")),
    )
    result = engine.understand("к диме на стрижку и бороду в субботу в 5", MONDAY_10, other)
    assert result.to_eval_json() == {
        "intent": "book",
        "service_ids": [10, 11],
        "staff_id": 7,
        "date": "2026-11-28",
        "time": "17:00",
        "part_of_day": None,
    }
    assert engine.understand("камуфляж седины к свете", MONDAY_10, other).staff_id == 8


def test_empty_and_junk_input(engine: NluEngine, catalog: SalonCatalog) -> None:
    for text in ("", "   ", "!!!", "🙂🙂", "?"):
        result = engine.understand(text, MONDAY_10, catalog)
        assert result.intent == "other" and result.service_ids == [] and result.date is None, text
    long_text = "маникюр завтра в 3 " * 500
    assert engine.understand(long_text, MONDAY_10, catalog).service_ids == [1012]


def test_normalization() -> None:
    assert tokenize("Добрый вечер! В 15.30, 28.11 👍 5-го 15ч") == [
        "здравствуйте",
        "в",
        "15.30",
        "28.11",
        "да",
        "5",
        "числа",
        "15",
        "час",
    ]


def test_eval_line_shape(engine: NluEngine, catalog: SalonCatalog) -> None:
    line = engine.understand(
        "педикюр и маникюр к марине 1 декабря в 10:00", MONDAY_10, catalog
    ).to_eval_json()
    assert line == {
        "intent": "book",
        "service_ids": [1012, 1013],
        "staff_id": 2003,
        "date": "2026-12-01",
        "time": "10:00",
        "part_of_day": None,
    }
    assert Understanding().to_eval_json()["intent"] == "other"


def test_cli_run_keeps_line_alignment(catalog: SalonCatalog) -> None:
    out = io.StringIO()
    count = understand_cmd.run(io.StringIO("маникюр завтра\n\n  \nспасибо\n"), out, MONDAY_10, catalog, None)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert count == 4 and len(lines) == 4
    assert [x["intent"] for x in lines] == ["book", "other", "other", "thanks"]
    assert lines[0]["date"] == "2026-11-24"


def test_cli_end_to_end_without_stores() -> None:
    env_free = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "REDIS_URL": "",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "understand",
            "--now",
            "2026-11-23T10:00:00+03:00",
            "--salon-file",
            str(SALON_FILE),
        ],
        check=False,
        input="запишите на маникюр завтра в 3\nотмените запись\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env_free, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert lines == [
        {
            "intent": "book",
            "service_ids": [1012],
            "staff_id": None,
            "date": "2026-11-24",
            "time": "15:00",
            "part_of_day": None,
        },
        {
            "intent": "cancel",
            "service_ids": [],
            "staff_id": None,
            "date": None,
            "time": None,
            "part_of_day": None,
        },
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--now", "yesterday", "--salon-file", str(SALON_FILE)], "--now is not an ISO 8601 moment"),
        (
            ["--now", "2026-11-23T10:00:00+03:00", "--salon-file", "/nonexistent.json"],
            "cannot read the salon file",
        ),
        (
            ["--now", "2026-11-23T10:00:00+03:00", "--salon-file", str(SALON_FILE), "--context", "{oops"],
            "--context is not JSON",
        ),
    ],
)
def test_cli_bad_input_gets_a_clear_error(args: list[str], message: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "understand", *args],
        check=False,
        input="маникюр\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert proc.returncode != 0
    assert message in proc.stderr
    assert proc.stdout == ""


def test_unknown_procedure_on_a_known_body_part(engine: NluEngine, catalog: SalonCatalog) -> None:
    lamination = engine.understand("хочу ламинирование ресниц", MONDAY_10, catalog)
    assert lamination.service_ids == [] and lamination.hints["unknown_services"] == ["ламинирование ресниц"]
    assert lamination.intent == "book"
    assert engine.understand("окрашивание бровей", MONDAY_10, catalog).service_ids == [1022]
    # Neither a pedicure nor the face massage: the salon has no leg massage.
    legs = engine.understand("массаж ног", MONDAY_10, catalog)
    assert legs.service_ids == [] and legs.hints["unknown_services"] == ["массаж ног"]
    assert engine.understand("массаж лица", MONDAY_10, catalog).service_ids == [1032]
    tint = engine.understand("окрашивание ресниц", MONDAY_10, catalog)  # hair and brows only
    assert tint.service_ids == [] and tint.hints["unknown_services"] == ["окрашивание ресниц"]
    assert engine.understand("стрижка волос", MONDAY_10, catalog).service_ids == [1001]


def test_cli_survives_broken_bytes_and_crlf() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "understand",
            "--now",
            "2026-11-23T10:00:00+03:00",
            "--salon-file",
            str(SALON_FILE),
        ],
        check=False,
        input="маникюр завтра\r\n".encode() + b"\xff\xfe bad\n" + "спасибо\n".encode(),
        capture_output=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LANG": "C"},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.decode("utf-8").splitlines()]
    assert [x["intent"] for x in lines] == ["book", "other", "thanks"]
    assert lines[0]["date"] == "2026-11-24"


def test_roles_are_hints_not_a_master(engine: NluEngine, catalog: SalonCatalog) -> None:
    barber = engine.understand("хочу к барберу", MONDAY_10, catalog)
    assert barber.staff_id is None and barber.hints["staff_by_role"] == [2007]
    assert engine.understand("к стилисту", MONDAY_10, catalog).hints["staff_by_role"] == [2001, 2002]


def test_hour_ranges_and_dash_times(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert engine.understand("часов в 12-13", MONDAY_10, catalog).time == time(12, 0)
    assert engine.understand("в 15-30", MONDAY_10, catalog).time == time(15, 30)
    assert engine.understand("в 10-00", MONDAY_10, catalog).time == time(10, 0)


_WORDS_TEXT = (
    "маникюр педикюр завтра в 3 к ане полпятого без четверти пять через 2 дня 28.11 15:30 12-13 на выходных "
    "следующий вторник нет да 👍 💅 меня зовут это ольга 31.02 99:99 0 24 в 25 пол без четверти четверть "
    "половине с после до часа около 1 декабря 5го числа через неделю отмените перенесите ? + - . , !"
)
_WORDS = tuple(_WORDS_TEXT.split())


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(_WORDS), max_size=12), st.text(max_size=30))
def test_any_text_gives_a_valid_line(
    engine: NluEngine, catalog: SalonCatalog, words: list[str], junk: str
) -> None:
    for text in (" ".join(words), junk, " ".join(words) + junk):
        line = engine.understand(text, MONDAY_10, catalog).to_eval_json()
        assert line["intent"] in INTENTS
        assert line["part_of_day"] in (None, *PARTS_OF_DAY)
        assert all(sid in {s.id for s in catalog.services} for sid in line["service_ids"])
        assert line["staff_id"] in (None, *(m.id for m in catalog.staff))
        if line["time"] is not None:
            assert line["part_of_day"] is None


def test_warm_up_builds_the_shared_engine(catalog: SalonCatalog) -> None:
    warm_up(catalog)
    assert default_engine() is default_engine()
    assert understand("педикюр", MONDAY_10, catalog).service_ids == [1013]


def test_catalog_changes_are_picked_up(engine: NluEngine, catalog: SalonCatalog) -> None:
    rebuilt = SalonCatalog.from_salon_file(SALON_FILE)  # equal content, another object
    assert engine.understand("к ане", MONDAY_10, rebuilt).staff_id == 2001
    extended = dataclasses.replace(
        catalog,
        services=(*catalog.services, CatalogService(id=1099, title="Ламинирование ресниц")),
        staff=(*catalog.staff, CatalogStaff(id=2099, name="Вероника Белова")),
    )
    result = engine.understand("ламинирование ресниц к веронике", MONDAY_10, extended)
    assert (result.service_ids, result.staff_id) == ([1099], 2099)
    assert engine.understand("ламинирование ресниц к веронике", MONDAY_10, catalog).service_ids == []


def test_typical_yclients_titles(engine: NluEngine) -> None:
    salon = SalonCatalog(
        salon_id=9,
        title="Nails & Hair",
        services=(
            CatalogService(id=1, title="Маникюр + покрытие гель-лак"),
            CatalogService(id=2, title="Стрижка женская (короткие волосы)"),
            CatalogService(id=3, title="Стрижка женская (длинные волосы)"),
            CatalogService(id=4, title="Маникюр без покрытия"),
            CatalogService(id=5, title="Брови: коррекция + окрашивание"),
        ),
    )

    def ids(text: str) -> list[int]:
        return engine.understand(text, MONDAY_10, salon).service_ids

    assert ids("маникюр без покрытия") == [4]
    assert ids("маникюр с покрытием") == [1]
    assert ids("маникюр") == [4]  # the plain one is the typical one
    assert ids("стрижка на длинные волосы") == [3]
    assert ids("бровки") == [5]


def test_rejected_days_times_and_masters(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert engine.understand("не на пятницу а на субботу", MONDAY_10, catalog).date == date(2026, 11, 28)
    assert engine.understand("в 18 не успею, давайте в 19", MONDAY_10, catalog).time == time(19, 0)
    other = engine.understand("не к Ане, а к Оле", MONDAY_10, catalog)
    assert (other.staff_id, other.hints["exclude_staff"]) == (2002, [2001])
    nobody = engine.understand("без мастера Оли, к кому-то другому", MONDAY_10, catalog)
    assert nobody.staff_id is None and nobody.hints["exclude_staff"] == [2002]
