"""Russian language understanding for the booking bot: text -> `booking.model.Understanding`.

A rule engine with no network: pymorphy3 lemmas, rapidfuzz for typos, relative dates and times in
the salon's timezone. Call `understand(text, now, catalog, context=...)`; it uses one process-wide
`NluEngine` (built on first use by an lru_cache'd loader). Code that wants its own engine (tests,
benchmarks) constructs `NluEngine()` and calls its `understand` method.

`Understanding.hints` may carry: ``any_staff`` / ``same_staff`` (True), ``exclude_staff`` (ids:
"без мастера Оли", "не к Ане"), ``staff_candidates`` (ids
when a name fits several masters), ``staff_by_role`` (ids of the masters whose specialization
was named: "к барберу", "к косметологу"; no staff_id is set from a role), ``ambiguous_services``
({chosen id: [other ids]}),
``unknown_services`` (["ламинирование ресниц"]: asked, not offered), ``weekend`` (True), ``week``
("next"/"this"), ``time_relation`` ("after"/"from"), ``time_before`` ("12:00"), ``approximate``
(True, "часа в четыре"), ``part_of_day_said`` (the part named even when a time won),
``date_in_past`` (True), ``same_time`` (True: "на то же время", no time said),
``shift_min`` (minutes: "на час позже" 60, "на полчаса раньше" -30), ``after_services`` (ids: "педикюр
сразу после маникюра" — the new visit follows the client's visit of these services),
``removed_services`` (ids the client takes back: "не стрижку, а укладку", "без стрижки", "маникюр не
нужен"; they are not in ``service_ids``), ``other_staff`` (True: "к другому мастеру"), ``insist_staff``
(True: "именно к Марине", "только к Ане"), ``nearest`` (True: "когда ближайшее окошко", no day said),
``not_booking`` (True: "я пока не записываюсь", "просто спросила"; the intent is decline),
``related_services`` (ids of the group nearest to an ``unknown_services`` procedure: "ламинирование" ->
brows and lashes).

A change of mind inside one message ("в среду.. хотя нет, лучше в субботу", "перенести? хотя нет,
отмените", "в 10, или нет, лучше в 12") is read clause by clause: the later clause's slots and intent
win for what it names (engine.py). When the dialogue asks the client's name, a day, time or service
word is never taken as the name ("нет, в субботу! в 12" is a correction).

Slot rules are documented in the modules: dates.py (weekdays, weekends, DD.MM), times.py (hours,
and when ``part_of_day`` is set: only when a part of day is named and no exact time is given),
services.py (colloquial words, typical choice among equals), categories.py (a question about a
group of services lists the group), staff.py (diminutives, client's name), intents.py (intent
order), translit.py (Latin-script Russian). Among equal services the one the named master does wins
(engine.py). In a reschedule the slots are the new day and time; a day or time only refused ("нет,
пятница не подходит") is dropped (except in a cancel, where it names the visit).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from booking.model import SalonCatalog, Understanding
from booking.nlu.engine import NluEngine

__all__ = ["NluEngine", "default_engine", "understand", "warm_up"]


@lru_cache(maxsize=1)
def default_engine() -> NluEngine:
    """The process's shared engine (constructed once)."""
    return NluEngine()


def warm_up(catalog: SalonCatalog | None = None) -> None:
    """Build the shared engine now (~0.25 s: the dictionaries) instead of on the first message;
    with a catalog, compile its matchers too. Call it at startup, outside the event loop's hot path."""
    engine = default_engine()
    if catalog is not None:
        engine.understand("здравствуйте", datetime.now().astimezone(), catalog)


def understand(
    text: str, now: datetime, catalog: SalonCatalog, *, context: dict[str, Any] | None = None
) -> Understanding:
    """What one client message says (intent and slots), relative to `now` in the salon's timezone.

    `context` comes from the dialogue: ``{"expecting": "name"}`` when it just asked the client's
    name (a bare "Анна" is then the client's name, not a master), ``{"expecting": "confirm"}`` when it
    asked for a confirmation.
    """
    return default_engine().understand(text, now, catalog, context=context)
