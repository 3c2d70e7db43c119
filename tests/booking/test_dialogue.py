"""The rule dialogue over fake YClients: each step fed an Understanding, as the NLU would give."""

from __future__ import annotations

import asyncio
from datetime import date, time, timedelta

from booking.dialogue import Turn
from booking.model import Understanding
from booking.state import DialogueState
from tests.booking.conftest import Bot
from tests.conftest import START

TOMORROW = date(2026, 11, 24)  # START is Mon 2026-11-23 10:00 MSK
PHONE = "+79990001122"
CHAT = "79990001122@s.whatsapp.net"


def turn(bot: Bot, text: str, phone: str = PHONE, chat: str = CHAT, minutes: int = 0) -> Turn:
    return Turn(salon=bot.salon, chat=chat, phone=phone, now=START + timedelta(minutes=minutes), text=text)


async def say(bot: Bot, st: DialogueState, text: str, u: Understanding, **kw: object) -> str:
    replies = await bot.dialogue.step(turn(bot, text, **kw), st, u)  # type: ignore[arg-type]
    assert replies, "the bot always answers"
    return "\n".join(replies)


def live(bot: Bot) -> list:
    return [r for r in bot.api.records.values() if not r.deleted]


async def test_book_exact_time_asks_name_confirms_and_books_once(bot: Bot) -> None:
    st = DialogueState()
    r = await say(bot, st, "маникюр гель лак завтра в 15", Understanding("book", [1011], None, TOMORROW, time(15)))
    assert "Как вас зовут" in r and not live(bot)
    r = await say(bot, st, "аня", Understanding("other"))
    assert "Аня" in r and "15:00" in r and "Подтверждаете" in r and not live(bot)
    r = await say(bot, st, "да", Understanding("confirm"))
    assert "Готово" in r
    [rec] = live(bot)
    assert rec.starts_at.isoformat() == "2026-11-24T15:00:00+03:00" and rec.staff_id == 2003 and rec.name == "Аня"
    r = await say(bot, st, "да", Understanding("confirm"))
    assert "Всё в силе" in r and len(live(bot)) == 1
    rows = await bot.store.client_bookings(bot.salon.company_id, PHONE, START)
    assert [(x.record_id, x.record_hash) for x in rows] == [(rec.record_id, rec.record_hash)]


async def test_known_client_is_not_asked_name_and_offers_when_time_busy(bot: Bot) -> None:
    st = DialogueState()
    elena = "+79161234567"
    await bot.api.book_record(962302, phone=elena, fullname="X", staff_id=2003, service_ids=[1011],
                              datetime_raw="2026-11-24T15:00:00+03:00", api_id="", comment="")
    r = await say(bot, st, "маникюр к марине завтра в 15", Understanding("book", [1011], 2003, TOMORROW, time(15)),
                  phone=elena)
    assert "записать не получится" in r and "1)" in r and "в 15:00" not in r
    assert st.awaiting == "slot" and 3 <= len(st.offers) <= 5
    r = await say(bot, st, "2", Understanding("other"), phone=elena)
    assert r.startswith("Елена, ") and st.chosen == st.offers[1]


async def test_slot_not_offered_is_never_booked(bot: Bot) -> None:
    st = DialogueState()
    await say(bot, st, "педикюр завтра", Understanding("book", [1013], None, TOMORROW), phone="+79161234567")
    offered = {o.time for o in st.offers}
    assert st.awaiting == "slot" and offered
    # A confirmation without a chosen slot books nothing.
    r = await say(bot, st, "да", Understanding("confirm"), phone="+79161234567")
    assert not live(bot) and "время" in r
    # A state tampered to a slot that was not offered is refused at execution.
    st.awaiting = "confirm"
    from booking.state import Offer
    st.chosen = Offer(2003, "18:00", "2026-11-24", "2026-11-24T18:00:00+03:00", [1013])
    st.offers = [o for o in st.offers if o.time != "18:00"]
    r = await say(bot, st, "да", Understanding("confirm"), phone="+79161234567")
    assert not live(bot)


async def test_double_confirmation_race_books_once(bot: Bot) -> None:
    st = DialogueState()
    phone = "+79161234567"
    await say(bot, st, "маникюр завтра в 11", Understanding("book", [1012], None, TOMORROW, time(11)), phone=phone)
    assert st.awaiting == "confirm"
    a, b = DialogueState.from_json(st.to_json()), DialogueState.from_json(st.to_json())
    ra, rb = await asyncio.gather(
        bot.dialogue.step(turn(bot, "да", phone=phone), a, Understanding("confirm")),
        bot.dialogue.step(turn(bot, "да!", phone=phone), b, Understanding("confirm")),
    )
    assert len(live(bot)) == 1
    assert bot.api.calls.count("book_record") == 1
    assert any("Готово" in x for x in ra + rb)


async def test_yclients_down_is_honest_and_retry_books(bot: Bot) -> None:
    st = DialogueState()
    phone = "+79161234567"
    await say(bot, st, "маникюр завтра в 11", Understanding("book", [1012], None, TOMORROW, time(11)), phone=phone)
    bot.api.down = True
    r = await say(bot, st, "да", Understanding("confirm"), phone=phone)
    assert "не отвечает" in r and "Готово" not in r and not live(bot)
    assert st.awaiting == "confirm"
    bot.api.down = False
    r = await say(bot, st, "да", Understanding("confirm"), phone=phone)
    assert "Готово" in r and len(live(bot)) == 1


async def test_reschedule_and_cancel_only_own_records(bot: Bot) -> None:
    mine, other = "+79161234567", "+79031112233"
    await bot.api.book_record(962302, phone=other, fullname="Сергей", staff_id=2003, service_ids=[1012],
                              datetime_raw="2026-11-24T12:00:00+03:00", api_id="", comment="")
    st = DialogueState()
    r = await say(bot, st, "хочу отменить запись", Understanding("cancel"), phone=mine)
    assert "Не нашла" in r
    await say(bot, st, "маникюр завтра в 11", Understanding("book", [1012], None, TOMORROW, time(11)), phone=mine)
    await say(bot, st, "да", Understanding("confirm"), phone=mine)
    [my_rec] = [r for r in live(bot) if r.phone == mine[1:]]
    r = await say(bot, st, "перенесите на послезавтра в 14", Understanding("reschedule", [], None,
                  TOMORROW + timedelta(days=1), time(14)), phone=mine)
    assert st.flow == "reschedule" and "14:00" in r
    r = await say(bot, st, "да", Understanding("confirm"), phone=mine)
    assert "перенесена" in r
    assert my_rec.starts_at.isoformat() == "2026-11-25T14:00:00+03:00"
    r = await say(bot, st, "отмените", Understanding("cancel"), phone=mine)
    assert "Отменить" in r and "14:00" in r
    r = await say(bot, st, "да", Understanding("confirm"), phone=mine)
    assert "отменена" in r and my_rec.deleted
    assert all(not r.deleted for r in bot.api.records.values() if r.phone == other[1:])


async def test_info_answers_and_handoff(bot: Bot) -> None:
    st = DialogueState()
    r = await say(bot, st, "сколько стоит педикюр", Understanding("prices", [1013]))
    assert "Педикюр" in r and "2 800 ₽" in r
    r = await say(bot, st, "где вы находитесь", Understanding("hours_address"))
    assert "Садовая-Кудринская" in r and "10:00–21:00" in r
    r = await say(bot, st, "позовите администратора", Understanding("human"))
    assert "администратор" in r and (bot.salon.company_id, CHAT) in bot.handoff.paused
    r = await say(bot, st, "привет", Understanding("greeting"))
    assert "Лаванда" in r


async def test_missing_service_is_asked(bot: Bot) -> None:
    st = DialogueState()
    r = await say(bot, st, "хочу записаться на завтра", Understanding("book", [], None, TOMORROW))
    assert "услугу" in r and st.awaiting == "service"
    r = await say(bot, st, "стрижку женскую", Understanding("book", [1001]))
    assert st.awaiting == "slot" and st.date == TOMORROW.isoformat()
    assert all(o.date == TOMORROW.isoformat() for o in st.offers)


async def test_stale_offer_is_looked_up_again_not_booked(bot: Bot) -> None:
    st = DialogueState()
    phone = "+79161234567"
    await say(bot, st, "маникюр завтра в 11", Understanding("book", [1012], None, TOMORROW, time(11)), phone=phone)
    assert st.awaiting == "confirm"
    r = await say(bot, st, "да", Understanding("confirm"), phone=phone, minutes=45)
    assert "устареть" in r and not live(bot)
    assert st.awaiting == "confirm"  # the same time is still free: offered again, freshly
    r = await say(bot, st, "да", Understanding("confirm"), phone=phone, minutes=46)
    assert "Готово" in r and len(live(bot)) == 1


async def test_weekday_while_choosing_is_a_new_day_not_an_ordinal(bot: Bot) -> None:
    st = DialogueState()
    phone = "+79161234567"
    await say(bot, st, "маникюр завтра", Understanding("book", [1012], None, TOMORROW), phone=phone)
    assert st.awaiting == "slot" and len(st.offers) == 5
    friday = date(2026, 11, 27)
    r = await say(bot, st, "а в пятницу можно?", Understanding("book", [], None, friday), phone=phone)
    assert st.awaiting == "slot" and st.chosen is None and all(o.date == friday.isoformat() for o in st.offers), r
    r = await say(bot, st, "давайте третий", Understanding("other"), phone=phone)
    assert st.chosen == st.offers[2] and "Подтверждаете" in r


async def test_lost_answer_after_booking_is_verified_not_rebooked(bot: Bot) -> None:
    st = DialogueState()
    phone = "+79161234567"
    await say(bot, st, "маникюр завтра в 11", Understanding("book", [1012], None, TOMORROW, time(11)), phone=phone)
    bot.api.lose_answer = "after"  # YClients made the record, the answer timed out
    r = await say(bot, st, "да", Understanding("confirm"), phone=phone)
    assert "Готово" in r and len(live(bot)) == 1 and bot.api.calls.count("book_record") == 1


async def test_lost_answer_before_booking_is_honest_then_books_once(bot: Bot) -> None:
    st = DialogueState()
    phone = "+79161234567"
    await say(bot, st, "маникюр завтра в 11", Understanding("book", [1012], None, TOMORROW, time(11)), phone=phone)
    bot.api.lose_answer = "before"
    r = await say(bot, st, "да", Understanding("confirm"), phone=phone)
    assert "не ответила вовремя" in r and "Готово" not in r and not live(bot)
    rows = await bot.store.booking_by_key(bot.salon.company_id, f"{CHAT}:{st.seq}:2003:{st.chosen.datetime_raw}")  # type: ignore[union-attr]
    assert rows is not None and rows.status == "unknown"
    r = await say(bot, st, "да", Understanding("confirm"), phone=phone)
    assert "Готово" in r and len(live(bot)) == 1 and bot.api.calls.count("book_record") == 2


async def test_cancel_names_the_visit_by_its_day(bot: Bot) -> None:
    phone = "+79161234567"
    for day, hm in ((TOMORROW, "11:00"), (date(2026, 11, 26), "12:00")):
        await bot.api.book_record(962302, phone=phone, fullname="Е", staff_id=2003, service_ids=[1012],
                                  datetime_raw=f"{day.isoformat()}T{hm}:00+03:00", api_id="", comment="")
    st = DialogueState()
    r = await say(bot, st, "отмените запись в четверг", Understanding("cancel", [], None, date(2026, 11, 26)),
                  phone=phone)
    assert "Отменить" in r and "12:00" in r and st.target is not None


async def test_price_of_an_ambiguous_word_lists_every_reading(bot: Bot) -> None:
    st = DialogueState()
    u = Understanding("prices", [1012], hints={"ambiguous_services": {1012: [1011]}})
    r = await say(bot, st, "сколько стоит маникюр", u)
    assert "Маникюр классический — 1 200 ₽" in r and "Маникюр с покрытием гель-лак — 2 200 ₽" in r
