"""The dialogue's part about existing visits: rescheduling and cancelling the client's OWN visits
(found by the client's phone), and the answers to reminders and review requests.

`VisitChanges` is mixed into `booking.dialogue.Dialogue`, whose booking helpers (`_search`,
`_merge`, `_record_line`) it uses.
"""

from __future__ import annotations

import re
from datetime import date, datetime
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

ORDINALS = {"перв": 1, "втор": 2, "трет": 3, "четв": 4, "пят": 5}
UNAVAILABLE = (
    "Извините, система записи сейчас не отвечает, поэтому {what} не получилось — ничего не изменено. "
    "Напишите «да» через пару минут, и я попробую ещё раз 🙏"
)


class VisitChanges:
    """Moving, cancelling and confirming visits the client already has."""

    actions: BookingActions

    # Provided by Dialogue.
    async def _search(self, turn: Turn, st: DialogueState, note: str = "") -> list[str]:
        raise NotImplementedError

    def _merge(self, st: DialogueState, u: Understanding) -> None:
        raise NotImplementedError

    def _record_line(self, turn: Turn, r: RecordRef) -> str:
        raise NotImplementedError

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
            return ["Эту запись нельзя отменить онлайн (правила салона). Передаю администратору 🙏"]
        st.reset_flow()
        st.last_done = f"Запись {line} отменена."
        return [f"Запись {line} отменена. Будем рады видеть вас снова! Если захотите записаться — напишите 🌸"]

    # --- answers to reminders and review requests ----------------------------------------
    async def _notification_reply(self, turn: Turn, st: DialogueState, u: Understanding) -> list[str] | None:
        """The client's answer to a reminder ("visit") or a review request ("rating"); None: not one."""
        record = st.target
        assert record is not None
        if st.awaiting == "rating":
            rating = _rating(turn.text)
            if rating is None:
                st.awaiting, st.target = None, None
                if u.intent in ("thanks", "decline"):
                    return ["Спасибо! Будем рады видеть вас снова 🌸"]
                return None
            flagged = rating <= 3
            await self.actions.store.add_review(
                turn.salon.company_id, record.record_id, turn.phone, rating, flagged=flagged,
                comment=turn.text[:500],
            )
            st.awaiting, st.target = None, None
            if flagged:
                log.warning("low_rating", company_id=turn.salon.company_id, record_id=record.record_id, rating=rating)
                return [("Спасибо за честную оценку. Нам очень жаль, что визит не оправдал ожиданий — "
                         "администратор свяжется с вами, чтобы всё исправить 🙏")]
            return ["Спасибо за оценку! Будем рады видеть вас снова 🌸"]
        reminded = list(st.records) or [record]
        if u.intent == "confirm":
            for visit in reminded:
                try:
                    await self.actions.api.confirm_visit(turn.salon.salon_id, visit.record_id)
                except (BookingUnavailable, BookingRejected) as exc:
                    log.info("confirm_visit_failed", company_id=turn.salon.company_id, error=str(exc))
            when = "; ".join(self._record_line(turn, visit) for visit in reminded)
            st.reset_flow()
            return [f"Спасибо, что подтвердили! Ждём вас: {when} 🌸"]
        if u.intent in ("cancel", "decline", "reschedule"):
            intent = "reschedule" if u.intent == "reschedule" else "cancel"
            st.reset_flow()
            st.flow = intent
            self._merge(st, u)
            picked = [v for v in reminded if _service_family(u) & set(v.service_ids)]
            if len(picked) == 1 or len(reminded) == 1:
                return await self._record_chosen(turn, st, (picked or reminded)[0])
            st.records, st.awaiting = reminded, "record"
            verb = "перенести" if intent == "reschedule" else "отменить"
            lines = [f"{i}) {self._record_line(turn, r)}" for i, r in enumerate(reminded, 1)]
            return [f"Какую запись {verb}?\n" + "\n".join(lines) + "\nНапишите номер."]
        st.awaiting, st.target = None, None
        return None

    # --- reschedule / cancel: the client's own records -----------------------------------
    async def _start_change(self, turn: Turn, st: DialogueState, u: Understanding, intent: str) -> list[str]:
        st.reset_flow()
        st.flow = intent
        self._merge(st, u)
        try:
            records = await self.actions.client_records(turn.salon, turn.phone, turn.now)
        except BookingError:
            st.reset_flow()
            return [("Извините, не получилось открыть ваши записи — система записи не отвечает. "
                     "Попробуйте через пару минут 🙏")]
        family = _service_family(u)
        if family:
            records = [r for r in records if family & set(r.service_ids)] or records
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

    def _pick_record(self, turn: Turn, st: DialogueState, u: Understanding) -> RecordRef | None:
        raw = turn.text.strip().lower()
        m = re.search(r"\b(\d)\b", raw)
        if m and 1 <= int(m.group(1)) <= len(st.records) and ":" not in raw:
            return st.records[int(m.group(1)) - 1]
        for stem, n in ORDINALS.items():
            if re.search(rf"\b{stem}\w*\b", raw) and n <= len(st.records):
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
        if st.date or st.time or st.part_of_day:
            return await self._search(turn, st)
        st.awaiting = "when"
        return [f"Ваша запись: {self._record_line(turn, record)}. На какой день и время перенести?"]


def _rating(text: str) -> int | None:
    """A 1–5 rating from "5", "4 из 5", "⭐⭐⭐⭐"; None when the text is not a rating."""
    stars = text.count("⭐") + text.count("★")
    if 1 <= stars <= 5:
        return stars
    m = re.search(r"(?<![\d:.])([1-5])(?![\d:.])", text)
    return int(m.group(1)) if m else None


def _service_family(u: Understanding) -> set[int]:
    """The services a message names, with the NLU's equally likely alternatives."""
    family = set(u.service_ids)
    for alternatives in (u.hints.get("ambiguous_services") or {}).values():
        family.update(int(x) for x in alternatives)
    return family
