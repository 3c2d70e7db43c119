"""The wording of a list of offered times: why these times (the asked one taken, the master busy or
off that day, the day full) and the numbered lines. Pure formatting over the search result."""

from __future__ import annotations

from datetime import date

from booking import texts
from booking.model import SalonCatalog
from booking.slots import SlotSearch
from booking.state import DialogueState, Offer

__all__ = ["offers_text"]


def offers_text(catalog: SalonCatalog, st: DialogueState, found: SlotSearch, offers: list[Offer], today: date) -> str:
    """The head, the numbered offers and the question. One master's list names the master once in the
    head; a list of several masters names one on each line."""
    masters = list(dict.fromkeys(o.staff_id for o in offers))
    what = f"«{texts.services_title(catalog, st.service_ids)}»"
    if len(masters) == 1:
        what += f", мастер {texts.staff_name(catalog, masters[0])}"
    head = _head(catalog, st, found, what, today)
    lines = [
        f"{i}) {texts.short_day(date.fromisoformat(o.date), today)} в {o.time}"
        + (f" — {texts.staff_name(catalog, o.staff_id)}" if len(masters) > 1 else "")
        for i, o in enumerate(offers, 1)
    ]
    return f"{head}\n" + "\n".join(lines) + "\nКакое время вам подходит? Напишите номер или время."


def _head(catalog: SalonCatalog, st: DialogueState, found: SlotSearch, what: str, today: date) -> str:
    asked = date.fromisoformat(st.date) if st.date else None
    off = _day_off(catalog, st, asked, today) if found.day_off and asked is not None else None
    if found.others_at and st.staff_id and st.time:
        names = " и ".join(texts.staff_genitive(catalog, m) for m in found.others_at)
        return (f"У мастера {texts.staff_genitive(catalog, st.staff_id)} в {st.time} уже занято 😔 "
                f"В это время есть окно у мастер{'ов' if len(found.others_at) > 1 else 'а'} {names}. "
                f"Варианты ({what}):")
    if found.staff_busy:
        if off:
            return f"{off} Свободно у других мастеров ({what}):"
        when = f" на {texts.short_day(asked, today)}" if asked else ""
        return (f"У мастера {texts.staff_genitive(catalog, st.staff_id)}{when} нет свободного времени. "
                f"Свободно у других мастеров ({what}):")
    if found.day_full and asked is not None:
        if off:
            return f"{off} Ближайшие окна ({what}):"
        who = f" у мастера {texts.staff_genitive(catalog, st.staff_id)}" if st.staff_id else ""
        return f"На {texts.short_day(asked, today)}{who} свободного времени нет 😔 Ближайшие окна ({what}):"
    if st.time:
        return f"На {st.time} записать не получится, есть время рядом ({what}):"
    if st.flow == "reschedule":
        return f"Куда можно перенести {what}:"
    return f"Свободное время на {what}:"


def _day_off(catalog: SalonCatalog, st: DialogueState, day: date, today: date) -> str:
    """ "Марина в субботу (28 ноября) не работает 😔", or the same of every master of the service."""
    when = texts.on_day(day, today)
    masters = texts.staff_for(catalog, st.service_ids)
    staff_id = st.staff_id or (masters[0].id if len(masters) == 1 else None)
    if staff_id is not None:
        return f"{texts.staff_first_name(catalog, staff_id)} {when} не работает 😔"
    return f"{when[:1].upper()}{when[1:]} мастера по этой услуге не работают 😔"
