"""The client's name as the dialogue takes it: spelt as written ("Артём"), and a guess from a bare answer to
"как вас зовут?" only when it looks like a name."""

from __future__ import annotations

import re

__all__ = ["as_written", "guess_name"]

NAME_RE = re.compile(r"^[A-Za-zА-Яа-яЁё][A-Za-zА-Яа-яЁё\-]{1,30}( [A-Za-zА-Яа-яЁё\-]{2,30}){0,2}$")
NAME_PREFIX_RE = re.compile(r"^(меня зовут|зовут|это|я)\s+", re.IGNORECASE)

# Words of an answer that is no name ("не знаю", "а зачем?", "можно без имени").
NOT_NAME_WORDS = frozenset({
    "не", "нет", "да", "а", "зачем", "знаю", "можно", "нельзя", "без", "имени", "имя", "хочу", "надо", "нужно",
    "что", "как", "почему", "какое", "какая", "ладно", "ок", "хорошо", "спасибо", "пока", "лучше",
})


def as_written(name: str | None, text: str) -> str | None:
    """The NLU's name (ё folded) spelt as the client wrote it: "Артём", not "Артем"."""
    if not name:
        return name
    written = {w.lower().replace("ё", "е"): w for w in re.findall(r"[A-Za-zА-Яа-яЁё\-]+", text)}
    parts = []
    for part in name.split():
        original = written.get(part.lower())
        parts.append(original[:1].upper() + original[1:].lower() if original and "ё" in original.lower() else part)
    return " ".join(parts)


def guess_name(text: str) -> str | None:
    """A client's answer to "как вас зовут?" taken as a name when it looks like one (never a day, time or
    service word: the NLU read those, and the dialogue applies them as a correction)."""
    cleaned = NAME_PREFIX_RE.sub("", text.strip().splitlines()[-1].strip() if text.strip() else "")
    cleaned = re.sub(r"[^\w\s\-]", "", cleaned).strip()
    if not cleaned or not NAME_RE.match(cleaned) or NOT_NAME_WORDS & set(cleaned.lower().split()):
        return None
    return " ".join(w[:1].upper() + w[1:] for w in cleaned.split())
