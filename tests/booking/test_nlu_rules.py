"""The general rules added after the independent evaluation, each on phrasings of its own."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from booking.model import SalonCatalog
from booking.nlu import NluEngine
from booking.nlu.morph import Morph
from booking.nlu.translit import transliterate

ROOT = Path(__file__).resolve().parents[2]
MONDAY_10 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 10:00 in Moscow


@pytest.fixture(scope="module")
def engine() -> NluEngine:
    return NluEngine()


@pytest.fixture(scope="module")
def catalog() -> SalonCatalog:
    return SalonCatalog.from_salon_file(ROOT / "fixtures" / "demo-salon.json")


def line(engine: NluEngine, catalog: SalonCatalog, text: str) -> dict[str, object]:
    return engine.understand(text, MONDAY_10, catalog).to_eval_json()


def test_latin_script_russian_is_transliterated_with_soft_signs_repaired() -> None:
    known = Morph().is_known
    assert transliterate("skolko stoit", known) == "сколько стоит"
    assert transliterate("otmenite zapis pozhaluysta", known) == "отмените запись пожалуйста"
    assert transliterate("zapisatsya na pyatnitsu", known) == "записаться на пятницу"
    assert transliterate("ok спасибо", known) == "ok спасибо"  # English words the intents read stay


def test_latin_script_messages_are_understood(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "hochu na pedikur k marine zavtra v 3") == {
        "intent": "book", "service_ids": [1013], "staff_id": 2003,
        "date": "2026-11-24", "time": "15:00", "part_of_day": None,
    }  # fmt: skip
    assert line(engine, catalog, "otmenite zapis")["intent"] == "cancel"
    assert line(engine, catalog, "ok")["intent"] == "confirm"


def test_day_and_month_as_two_numbers(engine: NluEngine, catalog: SalonCatalog) -> None:
    got = line(engine, catalog, "запишите на 1 12 в 15:00")
    assert (got["date"], got["time"]) == ("2026-12-01", "15:00")
    assert line(engine, catalog, "маникюр 5 12")["date"] == "2026-12-05"
    # Hour and minutes stay a time: after "в", or minutes that are a multiple of 5.
    got = line(engine, catalog, "завтра в 5 12")
    assert (got["date"], got["time"]) == ("2026-11-24", "17:12")
    assert line(engine, catalog, "давайте 10 10")["date"] is None
    assert line(engine, catalog, "на 2 3 человека")["date"] is None  # a count
    assert line(engine, catalog, "на 5 12 к ане")["date"] == "2026-12-05"


def test_a_man_speaking_gets_the_mens_service_among_equals(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "хотел подстричься завтра")["service_ids"] == [1002]
    assert line(engine, catalog, "хотела подстричься завтра")["service_ids"] == [1001]
    # A named person still wins over the speaker.
    assert line(engine, catalog, "хотел записать дочку на стрижку")["service_ids"] == [1003]


def test_each_person_of_one_procedure_gets_a_service(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "мужа и сына подстричь")["service_ids"] == [1002, 1003]
    assert line(engine, catalog, "мужская стрижка")["service_ids"] == [1002]


def test_the_named_master_settles_equal_services(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "стрижка к игорю")["service_ids"] == [1002]  # a barber
    assert line(engine, catalog, "стрижка к ане")["service_ids"] == [1001]
    result = engine.understand("стрижка к барберу", MONDAY_10, catalog)
    assert result.service_ids == [1002] and result.staff_id is None


def test_group_questions_list_the_group(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "какие услуги по ногтям есть")["service_ids"] == [1011, 1012, 1013, 1014]
    assert line(engine, catalog, "цены на брови")["service_ids"] == [1021, 1022]
    assert line(engine, catalog, "что у вас для волос есть?")["service_ids"] == [1001, 1002, 1003, 1004, 1005]
    assert line(engine, catalog, "сколько стоит у косметолога")["service_ids"] == [1031, 1032]
    # A service of its own is not a group question; a booking never is.
    assert line(engine, catalog, "сколько стоит маникюр")["service_ids"] == [1012]
    assert line(engine, catalog, "сколько стоит педикюр, ногти на ногах")["service_ids"] == [1013]
    assert line(engine, catalog, "запишите на брови завтра")["service_ids"] == [1021]


def test_refused_coating_and_procedures_on_other_body_parts(engine: NluEngine, catalog: SalonCatalog) -> None:
    got = line(engine, catalog, "снять гель лак без нового покрытия")
    assert got["service_ids"] == [1014]
    got = line(engine, catalog, "снять гель лак, покрывать не нужно, в пятницу можно?")
    assert (got["intent"], got["service_ids"], got["date"]) == ("book", [1014], "2026-11-27")
    result = engine.understand("а окрашивание ресниц делаете?", MONDAY_10, catalog)
    assert result.intent == "services" and result.service_ids == []
    assert result.hints["unknown_services"] == ["окрашивание ресниц"]
    assert line(engine, catalog, "депиляция есть?")["intent"] == "services"


def test_times_that_are_amounts_or_words(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "можно на час позже?")["time"] is None
    assert line(engine, catalog, "опоздаю минут на 15")["time"] is None
    assert line(engine, catalog, "маникюр и педикюр в одно время")["time"] is None
    assert line(engine, catalog, "на 11 к ане")["time"] == "11:00"
    assert line(engine, catalog, "сколько стоит 5 к")["time"] is None


def test_moves_take_the_new_day_and_drop_refused_ones(engine: NluEngine, catalog: SalonCatalog) -> None:
    got = line(engine, catalog, "у меня завтра маникюр, можно его на пятницу перенести")
    assert (got["intent"], got["date"]) == ("reschedule", "2026-11-27")
    got = line(engine, catalog, "не смогу прийти в четверг, давайте на другой день")
    assert (got["intent"], got["date"]) == ("reschedule", None)
    got = line(engine, catalog, "не смогу прийти в четверг")  # a cancel keeps the day it cancels
    assert (got["intent"], got["date"]) == ("cancel", "2026-11-26")
    got = line(engine, catalog, "не успеваю к 4, можно на 6?")
    assert (got["intent"], got["time"]) == ("reschedule", "18:00")


def test_intents_of_put_off_answers_and_own_rebooking(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "хорошо, я подумаю")["intent"] == "other"
    assert line(engine, catalog, "ок, уточню у мужа")["intent"] == "other"
    assert line(engine, catalog, "ок")["intent"] == "confirm"
    assert line(engine, catalog, "отмените, перезапишусь потом сама")["intent"] == "cancel"
    assert line(engine, catalog, "перезапишите меня на пятницу")["intent"] == "reschedule"
    assert line(engine, catalog, "я записывалась к даше, не помню на какое число")["intent"] == "my_records"
    assert line(engine, catalog, "не смогу завтра прийти(")["intent"] == "cancel"


def test_rules_keep_a_message_fast(engine: NluEngine, catalog: SalonCatalog) -> None:
    result = engine.understand("mozhno na manikur k kate v subbotu v 3", MONDAY_10, catalog)
    assert result.date == date(2026, 11, 28) and result.time == time(15, 0) and result.staff_id == 2004


def test_fillers_phones_durations_and_master_changes(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "ну ок")["intent"] == "confirm"
    assert line(engine, catalog, "а нет")["intent"] == "decline"
    assert line(engine, catalog, "не, спасибо")["intent"] == "decline"
    assert line(engine, catalog, "а какой у вас телефон")["intent"] == "hours_address"
    got = line(engine, catalog, "сколько длится наращивание")
    assert (got["intent"], got["service_ids"]) == ("services", [1023])
    # With a day it is a booking that asks how long it takes.
    assert line(engine, catalog, "стрижка в пятницу, сколько по времени займет")["intent"] == "book"
    assert line(engine, catalog, "можно мастера поменять на другого?")["intent"] == "reschedule"
    assert line(engine, catalog, "в районе 5 можно?")["time"] == "17:00"


def test_cancel_and_book_again_is_a_move_to_the_new_day(engine: NluEngine, catalog: SalonCatalog) -> None:
    got = line(engine, catalog, "хочу отменить запись на завтра и записаться на пятницу")
    assert (got["intent"], got["date"]) == ("reschedule", "2026-11-27")
    got = line(engine, catalog, "отмените запись на завтра")
    assert (got["intent"], got["date"]) == ("cancel", "2026-11-24")


def test_four_digit_times_and_cut_off_weekdays(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "в 1500 можно")["time"] == "15:00"
    assert line(engine, catalog, "к 0930")["time"] == "09:30"
    assert line(engine, catalog, "на 1500 рублей")["time"] is None  # an amount
    assert line(engine, catalog, "хочу на ресницы в пятн")["date"] == "2026-11-27"
    assert line(engine, catalog, "вторн вечер")["date"] == "2026-11-24"


def test_a_man_speaking_keeps_the_usual_default_elsewhere(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "хотел маникюр")["service_ids"] == [1012]  # no men's manicure


def test_complaints_go_to_a_person(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "ваш мастер испортил мне ногти, хочу вернуть деньги")["intent"] == "human"
    assert line(engine, catalog, "я недовольна стрижкой")["intent"] == "human"


def test_a_qualifier_right_after_a_service_belongs_to_it(engine: NluEngine, catalog: SalonCatalog) -> None:
    assert line(engine, catalog, "педикюр с покрытием сколько стоит")["service_ids"] == [1013]
    assert line(engine, catalog, "педикюр гель лак")["service_ids"] == [1013]
    assert line(engine, catalog, "педикюр и гель лак")["service_ids"] == [1011, 1013]  # two requests
    assert line(engine, catalog, "маникюр и педикюр с покрытием")["service_ids"] == [1011, 1013]
