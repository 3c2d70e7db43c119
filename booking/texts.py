"""The bot's Russian phrasing: short, friendly, in the salon's name. Pure formatting, no I/O."""

from __future__ import annotations

import re
from datetime import date, datetime

from booking.model import CatalogService, CatalogStaff, SalonCatalog

WEEKDAYS = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
WEEKDAYS_FULL = ("понедельник", "вторник", "среду", "четверг", "пятницу", "субботу", "воскресенье")
MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня",
    "июля", "августа", "сентября", "октября", "ноября", "декабря",
)


def salon_name(catalog: SalonCatalog) -> str:
    """The salon's name in quotes: "«Лаванда»" (from "Лаванда" or "Салон красоты «Лаванда»")."""
    title = catalog.title.strip()
    if "«" in title and "»" in title:
        return title[title.index("«"): title.rindex("»") + 1]
    return f"«{title}»"


def day_label(day: date, today: date) -> str:
    """"сегодня (пн, 23 ноября)", "завтра (вт, 24 ноября)", "в пятницу, 27 ноября"."""
    plain = f"{day.day} {MONTHS[day.month - 1]}"
    delta = (day - today).days
    if delta == 0:
        return f"сегодня ({WEEKDAYS[day.weekday()]}, {plain})"
    if delta == 1:
        return f"завтра ({WEEKDAYS[day.weekday()]}, {plain})"
    if delta == 2:
        return f"послезавтра ({WEEKDAYS[day.weekday()]}, {plain})"
    prep = "во" if day.weekday() == 1 else "в"
    return f"{prep} {WEEKDAYS_FULL[day.weekday()]}, {plain}"


def on_day(day: date, today: date) -> str:
    """ "сегодня", "завтра", "послезавтра", "в субботу (28 ноября)", "во вторник (1 декабря)"."""
    delta = (day - today).days
    if 0 <= delta <= 2:
        return ("сегодня", "завтра", "послезавтра")[delta]
    prep = "во" if day.weekday() == 1 else "в"
    return f"{prep} {WEEKDAYS_FULL[day.weekday()]} ({day.day} {MONTHS[day.month - 1]})"


def short_day(day: date, today: date) -> str:
    delta = (day - today).days
    if delta == 0:
        return "сегодня"
    if delta == 1:
        return "завтра"
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"


def rub(value: float) -> str:
    return f"{round(value):,}".replace(",", " ") + " ₽"


def price(service: CatalogService) -> str:
    lo, hi = service.price_min, service.price_max
    if lo is None and hi is None:
        return "цену уточнит администратор"
    if lo is None or hi is None or lo == hi:
        return rub(lo if lo is not None else hi or 0)
    return f"{rub(lo)}–{rub(hi)}".replace(" ₽–", "–")


def duration(service: CatalogService) -> str:
    if not service.duration_s:
        return ""
    minutes = service.duration_s // 60
    if minutes < 60:
        return f"{minutes} мин"
    hours, rest = divmod(minutes, 60)
    return f"{hours} ч" + (f" {rest} мин" if rest else "")


def services_title(catalog: SalonCatalog, service_ids: list[int]) -> str:
    by_id = {s.id: s for s in catalog.services}
    names = [by_id[i].title for i in service_ids if i in by_id]
    return " + ".join(names) if names else "услуга"


def staff_name(catalog: SalonCatalog, staff_id: int | None) -> str:
    for m in catalog.staff:
        if m.id == staff_id:
            return m.name
    return "любой мастер"


def staff_first_name(catalog: SalonCatalog, staff_id: int | None) -> str:
    return staff_name(catalog, staff_id).split()[0]


def genitive_name(first: str) -> str:
    """A first name in the genitive ("у мастера Ольги", "у Игоря"); unchanged when not a known name."""
    from booking.nlu.morph import load_analyzer  # the process-wide pymorphy3 analyzer (cached)

    for parse in load_analyzer().parse(first.lower()):
        if "Name" in parse.tag and "nomn" in parse.tag:
            form = parse.inflect({"gent"})
            if form is not None:
                return form.word[:1].upper() + form.word[1:]
    return first


def staff_genitive(catalog: SalonCatalog, staff_id: int | None) -> str:
    return genitive_name(staff_first_name(catalog, staff_id))


def total_price(catalog: SalonCatalog, service_ids: list[int]) -> str:
    by_id = {s.id: s for s in catalog.services}
    chosen = [by_id[i] for i in service_ids if i in by_id]
    if not chosen or any(s.price_min is None for s in chosen):
        return ""
    lo = sum(s.price_min or 0 for s in chosen)
    hi = sum((s.price_max if s.price_max is not None else s.price_min) or 0 for s in chosen)
    return rub(lo) if lo == hi else f"{rub(lo)}–{rub(hi)}".replace(" ₽–", "–")


def first_name(name: str) -> str:
    """How to address a client: "Елена" of "Елена Орлова"."""
    parts = name.split()
    return parts[0] if parts else name


def hello(catalog: SalonCatalog, client_name: str | None) -> str:
    """"Здравствуйте, Елена! Это салон «Лаванда» 🌸" (without the name when it is not known)."""
    who = f", {first_name(client_name)}" if client_name and client_name.strip() else ""
    return f"Здравствуйте{who}! Это салон {salon_name(catalog)} 🌸"


def greeting(catalog: SalonCatalog) -> str:
    return (
        f"Здравствуйте! Это салон {salon_name(catalog)} 🌸 Могу записать вас, перенести или отменить визит, "
        "подсказать цены и адрес. Чем помочь?"
    )


def help_text(catalog: SalonCatalog) -> str:
    return (
        "Я помощник салона " + salon_name(catalog) + ": записываю, переношу и отменяю визиты, "
        "подсказываю цены, услуги, часы работы и адрес. Напишите, например: «маникюр завтра в 15:00»."
    )


def hours_address(catalog: SalonCatalog) -> str:
    parts = [f"Салон {salon_name(catalog)}"]
    if catalog.address:
        parts.append(f"📍 {catalog.address}")
    if catalog.schedule:
        parts.append(f"🕒 {catalog.schedule}")
    if catalog.phone:
        parts.append(f"☎️ {catalog.phone}")
    return "\n".join(parts)


def price_list(catalog: SalonCatalog, service_ids: list[int], *, ask: bool = True) -> str:
    """Prices of these services (all services when none); `ask`: end with an offer to book."""
    by_id = {s.id: s for s in catalog.services}
    if service_ids:
        lines = [f"• {by_id[i].title} — {price(by_id[i])}" + _dur(by_id[i]) for i in service_ids if i in by_id]
        return "\n".join(lines) + ("\n\nЗаписать вас?" if ask else "")
    return services_list(catalog, with_prices=True, ask=ask)


def _dur(service: CatalogService) -> str:
    d = duration(service)
    return f" ({d})" if d else ""


def services_list(catalog: SalonCatalog, *, with_prices: bool = True, ask: bool = True) -> str:
    groups: dict[str, list[CatalogService]] = {}
    for s in catalog.services:
        groups.setdefault(s.category_title or "Услуги", []).append(s)
    lines = [f"Услуги салона {salon_name(catalog)}:"]
    for title, items in groups.items():
        lines.append(f"\n{title}:")
        for s in items:
            lines.append(f"• {s.title}" + (f" — {price(s)}" if with_prices else ""))
    if ask:
        lines.append("\nНа что вас записать?")
    return "\n".join(lines)


def masters_list(catalog: SalonCatalog, service_ids: list[int], *, ask: bool = True) -> str:
    """Who does each of these services: "• Педикюр — Марина Петрова"."""
    by_id = {s.id: s for s in catalog.services}
    lines = []
    for i in service_ids:
        if i not in by_id:
            continue
        names = [m.name for m in staff_for(catalog, [i])]
        lines.append(f"• {by_id[i].title} — " + (", ".join(names) if names else "запись через администратора"))
    if not lines:
        return ask_service(catalog)
    return "\n".join(lines) + ("\n\nЗаписать вас? Напишите удобный день и время 🙂" if ask else "")


def ask_service(catalog: SalonCatalog, staff_id: int | None = None) -> str:
    """Which service? With a master named: that master's services ("Марина Петрова делает: ...")."""
    master = next((m for m in catalog.staff if m.id == staff_id), None)
    if master is not None:
        titles = [s.title for s in catalog.services if s.id in master.service_ids]
        if titles:
            return f"{master.name} делает: {', '.join(titles)}. На какую услугу вас записать?"
    cats: list[str] = []
    for s in catalog.services:
        if s.category_title and s.category_title not in cats:
            cats.append(s.category_title)
    hint = f" ({', '.join(c.lower() for c in cats[:4])})" if cats else ""
    return f"На какую услугу вас записать?{hint}"


def staff_for(catalog: SalonCatalog, service_ids: list[int]) -> list[CatalogStaff]:
    need = set(service_ids)
    return [m for m in catalog.staff if need and need.issubset(m.service_ids)]


def when_was(starts_at: datetime, today: date) -> str:
    return f"{short_day(starts_at.date(), today)} в {starts_at.strftime('%H:%M')}"


def not_offered(catalog: SalonCatalog, procedure_genitive: str, related: list[int]) -> str:
    """ "К сожалению, ламинирования у нас нет" and the nearest group (else the salon's groups)."""
    head = f"К сожалению, {procedure_genitive} у нас нет 😔"
    by_id = {s.id: s for s in catalog.services}
    lines = [f"• {by_id[i].title} — {price(by_id[i])}" for i in related if i in by_id]
    if lines:
        return head + " Из похожего есть:\n" + "\n".join(lines) + "\nЗаписать вас?"
    cats = list(dict.fromkeys(s.category_title.lower() for s in catalog.services if s.category_title))
    return head + (f" У нас есть: {', '.join(cats)}. Подсказать что-то из этого?" if cats else "")


_DAY_SPEC = re.compile(r"(пн|вт|ср|чт|пт|сб|вс)(?:\s*[–—-]\s*(пн|вт|ср|чт|пт|сб|вс))?\s*:?\s*"
                       r"(\d{1,2}[:.]\d{2})\s*[–—-]\s*(\d{1,2}[:.]\d{2})")


def day_hours(schedule: str, day: date) -> tuple[str, str] | None:
    """(opens, closes) of a weekday from a schedule line like "Пн–Сб 10:00–21:00, Вс 11:00–19:00";
    None when the line does not say (then the whole line is quoted)."""
    low = schedule.lower()
    if re.search(r"ежедневно|без выходных", low):
        m = re.search(r"(\d{1,2}[:.]\d{2})\s*[–—-]\s*(\d{1,2}[:.]\d{2})", low)
        return (m.group(1).replace(".", ":"), m.group(2).replace(".", ":")) if m else None
    for m in _DAY_SPEC.finditer(low):
        first = WEEKDAYS.index(m.group(1))
        last = WEEKDAYS.index(m.group(2)) if m.group(2) else first
        if first <= day.weekday() <= last:
            return m.group(3).replace(".", ":"), m.group(4).replace(".", ":")
    return None


def hours_on(catalog: SalonCatalog, day: date, today: date) -> str | None:
    """ "В воскресенье (29 ноября) работаем с 11:00 до 19:00 🕒", or None when the schedule does not say."""
    hours = day_hours(catalog.schedule, day) if catalog.schedule else None
    if hours is None:
        return None
    when = on_day(day, today)
    return f"{when[:1].upper()}{when[1:]} работаем с {hours[0]} до {hours[1]} 🕒"
