"""The sandbox's online booking chain (reference section 2): book_services .. book_record,
reschedule and cancel, with the business codes 431-438 where the real API gives them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from sync.sandbox.core import Sandbox
from sync.sandbox.http import SANDBOX, auth, err_a, err_b, ids_param, int_param, json_body, ok
from sync.sandbox.rest import NOT_FOUND, _day, _iso, _live_record, _salon, render_record
from sync.sandbox.state import SandboxSalon

SEARCH_DAYS = 30


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


@auth("P")
async def book_services(request: web.Request) -> web.Response:
    salon = _salon(request)
    staff_id = int_param(request, "staff_id", 0) or 0
    chosen = ids_param(request, "service_ids")
    member = salon.staff.get(staff_id) if staff_id else None
    if staff_id and member is None:
        return err_a(404, NOT_FOUND)
    performers = [member] if member else salon.performers(chosen)
    offered = {s for m in performers if m for s in m.services}
    items = []
    for sid in sorted(offered):
        s = salon.services.get(sid)
        if s is None or not s.active:
            continue
        items.append(
            {"id": s.id, "title": s.title, "category_id": s.category_id, "price_min": s.price_min,
             "price_max": s.price_max, "discount": 0, "comment": s.comment, "weight": s.weight, "active": 1,
             "sex": 0, "image": "", "prepaid": "forbidden",
             "seance_length": s.seance_length if staff_id else None}
        )
    used = {i["category_id"] for i in items}
    categories = [
        {"id": c["id"], "title": c["title"], "sex": 0, "api_id": "0", "weight": c.get("weight", 0)}
        for c in salon.categories
        if c["id"] in used
    ]
    return ok({"events": [], "services": items, "category": categories})


def _parse_dt(value: Any, salon: SandboxSalon) -> datetime | None:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=salon.tz)
    try:
        parsed = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=salon.tz)


@auth("P")
async def book_staff(request: web.Request) -> web.Response:
    salon = _salon(request)
    now = _sandbox(request).now()
    chosen = ids_param(request, "service_ids")
    at = _parse_dt(request.query["datetime"], salon) if request.query.get("datetime") else None
    today = salon.local(now).date()
    data = []
    for m in sorted(salon.performers(chosen), key=lambda m: m.id):
        seance_date = None
        if at is not None:
            bookable = salon.is_free(m.id, at, chosen, now)
        else:
            for d in (today + timedelta(days=i) for i in range(SEARCH_DAYS)):
                if salon.free_starts(m.id, d, chosen, now):
                    seance_date = d
                    break
            bookable = seance_date is not None
        item = {"id": m.id, "name": m.name, "specialization": m.specialization,
                "position": {"id": 1, "title": m.specialization} if m.specialization else [],
                "bookable": bookable, "weight": 0, "show_rating": 0, "rating": 0, "votes_count": 0,
                "comments_count": 0, "avatar": "", "information": "", "seances": []}
        if seance_date is not None:
            item["seance_date"] = seance_date.isoformat()
        data.append(item)
    return ok(data)


@auth("P")
async def book_dates(request: web.Request) -> web.Response:
    salon = _salon(request)
    now = _sandbox(request).now()
    chosen = ids_param(request, "service_ids")
    staff_id = int_param(request, "staff_id", 0) or 0
    start, end = _day(request.query.get("date_from")), _day(request.query.get("date_to"))
    if not (start and end):
        anchor = _day(request.query.get("date"))
        if anchor:
            start = anchor.replace(day=1)
            end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        else:
            start = salon.local(now).date()
            end = start + timedelta(days=SEARCH_DAYS)
    if end < start:
        return err_a(422, "Неверный период")
    days = [start + timedelta(days=i) for i in range(min((end - start).days + 1, 92))]
    working = salon.working_dates(staff_id, days, chosen)
    booking = [d for d in working if salon.free_times(staff_id, d, chosen, now)]

    def by_month(ds: list[date]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for d in ds:
            out.setdefault(str(d.month), []).append(d.day)
        return out

    return ok({"booking_dates": [d.isoformat() for d in booking], "booking_days": by_month(booking),
               "working_dates": [d.isoformat() for d in working], "working_days": by_month(working)})


@auth("P")
async def book_times(request: web.Request) -> web.Response:
    salon = _salon(request)
    now = _sandbox(request).now()
    day = _day(request.match_info["date"])
    staff_id = int(request.match_info["staff_id"])
    if day is None:
        return err_a(422, "Неверная дата")
    if staff_id and staff_id not in salon.staff:
        return err_a(404, NOT_FOUND)
    chosen = ids_param(request, "service_ids")
    length = salon.duration_s(chosen)
    single = salon.services[chosen[0]].seance_length if len(chosen) == 1 and chosen[0] in salon.services else length
    data = [
        {"time": t.strftime("%H:%M"), "seance_length": single, "sum_length": length, "datetime": _iso(t)}
        for t, _ in salon.free_times(staff_id, day, chosen, now)
    ]
    return ok(data)


@dataclass
class _Planned:
    appointment_id: Any
    staff_id: int
    services: list[int]
    start: datetime
    length_s: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.length_s)


def _plan(salon: SandboxSalon, appointments: Any, now: datetime) -> list[_Planned] | web.Response:
    """Validate the appointments of book_check/book_record; an error response or the plan."""
    if not isinstance(appointments, list) or not appointments:
        return err_b(422, "Не переданы записи")
    plan: list[_Planned] = []
    for appt in appointments:
        if not isinstance(appt, dict):
            return err_b(422, "Неверный формат записи")
        aid = appt.get("id")
        services = [int(s) for s in appt.get("services") or [] if str(s).lstrip("-").isdigit()]
        if not services:
            return err_b(422, "Не выбраны услуги", appointment_id=aid)
        if any(s not in salon.services or not salon.services[s].active for s in services):
            return err_b(438, "Услуга недоступна для записи", appointment_id=aid)
        start = _parse_dt(appt.get("datetime"), salon)
        if start is None:
            return err_b(433, "Выбранное время недоступно", appointment_id=aid)
        staff_id = int(appt.get("staff_id") or 0)
        if staff_id == 0:
            free = [m.id for m in salon.performers(services) if salon.is_free(m.id, start, services, now)]
            free = [sid for sid in free if not _clashes(plan, sid, start, salon.duration_s(services))]
            if not free:
                return err_b(436, "Нет свободных сотрудников", appointment_id=aid)
            staff_id = free[0]
        elif not salon.is_free(staff_id, start, services, now):
            return err_b(433, "Выбранное время уже занято", appointment_id=aid)
        planned = _Planned(aid, staff_id, services, start, salon.duration_s(services))
        # one client cannot be in two places: appointments of one request must not overlap
        if any(p.start < planned.end and planned.start < p.end for p in plan):
            return err_b(437, "Записи пересекаются", appointment_id=aid)
        plan.append(planned)
    return plan


def _clashes(plan: list[_Planned], staff_id: int, start: datetime, length_s: int) -> bool:
    end = start + timedelta(seconds=length_s)
    return any(p.staff_id == staff_id and p.start < end and start < p.end for p in plan)


@auth("P")
async def book_code(request: web.Request) -> web.Response:
    """Send the salon's SMS code (the sandbox keeps it in `salon.sms_sent` instead of texting)."""
    salon = _salon(request)
    body = await json_body(request)
    phone = "".join(ch for ch in str(body.get("phone") if isinstance(body, dict) else "") if ch.isdigit())
    if not 9 <= len(phone) <= 15:
        return err_b(431, "Неверный формат телефона")
    if salon.sms_code is None:
        salon.sms_code = "1234"
    salon.sms_sent.append((phone, salon.sms_code))
    return ok(None, {"message": "Created"}, status=201)


@auth("P")
async def book_check(request: web.Request) -> web.Response:
    salon = _salon(request)
    body = await json_body(request)
    plan = _plan(salon, body.get("appointments") if isinstance(body, dict) else None, _sandbox(request).now())
    if isinstance(plan, web.Response):
        return plan
    return ok(None, {"message": "Created"}, status=201)


@auth("P")
async def book_record(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    salon = _salon(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        return err_a(400, "Недопустимый формат запроса")
    phone = "".join(ch for ch in str(body.get("phone") or "") if ch.isdigit())
    if not 9 <= len(phone) <= 15:
        return err_b(431, "Неверный формат телефона")
    fullname = str(body.get("fullname") or "").strip()
    if not fullname:
        return err_b(435, "Не указано имя клиента")
    if phone in salon.blacklist:
        return err_b(434, "Клиент в чёрном списке", status=403)
    if salon.sms_code is not None and str(body.get("code") or "") != salon.sms_code:
        return err_b(432, "Неверный код подтверждения")
    now = sandbox.now()
    plan = _plan(salon, body.get("appointments"), now)
    if isinstance(plan, web.Response):
        return plan
    client = salon.upsert_client(phone, fullname, str(body.get("email") or ""))
    created = []
    for p in plan:
        rid = salon.next_id()
        rec = salon._new_record(
            rid, p.staff_id, p.services, client.id, salon.local(p.start), now,
            comment=str(body.get("comment") or ""), api_id=str(body.get("api_id") or ""), online=True,
        )
        salon.records[rid] = rec
        created.append({"id": p.appointment_id, "record_id": rid, "record_hash": rec.record_hash})
    for item in created:
        await sandbox.emit_record(salon, salon.records[item["record_id"]], "create")
    return ok(created, status=201)


@auth("P")
async def reschedule(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    salon = _salon(request)
    r = _live_record(request, salon)
    if not salon.company.get("allow_change_record", True):
        return err_a(403, "Перенос записи запрещён салоном")
    body = await json_body(request)
    start = _parse_dt(body.get("datetime") if isinstance(body, dict) else None, salon)
    if start is None:
        return err_a(422, "Не указано время", {"datetime": ["Обязательное поле"]})
    now = sandbox.now()
    if salon.local(start) != salon.local(r.start) and not salon.is_free(r.staff_id, start, r.service_ids, now,
                                                                         ignore_record=r.id):
        return err_b(433, "Выбранное время уже занято")
    r.start = salon.local(start)
    if isinstance(body, dict) and body.get("comment"):
        r.comment = str(body["comment"])
    r.changed_at = now
    await sandbox.emit_record(salon, r, "update", ("datetime", "date", "comment"))
    return ok(render_record(salon, r))


@auth("P")
async def get_booking(request: web.Request) -> web.Response:
    salon = _salon(request)
    r = salon.records.get(int(request.match_info["rid"]))
    if r is None or r.record_hash != request.match_info["hash"]:
        return err_a(404, NOT_FOUND)
    return ok(render_record(salon, r))


@auth("P")
async def cancel(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    rid = int(request.match_info["rid"])
    for salon in sandbox.salons.values():
        r = salon.records.get(rid)
        if r is None:
            continue
        if r.record_hash != request.match_info["hash"]:
            return err_a(404, NOT_FOUND)
        if not salon.company.get("allow_delete_record", True):
            return err_a(403, "Отмена записи запрещена салоном")
        if not r.deleted:
            r.deleted = True
            r.changed_at = sandbox.now()
            await sandbox.emit_record(salon, r, "delete")
        return ok(None)
    return err_a(404, NOT_FOUND)


def routes(p: str) -> list[web.RouteDef]:
    """The booking-chain routes under the REST prefix `p`."""
    return [
        web.get(p + r"/book_services/{cid:\d+}", book_services),
        web.get(p + r"/book_staff/{cid:\d+}", book_staff),
        web.get(p + r"/book_dates/{cid:\d+}", book_dates),
        web.get(p + r"/book_times/{cid:\d+}/{staff_id:\d+}/{date}", book_times),
        web.post(p + r"/book_code/{cid:\d+}", book_code),
        web.post(p + r"/book_check/{cid:\d+}", book_check),
        web.post(p + r"/book_record/{cid:\d+}", book_record),
        web.put(p + r"/book_record/{cid:\d+}/{rid:\d+}", reschedule),
        web.get(p + r"/book_record/{cid:\d+}/{rid:\d+}/{hash}", get_booking),
        web.delete(p + r"/user/records/{rid:\d+}/{hash}", cancel),
    ]
