"""Answers that inform rather than book: prices, services, hours and address, a procedure the salon
does not have, which masters do a service, and the client's own visits. A mixin of `Dialogue`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from booking import texts
from booking.asks import HOURS_ASKED_RE, PRICE_ASKED_RE, with_alternatives
from booking.model import Understanding
from booking.ports import BookingError
from booking.state import DialogueState, RecordRef
from booking.turn import Turn

if TYPE_CHECKING:
    from booking.actions import BookingActions
    from booking.slots import SlotFinder

ASKS_WHERE_RE = re.compile(r"адрес|\bгде\b|добрать|доехать|найти|метро|парковк|телефон")


class InfoAnswers:
    """Informational answers; in the middle of a booking they end with the pending question again."""

    actions: BookingActions
    finder: SlotFinder

    # Provided by Dialogue.
    def _reprompt(self, turn: Turn, st: DialogueState) -> str:
        raise NotImplementedError

    def _info(self, turn: Turn, st: DialogueState, u: Understanding) -> str:
        cat = turn.catalog
        in_flow = bool(st.flow and st.awaiting)
        unknown = u.hints.get("unknown_services") or []
        if u.intent == "hours_address":
            # "до скольки в воскресенье": that day's hours, not the whole card
            day_text = texts.hours_on(cat, u.date, turn.today) if u.date and u.date >= turn.today else None
            if day_text is None:
                text = texts.hours_address(cat)
            elif ASKS_WHERE_RE.search(turn.text.lower()):  # "где вы и до скольки в субботу": both
                text = f"{texts.hours_address(cat)}\n{day_text}"
            else:
                text = day_text
        elif unknown and not u.service_ids:  # "а ламинирование делаете?": no, and the nearest group
            what = u.hints.get("unknown_genitive") or unknown[0]
            text = texts.not_offered(cat, what, [int(x) for x in u.hints.get("related_services") or []])
            if not in_flow and len(u.hints.get("related_services") or []) == 1:
                st.priced = [int(u.hints["related_services"][0])]
        elif u.intent == "prices":
            # "сколько стоит маникюр": every manicure the word may mean, not just the likeliest.
            ids = with_alternatives(u)
            if not ids and in_flow:  # "а сколько стоит?" mid-booking: the service being booked
                ids = list(st.service_ids)
            text = texts.price_list(cat, ids, ask=not in_flow)
            if not in_flow and len(u.service_ids) == 1:
                # "Записать вас?" -> "да, в пятницу": the service asked about (of a bare "маникюр" priced
                # with its alternatives, the NLU's typical one)
                st.priced = list(u.service_ids)
        elif u.service_ids:  # "сколько длится педикюр": that service's price and duration
            text = texts.price_list(cat, with_alternatives(u), ask=not in_flow)
        else:
            text = texts.services_list(cat, with_prices=True, ask=not in_flow)
        if in_flow:
            text += "\n\n" + self._reprompt(turn, st)
        return text

    def _who_does(self, turn: Turn, st: DialogueState, u: Understanding) -> str:
        """ "Кто у вас делает маникюр?": the masters of each service the words may mean."""
        text = texts.masters_list(turn.catalog, with_alternatives(u), ask=not (st.flow and st.awaiting))
        if st.flow and st.awaiting:
            text += "\n\n" + self._reprompt(turn, st)
        return text

    async def _who_and_more(self, turn: Turn, st: DialogueState, u: Understanding) -> str:
        """Several questions in one message ("кто делает маникюр? есть ли кто-то по субботам? и адрес"):
        who does the service, which of them work on the day asked (from the schedule), prices, hours and
        address — each answered in one reply."""
        cat = turn.catalog
        ids = with_alternatives(u)
        low = turn.text.lower()
        parts = [texts.masters_list(cat, ids, ask=False)]
        day = u.date
        if day is None and u.hints.get("weekend"):
            day = turn.today + timedelta(days=(5 - turn.today.weekday()) % 7)  # "на выходных": Saturday
        if day is not None and day >= turn.today:
            masters = [m for m in cat.staff if set(ids) & set(m.service_ids)]
            when = texts.on_day(day, turn.today)
            try:
                mine = {m.id: [next(i for i in ids if i in m.service_ids)] for m in masters}
                working = await self.finder.working_on(turn.salon.salon_id, mine, day)
            except BookingError:
                working = None
            if working is not None:
                names = [m.name for m in masters if m.id in working]
                parts.append(f"{when[:1].upper()}{when[1:]} работает: {', '.join(names)}" if names
                             else f"{when[:1].upper()}{when[1:]} из них никто не работает 😔")
        if PRICE_ASKED_RE.search(low):
            parts.append(texts.price_list(cat, ids, ask=False))
        if HOURS_ASKED_RE.search(low):
            parts.append(texts.hours_address(cat))
        text = "\n\n".join(parts)
        if st.flow and st.awaiting:
            return text + "\n\n" + self._reprompt(turn, st)
        return text + "\n\nЗаписать вас? Напишите удобный день и время 🙂"

    async def _my_records(self, turn: Turn) -> str:
        try:
            records = await self.actions.client_records(turn.salon, turn.phone, turn.now)
        except BookingError:  # down, or the salon's records are closed to the partner token
            return "Извините, не получилось открыть ваши записи — система записи не отвечает. Попробуйте чуть позже 🙏"
        if not records:
            return "У вас нет предстоящих записей. Хотите записаться?"
        lines = ["Ваши записи:"] + [f"• {self._record_line(turn, r)}" for r in records]
        return "\n".join(lines)

    def _record_line(self, turn: Turn, r: RecordRef) -> str:
        cat = turn.catalog
        starts = datetime.fromisoformat(r.starts_at).astimezone(turn.local_now.tzinfo)
        who = f", {texts.staff_name(cat, r.staff_id)}" if r.staff_id else ""
        return f"{texts.when_was(starts, turn.today)} — {texts.services_title(cat, r.service_ids)}{who}"
