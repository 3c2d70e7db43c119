"""The sandbox's REST routes under `/api/v1` (reference sections 2 and 3), over `SandboxSalon`s."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from sync.sandbox.core import Sandbox
from sync.sandbox.http import SANDBOX, auth, err_a, err_c, ids_param, int_param, json_body, ok, str_list_param
from sync.sandbox.state import SandboxSalon, SbRecord

NOT_FOUND = "Не найдено"


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


def _salon(request: web.Request, shape: str = "A") -> SandboxSalon:
    """The salon of the path's `cid`, or a 404 in the endpoint's error shape."""
    salon = _sandbox(request).salon(int(request.match_info["cid"]))
    if salon is None:
        resp = err_c(404, "Компания не найдена") if shape == "C" else err_a(404, "Компания не найдена")
        raise web.HTTPNotFound(text=resp.text, content_type="application/json")
    return salon


def _live_record(request: web.Request, salon: SandboxSalon) -> SbRecord:
    """The path's `rid` record of `salon` (not deleted), or a 404 in shape A."""
    r = salon.records.get(int(request.match_info["rid"]))
    if r is None or r.deleted:
        raise web.HTTPNotFound(text=err_a(404, NOT_FOUND).text, content_type="application/json")
    return r


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


# --- rendering ----------------------------------------------------------------------------
def render_service(salon: SandboxSalon, service_id: int) -> dict[str, Any]:
    s = salon.services[service_id]
    performers = [m for m in salon.active_staff() if service_id in m.services]
    return {
        "id": s.id,
        "title": s.title,
        "category_id": s.category_id,
        "price_min": s.price_min,
        "price_max": s.price_max,
        "discount": 0,
        "comment": s.comment,
        "weight": s.weight,
        "active": 1 if s.active else 0,
        "api_id": "",
        "staff": [{"id": m.id, "seance_length": s.seance_length} for m in performers],
    }


def render_staff(salon: SandboxSalon, staff_id: int) -> dict[str, Any]:
    m = salon.staff[staff_id]
    return {
        "id": m.id,
        "name": m.name,
        "company_id": salon.id,
        "specialization": m.specialization,
        "position": {"id": 1, "title": m.specialization} if m.specialization else [],
        "avatar": "",
        "avatar_big": "",
        "fired": 1 if m.fired else 0,
        "status": 0,
        "hidden": 1 if m.hidden else 0,
        "user_id": None,
    }


def render_record(salon: SandboxSalon, r: SbRecord) -> dict[str, Any]:
    """A record as `GET /records` shows it (reference 3.5)."""
    client = salon.clients.get(r.client_id) if r.client_id is not None else None
    member = salon.staff.get(r.staff_id)
    services = []
    for sid in r.service_ids:
        s = salon.services.get(sid)
        cost = s.price_min if s else 0
        services.append(
            {"id": sid, "title": s.title if s else "", "cost": cost, "first_cost": cost, "discount": 0,
             "amount": 1, "seance_length": s.seance_length if s else None}
        )
    local = salon.local(r.start)
    return {
        "id": r.id,
        "company_id": salon.id,
        "staff_id": r.staff_id,
        "services": services,
        "staff": {"id": r.staff_id, "name": member.name if member else ""},
        "client": (
            {"id": client.id, "name": client.name, "phone": "+" + client.phone, "email": client.email}
            if client
            else None
        ),
        "clients_count": 1,
        "date": local.strftime("%Y-%m-%d %H:%M:%S"),
        "datetime": _iso(local),
        "create_date": _iso(salon.local(r.created_at)),
        "comment": r.comment,
        "online": r.online,
        "attendance": r.attendance,
        "visit_attendance": r.attendance,
        "confirmed": 1,
        "seance_length": r.length_s,
        "length": r.length_s,
        "api_id": r.api_id,
        "visit_id": r.visit_id,
        "created_user_id": 0,
        "deleted": r.deleted,
        "last_change_date": _iso(salon.local(r.changed_at)),
        "record_labels": [],
        "custom_fields": [],
    }


# --- company and admin data (P+U) ----------------------------------------------------------
@auth("PU", shape="C")
async def company(request: web.Request) -> web.Response:
    salon = _salon(request, shape="C")
    data = dict(salon.company)
    data.setdefault("phone_confirmation", bool(salon.sms_code))
    data.setdefault("active_staff_count", len(salon.active_staff()))
    data.setdefault("allow_change_record", True)
    data.setdefault("allow_delete_record", True)
    return ok(data, {})


@auth("PU")
async def services(request: web.Request) -> web.Response:
    salon = _salon(request)
    sid = request.match_info.get("sid")
    staff_id = int_param(request, "staff_id")
    category_id = int_param(request, "category_id")
    ids = [int(sid)] if sid else sorted(salon.services)
    if sid and int(sid) not in salon.services:
        return err_a(404, NOT_FOUND)
    items = [
        render_service(salon, i)
        for i in ids
        if (category_id is None or salon.services[i].category_id == category_id)
        and (not staff_id or (staff_id in salon.staff and i in salon.staff[staff_id].services))
    ]
    return ok(items, {"total_count": len(items)})


@auth("PU")
async def staff(request: web.Request) -> web.Response:
    salon = _salon(request)
    sid = request.match_info.get("sid")
    if sid and int(sid) not in salon.staff:
        return err_a(404, NOT_FOUND)
    items = [render_staff(salon, i) for i in ([int(sid)] if sid else sorted(salon.staff))]
    return ok(items, {"total_count": len(items)})


def _days(start: date, end: date, limit: int = 62) -> list[date]:
    return [start + timedelta(days=i) for i in range(min((end - start).days + 1, limit))]


@auth("PU")
async def schedule(request: web.Request) -> web.Response:
    salon = _salon(request)
    member = salon.staff.get(int(request.match_info["staff_id"]))
    start, end = _day(request.match_info["start"]), _day(request.match_info["end"])
    if member is None:
        return err_a(404, NOT_FOUND)
    if start is None or end is None or end < start:
        return err_a(422, "Неверный период")
    return ok([salon.schedule_day(member, d) for d in _days(start, end)])


@auth("PU")
async def staff_schedule(request: web.Request) -> web.Response:
    salon = _salon(request)
    start, end = _day(request.query.get("start_date")), _day(request.query.get("end_date"))
    if start is None or end is None or end < start:
        return err_a(422, "start_date и end_date обязательны")
    wanted = ids_param(request, "staff_ids") or sorted(m.id for m in salon.active_staff())
    busy = "busy_intervals" in str_list_param(request, "include")
    data = []
    for sid in wanted:
        member = salon.staff.get(sid)
        if member is None:
            continue
        for d in _days(start, end):
            day = salon.schedule_day(member, d)
            item = {"staff_id": sid, "date": day["date"], "slots": day["slots"],
                    "off_day_type": None if day["is_working"] else 1}
            if busy:
                item["busy_intervals"] = _busy_intervals(salon, sid, d)
            data.append(item)
    return ok(data, {"count": len(data)})


def _busy_intervals(salon: SandboxSalon, staff_id: int, day: date) -> list[dict[str, Any]]:
    """The specialist's live records on `day` as `busy_intervals` (reference 3.4; [sbx]: from/to
    are salon-local "HH:MM" like `slots`)."""
    records = sorted((r for r in salon.live_records(staff_id) if salon.local(r.start).date() == day),
                     key=lambda r: (r.start, r.id))
    return [{"entity_type": "record", "entity_id": r.id, "from": salon.local(r.start).strftime("%H:%M"),
             "to": salon.local(r.end).strftime("%H:%M")} for r in records]


@auth("PU")
async def records(request: web.Request) -> web.Response:
    salon = _salon(request)
    start, end = _day(request.query.get("start_date")), _day(request.query.get("end_date"))
    staff_id = int_param(request, "staff_id")
    with_deleted = request.query.get("with_deleted") == "1"
    changed_after = request.query.get("changed_after")
    try:
        after = datetime.fromisoformat(changed_after) if changed_after else None
    except ValueError:
        return err_a(422, "Неверный формат даты", {"changed_after": ["Неверный формат даты"]})
    if after is not None and after.tzinfo is None:
        after = after.replace(tzinfo=salon.tz)
    page = max(1, int_param(request, "page", 1) or 1)
    count = max(1, min(int_param(request, "count", 20) or 20, 1000))
    selected = []
    for r in sorted(salon.records.values(), key=lambda x: (x.start, x.id)):
        day = salon.local(r.start).date()
        if (r.deleted and not with_deleted) or (start and day < start) or (end and day > end):
            continue
        if (staff_id and r.staff_id != staff_id) or (after and r.changed_at <= after):
            continue
        selected.append(r)
    chunk = selected[(page - 1) * count : page * count]
    return ok([render_record(salon, r) for r in chunk], {"page": page, "total_count": len(selected)})


@auth("PU")
async def record(request: web.Request) -> web.Response:
    salon = _salon(request)
    r = _live_record(request, salon)
    return ok(render_record(salon, r))


@auth("PU")
async def delete_record(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    salon = _salon(request)
    r = _live_record(request, salon)
    r.deleted = True
    r.changed_at = sandbox.now()
    await sandbox.emit_record(salon, r, "delete")
    return web.Response(status=204)


@auth("PU")
async def visit(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    rid, visit_id = int(request.match_info["rid"]), int(request.match_info["visit_id"])
    body = await json_body(request)
    for salon in sandbox.salons.values():
        r = salon.records.get(rid)
        if r is not None and r.visit_id == visit_id:
            attendance = body.get("attendance") if isinstance(body, dict) else None
            if attendance not in (-1, 0, 1, 2):
                return err_a(422, "attendance обязателен", {"attendance": ["Неверное значение"]})
            r.attendance = int(attendance)
            r.changed_at = sandbox.now()
            await sandbox.emit_record(salon, r, "update", ("attendance", "visit_attendance"))
            return ok(None)
    return err_a(404, NOT_FOUND)


@auth("PU")
async def clients_search(request: web.Request) -> web.Response:
    salon = _salon(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        return err_a(400, "Недопустимый формат запроса")
    needle = ""
    for flt in body.get("filters") or []:
        if isinstance(flt, dict) and flt.get("type") == "quick_search":
            needle = str((flt.get("state") or {}).get("value") or "")
    digits = "".join(ch for ch in needle if ch.isdigit())
    found = [
        c
        for c in sorted(salon.clients.values(), key=lambda c: c.id)
        if not needle or needle.lower() in c.name.lower() or (digits and digits in c.phone)
    ]
    page = max(1, int(body.get("page") or 1))
    size = max(1, min(int(body.get("page_size") or 25), 200))
    chunk = found[(page - 1) * size : page * size]
    data = [{"id": c.id, "name": c.name, "phone": "+" + c.phone, "email": c.email} for c in chunk]
    return ok(data, {"total_count": len(found)})


@auth("PU")
async def clients_create(request: web.Request) -> web.Response:
    salon = _salon(request)
    body = await json_body(request)
    name = str(body.get("name") or "").strip() if isinstance(body, dict) else ""
    phone = "".join(ch for ch in str(body.get("phone") or "") if ch.isdigit()) if isinstance(body, dict) else ""
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Имя обязательно"]
    if not 9 <= len(phone) <= 15:
        errors["phone"] = ["Неверный формат телефона"]
    if errors:
        return err_a(422, "Ошибка валидации", errors)
    if salon.find_client(phone) is not None:
        return err_a(422, "Клиент с таким телефоном уже существует")
    client = salon.upsert_client(phone, name, str(body.get("email") or ""))
    return ok({"id": client.id, "name": client.name, "phone": int(client.phone), "email": client.email}, status=201)


def routes() -> list[web.RouteDef]:
    """The REST routes (booking-chain routes live in `sync.sandbox.booking`)."""
    from sync.sandbox import booking

    p = "/api/v1"
    return [
        web.get(p + r"/company/{cid:\d+}", company),
        web.get(p + r"/company/{cid:\d+}/services", services),
        web.get(p + r"/company/{cid:\d+}/services/{sid:\d+}", services),
        web.get(p + r"/company/{cid:\d+}/staff", staff),
        web.get(p + r"/company/{cid:\d+}/staff/schedule", staff_schedule),
        web.get(p + r"/company/{cid:\d+}/staff/{sid:\d+}", staff),
        web.get(p + r"/schedule/{cid:\d+}/{staff_id:\d+}/{start}/{end}", schedule),
        web.get(p + r"/records/{cid:\d+}", records),
        web.get(p + r"/record/{cid:\d+}/{rid:\d+}", record),
        web.delete(p + r"/record/{cid:\d+}/{rid:\d+}", delete_record),
        web.put(p + r"/visits/{visit_id:\d+}/{rid:\d+}", visit),
        web.post(p + r"/company/{cid:\d+}/clients/search", clients_search),
        web.post(p + r"/clients/{cid:\d+}", clients_create),
        *booking.routes(p),
    ]
