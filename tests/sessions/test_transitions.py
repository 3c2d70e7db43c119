"""Transitions the basic state-machine tests leave out: leaving terminal states by request, terminal
faults before the session is paired, non-transient drops, restore pacing, FAILED in the status route."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.appkeys import CLOCK, POOL
from gateway.clock import FakeClock
from gateway.wiring.sessions import SESSION_MANAGER, SIM_PHONE
from sessions.api import SessionState as S
from sessions.config import SessionsConfig
from sessions.manager import SessionManager
from sessions.transport import Transport
from tests.conftest import ADMIN_KEY, app_of
from tests.sessions.conftest import Engine, Recorder, eventually, make_company
from tests.sessions.test_state_machine import connect


async def cause_terminal(engine: Engine, company: int, kind: str, state: S) -> None:
    await engine.phone.fault(company, kind, expires_in_s=60)
    await engine.recorder.wait_state(company, state)


@pytest.mark.parametrize(
    ("kind", "state"),
    [("ban", S.BANNED), ("replaced", S.REPLACED), ("outdated", S.CLIENT_OUTDATED), ("pairing_failed", S.FAILED)],
)
async def test_an_explicit_start_leaves_a_terminal_state(
    engine: Engine, company: int, clock: FakeClock, kind: str, state: S
) -> None:
    await connect(engine, company)
    await cause_terminal(engine, company, kind, state)
    await clock.advance(120)  # nothing restarts by itself (and a 60 s ban has run out)
    assert engine.recorder.states(company)[-1] == state.value
    await engine.manager.start(company)
    await engine.recorder.wait_count(company, S.CONNECTED, 2)
    assert engine.recorder.states(company)[-3:] == [state.value, "STARTING", "CONNECTED"]
    info = await engine.manager.info(company)
    assert info.state is S.CONNECTED and info.attempts == 0 and info.last_error is None


async def test_a_start_while_still_banned_ends_banned_again(engine: Engine, company: int, clock: FakeClock) -> None:
    await connect(engine, company)
    await engine.phone.fault(company, "ban", expires_in_s=3600)
    await engine.recorder.wait_state(company, S.BANNED)
    await engine.manager.start(company)
    await engine.recorder.wait_count(company, S.BANNED, 2)
    assert engine.recorder.states(company)[-3:] == ["BANNED", "STARTING", "BANNED"]
    row = await engine.manager.store.get_session(company)
    assert row is not None and row.state == "BANNED" and row.banned_until is not None
    assert row.banned_until.timestamp() == pytest.approx(clock.time() + 3600)
    await clock.advance(3601)
    await engine.manager.start(company)
    await engine.recorder.wait_count(company, S.CONNECTED, 2)


async def test_nobody_types_the_pairing_code_and_the_series_expires(
    engine: Engine, company: int, clock: FakeClock
) -> None:
    await engine.manager.request_pairing_code(company, "+79161234567")
    await engine.recorder.wait_state(company, S.PAIRING)

    async def expired() -> bool:
        if "QR_EXPIRED" in engine.recorder.states(company):
            return True
        if clock.pending_sleepers:
            await clock.advance(20)  # the QR series runs on while a code is pending
        return False

    await eventually(expired)
    assert engine.recorder.states(company)[-2:] == ["PAIRING", "QR_EXPIRED"]
    await clock.advance(3600)
    assert engine.recorder.states(company)[-1] == "QR_EXPIRED"


@pytest.mark.parametrize(
    ("pairing", "kind", "state"),
    [
        (False, "ban", S.BANNED),
        (False, "pairing_failed", S.FAILED),
        (True, "replaced", S.REPLACED),
        (True, "outdated", S.CLIENT_OUTDATED),
        (True, "pairing_failed", S.FAILED),
    ],
)
async def test_a_terminal_fault_before_pairing_ends_the_session(
    engine: Engine, company: int, clock: FakeClock, pairing: bool, kind: str, state: S
) -> None:
    if pairing:
        await engine.manager.request_pairing_code(company, "+79161234567")
        waiting = S.PAIRING
    else:
        await engine.manager.start(company)
        waiting = S.SCAN_QR
    await engine.recorder.wait_state(company, waiting)
    await engine.phone.fault(company, kind)
    await engine.recorder.wait_state(company, state)
    assert engine.recorder.states(company)[-2:] == [waiting.value, state.value]
    assert await engine.manager.current_qr(company) is None
    await clock.advance(7200)
    assert engine.recorder.states(company)[-1] == state.value  # never retried automatically
    await eventually(lambda: _true(not engine.manager._sessions[company].running))  # its loop ended


async def test_a_non_transient_disconnect_fails_the_session_through_its_loop(
    engine: Engine, company: int, clock: FakeClock
) -> None:
    await connect(engine, company)
    await engine.phone.fault(company, "pairing_failed")
    await engine.recorder.wait_state(company, S.FAILED)
    info = await engine.manager.info(company)
    assert info.state is S.FAILED and "pairing_failed" in (info.reason or "")
    assert "pairing_failed" in (info.last_error or "")
    assert engine.recorder.states(company)[-2:] == ["CONNECTED", "FAILED"]  # no DISCONNECTED / backoff
    await clock.advance(7200)
    assert engine.recorder.states(company)[-1] == "FAILED"
    assert engine.manager.transport_for(company) is None


# --- restore ------------------------------------------------------------------------------------


async def test_restore_starts_only_sessions_that_should_run(engine: Engine, pool: Any, clock: FakeClock) -> None:
    store = engine.manager.store
    wanted: dict[int, tuple[str, str]] = {}
    cases = [("running", "STOPPED"), ("running", "CONNECTED"), ("running", "DISCONNECTED"),
             ("running", "BANNED"), ("running", "LOGGED_OUT"), ("running", "FAILED"), ("running", "REPLACED"),
             ("running", "CLIENT_OUTDATED"), ("running", "QR_EXPIRED"), ("stopped", "CONNECTED")]
    for i, (desired, state) in enumerate(cases):
        company = await make_company(pool, 700 + i)
        await store.save_state(company, state=state, reason="before the restart", jid=None, phone=None, attempts=0,
                               last_error=None, banned_until=None, connected_at=None, now=clock.now())
        await store.set_desired(company, desired, clock.now())
        wanted[company] = (desired, state)
    assert await engine.manager.restore() == 3
    started = {e.company_id for e in engine.recorder.events if e.type == "state" and e.data["state"] == "STARTING"}
    assert {wanted[c] for c in started} == {("running", "STOPPED"), ("running", "CONNECTED"),
                                            ("running", "DISCONNECTED")}
    for company, (_, state) in wanted.items():
        if company not in started:  # terminal states wait for a person; their rows are left alone
            row = await store.get_session(company)
            assert row is not None and row.state == state and row.reason == "before the restart"


class _GatedFactory:
    """Wraps the simulator factory: each start waits for the test, and the order of things is logged."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.idempotent_send = True
        self.inflight = 0
        self.peak = 0
        self.gates: list[asyncio.Future[None]] = []
        self.log: list[str] = []
        self.gated = True

    def create(self, company_id: int) -> Transport:
        transport = self.inner.create(company_id)
        inner_start = transport.start
        factory = self

        async def start() -> None:
            factory.log.append("start")
            factory.inflight += 1
            factory.peak = max(factory.peak, factory.inflight)
            try:
                if factory.gated:
                    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    factory.gates.append(gate)
                    await gate
            finally:
                factory.inflight -= 1
            await inner_start()

        transport.start = start  # type: ignore[method-assign]
        return transport  # type: ignore[no-any-return]

    async def forget(self, company_id: int) -> None:
        await self.inner.forget(company_id)


@pytest.fixture
async def paced(engine: Engine, pool: Any, redis: Any, clock: FakeClock) -> AsyncIterator[Any]:
    """Build a manager on a gated factory with an injected stagger sleep; closes what it built."""
    built: list[SessionManager] = []

    def build(concurrency: int, stagger_ms: int, pace: Any) -> tuple[SessionManager, _GatedFactory]:
        factory = _GatedFactory(engine.factory)
        manager = SessionManager(pool, redis, factory, SessionsConfig(restore_concurrency=concurrency,  # type: ignore[arg-type]
                                 restore_stagger_ms=stagger_ms), clock, engine.tasks, pace=pace)
        built.append(manager)
        return manager, factory

    yield build
    for manager in built:
        await manager.close()


async def _desired_running(engine: Engine, pool: Any, clock: FakeClock, n: int) -> list[int]:
    companies = [await make_company(pool, 800 + i) for i in range(n)]
    for company in companies:
        await engine.manager.store.set_desired(company, "running", clock.now())
    return companies


async def test_restore_starts_at_most_restore_concurrency_at_once(
    engine: Engine, pool: Any, clock: FakeClock, paced: Any
) -> None:
    async def no_pause(_s: float) -> None:
        return None

    manager, factory = paced(2, 10, no_pause)
    await _desired_running(engine, pool, clock, 5)
    restore = asyncio.ensure_future(manager.restore())
    for released, expected in enumerate((2, 2, 2, 2, 1)):  # the slots refill as starts finish, never beyond two
        await eventually(
            lambda e=expected, r=released: _true(factory.inflight == e and len(factory.gates) == r + e)
        )
        assert factory.peak <= 2
        factory.gates[released].set_result(None)
    assert await asyncio.wait_for(restore, 10) == 5
    assert factory.peak == 2


async def test_restore_staggers_starts_holding_the_slot(
    engine: Engine, pool: Any, clock: FakeClock, paced: Any
) -> None:
    async def pace(delay_s: float) -> None:
        factory.log.append(f"pause {delay_s}")

    manager, factory = paced(1, 250, pace)
    factory.gated = False
    await _desired_running(engine, pool, clock, 3)
    assert await manager.restore() == 3
    assert factory.log == ["start", "pause 0.25"] * 3


async def _true(value: bool) -> bool:
    return value


# --- the status route ---------------------------------------------------------------------------


async def test_status_shows_failed_with_the_last_error(make_client: Any) -> None:
    client = await make_client(session_max_attempts=2)
    app = app_of(client)
    manager, phone, clock = app[SESSION_MANAGER], app[SIM_PHONE], app[CLOCK]
    recorder = Recorder()
    manager.add_listener(recorder)
    company = await make_company(app[POOL], 990)
    await manager.start(company)
    await recorder.wait_state(company, S.SCAN_QR)
    await phone.scan(company)
    await recorder.wait_event(company, "connected")
    await phone.fault(company, "disconnect", count=50)  # the reconnects are refused too
    await recorder.wait_state(company, S.DISCONNECTED)

    async def failed() -> bool:
        if "FAILED" in recorder.states(company):
            return True
        await clock.advance(1)  # the reconnect backoff (other loops sleep on this clock too)
        return False

    await eventually(failed)

    body = await (await client.get(f"/marketplace/status/{company}", headers={"X-API-Key": ADMIN_KEY})).json()
    assert body["success"] is True and body["whatsapp_connected"] is False
    assert body["session_state"] == "FAILED" and "gave up after 2 attempts" in body["session_reason"]
    assert "connection refused" in body["session_last_error"]
