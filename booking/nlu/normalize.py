"""Text normalization and tokenization of client messages.

Clients write lowercase, with typos, emoji, no punctuation and run-on sentences. This module turns
a message into a flat list of lowercase tokens: words (``ё`` folded to ``е``, hyphenated words kept
whole), plain numbers (``"5"``; ordinal suffixes such as ``5-го`` are dropped and marked as
``числа``), and compact number forms kept as one token (``"15:30"``, ``"28.11"``, ``"28.11.2026"``);
``?`` is kept as a token (questions matter to intents).
Latin-script Russian (``manikur zavtra``) is first written in Cyrillic (translit.py).
Emoji that carry meaning become words (👍 -> ``да``); greeting phrases that contain part-of-day
words (``добрый вечер``) become ``здравствуйте`` so they are not read as "in the evening".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from booking.nlu.translit import transliterate

# Emoji (and a few symbols) that mean something in a booking chat.
EMOJI_WORDS: dict[str, str] = {
    "👍": " да ",
    "👌": " ок ",
    "✅": " да ",
    "✔": " да ",
    "☑": " да ",
    "🆗": " ок ",
    "👎": " нет ",
    "❌": " нет ",
    "🚫": " нет ",
    "🙏": " спасибо ",
    "🤝": " да ",
    "💅": " маникюр ",
    "💇": " стрижка ",
    "✂": " стрижка ",
}

_PLUS_ONLY = re.compile(r"^\s*\++\s*$")
_GREETING_PHRASES = re.compile(
    r"\b(?:добр(?:ый|ого|ое|ой|ым)|доброе)\s+(?:день|дня|утро|утра|вечер|вечера|ночи|времени\s+суток|времени)\b"
)
# "5го", "5-го", "1е", "на 5ое" -> "5 числа" (a day of month); not before "час"/"раз".
_ORDINAL_DAY = re.compile(r"\b(\d{1,2})\s?-?(?:го|ое|е|ого)\b(?!\s*(?:час|раз))")
# "15ч", "15 ч." -> "15 час"
_HOUR_SUFFIX = re.compile(r"\b(\d{1,2})\s?ч\b\.?")
# "15-30", "15 30" kept apart: only the dash form with two digits after is a time.
_DASH_TIME = re.compile(r"\b(\d{1,2})-(\d{2})\b")
_TOKEN = re.compile(
    r"\d{1,2}[:.]\d{1,2}(?:[.]\d{2,4})?"  # 15:30, 15.30, 28.11, 28.11.2026
    r"|\d{1,2}/\d{1,2}(?:/\d{2,4})?"  # 28/11, 28/11/26
    r"|\d+"
    r"|[a-zа-я]+(?:-[a-zа-я]+)*"
    r"|\+"
    r"|\?"
)


def normalize(text: str, is_known: Callable[[str], bool] | None = None) -> str:
    """Lowercase, fold ё, Latin-script Russian to Cyrillic (when `is_known`, a dictionary check, is
    given), map meaningful emoji to words, rewrite greeting phrases."""
    out = text.lower().replace("ё", "е")
    if is_known is not None:
        out = transliterate(out, is_known)
    if _PLUS_ONLY.match(out):  # a bare "+" is a yes
        return "да"
    for sym, word in EMOJI_WORDS.items():
        if sym in out:
            out = out.replace(sym, word)
    out = _GREETING_PHRASES.sub(" здравствуйте ", out)
    out = _HOUR_SUFFIX.sub(r"\1 час ", out)
    out = _DASH_TIME.sub(_dash_time, out)
    out = _ORDINAL_DAY.sub(r"\1 числа", out)
    return out


def _dash_time(m: re.Match[str]) -> str:
    """ "15-30" is 15:30; "12-13" is a range of hours: its start."""
    first, second = int(m.group(1)), int(m.group(2))
    if first < second <= 23:
        return m.group(1)
    return f"{m.group(1)}:{m.group(2)}"


def tokenize(text: str, is_known: Callable[[str], bool] | None = None) -> list[str]:
    """Normalize and split into tokens (see the module docstring). With `is_known`, a word spelt as
    heard ("атмените", "аплата": an unstressed о written а) is read as the dictionary word."""
    tokens = _TOKEN.findall(normalize(text, is_known))
    if is_known is not None:
        tokens = [_akanye(t, is_known) for t in tokens]
    return tokens


def _akanye(token: str, is_known: Callable[[str], bool]) -> str:
    if len(token) >= 5 and token[0] == "а" and token.isalpha() and not is_known(token):
        fixed = "о" + token[1:]
        if is_known(fixed):
            return fixed
    return token


_REFUSALS = ("успе", "смог", "мог", "получ", "подход", "удобн", "устраива", "выйдет", "сможе")
_PREPOSITIONS = frozenset({"в", "во", "на", "к", "ко", "с", "со", "после", "до", "около"})
_REFUSED_AFTER = frozenset({"никак", "нельзя", "неудобно", "занята", "занят", "заняты"})
_ASKING_AFTER = frozenset({"?", "ли"})  # "в 13 нельзя?": a question asking for it, not a refusal
_COME_WORDS = frozenset(
    {"прийти", "придти", "подойти", "приехать", "прийду", "приду", "быть", "в", "во", "на", "к", "ко"}
)


def negated(tokens: list[str], start: int, end: int) -> bool:
    """Whether the phrase tokens[start:end + 1] is rejected: "не на пятницу", "не в 18", "в 18 не успеть",
    "пятница не подходит"."""
    before = tokens[max(0, start - 2) : start]
    if before[-1:] == ["не"] or (len(before) == 2 and before[0] == "не" and before[1] in _PREPOSITIONS):
        return True  # "не завтра", "не на пятницу" (not "не надо завтра")
    # "не получается прийти в среду", "не смогу подойти к 5"
    window = tokens[max(0, start - 4) : start]
    if "не" in window:
        between = window[len(window) - window[::-1].index("не") :]
        if (
            between
            and between[0].startswith(_REFUSALS)
            and all(word.startswith(_REFUSALS) or word in _COME_WORDS for word in between)
        ):
            return True
    after = tokens[end + 1 : end + 4]
    if after and after[0] in _REFUSED_AFTER:  # "завтра никак", "в пятницу занята"
        return not (after[0] == "нельзя" and after[1:2] and after[1] in _ASKING_AFTER)
    return any(
        word == "не" and j + 1 < len(after) and after[j + 1].startswith(_REFUSALS)
        for j, word in enumerate(after)
    )
