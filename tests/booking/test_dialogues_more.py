"""A second batch of client dialogues through the real app, written in phase 2 (after reading the
dialogue code, so less independent than tests/booking/test_dialogues_independent.py): situations
the first batch did not cover — a time before opening, a master's day off, two services, a relative
week, a question inside a booking, a known client's own move without a day.

Result: of the first 12, 9 passed at the first run (one failure was the test's own driver picking a
time the text only mentioned, fixed; "сколько длится педикюр" got the whole price list; "кто делает
маникюр?" got free times); of the next 11, 9 ("на час позже", "не смогу в среду, давайте в четверг");
of the last 7, 6 ("педикюр сразу после маникюра" booked a second manicure). All 30 pass after the
generic fixes.

Clock: Mon 2026-11-23 10:00 Moscow (fixture records: see test_dialogues_independent.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.booking.simchat import AppChat
from tests.booking.test_dialogues_independent import (
    ELENA,
    NAME_ASK,
    NATALIA,
    SERGEY,
    Scenario,
    Talk,
    assert_booked,
    by_time,
    d,
    digits,
    first,
    moved,
    offered_times,
    play,
    second,
)


async def m01_before_opening_then_ten(t: Talk) -> None:
    reply = await t.say("можно на завтра на 9 утра женскую стрижку?")
    offers = [line for line in reply.splitlines() if line[:2] in ("1)", "2)", "3)", "4)", "5)")]
    assert offers and not any("09:00" in line for line in offers), t.transcript  # nobody works at 9
    if NAME_ASK.search(reply.lower()):
        reply = await t.say("Ира")
    await t.finish(reply, pick=by_time(0), name="Ира")
    assert_booked(t, d(24), {2001, 2002}, 1001, "10:00", "11:00")


async def m02_olya_day_off_then_tuesday(t: Talk) -> None:
    reply = await t.say("хочу к оле на стрижку в понедельник")
    assert "Ольга" in reply or "Оля" in reply or "Ол" in reply, t.transcript
    reply = await t.say("тогда во вторник после 15")
    await t.finish(reply, pick=first, name="Нина")
    assert_booked(t, d(24), {2002}, 1001, "15:00", "21:00")


async def m03_manicure_and_pedicure_together(t: Talk) -> None:
    reply = await t.say("запишите на маникюр классический и педикюр в пятницу, к марине")
    await t.finish(reply, pick=first, name="Жанна")
    new = t.new_records()
    assert new and all(r.staff_id == 2003 and r.start.date() == d(27) for r in new), t.transcript
    assert {1012, 1013} <= {s for r in new for s in r.service_ids}, t.transcript


async def m04_in_a_week(t: Talk) -> None:
    reply = await t.say("подстричься через неделю можно? мужская стрижка, часов в 12")
    await t.finish(reply, pick=by_time(0), name="Артём")
    assert_booked(t, d(30), {2002, 2007}, 1002, "11:00", "13:00")


async def m05_duration_question(t: Talk) -> None:
    reply = await t.say("сколько по времени длится педикюр?")
    assert "1 ч 30 мин" in reply or "90 мин" in reply or "полтора" in reply, t.transcript


async def m06_masters_for_manicure(t: Talk) -> None:
    reply = await t.say("а кто у вас делает маникюр?")
    assert "Марина" in reply and "Екатерина" in reply, t.transcript


async def m07_igor_today_1830(t: Talk) -> None:
    reply = await t.say("можно сегодня в 18:30 к игорю подстричься? я Максим")
    await t.finish(reply, pick=by_time(0), name="Максим")
    assert_booked(t, d(23), {2007}, 1002, "18:30", "18:30")


async def m08_elena_move_manicure_to_16(t: Talk) -> None:
    reply = await t.say("маникюр можно перенести на 16:00?")
    await t.finish(reply, pick=by_time(0), done=lambda: t.record(4004).start.hour != 14)
    moved(t, 4004, d(24), "16:00", "16:00")


async def m09_sunday_open(t: Talk) -> None:
    reply = await t.say("в воскресенье вы работаете? до скольки?")
    assert "19:00" in reply, t.transcript


async def m10_name_upfront_brow_tint(t: Talk) -> None:
    reply = await t.say("Здравствуйте, меня зовут Мария. Хочу записаться на окрашивание бровей в среду в 12")
    assert not NAME_ASK.search(reply.lower()), t.transcript
    await t.finish(reply, pick=by_time(0), name="Мария")
    assert_booked(t, d(25), {2005}, 1022, "12:00", "12:00")
    assert any(c.name.startswith("Мария") for c in t.chat.salon.clients.values() if c.phone == t.phone[1:])


async def m11_thanks_after_booking_is_short(t: Talk) -> None:
    reply = await t.say("запишите на снятие гель-лака завтра в 17:00")
    await t.finish(reply, pick=by_time(0), name="Дина")
    assert_booked(t, d(24), {2003}, 1014, "17:00", "17:00")
    reply = await t.say("спасибо большое 🙏")
    assert len(reply) < 120 and not offered_times(reply), t.transcript


async def m12_sergey_what_price_of_my_visit(t: Talk) -> None:
    reply = await t.say("сколько будет стоить моя стрижка в среду?")
    assert "1200" in digits(reply), t.transcript


async def m13_no_service_first(t: Talk) -> None:
    reply = await t.say("здравствуйте, хочу записаться")
    reply = await t.say("на гель лак к кате, в пятницу вечером")
    await t.finish(reply, pick=first, name="Лиза")
    assert_booked(t, d(27), {2004}, 1011, "17:00", "21:00")


async def m14_known_client_not_asked_name(t: Talk) -> None:
    reply = await t.say("запишите меня на укладку в четверг в 11")
    assert reply.startswith("Здравствуйте, Елена!"), t.transcript
    await t.finish(reply, pick=by_time(0), name="НЕ СПРАШИВАЙТЕ")
    assert "зовут" not in t.transcript.lower()
    assert_booked(t, d(26), {2001}, 1005, "11:00", "11:00")


async def m15_half_past_in_words(t: Talk) -> None:
    reply = await t.say("можно на массаж лица в среду в полтретьего?")
    await t.finish(reply, pick=by_time(0), name="Регина", confirm="ага")
    assert_booked(t, d(25), {2006}, 1032, "14:30", "14:30")


async def m16_one_hour_later(t: Talk) -> None:
    reply = await t.say("можно мою запись на час позже сдвинуть?")
    await t.finish(reply, pick=by_time(0), done=lambda: t.record(4003).start.hour != 16)
    moved(t, 4003, d(23), "17:00", "17:00")


async def m17_sergey_thursday_same_time(t: Talk) -> None:
    reply = await t.say("я не смогу в среду, давайте в четверг в это же время")
    await t.finish(reply, pick=by_time(0), done=lambda: t.record(4002).start.date() != d(25))
    moved(t, 4002, d(26), "18:00", "18:00")


async def m18_stranger_cancel(t: Talk) -> None:
    reply = await t.say("отмените мою запись пожалуйста")
    assert "не нашла" in reply.lower() or "нет" in reply.lower(), t.transcript


async def m19_price_and_saturday_pedicure(t: Talk) -> None:
    reply = await t.say("добрый вечер! сколько стоит педикюр и можно ли на субботу?")
    assert "2800" in digits(reply) or "2 800" in reply, t.transcript
    # Nobody does pedicures on Saturdays: the nearest days are offered.
    await t.finish(reply, pick=first, name="Инна")
    assert_booked(t, d(30), {2003}, 1013)


async def m20_no_then_other_time(t: Talk) -> None:
    reply = await t.say("детская стрижка завтра в 12, можно?")
    if NAME_ASK.search(reply.lower()):
        reply = await t.say("Вика")
    reply = await t.say("ой нет, лучше в 13:00")
    await t.finish(reply, pick=by_time(0), name="Вика")
    assert_booked(t, d(24), None, 1003, "13:00", "13:00")


async def m21_five_in_the_evening(t: Talk) -> None:
    reply = await t.say("коррекция бровей завтра на 5 вечера")
    await t.finish(reply, pick=by_time(0), name="Эля", confirm="+")
    assert_booked(t, d(24), {2005}, 1021, "17:00", "17:00")


async def m22_an_hour_later_at_confirmation(t: Talk) -> None:
    reply = await t.say("запишите на педикюр в четверг в 12, меня зовут Алла")
    assert "12:00" in reply and "Подтверждаете" in reply, t.transcript
    reply = await t.say("ой, а можно на час позже?")
    assert "13:00" in reply, t.transcript
    await t.finish(reply, pick=by_time(0), name="Алла")
    assert_booked(t, d(26), {2003}, 1013, "13:00", "13:00")


async def m23_yes_to_when_question_keeps_the_move(t: Talk) -> None:
    reply = await t.say("хочу перенести запись")
    reply = await t.say("да")
    assert "перенест" in reply.lower() or "день" in reply.lower(), t.transcript
    reply = await t.say("в пятницу в 19")
    await t.finish(reply, pick=by_time(0), done=lambda: t.record(4002).start.date() != d(25))
    moved(t, 4002, d(27), "19:00", "19:00")


async def m24_master_first_then_service(t: Talk) -> None:
    reply = await t.say("хочу к марине завтра")
    reply = await t.say("маникюр с покрытием")
    await t.finish(reply, pick=first, name="Зоя")
    assert_booked(t, d(24), {2003}, 1011)


async def m25_time_not_in_list_asked(t: Talk) -> None:
    reply = await t.say("чистка лица в четверг")
    if NAME_ASK.search(reply.lower()):
        reply = await t.say("Лера")
    reply = await t.say("а в 14:15 можно?")
    await t.finish(reply, pick=by_time(0), name="Лера")
    assert_booked(t, d(26), {2006}, 1031, "14:15", "14:15")


async def m26_another_day_while_choosing(t: Talk) -> None:
    reply = await t.say("мужская стрижка сегодня")
    reply = await t.say("а на послезавтра что есть?")
    assert "ср 25 ноября" in reply or "послезавтра" in reply, t.transcript
    await t.finish(reply, pick=second, name="Глеб")
    assert_booked(t, d(25), {2002, 2007}, 1002)


async def m27_yes_with_time(t: Talk) -> None:
    reply = await t.say("укладка в субботу днём")
    times = [x for x in offered_times(reply)]
    assert times, t.transcript
    reply = await t.say(f"да, {times[1]} подходит")
    await t.finish(reply, pick=first, name="Ева")
    assert_booked(t, d(28), {2001, 2002}, 1005, times[1], times[1])


async def m28_two_prices(t: Talk) -> None:
    reply = await t.say("сколько стоит маникюр классический и педикюр?")
    got = digits(reply)
    assert "1200" in got and "2800" in got, t.transcript


async def m29_elena_pedicure_after_manicure(t: Talk) -> None:
    reply = await t.say("можно ещё педикюр завтра сразу после маникюра?")
    await t.finish(reply, pick=first, name="Елена",
                   done=lambda: any(1013 in r.service_ids for r in t.new_records()))
    new = [r for r in t.new_records() if 1013 in r.service_ids]
    assert new and new[0].start.date() == d(24) and "15:30" <= new[0].start.strftime("%H:%M") <= "16:30", \
        t.transcript
    assert t.alive(4004) and t.alive(4001), t.transcript


async def m30_another_master_while_choosing(t: Talk) -> None:
    reply = await t.say("стрижка женская к ане в пятницу")
    reply = await t.say("а к оле можно?")
    await t.finish(reply, pick=first, name="Рита")
    assert_booked(t, d(27), {2002}, 1001)


# Dialogues the bot fails (xfail, strict), with the reason.
FAILING_MORE: dict[str, str] = {}

SCENARIOS: list[tuple[Scenario, str]] = [
    (m01_before_opening_then_ten, "+79990000301"),
    (m02_olya_day_off_then_tuesday, "+79990000302"),
    (m03_manicure_and_pedicure_together, "+79990000303"),
    (m04_in_a_week, "+79990000304"),
    (m05_duration_question, "+79990000305"),
    (m06_masters_for_manicure, "+79990000306"),
    (m07_igor_today_1830, "+79990000307"),
    (m08_elena_move_manicure_to_16, ELENA),
    (m09_sunday_open, "+79990000309"),
    (m10_name_upfront_brow_tint, "+79990000310"),
    (m11_thanks_after_booking_is_short, "+79990000311"),
    (m12_sergey_what_price_of_my_visit, SERGEY),
    (m13_no_service_first, "+79990000313"),
    (m14_known_client_not_asked_name, ELENA),
    (m15_half_past_in_words, "+79990000315"),
    (m16_one_hour_later, NATALIA),
    (m17_sergey_thursday_same_time, SERGEY),
    (m18_stranger_cancel, "+79990000318"),
    (m19_price_and_saturday_pedicure, "+79990000319"),
    (m20_no_then_other_time, "+79990000320"),
    (m21_five_in_the_evening, "+79990000321"),
    (m22_an_hour_later_at_confirmation, "+79990000322"),
    (m23_yes_to_when_question_keeps_the_move, SERGEY),
    (m24_master_first_then_service, "+79990000324"),
    (m25_time_not_in_list_asked, "+79990000325"),
    (m26_another_day_while_choosing, "+79990000326"),
    (m27_yes_with_time, "+79990000327"),
    (m28_two_prices, "+79990000328"),
    (m29_elena_pedicure_after_manicure, ELENA),
    (m30_another_master_while_choosing, "+79990000330"),
]


def _params() -> list[Any]:
    out = []
    for fn, phone in SCENARIOS:
        reason = FAILING_MORE.get(fn.__name__)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(fn, phone, id=fn.__name__, marks=marks))
    return out


@pytest.mark.parametrize(("scenario", "phone"), _params())
async def test_dialogue(app_chat: AppChat, scenario: Scenario, phone: str) -> None:
    await play(app_chat, scenario, phone)
