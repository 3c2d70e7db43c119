"""Lemmas through pymorphy3, constructed once per process and cached per word.

`load_analyzer()` is the only process-wide object (an lru_cache'd loader: building the analyzer
takes ~0.2 s and ~15 MB). `Morph` wraps it with a bounded per-word cache so a warm engine spends
microseconds per token.
"""

from __future__ import annotations

from functools import lru_cache

import pymorphy3

_CACHE_MAX = 200_000


@lru_cache(maxsize=1)
def load_analyzer() -> pymorphy3.MorphAnalyzer:
    """The process's Russian morphological analyzer (built on first use)."""
    return pymorphy3.MorphAnalyzer()


class Morph:
    """Lemmatization helpers with a per-word cache."""

    def __init__(self, analyzer: pymorphy3.MorphAnalyzer | None = None) -> None:
        self._analyzer = analyzer or load_analyzer()
        self._lemmas: dict[str, tuple[str, ...]] = {}
        self._names: dict[str, bool] = {}
        self._past: dict[str, str] = {}
        self._known: dict[str, bool] = {}
        self._cases: dict[str, frozenset[str]] = {}

    @property
    def analyzer(self) -> pymorphy3.MorphAnalyzer:
        return self._analyzer

    def lemmas(self, word: str) -> tuple[str, ...]:
        """Distinct normal forms of the word's likeliest parses (best first); the word itself last."""
        cached = self._lemmas.get(word)
        if cached is not None:
            return cached
        if not word.isalpha() and "-" not in word:
            result: tuple[str, ...] = (word,)
        else:
            seen: list[str] = []
            for parse in self._analyzer.parse(word)[:4]:
                form = parse.normal_form.replace("ё", "е")
                if form not in seen:
                    seen.append(form)
            if word not in seen:
                seen.append(word)
            result = tuple(seen)
        if len(self._lemmas) >= _CACHE_MAX:
            self._lemmas.clear()
        self._lemmas[word] = result
        return result

    def lemma(self, word: str) -> str:
        """The likeliest normal form."""
        return self.lemmas(word)[0]

    def past_gender(self, word: str) -> str | None:
        """ "masc"/"femn" when the likeliest parse is a singular past-tense verb ("хотел", "записалась")."""
        cached = self._past.get(word)
        if cached is not None:
            return cached or None
        result = ""
        if word.isalpha() and word.endswith(("л", "лся", "ла", "лась")):
            tag = self._analyzer.parse(word)[0].tag
            if "VERB" in tag and "past" in tag:
                result = "masc" if "masc" in tag else "femn" if "femn" in tag else ""
        if len(self._past) >= _CACHE_MAX:
            self._past.clear()
        self._past[word] = result
        return result or None

    def cases(self, word: str) -> frozenset[str]:
        """The grammatical cases the word may be in (any parse): {"gent", "nomn", ...}."""
        cached = self._cases.get(word)
        if cached is None:
            cached = frozenset(p.tag.case for p in self._analyzer.parse(word) if p.tag.case)
            if len(self._cases) >= _CACHE_MAX:
                self._cases.clear()
            self._cases[word] = cached
        return cached

    def is_known(self, word: str) -> bool:
        """Whether the dictionary knows the word (cached: typo and transliteration checks ask often)."""
        cached = self._known.get(word)
        if cached is None:
            cached = bool(self._analyzer.word_is_known(word))
            if len(self._known) >= _CACHE_MAX:
                self._known.clear()
            self._known[word] = cached
        return cached

    def is_first_name(self, word: str) -> bool:
        """Whether a likely parse of the word is a first name in the nominative."""
        cached = self._names.get(word)
        if cached is not None:
            return cached
        result = False
        if word.isalpha() and len(word) >= 2:
            for parse in self._analyzer.parse(word)[:3]:
                if "Name" in parse.tag and "nomn" in parse.tag:
                    result = True
                    break
        if len(self._names) >= _CACHE_MAX:
            self._names.clear()
        self._names[word] = result
        return result

    def name_nominative(self, word: str) -> str | None:
        """ "ольгу" -> "ольга" when a likely parse of the word is a first name in any case."""
        if not word.isalpha():
            return None
        parses = self._analyzer.parse(word)
        # A word that is itself a name's nominative stays as written: "дина" is Дина, though the
        # likeliest parse is the genitive of "Дин".
        if any("Name" in p.tag and "nomn" in p.tag and p.normal_form.replace("ё", "е") == word for p in parses):
            return word
        for parse in parses[:3]:
            if "Name" in parse.tag:
                return parse.normal_form.replace("ё", "е")
        return None

    def could_be_name(self, word: str) -> bool:
        """Whether an answer word may be a (possibly foreign) name: a noun or a word not in the dictionary."""
        if not word.isalpha() or len(word) < 2:
            return False
        if not self.is_known(word):
            return True
        return self._analyzer.parse(word)[0].tag.POS == "NOUN"

    def word_forms(self, word: str) -> set[str]:
        """All inflected forms of the word (its likeliest noun parse's lexeme), ё folded."""
        forms = {word}
        parses = self._analyzer.parse(word)
        chosen = None
        for parse in parses:
            if "Name" in parse.tag or "Surn" in parse.tag:
                chosen = parse
                break
        if chosen is None:
            for parse in parses:
                if "NOUN" in parse.tag:
                    chosen = parse
                    break
        if chosen is not None:
            forms.update(f.word.replace("ё", "е") for f in chosen.lexeme)
        return forms
