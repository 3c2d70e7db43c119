"""Generic fixes found by the independent dialogues (tests/booking/test_dialogues_independent.py):
moving a visit onto a time its own old slot overlaps, "на то же время", prices mid-booking, the
client's name in the greeting."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from booking.model import SalonCatalog, Understanding
from booking.nlu import understand
from booking.ports import FreeSlot
from booking.slots import OwnVisit, freed_by_own
from booking.state import DialogueState
from tests.booking.conftest import Bot
from tests.booking.fakes import demo_data
from tests.booking.test_dialogue import say
from tests.conftest import START

MSK = ZoneInfo("Europe/Moscow")
CATALOG = SalonCatalog.from_salon_json(demo_data())
ELENA = "+79161234567"


def slot(hm: str) -> FreeSlot:
    return FreeSlot(2003, hm, f"2026-11-23T{hm}:00+03:00", 5400)


def test_freed_by_own_opens_times_overlapping_the_moved_visit() -> None:
    # Free 13:00-16:00 (last 90-min start 14:30), the visit 16:00-17:30, free 17:30-19:00.
    free = [slot(t) for t in ("13:00", "13:15", "13:30", "13:45", "14:00", "14:15", "14:30", "17:30")]
    own = OwnVisit(2003, datetime(2026, 11, 23, 16, 0, tzinfo=MSK), 5400)
    got = {s.time for s in freed_by_own(free, own, 15)}
    assert {"14:45", "15:00", "15:45", "16:15", "17:00", "17:15"} <= got
    assert "16:00" not in got  # the visit's own time is no move
    assert all(s.datetime_raw.endswith("+03:00") and s.staff_id == 2003 for s in freed_by_own(free, own, 15))


def test_freed_by_own_never_crosses_busy_time() -> None:
    # Nothing free around the visit: only its own interval, too short for any other start.
    own = OwnVisit(2003, datetime(2026, 11, 23, 16, 0, tzinfo=MSK), 5400)
    assert freed_by_own([slot("10:00")], own, 15) == []


def test_same_time_hint() -> None:
    now = START
    u = understand("перенесите на пятницу на то же время", now, CATALOG)
    assert u.intent == "reschedule" and u.hints.get("same_time") and u.time is None
    assert not understand("в это время я занята, давайте в пятницу", now, CATALOG).hints.get("same_time")
    assert not understand("перенесите на пятницу в 15:00", now, CATALOG).hints.get("same_time")


async def test_move_on_the_same_time_proposes_it_directly(bot: Bot) -> None:
    await bot.api.book_record(962302, phone="79031112233", fullname="Сергей", staff_id=2007, service_ids=[1002],
                              datetime_raw="2026-11-25T18:00:00+03:00", api_id="", comment="")
    st = DialogueState()
    u = Understanding("reschedule", date=date(2026, 11, 27), hints={"same_time": True})
    r = await say(bot, st, "перенесите мою стрижку на пятницу на то же время", u, phone="+79031112233")
    assert "пт 27 ноября в 18:00" in r and "Подтверждаете" in r, r


async def test_move_with_a_time_and_no_day_stays_on_the_visits_day(bot: Bot) -> None:
    # Наталья's 90-min manicure today 16:00: 17:00 overlaps it, and is free once it moves.
    await bot.api.book_record(962302, phone="79257654321", fullname="Наталья", staff_id=2003, service_ids=[1011],
                              datetime_raw="2026-11-23T16:00:00+03:00", api_id="", comment="")
    st = DialogueState()
    r = await say(bot, st, "можно сдвинуть на 17:00?", Understanding("reschedule", time=time(17)),
                  phone="+79257654321")
    assert "на сегодня в 17:00" in r and "Подтверждаете" in r, r
    r = await say(bot, st, "да", Understanding("confirm"), phone="+79257654321")
    moved = [x for x in bot.api.records.values() if not x.deleted]
    assert "перенесена" in r and [x.starts_at.hour for x in moved] == [17], r


async def test_price_question_mid_booking_prices_the_service_being_booked(bot: Bot) -> None:
    st = DialogueState()
    await say(bot, st, "мужская стрижка завтра", Understanding("book", [1002], None, date(2026, 11, 24)))
    assert st.awaiting == "slot"
    r = await say(bot, st, "а сколько стоит?", Understanding("prices"))
    assert "Мужская стрижка — 1 200–1 500 ₽" in r and "Педикюр" not in r and "Записать вас?" not in r, r
    assert "время из предложенных" in r and st.awaiting == "slot"


async def test_known_client_is_greeted_by_first_name(bot: Bot) -> None:
    r = await say(bot, DialogueState(), "сколько стоит педикюр", Understanding("prices", [1013]), phone=ELENA)
    assert r.startswith("Здравствуйте, Елена! Это салон «Лаванда»"), r
    r = await say(bot, DialogueState(), "привет", Understanding("greeting"), phone=ELENA)
    assert r.startswith("Здравствуйте, Елена! Это салон «Лаванда»") and "Чем помочь" in r, r
    r = await say(bot, DialogueState(), "сколько стоит педикюр", Understanding("prices", [1013]))
    assert r.startswith("Здравствуйте! Это салон"), r


async def test_who_does_a_service_lists_masters_not_times(bot: Bot) -> None:
    st = DialogueState()
    u = understand("а кто у вас делает маникюр?", START, CATALOG)
    r = await say(bot, st, "а кто у вас делает маникюр?", u)
    assert "Марина Петрова" in r and "Екатерина Соколова" in r and "1)" not in r and st.flow is None, r
    u = understand("хочу на маникюр, кто свободен?", START, CATALOG)
    r = await say(bot, st, "хочу на маникюр, кто свободен?", u)
    assert "1)" in r and st.awaiting == "slot", r  # "кто свободен" asks for times


async def test_how_long_a_service_takes(bot: Bot) -> None:
    u = understand("сколько по времени длится педикюр?", START, CATALOG)
    r = await say(bot, DialogueState(), "сколько по времени длится педикюр?", u)
    assert "Педикюр — 2 800 ₽ (1 ч 30 мин)" in r and "Маникюр" not in r, r


def test_a_name_answer_in_the_nominative_stays_as_written() -> None:
    u = understand("Дина", START, CATALOG, context={"expecting": "name"})
    assert u.client_name == "Дина"
    assert understand("Ольгу", START, CATALOG, context={"expecting": "name"}).client_name == "Ольга"


async def test_cancel_one_service_keep_the_other(bot: Bot) -> None:
    for staff, service, hm in ((2001, 1001, "12:00"), (2003, 1011, "14:00")):
        await bot.api.book_record(962302, phone="79161234567", fullname="Елена", staff_id=staff,
                                  service_ids=[service], datetime_raw=f"2026-11-24T{hm}:00+03:00", api_id="",
                                  comment="")
    text = "отмените маникюр пожалуйста, а стрижку оставьте"
    st = DialogueState()
    r = await say(bot, st, text, understand(text, START, CATALOG), phone=ELENA)
    assert "Отменить вашу запись: завтра в 14:00 — Маникюр" in r, r
    r = await say(bot, st, "да", Understanding("confirm"), phone=ELENA)
    assert sorted((x.service_ids[0], x.deleted) for x in bot.api.records.values()) == [(1001, False), (1011, True)]


async def test_master_names_in_the_genitive_and_a_day_off_is_said(bot: Bot) -> None:
    # Игорь is busy at 18:00: the answer names him in the genitive.
    await bot.api.book_record(962302, phone="79031112233", fullname="Сергей", staff_id=2007, service_ids=[1002],
                              datetime_raw="2026-11-25T18:00:00+03:00", api_id="", comment="")
    st = DialogueState()
    r = await say(bot, st, "к игорю в среду в 18", Understanding("book", [1002], 2007, date(2026, 11, 25), time(18)))
    assert "У мастера Игоря в 18:00" in r, r
    # Ольга is off on Mondays: that is what the client hears, not "no free time".
    st = DialogueState()
    r = await say(bot, st, "к оле на стрижку в понедельник", Understanding("book", [1001], 2002, date(2026, 11, 30)))
    assert "Ольга в понедельник (30 ноября) не работает" in r and "нет свободного времени" not in r, r


def test_shift_minutes() -> None:
    from booking.nlu.engine import shift_minutes

    assert shift_minutes("можно на час позже") == 60
    assert shift_minutes("перенесите на полчаса пораньше") == -30
    assert shift_minutes("на 15 минут позже") == 15
    assert shift_minutes("на полтора часа раньше") == -90
    assert shift_minutes("на пару часов попозже") == 120
    assert shift_minutes("на час дня") is None and shift_minutes("позже напишу") is None


def test_cannot_come_that_day_lets_have_another_is_a_move() -> None:
    for text in ("я не смогу в среду, давайте в четверг", "завтра не получится, можно на пятницу?",
                 "в среду не смогу, лучше в четверг"):
        assert understand(text, START, CATALOG).intent == "reschedule", text
    assert understand("не могу выбрать, давайте на маникюр", START, CATALOG).intent != "reschedule"


async def test_yes_to_the_when_question_keeps_the_move(bot: Bot) -> None:
    await bot.api.book_record(962302, phone="79031112233", fullname="Сергей", staff_id=2007, service_ids=[1002],
                              datetime_raw="2026-11-25T18:00:00+03:00", api_id="", comment="")
    st = DialogueState()
    await say(bot, st, "хочу перенести запись", Understanding("reschedule"), phone="+79031112233")
    assert st.awaiting == "when"
    r = await say(bot, st, "да", Understanding("confirm"), phone="+79031112233")
    assert st.flow == "reschedule" and st.target is not None and "день" in r, r


def test_a_service_named_as_a_point_in_time_is_not_asked_for() -> None:
    u = understand("можно ещё педикюр завтра сразу после маникюра?", START, CATALOG)
    assert u.service_ids == [1013] and 1011 in u.hints["after_services"]
    assert understand("укладку перед окрашиванием", START, CATALOG).service_ids == [1005]
    assert understand("маникюр после 15", START, CATALOG).service_ids in ([1012], [1011])


async def test_right_after_the_clients_own_visit(bot: Bot) -> None:
    await bot.api.book_record(962302, phone="79161234567", fullname="Елена", staff_id=2003, service_ids=[1011],
                              datetime_raw="2026-11-24T14:00:00+03:00", api_id="", comment="")
    text = "можно ещё педикюр завтра сразу после маникюра?"
    st = DialogueState()
    r = await say(bot, st, text, understand(text, START, CATALOG), phone=ELENA)
    assert "Педикюр, мастер Марина Петрова, завтра (вт, 24 ноября) в 15:30" in r, r


async def test_a_master_without_a_service_lists_that_masters_services(bot: Bot) -> None:
    r = await say(bot, DialogueState(), "хочу к марине завтра", Understanding("book", [], 2003, date(2026, 11, 24)))
    assert "Марина Петрова делает: Маникюр с покрытием гель-лак, Маникюр классический, Педикюр" in r, r


async def test_price_question_with_a_day_gives_the_price_and_the_times(bot: Bot) -> None:
    st = DialogueState()
    u = understand("сколько стоит педикюр и можно ли на среду?", START, CATALOG)
    r = await say(bot, st, "сколько стоит педикюр и можно ли на среду?", u)
    assert "Педикюр — 2 800 ₽" in r and "1) " in r and "Записать вас?" not in r and st.awaiting == "slot", r


def test_a_masters_service_does_not_depend_on_the_catalogs_order() -> None:
    from dataclasses import replace

    from booking.nlu import NluEngine

    reordered = replace(CATALOG, services=tuple(reversed(CATALOG.services)))
    text = "можно сегодня в 18:30 к игорю подстричься?"
    for catalog in (CATALOG, reordered):
        assert NluEngine().understand(text, START, catalog).service_ids == [1002]
        assert NluEngine().understand("сына подстричь к игорю", START, catalog).service_ids == [1003]


async def test_price_of_my_own_visit_starts_no_booking(bot: Bot) -> None:
    st = DialogueState()
    text = "сколько будет стоить моя стрижка в среду?"
    r = await say(bot, st, text, understand(text, START, CATALOG), phone="+79031112233")
    assert "1 200" in r and "1) " not in r and st.flow is None, r
