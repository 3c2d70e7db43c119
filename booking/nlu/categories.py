"""Questions about a group of services: "какие услуги по ногтям", "цены на брови", "что из косметологии".

Contract decision (documented in tests/booking/nlu_cases/README.md): a prices or services question
that names a *group* rather than one service lists every service of that group — the services an
administrator would quote — while a question naming a service keeps just that service ("сколько
стоит маникюр" -> the typical manicure). A group is named by

- a word of a category title (by its first four letters: "ногтям" ~ "Ногтевой сервис",
  "косметологии" ~ "Косметология"). When that word also appears in some of the category's service
  titles ("брови" in "Брови и ресницы" and in "Коррекция бровей"), only those services; else all of
  the category's services;
- a body part of service titles ("для лица" -> every face service). A body part that only one
  service names ("волос" in "Окрашивание волос") stands for that service's category, minus the
  services of other body parts ("услуги для волос" -> every hair service).

A message qualifies only when every service word it contains is such a group word: "сколько стоит
педикюр, ногти на ногах" names a service and is left alone.
"""

from __future__ import annotations

import re

from booking.model import SalonCatalog
from booking.nlu.morph import Morph
from booking.nlu.services import BODY_LEMMAS, ServiceMatcher

_CATEGORY_STOP = frozenset({"услуги", "услуга", "сервис", "сервиса", "процедуры", "для", "и"})
_STEM = 4


def _stem(word: str) -> str:
    return word[:_STEM]


class CategoryMatcher:
    """Finds the group of services a question names (built once per catalog)."""

    def __init__(self, catalog: SalonCatalog, morph: Morph, services: ServiceMatcher) -> None:
        self._services = services
        self._morph = morph
        by_category: dict[int, list[int]] = {}
        titles: dict[int, str] = {}
        categories: dict[int, str] = {}
        for service in catalog.services:
            if service.category_id is None:
                continue
            by_category.setdefault(service.category_id, []).append(service.id)
            titles[service.id] = service.title.lower().replace("ё", "е")
            if service.category_title:
                categories[service.category_id] = service.category_title.lower().replace("ё", "е")
        # category title stem -> the services it names
        self._stems: dict[str, set[int]] = {}
        for category_id, title in categories.items():
            for word in re.findall(r"[а-я]+", title):
                if len(word) < 5 or word in _CATEGORY_STOP:
                    continue
                stem = _stem(word)
                members = by_category[category_id]
                named = [
                    sid
                    for sid in members
                    if any(_stem(w) == stem for w in re.findall(r"[а-я]+", titles[sid]))
                ]
                self._stems.setdefault(stem, set()).update(named or members)
        # body-part lemma -> the services it names
        self._body: dict[str, set[int]] = {}
        lemmas_of = {
            sid: {morph.lemma(w) for w in re.findall(r"[а-я]+", title)} for sid, title in titles.items()
        }
        category_of = {sid: cid for cid, members in by_category.items() for sid in members}
        for lemma in BODY_LEMMAS:
            body_named = {sid for sid, lemmas in lemmas_of.items() if lemma in lemmas}
            if len(body_named) == 1:
                (only,) = body_named
                body_named = {
                    sid
                    for sid in by_category[category_of[only]]
                    if not (lemmas_of[sid] & BODY_LEMMAS) or lemma in lemmas_of[sid]
                }
            if body_named:
                self._body[lemma] = body_named

    def group(self, tokens: list[str], skip: set[int]) -> list[int]:
        """The services of the group the message names, sorted; [] when it names none or also names
        a service of its own."""
        found: set[int] = set()
        for i, token in enumerate(tokens):
            if i in skip or not token.isalpha() or len(token) < 3:
                continue
            ids = self._stems.get(_stem(token)) if len(token) >= 5 else None
            if ids is None:
                lemmas = [lemma for lemma in self._morph.lemmas(token)[:2] if lemma in self._body]
                ids = self._body[lemmas[0]] if lemmas else None
            if ids is not None:
                found |= ids
            elif self._services.names_service(token):
                return []  # a service word of its own: not a group question
        return sorted(found)
