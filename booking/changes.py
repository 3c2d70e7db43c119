"""The dialogue's part about existing visits: rescheduling and cancelling the client's OWN visits
(found by the client's phone). Reminders and review requests are `booking.notifications`'.

`VisitChanges` is mixed into `booking.dialogue.Dialogue`, whose booking helpers (`_search`,
`_merge`, `_record_line`) it uses.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from booking import texts
from booking.model import Understanding
from booking.ports import BookingError, BookingRejected, BookingUnavailable, SlotTaken
from booking.state import DialogueState, Offer, RecordRef
from booking.turn import Turn

if TYPE_CHECKING:
    from booking.actions import BookingActions

log = structlog.get_logger(__name__)

# Ordinal words ("второй", "третье", "пятую"), never the weekdays that share a stem (вторник, пятница).
_ENDINGS = r"(?:ый|ой|ий|ое|ая|ую|ого|ье|ья|ью|ьего|ей)"
ORDINALS = {
    rf"\bперв{_ENDINGS}\b": 1,
    rf"\bвтор{_ENDINGS}\b": 2,
    rf"\bтрет{_ENDINGS}\b": 3,
    rf"\bчетв[её]рт{_ENDINGS}\b": 4,
    rf"\bпят{_ENDINGS}\b": 5,
}
UNAVAILABLE = (
    "Извините, система записи сейчас не отвечает, поэтому {what} не получилось — ничего не изменено. "
    "Напишите «да» через пару минут, и я попробую ещё раз 🙏"
)


class VisitChanges:
    """Moving and cancelling visits the client already has."""

    actions: BookingActions

    # Provided by Dialogue.
    async def _search(self, turn: Turn, st: DialogueState, note: str = "") -> list[str]:
        raise NotImplementedError

    def _merge(self, st: DialogueState, u: Understanding) -> None:
        raise NotImplementedError

    def _record_line(self, turn: Turn, r: RecordRef) -> str:
        raise NotImplementedError

    async def _hand_over(self, turn: Turn, why: str) -> None:
        """Pause the bot in this chat so the salon's staff take it (what "передаю администратору" promises)."""
        handoff = getattr(self, "handoff", None)
        log.info("handed_over", company_id=turn.salon.company_id, why=why)
        if handoff is not None:
            await handoff.pause(turn.salon.company_id, turn.chat)

    def _apply_same_time(self, turn: Turn, st: DialogueState) -> None:
        """Fill what a move leaves unsaid from the visit being moved: "на пятницу на то же время" keeps
        its time, "на час позже" shifts it; "сдвиньте на 17:00" / "на вечер" (no day) keeps its day
        (when that is not past)."""
        if st.target is None:
            return
        starts = datetime.fromisoformat(st.target.starts_at).astimezone(turn.local_now.tzinfo)
        if st.same_time:
            st.same_time = False
            st.time = starts.strftime("%H:%M")
            st.part_of_day = None
        if st.shift_min:  # "на час позже": from the visit's own time, on its own day
            minutes = starts.hour * 60 + starts.minute + st.shift_min
            st.shift_min = None
            if 0 <= minutes < 24 * 60:
                st.time = f"{minutes // 60:02d}:{minutes % 60:02d}"
                st.part_of_day = None
        if (st.time or st.part_of_day) and not st.date and starts.date() >= turn.today:
            st.date = starts.date().isoformat()

    async def _after_own_visit(self, turn: Turn, st: DialogueState, services: set[int]) -> None:
        """ "Педикюр сразу после маникюра": the new visit starts when the client's own visit of those
        services ends (on the asked day, if one was named). Nothing changes when there is none."""
        try:
            records = await self.actions.client_records(turn.salon, turn.phone, turn.now)
        except BookingError:
            return
        tz = turn.local_now.tzinfo
        durations = {s.id: s.duration_s or 0 for s in turn.catalog.services}
        for r in records:
            starts = datetime.fromisoformat(r.starts_at).astimezone(tz)
            if not services & set(r.service_ids) or (st.date and starts.date().isoformat() != st.date):
                continue
            ends = starts + timedelta(seconds=sum(durations.get(i, 0) for i in r.service_ids))
            st.date, st.time, st.part_of_day = ends.date().isoformat(), ends.strftime("%H:%M"), None
            return

    async def _do_move(self, turn: Turn, st: DialogueState, offer: Offer) -> list[str]:
        target = st.target
        assert target is not None
        try:
            await self.actions.reschedule(turn.salon, target, offer)
        except SlotTaken:
            st.chosen = None
            return await self._search(turn, st, note="Ой, это время только что заняли 😔")
        except BookingUnavailable:
            return [UNAVAILABLE.format(what="перенести запись")]
        except BookingRejected:
            st.reset_flow()
            await self._hand_over(turn, "reschedule_rejected")
            return ["Эту запись нельзя перенести онлайн (правила салона). Передаю администратору 🙏"]
        when = f"{texts.short_day(date.fromisoformat(offer.date), turn.today)} в {offer.time}"
        who = texts.staff_name(turn.catalog, offer.staff_id)
        st.reset_flow()
        st.last_done = f"Ваша запись перенесена на {when}, мастер {who}."
        return [f"Готово! ✅ Запись перенесена на {when}, мастер {who}. Ждём вас!"]

    async def _do_cancel(self, turn: Turn, st: DialogueState) -> list[str]:
        target = st.target
        assert target is not None
        line = self._record_line(turn, target)
        try:
            await self.actions.cancel(turn.salon, target)
        except BookingUnavailable:
            return [UNAVAILABLE.format(what="отменить запись")]
        except (BookingRejected, SlotTaken):
            st.reset_flow()
            await self._hand_over(turn, "cancel_rejected")
            return ["Эту запись нельзя отменить онлайн (правила салона). Передаю администратору 🙏"]
        st.reset_flow()
        st.last_done = f"Запись отменена: {line}."
        return [f"Готово, запись отменена: {line}. Будем рады видеть вас снова — если захотите записаться, напишите 🌸"]

    # --- reschedule / cancel: the client's own records -----------------------------------
    async def _start_change(
        self, turn: Turn, st: DialogueState, u: Understanding, intent: str, *, only_named: bool = False,
        just_booked: Offer | None = None,
    ) -> list[str]:
        """Find the client's visit to move or cancel (`only_named`: only a visit of the services named;
        `just_booked`: the visit the bot booked a message ago, when it is still there)."""
        st.reset_flow()
        st.flow = intent
        self._merge(st, u)
        try:
            records = await self.actions.client_records(turn.salon, turn.phone, turn.now)
        except BookingError:
            st.reset_flow()
            return [("Извините, не получилось открыть ваши записи — система записи не отвечает. "
                     "Попробуйте через пару минут 🙏")]
        family = _service_family(u) - _kept_services(turn)
        if family:
            named = [r for r in records if family & set(r.service_ids)]
            if only_named and not named:
                st.reset_flow()
                what = texts.services_title(turn.catalog, u.service_ids[:1])  # the one named first
                return [f"Не нашла у вас предстоящей записи на «{what}» 🙂 Чем могу помочь?"]
            records = named or records
        if just_booked is not None:
            at = datetime.fromisoformat(just_booked.datetime_raw)
            records = [r for r in records if datetime.fromisoformat(r.starts_at) == at
                       and r.staff_id in (None, just_booked.staff_id)] or records
        if intent == "cancel" and u.date:  # "отмените запись на завтра": the day names the visit
            tz = turn.local_now.tzinfo
            records = [r for r in records
                       if datetime.fromisoformat(r.starts_at).astimezone(tz).date() == u.date] or records
        if not records:
            st.reset_flow()
            return ["Не нашла у вас предстоящих записей по этому номеру. Хотите записаться?"]
        if len(records) == 1:
            return await self._record_chosen(turn, st, records[0])
        st.records = records
        st.awaiting = "record"
        verb = "перенести" if intent == "reschedule" else "отменить"
        lines = [f"{i}) {self._record_line(turn, r)}" for i, r in enumerate(records, 1)]
        return [f"Какую запись {verb}?\n" + "\n".join(lines) + "\nНапишите номер."]

    async def _switch_change(self, turn: Turn, st: DialogueState, u: Understanding, intent: str) -> list[str]:
        """A move asked at a cancel's confirmation ("а можно лучше перенести на четверг?"), or a cancel
        at a move's: the same visit, the other change (a move keeps what the message leaves unsaid,
        "на то же время" its time)."""
        target = st.target
        assert target is not None
        st.reset_flow()
        st.flow = intent
        self._merge(st, u)
        return await self._record_chosen(turn, st, target)

    def _pick_record(self, turn: Turn, st: DialogueState, u: Understanding) -> RecordRef | None:
        raw = turn.text.strip().lower()
        m = re.search(r"\b(\d)\b", raw)
        if m and 1 <= int(m.group(1)) <= len(st.records) and ":" not in raw:
            return st.records[int(m.group(1)) - 1]
        for pattern, n in ORDINALS.items():
            if re.search(pattern, raw) and n <= len(st.records):
                return st.records[n - 1]
        tz = turn.local_now.tzinfo
        for r in st.records:
            starts = datetime.fromisoformat(r.starts_at).astimezone(tz)
            if _service_family(u) & set(r.service_ids):
                return r
            if u.date and starts.date() == u.date and (u.time is None or starts.time() == u.time):
                return r
        return None

    async def _record_chosen(self, turn: Turn, st: DialogueState, record: RecordRef) -> list[str]:
        st.target = record
        st.records = []
        if st.flow == "cancel":
            st.awaiting = "confirm"
            return [f"Отменить вашу запись: {self._record_line(turn, record)}? (да/нет)"]
        st.service_ids = list(record.service_ids)
        st.staff_id = record.staff_id
        self._apply_same_time(turn, st)
        if st.date or st.time or st.part_of_day:
            return await self._search(turn, st)
        st.awaiting = "when"
        return [f"Ваша запись: {self._record_line(turn, record)}. На какой день и время перенести?"]


# A clause keeping a visit: "а стрижку оставьте", "маникюр не трогайте", "педикюр не отменяйте".
_KEEP_CLAUSE = re.compile(r"[^,;.!?]*\b(?:оставь|оставьте|оставляю|оставим|оставить|не\s+трога\w*|не\s+отменя\w*|"
                          r"не\s+перенос\w*)\b[^,;.!?]*")


def _kept_services(turn: Turn) -> set[int]:
    """Services of the clauses that ask to keep a visit: "отмените маникюр, а стрижку оставьте"."""
    from booking.nlu import understand  # only for the rare keep clause

    kept: set[int] = set()
    for clause in _KEEP_CLAUSE.findall(turn.text.lower()):
        kept |= _service_family(understand(clause, turn.now, turn.catalog))
    return kept


def _service_family(u: Understanding) -> set[int]:
    """The services a message names, with the NLU's equally likely alternatives."""
    family = set(u.service_ids)
    for alternatives in (u.hints.get("ambiguous_services") or {}).values():
        family.update(int(x) for x in alternatives)
    return family
