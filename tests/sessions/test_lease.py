"""Leases (DESIGN 9): one owner per session, forwarding to the owner, fencing, orphans move."""

from __future__ import annotations

import asyncio

from sessions import keys
from sessions.api import SessionState as S
from sessions.lease import LeaseKeeper
from tests.sessions.conftest import Engine, EngineFactory, eventually


async def test_lease_is_exclusive_and_epochs_grow(redis) -> None:  # type: ignore[no-untyped-def]
    a, b = LeaseKeeper(redis, "a"), LeaseKeeper(redis, "b")
    assert await a.acquire(7) == 1
    assert await b.acquire(7) is None
    assert await a.acquire(7) == 1  # re-entrant for the holder
    assert await a.renew(7, 1) and not await b.renew(7, 1)
    await b.release(7, 1)  # not b's: no effect
    assert await a.holder(7) == ("a", 1)
    await a.release(7, 1)
    assert await b.acquire(7) == 2
    assert not await a.renew(7, 1)  # a lost it


async def two(make_engine: EngineFactory) -> tuple[Engine, Engine]:
    a = await make_engine(instance="inst-a")
    b = await make_engine(instance="inst-b")
    for e in (a, b):
        e.manager.start_background(lease_loop=False)
        await e.manager.restore()
    await eventually(lambda: _subscribed(a))
    return a, b


async def _subscribed(engine: Engine) -> bool:
    return int((await engine.manager.redis.pubsub_numsub(keys.control_channel(engine.manager.redis)))[0][1]) >= 2


async def test_only_the_owner_runs_and_requests_are_forwarded(make_engine: EngineFactory, company: int) -> None:
    a, b = await two(make_engine)
    await a.manager.start(company)
    await a.recorder.wait_state(company, S.SCAN_QR)
    info = await b.manager.start(company)  # owned by a: b does not start a second transport
    assert info.state is S.SCAN_QR and b.recorder.states(company) == []

    code, _ = await b.manager.request_pairing_code(company, "+79161230000")  # answered by the owner
    await a.recorder.wait_state(company, S.PAIRING)
    assert a.recorder.of_type(company, "pairing_code")[-1].data["code"] == code

    await b.manager.stop(company)  # forwarded to a
    await a.recorder.wait_state(company, S.STOPPED)
    assert (await b.manager.info(company)).desired == "stopped"
    assert a.manager.transport_for(company) is None and not a.manager._sessions[company].running

    async def released() -> bool:
        return await a.lease.holder(company) is None  # type: ignore[union-attr]

    await eventually(released)


async def test_dead_owner_sessions_move_and_the_old_owner_is_fenced(
    make_engine: EngineFactory, company: int, redis
) -> None:  # type: ignore[no-untyped-def]
    a, b = await two(make_engine)
    await a.manager.start(company)
    await a.recorder.wait_state(company, S.SCAN_QR)
    await a.phone.scan(company)
    await a.recorder.wait_event(company, "connected")
    await a.manager.lease_tick()
    await b.manager.lease_tick()
    assert b.recorder.states(company) == []  # owned: nothing to claim

    await redis.delete(keys.lease(company))  # a stalls past its lease TTL
    assert await b.manager.claim_orphans() == 1
    await b.recorder.wait_event(company, "connected")  # resumed without a scan
    assert await b.lease.holder(company) == ("inst-b", 2)  # type: ignore[union-attr]

    # The old owner's writes are refused by the epoch, and its renewal fails: it lets go.
    session = a.manager._sessions[company]
    assert not await session.transition(S.DISCONNECTED, "stale owner")
    row = await a.manager.store.get_session(company)
    assert row is not None and row.state == "CONNECTED" and row.lease_epoch == 2
    await a.manager.lease_tick()
    assert a.manager.transport_for(company) is None
    assert b.manager.transport_for(company) is not None


async def test_orphans_are_shared_fairly(make_engine: EngineFactory, pool, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.sessions.conftest import make_company

    companies = [await make_company(pool, 600 + i) for i in range(4)]
    a, b = await two(make_engine)
    for cid in companies:
        await a.manager.store.set_desired(cid, "running", clock.now())  # e.g. left by a dead instance
    await a.lease.heartbeat()  # type: ignore[union-attr]
    await b.lease.heartbeat()  # type: ignore[union-attr]
    assert await a.manager.claim_orphans() == 2  # ceil(4 sessions / 2 live instances)
    assert await a.manager.claim_orphans() == 0  # its share is full
    assert await b.manager.claim_orphans() == 2
    holders = {cid: (await a.lease.holder(cid))[0] for cid in companies}  # type: ignore[union-attr,index]
    assert sorted(holders.values()) == ["inst-a", "inst-a", "inst-b", "inst-b"]


async def test_renewals_go_on_while_claiming_orphans_is_slow(make_engine) -> None:  # type: ignore[no-untyped-def]
    engine = await make_engine(instance="a")
    assert engine.lease is not None
    engine.lease.ttl_ms = 150  # renew every 50 ms (real time)
    beats = 0
    claim_entered, release_claim = asyncio.Event(), asyncio.Event()
    real_heartbeat = engine.lease.heartbeat

    async def counting_heartbeat() -> None:
        nonlocal beats
        beats += 1
        await real_heartbeat()

    async def slow_claim() -> int:
        claim_entered.set()
        await release_claim.wait()  # starting sessions can take up to 30 s each
        return 0

    engine.lease.heartbeat = counting_heartbeat  # type: ignore[method-assign]
    engine.manager.claim_orphans = slow_claim  # type: ignore[method-assign]
    engine.manager.start_background(lease_loop=True)
    await asyncio.wait_for(claim_entered.wait(), 5)

    async def renewed_meanwhile() -> None:
        while beats < 3:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(renewed_meanwhile(), 5)  # the loop sat in the claim before: leases expired
    release_claim.set()
