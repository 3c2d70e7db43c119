"""What clients and salon staff read (Russian). Pure functions of already-resolved values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

MONTHS = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
WEEKDAYS = ("понедельник", "вторник", "среду", "четверг", "пятницу", "субботу", "воскресенье")
CONFIRM_ASK = "Ответьте «да», чтобы подтвердить, или напишите, если нужно перенести или отменить."


@dataclass(frozen=True)
class Visit:
    """A visit as the texts show it: salon-local start, service titles, master's name."""

    salon: str
    starts_local: datetime
    services: str
    master: str


def when(starts_local: datetime, today: date) -> str:
    """'сегодня в 15:00', 'завтра, 24 ноября, в 12:00', 'в пятницу, 27 ноября, в 09:30'."""
    day = starts_local.date()
    hm = starts_local.strftime("%H:%M")
    dm = f"{day.day} {MONTHS[day.month - 1]}"
    delta = (day - today).days
    if delta == 0:
        return f"сегодня в {hm}"
    if delta == 1:
        return f"завтра, {dm}, в {hm}"
    if 1 < delta < 7:
        prep = "во" if day.weekday() == 1 else "в"
        return f"{prep} {WEEKDAYS[day.weekday()]}, {dm}, в {hm}"
    return f"{dm} в {hm}"


def _what(v: Visit) -> str:
    parts = [p for p in (v.services, f"мастер {v.master}" if v.master else "") if p]
    return ", ".join(parts)


def _hello(name: str) -> str:
    first = (name or "").split()
    return f"Здравствуйте, {first[0]}!" if first else "Здравствуйте!"


def reminder(v: Visit, client_name: str, today: date, *, ask: bool = True) -> str:
    """`ask=False` for a visit already confirmed (attendance 2): no need to ask again."""
    what = _what(v)
    tail = f" {CONFIRM_ASK}" if ask else " Ждём вас! Если планы изменились — напишите, перенесём или отменим."
    return (
        f"{_hello(client_name)} Напоминаем о записи в «{v.salon}» {when(v.starts_local, today)}"
        + (f": {what}." if what else ".")
        + tail
    )


def review_request(salon: str, client_name: str) -> str:
    return (
        f"{_hello(client_name)} Спасибо, что были у нас в «{salon}» 🌸 Оцените, пожалуйста, визит "
        "от 1 до 5 — ответьте одной цифрой."
    )


def created(v: Visit, client_name: str, today: date) -> str:
    what = _what(v)
    return (
        f"{_hello(client_name)} Вы записаны в «{v.salon}» {when(v.starts_local, today)}"
        + (f": {what}." if what else ".")
        + f" {CONFIRM_ASK}"
    )


def moved(v: Visit, client_name: str, today: date) -> str:
    what = _what(v)
    return (
        f"{_hello(client_name)} Ваша запись в «{v.salon}» изменена: теперь {when(v.starts_local, today)}"
        + (f", {what}." if what else ".")
        + f" {CONFIRM_ASK}"
    )


def cancelled(v: Visit, client_name: str, today: date) -> str:
    return (
        f"{_hello(client_name)} Ваша запись в «{v.salon}» {when(v.starts_local, today)} отменена. "
        "Если это ошибка или хотите выбрать другое время — напишите нам, подберём 🌸"
    )


def confirmed(visits: list[Visit], today: date) -> str:
    times = " и ".join(when(v.starts_local, today) for v in visits)
    return f"Спасибо, что подтвердили! Ждём вас {times} 🌸"


def thanks_for_rating() -> str:
    return "Спасибо за оценку! Будем рады видеть вас снова 🌸"


def sorry_low_rating() -> str:
    return (
        "Спасибо за честную оценку. Нам очень жаль, что визит не оправдал ожиданий. "
        "Расскажите, пожалуйста, что пошло не так? Администратор обязательно разберётся 🙏"
    )


def thanks_for_comment() -> str:
    return "Спасибо, что рассказали. Передали администратору — с вами свяжутся 🙏"


def low_rating_alert(rating: int, client_name: str, client_phone: str, v: Visit | None) -> str:
    """To the salon's own WhatsApp: a client rated a visit low."""
    visit = f" (визит {v.starts_local.strftime('%d.%m %H:%M')}, {_what(v)})" if v else ""
    who = f"{client_name} {client_phone}".strip()
    return f"⚠️ Низкая оценка {rating}/5 от клиента {who}{visit}. Свяжитесь с клиентом, пожалуйста."


def low_rating_comment_alert(client_name: str, client_phone: str, comment: str) -> str:
    who = f"{client_name} {client_phone}".strip()
    return f"💬 Клиент {who} о визите: {comment[:1000]}"
