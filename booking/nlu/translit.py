"""Russian typed in Latin letters ("manikur zavtra v 3", "otmenite zapis pozhaluysta") -> Cyrillic.

Clients on a phone without a Russian layout write Russian in the everyday informal transliteration.
Every Latin word that is not one of the few English words the intents understand (``ok``, ``yes``,
``hello``...) is mapped letter by letter, digraphs first (``shch``, ``zh``, ``kh``, ``ts``, ``ch``,
``sh``, ``ya``/``yu``/``yo``/``ye``); ``y`` after a vowel is ``й`` (``pozhaluysta``), otherwise ``ы``.
That spelling drops the soft sign, so when the result is not a dictionary word a ``ь`` is tried after
each consonant (``skolko`` -> ``сколько``, ``zapis`` -> ``запись``); the first known variant wins,
else the plain mapping stays (the service and date matchers still fuzzy-match it: ``маникур``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# English words the intent rules read as they are.
KEEP_LATIN = frozenset(
    {"ok", "okay", "yes", "no", "nope", "hi", "hello", "thanks", "thank", "thx", "you", "sms", "vip"}
)
_DIGRAPHS: tuple[tuple[str, str], ...] = (
    ("shch", "щ"),
    ("sch", "щ"),
    ("tsya", "тся"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ts", "ц"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("ya", "я"),
    ("ja", "я"),
    ("yu", "ю"),
    ("ju", "ю"),
    ("yo", "е"),
    ("jo", "е"),
    ("ye", "е"),
)
_LETTERS = dict(zip("abvgdezijklmnoprstufhcwxq", "абвгдезийклмнопрстуфхцвкск"))
_VOWELS = frozenset("аеиоуыэюя")
_CONSONANTS_TAKING_SOFT_SIGN = frozenset("лнтсдрзвмпбкф")
_LATIN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def _plain(word: str) -> str:
    """Letter-by-letter mapping of one lowercase Latin word."""
    out: list[str] = []
    i = 0
    while i < len(word):
        for latin, cyrillic in _DIGRAPHS:
            if word.startswith(latin, i):
                out.append(cyrillic)
                i += len(latin)
                break
        else:
            char = word[i]
            if char == "y":
                out.append("й" if out and out[-1] in _VOWELS else "ы")
            elif char == "'":
                out.append("ь")
            elif char == "x":
                out.append("кс")
            else:
                out.append(_LETTERS.get(char, char))
            i += 1
    return "".join(out)


def transliterate_word(word: str, is_known: Callable[[str], bool]) -> str:
    """One Latin word in Cyrillic; `is_known` tells a dictionary word (for the soft-sign repair)."""
    plain = _plain(word)
    if is_known(plain) or len(plain) < 3:
        return plain
    for i in range(1, len(plain)):
        if plain[i - 1] in _CONSONANTS_TAKING_SOFT_SIGN and plain[i - 1 : i + 1] != "ьь":
            candidate = plain[:i] + "ь" + plain[i:]
            if is_known(candidate):
                return candidate
    if plain[-1] in _CONSONANTS_TAKING_SOFT_SIGN and is_known(plain + "ь"):
        return plain + "ь"
    return plain


def transliterate(text: str, is_known: Callable[[str], bool]) -> str:
    """`text` (lowercase) with its Latin-script Russian words in Cyrillic (see the module docstring)."""
    if not re.search("[a-z]", text):
        return text

    def repl(m: re.Match[str]) -> str:
        word = m.group(0)
        return word if word in KEEP_LATIN else transliterate_word(word, is_known)

    return _LATIN_WORD.sub(repl, text)
