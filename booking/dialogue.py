"""The rule-driven dialogue: one step per (debounced) client turn.

`Dialogue.step(turn, state, understanding)` reads what the message means, asks for what is missing,
offers concrete free times from live `book_times`, confirms, and only then books, moves or cancels
through `BookingActions`. It returns the replies; the caller stores the state and sends them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import structlog

from booking import texts
from booking.actions import AlreadyInProgress, BookingActions
from booking.answers import InfoAnswers
from booking.asks import asks_to_book_too, asks_who, asks_who_and_more, refers_to_own_visit
from booking.changes import ORDINALS, UNAVAILABLE, VisitChanges
from booking.model import Understanding
from booking.names import as_written, guess_name
from booking.offers import offers_text
from booking.ports import (
    BookingError,
    BookingRejected,
    BookingUnavailable,
    Handoff,
    OutcomeUnknown,
    SlotTaken,
)
from booking.slots import OwnVisit, SlotFinder, SlotQuery
from booking.state import DialogueState, Offer
from booking.turn import Turn

__all__ = ["Dialogue", "Turn"]

OFFER_TTL_S = 30 * 60  # an offer older than this is re-checked before booking

log = structlog.get_logger(__name__)

class Dialogue(InfoAnswers, VisitChanges):
    """The rule engine's dialogue policy over the booking actions."""

    def __init__(self, actions: BookingActions, finder: SlotFinder, handoff: Handoff | None = None) -> None:
        self.actions = actions
        self.finder = finder
        self.handoff = handoff

    # --- entry ---------------------------------------------------------------------------
    async def step(self, turn: Turn, st: DialogueState, u: Understanding) -> list[str]:
        """Advance the conversation by one client turn; returns the replies to send."""
        first_contact = not st.greeted
        if first_contact and not st.client_name and u.intent != "human":
            st.client_name = as_written(u.client_name, turn.text) or await self._known_name(turn)
        replies = await self._step(turn, st, u)
        st.greeted = True
        if first_contact and replies:
            # The first answer a client ever gets introduces the salon (by the client's name when known).
            hello = texts.hello(turn.catalog, st.client_name)
            if u.intent == "greeting" and replies[0].startswith("Здравствуйте! Это салон"):
                replies[0] = hello + replies[0][len(texts.hello(turn.catalog, None)):]
            elif u.intent != "greeting":
                replies[0] = f"{hello}\n{replies[0]}"
        return replies

    async def _known_name(self, turn: Turn) -> str | None:
        """The name the salon knows this phone by (None for a new client or when it cannot be read)."""
        try:
            return await self.actions.api.client_name(turn.salon.salon_id, turn.phone)
        except BookingError:
            return None

    async def _step(self, turn: Turn, st: DialogueState, u: Understanding) -> list[str]:
        intent = u.intent
        cat = turn.catalog
        priced, st.priced = st.priced, []  # only the answer just before this message carries its service
        booked, st.booked = st.booked, None  # likewise the visit booked by that answer
        if intent == "human":
            await self._hand_over(turn, "client_asked")
            st.reset_flow()
            return ["Хорошо, передаю ваш вопрос администратору — вам ответят здесь в ближайшее время 🙏"]
        if u.hints.get("not_booking"):  # "я пока не записываюсь, просто спросила"
            st.reset_flow()
            return ["Хорошо, поняла 🙂 Если захотите записаться или будут вопросы — пишите!"]
        if priced and not st.flow and not u.service_ids and intent in ("book", "confirm"):
            # "• Педикюр — 2 800 ₽ … Записать вас?" -> "да, давайте в пятницу": that service.
            u = replace(u, intent="book", service_ids=list(priced))
            intent = "book"
        spoken_slots = bool(u.service_ids or u.date or u.time or u.part_of_day or u.staff_id)
        if (u.client_name and st.awaiting == "confirm" and st.flow == "book" and st.chosen is not None
                and not spoken_slots and intent in ("other", "decline", "confirm")):
            st.client_name = as_written(u.client_name, turn.text)  # "не так, меня зовут Артём"
            return [self._confirm_text(turn, st)]
        shift = u.hints.get("shift_min")
        if shift and intent in ("book", "other", "confirm", "reschedule") and not (u.time or u.service_ids):
            shifted = await self._shift(turn, st, u, int(shift))
            if shifted is not None:
                return shifted
            intent = "reschedule"  # "можно на час позже?" with nothing in progress: the client's visit
        if (booked is not None and not st.flow and not u.service_ids
                and (u.date or u.time or u.part_of_day or shift)
                and intent in ("book", "decline", "other", "confirm", "reschedule")):
            # "а можно лучше в четверг в час дня?" right after booking: that visit is to be moved.
            return await self._start_change(turn, st, u, "reschedule", just_booked=booked)
        if asks_who_and_more(turn.text, u):
            return [await self._who_and_more(turn, st, u)]
        if asks_who(turn.text, u):
            return [self._who_does(turn, st, u)]
        if (intent == "prices" and u.service_ids and (u.date or u.time or u.part_of_day) and not st.flow
                and asks_to_book_too(turn.text, u)):
            # "сколько стоит педикюр и можно ли на субботу?": the price, then the times.
            price = texts.price_list(turn.catalog, list(u.service_ids), ask=False)
            replies = await self._book_request(turn, st, u)
            return [f"{price}\n\n{replies[0]}"] + replies[1:]
        if intent in ("prices", "services", "hours_address"):
            return [self._info(turn, st, u)]
        if intent == "my_records":
            return [await self._my_records(turn)]
        has_slots = bool(u.service_ids or u.date or u.time or u.part_of_day or u.staff_id)
        when_said = bool(u.date or u.time or u.part_of_day or u.hints.get("weekend"))
        choosing = st.awaiting in ("slot", "confirm", "name", "when")
        in_booking = st.flow == "book" and choosing
        if intent == "reschedule" and in_booking and when_said and not refers_to_own_visit(turn.text):
            intent = "book"  # "не смогу в среду, давайте в четверг" while booking: the booking being made
        refusing = intent in ("book", "other", "decline", "confirm")
        if u.hints.get("removed_services") and not u.service_ids and refusing:
            refused = await self._services_refused(turn, st, u)  # "стрижку не надо"
            if refused is not None:
                return refused
        if st.awaiting == "confirm" and intent == st.flow and intent in ("cancel", "reschedule") and not has_slots:
            intent = "confirm"  # "да, отменяйте" / "переносите" answers the confirmation
        if (st.awaiting == "confirm" and st.target is not None and st.flow in ("cancel", "reschedule")
                and intent in ("cancel", "reschedule") and intent != st.flow):
            return await self._switch_change(turn, st, u, intent)  # "а можно лучше перенести?" at a cancel
        if intent in ("cancel", "reschedule") and st.awaiting != "confirm":
            return await self._start_change(turn, st, u, intent)
        if (intent == "decline" and st.flow in ("book", "reschedule") and choosing
                and (when_said or u.service_ids or u.staff_id or u.hints.get("other_staff"))):
            st.chosen = None  # "сегодня не могу, а в воскресенье после 2?": search again with the new wish
            return await self._book_request(turn, st, u)

        if st.awaiting == "retry" and st.flow and intent not in ("decline", "book"):
            self._merge(st, u)
            return await self._search(turn, st)
        if st.awaiting == "name" and intent not in ("book", "decline"):
            return await self._got_name(turn, st, u)
        if st.awaiting == "record":
            picked = self._pick_record(turn, st, u)
            if picked is not None:
                return await self._record_chosen(turn, st, picked)
            if intent == "decline":
                st.reset_flow()
                return ["Хорошо, ничего не меняю 👍"]
            if intent in ("confirm", "other", "thanks", "greeting"):
                return ["Какую из записей? Напишите, пожалуйста, номер из списка."]
        if st.awaiting == "confirm":
            if intent == "confirm" or (intent in ("cancel", "reschedule") and intent == st.flow):
                return await self._execute(turn, st)
            if intent == "decline":
                return self._declined(turn, st)
        if st.awaiting == "slot" and intent != "decline":
            if u.client_name and st.flow == "book" and not st.client_name:
                st.client_name = as_written(u.client_name, turn.text)  # "последний вариант. Мария"
            offer = self._pick_offer(turn, st, u)
            if offer is not None:
                return await self._chosen(turn, st, offer)
            if intent == "confirm":
                return ["Какое время выбрать? Напишите номер варианта или время 🙂"]
        if st.awaiting in ("slot", "when") and intent == "decline":
            return self._declined(turn, st)

        if intent == "book" or (st.flow and has_slots):
            return await self._book_request(turn, st, u)
        if intent == "confirm":
            if st.flow and st.awaiting:  # "да" to "на какой день перенести?": ask again, keep the request
                return [self._reprompt(turn, st)]
            if st.last_done:
                return [f"Всё в силе ✅ {st.last_done}"]
            return ["Хорошо! Чем могу помочь? Могу записать, перенести или отменить визит."]
        if intent == "decline":
            st.reset_flow()
            return ["Хорошо 🙂 Если понадобится — пишите!"]
        if intent == "thanks":
            return ["Пожалуйста! Будем рады вас видеть 🌸"]
        if intent == "greeting":
            if st.flow:
                return [f"Здравствуйте! {self._reprompt(turn, st)}"]
            return [texts.greeting(cat)]
        if st.flow:
            return [self._reprompt(turn, st)]
        return [texts.help_text(cat)]

    # --- information ---------------------------------------------------------------------
    async def _shift(self, turn: Turn, st: DialogueState, u: Understanding, shift_min: int) -> list[str] | None:
        """ "А можно на час позже?" about the time being booked or moved; None when there is none."""
        if st.flow == "book" and (st.chosen is not None or st.time):
            base_day = st.chosen.date if st.chosen is not None else st.date
            base_time = st.chosen.time if st.chosen is not None else st.time
            assert base_time is not None
            minutes = int(base_time[:2]) * 60 + int(base_time[3:5]) + shift_min
            if not 0 <= minutes < 24 * 60:
                return None
            st.time, st.date, st.part_of_day, st.chosen = f"{minutes // 60:02d}:{minutes % 60:02d}", base_day, None, None
            return await self._search(turn, st)
        if st.flow == "reschedule" and st.target is not None:
            st.shift_min, st.date, st.time, st.chosen = shift_min, None, None, None
            self._apply_same_time(turn, st)
            return await self._search(turn, st)
        return None

    # --- booking -------------------------------------------------------------------------
    def _merge(self, st: DialogueState, u: Understanding) -> None:
        removed = {int(x) for x in u.hints.get("removed_services") or []}
        if u.service_ids:
            st.service_ids = list(dict.fromkeys(u.service_ids))
            st.queued = []  # services named anew: the search splits them again if it must
        elif removed:  # "стрижку не надо": the rest stays
            st.service_ids = [s for s in st.service_ids if s not in removed]
            st.queued = [s for s in st.queued if s not in removed]
        if u.staff_id:
            st.staff_id = u.staff_id
            st.exclude_staff = [x for x in st.exclude_staff if x != u.staff_id]
        elif u.hints.get("other_staff"):  # "к другому мастеру": any master but this one
            if st.staff_id:
                st.exclude_staff = list(dict.fromkeys([*st.exclude_staff, st.staff_id]))
            st.staff_id, st.strict_staff = None, False
        elif u.hints.get("any_staff"):
            st.staff_id, st.strict_staff, st.exclude_staff = None, False, []
        for excluded in u.hints.get("exclude_staff") or []:  # "только не к Ане"
            st.exclude_staff = list(dict.fromkeys([*st.exclude_staff, int(excluded)]))
            if st.staff_id == int(excluded):
                st.staff_id, st.strict_staff = None, False
        if u.hints.get("nearest") and not u.date:  # "когда ближайшее окошко?": from today on
            st.date = None
            if not u.time:
                st.time = None
        if u.date:
            if st.date != u.date.isoformat() and not u.time:
                st.time = None
            st.date = u.date.isoformat()
        if u.time:
            st.time = u.time.strftime("%H:%M")
            st.part_of_day = None
        elif u.part_of_day:
            st.part_of_day = u.part_of_day
            st.time = None
        if u.hints.get("same_time") and not u.time:
            st.same_time = True
        if u.hints.get("shift_min") and not u.time:
            st.shift_min = int(u.hints["shift_min"])

    async def _book_request(self, turn: Turn, st: DialogueState, u: Understanding) -> list[str]:
        if st.flow == "reschedule" and st.target is not None and not u.service_ids:
            self._merge(st, u)  # "давайте на завтра в 15" while moving a visit: keep moving it
            st.service_ids, st.staff_id = list(st.target.service_ids), st.target.staff_id
            self._apply_same_time(turn, st)
            return await self._search(turn, st)
        if u.intent == "book" and st.flow not in (None, "book"):
            st.reset_flow()
        if st.flow is None:
            st.reset_flow()
            st.flow = "book"
        if u.staff_id is not None:
            # Named again while other masters were offered ("нет, я хочу именно к Марине"): only her.
            others_offered = bool(st.offers) and all(o.staff_id != u.staff_id for o in st.offers)
            again = others_offered and u.staff_id == st.staff_id
            st.strict_staff = bool(u.hints.get("insist_staff")) or again
        self._merge(st, u)
        if u.client_name and not st.client_name:
            st.client_name = as_written(u.client_name, turn.text)
        if u.hints.get("after_services") and not u.time:
            await self._after_own_visit(turn, st, {int(x) for x in u.hints["after_services"]})
        return await self._search(turn, st)

    async def _services_refused(self, turn: Turn, st: DialogueState, u: Understanding) -> list[str] | None:
        """ "Стрижку не надо": off the booking being made (the rest is searched again); with nothing in
        progress, the client's visit of that service is to be cancelled. None: not about either."""
        removed = {int(x) for x in u.hints.get("removed_services") or []}
        if st.flow == "book":
            left = [s for s in st.service_ids if s not in removed]
            if left == st.service_ids:
                return None
            if not left:
                st.reset_flow()
                return ["Хорошо, не записываю 🙂 Если захотите другую услугу или время — напишите!"]
            st.chosen = None
            return await self._book_request(turn, st, u)
        if st.flow is None and u.intent in ("other", "decline"):
            named = replace(u, service_ids=[int(x) for x in u.hints["removed_services"]])
            return await self._start_change(turn, st, named, "cancel", only_named=True)
        return None

    async def _search(self, turn: Turn, st: DialogueState, note: str = "") -> list[str]:
        cat = turn.catalog
        if not st.service_ids:
            st.awaiting = "service"
            return [(note + " " if note else "") + texts.ask_service(cat, st.staff_id)]
        prefix = note
        if st.flow == "book" and len(st.service_ids) > 1 and not texts.staff_for(cat, st.service_ids):
            queued = self._queue_services(turn, st)  # no master does them all: one after another
            if queued:
                prefix = (prefix + " " if prefix else "") + queued
        if st.staff_id and st.flow == "book":
            masters = {m.id for m in texts.staff_for(cat, st.service_ids)}
            if st.staff_id not in masters:
                prefix = (
                    f"{texts.staff_first_name(cat, st.staff_id)} не выполняет «"
                    f"{texts.services_title(cat, st.service_ids)}», подберу другого мастера."
                )
                st.staff_id = None
        if not texts.staff_for(cat, st.service_ids) and st.flow == "book":
            st.reset_flow()
            if len(st.service_ids) > 1:
                return [("К сожалению, эту комбинацию услуг один мастер не делает. Давайте запишу на каждую "
                         "отдельно — напишите, с какой начнём?")]
            return [("К сожалению, на эту услугу сейчас нельзя записаться онлайн. Напишите «администратор» — "
                     "вас запишут вручную 🙏")]
        query = SlotQuery(
            service_ids=st.service_ids,
            staff_id=st.staff_id,
            day=date.fromisoformat(st.date) if st.date else None,
            at=time.fromisoformat(st.time) if st.time else None,
            part_of_day=st.part_of_day,
            today=turn.today,
            now_hm=turn.local_now.time(),
            only_staff=st.flow == "reschedule" or (st.strict_staff and st.staff_id is not None),
            own=self._own_visit(turn, st),
            exclude=tuple(st.exclude_staff),
            not_before=time.fromisoformat(st.not_before) if st.not_before else None,
        )
        if query.day is not None and query.day < turn.today:
            st.date = None
            st.awaiting = "when"
            return ["Эта дата уже прошла 🙂 На какой день вас записать?"]
        try:
            found = await self.finder.search(turn.salon.salon_id, cat, query)
        except BookingError:
            st.awaiting = "retry"  # the next message (any) repeats this search
            return [("Извините, не получилось получить свободное время — система записи сейчас не отвечает. "
                     "Напишите мне ещё раз через пару минут, я проверю снова 🙏")]
        if not found.slots:
            st.awaiting = "when"
            who = (f"у мастера {texts.staff_genitive(cat, st.staff_id)} "
                   if query.only_staff and st.staff_id and st.flow == "book" else "")
            return [(prefix + " " if prefix else "") + f"К сожалению, в ближайшую неделю {who}свободного "
                    "времени на эту услугу нет. Напишите другой день — проверю, или позовите администратора."]
        offers = [
            Offer(s.staff_id, s.time, s.datetime_raw[:10], s.datetime_raw, list(st.service_ids)) for s in found.slots
        ]
        if found.exact:
            exact = next(o for o in offers if o.time == st.time and o.staff_id == (st.staff_id or o.staff_id))
            st.offers = [exact]
            st.offered_at = turn.now.timestamp()
            replies = await self._chosen(turn, st, exact, free_said=True)
            return [(prefix + " " if prefix else "") + replies[0]] + replies[1:]
        st.offers = offers
        st.offered_at = turn.now.timestamp()
        st.awaiting = "slot"
        text = offers_text(cat, st, found, offers, turn.today)
        return [(prefix + " " if prefix else "") + text]

    def _queue_services(self, turn: Turn, st: DialogueState) -> str | None:
        """Services no one master does together, each bookable: book the named master's (else the first
        named) now and queue the rest for right after it. Returns the note for the client, or None."""
        cat = turn.catalog
        if not all(texts.staff_for(cat, [s]) for s in st.service_ids):
            return None
        named = next((m for m in cat.staff if m.id == st.staff_id), None)
        first = [s for s in st.service_ids if named is not None and s in named.service_ids]
        if not first or not texts.staff_for(cat, first):
            first = [st.service_ids[0]]
        st.queued = [s for s in st.service_ids if s not in first] + [s for s in st.queued if s not in st.service_ids]
        st.service_ids = first
        return (f"Эти услуги делают разные мастера — запишу по очереди: сначала «{texts.services_title(cat, first)}», "
                f"затем «{texts.services_title(cat, st.queued)}».")

    def _own_visit(self, turn: Turn, st: DialogueState) -> OwnVisit | None:
        """The visit being moved, so its own time does not hide overlapping new times."""
        target = st.target
        if st.flow != "reschedule" or target is None or target.staff_id is None:
            return None
        durations = {s.id: s.duration_s or 0 for s in turn.catalog.services}
        length_s = sum(durations.get(i, 0) for i in target.service_ids)
        if length_s <= 0:
            return None
        start = datetime.fromisoformat(target.starts_at).astimezone(turn.local_now.tzinfo)
        return OwnVisit(target.staff_id, start, length_s)

    def _pick_offer(self, turn: Turn, st: DialogueState, u: Understanding) -> Offer | None:
        offers = st.offers
        if not offers:
            return None
        raw = turn.text.strip().lower()
        for line in reversed(raw.splitlines() or [raw]):
            m = re.fullmatch(r"\D{0,20}?(\d)\s*(?:-?й|-?ой|-?ий)?\s*(?:вариант\w*)?\s*[!.)]*\s*\W*", line.strip())
            if (m and (u.time is None or ":" not in line) and 1 <= int(m.group(1)) <= len(offers)
                    and not re.search(r"\bв\s*\d", line)):
                return offers[int(m.group(1)) - 1]
            for pattern, n in ORDINALS.items():
                if re.search(pattern, line) and n <= len(offers) and not u.time:
                    return offers[n - 1]
            if "последн" in line:
                return offers[-1]
        if u.time is not None:
            hm = u.time.strftime("%H:%M")
            same = [o for o in offers if o.time == hm]
            if u.date:
                same = [o for o in same if o.date == u.date.isoformat()] or (
                    [] if any(o.date == u.date.isoformat() for o in offers) else same
                )
            if u.staff_id:
                same = [o for o in same if o.staff_id == u.staff_id] or same
            refused = {int(x) for x in u.hints.get("exclude_staff") or []}
            if u.hints.get("other_staff") and st.staff_id:
                refused.add(st.staff_id)
            same = [o for o in same if o.staff_id not in refused]
            if same:
                return same[0]
        if u.intent == "confirm" and len(offers) == 1:
            return offers[0]
        return None

    async def _chosen(
        self, turn: Turn, st: DialogueState, offer: Offer, *, free_said: bool = False
    ) -> list[str]:
        """A time is chosen (picked from the list, or the asked one is free: `free_said`): ask the name
        of a new client, else confirm."""
        st.chosen = offer
        st.seq += 1
        if st.flow == "book" and not st.client_name:
            try:
                st.client_name = await self.actions.api.client_name(turn.salon.salon_id, turn.phone)
            except BookingError:  # client search is an admin call: without it, just ask
                st.client_name = None
            if not st.client_name:
                st.awaiting = "name"
                cat = turn.catalog
                what = f"«{texts.services_title(cat, offer.service_ids)}» "
                when = f"{texts.short_day(date.fromisoformat(offer.date), turn.today)} в {offer.time}"
                if free_said:  # the client asked for this time: say it is free before anything else
                    said = f"{what}{when} у мастера {texts.staff_genitive(cat, offer.staff_id)} — свободно ✅"
                else:
                    said = f"Отлично! {what}{when}, мастер {texts.staff_name(cat, offer.staff_id)}."
                return [f"{said} Как вас зовут? Укажу имя в записи."]
        st.awaiting = "confirm"
        return [self._confirm_text(turn, st)]

    def _confirm_text(self, turn: Turn, st: DialogueState) -> str:
        cat = turn.catalog
        o = st.chosen
        assert o is not None
        when = f"{texts.day_label(date.fromisoformat(o.date), turn.today)} в {o.time}"
        what = texts.services_title(cat, o.service_ids)
        who = texts.staff_name(cat, o.staff_id)
        if st.flow == "reschedule" and st.target is not None:
            old = self._record_line(turn, st.target)
            new = f"{texts.short_day(date.fromisoformat(o.date), turn.today)} в {o.time}"
            return f"Переношу вашу запись ({old}) на {new}, мастер {who}. Подтверждаете? (да/нет)"
        cost = texts.total_price(cat, o.service_ids)
        name = f"{texts.first_name(st.client_name)}, " if st.client_name else ""
        return (
            f"{name}записываю вас: {what}, мастер {who}, {when}"
            + (f", стоимость {cost}" if cost else "")
            + ". Подтверждаете? (да/нет)"
        )

    async def _got_name(self, turn: Turn, st: DialogueState, u: Understanding) -> list[str]:
        name = as_written(u.client_name, turn.text) or (guess_name(turn.text) if u.intent == "other" else None)
        if not name:
            return ["Напишите, пожалуйста, ваше имя — например, «Анна» 🙂"]
        st.client_name = name
        st.awaiting = "confirm"
        return [self._confirm_text(turn, st)]

    def _declined(self, turn: Turn, st: DialogueState) -> list[str]:
        if st.flow == "cancel" or (st.flow == "reschedule" and st.awaiting == "when"):
            st.reset_flow()  # "нет, не надо переносить" before any new time was offered
            return ["Хорошо, запись остаётся в силе 👍"]
        st.chosen = None
        st.offers = []
        st.awaiting = "when"
        return ["Хорошо, не записываю. Подобрать другое время? Напишите удобный день и время."]

    def _reprompt(self, turn: Turn, st: DialogueState) -> str:
        if st.awaiting == "confirm" and st.chosen is not None:
            return self._confirm_text(turn, st)
        if st.awaiting == "confirm" and st.target is not None:
            return f"Отменить запись {self._record_line(turn, st.target)}? (да/нет)"
        if st.awaiting == "slot":
            return "Выберите, пожалуйста, время из предложенных — напишите номер или время."
        if st.awaiting == "name":
            return "Как вас зовут? Укажу имя в записи."
        if st.awaiting == "service":
            return texts.ask_service(turn.catalog)
        if st.awaiting == "record":
            return "Какую из записей? Напишите номер."
        return "На какой день и время вам удобно?"

    # --- executing a confirmed action ----------------------------------------------------
    async def _execute(self, turn: Turn, st: DialogueState) -> list[str]:
        if st.flow == "cancel" and st.target is not None:
            return await self._do_cancel(turn, st)
        offer = st.chosen
        if offer is None or offer not in st.offers:
            st.awaiting = None
            return ["Давайте сначала подберём время 🙂 На какой день вам удобно?"]
        if st.offered_at is None or turn.now.timestamp() - st.offered_at > OFFER_TTL_S:
            # Only what was JUST offered is booked: an old offer is looked up again.
            st.chosen = None
            return await self._search(turn, st, note="Предложенное время могло устареть, вот актуальное:")
        if st.flow == "reschedule" and st.target is not None:
            return await self._do_move(turn, st, offer)
        key = f"{turn.chat}:{st.seq}:{offer.staff_id}:{offer.datetime_raw}"
        name = st.client_name or turn.push_name or "Клиент WhatsApp"
        try:
            await self.actions.book(
                turn.salon, chat=turn.chat, phone=turn.phone, name=name, offer=offer, key=key
            )
        except SlotTaken:
            st.chosen = None
            return await self._search(turn, st, note="Ой, это время только что заняли 😔")
        except OutcomeUnknown:
            return [("Система записи не ответила вовремя, и я пока не вижу, создалась ли запись. Напишите «да» "
                     "ещё раз через минуту: если запись уже есть, я её не продублирую 🙏")]
        except BookingUnavailable:
            return [UNAVAILABLE.format(what="записать вас")]
        except AlreadyInProgress:
            return ["Запись уже оформляется, секунду ⏳"]
        except BookingRejected as exc:
            st.reset_flow()
            log.info("booking_rejected", company_id=turn.salon.company_id, reason=str(exc))
            await self._hand_over(turn, "booking_rejected")
            return ["К сожалению, система записи не приняла эту запись. Передаю администратору, вам напишут 🙏"]
        cat = turn.catalog
        summary = (
            f"{texts.services_title(cat, offer.service_ids)}, мастер {texts.staff_name(cat, offer.staff_id)}, "
            f"{texts.day_label(date.fromisoformat(offer.date), turn.today)} в {offer.time}"
        )
        queued = list(st.queued)
        st.reset_flow()
        st.last_done = f"Вы записаны: {summary}."
        st.booked = offer
        if queued:  # the next service right after this visit, the same day
            durations = {s.id: s.duration_s or 0 for s in cat.services}
            start = datetime.fromisoformat(f"{offer.date}T{offer.time}")
            end = start + timedelta(seconds=sum(durations.get(i, 0) for i in offer.service_ids))
            st.flow, st.service_ids, st.date = "book", queued, end.date().isoformat()
            st.time = st.not_before = end.strftime("%H:%M")
            following = await self._search(turn, st)
            return [f"Готово! ✅ Вы записаны: {summary}.\n\nТеперь «{texts.services_title(cat, queued)}»: "
                    + following[0]] + following[1:]
        address = f" Адрес: {cat.address}." if cat.address else ""
        return [(
            f"Готово! ✅ Вы записаны: {summary}.{address} Ждём вас в салоне {texts.salon_name(cat)}! "
            "Если планы изменятся — напишите, перенесу или отменю."
        )]
