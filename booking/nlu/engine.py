"""The rule engine: one message -> `Understanding`, with no network.

`NluEngine` owns the morphological analyzer wrapper and one compiled matcher set per catalog
(bounded LRU keyed by the catalog's content, so a daemon serving many salons compiles each once,
and again only when the salon's services or staff change).
Order of extraction: client name (its words are not a master), date (its numbers are not an hour),
time and part of day, master, services, then the intent over everything that was found.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from booking.model import SalonCatalog, Understanding
from booking.nlu.categories import CategoryMatcher
from booking.nlu.dates import DateMatch, extract_date
from booking.nlu.intents import NOT_BOOKING, OWN_VISIT_THEN_ASK, PAST_MOVE, IntentResult, classify
from booking.nlu.morph import Morph
from booking.nlu.normalize import tokenize
from booking.nlu.services import ServiceMatch, ServiceMatcher, negated_services
from booking.nlu.staff import StaffMatch, StaffMatcher, extract_client_name, trailing_name
from booking.nlu.times import TimeMatch, extract_time

_CATALOGS_MAX = 512
# "до завтра" / "до встречи" are goodbyes, not dates.
_FAREWELL_TOKENS = re.compile(r"\bдо\s+(?:завтра|свидания|встречи|связи)\b")
# Words of a move: the day and time named after them are the new ones.
# "на то же время", "в тоже время", "на это же время": the time of the visit being moved.
_SAME_TIME = re.compile(r"\b(?:(?:то|это|тот)\s+же\s+(?:самое\s+)?время|тоже\s+(?:самое\s+)?время|время\s+то\s+же)\b")
# "на час позже", "на полчаса пораньше", "на 30 минут раньше": a shift of a visit's (or an offer's) time.
# "на часик попозже", "попозже на полчасика" (the direction before or after the amount).
_SHIFT_UNIT = (r"(час|часа|часов|часик|часика|часок|часочек|полчаса|полчасика|полчасочка|минут|минуты|минуту"
               r"|минуток|минутки|мин)")
_SHIFT_COUNT_RE = r"(?:(\d{1,3}|пару|два|две|три|полтора|пол)\s+)?"
_SHIFT = re.compile(
    rf"\bна\s+{_SHIFT_COUNT_RE}{_SHIFT_UNIT}\s+(?:\w+\s+)?(позже|попозже|раньше|пораньше)\b"
    rf"|\b(позже|попозже|раньше|пораньше)\s+на\s+{_SHIFT_COUNT_RE}{_SHIFT_UNIT}\b"
)
_SHIFT_COUNT = {"пару": 2.0, "два": 2.0, "две": 2.0, "три": 3.0, "полтора": 1.5, "пол": 0.5}


def shift_minutes(raw: str) -> int | None:
    """Minutes a message shifts a time by ("на час позже" -> 60, "на полчасика раньше" -> -30)."""
    m = _SHIFT.search(raw)
    if m is None:
        return None
    if m.group(3) is not None:
        count_word, unit, direction = m.group(1), m.group(2), m.group(3)
    else:
        direction, count_word, unit = m.group(4), m.group(5), m.group(6)
    if count_word is None:
        count = 1.0
    elif count_word.isdigit():
        count = float(count_word)
    else:
        count = _SHIFT_COUNT[count_word]
    minutes = 30.0 if unit.startswith("полчас") else count * (1 if unit.startswith("мин") else 60)
    if minutes <= 0 or minutes > 12 * 60:
        return None
    return int(minutes) * (1 if direction in ("позже", "попозже") else -1)


# "в среду.. хотя нет, лучше в субботу", "перенести? хотя нет, отмените", "в 12, а лучше в 13": the
# clause after the change of mind wins for whatever it names.
_CHANGE_OF_MIND = re.compile(
    r"\b(?:хотя|или)\s+нет\b|\bнет\W+(?=лучше\b)|\bа\s+(?=лучше\b)|\bхотя\s+(?=лучше\b|давайте\b)",
    re.IGNORECASE,
)
# "не так, Ксения", "нет, Ольга": at a confirmation, the client's name corrected.
_NAME_FIX = re.compile(r"^(?:не\s+так|неправильно|неверно|не\s+верно|ошибка)\s+(?:я\s+)?(\w+)$")
_STRONG_INTENTS = ("cancel", "reschedule", "human", "prices", "services", "hours_address", "my_records")


def _later_wins(head: Understanding, tail: Understanding) -> Understanding:
    """One message with a change of mind: the later clause's slots and intent over the earlier one's."""
    if tail.intent != head.intent and tail.intent in _STRONG_INTENTS:
        return tail  # "перенести? хотя нет, отмените": the new request alone
    when_said = bool(tail.date or tail.time or tail.part_of_day)
    return Understanding(
        intent=head.intent if tail.intent in ("other", "decline", "confirm") else tail.intent,
        service_ids=list(tail.service_ids or head.service_ids),
        staff_id=tail.staff_id if tail.staff_id is not None else head.staff_id,
        date=tail.date or head.date,
        time=tail.time if tail.time or tail.part_of_day else head.time,
        part_of_day=tail.part_of_day if when_said else head.part_of_day,
        client_name=tail.client_name or head.client_name,
        confidence=max(head.confidence, tail.confidence),
        hints={**head.hints, **tail.hints},
    )


def _intent_lemma(token: str, morph: Morph) -> str:
    """The token's lemma for the intent rules; a past-tense move verb stays as said: "корпоратив
    перенесли" tells what happened to something else, it does not ask to move ("перенесите")."""
    if not token.isalpha() or PAST_MOVE.fullmatch(token):
        return token
    return morph.lemma(token)


def _said(u: Understanding) -> bool:
    """Whether a clause asks for anything (an intent beyond small talk, or a slot)."""
    return bool(u.service_ids or u.staff_id or u.date or u.time or u.part_of_day) or u.intent not in (
        "other", "decline", "confirm", "thanks", "greeting")


# A procedure noun by its ending ("ламинирование", "шугаринг", "мезотерапия", "массаж").
_PROCEDURE_WORD = re.compile(r"\w{3,}(?:ание|ение|ирование|ция|ии|ия|ию|инг|аж|ин|екс)$")
_NOT_PROCEDURE = frozenset({"услуга", "процедура", "запись", "время", "расписание", "мнение", "внимание",
                            "решение", "отношение", "объявление", "предложение", "информация", "акция"})
# Procedures salons often offer without naming a body part: the body part that leads to the nearest group.
_PROCEDURE_BODY = {"ламинир": "бровей ресниц", "ботокс": "волос", "кератин": "волос", "пилинг": "лица",
                   "мезотерап": "лица", "биоревитал": "лица", "шеллак": "ногтей", "маникюр": "ногтей"}


def _unknown_procedure(tokens: list[str], skip: set[int], compiled: _Compiled, morph: Morph) -> str | None:
    """The procedure a services question asks about that the catalog does not list, if any."""
    for i, token in enumerate(tokens):
        if i in skip or len(token) < 5 or not token.isalpha() or not _PROCEDURE_WORD.search(token):
            continue
        lemma = morph.lemma(token)
        if lemma in _NOT_PROCEDURE or compiled.services.names_service(token):
            continue
        if morph.is_known(token) and morph.analyzer.parse(token)[0].tag.POS != "NOUN":
            continue
        return lemma
    return None


def _genitive(phrase: str, morph: Morph) -> str:
    """ "ламинирование ресниц" -> "ламинирования ресниц" (for "у нас нет"); the phrase when it cannot."""
    head, *rest = phrase.split()
    parse = morph.analyzer.parse(head)[0]
    form = parse.inflect({"gent"}) if parse.tag.POS == "NOUN" else None
    return " ".join([form.word if form is not None else head, *rest])


def _related_services(phrase: str, compiled: _Compiled) -> list[int]:
    """The group nearest to a procedure the salon does not do: by the body part it names ("ламинирование
    ресниц" -> lashes), else by the body part such a procedure is usually for."""
    words = phrase.split()
    body = next((b for stem, b in _PROCEDURE_BODY.items() if words[0].startswith(stem)), None)
    for probe in ([*words[1:]], body.split() if body else []):
        if probe:
            group = compiled.categories.group(["для", *probe], set())
            if group:
                return group
    return []


_BOOK_STEMS = ("запиш", "записат", "записыв")
_MOVE_STEMS = ("перенес", "перенос", "перезапис", "сдвин", "сдвиг", "передвин", "подвин", "поменя", "измени")


@dataclass
class _Compiled:
    catalog: SalonCatalog
    services: ServiceMatcher
    staff: StaffMatcher
    categories: CategoryMatcher


def _hints(
    date_match: DateMatch,
    time_match: TimeMatch,
    staff_match: StaffMatch,
    service_match: ServiceMatch,
    today: date,
) -> dict[str, Any]:
    """What the dialogue may want beyond the slots (see the package docstring for the keys)."""
    hints: dict[str, Any] = {**date_match.hints, **time_match.hints}
    if staff_match.any_staff:
        hints["any_staff"] = True
    if staff_match.same_staff:
        hints["same_staff"] = True
    if staff_match.other_staff:
        hints["other_staff"] = True
    if staff_match.insisted and staff_match.staff_id is not None:
        hints["insist_staff"] = True
    if staff_match.excluded:
        hints["exclude_staff"] = staff_match.excluded
    if staff_match.by_role:
        hints["staff_by_role"] = staff_match.by_role
    if staff_match.staff_id is None and len(staff_match.candidates) > 1:
        hints["staff_candidates"] = staff_match.candidates
    if service_match.unknown:
        hints["unknown_services"] = service_match.unknown
    if service_match.ambiguous:
        hints["ambiguous_services"] = dict(service_match.ambiguous)
    if date_match.date is not None and date_match.date < today:
        hints["date_in_past"] = True
    return hints


_REFUSAL_WORDS = frozenset({"надо", "нужно", "нужен", "нужна", "нужны"})


def _service_refusals(tokens: list[str], services: ServiceMatcher) -> set[int]:
    """Token indices of "не надо"/"не нужно" said of a service ("покрывать заново не надо", "не нужно
    покрытие"): part of what is asked for, not a refusal of the bot's question."""
    refused: set[int] = set()
    for i in range(len(tokens) - 1):
        if tokens[i] != "не" or tokens[i + 1] not in _REFUSAL_WORDS:
            continue
        near = tokens[max(0, i - 2) : i] + tokens[i + 2 : i + 4]
        if any(services.names_service(word) for word in near):
            refused |= {i, i + 1}
    return refused


_REFERENCE_WORDS = frozenset({"после", "перед"})


def _service_references(tokens: list[str], services: ServiceMatcher) -> set[int]:
    """Token indices of a service named as a point in time ("педикюр сразу после маникюра", "перед
    стрижкой"): a reference to another visit, not a service asked for."""
    refs: set[int] = set()
    for i, token in enumerate(tokens):
        if token not in _REFERENCE_WORDS:
            continue
        j = i + 1
        while j < len(tokens) and tokens[j][:1].isalpha() and services.names_service(tokens[j]):
            refs.add(j)
            j += 1
    return refs


def _fit_services_to_staff(services: ServiceMatch, staff: StaffMatch, catalog: SalonCatalog) -> None:
    """Among equally good services, take one the named master (or the named role) does: "стрижка к
    Игорю" (a barber) is the men's haircut, not the typical women's one."""
    if not services.ambiguous:
        return
    ids = [staff.staff_id] if staff.staff_id is not None else staff.by_role
    masters = [m for m in catalog.staff if m.id in ids]
    if not masters:
        return
    done = set().union(*(m.service_ids for m in masters))
    for position, chosen in enumerate(list(services.service_ids)):
        rivals = services.ambiguous.get(chosen)
        if not rivals or chosen in done:
            continue
        # A child's service only when nothing else the master does fits ("к Игорю подстричься" is the
        # men's haircut whatever the catalog's order).
        titles = {s.id: s.title.lower() for s in catalog.services}
        fitting = sorted((r for r in rivals if r in done and r not in services.service_ids),
                         key=lambda r: "детск" in titles.get(r, ""))
        better = fitting[0] if fitting else None
        if better is not None:
            services.service_ids[position] = better
            services.ambiguous[better] = [chosen] + [r for r in rivals if r != better]
            del services.ambiguous[chosen]


def _move_pivot(tokens: list[str], raw: str) -> int | None:
    """Where the new day and time of a move start: a "перенести" word; "отмените завтра и запишите на
    пятницу" (the booking verb after the cancel); "у меня завтра запись, можно её на пятницу" (the ask
    after the visit is mentioned)."""
    pivot = next((i for i, t in enumerate(tokens) if t.startswith(_MOVE_STEMS)), None)
    if pivot is not None:
        return pivot
    cancel_at = next((i for i, t in enumerate(tokens) if t.startswith("отмен")), None)
    if cancel_at is not None:
        pivot = next((i for i, t in enumerate(tokens) if i > cancel_at and t.startswith(_BOOK_STEMS)), None)
        if pivot is not None:
            return pivot
    m = OWN_VISIT_THEN_ASK.search(raw)
    return raw[: m.start("ask")].count(" ") if m else None


class NluEngine:
    """Understands client messages for any number of salons (thread-unsafe; one per event loop)."""

    def __init__(self, morph: Morph | None = None) -> None:
        self._morph = morph or Morph()
        self._compiled: OrderedDict[object, _Compiled] = OrderedDict()
        self._last: _Compiled | None = None

    def _for_catalog(self, catalog: SalonCatalog) -> _Compiled:
        """The compiled matchers of a catalog, keyed by its content: a catalog rebuilt from the same
        synced data reuses them, a changed one (new service, new master) is compiled afresh."""
        last = self._last
        if last is not None and last.catalog is catalog:  # the same object again: skip hashing it
            return last
        key: object = catalog
        try:
            hash(catalog)
        except TypeError:  # built with lists somewhere: fall back to identity
            key = id(catalog)
        entry = self._compiled.get(key)
        if entry is not None and (entry.catalog is catalog or entry.catalog == catalog):
            self._compiled.move_to_end(key)
            self._last = entry
            return entry
        services = ServiceMatcher(catalog, self._morph)
        entry = _Compiled(
            catalog,
            services,
            StaffMatcher(catalog, self._morph),
            CategoryMatcher(catalog, self._morph, services),
        )
        self._compiled[key] = entry
        self._last = entry
        while len(self._compiled) > _CATALOGS_MAX:
            self._compiled.popitem(last=False)
        return entry

    def _slot_words(self, tokens: list[str], used: set[int], today: date, compiled: _Compiled) -> bool:
        """Whether any of these tokens is a day, a time or a service word (so not the client's name);
        a word the dictionary knows as a name or surname ("Субботина") stays a name."""
        analyzer = self._morph.analyzer
        used = {i for i in used if not any(
            tag in p.tag for p in analyzer.parse(tokens[i])[:2] for tag in ("Name", "Surn", "Patr"))}
        if not used:
            return False
        day = extract_date(tokens, today, self._morph, set())
        hour = extract_time(tokens, self._morph, day.used_tokens)
        if used & (day.used_tokens | hour.used_tokens):
            return True
        return any(compiled.services.names_service(tokens[i]) for i in used)

    def understand(
        self, text: str, now: datetime, catalog: SalonCatalog, *, context: dict[str, Any] | None = None
    ) -> Understanding:
        """What `text` says; dates relative to `now` in the salon's timezone (naive `now` is salon-local).
        After a change of mind ("хотя нет, лучше ...") the later clause wins for what it names."""
        marks = [m for m in _CHANGE_OF_MIND.finditer(text or "") if text[: m.start()].strip(" ,.!?-")]
        if marks:
            cut = marks[-1]
            head_text, tail_text = text[: cut.start()], text[cut.end():]
            tail = self._understand(tail_text, now, catalog, context)
            if tail.intent == "decline" and not _said(tail):
                return tail  # "перенести? или нет, не надо": the request is taken back
            if _said(tail):
                head = self._understand(head_text, now, catalog, context)
                return _later_wins(head, tail) if _said(head) else tail
        return self._understand(text, now, catalog, context)

    def _understand(
        self, text: str, now: datetime, catalog: SalonCatalog, context: dict[str, Any] | None
    ) -> Understanding:
        compiled = self._for_catalog(catalog)
        local_now = now.astimezone(ZoneInfo(catalog.timezone)) if now.tzinfo is not None else now
        morph = self._morph
        tokens = tokenize(text or "", morph.is_known)
        if not tokens:
            return Understanding(intent="other", confidence=0.0)
        raw = " ".join(tokens)
        skip: set[int] = set()
        for m in _FAREWELL_TOKENS.finditer(raw):  # token indices of a goodbye phrase
            start = raw[: m.start()].count(" ")
            skip |= {start, start + 1}

        expecting_name = (context or {}).get("expecting") == "name"
        client_name, name_tokens = extract_client_name(tokens, morph, expecting_name=expecting_name)
        if client_name is None and (context or {}).get("expecting") == "confirm":
            fix = _NAME_FIX.match(" ".join(t for t in tokens if t.isalpha()))
            if fix and morph.is_first_name(fix.group(1)):  # "не так, Ксения": the name corrected
                client_name, name_tokens = fix.group(1).capitalize(), {tokens.index(fix.group(1))}
        if client_name is None and (context or {}).get("expecting") in ("slot", "when", "service"):
            trailing, trailing_tokens = trailing_name(text, tokens, morph)
            if trailing is not None and not compiled.staff.names_master(tokens[-1]):
                client_name, name_tokens = trailing, trailing_tokens  # "давайте последний вариант. Мария"
        if name_tokens and expecting_name and self._slot_words(tokens, name_tokens, local_now.date(), compiled):
            client_name, name_tokens = None, set()  # "нет, в субботу! в 12" at the name prompt: no name
        skip |= name_tokens

        pivot = _move_pivot(tokens, raw)
        date_match = extract_date(tokens, local_now.date(), morph, skip, prefer_after=pivot)
        time_match = extract_time(tokens, morph, skip | date_match.used_tokens, prefer_after=pivot)
        taken = skip | date_match.used_tokens | time_match.used_tokens
        staff_match = compiled.staff.match(tokens, taken)
        references = _service_references(tokens, compiled.services)
        # "не стрижку, а укладку", "маникюр не нужен": the refused services are not asked for.
        negated, negation_words = negated_services(
            tokens, taken | staff_match.used_tokens, compiled.services, morph
        )
        removed: list[int] = []
        if negated:
            gone = compiled.services.match(tokens, set(range(len(tokens))) - negated)
            removed = list(gone.service_ids) + [x for v in gone.ambiguous.values() for x in v]
        service_match = compiled.services.match(tokens, taken | staff_match.used_tokens | references | negated)
        after_services: list[int] = []
        if not service_match.service_ids and references:  # "после маникюра" alone: it is what is meant
            service_match = compiled.services.match(tokens, taken | staff_match.used_tokens)
        elif references and tokens[min(references) - 1] == "после":
            others = set(range(len(tokens))) - references
            ref = compiled.services.match(tokens, others)
            after_services = list(ref.service_ids) + [x for v in ref.ambiguous.values() for x in v]

        _fit_services_to_staff(service_match, staff_match, catalog)
        hints = _hints(date_match, time_match, staff_match, service_match, local_now.date())
        if time_match.time is None and _SAME_TIME.search(raw):
            hints["same_time"] = True
        shift = shift_minutes(raw) if time_match.time is None else None
        if shift:
            hints["shift_min"] = shift
        if after_services:
            hints["after_services"] = after_services
        removed = [x for x in dict.fromkeys(removed) if x not in service_match.service_ids]
        if removed:
            hints["removed_services"] = removed
        if date_match.date is None and any(t.startswith("ближайш") for t in tokens):
            hints["nearest"] = True  # "когда ближайшее окошко": from today on
        has_slots = bool(
            service_match.service_ids
            or service_match.unknown
            or staff_match.staff_id is not None
            or staff_match.any_staff
            or staff_match.same_staff
            or staff_match.other_staff
            or staff_match.by_role
            or staff_match.excluded
            or (date_match.date is not None and not date_match.rejected)
            or "weekend" in hints
            or (time_match.time is not None and not time_match.rejected)
            or time_match.part_of_day is not None
        )  # a day or time only refused ("нет, пятница не подходит") asks for nothing
        if removed and not (service_match.service_ids or service_match.unknown):
            has_slots = False  # "стрижку на завтра уже не надо": a refusal, no new request
        # "покрывать заново не надо": a service refused inside a request is no "не надо" to the bot.
        refused = _service_refusals(tokens, compiled.services) | negation_words
        if refused:
            kept = [t for i, t in enumerate(tokens) if i not in refused]
            raw = " ".join(kept)
            lemmas = " ".join(_intent_lemma(t, morph) for t in kept)
        else:
            lemmas = " ".join(_intent_lemma(t, morph) for t in tokens)
        services_only = bool(service_match.service_ids or service_match.unknown) and not (
            staff_match.staff_id is not None or date_match.date or time_match.time or time_match.part_of_day
        )
        intent = classify(raw, lemmas, has_slots=has_slots, services_only=services_only, context=context)
        if (
            expecting_name
            and client_name
            and intent.intent == "book"
            and not (service_match.service_ids or date_match.date or time_match.time)
        ):
            intent = classify(raw, lemmas, has_slots=False, context=context)
        if NOT_BOOKING.search(raw) and intent.intent not in ("human", "cancel", "reschedule", "my_records"):
            hints["not_booking"] = True  # "я пока не записываюсь, просто спросила про цену"
            intent = IntentResult("decline", 0.8)
        if (intent.intent in ("prices", "services") and not (service_match.service_ids or service_match.unknown)
                and not compiled.categories.group(tokens, taken | staff_match.used_tokens)):
            procedure = _unknown_procedure(tokens, taken | staff_match.used_tokens, compiled, morph)
            if procedure is not None:  # "а ламинирование делаете?": a procedure the salon does not list
                hints["unknown_services"] = [procedure]
        if hints.get("unknown_services") and not service_match.service_ids:
            phrase = hints["unknown_services"][0]
            related = _related_services(phrase, compiled)
            if related:
                hints["related_services"] = related
            hints["unknown_genitive"] = _genitive(phrase, morph)
        service_ids = list(service_match.service_ids)
        if intent.intent in ("prices", "services") and not service_match.unknown:
            group = compiled.categories.group(tokens, taken | staff_match.used_tokens)
            if group:  # "какие услуги по ногтям", "цены на брови": the whole group
                service_ids = group
        day, hour = date_match.date, time_match.time
        if intent.intent != "cancel":
            # A refused day or time is not asked for: of a move it is the old one ("не получается в
            # среду, давайте на другой день"), else the one refused ("нет, в пятницу не могу"). A
            # cancel keeps it: it names the visit ("не смогу завтра прийти").
            day = None if date_match.rejected else day
            hour = None if time_match.rejected else hour
        return Understanding(
            intent=intent.intent,
            service_ids=service_ids,
            staff_id=staff_match.staff_id,
            date=day,
            time=hour,
            part_of_day=time_match.part_of_day,
            client_name=client_name,
            confidence=intent.confidence,
            hints=hints,
        )
