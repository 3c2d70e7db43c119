"""The session state machine through the simulator: QR series, scan, pairing, faults, backoff, restart."""

from __future__ import annotations

import json

import pytest

from gateway.clock import FakeClock
from sessions import keys
from sessions.api import SessionState as S
from sessions.session import Session
from sessions.sim_phone import SimError
from sessions.state import TRANSITIONS, backoff_s, can_transition
from tests.sessions.conftest import Engine, EngineFactory, eventually


async def park_and_advance(clock: FakeClock, seconds: float) -> None:
    """Advance once some loop is parked on the clock (the session's backoff or the QR timer)."""
    await eventually(lambda: _true(clock.pending_sleepers > 0))
    await clock.advance(seconds)


async def _true(value: bool) -> bool:
    return value


async def connect(engine: Engine, company: int, phone: str = "+79990001122") -> None:
    await engine.manager.start(company)
    await engine.recorder.wait_state(company, S.SCAN_QR)
    await engine.phone.scan(company, phone)
    await engine.recorder.wait_event(company, "connected")


def test_transition_table_refuses_nonsense() -> None:
    assert can_transition(S.STOPPED, S.STARTING)
    assert not can_transition(S.STOPPED, S.CONNECTED)
    assert not can_transition(S.CONNECTED, S.QR_EXPIRED)
    assert not can_transition(S.CONNECTED, S.CONNECTED)
    for terminal in (S.LOGGED_OUT, S.REPLACED, S.BANNED, S.CLIENT_OUTDATED, S.FAILED):
        # Terminal states are left only by an explicit start, never by the reconnect logic.
        assert not can_transition(terminal, S.DISCONNECTED)
        assert not can_transition(terminal, S.CONNECTED)
        assert can_transition(terminal, S.STARTING)
    assert set(TRANSITIONS) == set(S)


def test_backoff_is_exponential_jittered_and_capped() -> None:
    import random

    rng = random.Random(7)
    delays = [backoff_s(n, 2.0, 60.0, rng) for n in range(1, 10)]
    for n, d in enumerate(delays, start=1):
        ceiling = min(60.0, 2.0 * 2 ** (n - 1))
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 60.0
    assert len({round(d, 6) for d in delays}) == len(delays)  # jitter: no two alike


async def test_invalid_transition_is_refused_and_not_persisted(engine: Engine, company: int) -> None:
    session = Session(engine.manager._ctx, company)
    assert await session.transition(S.STARTING, "connecting")
    assert not await session.transition(S.QR_EXPIRED, "nonsense")  # STARTING -> QR_EXPIRED is not allowed
    row = await engine.manager.store.get_session(company)
    assert row is not None and row.state == "STARTING" and row.reason == "connecting"


async def test_scan_connects_with_phone_and_publishes(engine: Engine, company: int, redis) -> None:
    await engine.manager.start(company)
    await engine.recorder.wait_state(company, S.SCAN_QR)
    qr = await engine.manager.current_qr(company)
    assert qr is not None and qr.code.startswith("2@")
    stored = json.loads(await redis.get(keys.current_qr(company)))
    assert stored["qr"] == qr.code and stored["expires_at"] - stored["generated_at"] == 60
    assert 0 < await redis.pttl(keys.current_qr(company)) <= 60_000
    first = await engine.recorder.wait_event(company, "qr")
    assert first.data == {"qr": qr.code, "expires_in": 60}

    await engine.phone.scan(company, "+79991234567")
    await engine.recorder.wait_event(company, "connected")
    info = await engine.manager.info(company)
    assert info.state is S.CONNECTED and info.phone == "+79991234567" and info.connected
    assert info.desired == "running" and info.attempts == 0 and info.connected_at is not None
    assert engine.recorder.of_type(company, "connected")[0].data == {"phone": "+79991234567"}
    assert await engine.manager.current_qr(company) is None
    assert await redis.get(keys.current_qr(company)) is None
    assert engine.recorder.states(company) == ["STARTING", "SCAN_QR", "CONNECTED"]
    row = await engine.manager.store.get_session(company)
    assert row is not None and row.state == "CONNECTED" and row.phone == "+79991234567" and row.jid


async def test_qr_rotation_timings_then_expired(engine: Engine, company: int, clock: FakeClock) -> None:
    await engine.manager.start(company)
    await engine.recorder.wait_state(company, S.SCAN_QR)
    rec = engine.recorder

    async def qrs(n: int) -> None:
        await eventually(lambda: _true(len(rec.of_type(company, "qr")) >= n))

    await qrs(1)
    await park_and_advance(clock, 59)
    assert len(rec.of_type(company, "qr")) == 1  # the first QR lives 60 s
    await clock.advance(1)
    await qrs(2)
    for n in range(3, 7):
        await park_and_advance(clock, 19.5)
        assert len(rec.of_type(company, "qr")) == n - 1
        await clock.advance(0.5)
        await qrs(n)
    assert [e.data["expires_in"] for e in rec.of_type(company, "qr")] == [60, 20, 20, 20, 20, 20]
    assert len({e.data["qr"] for e in rec.of_type(company, "qr")}) == 6
    await park_and_advance(clock, 20)
    await rec.wait_state(company, S.QR_EXPIRED)
    assert await engine.manager.current_qr(company) is None
    with pytest.raises(SimError):
        await engine.phone.scan(company)  # nothing on screen any more
    # QR_EXPIRED waits for a request; nothing restarts by itself.
    await clock.advance(3600)
    assert rec.states(company)[-1] == "QR_EXPIRED"
    await engine.manager.request_qr(company)
    await rec.wait_count(company, S.SCAN_QR, 2)


async def test_pairing_code_connects(engine: Engine, company: int) -> None:
    code, expires_in = await engine.manager.request_pairing_code(company, "+79161234567")
    assert len(code) == 9 and code[4] == "-" and expires_in == 60
    await engine.recorder.wait_state(company, S.PAIRING)
    assert engine.recorder.of_type(company, "pairing_code")[-1].data == {"code": code, "expires_in": 60}
    with pytest.raises(SimError):
        await engine.phone.confirm_pairing(company, "WRON-GCOD")
    assert await engine.phone.confirm_pairing(company, code.lower()) == "+79161234567"
    await engine.recorder.wait_state(company, S.CONNECTED)
    assert (await engine.manager.info(company)).phone == "+79161234567"
    with pytest.raises(ValueError):
        await engine.manager.request_pairing_code(company, "8916")


async def test_disconnect_backs_off_and_reconnects(engine: Engine, company: int, clock: FakeClock) -> None:
    await connect(engine, company)
    await engine.phone.fault(company, "disconnect")
    await engine.recorder.wait_state(company, S.DISCONNECTED)
    info = await engine.manager.info(company)
    assert info.attempts == 1 and "connection lost" in (info.last_error or "")
    await park_and_advance(clock, 0.9)  # the first delay is 1..2 s
    assert engine.recorder.states(company)[-1] == "DISCONNECTED"
    await clock.advance(1.2)
    await engine.recorder.wait_count(company, S.CONNECTED, 2)
    assert engine.recorder.states(company)[-3:] == ["DISCONNECTED", "STARTING", "CONNECTED"]
    info = await engine.manager.info(company)
    assert info.attempts == 0 and info.last_error is None


async def test_repeated_failures_end_in_failed(make_engine: EngineFactory, company: int, clock: FakeClock) -> None:
    engine = await make_engine(sessions={"max_attempts": 3, "backoff_base_s": 2.0, "backoff_cap_s": 10.0})
    await connect(engine, company)
    await engine.phone.fault(company, "disconnect", count=50)  # the next attempts are refused too
    await engine.recorder.wait_state(company, S.DISCONNECTED)
    for _ in range(2):
        await park_and_advance(clock, 10)
    await engine.recorder.wait_state(company, S.FAILED)
    info = await engine.manager.info(company)
    assert info.state is S.FAILED and info.attempts == 3
    assert "connection refused" in (info.last_error or "") and "gave up after 3" in (info.reason or "")
    # FAILED is terminal: no automatic retry.
    await clock.advance(3600)
    assert engine.recorder.states(company)[-1] == "FAILED"


@pytest.mark.parametrize(
    ("kind", "state", "reason_part"),
    [
        ("logout", S.LOGGED_OUT, "logged out from the phone"),
        ("ban", S.BANNED, "temporary ban"),
        ("replaced", S.REPLACED, "another client"),
        ("outdated", S.CLIENT_OUTDATED, "client version"),
    ],
)
async def test_terminal_faults_are_not_retried(
    engine: Engine, company: int, clock: FakeClock, kind: str, state: S, reason_part: str
) -> None:
    await connect(engine, company)
    await engine.phone.fault(company, kind)
    await engine.recorder.wait_state(company, state)
    info = await engine.manager.info(company)
    assert info.state is state and reason_part in (info.reason or "")
    await clock.advance(7200)
    assert engine.recorder.states(company)[-1] == state.value
    assert engine.manager.transport_for(company) is None
    if kind == "logout":
        assert await engine.phone.linked_phone(company) is None  # the device is gone
    else:
        assert await engine.phone.linked_phone(company) == "+79990001122"


async def test_restart_restores_connected_without_scan(make_engine: EngineFactory, company: int, pool) -> None:
    first = await make_engine()
    await connect(first, company)
    await first.close()
    row = await first.manager.store.get_session(company)
    assert row is not None and row.desired == "running"

    second = await make_engine()
    assert await second.manager.restore() == 1
    await second.recorder.wait_state(company, S.CONNECTED)
    assert second.recorder.of_type(company, "qr") == []
    assert (await second.manager.info(company)).phone == "+79990001122"


async def test_stop_keeps_device_and_is_not_restored(make_engine: EngineFactory, company: int) -> None:
    first = await make_engine()
    await connect(first, company)
    info = await first.manager.stop(company)
    assert info.state is S.STOPPED and info.desired == "stopped"
    assert await first.phone.linked_phone(company) == "+79990001122"
    second = await make_engine()
    assert await second.manager.restore() == 0
    # Started again by hand, it resumes without a scan.
    await second.manager.start(company)
    await second.recorder.wait_state(company, S.CONNECTED)


async def test_logout_deletes_credentials(engine: Engine, company: int) -> None:
    await connect(engine, company)
    info = await engine.manager.logout(company)
    assert info.state is S.LOGGED_OUT and info.desired == "stopped"
    assert await engine.phone.linked_phone(company) is None
    await engine.manager.start(company)
    await engine.recorder.wait_count(company, S.SCAN_QR, 2)  # a new QR series: must scan again


async def test_info_of_unknown_company_is_stopped(engine: Engine) -> None:
    info = await engine.manager.info(999_999)
    assert info.state is S.STOPPED and info.desired == "stopped"


async def test_a_ban_with_an_unrepresentable_expiry_still_ends_banned(engine: Engine, company: int) -> None:
    await connect(engine, company)
    # What WhatsApp says is not ours to trust: an absurd expiry must not crash the session loop.
    await engine.phone._command(company, {"kind": "ban", "count": 1, "expires_in_s": 1e308})
    await engine.recorder.wait_state(company, S.BANNED)
    info = await engine.manager.info(company)
    assert info.state is S.BANNED and "temporary ban" in (info.reason or "")


async def test_a_start_after_close_launches_nothing(engine: Engine, company: int) -> None:
    await engine.manager.close()
    info = await engine.manager.start(company)  # e.g. a request still in flight during shutdown
    assert info.state is S.STOPPED
    assert not engine.manager._sessions[company].running
    assert engine.recorder.states(company) in ([], ["STOPPED"])


async def test_a_failed_unlink_is_logged_not_hidden(engine: Engine, company: int) -> None:
    from structlog.testing import capture_logs

    await connect(engine, company)
    transport = engine.manager._sessions[company].transport
    assert transport is not None

    async def failing_logout() -> None:
        raise ConnectionError("whatsapp unreachable")

    transport.logout = failing_logout  # type: ignore[method-assign]
    with capture_logs() as logs:
        info = await engine.manager.logout(company)
    assert info.state is S.LOGGED_OUT  # credentials are forgotten locally anyway
    failed = [e for e in logs if e["event"] == "session_logout_failed"]
    assert failed and failed[0]["company_id"] == company and "whatsapp unreachable" in failed[0]["error"]
