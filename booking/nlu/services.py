"""Which of the salon's services a message asks for.

Every service title is reduced to lemmas (``Маникюр с покрытием гель-лак`` -> маникюр, покрытие,
гель-лак); its first noun is the *head* (``Женская стрижка`` -> стрижка). Message words are mapped
to the same lemma vocabulary through pymorphy3 lemmas, a table of the words clients really use
(``ноготочки``, ``маник``, ``педик``, ``стрижечка``, ``покрасить``, ``бровки``...) and, for words
the dictionary does not know, rapidfuzz against the vocabulary (typos: ``маникур``, ``наращевание``).

Selection is greedy: the service covering the most message lemmas (head weighs 2, others 1) wins,
its lemmas are used up, and the next service is chosen from what is left (lemmas already used still
break ties), so ``маникюр и педикюр`` gives both, ``окрашивание бровей`` only the brow service and
``коррекция и окрашивание бровей`` both brow services. Ties (``маникюр`` -> gel polish or
classic?) go to the most typical service: a title carrying a default marker (``классический``,
``женский``) first, then catalog order; the other candidates are reported as ambiguous.
Generic lemmas (``волос``, ``мужской``...) qualify a choice but never select a service alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from booking.model import SalonCatalog
from booking.nlu.morph import Morph

# Words clients use -> lemmas of the vocabulary of service titles. Keys are tokens or lemmas.
SERVICE_SYNONYMS: dict[str, tuple[str, ...]] = {
    # manicure and nails ("ногти" is a category word: the typical nail service is a manicure)
    "маник": ("маникюр",),
    "маникюрчик": ("маникюр",),
    "маникюрчика": ("маникюр",),
    "маникюрщик": ("маникюр",),
    "маникюрщица": ("маникюр",),
    "маникюрный": ("маникюр",),
    "ноготь": ("маникюр",),
    "ногти": ("маникюр",),
    "ноготочки": ("маникюр",),
    "ноготочек": ("маникюр",),
    "ноготочка": ("маникюр",),
    "ноготочко": ("маникюр",),
    "ноготок": ("маникюр",),
    "ноготки": ("маникюр",),
    "руки": ("маникюр",),
    "ручки": ("маникюр",),
    "педик": ("педикюр",),
    "педикюрчик": ("педикюр",),
    "педикюрчика": ("педикюр",),
    "педикюрный": ("педикюр",),
    "ножки": ("педикюр",),
    "ноги": ("педикюр",),
    "нога": ("педикюр",),
    "ножка": ("педикюр",),
    "гель": ("гель-лак",),
    "гелька": ("гель-лак",),
    "гельку": ("гель-лак",),
    "гелик": ("гель-лак",),
    "гельлак": ("гель-лак",),
    "шеллак": ("гель-лак",),
    "шилак": ("гель-лак",),
    "шелак": ("гель-лак",),
    "лак": ("гель-лак",),
    "покрыть": ("покрытие",),
    "покрывать": ("покрытие",),
    "покрытьие": ("покрытие",),
    "снять": ("снятие",),
    "снимать": ("снятие",),
    "сняти": ("снятие",),
    "снимание": ("снятие",),
    # hair
    "стрижечка": ("стрижка",),
    "стрижечку": ("стрижка",),
    "подстричь": ("стрижка",),
    "подстричься": ("стрижка",),
    "постричь": ("стрижка",),
    "постричься": ("стрижка",),
    "стричь": ("стрижка",),
    "стричься": ("стрижка",),
    "подстригать": ("стрижка",),
    "подстригаться": ("стрижка",),
    "подровнять": ("стрижка",),
    "подравнять": ("стрижка",),
    "кончик": ("стрижка",),
    "челка": ("стрижка",),
    "стрижк": ("стрижка",),
    "покрасить": ("окрашивание",),
    "покраситься": ("окрашивание",),
    "окрасить": ("окрашивание",),
    "окраситься": ("окрашивание",),
    "покраска": ("окрашивание",),
    "окраска": ("окрашивание",),
    "крашение": ("окрашивание",),
    "колорирование": ("окрашивание",),
    "краситься": ("окрашивание",),
    "красить": ("окрашивание",),
    "покрашивание": ("окрашивание",),
    "тонирование": ("окрашивание",),
    "мелирование": ("окрашивание",),
    "корни": ("окрашивание",),
    "корень": ("окрашивание",),
    "волосы": ("волос",),
    "волосик": ("волос",),
    "прическа": ("укладка",),
    "причесочка": ("укладка",),
    "уложить": ("укладка",),
    "укладочка": ("укладка",),
    "локон": ("укладка",),
    "накрутить": ("укладка",),
    "накрутка": ("укладка",),
    "локоны": ("укладка",),
    # brows and lashes
    "бровка": ("бровь",),
    "бровки": ("бровь",),
    "бровушка": ("бровь",),
    "брови": ("бровь",),
    "оформить": ("коррекция",),
    "оформление": ("коррекция",),
    "поправить": ("коррекция",),
    "выщипать": ("коррекция",),
    "выщипывание": ("коррекция",),
    "скорректировать": ("коррекция",),
    "ресничка": ("ресница",),
    "реснички": ("ресница",),
    "ресницы": ("ресница",),
    "реснички-": ("ресница",),
    "нарастить": ("наращивание",),
    "наращивать": ("наращивание",),
    "наростить": ("наращивание",),
    "лэшмейкер": ("ресница",),
    "бровист": ("бровь",),
    # face
    "личико": ("лицо",),
    "почистить": ("чистка",),
    "чистить": ("чистка",),
    "чисточка": ("чистка",),
    "массажик": ("массаж",),
    "помассировать": ("массаж",),
    # qualifiers
    "мужчина": ("мужской",),
    "муж": ("мужской",),
    "мужик": ("мужской",),
    "мужской": ("мужской",),
    "парень": ("мужской",),
    "жена": ("женский",),
    "ребенок": ("детский",),
    "ребенка": ("детский",),
    "дочка": ("детский",),
    "дочь": ("детский",),
    "сын": ("детский",),
    "сынок": ("детский",),
    "малыш": ("детский",),
    "мальчик": ("детский",),
    "девочка": ("детский",),
    "школьник": ("детский",),
    "подросток": ("детский",),
    "внук": ("детский",),
    "внучка": ("детский",),
    "дети": ("детский",),
    "детский": ("детский",),
    "ребенку": ("детский",),
    "сынишка": ("детский",),
    "сыночек": ("детский",),
    "доченька": ("детский",),
    "дочурка": ("детский",),
    "малышка": ("детский",),
    "ребеночек": ("детский",),
    "классика": ("классический",),
    "обычный": ("классический",),
    "простой": ("классический",),
}

# "ему 7 лет", "дочке 10 лет": a child's age makes the children's service the one meant.
CHILD_AGE_WORDS = frozenset({"лет", "год", "года", "годик", "годика", "годиков", "годков"})
CHILD_AGE_MAX = 13

# Words for body parts (they name a service alone, but after a procedure word they qualify it).
_BODY_PARTS = ("ног", "нож", "рук", "руч", "волос", "лиц", "бров", "ресн")
# Lemmas that only qualify a service (they never select one on their own).
GENERIC_LEMMAS = frozenset({"волос", "мужской", "женский", "детский", "классический", "лицо"})
# A title carrying one of these is the typical choice among equals.
DEFAULT_MARKERS = frozenset({"классический", "женский", "обычный", "базовый", "стандартный"})
# Function words in titles.
_TITLE_STOP = frozenset({"с", "и", "для", "без", "на", "по", "в", "из", "от", "до"})
_COATING = r"(?:покрыти\w*|покрыв\w*|покрыть|гель-лак\w*|гельлак\w*|лак\w*|гель\s+лак\w*|шеллак\w*)"
# "без покрытия", "без нового покрытия", "покрывать заново не надо", "не нужно покрытие": no coating.
_WITHOUT = re.compile(
    rf"\bбез\s+(?:\w+\s+)?{_COATING}(?=\s|$)"
    rf"|\b{_COATING}\s+(?:\w+\s+)?не\s+(?:надо|нужно|нужен|нужна|хочу)\b"
    rf"|\bне\s+(?:надо|нужно|нужен|нужна|хочу)\s+(?:\w+\s+)?{_COATING}(?=\s|$)"
)
# Body-part words of titles ("Массаж лица", "Окрашивание бровей"): a procedure said of another body
# part ("массаж ног", "окрашивание ресниц") is not that service.
BODY_LEMMAS = frozenset({"волос", "лицо", "бровь", "ресница"})
# Whose service it is: with the same procedure word each of them names a service ("мужа и сына подстричь").
PERSON_LEMMAS = frozenset({"мужской", "женский", "детский"})
_FUZZY_CUTOFF = 82.0


@dataclass
class ServiceMatch:
    """The services a message names, best first, and what stayed ambiguous."""

    service_ids: list[int] = field(default_factory=list)
    ambiguous: dict[int, list[int]] = field(default_factory=dict)  # chosen id -> other candidates
    used_tokens: set[int] = field(default_factory=set)
    unknown: list[str] = field(default_factory=list)  # procedures the salon does not list


@dataclass(frozen=True)
class _Entry:
    service_id: int
    index: int
    head: str
    lemmas: frozenset[str]
    typical: bool


class ServiceMatcher:
    """Matches message tokens against one catalog's services (built once per catalog)."""

    def __init__(self, catalog: SalonCatalog, morph: Morph) -> None:
        self._morph = morph
        entries: list[_Entry] = []
        vocab: set[str] = set()
        for index, service in enumerate(catalog.services):
            lemmas = [
                morph.lemma(w)
                for w in re.findall(r"[a-zа-яё]+(?:-[a-zа-яё]+)*", _title_text(service.title))
                if w not in _TITLE_STOP
            ]
            if not lemmas:
                continue
            entries.append(
                _Entry(
                    service_id=service.id,
                    index=index,
                    head=_head(lemmas, morph),
                    lemmas=frozenset(lemmas),
                    typical=bool(DEFAULT_MARKERS & set(lemmas)),
                )
            )
            vocab.update(lemmas)
        self._entries = entries
        self._vocab = vocab
        self._fuzzy_keys = sorted(vocab | set(SERVICE_SYNONYMS))
        self._fuzzy_cache: dict[str, str | None] = {}

    def _canonical(self, token: str) -> tuple[str, ...]:
        """The vocabulary lemmas one token stands for (possibly none)."""
        if token in SERVICE_SYNONYMS:
            return SERVICE_SYNONYMS[token]
        lemmas = self._morph.lemmas(token)
        for lemma in lemmas:
            if lemma in self._vocab:
                return (lemma,)
            if lemma in SERVICE_SYNONYMS:
                return SERVICE_SYNONYMS[lemma]
        if len(token) >= 5 and token.isalpha() and not self._morph.is_known(token):
            hit = self._fuzzy(token, lemmas)
            if hit is not None:
                return SERVICE_SYNONYMS.get(hit, (hit,))
        return ()

    def _fuzzy(self, token: str, lemmas: tuple[str, ...]) -> str | None:
        if token in self._fuzzy_cache:
            return self._fuzzy_cache[token]
        best: tuple[str, float] | None = None
        for candidate in {token, *lemmas}:
            found = process.extractOne(
                candidate, self._fuzzy_keys, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF
            )
            if found is not None and found[0][0] == candidate[0] and (best is None or found[1] > best[1]):
                best = (found[0], found[1])
        result = best[0] if best else None
        if len(self._fuzzy_cache) > 50_000:
            self._fuzzy_cache.clear()
        self._fuzzy_cache[token] = result
        return result

    def match(self, tokens: list[str], skip: set[int]) -> ServiceMatch:
        """Find the services named in `tokens` (indices in `skip` are ignored)."""
        text = " ".join(tokens)
        without = bool(_WITHOUT.search(text))
        found: dict[str, set[int]] = {}  # lemma -> token indices
        for i, token in enumerate(tokens):
            if i in skip or not token[0].isalpha():
                continue
            for lemma in self._canonical(token):
                found.setdefault(lemma, set()).add(i)
        for i, token in enumerate(tokens[:-1]):
            if token.isdigit() and int(token) <= CHILD_AGE_MAX and tokens[i + 1] in CHILD_AGE_WORDS:
                found.setdefault("детский", set()).add(i)
        _drop_removed_coating(found)
        unknown = self._drop_unknown_procedures(tokens, found)
        unknown += self._drop_other_body_part(tokens, found)
        if without:  # "маникюр без покрытия" is the classic one
            for lemma in ("покрытие", "гель-лак"):
                found.pop(lemma, None)
            found.setdefault("классический", set())
        if "педикюр" in found and "маникюр" in found and _nails_on_feet(tokens, found):
            found.pop("маникюр")  # "ногти на ногах" -> pedicure only
        result = ServiceMatch(unknown=unknown)
        remaining = set(found)
        # "хотел подстричься": a man speaks, so among equal services the men's one is typical.
        male = not (PERSON_LEMMAS & found.keys()) and self._male_speaker(tokens)
        while remaining:
            scored: list[tuple[int, int, tuple[bool, bool], int, _Entry]] = []
            for entry in self._entries:
                if entry.service_id in result.service_ids:
                    continue
                covered = entry.lemmas & remaining
                if not covered:
                    continue
                # A qualifier alone selects nothing, except a second person of one procedure word
                # ("мужа и сына подстричь": the son's haircut shares "подстричь").
                if (
                    entry.head not in covered
                    and not (covered - GENERIC_LEMMAS)
                    and not (covered <= PERSON_LEMMAS and entry.head in found and result.service_ids)
                ):
                    continue
                if entry.head not in covered and _qualifies_chosen(
                    tokens, covered, found, result.used_tokens
                ):
                    continue  # "педикюр с покрытием": the coating is the pedicure's, not a manicure
                score = sum(2 if lemma == entry.head else 1 for lemma in covered)
                # Words already used still qualify: "коррекция и окрашивание бровей" -> brow tint.
                context = len(entry.lemmas & found.keys())
                # a man speaking: the men's service first, then the usual default marker
                typical = ("мужской" in entry.lemmas and male, entry.typical)
                scored.append((score, context, typical, -entry.index, entry))
            if not scored:
                break
            scored.sort(key=lambda item: item[:4], reverse=True)
            best = scored[0]
            chosen = best[4]
            rivals = [e.service_id for s, c, _, _, e in scored[1:] if (s, c) == best[:2]]
            result.service_ids.append(chosen.service_id)
            if rivals:
                result.ambiguous[chosen.service_id] = rivals
            covered = chosen.lemmas & remaining
            for lemma in covered:
                result.used_tokens |= found[lemma]
            remaining -= covered
        return result

    def _male_speaker(self, tokens: list[str]) -> bool:
        """Whether a masculine past-tense verb is said ("хотел", "записывался") and no feminine one."""
        male = False
        for token in tokens:
            gender = self._morph.past_gender(token) if len(token) >= 4 else None
            if gender == "femn":
                return False
            male = male or gender == "masc"
        return male

    def vocabulary(self, token: str) -> tuple[str, ...]:
        """The service-vocabulary lemmas a token stands for (empty when none)."""
        return self._canonical(token)

    def names_service(self, token: str) -> bool:
        """Whether the token is a word of the service vocabulary (a procedure, body part, qualifier)."""
        return token[:1].isalpha() and bool(self._canonical(token))

    def _drop_other_body_part(self, tokens: list[str], found: dict[str, set[int]]) -> list[str]:
        """A procedure followed by a body part its services are not for: ``массаж ног`` when the salon
        has only ``Массаж лица``, ``окрашивание ресниц`` with only hair and brow tinting -> dropped and
        reported as unknown. A procedure whose titles name no body part (``стрижка волос``) stays."""
        unknown: list[str] = []
        for lemma in list(found):
            with_head = [entry for entry in self._entries if entry.head == lemma]
            if not with_head or not all(entry.lemmas & BODY_LEMMAS for entry in with_head):
                continue
            foreign: list[int] = []
            for i in sorted(found[lemma]):
                nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
                if not nxt.startswith(_BODY_PARTS):
                    break
                body = set(self._canonical(nxt))
                if any(entry.lemmas & body for entry in with_head):
                    break
                foreign.append(i + 1)
            else:
                found.pop(lemma)
                for j in foreign:
                    unknown.append(f"{tokens[j - 1]} {tokens[j]}")
                    for other in list(found):
                        found[other].discard(j)
                        if not found[other]:
                            found.pop(other)
        return unknown

    def _drop_unknown_procedures(self, tokens: list[str], found: dict[str, set[int]]) -> list[str]:
        """Body parts that belong to another procedure word right before them.

        ``ламинирование ресниц``, ``депиляция ног``: a procedure the salon does not list, on a body
        part that alone would pick one of its services (lash extension, pedicure) -> dropped, and
        reported as unknown. ``массаж ног``: the leg word qualifies the massage, it is not a
        pedicure. A qualifier of a known procedure (``окрашивание бровей``) stays."""
        heads = {entry.head for entry in self._entries}
        unknown: list[str] = []
        for lemma in list(found):
            unknown_here: list[str] = []
            drop = True
            for i in sorted(found[lemma]):
                prev = tokens[i - 1] if i > 0 else ""
                if not _procedure_like(prev):
                    drop = False
                    break
                prev_lemmas = self._canonical(prev)
                if not prev_lemmas:
                    unknown_here.append(f"{prev} {tokens[i]}")  # an unknown procedure on this body part
                    continue
                if lemma in heads and tokens[i].startswith(_BODY_PARTS) and lemma not in prev_lemmas:
                    continue  # "массаж ног": the body part belongs to the massage
                drop = False
                break
            if drop:
                found.pop(lemma)
                unknown += unknown_here
        return unknown


# "стрижку не надо", "маникюр мне не нужен", "не хочу стрижку": a service refused by name.
_REFUSE_WORDS = frozenset(
    {"надо", "нужно", "нужен", "нужна", "нужны", "хочу", "хотим", "будем", "буду", "требуется"}
)
_FILLER_WORDS = frozenset(
    {"мне", "нам", "уже", "пока", "тогда", "наверное", "все-таки", "вообще", "совсем", "же"}
)
_COATING_LEMMAS = frozenset({"покрытие", "гель-лак"})


def _drop_removed_coating(found: dict[str, set[int]]) -> None:
    """ "снятие старого покрытия", "снять гель-лак": the coating is what is removed, not a new one asked
    for (unless a coating is also said apart from the removal: "снять и сделать новое гель лак")."""
    removal = found.get("снятие")
    if not removal:
        return
    coating = set().union(*(found.get(lemma, set()) for lemma in _COATING_LEMMAS))
    if coating and all(any(0 < i - r <= 3 for r in removal) for i in coating):
        for lemma in _COATING_LEMMAS:
            found.pop(lemma, None)
_PREPOSITIONS = frozenset({"на", "в", "во", "к", "ко", "у"})
_JOINERS = frozenset({"и", "с", "со"})  # "без стрижки и укладки"


def negated_services(
    tokens: list[str], skip: set[int], matcher: ServiceMatcher, morph: Morph
) -> tuple[set[int], set[int]]:
    """Service words the client takes back, and the words that say so: "не стрижку, а укладку", "без
    стрижки", "стрижку не надо", "маникюр мне не нужен", "не хочу стрижку", "вместо стрижки". A coating
    refused ("без покрытия") is left to the coating rule (it names the classic service)."""

    def service_word(i: int) -> bool:
        if i in skip or not 0 <= i < len(tokens) or not matcher.names_service(tokens[i]):
            return False
        return not set(matcher.vocabulary(tokens[i])) <= _COATING_LEMMAS

    def run_after(i: int, case: str | None = None) -> list[int]:
        """Service words from i on that stay in one case: "вместо стрижки | укладку" stops at the change."""
        out: list[int] = []
        cases = frozenset({case}) if case else morph.cases(tokens[i]) if i < len(tokens) else frozenset()
        while service_word(i) or (out and i < len(tokens) and tokens[i] in _JOINERS and service_word(i + 1)):
            if tokens[i] not in _JOINERS:
                here = morph.cases(tokens[i])
                if out and cases and here and not (cases & here):
                    break
                cases = (cases & here) or cases
            out.append(i)
            i += 1
        return [j for j in out if tokens[j] not in _JOINERS]

    def run_before(i: int) -> list[int]:
        for _ in range(4):  # "педикюр мне уже не нужен", "стрижку на завтра не надо"
            if i >= 0 and (tokens[i] in _FILLER_WORDS or tokens[i] in _PREPOSITIONS or i in skip):
                i -= 1
        out: list[int] = []
        while service_word(i):
            out.append(i)
            i -= 1
        return out

    negated: set[int] = set()
    words: set[int] = set()
    n = len(tokens)
    for i, token in enumerate(tokens):
        if token in ("без", "вместо"):
            j = i + 1 if service_word(i + 1) else i + 2  # "без лишней стрижки"
            run = run_after(j, "gent") if j == i + 1 or (j < n and service_word(j)) else []
            if run:
                negated.update(run)
                words.add(i)
        elif token == "не" and i + 1 < n:
            nxt = tokens[i + 1]
            if nxt in _REFUSE_WORDS:  # "не надо стрижку", "стрижку не надо"
                after = i + 3 if i + 3 < n and tokens[i + 2] in _FILLER_WORDS else i + 2
                run = run_before(i - 1) or run_after(after)
                if run:
                    negated.update(run)
                    words |= {i, i + 1}
            elif service_word(i + 1) and not morph.past_gender(nxt):  # "не стрижку", not "не стриглась"
                negated.update(run_after(i + 1))
                words.add(i)
    return negated, words


def _title_text(title: str) -> str:
    """A service title as matching text: "Маникюр без покрытия" names the classic manicure."""
    return _WITHOUT.sub("классический", title.lower().replace("ё", "е"))


def _head(lemmas: list[str], morph: Morph) -> str:
    """The word that names the service: the first noun that is not a qualifier (``Женская стрижка`` ->
    стрижка), else the first non-qualifier."""
    plain = [lemma for lemma in lemmas if lemma not in GENERIC_LEMMAS] or lemmas
    for lemma in plain:
        if morph.analyzer.parse(lemma)[0].tag.POS == "NOUN":
            return lemma
    return plain[0]


def _procedure_like(word: str) -> bool:
    """A noun naming a procedure (by its ending): депиляция, ламинирование, шугаринг, массаж."""
    return word.isalpha() and len(word) > 4 and word.endswith(("ние", "ция", "инг", "аж", "вка"))


def _nails_on_feet(tokens: list[str], found: dict[str, set[int]]) -> bool:
    """ "ногти на ногах": the pedicure comes from a leg word and the manicure from a bare nail word."""
    legs = any(
        tokens[i].startswith(("ног", "нож")) and not tokens[i].startswith("ногт") for i in found["педикюр"]
    )
    nails = all(tokens[i].startswith(("ногот", "ногт")) for i in found["маникюр"])
    return legs and nails


def _qualifies_chosen(
    tokens: list[str], covered: set[str] | frozenset[str], found: dict[str, set[int]], used: set[int]
) -> bool:
    """Whether every word of `covered` stands right after a service already chosen ("педикюр
    покрытие", "педикюр с покрытием"): it qualifies that service and selects no other."""
    if not used:
        return False
    for lemma in covered:
        for j in found[lemma]:
            chained = j - 1 in used or j - 1 in found[lemma]  # "педикюр гель лак": "лак" follows "гель"
            if not (chained or (j - 2 in used and tokens[j - 1] in ("с", "со", "под"))):
                return False
    return True
