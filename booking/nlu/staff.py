"""Which master a message names, and the client's own name when they introduce themselves.

Staff: every first name expands to its everyday forms (``Анна`` -> Аня, Анечка, Анюта...), each
form to all its case forms (pymorphy3 lexeme plus regular endings for forms the dictionary does not
know, e.g. ``Маришке``), and surnames to theirs (``Смирновой``). A form shared by two masters gives
no staff id, only candidates in the hints, unless a surname settles it.

Client name: "меня зовут Аня", "зовут Ольга", "моё имя Анна", "это Ольга" / "я Аня" (a nominative
first name), or — when the dialogue says it expects a name (context ``{"expecting": "name"}``) —
a short answer that is (or starts with) a name. Tokens used for the client's name are not staff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from booking.model import SalonCatalog
from booking.nlu.morph import Morph
from booking.nlu.names import DIMINUTIVES, NOT_NAMES

_ANY_STAFF = re.compile(
    r"\b(?:к\s+)?(?:любо(?:му|й|го)\s+(?:мастер\w*|свободно\w*)|(?:не\s*важно|все\s+равно|без\s+разницы)"
    r"(?:\s+(?:к\s+)?(?:кому|кто|какой|какому|мастер\w*))?|кто\s+(?:будет\s+)?свобод\w+|к\s+кому\s+угодно"
    r"|к\s+любому|любой)\b"
)
# "к другому мастеру", "к другой девушке", "кто-нибудь другой": not the master being discussed.
_OTHER_STAFF = re.compile(
    r"\bдруг(?:ому|ой|ого|им|ая|ую)\s+(?:мастер\w*|специалист\w*|девушк\w*|девочк\w*|парикмахер\w*|стилист\w*)\b"
    r"|\bк\s+друг(?:ому|ой)\b(?!\s+(?:врем|дн|день|числ|дат|раз))|\bкто-?(?:нибудь|то)\s+друг\w*"
    r"|\bне\s+к\s+(?:нему|ней|этому\s+мастер\w*|этой\s+мастер\w*)\b"
)
# "именно к Марине", "только к Ане", "обязательно Катя": this master and no other.
_INSIST_WORDS = frozenset({"именно", "только", "обязательно", "лишь"})
_INSIST_SKIP = frozenset({"к", "ко", "у", "мне", "нужно", "надо", "мастеру", "мастера"})
_SAME_STAFF = re.compile(r"\b(?:к\s+)?(?:тому\s+же|той\s+же|моему|моей|своему|своей)\s+мастер\w*\b")
_NAME_INTRO = frozenset({"зовут", "звать", "имя"})
_NAME_SOFT_INTRO = frozenset({"это", "я"})
_NOT_A_NAME = frozenset(
    {
        "да",
        "нет",
        "ок",
        "окей",
        "я",
        "меня",
        "мне",
        "это",
        "зовут",
        "звать",
        "имя",
        "мое",
        "моё",
        "привет",
        "здравствуйте",
        "спасибо",
        "хочу",
        "можно",
        "запишите",
        "записаться",
        "на",
        "к",
        "в",
        "и",
        "а",
        "ну",
        "вот",
        "так",
        "же",
        "пожалуйста",
        "добрый",
        "день",
        "клиент",
        "клиентка",
    }
)
_FUZZY_CUTOFF = 88.0


@dataclass
class StaffMatch:
    """The master a message names (or the candidates when it is ambiguous)."""

    staff_id: int | None = None
    candidates: list[int] = field(default_factory=list)
    any_staff: bool = False
    same_staff: bool = False
    other_staff: bool = False  # "к другому мастеру"
    insisted: bool = False  # "именно к Марине"
    by_role: list[int] = field(default_factory=list)  # "к барберу": masters with that specialization
    excluded: list[int] = field(default_factory=list)  # "без мастера Оли", "не к Ане", "кроме Кати"
    used_tokens: set[int] = field(default_factory=set)


def _regular_forms(word: str) -> set[str]:
    """Case forms by regular endings (for forms the dictionary does not know)."""
    if word.endswith(("а", "я")):
        stem = word[:-1]
        soft = word.endswith("я") or stem.endswith(("ш", "ж", "ч", "щ", "к", "г", "х"))
        return (
            {word}
            | {stem + e for e in (("и", "е", "ю", "ей", "ею") if soft else ("ы", "е", "у", "ой", "ою"))}
            | {stem + "у", stem + "ой", stem + "и"}
        )
    if word.endswith(("ь", "й")):
        stem = word[:-1]
        return {word, stem + "я", stem + "ю", stem + "ем", stem + "е"}
    return {word, word + "а", word + "у", word + "ом", word + "е"}


def _surname_forms(surname: str) -> set[str]:
    forms = {surname}
    if surname.endswith(("ова", "ева", "ина", "ына")):
        stem = surname[:-1]
        forms |= {stem + "ой", stem + "у", stem + "ою"}
    elif surname.endswith(("ов", "ев", "ин", "ын")):
        forms |= {surname + e for e in ("а", "у", "ым", "е")}
    elif surname.endswith("ая"):
        stem = surname[:-2]
        forms |= {stem + e for e in ("ой", "ую")}
    elif surname.endswith("ий"):
        stem = surname[:-2]
        forms |= {stem + e for e in ("ого", "ому", "им", "ом")}
    else:
        forms |= _regular_forms(surname)
    return forms


class StaffMatcher:
    """Matches message tokens against one catalog's staff (built once per catalog)."""

    def __init__(self, catalog: SalonCatalog, morph: Morph) -> None:
        self._morph = morph
        self._first: dict[str, set[int]] = {}
        self._surname: dict[str, set[int]] = {}
        self._roles: dict[str, set[int]] = {}
        for member in catalog.staff:
            for role in re.split(r"[,;/]| и ", member.specialization.lower().replace("ё", "е")):
                words = role.split()
                if len(words) == 1:  # one-word roles only: "мастер маникюра" would shadow the service
                    for part in {words[0], words[0].split("-")[-1]}:
                        self._roles.setdefault(morph.lemma(part), set()).add(member.id)
            parts = [p for p in re.split(r"\s+", member.name.lower().replace("ё", "е").strip()) if p]
            if not parts:
                continue
            first, rest = parts[0], parts[1:]
            variants = {first, *(v for v in DIMINUTIVES.get(first, ()) if v not in NOT_NAMES)}
            for full, short in DIMINUTIVES.items():  # a master listed under a short name
                if first in short:
                    variants.add(full)
            for variant in variants:
                for form in morph.word_forms(variant) | _regular_forms(variant):
                    self._first.setdefault(form, set()).add(member.id)
            for surname in rest:
                if len(surname) < 3:
                    continue
                for form in _surname_forms(surname):
                    self._surname.setdefault(form, set()).add(member.id)
        self._fuzzy_keys = sorted(k for k in self._first if len(k) >= 5)
        self._fuzzy_cache: dict[str, str | None] = {}

    def _fuzzy(self, token: str) -> str | None:
        if token in self._fuzzy_cache:
            return self._fuzzy_cache[token]
        found = process.extractOne(token, self._fuzzy_keys, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
        result = found[0] if found is not None and found[0][0] == token[0] else None
        if len(self._fuzzy_cache) > 50_000:
            self._fuzzy_cache.clear()
        self._fuzzy_cache[token] = result
        return result

    def names_master(self, token: str) -> bool:
        """Whether the token is a form of a master's first name or surname ("Ольга", "Ане")."""
        return token in self._first or token in self._surname

    def match(self, tokens: list[str], skip: set[int]) -> StaffMatch:
        """Find the master named in `tokens` (indices in `skip` are ignored)."""
        text = " ".join(tokens)
        result = StaffMatch(
            any_staff=bool(_ANY_STAFF.search(text)), same_staff=bool(_SAME_STAFF.search(text)),
            other_staff=bool(_OTHER_STAFF.search(text)),
        )
        first_sets: list[set[int]] = []
        surname_sets: list[set[int]] = []
        excluded: set[int] = set()
        roles: set[int] = set()
        for i, token in enumerate(tokens):
            if i in skip or not token.isalpha() or len(token) < 2:
                continue
            if self._roles and len(token) >= 5 and (role := self._roles.get(self._morph.lemma(token))):
                roles |= role
                continue
            ids: set[int] | None = None
            target = first_sets
            if token in self._surname:
                ids, target = self._surname[token], surname_sets
            elif token in self._first:
                ids = self._first[token]
            elif len(token) >= 5 and not self._morph.is_known(token):
                hit = self._fuzzy(token)
                ids = self._first[hit] if hit is not None else None
            if ids is None:
                continue
            result.used_tokens.add(i)
            if _excluding(tokens, i):
                excluded |= ids
            else:
                target.append(ids)
                near = [t for t in tokens[max(0, i - 4) : i] if t not in _INSIST_SKIP]
                result.insisted |= bool(_INSIST_WORDS & set(near[-2:]))
        result.by_role = sorted(roles)
        result.excluded = sorted(excluded)
        if not first_sets and not surname_sets:
            return result
        candidates: set[int] | None = None
        for ids in surname_sets + first_sets:
            narrowed = ids if candidates is None else candidates & ids
            candidates = narrowed if narrowed else (candidates or ids)
        ordered = sorted(candidates or ())
        if len(ordered) == 1:
            result.staff_id = ordered[0]
        result.candidates = ordered
        return result


def _excluding(tokens: list[str], i: int) -> bool:
    """ "без Оли", "без мастера Оли", "не к Ане", "кроме Кати", "только не Марина"."""
    before = tokens[max(0, i - 3) : i]
    if before and before[-1].startswith("мастер"):
        before = before[:-1]
    return bool(before) and (before[-1] in ("без", "кроме", "не") or before[-2:] == ["не", "к"])


def extract_client_name(
    tokens: list[str], morph: Morph, *, expecting_name: bool
) -> tuple[str | None, set[int]]:
    """The client's own name and the token indices it used."""
    for i, token in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if token == "меня" and i + 2 < len(tokens) and tokens[i + 2] in ("зовут", "звать") and nxt.isalpha():
            return _with_surname(tokens, i + 1, morph)  # "меня Катя зовут"
        if not nxt.isalpha() or nxt in _NOT_A_NAME:
            continue
        if token in _NAME_INTRO:
            return _with_surname(tokens, i + 1, morph)
        if token in _NAME_SOFT_INTRO and morph.is_first_name(nxt) and (i == 0 or tokens[i - 1] != "к"):
            return _with_surname(tokens, i + 1, morph)
    if not expecting_name:
        return None, set()
    words = [(i, t) for i, t in enumerate(tokens) if t.isalpha()]
    names = [i for i, token in words if token not in _NOT_A_NAME and morph.is_first_name(token)]
    if names:
        # "Лёша, это сына так зовут. я мама, Оксана": the name the client gives as their own wins.
        own = [i for i in names if {"я", "меня"} & set(tokens[max(0, i - 3) : i])]
        return _with_surname(tokens, own[-1] if own else names[0], morph)
    content = [(i, t) for i, t in words if t not in _NOT_A_NAME]
    if 1 <= len(content) <= 2 and len(words) <= 4:
        for i, token in content:
            nominative = morph.name_nominative(token)
            if nominative is not None:  # "на Ольгу" -> Ольга
                return nominative.capitalize(), {i}
        i, token = content[0]
        if morph.could_be_name(token):
            return _with_surname(tokens, i, morph)
    return None, set()


# "давайте последний вариант. Мария": a word closing the message in a clause of its own.
_TRAILING_WORD = re.compile(r"[.,!;:)\n]\s*(?:я\s+)?([A-Za-zА-Яа-яЁё]+)\s*[.!)]*\s*$")


def trailing_name(text: str, tokens: list[str], morph: Morph) -> tuple[str | None, set[int]]:
    """A first name (pymorphy's Name tag, nominative) that closes a message after a clause of its own
    ("давайте последний вариант. Мария", "в 12, Алина"); the caller rules out masters' names."""
    m = _TRAILING_WORD.search(text or "")
    if m is None or len(tokens) < 2:
        return None, set()
    word = m.group(1).lower().replace("ё", "е")
    if tokens[-1] != word or word in _NOT_A_NAME or not morph.is_first_name(word):
        return None, set()
    return word.capitalize(), {len(tokens) - 1}


def _with_surname(tokens: list[str], i: int, morph: Morph) -> tuple[str, set[int]]:
    """The name at `i`, with a following surname or patronymic ("Анна Петрова", "Ольга Сергеевна")."""
    used = {i}
    name = tokens[i].capitalize()
    if i + 1 < len(tokens):
        nxt = tokens[i + 1]
        if (
            nxt.isalpha()
            and nxt not in _NOT_A_NAME
            and any("Surn" in p.tag or "Patr" in p.tag for p in morph.analyzer.parse(nxt)[:2])
        ):
            used.add(i + 1)
            name = f"{name} {nxt.capitalize()}"
    return name, used
