"""Multi-turn dialogues through the simulator API against the YClients sandbox, in the real app.

Clients write as real clients do: lowercase, typos, emoji, several requests at once, bursts of
messages. Each dialogue ends with the expected record created, moved or cancelled in the sandbox
(or the expected answer). The clock starts Mon 2026-11-23 10:00 Moscow; the demo salon's fixture
records sit at: Елена (+79161234567) tomorrow 12:00 стрижка у Анны and 14:00 маникюр у Марины;
Сергей (+79031112233) in two days 18:00 у Игоря; Наталья (+79257654321) today 16:00 у Марины.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import redis.asyncio as aioredis

from booking.actions import BookingActions
from booking.config import BookingConfig
from booking.dialogue import Dialogue
from booking.nlu import understand
from booking.pipeline import BookingHandler
from booking.slots import SlotFinder
from booking.store import BookingStore
from gateway.clock import FakeClock
from gateway.tasks import TaskSupervisor
from tests.booking.conftest import SandboxStack, open_sandbox_stack
from tests.booking.fakes import FakeHandoff, FakeOutbox
from tests.booking.simchat import AppChat, Chat, PipeChat, lookup_key

MSK = ZoneInfo("Europe/Moscow")
ELENA, SERGEY, NATALIA = "+79161234567", "+79031112233", "+79257654321"


def at(day: int, hm: str) -> datetime:
    """Salon-local 2026-11-{day} HH:MM."""
    h, m = hm.split(":")
    return datetime(2026, 11, day, int(h), int(m), tzinfo=MSK)


@pytest.fixture(params=["pipeline", "app"])
async def sim(
    request: pytest.FixtureRequest, make_client: Any, pool: asyncpg.Pool, redis: aioredis.Redis, clock: FakeClock
) -> AsyncIterator[Chat]:
    """The same dialogue through the booking pipeline alone, and through the whole app's simulator."""
    if request.param == "app":
        if lookup_key("gateway.wiring.sessions", "INBOX") is None:
            pytest.skip("the sessions engine is not wired yet (gateway/wiring/sessions.py has no INBOX)")
        # The YClients per-IP limit is not what these dialogues test: raise it so the sandbox answers at once.
        # One try per YClients call: the retry backoff sleeps in real time, which these tests never do.
        client = await make_client(demo=True, yclients_rate_per_s=1000.0, yclients_max_attempts=1)
        yield await AppChat.start(client, clock)
        return
    async with open_sandbox_stack(pool, clock) as stack:
        async for chat in _pipe_chat(stack, pool, redis, clock):
            yield chat


async def _pipe_chat(stack: SandboxStack, pool: asyncpg.Pool, redis: aioredis.Redis,
                     clock: FakeClock) -> AsyncIterator[Chat]:
    store = BookingStore(pool)
    handoff = FakeHandoff()
    tasks = TaskSupervisor("test")
    handler = BookingHandler(
        store=store,
        dialogue=Dialogue(BookingActions(stack.api, store, clock), SlotFinder(stack.api), handoff),
        directory=stack.directory, outbox=FakeOutbox(), understand=understand, redis=redis, clock=clock,
        spawner=tasks, config=BookingConfig(), handoff=handoff,
    )
    chat = PipeChat(clock, pool, stack.sandbox, stack.company_id, pipe=handler, handoff=handoff)
    chat.outbox = handler.outbox  # type: ignore[assignment]
    try:
        yield chat
    finally:
        await handler.close()
        await tasks.close(grace_s=0)


async def test_new_client_books_manicure_with_name(sim: Chat) -> None:
    phone = "+79991110001"
    r = await sim.say(phone, "здравствуйте) хочу на маникюр с покрытием завтра в 4")
    assert "зовут" in r
    r = await sim.say(phone, "аня")
    assert "Аня" in r and "16:00" in r and "Подтверждаете" in r
    assert sim.records_of(phone[1:]) == []
    r = await sim.say(phone, "да")
    assert "Готово" in r
    [rec] = sim.records_of(phone[1:])
    assert rec.start == at(24, "16:00") and rec.staff_id == 2003 and rec.service_ids == [1011]
    assert sim.salon.clients[rec.client_id].name == "Аня"


async def test_burst_of_three_messages_gets_one_answer_then_books(sim: Chat) -> None:
    phone = "+79991110002"
    await sim.send(phone, "привет", "можно на педикюр", "в среду после обеда")
    r = await sim.answer(phone)
    assert sim.last_count == 1 and r.count("Свободное время") == 1 and r.count("Здравствуйте") == 1
    assert "1)" in r and "ср 25" in r
    r = await sim.say(phone, "давайте 2")
    assert "зовут" in r
    r = await sim.say(phone, "Меня зовут Ольга")
    assert "Ольга" in r and "Педикюр" in r
    r = await sim.say(phone, "подтверждаю")
    assert "Готово" in r
    [rec] = sim.records_of(phone[1:])
    assert rec.start.date() == at(25, "13:00").date() and rec.start.hour >= 13 and rec.service_ids == [1013]


async def test_known_client_books_haircut_without_being_asked_name(sim: Chat) -> None:
    r = await sim.say(ELENA, "добрый день! запишите меня на женскую стрижку к анне в пятницу утром пожалуйста")
    assert "1)" in r and "пт 27" in r
    r = await sim.say(ELENA, "первый вариант")
    assert "Елена" in r and "Анна Смирнова" in r and "зовут" not in r
    r = await sim.say(ELENA, "ок 👍")
    assert "Готово" in r
    new = [rec for rec in sim.records_of(ELENA[1:]) if rec.start.date() == at(27, "10:00").date()]
    assert len(new) == 1 and new[0].staff_id == 2001 and new[0].start.hour < 12


async def test_asked_master_off_offers_other_masters(sim: Chat) -> None:
    phone = "+79991110004"
    r = await sim.say(phone, "женская стрижка к оле сегодня вечером можно?")
    assert "других мастеров" in r and "Анна Смирнова" in r
    r = await sim.say(phone, "1")
    r = await sim.say(phone, "Катя")
    assert "Анна Смирнова" in r
    r = await sim.say(phone, "да")
    [rec] = sim.records_of(phone[1:])
    assert rec.staff_id == 2001 and rec.start.date() == at(23, "17:00").date() and rec.start.hour >= 17


async def test_prices_question(sim: Chat) -> None:
    r = await sim.say("+79991110005", "скок стоит окрашивание волос?")
    assert "Окрашивание волос" in r and "4 500–9 000 ₽" in r


async def test_hours_and_address(sim: Chat) -> None:
    r = await sim.say("+79991110006", "где вы находитесь и до скольки работаете")
    assert "Садовая-Кудринская, 12" in r and "Пн–Сб 10:00–21:00" in r


async def test_services_list(sim: Chat) -> None:
    r = await sim.say("+79991110007", "какие у вас есть услуги?")
    assert "Педикюр" in r and "Наращивание ресниц" in r and "Мужская стрижка" in r


async def test_my_records_lists_only_own(sim: Chat) -> None:
    r = await sim.say(ELENA, "какие у меня записи?")
    assert "завтра в 12:00" in r and "завтра в 14:00" in r and "18:00" not in r and "16:00" not in r


async def test_cancel_single_own_record(sim: Chat) -> None:
    r = await sim.say(NATALIA, "отмените мою запись пожалуйста, заболела 😷")
    assert "Отменить" in r and "сегодня в 16:00" in r
    assert sim.records_of(NATALIA[1:])
    r = await sim.say(NATALIA, "да")
    assert "отменена" in r
    assert sim.records_of(NATALIA[1:]) == []
    assert len(sim.records_of(ELENA[1:])) == 2 and len(sim.records_of(SERGEY[1:])) == 1


async def test_cancel_the_manicure_of_two_records(sim: Chat) -> None:
    r = await sim.say(ELENA, "хочу отменить запись на маникюр")
    assert "Отменить" in r and "14:00" in r
    r = await sim.say(ELENA, "да")
    assert "отменена" in r
    [left] = sim.records_of(ELENA[1:])
    assert left.start == at(24, "12:00") and left.service_ids == [1001]


async def test_pick_which_record_to_cancel_by_number(sim: Chat) -> None:
    r = await sim.say(ELENA, "отмена записи")
    assert "Какую запись" in r and "1)" in r and "2)" in r
    r = await sim.say(ELENA, "2")
    assert "Отменить" in r and "14:00" in r
    r = await sim.say(ELENA, "да, отменяйте")
    [left] = sim.records_of(ELENA[1:])
    assert left.start == at(24, "12:00")


async def test_reschedule_own_salon_record(sim: Chat) -> None:
    r = await sim.say(SERGEY, "можно перенести мою запись на четверг?")
    assert "1)" in r and "чт 26" in r
    r = await sim.say(SERGEY, "1")
    assert "Переношу" in r
    r = await sim.say(SERGEY, "да")
    assert "перенесена" in r
    [rec] = sim.records_of(SERGEY[1:])
    assert rec.id == 4002 and rec.start.date() == at(26, "10:00").date() and rec.staff_id == 2007


async def test_stranger_cannot_touch_others_records(sim: Chat) -> None:
    before = {r.id: (r.start, r.deleted, r.attendance) for r in sim.salon.records.values()}
    phone = "+79995550000"
    r = await sim.say(phone, "отмените запись елены орловой на завтра")
    assert "Не нашла" in r
    r = await sim.say(phone, "перенесите запись 4001 на пятницу")
    assert "Не нашла" in r
    assert {r.id: (r.start, r.deleted, r.attendance) for r in sim.salon.records.values()} == before


async def test_decline_books_nothing(sim: Chat) -> None:
    phone = "+79991110009"
    await sim.say(phone, "брови завтра в 12")
    r = await sim.say(phone, "Маша")
    assert "Подтверждаете" in r
    r = await sim.say(phone, "нет, передумала")
    assert "не записываю" in r
    assert sim.records_of(phone[1:]) == []


async def test_handoff_to_human_pauses_the_bot(sim: Chat) -> None:
    phone = "+79991110010"
    r = await sim.say(phone, "позовите администратора, пожалуйста")
    assert "администратор" in r
    await sim.send(phone, "алло?", reaches_bot=False)
    assert await sim.answer(phone, expect=False) == ""


async def test_confirming_twice_books_once(sim: Chat) -> None:
    phone = "+79991110011"
    await sim.say(phone, "маникюр классический послезавтра в 11")
    await sim.say(phone, "Лена")
    r = await sim.say(phone, "да")
    assert "Готово" in r
    r = await sim.say(phone, "да!!")
    assert "Всё в силе" in r
    await sim.send(phone, "да", "да")
    await sim.answer(phone)
    assert len(sim.records_of(phone[1:])) == 1
    assert len(sim.sandbox.requests_to(r"/book_record/", "POST")) == 1


async def test_yclients_down_honest_reply_then_retry(sim: Chat) -> None:
    phone = "+79991110012"
    await sim.say(phone, "педикюр завтра в 11")
    await sim.say(phone, "Вера")
    fault = sim.sandbox.add_fault(r"/book_record/", "status", status=503, method="POST")
    r = await sim.say(phone, "да")
    assert "не отвечает" in r and "Готово" not in r
    assert sim.records_of(phone[1:]) == []
    sim.sandbox.faults.remove(fault)
    r = await sim.say(phone, "да")
    assert "Готово" in r
    [rec] = sim.records_of(phone[1:])
    assert rec.start == at(24, "11:00")


async def test_typos_and_emoji(sim: Chat) -> None:
    phone = "+79991110013"
    r = await sim.say(phone, "хачу запесатся на бровки завтра утром 🙏🙏")
    assert "1)" in r and "Дарья" in r
    r = await sim.say(phone, "3")
    r = await sim.say(phone, "это Алина")
    r = await sim.say(phone, "ага")
    assert "Готово" in r
    [rec] = sim.records_of(phone[1:])
    assert rec.staff_id == 2005 and rec.start.date() == at(24, "11:00").date() and rec.start.hour < 12


async def test_day_off_offers_nearest_days(sim: Chat) -> None:
    phone = "+79991110014"
    r = await sim.say(phone, "наращивание ресниц в четверг")
    assert "Дарья в четверг (26 ноября) не работает" in r and "1)" in r and ") чт" not in r
    r = await sim.say(phone, "1")
    r = await sim.say(phone, "Соня")
    r = await sim.say(phone, "да")
    [rec] = sim.records_of(phone[1:])
    assert rec.staff_id == 2005 and rec.start.date() > at(26, "10:00").date()


async def test_two_services_at_once(sim: Chat) -> None:
    phone = "+79991110015"
    r = await sim.say(phone, "маникюр и педикюр завтра после 5")
    assert "Педикюр" in r
    r = await sim.say(phone, "1")
    await sim.say(phone, "Ира")
    r = await sim.say(phone, "да")
    assert "Готово" in r
    [rec] = sim.records_of(phone[1:])
    assert 1013 in rec.service_ids and len(rec.service_ids) == 2 and rec.staff_id == 2003


async def test_time_not_offered_is_not_booked(sim: Chat) -> None:
    phone = "+79991110016"
    r = await sim.say(phone, "стрижка мужская сегодня вечером")
    assert "1)" in r
    r = await sim.say(phone, "а в 23:30 можно?")
    assert "записать не получится" in r and "в 23:30 —" not in r
    r = await sim.say(phone, "да")
    assert sim.records_of(phone[1:]) == []


async def test_greeting_and_thanks(sim: Chat) -> None:
    phone = "+79991110017"
    r = await sim.say(phone, "Привет!")
    assert "Лаванда" in r
    r = await sim.say(phone, "спасибо большое")
    assert "Пожалуйста" in r


async def test_book_then_move_own_booking(sim: Chat) -> None:
    phone = "+79991110018"
    await sim.say(phone, "укладка завтра в 13:00")
    await sim.say(phone, "Дина")
    r = await sim.say(phone, "да")
    assert "Готово" in r
    [rec] = sim.records_of(phone[1:])
    r = await sim.say(phone, "ой, перенесите пожалуйста на четверг в 16")
    assert "Переношу" in r and "чт 26 ноября в 16:00" in r
    r = await sim.say(phone, "да")
    assert "перенесена" in r
    [moved] = sim.records_of(phone[1:])
    assert moved.id == rec.id and moved.start == at(26, "16:00")


async def test_two_salons_are_separate_tenants(sim: Chat) -> None:
    import copy

    from tests.booking.fakes import demo_data

    data = copy.deepcopy(demo_data())
    data["company"].update(id=962399, title="Студия «Сирень»", public_title="Сирень",
                           address="Москва, Тверская, 1")
    data["records"] = []
    sim.sandbox.add_salon(data)
    await sim.pool.execute(
        "INSERT INTO companies (salon_id, company_id, yclients_id, title, integration_status) "
        "VALUES (962399, 962399, 962399, 'Студия «Сирень»', 'active')")
    other = await sim.open_salon(962399)  # type: ignore[attr-defined]
    phone = "+79991110020"
    assert "Садовая" in await sim.say(phone, "какой у вас адрес?")
    assert "Тверская" in await other.say(phone, "какой у вас адрес?")
    await other.say(phone, "педикюр завтра в 11")
    await other.say(phone, "Зоя")
    assert "Готово" in await other.say(phone, "да")
    assert len(other.records_of(phone[1:])) == 1 and sim.records_of(phone[1:]) == []
    r = await sim.say(phone, "мои записи")
    assert "нет предстоящих" in r


async def test_yclients_down_while_searching_then_retry(sim: Chat) -> None:
    phone = "+79991110021"
    fault = sim.sandbox.add_fault(r"/book_times/", "status", status=502)
    r = await sim.say(phone, "можно на педикюр завтра?")
    assert "не отвечает" in r and "1)" not in r
    sim.sandbox.faults.remove(fault)
    r = await sim.say(phone, "ну что, получилось?")
    assert "1)" in r and "Педикюр" in r
