"""Dialogues from the second independent evaluation (24 fresh dialogues on the demo), through the real
app (simulator WhatsApp + YClients sandbox). Each failed before its fix; each checks the mechanism
with the evaluator's words and with other words for the same thing.

Clock: Mon 2026-11-23 10:00 Moscow; fixture records as in test_dialogues_independent.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.booking.simchat import AppChat
from tests.booking.test_dialogues_audit import listed
from tests.booking.test_dialogues_independent import (
    NAME_ASK,
    SERGEY,
    Scenario,
    Talk,
    assert_booked,
    d,
    first,
    play,
)

ANNA, OLGA, MARINA, KATYA, DARYA = 2001, 2002, 2003, 2004, 2005


def client_name(t: Talk, rec: Any) -> str:
    """The name the sandbox stored for a record's client."""
    return str(t.chat.salon.clients[rec.client_id].name)


# --- 1. the name prompt: a correction is no name; the name corrected at the confirmation -------------
async def n01_correction_at_the_name_prompt(t: Talk) -> None:
    reply = await t.say("хочу записаться на коррекцию бровей в среду в 12")
    assert NAME_ASK.search(reply.lower()), t.transcript
    reply = await t.say("нет, в субботу! в 12")
    assert "Субботу" not in reply and "сб 28 ноября" in reply, t.transcript
    await t.finish(reply, pick=first, name="Вика")
    assert_booked(t, d(28), {DARYA}, 1021, "12:00", "12:00")
    assert client_name(t, t.new_records()[0]) == "Вика", t.transcript


async def n02_day_or_nonsense_at_the_name_prompt_is_no_name(t: Talk) -> None:
    reply = await t.say("хочу на коррекцию бровей в среду в 12")
    assert NAME_ASK.search(reply.lower()), t.transcript
    reply = await t.say("не знаю")
    assert "Не Знаю" not in reply and "имя" in reply, t.transcript
    reply = await t.say("суббота 12:00")
    assert "Суббота," not in reply and "сб 28 ноября" in reply, t.transcript
    reply = await t.say("педикюр")  # a service word is no name either
    assert "Педикюр," not in reply, t.transcript


async def n03_name_corrected_at_confirmation(t: Talk) -> None:
    await t.say("хочу на коррекцию бровей в среду в 12")
    reply = await t.say("Лёша, это сына так зовут. я мама, Оксана")
    assert "Оксана" in reply and "Подтверждаете" in reply, t.transcript
    reply = await t.say("не так, меня зовут Артём")
    assert "Артём" in reply and "Подтверждаете" in reply, t.transcript
    await t.say("да")
    [rec] = t.new_records()
    assert client_name(t, rec) == "Артём", t.transcript


async def n04_bare_name_after_ne_tak(t: Talk) -> None:
    await t.say("хочу на коррекцию бровей в среду в 12")
    await t.say("Оксана")
    reply = await t.say("не так, имя Ксения")
    assert "Ксения" in reply and "Подтверждаете" in reply, t.transcript


# --- 2. a change of mind inside one message --------------------------------------------------------
async def n05_change_of_mind_day(t: Talk) -> None:
    reply = await t.say("хочу записаться на коррекцию бровей в среду.. хотя нет, лучше в субботу в 12")
    assert "сб 28 ноября" in reply and "ср 25" not in reply, t.transcript
    await t.finish(reply, pick=first, name="Вика")
    assert_booked(t, d(28), {DARYA}, 1021, "12:00", "12:00")


async def n06_change_of_mind_move_to_cancel(t: Talk) -> None:
    reply = await t.say("можно перенести на другой день? хотя нет, не надо переносить, атмените лучше пжлст")
    assert "Отменить" in reply, t.transcript
    reply = await t.say("да")
    assert "отменена" in reply, t.transcript
    assert not t.alive(4002), t.transcript


async def n07_no_move_cancel_in_the_move_step(t: Talk) -> None:
    reply = await t.say("хочу перенести запись")
    reply = await t.say("не переносить. отменить")
    assert "Отменить" in reply and "перенести" not in reply.lower(), t.transcript
    await t.say("да")
    assert not t.alive(4002), t.transcript


async def n07b_no_move_keeps_the_visit(t: Talk) -> None:
    await t.say("хочу перенести запись")
    reply = await t.say("нет, не надо переносить")
    assert "остаётся в силе" in reply and "перенести?" not in reply, t.transcript
    assert t.alive(4002) and t.record(4002).start.hour == 18, t.transcript


# --- 3. the service just priced is the one booked ---------------------------------------------------
async def n08_priced_service_carries_into_booking(t: Talk) -> None:
    reply = await t.say("сколько стоит педикюр?")
    assert "2 800" in reply, t.transcript
    reply = await t.say("да, давайте в пятницу с утреца")
    assert "На какую услугу" not in reply and "Педикюр" in reply and "пт 27 ноября" in reply, t.transcript
    await t.finish(reply, pick=first, name="Оля")
    assert_booked(t, d(27), {MARINA}, 1013, "00:00", "11:59")


async def n08b_bare_yes_after_a_price_of_alternatives(t: Talk) -> None:
    reply = await t.say("а сколько стоит маникюр?")
    assert "Маникюр классический" in reply and "Записать" in reply, t.transcript
    reply = await t.say("да")
    assert "Чем могу помочь" not in reply and "«Маникюр классический»" in reply and listed(reply), t.transcript


# --- 4. a free time off the offered list ------------------------------------------------------------
async def n09_free_time_off_the_list(t: Talk) -> None:
    reply = await t.say("маникюр классический в пятницу")
    lines = listed(reply)
    assert lines and not any("13:00" in line for line in lines), t.transcript
    reply = await t.say("а ровно в 13 нельзя?")
    assert "Выберите, пожалуйста" not in reply and "13:00" in reply, t.transcript
    await t.finish(reply, pick=first, name="Оля")
    assert_booked(t, d(27), None, 1012, "13:00", "13:00")


async def n10_around_one_pm(t: Talk) -> None:
    await t.say("маникюр классический в пятницу")
    reply = await t.say("а около часа дня?")
    assert "13:00" in reply and "Выберите, пожалуйста" not in reply, t.transcript
    await t.finish(reply, pick=first, name="Оля")
    assert_booked(t, d(27), None, 1012, "13:00", "13:00")


async def n11_shift_an_hour_later_colloquial(t: Talk) -> None:
    reply = await t.say("а можно мою запись на часик попозже сдвинуть?")
    assert "19:00" in reply, t.transcript
    await t.finish(reply, pick=first, done=lambda: t.record(4002).start.hour != 18)
    rec = t.record(4002)
    assert rec.start.date() == d(25) and rec.start.hour == 19, t.transcript


# --- 5. two services, two masters ------------------------------------------------------------------
async def n12_two_services_two_masters(t: Talk) -> None:
    reply = await t.say("хочу на стрижку к ане в пятницу в 2 и на маникюр классический в этот же день после стрижки")
    assert "нельзя записаться онлайн" not in reply, t.transcript
    assert "Анн" in reply, t.transcript
    await answer_all(t, reply, 2)
    recs = sorted(t.new_records(), key=lambda r: r.start)
    assert len(recs) == 2, t.transcript
    hair, nails = recs
    assert hair.service_ids == [1001] and hair.staff_id == ANNA and hair.start.date() == d(27), t.transcript
    assert hair.start.hour == 14, t.transcript
    assert nails.service_ids == [1012] and nails.start.date() == d(27) and nails.start > hair.start, t.transcript


async def answer_all(t: Talk, reply: str, records: int) -> None:
    """Give the name, pick the first offer and confirm until `records` new records exist."""
    for _ in range(8):
        if len(t.new_records()) >= records:
            return
        if NAME_ASK.search(reply.lower()):
            reply = await t.say("Лена")
        elif listed(reply):
            reply = await t.say("1")
        elif "?" in reply:
            reply = await t.say("да")
        else:
            return


async def n12b_two_services_no_master_named(t: Talk) -> None:
    reply = await t.say("маникюр классический и женскую стрижку в четверг в 12")
    assert "нельзя" not in reply and "отдельно" not in reply, t.transcript
    await answer_all(t, reply, 2)
    first_visit, second_visit = sorted(t.new_records(), key=lambda r: r.start)
    assert {first_visit.service_ids[0], second_visit.service_ids[0]} == {1012, 1001}, t.transcript
    assert first_visit.start.date() == second_visit.start.date() == d(26), t.transcript
    assert first_visit.start.hour == 12 and second_visit.start > first_visit.start, t.transcript


async def n12c_second_service_dropped_midway(t: Talk) -> None:
    reply = await t.say("маникюр классический и женскую стрижку в четверг в 12")
    assert "по очереди" in reply, t.transcript
    reply = await t.say("нет, давайте только стрижку")
    await answer_all(t, reply, 1)
    assert "Теперь" not in t.transcript, t.transcript
    [rec] = t.new_records()
    assert rec.service_ids == [1001], t.transcript


# --- 6. a price question is no booking ---------------------------------------------------------------
async def n13_extra_cost_question(t: Talk) -> None:
    reply = await t.say("а снятие старого покрытия отдельно оплачивается?")
    assert "Снятие гель-лака — 500" in reply and "Маникюр с покрытием" not in reply and not listed(reply), t.transcript
    reply = await t.say("нет, я пока не записываюсь, просто спросила про цену снятия")
    assert "время" not in reply.lower() or "пишите" in reply.lower(), t.transcript
    assert not listed(reply), t.transcript


async def n14_not_booking_ends_the_flow(t: Talk) -> None:
    reply = await t.say("маникюр классический в пятницу")
    assert listed(reply), t.transcript
    reply = await t.say("я пока не записываюсь, просто спросила")
    assert not listed(reply) and "Выберите" not in reply, t.transcript
    reply = await t.say("спасибо")
    assert "Выберите" not in reply, t.transcript


# --- 7. a service the salon does not have; one day's hours -----------------------------------------------
async def n15_service_not_offered(t: Talk) -> None:
    reply = await t.say("а ламинирование делаете?")
    assert "ламинирования у нас нет" in reply and "Коррекция бровей" in reply, t.transcript
    assert "Стрижка" not in reply and "Маникюр" not in reply, t.transcript  # not the whole menu
    reply = await t.say("а шугаринг есть?")
    assert "шугаринга у нас нет" in reply and "Маникюр" not in reply, t.transcript


async def n16_hours_of_one_day(t: Talk) -> None:
    reply = await t.say("до скольки в воскресенье")
    assert "с 11:00 до 19:00" in reply and "Пн–Сб" not in reply, t.transcript
    reply = await t.say("а завтра во сколько открываетесь?")
    assert "с 10:00 до 21:00" in reply, t.transcript


SCENARIOS: list[tuple[Scenario, str]] = [
    (n01_correction_at_the_name_prompt, "+79990000501"),
    (n02_day_or_nonsense_at_the_name_prompt_is_no_name, "+79990000502"),
    (n03_name_corrected_at_confirmation, "+79990000503"),
    (n04_bare_name_after_ne_tak, "+79990000504"),
    (n05_change_of_mind_day, "+79990000505"),
    (n06_change_of_mind_move_to_cancel, SERGEY),
    (n07_no_move_cancel_in_the_move_step, SERGEY),
    (n07b_no_move_keeps_the_visit, SERGEY),
    (n08_priced_service_carries_into_booking, "+79990000508"),
    (n08b_bare_yes_after_a_price_of_alternatives, "+79990000518"),
    (n09_free_time_off_the_list, "+79990000509"),
    (n10_around_one_pm, "+79990000510"),
    (n11_shift_an_hour_later_colloquial, SERGEY),
    (n12_two_services_two_masters, "+79990000512"),
    (n12b_two_services_no_master_named, "+79990000515"),
    (n12c_second_service_dropped_midway, "+79990000519"),
    (n13_extra_cost_question, "+79990000513"),
    (n14_not_booking_ends_the_flow, "+79990000514"),
    (n15_service_not_offered, "+79990000516"),
    (n16_hours_of_one_day, "+79990000517"),
]


@pytest.mark.parametrize(("scenario", "phone"), [pytest.param(fn, ph, id=fn.__name__) for fn, ph in SCENARIOS])
async def test_dialogue(app_chat: AppChat, scenario: Scenario, phone: str) -> None:
    await play(app_chat, scenario, phone)
