"""Dialogues from the third blind evaluation (15/16 right) and the general rules behind its misses,
through the real app (simulator WhatsApp + YClients sandbox). Each failed before its fix.

Clock: Mon 2026-11-23 10:00 Moscow; fixture records as in test_dialogues_independent.py.
"""

from __future__ import annotations

import pytest

from tests.booking.simchat import AppChat
from tests.booking.test_dialogues_independent import (
    NAME_ASK,
    Scenario,
    Talk,
    assert_booked,
    d,
    first,
    play,
)

ANNA, OLGA, MARINA, KATYA, DARYA = 2001, 2002, 2003, 2004, 2005


def client_name(t: Talk, rec: object) -> str:
    """The name the sandbox stored for a record's client."""
    return str(t.chat.salon.clients[rec.client_id].name)  # type: ignore[attr-defined]


# --- 1. a stretched or doubled yes confirms ---------------------------------------------------------
async def m01_stretched_yes_confirms(t: Talk) -> None:
    reply = await t.say("хочу на коррекцию бровей в среду в 12")
    assert NAME_ASK.search(reply.lower()), t.transcript
    reply = await t.say("Вика")
    assert "Подтверждаете" in reply, t.transcript
    await t.say("дааа")
    assert_booked(t, d(25), {DARYA}, 1021, "12:00", "12:00")


async def m01b_doubled_yes_confirms(t: Talk) -> None:
    await t.say("хочу на коррекцию бровей в среду в 12")
    reply = await t.say("Вика")
    assert "Подтверждаете" in reply, t.transcript
    await t.say("даа")
    assert len(t.new_records()) == 1, t.transcript


# --- 2. a name after the slot choice in the same message --------------------------------------------
async def m02_name_with_the_slot_choice(t: Talk) -> None:
    reply = await t.say("хочу на коррекцию бровей в среду")
    assert "1" in reply, t.transcript
    reply = await t.say("давайте последний вариант. Мария")
    assert not NAME_ASK.search(reply.lower()) and "Мария" in reply and "Подтверждаете" in reply, t.transcript
    await t.say("да")
    [rec] = t.new_records()
    assert client_name(t, rec) == "Мария", t.transcript


# --- 3. a child's haircut -------------------------------------------------------------------------
async def m03_child_haircut(t: Talk) -> None:
    reply = await t.say("сынишку надо подстричь ему 7 лет) к Ольге в субботу в 12?")
    assert "Детская стрижка" in reply and "Женская" not in reply, t.transcript


async def m03b_daughter_age(t: Talk) -> None:
    reply = await t.say("ей 10 лет, хотим подстричься в субботу в 12 к Ольге")
    assert "Детская стрижка" in reply and "Женская" not in reply, t.transcript


# --- 4. a cancel with a past-tense "перенесли" about something else -----------------------------------
async def m04_cancel_not_move(t: Talk) -> None:
    reply = await t.say("запишите на укладку в среду в 15 к Ольге")
    await t.finish(reply, pick=first, name="Вика")
    [rec] = t.new_records()
    reply = await t.say("корпоратив перенесли на декабрь, так что укладка пока не нужна, уберите запись пжл")
    assert "перенести" not in reply.lower() and "Отменить" in reply, t.transcript
    await t.say("да")
    assert not t.alive(rec.id), t.transcript


# --- 5. a new day right after booking moves the visit just booked ------------------------------------
async def m05_new_day_after_booking_moves_it(t: Talk) -> None:
    reply = await t.say("запишите на маникюр классический в среду в 14 к Марине")
    await t.finish(reply, pick=first, name="Вика")
    [rec] = t.new_records()
    reply = await t.say("слушайте а можно лучше в четверг в час дня? в среду неудобно получается")
    assert "Переношу" in reply and "13:00" in reply, t.transcript
    await t.say("да")
    moved = t.record(rec.id)
    assert t.alive(rec.id) and "2026-11-26" in str(moved.start) and "13:00" in str(moved.start), t.transcript


async def m05b_the_visit_just_booked_among_others(t: Talk) -> None:
    reply = await t.say("запишите на коррекцию бровей в среду в 12")
    await t.finish(reply, pick=first)
    [rec] = t.new_records()
    reply = await t.say("ой, а можно лучше в субботу в 12?")
    assert "Какую" not in reply and "Переношу" in reply and "Коррекция бровей" in reply, t.transcript
    await t.say("да")
    assert "2026-11-28" in str(t.record(rec.id).start), t.transcript


# --- 6. several questions in one message -----------------------------------------------------------
async def m06_who_and_when_and_address(t: Talk) -> None:
    reply = await t.say("а кто у вас маникюр делает? и есть ли кто-то по субботам… и адрес скиньте")
    assert "Марина" in reply and "Екатерина" in reply, t.transcript
    assert "Садовая-Кудринская" in reply, t.transcript
    saturday = reply[reply.lower().find("суббот"):] if "суббот" in reply.lower() else ""
    assert saturday and "Екатерина" in saturday and "Марина" not in saturday, t.transcript
    assert len(t.new_records()) == 0


async def m06c_who_and_price(t: Talk) -> None:
    reply = await t.say("кто делает педикюр и сколько стоит? и до скольки вы работаете")
    assert "Марина" in reply and "₽" in reply and "21:00" in reply, t.transcript
    assert len(t.new_records()) == 0


async def m06b_who_does_is_no_booking(t: Talk) -> None:
    reply = await t.say("а мастера по маникюру кто?")
    assert "Марина" in reply and "Екатерина" in reply and not NAME_ASK.search(reply.lower()), t.transcript
    assert "свободн" not in reply.lower(), t.transcript


SCENARIOS: list[tuple[Scenario, str]] = [
    (m01_stretched_yes_confirms, "+79990000601"),
    (m01b_doubled_yes_confirms, "+79990000602"),
    (m02_name_with_the_slot_choice, "+79990000603"),
    (m03_child_haircut, "+79990000604"),
    (m03b_daughter_age, "+79990000605"),
    (m04_cancel_not_move, "+79990000606"),
    (m05_new_day_after_booking_moves_it, "+79990000607"),
    (m05b_the_visit_just_booked_among_others, "+79161234567"),
    (m06_who_and_when_and_address, "+79990000608"),
    (m06c_who_and_price, "+79990000610"),
    (m06b_who_does_is_no_booking, "+79990000609"),
]


@pytest.mark.parametrize(("scenario", "phone"), [pytest.param(fn, ph, id=fn.__name__) for fn, ph in SCENARIOS])
async def test_dialogue(app_chat: AppChat, scenario: Scenario, phone: str) -> None:
    await play(app_chat, scenario, phone)
