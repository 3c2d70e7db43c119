"""Numbers written as words (cardinal and ordinal, any case form) and as digits."""

from __future__ import annotations

from booking.nlu.morph import Morph

CARDINALS: dict[str, int] = {
    "ноль": 0,
    "один": 1,
    "два": 2,
    "три": 3,
    "четыре": 4,
    "пять": 5,
    "шесть": 6,
    "семь": 7,
    "восемь": 8,
    "девять": 9,
    "десять": 10,
    "одиннадцать": 11,
    "двенадцать": 12,
    "тринадцать": 13,
    "четырнадцать": 14,
    "пятнадцать": 15,
    "шестнадцать": 16,
    "семнадцать": 17,
    "восемнадцать": 18,
    "девятнадцать": 19,
    "двадцать": 20,
    "тридцать": 30,
    "сорок": 40,
    "пятьдесят": 50,
    "пара": 2,
    "полтора": 1,
}
ORDINALS: dict[str, int] = {
    "первый": 1,
    "второй": 2,
    "третий": 3,
    "четвертый": 4,
    "пятый": 5,
    "шестой": 6,
    "седьмой": 7,
    "восьмой": 8,
    "девятый": 9,
    "десятый": 10,
    "одиннадцатый": 11,
    "двенадцатый": 12,
    "тринадцатый": 13,
    "четырнадцатый": 14,
    "пятнадцатый": 15,
    "шестнадцатый": 16,
    "семнадцатый": 17,
    "восемнадцатый": 18,
    "девятнадцатый": 19,
    "двадцатый": 20,
    "тридцатый": 30,
}
# Token spellings pymorphy3 does not lemmatize to the forms above.
_EXTRA: dict[str, tuple[int, bool]] = {
    "пару": (2, False),
    "паре": (2, False),
    "двух": (2, False),
    "трех": (3, False),
    "четырех": (4, False),
    "одного": (1, False),
    "одну": (1, False),
    "полдень": (12, False),
    "полудню": (12, False),
    "полудня": (12, False),
}


def word_number(token: str, morph: Morph) -> tuple[int, bool] | None:
    """(value, is_ordinal) for a number word or digits, else None."""
    if token.isdigit():
        return int(token), False
    if token in _EXTRA:
        return _EXTRA[token]
    if not token.isalpha():
        return None
    for lemma in morph.lemmas(token)[:2]:
        if lemma in CARDINALS:
            return CARDINALS[lemma], False
        if lemma in ORDINALS:
            return ORDINALS[lemma], True
    return None


def compound_number(tokens: list[str], i: int, morph: Morph) -> tuple[int, bool, int] | None:
    """A number starting at token i, with "двадцать пятого" style compounds: (value, ordinal, length)."""
    first = word_number(tokens[i], morph)
    if first is None:
        return None
    value, ordinal = first
    if value in (20, 30, 40, 50) and not tokens[i].isdigit() and i + 1 < len(tokens):
        second = word_number(tokens[i + 1], morph)
        if second is not None and 1 <= second[0] <= 9 and not tokens[i + 1].isdigit():
            return value + second[0], second[1], 2
    return value, ordinal, 1
