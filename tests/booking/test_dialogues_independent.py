"""Independent multi-turn dialogues through the real app (simulator WhatsApp + YClients sandbox).

Written without reading the dialogue code: 30 dialogues as real clients write them (lowercase,
typos, emoji, bursts, changing their mind, a question answered with a question, the name given
when asked, an offered time picked by number or by "давайте в 16:15", "да"/"ок"/"👍").
Each ends with a check against the SANDBOX (record created with the right service, master, date
and time window; record moved; record deleted) or a fact in the reply.

The clock starts Mon 2026-11-23 10:00 Moscow. Fixture records: Елена (+79161234567) Tue 24 12:00
женская стрижка у Анны (4001) and 14:00 маникюр у Марины (4004); Сергей (+79031112233) Wed 25 18:00
мужская стрижка у Игоря (4002); Наталья (+79257654321) Mon 23 16:00 маникюр у Марины (4003).

Pass rate: see PASS_RATE below (phase 1 = unseen, before reading booking/).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest

from tests.booking.simchat import AppChat

PASS_RATE = """
phase 1 (unseen, bot untouched): 26/30 = 86.7% -- bookings 13/14 (b14 on a quality check: the
whole price list mid-booking), reschedules 3/6, cancellations 5/5, questions 5/5.
phase 2 (after generic fixes): 30/30. Fixed: "на то же время" keeps the moved visit's time; a move
with a time but no day stays on the visit's day; the moved visit no longer hides overlapping new
times; "а сколько стоит?" mid-booking prices the service being booked, without the whole list.
"""

ELENA, SERGEY, NATALIA = "+79161234567", "+79031112233", "+79257654321"
FIXTURE_IDS = {4001, 4002, 4003, 4004}
TIME_RE = re.compile(r"(?<![\d:])([01]?\d|2[0-3])[:.]([0-5]\d)(?!\d)")
NAME_ASK = re.compile(r"зовут|ваше имя|как к вам|представьтесь|имя и")
LIST_LINE = re.compile(r"^\s*\d+[).]\s", re.MULTILINE)


# --- the client's side -------------------------------------------------------------------------
def offered_times(reply: str) -> list[str]:
    """Times (HH:MM) the reply mentions, in order, without repeats."""
    out: list[str] = []
    for h, m in TIME_RE.findall(reply):
        t = f"{int(h):02d}:{m}"
        if t not in out:
            out.append(t)
    return out


@dataclass
class Talk:
    """One client's conversation with a transcript for failure messages."""

    chat: AppChat
    phone: str
    log: list[str]

    async def say(self, *texts: str) -> str:
        for t in texts:
            self.log.append(f"> {t}")
        reply = await self.chat.say(self.phone, *texts)
        self.log.append(f"< {reply}")
        return reply

    def records(self) -> list[Any]:
        return self.chat.records_of(self.phone[1:])

    def new_records(self) -> list[Any]:
        return [r for r in self.records() if r.id not in FIXTURE_IDS]

    def record(self, rid: int) -> Any:
        return self.chat.salon.records[rid]

    def alive(self, rid: int) -> bool:
        r = self.chat.salon.records.get(rid)
        return r is not None and not r.deleted and r.attendance != -1

    @property
    def transcript(self) -> str:
        return "\n".join(self.log)

    async def finish(self, reply: str, *, pick: Callable[[list[str]], str], name: str = "Алина",
                     confirm: str = "да", done: Callable[[], bool] | None = None, turns: int = 6) -> str:
        """Answer what the bot asks (name, a time from its offer, a confirmation) until `done`."""
        done = done or (lambda: bool(self.new_records()))
        for _ in range(turns):
            if done():
                break
            low = reply.lower()
            # The client picks from the numbered list, not from a time the text only mentions.
            listed = [line for line in reply.splitlines() if LIST_LINE.match(line)]
            times = offered_times("\n".join(listed)) or offered_times(reply)
            if NAME_ASK.search(low):
                reply = await self.say(name)
            elif LIST_LINE.search(reply):  # a numbered list: of times, or of the client's records
                reply = await self.say(pick(times))
            elif "?" in reply:
                reply = await self.say(confirm)
            else:
                break
        return reply


def first(times: list[str]) -> str:
    return "1"


def second(times: list[str]) -> str:
    return "2"


def by_time(i: int, template: str = "давайте в {}") -> Callable[[list[str]], str]:
    def pick(times: list[str]) -> str:
        return template.format(times[i] if i < len(times) else times[-1])
    return pick


def hm(dt: datetime) -> str:
    return dt.strftime("%H:%M")


def on(r: Any, day: date, staff: set[int] | None, service: int, lo: str = "00:00", hi: str = "23:59") -> bool:
    return (r.start.date() == day and (staff is None or r.staff_id in staff) and service in r.service_ids
            and lo <= hm(r.start) <= hi)


def d(day: int, month: int = 11) -> date:
    return date(2026, month, day)


def assert_booked(t: Talk, day: date, staff: set[int] | None, service: int, lo: str = "00:00",
                  hi: str = "23:59") -> None:
    new = t.new_records()
    assert len(new) == 1, f"expected one new record, got {new}\n{t.transcript}"
    r = new[0]
    assert on(r, day, staff, service, lo, hi), (
        f"record {r.start} staff {r.staff_id} services {r.service_ids}\n{t.transcript}")


# --- bookings (14) ---------------------------------------------------------------------------
async def b01_gel_manicure_tomorrow_afternoon(t: Talk) -> None:
    reply = await t.say("здравствуйте! хочу записаться на маникюр с покрытием завтра после обеда")
    await t.finish(reply, pick=first, name="Алина")
    assert_booked(t, d(24), {2003}, 1011, "12:00", "19:00")


async def b02_anya_haircut_thursday_morning(t: Talk) -> None:
    reply = await t.say("можно к ане на стрижку в четверг утром?", )
    await t.finish(reply, pick=first, name="Вера")
    assert_booked(t, d(26), {2001}, 1001, "10:00", "12:45")


async def b03_igor_mens_cut_friday_evening(t: Talk) -> None:
    reply = await t.say("запишите к игорю на мужскую стрижку в пятницу вечером")
    await t.finish(reply, pick=by_time(-1), name="Дмитрий")
    assert_booked(t, d(27), {2007}, 1002, "17:00", "21:00")


async def b04_pedicure_wednesday_any_master(t: Talk) -> None:
    reply = await t.say("педикюр на среду, к любому мастеру 🙏")
    await t.finish(reply, pick=second, name="Оксана")
    assert_booked(t, d(25), {2003}, 1013)


async def b05_face_cleaning_saturday(t: Talk) -> None:
    reply = await t.say("добрый день, хочу на чистку лица в субботу")
    await t.finish(reply, pick=first, name="Марина")
    assert_booked(t, d(28), {2006}, 1031, "10:00", "14:30")


async def b06_brows_day_after_tomorrow_at_3(t: Talk) -> None:
    reply = await t.say("брови поправить можно? коррекцию. послезавтра часа в 3")
    await t.finish(reply, pick=by_time(0), name="Юля")
    assert_booked(t, d(25), {2005}, 1021, "14:00", "16:00")


async def b07_typos_classic_manicure_tomorrow_11(t: Talk) -> None:
    reply = await t.say("здраствуйте, маникюр класический на завтра на 11 можна?")
    await t.finish(reply, pick=by_time(0), name="Таня", confirm="ок")
    assert_booked(t, d(24), {2003}, 1012, "11:00", "11:00")


async def b08_styling_changes_day(t: Talk) -> None:
    reply = await t.say("привет 👋 хочу на укладку в пятницу")
    if NAME_ASK.search(reply.lower()):
        reply = await t.say("Лена")
    reply = await t.say("ой нет, лучше в субботу")
    await t.finish(reply, pick=first, name="Лена")
    assert_booked(t, d(28), {2001, 2002}, 1005)


async def b09_lashes_dasha_sunday_day(t: Talk) -> None:
    reply = await t.say("наращивание ресниц к даше, в воскресенье днем")
    await t.finish(reply, pick=first, name="Кристина")
    assert_booked(t, d(29), {2005}, 1023, "11:00", "17:00")


async def b10_burst_son_kids_cut_tonight(t: Talk) -> None:
    reply = await t.say("добрый день", "можно записать сына на детскую стрижку сегодня вечером?")
    await t.finish(reply, pick=first, name="Ольга")
    assert_booked(t, d(23), {2001, 2007}, 1003, "17:00", "21:00")


async def b11_coloring_anna_dec1_10am(t: Talk) -> None:
    reply = await t.say("окрашивание волос у анны, 1 декабря в 10 утра. меня зовут Светлана")
    await t.finish(reply, pick=by_time(0), name="Светлана")
    assert_booked(t, d(1, 12), {2001}, 1004, "10:00", "10:00")


async def b12_face_massage_master_off_then_wednesday(t: Talk) -> None:
    reply = await t.say("массаж лица на завтра можно?")
    if NAME_ASK.search(reply.lower()):
        reply = await t.say("Анастасия")
    reply = await t.say("ну давайте тогда в среду")
    await t.finish(reply, pick=first, name="Анастасия")
    assert_booked(t, d(25), {2006}, 1032)


async def b13_katya_weekend_which_manicure(t: Talk) -> None:
    reply = await t.say("маникюр у кати на выходных")
    if "покрыт" in reply.lower() and not offered_times(reply):
        reply = await t.say("с покрытием")
    await t.finish(reply, pick=by_time(1, "{} подойдет"), name="Яна", confirm="👍")
    new = t.new_records()
    assert len(new) == 1, t.transcript
    r = new[0]
    assert r.staff_id == 2004 and r.start.date() in (d(28), d(29)), t.transcript
    assert set(r.service_ids) & {1011, 1012}, t.transcript


async def b14_price_question_in_the_middle(t: Talk) -> None:
    reply = await t.say("хочу на мужскую стрижку завтра")
    if NAME_ASK.search(reply.lower()):
        reply = await t.say("Павел")
    reply = await t.say("а сколько стоит?")
    assert "1200" in reply.replace(" ", "").replace("\u00a0", ""), t.transcript
    assert "Педикюр" not in reply, "the price of the service under discussion, not the whole list\n" + t.transcript
    reply = await t.say("ок, давайте первое время которое предлагали")
    await t.finish(reply, pick=first, name="Павел")
    assert_booked(t, d(24), {2002, 2007}, 1002)


# --- reschedules (6) ---------------------------------------------------------------------------
def moved(t: Talk, rid: int, day: date, lo: str, hi: str) -> None:
    r = t.record(rid)
    assert t.alive(rid) and r.start.date() == day and lo <= hm(r.start) <= hi, (
        f"record {rid} at {r.start} deleted={r.deleted}\n{t.transcript}")


async def r01_sergey_friday_same_time(t: Talk) -> None:
    reply = await t.say("добрый день, можно перенести мою запись на пятницу на то же время?")
    assert "18:00" in reply, t.transcript  # "the same time" is 18:00: propose it, not a list without it
    await t.finish(reply, pick=by_time(0), done=lambda: t.record(4002).start.date() == d(27))
    moved(t, 4002, d(27), "18:00", "18:00")


async def r02_natalia_later_today(t: Talk) -> None:
    reply = await t.say("не успеваю сегодня к 16, можно сдвинуть на 17:00?")
    await t.finish(reply, pick=by_time(0), done=lambda: hm(t.record(4003).start) != "16:00")
    moved(t, 4003, d(23), "17:00", "17:00")


async def r03_elena_haircut_to_thursday(t: Talk) -> None:
    reply = await t.say("хочу перенести стрижку на четверг")
    await t.finish(reply, pick=second, done=lambda: t.record(4001).start.date() != d(24))
    moved(t, 4001, d(26), "10:00", "19:00")
    moved(t, 4004, d(24), "14:00", "14:00")


async def r04_elena_manicure_day_after_tomorrow_morning(t: Talk) -> None:
    reply = await t.say("маникюр завтрашний можно перенести на послезавтра утром?")
    await t.finish(reply, pick=first, done=lambda: t.record(4004).start.date() != d(24))
    moved(t, 4004, d(25), "10:00", "12:45")
    moved(t, 4001, d(24), "12:00", "12:00")


async def r05_sergey_tomorrow_evening(t: Talk) -> None:
    reply = await t.say("перенесите меня пожалуйста на завтра на вечер")
    await t.finish(reply, pick=by_time(0, "давайте {}"), done=lambda: t.record(4002).start.date() != d(25))
    moved(t, 4002, d(24), "17:00", "21:00")


async def r06_natalia_tomorrow_same_time(t: Talk) -> None:
    reply = await t.say("здравствуйте) перезапишите меня на завтра на то же время пожалуйста")
    assert "16:00" in reply, t.transcript
    await t.finish(reply, pick=by_time(0), confirm="ок", done=lambda: t.record(4003).start.date() != d(23))
    moved(t, 4003, d(24), "16:00", "16:00")


# --- cancellations (5) ---------------------------------------------------------------------------
async def c01_sergey_ill(t: Talk) -> None:
    reply = await t.say("здравствуйте, отмените запись пожалуйста, заболел 🤒")
    await t.finish(reply, pick=first, done=lambda: not t.alive(4002))
    assert not t.alive(4002), t.transcript


async def c02_natalia_wont_come_today(t: Talk) -> None:
    reply = await t.say("я сегодня не смогу прийти, отмените")
    await t.finish(reply, pick=first, done=lambda: not t.alive(4003))
    assert not t.alive(4003), t.transcript


async def c03_elena_cancel_manicure_keep_haircut(t: Talk) -> None:
    reply = await t.say("отмените маникюр пожалуйста, а стрижку оставьте")
    await t.finish(reply, pick=lambda _: "маникюр же", done=lambda: not t.alive(4004))
    assert not t.alive(4004) and t.alive(4001), t.transcript


async def c04_elena_which_one(t: Talk) -> None:
    reply = await t.say("хочу отменить запись")
    if t.alive(4001) and t.alive(4004):
        reply = await t.say("стрижку")
    await t.finish(reply, pick=first, done=lambda: not t.alive(4001))
    assert not t.alive(4001) and t.alive(4004), t.transcript


async def c05_natalia_changes_mind(t: Talk) -> None:
    await t.say("хочу отменить запись на сегодня")
    reply = await t.say("хотя нет, не надо, приду")
    assert t.alive(4003), t.transcript
    assert reply.strip(), t.transcript


# --- questions (5) -------------------------------------------------------------------------------
def digits(s: str) -> str:
    return s.replace(" ", "").replace("\u00a0", "").replace("\u202f", "")


async def q01_gel_price(t: Talk) -> None:
    reply = await t.say("сколько стоит маникюр с покрытием?")
    assert "2200" in digits(reply), t.transcript


async def q02_address_and_saturday_hours(t: Talk) -> None:
    reply = await t.say("где вы находитесь? и до скольки работаете в субботу")
    assert "Садовая" in reply and "21" in reply, t.transcript


async def q03_elena_my_records(t: Talk) -> None:
    reply = await t.say("напомните, на когда я записана?")
    assert "12:00" in reply and "14:00" in reply, t.transcript


async def q04_human(t: Talk) -> None:
    reply = await t.say("можно поговорить с живым человеком, а не с ботом?")
    assert "администратор" in reply.lower(), t.transcript


async def q05_haircut_prices(t: Talk) -> None:
    reply = await t.say("а сколько у вас стрижки стоят? мужская и женская")
    got = digits(reply)
    assert "1200" in got and "2000" in got, t.transcript


Scenario = Callable[[Talk], Awaitable[None]]
# Dialogues the bot fails (xfail, strict): empty since phase 2 (see PASS_RATE).
FAILING: dict[str, str] = {}

SCENARIOS: list[tuple[Scenario, str]] = [
    (b01_gel_manicure_tomorrow_afternoon, "+79990000101"),
    (b02_anya_haircut_thursday_morning, "+79990000102"),
    (b03_igor_mens_cut_friday_evening, "+79990000103"),
    (b04_pedicure_wednesday_any_master, "+79990000104"),
    (b05_face_cleaning_saturday, "+79990000105"),
    (b06_brows_day_after_tomorrow_at_3, "+79990000106"),
    (b07_typos_classic_manicure_tomorrow_11, "+79990000107"),
    (b08_styling_changes_day, "+79990000108"),
    (b09_lashes_dasha_sunday_day, "+79990000109"),
    (b10_burst_son_kids_cut_tonight, "+79990000110"),
    (b11_coloring_anna_dec1_10am, "+79990000111"),
    (b12_face_massage_master_off_then_wednesday, "+79990000112"),
    (b13_katya_weekend_which_manicure, "+79990000113"),
    (b14_price_question_in_the_middle, "+79990000114"),
    (r01_sergey_friday_same_time, SERGEY),
    (r02_natalia_later_today, NATALIA),
    (r03_elena_haircut_to_thursday, ELENA),
    (r04_elena_manicure_day_after_tomorrow_morning, ELENA),
    (r05_sergey_tomorrow_evening, SERGEY),
    (r06_natalia_tomorrow_same_time, NATALIA),
    (c01_sergey_ill, SERGEY),
    (c02_natalia_wont_come_today, NATALIA),
    (c03_elena_cancel_manicure_keep_haircut, ELENA),
    (c04_elena_which_one, ELENA),
    (c05_natalia_changes_mind, NATALIA),
    (q01_gel_price, "+79990000201"),
    (q02_address_and_saturday_hours, "+79990000202"),
    (q03_elena_my_records, ELENA),
    (q04_human, "+79990000204"),
    (q05_haircut_prices, "+79990000205"),
]


def _params() -> list[Any]:
    out = []
    for fn, phone in SCENARIOS:
        marks = [pytest.mark.xfail(strict=True, reason=FAILING[fn.__name__])] if fn.__name__ in FAILING else []
        out.append(pytest.param(fn, phone, id=fn.__name__, marks=marks))
    return out


async def play(chat: AppChat, scenario: Scenario, phone: str) -> None:
    """Run one scenario as the client `phone`; the transcript is printed (shown when it fails)."""
    talk = Talk(chat, phone, [])
    try:
        await scenario(talk)
    finally:
        print(f"--- {scenario.__name__}\n{talk.transcript}")


@pytest.mark.parametrize(("scenario", "phone"), _params())
async def test_dialogue(app_chat: AppChat, scenario: Scenario, phone: str) -> None:
    await play(app_chat, scenario, phone)
