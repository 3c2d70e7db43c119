"""Inbound texts survive a short Postgres outage: kept in memory per session, retried in order."""

from __future__ import annotations

import asyncpg
from structlog.testing import capture_logs

from gateway.clock import FakeClock
from sessions.transport import IncomingText
from tests.sessions.conftest import Engine, EngineFactory, eventually
from tests.sessions.test_inbox import RecordingHandler
from tests.sessions.test_state_machine import connect

CLIENT = "+79161234567"


class FlakySink:
    """The inbox's accept, failing the first `failures` calls the way a dropped Postgres does."""

    def __init__(self, engine: Engine, failures: int, error: Exception | None = None) -> None:
        self.inner = engine.inbox.accept
        self.failures = failures
        self.error = error or asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        self.calls: list[str] = []

    async def __call__(self, company_id: int, event: IncomingText) -> object:
        self.calls.append(event.text)
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        return await self.inner(company_id, event)


async def inbound_texts(engine: Engine, company: int) -> list[str]:
    return [m.text for m in await engine.outbox.store.list_messages(company) if m.direction == "in"]


async def test_a_short_postgres_outage_loses_no_inbound_and_keeps_their_order(
    engine: Engine, company: int, clock: FakeClock
) -> None:
    handler = RecordingHandler()
    engine.inbox.set_handler(handler)
    await connect(engine, company)
    sink = FlakySink(engine, failures=4)
    engine.manager.set_message_sink(sink)
    texts = ["Здравствуйте", "Хочу на стрижку", "Завтра после 18?"]
    for text in texts:
        await engine.phone.inbound(company, CLIENT, text)
    session = engine.manager._sessions[company]
    await eventually(lambda: _true(session.inbound.waiting == 3))
    assert sink.calls == ["Здравствуйте"]  # the later ones wait behind the first, untried

    async def all_stored() -> bool:
        if await inbound_texts(engine, company) == texts:
            return True
        if clock.pending_sleepers:
            await clock.advance(30)  # the retry backoff (capped) runs on the app clock
        return False

    await eventually(all_stored)
    assert sink.calls == ["Здравствуйте"] * 5 + texts[1:]  # retried in order, each stored once
    await engine.inbox.drain()
    assert [m.text for m in sorted(handler.seen, key=lambda m: m.id)] == texts  # and each handled once
    assert session.inbound.waiting == 0


async def test_the_retry_buffer_is_bounded_and_bad_data_is_not_retried(
    make_engine: EngineFactory, company: int, clock: FakeClock
) -> None:
    engine = await make_engine(sessions={"inbound_retry_max": 2})
    await connect(engine, company)
    sink = FlakySink(engine, failures=1000)
    engine.manager.set_message_sink(sink)
    session = engine.manager._sessions[company]
    with capture_logs() as logs:
        for text in ["Раз", "Два", "Три"]:
            await engine.phone.inbound(company, CLIENT, text)
        await eventually(lambda: _true(any(e["event"] == "inbound_lost" for e in logs)))
    assert session.inbound.waiting == 2
    lost = [e for e in logs if e["event"] == "inbound_lost"]
    assert len(lost) == 1 and lost[0]["company_id"] == company and lost[0]["log_level"] == "error"
    sink.failures = 0
    await eventually(lambda: _advance_until(clock, lambda: session.inbound.waiting == 0))
    assert await inbound_texts(engine, company) == ["Раз", "Два"]

    # A message the store refuses for good (bad data) is dropped at once, not retried forever.
    sink.failures, sink.error = 1, asyncpg.DataError("invalid byte sequence")
    calls_before = len(sink.calls)
    with capture_logs() as logs:
        await engine.phone.inbound(company, CLIENT, "Четыре")
        await engine.phone.inbound(company, CLIENT, "Пять")
        await eventually(lambda: _stored(engine, company, "Пять"))
    assert session.inbound.waiting == 0 and len(sink.calls) == calls_before + 2
    ours = ("inbound_lost", "inbound_sink_failed", "inbound_retry_failed")
    assert [e["event"] for e in logs if e["event"] in ours] == ["inbound_lost"]


async def _stored(engine: Engine, company: int, text: str) -> bool:
    return text in await inbound_texts(engine, company)


async def _advance_until(clock: FakeClock, done) -> bool:  # type: ignore[no-untyped-def]
    if done():
        return True
    if clock.pending_sleepers:
        await clock.advance(30)
    return False


async def _true(value: bool) -> bool:
    return value
