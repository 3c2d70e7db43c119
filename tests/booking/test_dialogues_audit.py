"""Dialogues from the independent audit (unseen messages and live dialogues), through the real app
(simulator WhatsApp + YClients sandbox). Each one failed before its fix; they check the general
mechanism with the audit's words and with other words for the same thing.

Clock: Mon 2026-11-23 10:00 Moscow. Fixture records (see test_dialogues_independent.py): Сергей Wed 25
18:00 мужская стрижка у Игоря (4002), Наталья today 16:00 маникюр у Марины (4003), Елена Tue 24 12:00
стрижка у Анны (4001) and 14:00 маникюр у Марины (4004). Игорь is busy on Wed 25 at 18:00 (Сергей),
Ольга works Wed 12-21; Марина does not work on weekends, Екатерина does.
"""

from __future__ import annotations

import pytest

from tests.booking.simchat import AppChat
from tests.booking.test_dialogues_independent import (
    LIST_LINE,
    NAME_ASK,
    NATALIA,
    SERGEY,
    Scenario,
    Talk,
    assert_booked,
    by_time,
    d,
    first,
    moved,
    play,
)

IGOR, OLGA, MARINA, KATYA = 2007, 2002, 2003, 2004


def listed(reply: str) -> list[str]:
    """The numbered lines of a reply."""
    return [line for line in reply.splitlines() if LIST_LINE.match(line)]


# --- 1. the asked master is busy at the asked time ------------------------------------------------
async def a01_other_master_free_at_the_exact_time(t: Talk) -> None:
    reply = await t.say("хочу подстричься к игорю")
    assert "Игор" in reply, t.transcript  # a list of one master's times names the master
    reply = await t.say("в среду в 6 вечера")
    # Игорь is busy at 18:00; Ольга is free at exactly that time: say so and offer her.
    assert "Ольг" in reply and any("18:00" in line and "Ольга" in line for line in listed(reply)), t.transcript
    await t.finish(reply, pick=by_time(0, "давайте {} к ольге"), name="Глеб")
    assert_booked(t, d(25), {OLGA}, 1002, "18:00", "18:00")


async def a02_to_another_master_drops_the_master(t: Talk) -> None:
    await t.say("хочу подстричься к игорю")
    await t.say("в среду в 6 вечера")
    reply = await t.say("а к другому мастеру ровно в 18 можно?")
    assert "18:00" in reply and "Ольг" in reply, t.transcript
    await t.finish(reply, pick=first, name="Глеб")
    assert_booked(t, d(25), {OLGA}, 1002, "18:00", "18:00")


async def a03_any_master_at_that_time(t: Talk) -> None:
    await t.say("мужская стрижка к игорю в среду в 18:00")
    reply = await t.say("давайте к любому, главное в 18")
    assert "18:00" in reply and "Ольг" in reply, t.transcript
    await t.finish(reply, pick=first, name="Глеб")
    assert_booked(t, d(25), {OLGA}, 1002, "18:00", "18:00")


# --- 2. a move asked at the cancel confirmation -----------------------------------------------------
async def a04_cancel_confirmation_becomes_a_move(t: Talk) -> None:
    reply = await t.say("отмените мою запись")
    assert "Отменить" in reply, t.transcript
    reply = await t.say("а можно лучше перенести на четверг на то же время?")
    assert "Переношу" in reply and "чт 26 ноября в 18:00" in reply, t.transcript
    await t.say("да")
    moved(t, 4002, d(26), "18:00", "18:00")


async def a05_cancel_confirmation_move_to_another_day_and_time(t: Talk) -> None:
    await t.say("хочу отменить запись на сегодня")
    reply = await t.say("хотя нет, давайте перенесём на завтра на 17:00")
    assert "На какую услугу" not in reply, t.transcript
    await t.finish(reply, pick=by_time(0), done=lambda: t.record(4003).start.date() != d(23))
    moved(t, 4003, d(24), "17:00", "17:00")


# --- 3. a service swapped or refused ---------------------------------------------------------------
SWAPS = [
    "не стрижку, а укладку",
    "нет, только укладку, без стрижки",
    "стрижку не надо, только укладка",
    "ой, вместо стрижки укладку",
]


def swap(text: str) -> Scenario:
    async def scenario(t: Talk) -> None:
        reply = await t.say("хочу на стрижку сегодня в 3")
        reply = await t.say(text)
        assert "Укладка" in reply and "Женская стрижка" not in reply, t.transcript
        await t.finish(reply, pick=first, name="Алина")
        [rec] = t.new_records()
        assert rec.service_ids == [1005], t.transcript

    scenario.__name__ = f"a06_swap_{SWAPS.index(text)}"
    return scenario


async def a07_one_of_two_services_refused(t: Talk) -> None:
    await t.say("маникюр и педикюр завтра в 3")
    reply = await t.say("маникюр не нужен, только педикюр")
    assert "Педикюр" in reply and "Маникюр" not in reply, t.transcript
    await t.finish(reply, pick=first, name="Ира")
    [rec] = t.new_records()
    assert rec.service_ids == [1013] and rec.start.date() == d(24), t.transcript


async def a08_refusal_alone_keeps_the_rest(t: Talk) -> None:
    reply = await t.say("стрижку и укладку к ане в четверг в 12")
    if NAME_ASK.search(reply.lower()):
        reply = await t.say("Вера")
    reply = await t.say("стрижку не надо")
    assert "Укладка" in reply and "стрижка" not in reply.lower(), t.transcript
    await t.finish(reply, pick=first, name="Вера")
    [rec] = t.new_records()
    assert rec.service_ids == [1005] and rec.staff_id == 2001, t.transcript


# --- 4. a refusal that asks for something else --------------------------------------------------------
async def a09_refusal_with_a_new_day_at_confirmation(t: Talk) -> None:
    reply = await t.say("хочу на стрижку сегодня в 3")
    reply = await t.say("Алина")
    assert "Подтверждаете" in reply, t.transcript
    reply = await t.say("сегодня не могу, а на выходных в воскресенье после 2?")
    assert "не записываю" not in reply and "29 ноября" in reply, t.transcript
    await t.finish(reply, pick=first, name="Алина")
    assert_booked(t, d(29), None, 1001, "14:00", "19:00")


async def a10_refusal_with_a_new_day_while_choosing(t: Talk) -> None:
    reply = await t.say("маникюр классический завтра после обеда")
    assert listed(reply), t.transcript
    reply = await t.say("завтра никак(( а в четверг утром есть?")
    assert "чт 26 ноября" in reply and "не записываю" not in reply, t.transcript
    await t.finish(reply, pick=first, name="Оля")
    assert_booked(t, d(26), None, 1012, "10:00", "11:59")


# --- 5. insisting on a master ---------------------------------------------------------------------------
async def a11_insisting_on_a_master_on_her_day_off(t: Talk) -> None:
    reply = await t.say("маникюр к марине в субботу")
    assert "Марина" in reply and "не работает" in reply and "нет свободного времени" not in reply, t.transcript
    assert "Екатерина" in reply, t.transcript
    reply = await t.say("не, я хочу именно к марине, когда у неё ближайшее окошко?")
    lines = listed(reply)
    assert lines and "Екатерина" not in reply and "Марин" in reply, t.transcript
    assert not any("сб 28" in line for line in lines), t.transcript
    await t.finish(reply, pick=first, name="Юля")
    [rec] = t.new_records()
    assert rec.staff_id == MARINA and rec.service_ids == [1012], t.transcript


async def a12_master_named_again_while_others_offered(t: Talk) -> None:
    await t.say("педикюр в субботу")  # nobody does pedicures on Saturdays
    reply = await t.say("маникюр к марине в воскресенье")
    assert "не работает" in reply, t.transcript
    reply = await t.say("только к марине")
    assert "Екатерина" not in reply and listed(reply), t.transcript
    await t.finish(reply, pick=first, name="Юля")
    [rec] = t.new_records()
    assert rec.staff_id == MARINA and rec.start.date() == d(30), t.transcript


# --- 7. the free time is said before the name is asked ---------------------------------------------------
async def a13_free_time_said_before_the_name(t: Talk) -> None:
    reply = await t.say("хочу на стрижку сегодня в 3")
    assert t.chat.last_count == 1, t.transcript
    assert "15:00" in reply and "свободн" in reply.lower() and NAME_ASK.search(reply.lower()), t.transcript
    assert reply.lower().index("свободн") < reply.lower().index("зовут"), t.transcript


# --- 8. cancelling a record the salon made ------------------------------------------------------------------
async def a14_salon_record_cancel_deletes_it(t: Talk) -> None:
    await t.say("отмените запись на сегодня, пожалуйста")
    reply = await t.say("да")
    assert "отменена" in reply, t.transcript
    rec = t.record(4003)
    assert rec.deleted and rec.attendance != -1, f"deleted={rec.deleted} attendance={rec.attendance}"


SCENARIOS: list[tuple[Scenario, str]] = [
    (a01_other_master_free_at_the_exact_time, "+79990000401"),
    (a02_to_another_master_drops_the_master, "+79990000402"),
    (a03_any_master_at_that_time, "+79990000403"),
    (a04_cancel_confirmation_becomes_a_move, SERGEY),
    (a05_cancel_confirmation_move_to_another_day_and_time, NATALIA),
    *((swap(text), f"+7999000041{i}") for i, text in enumerate(SWAPS)),
    (a07_one_of_two_services_refused, "+79990000420"),
    (a08_refusal_alone_keeps_the_rest, "+79990000421"),
    (a09_refusal_with_a_new_day_at_confirmation, "+79990000422"),
    (a10_refusal_with_a_new_day_while_choosing, "+79990000423"),
    (a11_insisting_on_a_master_on_her_day_off, "+79990000424"),
    (a12_master_named_again_while_others_offered, "+79990000425"),
    (a13_free_time_said_before_the_name, "+79990000426"),
    (a14_salon_record_cancel_deletes_it, NATALIA),
]


@pytest.mark.parametrize(("scenario", "phone"), [pytest.param(fn, ph, id=fn.__name__) for fn, ph in SCENARIOS])
async def test_dialogue(app_chat: AppChat, scenario: Scenario, phone: str) -> None:
    await play(app_chat, scenario, phone)
