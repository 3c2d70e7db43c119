"""Every error the client maps, against the sandbox; retries only where they are safe."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from sync import errors
from sync.client import YClientsClient
from sync.errors import error_from_response
from sync.models import Appointment
from sync.sandbox import Sandbox
from tests.sync.conftest import DEMO_SALON, MakeClient, RecordingSleep

TOMORROW = date(2026, 11, 24)


async def _slot(yc: YClientsClient, staff_id: int = 2003, service: int = 1011, index: int = 0) -> str:
    return (await yc.book_times(DEMO_SALON, staff_id, TOMORROW, [service]))[index].datetime


async def test_401_wrong_partner_or_user_token(make_yclients: MakeClient) -> None:
    with pytest.raises(errors.AuthError) as shape_c:
        await make_yclients(partner_token="wrong").company(DEMO_SALON)
    assert shape_c.value.status == 401 and shape_c.value.message == "Необходима авторизация"
    with pytest.raises(errors.AuthError):
        await make_yclients(partner_token="wrong").book_services(DEMO_SALON)
    with pytest.raises(errors.AuthError):
        await make_yclients(user_token="stale").records(DEMO_SALON)


async def test_403_forbidden_and_404_not_found(yc: YClientsClient, sandbox: Sandbox) -> None:
    salon = sandbox.salons[DEMO_SALON]
    salon.company["allow_delete_record"] = False
    with pytest.raises(errors.Forbidden) as forbidden:
        await yc.cancel(4001, salon.records[4001].record_hash)
    assert forbidden.value.status == 403 and not isinstance(forbidden.value, errors.BookingError)
    with pytest.raises(errors.NotFound):
        await yc.company(999)
    with pytest.raises(errors.NotFound):
        await yc.cancel(4001, "0" * 32)  # wrong hash
    with pytest.raises(errors.NotFound):
        await yc.record(DEMO_SALON, 123)


@pytest.mark.parametrize(
    ("code", "error_cls", "status"),
    [
        (431, errors.InvalidPhone, 422),
        (432, errors.WrongSmsCode, 422),
        (433, errors.SlotTaken, 422),
        (434, errors.ClientBlacklisted, 403),
        (435, errors.ClientNameMissing, 422),
        (436, errors.NoStaffAvailable, 422),
        (437, errors.AppointmentsOverlap, 422),
        (438, errors.ServiceUnavailable, 422),
    ],
)
async def test_booking_codes_map_to_named_errors(
    yc: YClientsClient, sandbox: Sandbox, code: int, error_cls: type, status: int
) -> None:
    salon = sandbox.salons[DEMO_SALON]
    slot = await _slot(yc)
    appts = [Appointment(services=(1011,), staff_id=2003, datetime=slot)]
    kwargs = {"phone": "79160001122", "fullname": "Анна"}
    if code == 431:
        kwargs["phone"] = "12"
    elif code == 432:
        salon.sms_code = "1234"
    elif code == 433:
        appts = [Appointment(services=(1011,), staff_id=2003, datetime=f"{TOMORROW}T14:00:00+03:00")]  # record 4004
    elif code == 434:
        salon.blacklist.add("79160001122")
    elif code == 435:
        kwargs["fullname"] = " "
    elif code == 436:
        appts = [Appointment(services=(1011,), staff_id=0, datetime=f"{TOMORROW}T07:00:00+03:00")]
    elif code == 437:
        # Марина 10:00-11:30 and Дарья at 11:00: each free, but one client cannot be in both
        appts = [appts[0], Appointment(services=(1021,), staff_id=2005, datetime=f"{TOMORROW}T11:00:00+03:00", id=2)]
    elif code == 438:
        salon.services[1011].active = False
    with pytest.raises(error_cls) as caught:
        await yc.book_record(DEMO_SALON, appointments=appts, **kwargs)
    assert caught.value.code == code and caught.value.status == status
    if code in (433, 437):
        assert caught.value.appointment_id == appts[-1].id
    # nothing was booked, and book_record was sent exactly once
    assert len(sandbox.requests_to(r"/book_record/", "POST")) == 1
    assert set(salon.records) == {4001, 4002, 4003, 4004}


async def test_book_check_codes(yc: YClientsClient) -> None:
    with pytest.raises(errors.SlotTaken) as taken:
        await yc.book_check(DEMO_SALON, [Appointment((1011,), 2003, f"{TOMORROW}T14:15:00+03:00", id=7)])
    assert taken.value.appointment_id == 7
    with pytest.raises(errors.ValidationFailed) as empty:
        await yc.book_check(DEMO_SALON, [Appointment((), 2003, f"{TOMORROW}T10:00:00+03:00")])
    assert empty.value.code is None or empty.value.code == 422


async def test_429_retried_with_retry_after_then_ok(yc: YClientsClient, sandbox: Sandbox, sleeps: RecordingSleep) -> None:
    fault = sandbox.add_fault(r"/book_services/", "rate_limit", retry_after_s=1.5, times=2)
    book = await yc.book_services(DEMO_SALON)
    assert book.services and fault.hits == 2
    assert sleeps.delays == [1.5, 1.5]


async def test_429_gives_up_after_max_attempts(make_yclients: MakeClient, sandbox: Sandbox) -> None:
    sandbox.add_fault(r"/book_services/", "rate_limit")
    with pytest.raises(errors.RateLimited) as caught:
        await make_yclients(max_attempts=3).book_services(DEMO_SALON)
    assert caught.value.status == 429 and caught.value.retry_after_s is None
    assert len(sandbox.requests_to(r"/book_services/")) == 3


async def test_5xx_retried_with_capped_exponential_backoff(
    make_yclients: MakeClient, sandbox: Sandbox, sleeps: RecordingSleep
) -> None:
    sandbox.add_fault(r"/company/", "status", status=503)
    yc = make_yclients(max_attempts=6, backoff_base_s=0.5, backoff_cap_s=3.0)
    with pytest.raises(errors.ServerError) as caught:
        await yc.company(DEMO_SALON)
    assert caught.value.status == 503
    assert sleeps.delays == [0.5, 1.0, 2.0, 3.0, 3.0]  # rand()=1.0: the ceiling of the jitter


def test_backoff_jitter_stays_between_half_and_the_ceiling() -> None:
    from sync.config import YClientsConfig
    from sync.http import ApiTransport

    low = ApiTransport(YClientsConfig(backoff_base_s=1, backoff_cap_s=8), None, rand=lambda: 0.0)  # type: ignore[arg-type]
    err = errors.ServerError("x", status=500)
    assert [low.backoff_s(a, err) for a in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


async def test_html_page_is_its_own_error_and_retried(yc: YClientsClient, sandbox: Sandbox) -> None:
    sandbox.add_fault(r"/partner/callback", "html", status=502, times=1)
    await yc.activate(DEMO_SALON, api_key="k")  # one HTML page, then 201
    assert len(sandbox.requests_to(r"/partner/callback")) == 2
    sandbox.add_fault(r"/book_staff/", "html", status=200)
    with pytest.raises(errors.NonJsonResponse) as caught:
        await yc.book_staff(DEMO_SALON)
    assert caught.value.status == 200 and "<!DOCTYPE html>" in caught.value.snippet


async def test_book_record_is_never_retried(yc: YClientsClient, sandbox: Sandbox) -> None:
    slot = await _slot(yc)
    sandbox.add_fault(r"/book_record/", "status", status=502, method="POST")
    with pytest.raises(errors.ServerError):
        await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                             appointments=[Appointment((1011,), 2003, slot)])
    assert len(sandbox.requests_to(r"/book_record/", "POST")) == 1


async def test_timeout_retried_for_reads_not_for_book_record(make_yclients: MakeClient, sandbox: Sandbox) -> None:
    yc = make_yclients(timeout_s=0.05, max_attempts=2)
    sandbox.add_fault(r"/book_dates/", "latency", delay_s=0.3)
    with pytest.raises(errors.TimeoutError_):
        await yc.book_dates(DEMO_SALON)
    assert len(sandbox.requests_to(r"/book_dates/")) == 2
    sandbox.add_fault(r"/book_record/", "latency", delay_s=0.3)
    with pytest.raises(errors.TimeoutError_):
        await yc.book_record(DEMO_SALON, phone="79160001122", fullname="Анна",
                             appointments=[Appointment((1011,), 2003, f"{TOMORROW}T10:00:00+03:00")])
    assert len(sandbox.requests_to(r"/book_record/")) == 1


async def test_connection_refused_is_a_transport_error(make_yclients: MakeClient) -> None:
    from tests.conftest import free_port

    yc = make_yclients(base_url=f"http://127.0.0.1:{free_port()}", max_attempts=2)
    with pytest.raises(errors.TransportError):
        await yc.book_services(DEMO_SALON)
    assert yc.requests_sent == 2


async def test_wrong_accept_header_rejected_by_sandbox(sandbox_url: str, http_session) -> None:
    async with http_session.get(f"{sandbox_url}/api/v1/book_services/{DEMO_SALON}",
                                headers={"Authorization": "Bearer partner-token-test"}) as resp:
        assert resp.status == 406
        assert (await resp.json())["success"] is False


def test_error_mapping_shapes() -> None:
    shape_c = '{"errors": {"code": 404, "message": "Нет"}, "meta": {"message": "Нет"}}'
    assert isinstance(error_from_response(404, "application/json", shape_c), errors.NotFound)
    by_field = '{"success": false, "data": null, "meta": {"message": "x", "errors": {"phone": ["bad"]}}}'
    err = error_from_response(422, "application/json", by_field)
    assert type(err) is errors.ValidationFailed and err.errors == {"phone": ["bad"]}
    assert isinstance(error_from_response(402, "application/json", '{"success": false, "meta": []}'),
                      errors.PaymentRequired)
    assert isinstance(error_from_response(400, "application/json", "{}"), errors.BadRequest)
    assert isinstance(error_from_response(500, "text/html", "<html>"), errors.NonJsonResponse)
    assert isinstance(error_from_response(500, "application/json", '{"success": false}'), errors.ServerError)
    rl = error_from_response(429, "application/json", "{}", {"Retry-After": "3"})
    assert isinstance(rl, errors.RateLimited) and rl.retry_after_s == 3.0


def test_lenient_models() -> None:
    from sync.models import Record, Service, Staff, TimeSlot

    s = Service.from_api({"id": "16", "title": "X", "price_min": "1000.00", "active": "1", "staff": []})
    assert s.id == 16 and s.price_min == 1000.0 and s.active
    m = Staff.from_api({"id": 1, "name": "A", "position": [], "fired": 0})
    assert m.position == "" and not m.fired
    t = TimeSlot.from_api({"time": "12:00", "seance_length": 3600, "datetime": 1790000000})
    assert t.starts_at.timestamp() == 1790000000 and t.sum_length_s == 3600
    r = Record.from_api({"id": 1, "datetime": "2026-09-21T12:00:00+0300", "client": None, "visit_id": "82",
                         "services": [{"id": 2}, {"id": 1}], "attendance": -1})
    assert r.client is None and r.visit_id == 82 and r.service_ids == (1, 2) and r.cancelled
    assert r.starts_at is not None and r.starts_at.utcoffset() == timedelta(hours=3)


def test_record_hashes_are_masked_in_logged_paths() -> None:
    from sync.http import loggable

    assert loggable("/user/records/2820023/567df655304da9b98487769426d4e76e") == "/user/records/2820023/<hash>"
    assert loggable("/book_record/1/2/567df655304da9b98487769426d4e76e") == "/book_record/1/2/<hash>"
    assert loggable("/records/4564") == "/records/4564"


async def test_json_under_a_wrong_content_type_is_read_and_a_real_html_page_retried(
    yc: YClientsClient, sandbox: Sandbox, sleeps: RecordingSleep
) -> None:
    fault = sandbox.add_fault(r"/book_staff/", "content_type", content_type="text/html")
    staff = await yc.book_staff(DEMO_SALON, service_ids=[1011])  # valid JSON labelled text/html: the answer
    assert [m.id for m in staff] == [2003, 2004] and fault.hits == 1 and sleeps.delays == []
    sandbox.add_fault(r"/company/", "content_type", content_type="text/plain")
    assert (await yc.company(DEMO_SALON)).timezone_name == "Europe/Moscow"
    sandbox.add_fault(r"/book_dates/", "html", status=200, times=2)  # genuinely not JSON: retried, then fine
    assert (await yc.book_dates(DEMO_SALON, month_of=TOMORROW)).working_dates
    assert len(sandbox.requests_to(r"/book_dates/")) == 3 and len(sleeps.delays) == 2


def test_parse_answer_reads_json_whatever_the_content_type() -> None:
    from sync.http import parse_answer

    ok = parse_answer(200, "text/html; charset=utf-8", '{"success": true, "data": {"id": 1}, "meta": []}')
    assert ok.data == {"id": 1}
    assert parse_answer(200, "", "[1, 2]").data == [1, 2]  # a bare body with no Content-Type
    for ctype, text in (("text/html", "<!DOCTYPE html><html>oops</html>"), ("application/json", "{broken")):
        with pytest.raises(errors.NonJsonResponse) as caught:
            parse_answer(200, ctype, text)
        assert caught.value.retryable and caught.value.status == 200 and caught.value.snippet.startswith(text[:5])
    with pytest.raises(errors.ValidationFailed):  # an error status with JSON under text/plain is still mapped
        parse_answer(422, "text/plain", '{"success": false, "data": null, "meta": {"message": "x"}}')
