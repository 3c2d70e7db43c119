"""Contract tests: the client against the sandbox for every call it makes."""

from __future__ import annotations

from datetime import UTC, date, timedelta

import pytest

from gateway.clock import FakeClock
from sync.client import YClientsClient
from sync.models import Appointment
from sync.sandbox import Sandbox
from tests.sync.conftest import APP_ID, DEMO_SALON, USER, MakeClient

TODAY = date(2026, 11, 23)  # Monday, salon-local (the clock starts at 10:00 MSK)
TOMORROW = TODAY + timedelta(days=1)


async def test_headers_accept_and_auth_are_sent(yc: YClientsClient, sandbox: Sandbox) -> None:
    await yc.company(DEMO_SALON)
    await yc.book_services(DEMO_SALON)
    company_req, book_req = sandbox.requests
    assert company_req.headers["Accept"] == "application/vnd.yclients.v2+json"
    assert company_req.headers["Authorization"] == f"Bearer partner-token-test, User {USER}"
    assert book_req.headers["Authorization"] == "Bearer partner-token-test"  # booking chain: P only
    assert company_req.path == f"/api/v1/company/{DEMO_SALON}"


async def test_company(yc: YClientsClient) -> None:
    company = await yc.company(DEMO_SALON)
    assert company.id == DEMO_SALON
    assert company.title == "Салон красоты «Лаванда»"
    assert company.timezone_name == "Europe/Moscow"
    assert company.address.startswith("Москва")
    assert company.schedule == "Пн–Сб 10:00–21:00, Вс 11:00–19:00"


async def test_services_staff_and_categories(yc: YClientsClient) -> None:
    services = {s.id: s for s in await yc.services(DEMO_SALON)}
    assert len(services) == 14
    assert services[1011].price_min == 2200 and services[1011].category_id == 102
    assert {sid for sid, _ in services[1011].staff} == {2003, 2004}
    assert dict(services[1011].staff)[2003] == 5400
    staff = {m.id: m for m in await yc.staff(DEMO_SALON)}
    assert staff[2007].name == "Игорь Морозов" and not staff[2007].fired
    book = await yc.book_services(DEMO_SALON)
    assert {c.title for c in book.categories} == {
        "Парикмахерские услуги", "Ногтевой сервис", "Брови и ресницы", "Косметология"}
    by_staff = await yc.book_services(DEMO_SALON, staff_id=2003)
    assert {s.id for s in by_staff.services} == {1011, 1012, 1013, 1014}
    assert {s.duration_s for s in by_staff.services if s.id == 1013} == {5400}


async def test_book_staff_and_dates(yc: YClientsClient) -> None:
    staff = await yc.book_staff(DEMO_SALON, service_ids=[1011])
    assert {m.id for m in staff} == {2003, 2004}
    assert all(m.bookable and m.seance_date is not None for m in staff)
    dates = await yc.book_dates(DEMO_SALON, service_ids=[1011], staff_id=2003,
                                date_from=TODAY, date_to=TODAY + timedelta(days=6))
    # Марина works Mon-Fri
    assert [d.weekday() for d in dates.working_dates] == [0, 1, 2, 3, 4]
    assert set(dates.booking_dates) <= set(dates.working_dates) and dates.booking_dates
    month = await yc.book_dates(DEMO_SALON, service_ids=[1011], month_of=TODAY)
    assert all(d.month == 11 for d in month.working_dates)


async def test_bracket_list_params_encoded_or_not(yc: YClientsClient, sandbox: Sandbox, sandbox_url: str,
                                                  http_session) -> None:
    slots = await yc.book_times(DEMO_SALON, 2003, TOMORROW, [1011, 1014])
    request = sandbox.requests[-1]
    assert request.query_values("service_ids[]") == ["1011", "1014"]
    assert slots[0].sum_length_s == 5400 + 1200
    # raw brackets and percent-encoded brackets are the same to the sandbox (PHP-style parsing)
    headers = {"Accept": "application/vnd.yclients.v2+json", "Authorization": "Bearer partner-token-test"}
    base = f"{sandbox_url}/api/v1/book_times/{DEMO_SALON}/2003/{TOMORROW}"
    async with http_session.get(base + "?service_ids%5B%5D=1011&service_ids%5B%5D=1014", headers=headers) as r1:
        encoded = (await r1.json())["data"]
    from yarl import URL

    async with http_session.get(URL(base + "?service_ids[]=1011&service_ids[]=1014", encoded=True),
                                headers=headers) as r2:
        raw = (await r2.json())["data"]
    assert encoded == raw == [
        {"time": s.time, "seance_length": s.seance_length_s, "sum_length": s.sum_length_s, "datetime": s.datetime}
        for s in slots
    ]


async def test_book_times_follow_hours_step_duration_and_records(yc: YClientsClient) -> None:
    # Марина, tomorrow (Tue) 10:00-19:00, step 15 min, record 4004 at 14:00 for 90 min
    slots = await yc.book_times(DEMO_SALON, 2003, TOMORROW, [1011])
    times = [s.time for s in slots]
    assert times[0] == "10:00" and times[1] == "10:15"
    assert times[-1] == "17:30"  # 17:30 + 90 min = 19:00
    assert "12:30" in times and "12:45" not in times and "15:15" not in times and "15:30" in times
    assert slots[0].datetime == f"{TOMORROW}T10:00:00+03:00"
    assert slots[0].seance_length_s == 5400
    # today: nothing before 10:00 now, 16:00 taken by record 4003
    today = [s.time for s in await yc.book_times(DEMO_SALON, 2003, TODAY, [1011])]
    assert today[0] == "10:15" and "16:00" not in today and "14:45" not in today and "14:30" in today
    # Sunday off for Марина; staff 0 = any performer
    assert await yc.book_times(DEMO_SALON, 2003, TODAY + timedelta(days=6), [1011]) == []
    anyone = await yc.book_times(DEMO_SALON, 0, TODAY + timedelta(days=6), [1011])
    assert anyone and anyone[0].time == "11:00"  # Екатерина works Sundays 11-19


async def test_booking_chain_record_read_reschedule_cancel(yc: YClientsClient) -> None:
    slot = (await yc.book_times(DEMO_SALON, 2005, TOMORROW, [1021]))[0]
    appt = Appointment(services=(1021,), staff_id=2005, datetime=slot.datetime)
    await yc.book_check(DEMO_SALON, [appt])
    booked = await yc.book_record(DEMO_SALON, phone="+7 916 000-11-22", fullname="Анна", appointments=[appt],
                                  api_id="wa-1", comment="WhatsApp")
    assert len(booked) == 1 and booked[0].appointment_id == 1 and len(booked[0].record_hash) == 32
    rec = await yc.get_booking(DEMO_SALON, booked[0].record_id, booked[0].record_hash)
    assert rec.api_id == "wa-1" and rec.service_ids == (1021,) and rec.client and rec.client.phone == "79160001122"
    assert rec.starts_at == slot.starts_at
    later = (await yc.book_times(DEMO_SALON, 2005, TOMORROW, [1021]))[-1]
    moved = await yc.reschedule(DEMO_SALON, booked[0].record_id, later.datetime, "перенос")
    assert moved.starts_at == later.starts_at and moved.comment == "перенос"
    full = await yc.record(DEMO_SALON, booked[0].record_id)
    assert full.visit_id and full.attendance == 0
    await yc.set_attendance(full.visit_id, full.id, 2, "подтвердил")
    assert (await yc.record(DEMO_SALON, full.id)).attendance == 2
    await yc.cancel(booked[0].record_id, booked[0].record_hash)
    deleted = await yc.records(DEMO_SALON, start_date=TOMORROW, end_date=TOMORROW, with_deleted=True)
    assert [r.deleted for r in deleted if r.id == booked[0].record_id] == [True]


async def test_records_pagination_and_filters(yc: YClientsClient, sandbox: Sandbox) -> None:
    records = await yc.records(DEMO_SALON, start_date=TODAY, end_date=TODAY + timedelta(days=30))
    assert [r.id for r in records] == [4003, 4001, 4004, 4002]  # by time
    pages = [r.query_values("page") for r in sandbox.requests_to(r"/records/")]
    assert pages == [["1"], ["2"]]  # page_size 2, total_count 4: stops without an empty page
    r4001 = next(r for r in records if r.id == 4001)
    assert r4001.client and r4001.client.phone == "79161234567" and r4001.staff_id == 2001
    assert r4001.date_local == f"{TOMORROW} 12:00:00" and r4001.length_s == 3600
    only = await yc.records(DEMO_SALON, start_date=TOMORROW, end_date=TOMORROW, staff_id=2003)
    assert [r.id for r in only] == [4004]


async def test_schedules(yc: YClientsClient) -> None:
    days = await yc.schedule(DEMO_SALON, 2001, TODAY, TODAY + timedelta(days=6))
    assert len(days) == 7
    assert days[0].is_working and days[0].slots == (("10:00", "20:00"),)
    assert not days[2].is_working  # Wednesday off
    many = await yc.staff_schedules(DEMO_SALON, TODAY, TODAY + timedelta(days=1), staff_ids=[2001, 2004])
    assert {(d.staff_id, d.date, d.is_working) for d in many} == {
        (2001, TODAY, True), (2001, TOMORROW, True), (2004, TODAY, False), (2004, TOMORROW, False)}


async def test_clients_search_and_create(yc: YClientsClient) -> None:
    found = await yc.search_clients(DEMO_SALON, "79161234567")
    assert [(c.id, c.name) for c in found] == [(3001, "Елена Орлова")]
    created = await yc.create_client(DEMO_SALON, name="Пётр", phone="+79995554433")
    assert created.phone == "79995554433"
    assert [c.id for c in await yc.search_clients(DEMO_SALON, "Пётр")] == [created.id]


async def test_marketplace_activation_status_uninstall(yc: YClientsClient, sandbox: Sandbox) -> None:
    from sync.errors import NotFound

    with pytest.raises(NotFound):
        await yc.application_status(DEMO_SALON)
    await yc.activate(DEMO_SALON, api_key="sk_abc", webhook_urls=["http://bot/marketplace/webhook/1"])
    body = sandbox.requests_to(r"/marketplace/partner/callback$")[0].body
    assert body == {"salon_id": DEMO_SALON, "application_id": APP_ID, "api_key": "sk_abc",
                    "webhook_urls": ["http://bot/marketplace/webhook/1"]}
    status = await yc.application_status(DEMO_SALON)
    assert status.status == "active" and status.logs[-1]["status_to"] == "active"
    await yc.activate(DEMO_SALON, api_key="sk_abc")  # a repeat is fine
    await yc.uninstall(DEMO_SALON)
    with pytest.raises(NotFound):
        await yc.application_status(DEMO_SALON)


async def test_sandbox_install_helper_signs_like_yclients(sandbox_url: str, http_session) -> None:
    import base64
    import hashlib
    import hmac
    import json
    from urllib.parse import parse_qs, urlsplit

    async with http_session.get(
        f"{sandbox_url}/sandbox/install", params={"salon_id": DEMO_SALON, "target": "http://us/marketplace/yclients/install"}
    ) as resp:
        url = (await resp.json())["data"]["url"]
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    assert parts.path == "/marketplace/yclients/install" and q["salon_id"] == [str(DEMO_SALON)]
    raw = base64.b64decode(q["user_data"][0])
    assert hmac.compare_digest(hmac.new(b"partner-token-test", raw, hashlib.sha256).hexdigest(), q["user_data_sign"][0])
    assert json.loads(raw)["id"]


async def test_sandbox_clock_places_fixture_records(clock: FakeClock) -> None:
    from datetime import datetime

    later = FakeClock(datetime(2026, 12, 31, 22, 30, tzinfo=UTC))  # 01:30 Jan 1 in Moscow
    sb = Sandbox(clock=later, partner_token="p", user_token="u")
    from tests.sync.conftest import DEMO

    salon = sb.add_salon_file(DEMO)
    assert salon.local(salon.records[4003].start).date() == date(2027, 1, 1)
    assert salon.local(salon.records[4002].start).isoformat() == "2027-01-03T18:00:00+03:00"


async def test_several_salons(yc: YClientsClient, sandbox: Sandbox) -> None:
    from sync.sandbox import generated_salon

    sandbox.add_salon(generated_salon(555, services=300, staff=40))
    assert len(await yc.services(555)) == 300
    assert len(await yc.staff(555)) == 40
    assert len(await yc.services(DEMO_SALON)) == 14


async def test_user_token_optional_after_install(make_yclients: MakeClient, sandbox: Sandbox) -> None:
    from sync.errors import Forbidden

    partner_only = make_yclients(user_token="")
    await partner_only.book_services(DEMO_SALON)  # the booking chain needs no user token
    with pytest.raises(Forbidden):
        await partner_only.company(DEMO_SALON)  # admin data: not before the app is installed
    sandbox.set_install_status(DEMO_SALON, "active", "test")
    assert (await partner_only.company(DEMO_SALON)).id == DEMO_SALON


async def test_clients_search_pages_through_the_body_page(yc: YClientsClient, sandbox: Sandbox) -> None:
    salon = sandbox.salons[DEMO_SALON]
    for i in range(5):
        salon.upsert_client(f"7999000000{i}", f"Ольга {i}")
    found = await yc.search_clients(DEMO_SALON, "Ольга", page_size=2)
    assert sorted(c.name for c in found) == [f"Ольга {i}" for i in range(5)]
    pages = [r.body["page"] for r in sandbox.requests_to(r"/clients/search")]
    assert pages == [1, 2, 3]


async def test_records_changed_after_and_with_deleted(yc: YClientsClient, sandbox: Sandbox, clock: FakeClock) -> None:
    assert await yc.records(DEMO_SALON, changed_after="2026-11-23T10:30:00") == []  # all created at 10:00
    await clock.advance(3600)
    record = sandbox.salons[DEMO_SALON].records[4002]
    record.comment, record.changed_at = "позвонить", clock.now()
    sandbox.salons[DEMO_SALON].records[4003].deleted = True
    changed = await yc.records(DEMO_SALON, changed_after="2026-11-23T10:30:00")
    assert [(r.id, r.comment) for r in changed] == [(4002, "позвонить")]
    everything = await yc.records(DEMO_SALON, start_date=TODAY, end_date=TODAY, with_deleted=True)
    assert [(r.id, r.deleted) for r in everything] == [(4003, True)]
    assert await yc.records(DEMO_SALON, start_date=TODAY, end_date=TODAY) == []


async def test_book_code_then_book_record_with_the_code(yc: YClientsClient, sandbox: Sandbox) -> None:
    from sync import errors

    salon = sandbox.salons[DEMO_SALON]
    salon.company["phone_confirmation"] = True
    assert (await yc.company(DEMO_SALON)).phone_confirmation
    await yc.book_code(DEMO_SALON, "+7 916 000-11-22", "Анна")
    assert salon.sms_sent == [("79160001122", "1234")]
    slot = (await yc.book_times(DEMO_SALON, 2003, TOMORROW, [1012]))[0]
    appts = [Appointment((1012,), 2003, slot.datetime)]
    with pytest.raises(errors.WrongSmsCode):
        await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна", appointments=appts, code="0000")
    booked = await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна", appointments=appts, code="1234")
    assert booked[0].record_id


async def test_malformed_changed_after_is_a_422_not_a_500(yc: YClientsClient) -> None:
    from sync import errors

    with pytest.raises(errors.ValidationFailed) as caught:
        await yc.records(DEMO_SALON, changed_after="вчера")
    assert caught.value.status == 422 and caught.value.errors == {"changed_after": ["Неверный формат даты"]}


async def test_staff_schedule_includes_busy_intervals_when_asked(yc: YClientsClient, sandbox: Sandbox) -> None:
    path = f"/company/{DEMO_SALON}/staff/schedule"
    base = [("start_date", TOMORROW.isoformat()), ("end_date", TOMORROW.isoformat()), ("staff_ids[]", 2001)]
    plain = await yc.transport.call("GET", path, params=base, user=True, idempotent=True)
    assert "busy_intervals" not in plain.data[0]
    asked = await yc.transport.call("GET", path, params=[*base, ("include[]", "busy_intervals"),
                                                         ("include[]", "off_day_type")], user=True, idempotent=True)
    (day,) = asked.data
    assert day["busy_intervals"] == [{"entity_type": "record", "entity_id": 4001, "from": "12:00", "to": "13:00"}]
    sandbox.salons[DEMO_SALON].records[4001].deleted = True  # a cancelled record is not busy time
    again = await yc.transport.call("GET", path, params=[*base, ("include[]", "busy_intervals")], user=True,
                                    idempotent=True)
    assert again.data[0]["busy_intervals"] == []
