"""The day a message asks for, relative to the salon-local today.

Rules (documented because they are choices):
- ``сегодня`` 0, ``завтра`` +1, ``послезавтра`` / ``после завтра`` +2, ``послепослезавтра`` / ``после
  послезавтра`` +3.
- ``через N дней/недель/месяцев``: today + N units; ``через день`` = +1 (consistent with ``через N
  дней``), ``через пару дней`` +2, ``через неделю`` +7.
- A weekday (``в пятницу``, ``пт``) is the next such day *after* today: said on a Friday, ``в
  пятницу`` means the Friday a week later (today would be ``сегодня``). ``в эту пятницу`` allows
  today. ``в следующий вторник`` / ``в следующую пятницу`` is that day in the next calendar week
  (Monday-based), e.g. on a Monday ``в следующий вторник`` is 8 days later.
- ``на выходных`` / ``в выходные`` / ``в эти выходные``: the coming Saturday (today on a Saturday;
  on a Sunday ``в эти выходные`` is today, plain ``на выходных`` the next Saturday);
  ``на следующих выходных``: Saturday of the next calendar week. Hint ``weekend``.
- ``1 декабря``, ``первого декабря``, ``28.11``, ``28/11``, ``28.11.2026``, ``на 1 12`` (see _spaced);
  ``5 числа``/``5-го``: that day of
  this month. A date without a year that has already passed means next year (next month for a bare
  day of month).
- ``DD.MM`` versus a time ``HH.MM``: a date when the second part is a month (1-12) and either the
  first part cannot be an hour (>23) or nothing else in the message gives a date and no time word
  (``в``, ``к``, ``после``...) precedes it. ``15:30`` is always a time.
- Several candidates: a day after ``с``/``вместо`` is the origin of a move and loses to the other
  (``с завтра на пятницу``); after a "перенести" word the day named after it wins; otherwise an
  explicit date wins over words like ``завтра``, which win over weekdays, which win over the
  weekend; then the first.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from rapidfuzz import fuzz, process

from booking.nlu.morph import Morph
from booking.nlu.normalize import negated
from booking.nlu.numbers import compound_number

WEEKDAYS: dict[str, int] = {
    "понедельник": 0,
    "вторник": 1,
    "среда": 2,
    "четверг": 3,
    "пятница": 4,
    "суббота": 5,
    "воскресенье": 6,
}
WEEKDAY_ABBREV: dict[str, int] = {
    "пн": 0,
    "пон": 0,
    "понед": 0,
    "вт": 1,
    "втор": 1,
    "ср": 2,
    "чт": 3,
    "чет": 3,
    "четв": 3,
    "пт": 4,
    "пят": 4,
    "сб": 5,
    "суб": 5,
    "субб": 5,
    "вс": 6,
    "воскр": 6,
    "вскр": 6,
    "субботу": 5,
    "среду": 2,
    "пятницу": 4,
    "воскресение": 6,
    "воскресение,": 6,
}
MONTHS: dict[str, int] = {
    "январь": 1,
    "февраль": 2,
    "март": 3,
    "апрель": 4,
    "май": 5,
    "июнь": 6,
    "июль": 7,
    "август": 8,
    "сентябрь": 9,
    "октябрь": 10,
    "ноябрь": 11,
    "декабрь": 12,
}
MONTH_ABBREV: dict[str, int] = {
    "янв": 1,
    "фев": 2,
    "февр": 2,
    "мар": 3,
    "апр": 4,
    "мая": 5,
    "июн": 6,
    "июл": 7,
    "авг": 8,
    "сен": 9,
    "сент": 9,
    "окт": 10,
    "ноя": 11,
    "нояб": 11,
    "дек": 12,
    "декаб": 12,
}
TODAY_WORDS = frozenset({"сегодня", "седня", "сегодн", "сёдня", "сегодняшний", "сегодняшнее", "севодня"})
TOMORROW_WORDS = frozenset(
    {"завтра", "завтро", "зафтра", "заавтра", "завтраа", "завтрашний", "завтрашнее", "звтр"}
)
AFTER_TOMORROW_WORDS = frozenset({"послезавтра", "послезавтро", "послезафтра", "послезавтрашний"})
_NEXT_WORDS = frozenset({"следующий", "след", "следущий", "будущий", "следующей"})
_THIS_WORDS = frozenset({"этот", "эта", "эту", "ближайший", "текущий", "этих", "эти"})
_TIME_WORDS_BEFORE = frozenset({"в", "к", "около", "после", "до", "часа", "часов", "с", "часиков", "на"})
_EXPLICIT, _RELATIVE, _WEEKDAY, _WEEKEND = 4, 3, 2, 1
_ORIGIN_WORDS = frozenset({"с", "со", "вместо"})
# Words after two numbers that make them a count, not a day and month.
_COUNTED = ("час", "минут", "чел", "руб", "лет", "год", "шт", "раз", "тыс", "ден", "дн", "недел", "мес")


@dataclass
class DateMatch:
    """The day asked for, if any."""

    date: dt.date | None = None
    used_tokens: set[int] = field(default_factory=set)
    hints: dict[str, object] = field(default_factory=dict)
    # (rank, first token, value, last token)
    candidates: list[tuple[int, int, dt.date, int]] = field(default_factory=list)
    rejected: bool = False  # every day said is refused ("не получается в среду"): `date` is the refused one

    @property
    def rank(self) -> int:
        return max((c[0] for c in self.candidates), default=0)

    def offer(self, value: dt.date, rank: int, used: set[int]) -> None:
        self.used_tokens |= used
        self.candidates.append((rank, min(used), value, max(used)))

    def choose(self, tokens: list[str], prefer_after: int | None) -> None:
        """Pick the day: not a rejected one ("не на пятницу, а на субботу"), the target of a move
        ("с завтра на пятницу", "вместо пятницы в субботу", anything after a "перенести" word) over
        the origin, then the highest rank, then the first."""
        pool = [c for c in self.candidates if not negated(tokens, c[1], c[3])]
        self.rejected = bool(self.candidates) and not pool
        pool = pool or self.candidates
        if len(pool) > 1:
            targets = [c for c in pool if not (c[1] > 0 and tokens[c[1] - 1] in _ORIGIN_WORDS)]
            pool = targets or pool
        if prefer_after is not None and len(pool) > 1:
            after = [c for c in pool if c[1] > prefer_after]
            # "у меня завтра стрижка, можно её на четверг перенести": the day after "на" is the new one.
            pool = after or [c for c in pool if "на" in tokens[max(0, c[1] - 2) : c[1]]] or pool
        if pool:
            best = max(pool, key=lambda c: (c[0], -c[1]))
            self.date = best[2]


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _future(today: date, month: int, day: int, year: int | None = None) -> date | None:
    """The date; without a year, this year's or — if already passed — next year's."""
    if year is not None:
        if year < 100:
            year += 2000
        return _safe_date(year, month, day)
    value = _safe_date(today.year, month, day)
    if value is not None and value < today:
        value = _safe_date(today.year + 1, month, day)
    return value


def _month_of(token: str, morph: Morph) -> int | None:
    if token in MONTH_ABBREV:
        return MONTH_ABBREV[token]
    for lemma in morph.lemmas(token)[:2]:
        if lemma in MONTHS:
            return MONTHS[lemma]
    return None


def _weekday_of(token: str, morph: Morph) -> int | None:
    if token in WEEKDAY_ABBREV:
        return WEEKDAY_ABBREV[token]
    for lemma in morph.lemmas(token)[:2]:
        if lemma in WEEKDAYS:
            return WEEKDAYS[lemma]
    # "пятн", "четв", "воскр": a cut-off weekday that is no word of its own
    if 4 <= len(token) <= 6 and not morph.is_known(token):
        days = {day for name, day in WEEKDAYS.items() if name.startswith(token)}
        if len(days) == 1:
            return days.pop()
    return None


_DAY_WORDS = (
    "сегодня",
    "завтра",
    "послезавтра",
    "понедельник",
    "вторник",
    "среда",
    "среду",
    "четверг",
    "пятница",
    "пятницу",
    "суббота",
    "субботу",
    "воскресенье",
)


def _fix_typo(token: str, morph: Morph) -> str:
    """ "зватра" -> "завтра", "пятницк" -> "пятницу": day words the dictionary does not know."""
    if len(token) < 5 or not token.isalpha() or morph.is_known(token):
        return token
    found = process.extractOne(token, _DAY_WORDS, scorer=fuzz.ratio, score_cutoff=80.0)
    return found[0] if found is not None and found[0][0] == token[0] else token


def _modifier(tokens: list[str], i: int, morph: Morph) -> str | None:
    """'next' / 'this' when one of the two words before token i says so."""
    for j in (i - 1, i - 2):
        if j < 0:
            break
        word = tokens[j]
        lemma = morph.lemma(word)
        if word.startswith("след") or lemma in _NEXT_WORDS:
            return "next"
        if lemma in _THIS_WORDS or word in _THIS_WORDS:
            return "this"
    return None


def _unit_days(token: str) -> str | None:
    if token.startswith(("день", "дня", "дней", "денек", "денька", "сутки", "суток")):
        return "day"
    if token.startswith(("недел", "неделю")):
        return "week"
    if token.startswith("месяц"):
        return "month"
    return None


_NEXT_WEEK = re.compile(r"\b(?:след\w*|будущ\w*)\s+недел")
_DOT = re.compile(r"^(\d{1,2})[./](\d{1,2})(?:[./](\d{2,4}))?$")


def extract_date(
    tokens: list[str], today: date, morph: Morph, skip: set[int], *, prefer_after: int | None = None
) -> DateMatch:
    """Find the day a message asks for (see the module docstring).

    `prefer_after`: the position of a "перенести" word; a day named after it is the one wanted.
    """
    match = DateMatch()
    n = len(tokens)
    next_week = bool(_NEXT_WEEK.search(" ".join(tokens)))
    after_after: set[int] = set()  # tokens of "послепослезавтра"
    for i, token in enumerate(tokens):
        if i in skip:
            continue
        if i in after_after:
            continue
        if token.startswith("послепослезавтр") or (
            token == "после" and i + 1 < n and tokens[i + 1] in AFTER_TOMORROW_WORDS
        ):  # "на послепослезавтра", "после послезавтра": in three days
            used = {i, i + 1} if token == "после" else {i}
            match.offer(today + timedelta(days=3), _RELATIVE, used)
            after_after |= used
            continue
        token = _fix_typo(token, morph)
        if token in AFTER_TOMORROW_WORDS:
            match.offer(today + timedelta(days=2), _RELATIVE, {i})
        elif token == "после" and i + 1 < n and tokens[i + 1] in TOMORROW_WORDS:
            match.offer(today + timedelta(days=2), _RELATIVE, {i, i + 1})
        elif token in TOMORROW_WORDS and not (i > 0 and tokens[i - 1] == "после"):
            match.offer(today + timedelta(days=1), _RELATIVE, {i})
        elif token in TODAY_WORDS:
            match.offer(today, _RELATIVE, {i})
        elif token == "через" and i + 1 < n:
            _through(tokens, i, today, morph, match)
        elif token.startswith("выходн"):
            mod = _modifier(tokens, i, morph)
            saturday = today + timedelta(days=(5 - today.weekday()) % 7)
            if today.weekday() == 6 and mod == "this":  # "в эти выходные" said on a Sunday
                saturday = today
            if mod == "next":
                saturday = today + timedelta(days=7 - today.weekday() + 5)
            match.offer(saturday, _WEEKEND, {i})
            match.hints["weekend"] = True
        elif token.startswith("недел") and i > 0 and tokens[i - 1] != "через":
            mod = _modifier(tokens, i, morph)
            if mod is not None:
                match.hints["week"] = mod
        else:
            wd = _weekday_of(token, morph) if token.isalpha() else None
            if wd is not None:
                mod = _modifier(tokens, i, morph)
                ahead = (wd - today.weekday()) % 7
                if mod == "next" or next_week:
                    value = today + timedelta(days=7 - today.weekday() + wd)
                elif mod == "this":
                    value = today + timedelta(days=ahead)
                else:
                    value = today + timedelta(days=ahead or 7)
                match.offer(value, _WEEKDAY, {i})
                continue
            _absolute(tokens, i, today, morph, match)
    _dotted(tokens, today, skip, match)
    _spaced(tokens, today, skip, match)
    match.choose(tokens, prefer_after)
    return match


def _through(tokens: list[str], i: int, today: date, morph: Morph, match: DateMatch) -> None:
    """ "через неделю", "через 2 дня", "через пару дней", "через день"."""
    amount, j = 1, i + 1
    number = compound_number(tokens, j, morph)
    if number is not None and not number[1]:
        amount, j = number[0], j + number[2]
    if j >= len(tokens):
        return
    unit = _unit_days(tokens[j])
    if unit is None:
        return
    used = set(range(i, j + 1))
    if unit == "day":
        match.offer(today + timedelta(days=amount), _RELATIVE, used)
    elif unit == "week":
        match.offer(today + timedelta(days=7 * amount), _RELATIVE, used)
    else:
        match.offer(_add_months(today, amount), _RELATIVE, used)


def _absolute(tokens: list[str], i: int, today: date, morph: Morph, match: DateMatch) -> None:
    """ "1 декабря", "двадцать пятого ноября", "5 числа"."""
    token = tokens[i]
    if not (token.isdigit() or token.isalpha()):
        return
    number = compound_number(tokens, i, morph)
    if number is None:
        return
    day, _, length = number
    j = i + length
    if not 1 <= day <= 31 or j >= len(tokens):
        return
    nxt = tokens[j]
    month = _month_of(nxt, morph) if nxt.isalpha() else None
    if month is not None:
        year = None
        if j + 1 < len(tokens) and tokens[j + 1].isdigit() and len(tokens[j + 1]) == 4:
            year = int(tokens[j + 1])
        value = _future(today, month, day, year)
        if value is not None:
            match.offer(value, _EXPLICIT, set(range(i, j + 1)))
        return
    if nxt in ("числа", "число", "числу"):
        after = tokens[j + 1] if j + 1 < len(tokens) else ""
        month = _month_of(after, morph) if after.isalpha() else None
        if month is not None:  # "5-е января" was normalized to "5 числа января"
            value = _future(today, month, day)
            if value is not None:
                match.offer(value, _EXPLICIT, set(range(i, j + 2)))
            return
        value = _safe_date(today.year, today.month, day)
        if value is None or value < today:
            ahead = _add_months(today.replace(day=1), 1)
            value = _safe_date(ahead.year, ahead.month, day)
        if value is not None:
            match.offer(value, _EXPLICIT, set(range(i, j + 1)))


def _dotted(tokens: list[str], today: date, skip: set[int], match: DateMatch) -> None:
    """ "28.11", "28/11", "28.11.2026" (see the DD.MM versus HH.MM rule)."""
    for i, token in enumerate(tokens):
        if i in skip or i in match.used_tokens:
            continue
        m = _DOT.match(token)
        if m is None:
            continue
        a, b, year = int(m.group(1)), int(m.group(2)), m.group(3)
        if not (1 <= b <= 12 and 1 <= a <= 31):
            continue
        if year is None and "/" not in token and a <= 23:
            before = tokens[i - 1] if i > 0 else ""
            if before in _TIME_WORDS_BEFORE and before != "на" or match.rank >= _RELATIVE:
                continue
        value = _future(today, b, a, int(year) if year else None)
        if value is not None:
            match.offer(value, _EXPLICIT, {i})


def _spaced(tokens: list[str], today: date, skip: set[int], match: DateMatch) -> None:
    """ "на 1 12", "5 12 маникюр": day and month as two numbers (the dot lost). Not after a time word
    other than "на" ("в 5 12" stays a time), not when the second number reads as minutes (a
    multiple of 5: "в 10 10"), and only when no other explicit date was said."""
    if match.rank >= _EXPLICIT:
        return
    for i in range(len(tokens) - 1):
        first, second = tokens[i], tokens[i + 1]
        if i in skip or i + 1 in skip or i in match.used_tokens or i + 1 in match.used_tokens:
            continue
        if not (first.isdigit() and second.isdigit() and len(first) <= 2 and len(second) <= 2):
            continue
        day, month = int(first), int(second)
        if not (1 <= day <= 31 and 1 <= month <= 12) or (len(second) == 2 and month % 5 == 0):
            continue
        before = tokens[i - 1] if i > 0 else ""
        after = tokens[i + 2] if i + 2 < len(tokens) else ""
        if (before in _TIME_WORDS_BEFORE and before != "на") or after.startswith(_COUNTED):
            continue  # "в 5 12" is a time, "на 2 3 человека" a count
        value = _future(today, month, day)
        if value is not None:
            match.offer(value, _EXPLICIT, {i, i + 1})
            return
