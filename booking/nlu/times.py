"""The time of day a message asks for, and its part of day.

Times: ``15:30``, ``15.30``, ``15-30``, ``в 15``, ``в 3`` (a salon reads hours 1-8 as afternoon:
15:00), ``в 10 утра``, ``в 9 вечера`` (21:00), ``в 2 дня`` (14:00), ``в час`` (13:00), ``в 5 30``,
``в пять тридцать``, ``в полпятого`` (16:30), ``в половине шестого`` (17:30), ``в четверть третьего``
(14:15), ``без четверти пять`` (16:45), ``к двенадцати``, ``часа в четыре`` (16:00, hint
``approximate``), ``после 5`` (17:00, hint ``time_relation: after``), ``до 12`` (no time; hint
``time_before: "12:00"``), ``часов в 12-13`` (a range: 12:00), ``завтра 15 30``. A number needs a
time word (в, к, на, около, после, с, часа...), an hour word after it (``3 часа``) or two-digit
minutes after it, so ``через 2 дня`` or ``на 5 человек`` are not times. Several times: the first,
or the first after a "перенести" word (the new time of a move).

Parts of day: ``утром``/``с утра``/``до обеда`` -> morning, ``днём``/``в обед`` -> day, ``после обеда``/
``во второй половине дня`` -> afternoon, ``вечером``/``ближе к вечеру`` -> evening. A part of day
also decides how a bare hour reads (``вечером в 7`` = 19:00, ``утром в 8`` = 08:00).

Rule for the evaluation output: ``part_of_day`` is set only when the message names a part of day
and gives no exact time; when both are said, the time wins and the part is kept in the hints
(``part_of_day_said``). The qualifier of an hour (``в 9 вечера``) is not a part-of-day mention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time

from booking.nlu.morph import Morph
from booking.nlu.normalize import negated
from booking.nlu.numbers import compound_number, word_number

_TRIGGERS = frozenset(
    {
        "в",
        "во",
        "к",
        "ко",
        "на",
        "около",
        "после",
        "с",
        "со",
        "часа",
        "часов",
        "часам",
        "часикам",
        "часиков",
        "примерно",
        "районе",
        "где-то",
        "приблизительно",
        "ориентировочно",
        "до",
        "поближе",
        "ближе",
        "давайте",
        "давай",
        "лучше",
        "можно",
        "или",
        "только",
        "часик",
    }
)
_APPROX = frozenset(
    {
        "часа",
        "часов",
        "часам",
        "часикам",
        "часиков",
        "около",
        "примерно",
        "где-то",
        "приблизительно",
        "районе",
    }
)
_HOUR_WORDS = frozenset({"час", "часа", "часов", "часам", "часиков", "часикам", "ч", "часик", "часика"})
_NOT_TIME_UNITS = (
    "день",
    "дня",
    "дней",
    "недел",
    "раз",
    "человек",
    "числ",
    "минут",
    "месяц",
    "год",
    "руки",
    "процедур",
    "услуг",
    "мастер",
    "тысяч",
    "руб",
    "штук",
    "ногт",
    "сеанс",
    "дет",
    "подруг",
    "косич",
)
_NOT_TIME_EXACT = frozenset({"р", "к", "т", "тыс", "шт", "мин"})
_QUALIFIERS = {
    "утра": "morning",
    "дня": "day",
    "вечера": "evening",
    "ночи": "night",
    "утром": "morning",
    "вечером": "evening",
    "днем": "day",
}
_MINUTE_WORDS = {
    "пятнадцать": 15,
    "тридцать": 30,
    "сорок": 40,
    "двадцать": 20,
    "десять": 10,
    "пять": 5,
    "пятьдесят": 50,
    "ноль": 0,
}
_QUARTER = ("четверть", "четверти")
_ORIGIN_WORDS = frozenset({"с", "со", "вместо"})
_SHIFT_WORDS = frozenset({"раньше", "позже", "пораньше", "попозже"})
_HALF = ("половина", "половине", "половину", "половины", "пол")
_BEFORE_MINUTES = {"четверти": 15, "пятнадцати": 15, "десяти": 10, "пяти": 5, "двадцати": 20}

_PARTS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\b(?:после\s+обеда?|после\s+обед\w*|во\s+второй\s+половине(?:\s+дня)?|вторая\s+половина\s+дня)\b"
        ),
        "afternoon",
    ),
    (re.compile(r"\b(?:до\s+обеда?|в\s+первой\s+половине(?:\s+дня)?|первая\s+половина\s+дня)\b"), "morning"),
    (re.compile(r"\b(?:ближе\s+к\s+вечеру|под\s+вечер|к\s+вечеру|вечер\w*)\b"), "evening"),
    (re.compile(r"\b(?:с\s+утра|утр\w*|поутру|спозаранку|пораньше\s+утром)\b"), "morning"),
    (
        re.compile(
            r"\b(?:днем|днём|в\s+обед|обед\w*|дневн\w*|в\s+течени[ие]\s+дня|середин\w+\s+дня|к\s+обеду)\b"
        ),
        "day",
    ),
]


@dataclass
class TimeMatch:
    """The time and part of day asked for."""

    time: time | None = None
    part_of_day: str | None = None
    used_tokens: set[int] = field(default_factory=set)
    hints: dict[str, object] = field(default_factory=dict)
    rejected: bool = False  # every time said is refused ("в 18 не успею"): `time` is the refused one


def _part_of_day(tokens: list[str], skip: set[int]) -> str | None:
    """The part of day a message names (qualifiers right after a number excluded)."""
    words = [
        t
        for i, t in enumerate(tokens)
        if i not in skip
        and not (t in _QUALIFIERS and i > 0 and (tokens[i - 1].isdigit() or tokens[i - 1] in _HOUR_WORDS))
    ]
    text = " ".join(words)
    for pattern, part in _PARTS:
        if pattern.search(text):
            return part
    return None


def _adjust(hour: int, qualifier: str | None, part: str | None) -> int:
    """Read a bare hour the way a salon client means it."""
    if qualifier == "morning":
        return hour % 12 if hour == 12 else hour
    if qualifier == "evening":
        return hour + 12 if hour < 12 else hour
    if qualifier == "day":
        return hour + 12 if hour < 8 else hour
    if qualifier == "night":
        return 0 if hour == 12 else hour
    if part == "morning":
        return hour
    if part == "evening" and hour < 12:
        return hour + 12
    if part in ("day", "afternoon") and hour <= 8:
        return hour + 12
    return hour + 12 if 1 <= hour <= 8 else hour


def _hour_value(tokens: list[str], i: int, morph: Morph) -> tuple[int, int] | None:
    """(hour, tokens used) for an hour at token i ("3", "три", "час")."""
    token = tokens[i]
    if token == "час":
        return 1, 1
    if token == "часа" and tokens[i + 1 : i + 2] == ["дня"]:
        return 1, 1  # "около часа дня", "после часа дня" (not "около часа": an amount)
    if token.isdigit():
        value = int(token)
        return (value, 1) if 0 <= value <= 24 and len(token) <= 2 else None
    number = compound_number(tokens, i, morph)
    if number is None or number[1]:
        return None
    if number[0] == 1 and number[2] == 1:
        return None  # one o'clock is "в час"; "в одно посещение", "в один день" are not times
    return (number[0], number[2]) if 0 <= number[0] <= 24 else None


def _ordinal_hour(token: str, morph: Morph) -> int | None:
    """ "пятого" -> 5 (the hour in "полпятого", "в половине пятого", "четверть пятого")."""
    number = word_number(token, morph)
    if number is not None and number[1] and 1 <= number[0] <= 12:
        return number[0]
    return None


@dataclass
class _Candidate:
    index: int
    value: tuple[int, int]
    used: set[int]
    hints: dict[str, object]


def extract_time(
    tokens: list[str], morph: Morph, skip: set[int], *, prefer_after: int | None = None
) -> TimeMatch:
    """Find the time and the part of day asked for (see the module docstring).

    With several times the first one wins, or — when `prefer_after` is given (the position of a
    "перенести" word) — the first one after that position ("с 12 перенесите на 15" -> 15:00).
    """
    match = TimeMatch()
    part = _part_of_day(tokens, skip)
    candidates: list[_Candidate] = []
    i = 0
    while i < len(tokens):
        if i in skip:
            i += 1
            continue
        found = _time_at(tokens, i, morph, skip, part, match.hints)
        if found is None:
            i += 1
            continue
        candidates.append(found)
        i = max(found.used | {i}) + 1
    if candidates:
        # "не в 18, а в 19", "в 18 не успею, давайте в 19": a rejected time loses.
        wanted = [c for c in candidates if not negated(tokens, c.index, max(c.used | {c.index}))]
        match.rejected = not wanted
        wanted = wanted or candidates
        # "с 14 на 16": the time after "с"/"вместо" is the one being left when another follows.
        def said_after(c: _Candidate, words: frozenset[str]) -> bool:
            return tokens[c.index] in words or (c.index > 0 and tokens[c.index - 1] in words)

        targets = [c for c in wanted if not said_after(c, _ORIGIN_WORDS)]
        if len(wanted) > 1 and targets and any(said_after(c, frozenset({"на"})) for c in targets):
            wanted = targets
        chosen = wanted[0]
        if prefer_after is not None:
            chosen = next((c for c in wanted if c.index > prefer_after), chosen)
        hour, minute = chosen.value
        if 0 <= hour <= 23 and 0 <= minute <= 59:
            match.time = time(hour, minute)
            match.hints.update(chosen.hints)
        for candidate in candidates:
            match.used_tokens |= candidate.used
    if part is not None:
        match.hints["part_of_day_said"] = part
        if match.time is None:
            match.part_of_day = part
    return match


def _time_at(
    tokens: list[str], i: int, morph: Morph, skip: set[int], part: str | None, hints: dict[str, object]
) -> _Candidate | None:
    """A time expression starting at token i, if there is one."""
    n = len(tokens)
    token = tokens[i]
    m = re.fullmatch(r"(\d{1,2})[:.](\d{2})", token)
    if m and int(m.group(1)) <= 24 and int(m.group(2)) <= 59:
        hour, minute = int(m.group(1)), int(m.group(2))
        qualifier = _QUALIFIERS.get(tokens[i + 1]) if i + 1 < n else None
        # "3:30" reads like "в 3" (15:30); "03:30" is taken literally.
        if hour <= 12 and (qualifier or not m.group(1).startswith("0")):
            hour = _adjust(hour, qualifier, part) % 24
        return _Candidate(i, (hour, minute), {i}, _relation(tokens, i))
    # полпятого / пол-пятого / пол пятого / половина пятого / в половине шестого
    half_hour = None
    if token.startswith("пол") and len(token) > 5 and token not in _HALF:
        half_hour = _ordinal_hour(token[3:].lstrip("-"), morph)
    elif token in _HALF and i + 1 < n:
        half_hour = _ordinal_hour(tokens[i + 1], morph)
        if half_hour is None and token == "пол" and tokens[i + 1].isdigit() and 1 <= int(tokens[i + 1]) <= 12:
            half_hour = int(tokens[i + 1])  # "в пол 5" = 4:30 (afternoon by the salon rule)
    if half_hour is not None:
        last = i + 1 if token in _HALF else i
        return _Candidate(
            i, (_adjust(half_hour - 1 or 12, _qual_after(tokens, last), part), 30), {i, last}, {}
        )
    if token in _QUARTER and i + 1 < n and (i == 0 or tokens[i - 1] != "без"):
        quarter_hour = _ordinal_hour(tokens[i + 1], morph)
        if quarter_hour is not None:
            value = (_adjust(quarter_hour - 1 or 12, _qual_after(tokens, i + 1), part), 15)
            return _Candidate(i, value, {i, i + 1}, {})
    if token == "без" and i + 2 < n:
        # "без четверти пять", "без 15 пять", "без 10 минут 6": minutes before the hour
        before = _BEFORE_MINUTES.get(tokens[i + 1])
        if before is None and tokens[i + 1].isdigit() and 1 <= int(tokens[i + 1]) <= 30:
            before = int(tokens[i + 1])
        at = i + 3 if i + 3 < n and tokens[i + 2].startswith("минут") else i + 2
        hv = _hour_value(tokens, at, morph) if before is not None else None
        if hv is not None and 1 <= hv[0] <= 12 and before is not None:
            hour = _adjust(hv[0], _qual_after(tokens, at + hv[1] - 1), part)
            value = ((hour - 1) % 24, 60 - before)
            return _Candidate(i, value, set(range(i, at + hv[1])), {})
    triggered = token in _TRIGGERS
    start = i + 1 if triggered else i
    if start >= n or start in skip:
        return None
    # "в 1500", "к 0930": four digits after a time word, when they read as HHMM.
    four = re.fullmatch(r"([01]\d|2[0-3])([0-5]\d)", tokens[start]) if triggered and token != "до" else None
    if four and not _is_unit(tokens[start + 1] if start + 1 < n else ""):
        return _Candidate(i, (int(four.group(1)), int(four.group(2))), {i, start}, _relation(tokens, i))
    hv = _hour_value(tokens, start, morph)
    if hv is None:
        return None
    hour, length = hv
    end = start + length
    nxt = tokens[end] if end < n else ""
    has_hour_word = nxt in _HOUR_WORDS
    # "завтра 15 30": an hour and two-digit minutes need no time word.
    pair = tokens[start].isdigit() and hour <= 23 and nxt.isdigit() and len(nxt) == 2 and int(nxt) <= 59
    after_next = tokens[end + 1] if end + 1 < n else ""
    if not (triggered or has_hour_word or pair) or _is_unit(nxt, after_next) or _is_duration(tokens, i, end):
        return None
    if token == "до":
        if hour >= 1 or has_hour_word:
            h = _adjust(hour, _qual_after(tokens, end - 1), part) % 24
            hints["time_before"] = f"{h:02d}:00"
        return None
    if has_hour_word:
        end += 1
    minute, end = _minutes(tokens, end, morph, skip)
    qualifier = _QUALIFIERS.get(tokens[end]) if end < n else None
    local = _relation(tokens, i)
    if token in _APPROX or (i > 0 and tokens[i - 1] in _APPROX):
        local["approximate"] = True
    used = set(range(i, end + (1 if qualifier else 0)))
    return _Candidate(i, (_adjust(hour, qualifier, part) % 24, minute), used, local)


def _qual_after(tokens: list[str], i: int) -> str | None:
    """The hour qualifier (утра/дня/вечера) after token i, skipping an hour word."""
    j = i + 1
    if j < len(tokens) and tokens[j] in _HOUR_WORDS:
        j += 1
    return _QUALIFIERS.get(tokens[j]) if j < len(tokens) else None


def _minutes(tokens: list[str], i: int, morph: Morph, skip: set[int]) -> tuple[int, int]:
    """Minutes after an hour ("5 30", "пять тридцать", "пять сорок пять"): (minutes, next index)."""
    if i >= len(tokens) or i in skip:
        return 0, i
    token = tokens[i]
    if token.isdigit() and len(token) == 2 and int(token) <= 59:
        j = i + 1
        if j < len(tokens) and tokens[j].startswith("минут"):
            j += 1
        return int(token), j
    lemma = morph.lemma(token) if token.isalpha() else ""
    if lemma in _MINUTE_WORDS and lemma != "пять":
        value, j = _MINUTE_WORDS[lemma], i + 1
        if value in (20, 30, 40, 50) and j < len(tokens) and morph.lemma(tokens[j]) == "пять":
            value, j = value + 5, j + 1
        if j < len(tokens) and tokens[j].startswith("минут"):
            j += 1
        return value, j
    return 0, i


def _is_unit(token: str, after: str = "") -> bool:
    """Whether the word after a number makes it an amount ("5 дней", "3 к"), not an hour. A one-letter
    abbreviation followed by a word is a preposition ("на 11 к Ане")."""
    if token in _QUALIFIERS:
        return False
    if token in _NOT_TIME_EXACT:
        return not (len(token) == 1 and after.isalpha() and not after.startswith("руб"))
    return bool(token) and token.startswith(_NOT_TIME_UNITS) and token not in _HOUR_WORDS


def _is_duration(tokens: list[str], i: int, end: int) -> bool:
    """ "через 2 часа", "на 2 часа раньше", "на час позже", "минут на 20": an amount of time, not a time
    of day."""
    if tokens[i] == "через" or (i > 0 and tokens[i - 1] in ("через", "минут", "минуты", "минуток")):
        return True
    if end < len(tokens) and tokens[end] in _SHIFT_WORDS:
        return True
    return end + 1 < len(tokens) and tokens[end] in _HOUR_WORDS and tokens[end + 1] in _SHIFT_WORDS


def _relation(tokens: list[str], i: int) -> dict[str, object]:
    """Hints for "после 5" (after) and "с 5" (from)."""
    word = tokens[i] if tokens[i] in ("после", "с", "со") else (tokens[i - 1] if i > 0 else "")
    if word == "после":
        return {"time_relation": "after"}
    if word in ("с", "со"):
        return {"time_relation": "from"}
    return {}
