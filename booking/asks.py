"""What a client's message asks beyond the NLU's intent: "кто делает маникюр?" (which masters),
"сколько стоит педикюр и можно ли на субботу?" (a price and a visit), and the services a word may
mean. Pure functions over the text and the `Understanding`."""

from __future__ import annotations

import re

from booking.model import Understanding

__all__ = ["asks_to_book_too", "asks_who", "asks_who_and_more", "refers_to_own_visit", "with_alternatives"]

# "кто делает", "к кому можно", "какие мастера", "какой мастер": a question about who, not a booking.
WHO_RE = re.compile(r"(?:^|[\s,.!?])(?:кто|к\s+кому|как(?:ие|ой|ая|их)\s+(?:у\s+вас\s+)?мастер\w*)(?=[\s,.!?]|$)")


def asks_who(text: str, u: Understanding) -> bool:
    """A question which masters do a service (no day, time or master named: then it is a booking)."""
    if not u.service_ids or u.date or u.time or u.part_of_day or u.staff_id:
        return False
    if u.intent not in ("book", "services", "prices", "other"):
        return False
    low = text.lower()
    if re.search(r"запиш|записат|свобод", low):  # "запишите к кому-нибудь", "кто свободен": a booking
        return False
    return bool(WHO_RE.search(low))


def asks_who_and_more(text: str, u: Understanding) -> bool:
    """ "Кто у вас делает маникюр? и есть ли кто-то по субботам… и адрес скиньте": who does a service
    with a day asked or other questions beside it — answered, never taken as a booking."""
    if not u.service_ids or u.staff_id or u.time or u.intent in ("cancel", "reschedule", "human", "my_records"):
        return False
    low = text.lower()
    if re.search(r"запиш|записат|свобод|окош|\bокн", low) or not WHO_RE.search(low):
        return False
    return bool(u.date or u.part_of_day or u.hints.get("weekend") or ASKS_MORE_RE.search(low))


# Other questions that may ride along with "кто делает": prices, address, hours.
ASKS_MORE_RE = re.compile(r"адрес|\bгде\b|сколько\s+сто|\bцен[аыу]?\b|прайс|почем|до\s+скольк|часы\s+работ"
                          r"|режим\s+работ|график|во\s+сколько\s+(?:\w+\s+)?(?:открыва|закрыва|работа)")
PRICE_ASKED_RE = re.compile(r"сколько\s+сто|\bцен[аыу]?\b|прайс|почем|стоимост")
HOURS_ASKED_RE = re.compile(r"до\s+скольк|часы\s+работ|режим\s+работ|график|во\s+сколько\s+(?:\w+\s+)?"
                            r"(?:открыва|закрыва|работа)|адрес|\bгде\b")


# "можно ли на субботу", "есть окошко", "хочу": a price question that asks for a visit too.
BOOKING_CUE_RE = re.compile(r"можно|запис|запиш|свобод|окош|\bокн|есть\s+(?:ли\s+)?время|хочу|хотел")
OWN_VISIT_RE = re.compile(r"\bмо(?:я|ю|ей|й|его)\b")


def asks_to_book_too(text: str, u: Understanding) -> bool:
    """A price question with a day that also asks for a visit of one clear service (never "моя стрижка
    в среду": the price of the client's own visit)."""
    low = text.lower()
    return (bool(BOOKING_CUE_RE.search(low)) and not OWN_VISIT_RE.search(low)
            and not u.hints.get("ambiguous_services"))


# "мою запись", "у меня запись", "я записана": the client speaks of a visit they already have.
OWN_RECORD_RE = re.compile(r"\bмо(?:я|ю|ей|й|его)\b|\bу\s+меня\b[^.?!]*\bзапис|\bзаписан")


def refers_to_own_visit(text: str) -> bool:
    """Whether a message speaks of a visit the client already has (not of the booking being made)."""
    return bool(OWN_RECORD_RE.search(text.lower()))


def with_alternatives(u: Understanding) -> list[int]:
    """The services named, with the NLU's equally likely alternatives ("маникюр": both manicures)."""
    ids = list(u.service_ids)
    for alternatives in (u.hints.get("ambiguous_services") or {}).values():
        ids += [int(x) for x in alternatives if int(x) not in ids]
    return ids
