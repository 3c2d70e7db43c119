"""The booking ports over the real sync client and the YClients sandbox (loopback)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from booking.actions import BookingActions
from booking.dialogue import Dialogue, Turn
from booking.model import Understanding
from booking.ports import BookingRejected, BookingUnavailable, SlotTaken
from booking.slots import SlotFinder
from booking.state import DialogueState
from booking.store import BookingStore
from tests.booking.conftest import SandboxStack
from tests.conftest import START

SALON = 962302
TOMORROW = date(2026, 11, 24)


async def test_catalog_from_sandbox(sandbox_stack: SandboxStack) -> None:
    info = await sandbox_stack.directory.salon(sandbox_stack.company_id)
    assert info is not None and info.salon_id == SALON
    cat = info.catalog
    assert cat.title == "Лаванда" and "Садовая" in cat.address and cat.timezone == "Europe/Moscow"
    manicure = next(s for s in cat.services if s.id == 1011)
    assert manicure.price_min == 2200 and manicure.category_title == "Ногтевой сервис"
    marina = next(m for m in cat.staff if m.id == 2003)
    assert set(marina.service_ids) == {1011, 1012, 1013, 1014}
    assert await sandbox_stack.directory.salon(999) is None


async def test_book_move_cancel_against_sandbox(sandbox_stack: SandboxStack) -> None:
    api = sandbox_stack.api
    slots = await api.book_times(SALON, 2003, TOMORROW, [1012])
    assert slots and all(s.staff_id == 2003 for s in slots)
    first = slots[0]
    await api.book_check(SALON, 2003, [1012], first.datetime_raw)
    rec = await api.book_record(SALON, phone="79990001122", fullname="Аня", staff_id=2003, service_ids=[1012],
                                datetime_raw=first.datetime_raw, api_id="wa-test", comment="t")
    assert rec.record_id and rec.record_hash
    with pytest.raises(SlotTaken):
        await api.book_record(SALON, phone="79990003344", fullname="Оля", staff_id=2003, service_ids=[1012],
                              datetime_raw=first.datetime_raw, api_id="wa-test2", comment="t")
    assert first.datetime_raw not in {s.datetime_raw for s in await api.book_times(SALON, 2003, TOMORROW, [1012])}
    mine = await api.client_records(SALON, "+79990001122", START)
    assert [r.record_id for r in mine] == [rec.record_id]
    later = (await api.book_times(SALON, 2003, TOMORROW, [1012]))[-1]
    await api.reschedule(SALON, rec.record_id, later.datetime_raw, "move")
    [moved] = await api.client_records(SALON, "+79990001122", START)
    assert moved.starts_at == datetime.fromisoformat(later.datetime_raw)
    await api.cancel(SALON, rec.record_id, rec.record_hash)
    assert await api.client_records(SALON, "+79990001122", START) == []
    assert await api.client_name(SALON, "+79161234567") == "Елена Орлова"


async def test_salon_made_record_is_deleted_not_marked_no_show(sandbox_stack: SandboxStack) -> None:
    api, salon = sandbox_stack.api, sandbox_stack.sandbox.salons[SALON]
    elena = await api.client_records(SALON, "+79161234567", START)
    assert len(elena) == 2  # the fixture's records 4001 and 4004 (made by the salon: no hash)
    await api.cancel(SALON, elena[0].record_id, None)
    assert [r.record_id for r in await api.client_records(SALON, "+79161234567", START)] == [elena[1].record_id]
    gone = salon.records[elena[0].record_id]
    assert gone.deleted and gone.attendance == 0  # -1 would be a no-show in the client's history
    assert sandbox_stack.sandbox.requests_to(rf"^/api/v1/record/{SALON}/{elena[0].record_id}$", "DELETE")


async def test_delete_refused_with_400_falls_back_to_the_soft_cancel(sandbox_stack: SandboxStack) -> None:
    api, salon = sandbox_stack.api, sandbox_stack.sandbox.salons[SALON]
    sandbox_stack.sandbox.add_fault(r"^/api/v1/record/", "status", status=400, method="DELETE")
    await api.cancel(SALON, 4004, None)
    assert salon.records[4004].attendance == -1 and not salon.records[4004].deleted
    assert [r.record_id for r in await api.client_records(SALON, "+79161234567", START)] == [4001]


async def test_stale_hash_cancel_deletes_the_record(sandbox_stack: SandboxStack) -> None:
    api, salon = sandbox_stack.api, sandbox_stack.sandbox.salons[SALON]
    await api.cancel(SALON, 4001, "0" * 32)  # the hash is refused (404): the record is deleted instead
    assert salon.records[4001].deleted and salon.records[4001].attendance == 0


@pytest.mark.parametrize("kind,status", [("status", 500), ("html", 502), ("rate_limit", 429), ("status", 401)])
async def test_outage_maps_to_unavailable(sandbox_stack: SandboxStack, kind: str, status: int) -> None:
    sandbox_stack.sandbox.add_fault(r"/book_times/", kind, status=status)
    with pytest.raises(BookingUnavailable):
        await sandbox_stack.api.book_times(SALON, 2003, TOMORROW, [1012])


async def test_refusal_maps_to_rejected(sandbox_stack: SandboxStack) -> None:
    with pytest.raises(BookingRejected):
        await sandbox_stack.api.reschedule(SALON, 123456789, "2026-11-24T12:00:00+03:00", "x")


async def test_dialogue_books_in_sandbox_and_outage_books_nothing(
    sandbox_stack: SandboxStack, pool, clock
) -> None:
    info = await sandbox_stack.directory.salon(sandbox_stack.company_id)
    assert info is not None
    store = BookingStore(pool)
    dialogue = Dialogue(BookingActions(sandbox_stack.api, store, clock), SlotFinder(sandbox_stack.api))
    st = DialogueState()
    phone = "+79161234567"

    def t(text: str) -> Turn:
        return Turn(info, "79161234567@s.whatsapp.net", phone, START.astimezone(UTC), text)

    r = await dialogue.step(t("педикюр завтра утром"), st, Understanding("book", [1013], None, TOMORROW, None,
                                                                           "morning"))
    assert st.awaiting == "slot" and all(o.time < "12:00" for o in st.offers), r
    await dialogue.step(t("1"), st, Understanding("other"))
    assert st.awaiting == "confirm" and st.client_name == "Елена Орлова"
    sandbox_stack.sandbox.add_fault(r"/book_record/", "status", status=503, method="POST", times=1)
    r = await dialogue.step(t("да"), st, Understanding("confirm"))
    assert "не отвечает" in r[0]
    salon = sandbox_stack.sandbox.salons[SALON]
    before = len(await sandbox_stack.api.client_records(SALON, phone, START))
    r = await dialogue.step(t("да"), st, Understanding("confirm"))
    assert "Готово" in r[0]
    assert len(await sandbox_stack.api.client_records(SALON, phone, START)) == before + 1
    assert salon is not None
    assert len(sandbox_stack.sandbox.requests_to(r"/book_record/", "POST")) == 2


async def test_catalog_from_synced_store_matches_live(sandbox_stack: SandboxStack, pool, clock) -> None:
    from booking.adapters import LiveSalonDirectory, catalog_from_sync_store
    from sync.service import SyncService
    from sync.store import SyncStore

    store = SyncStore(pool)
    assert await catalog_from_sync_store(store, sandbox_stack.company_id) is None  # before any sync
    report = await SyncService(sandbox_stack.client, store, clock).run_once(sandbox_stack.company_id, "all")
    assert report.ok
    synced = await catalog_from_sync_store(store, sandbox_stack.company_id)
    live = (await sandbox_stack.directory.salon(sandbox_stack.company_id)).catalog  # type: ignore[union-attr]
    assert synced is not None
    assert {s.id: (s.title, s.price_min, s.price_max) for s in synced.services} == {
        s.id: (s.title, s.price_min, s.price_max) for s in live.services}
    assert {m.id: set(m.service_ids) for m in synced.staff} == {m.id: set(m.service_ids) for m in live.staff}
    assert synced.address == live.address and synced.timezone == "Europe/Moscow"
    # The directory prefers the synced copy: no YClients call once synced.
    sent = sandbox_stack.client.requests_sent

    async def loader(cid: int):
        return await catalog_from_sync_store(store, cid)

    info = await LiveSalonDirectory(pool, sandbox_stack.client, loader=loader).salon(sandbox_stack.company_id)
    assert info is not None and info.catalog == synced and sandbox_stack.client.requests_sent == sent


async def test_catalog_after_outage_is_retried_soon(sandbox_stack: SandboxStack, clock) -> None:
    from booking.adapters import LiveSalonDirectory

    directory = LiveSalonDirectory(sandbox_stack.directory._pool, sandbox_stack.client,
                                   monotonic=clock.monotonic)
    fault = sandbox_stack.sandbox.add_fault(r"/company/", "status", status=503)
    info = await directory.salon(sandbox_stack.company_id)
    assert info is not None and info.catalog.services == ()  # degraded: what the companies row knows
    sandbox_stack.sandbox.faults.remove(fault)
    await clock.advance(11)
    info = await directory.salon(sandbox_stack.company_id)
    assert info is not None and len(info.catalog.services) > 10


async def test_refused_booking_is_honest_and_hands_over(sandbox_stack: SandboxStack, pool, clock) -> None:
    from tests.booking.fakes import FakeHandoff

    info = await sandbox_stack.directory.salon(sandbox_stack.company_id)
    assert info is not None
    store = BookingStore(pool)
    handoff = FakeHandoff()
    actions = BookingActions(sandbox_stack.api, store, clock)
    dialogue = Dialogue(actions, SlotFinder(sandbox_stack.api), handoff)
    st = DialogueState()
    phone = "+79161234567"
    chat = "79161234567@s.whatsapp.net"
    sandbox_stack.sandbox.salons[SALON].blacklist.add("79161234567")

    def t(text: str) -> Turn:
        return Turn(info, chat, phone, START, text)

    await dialogue.step(t("маникюр завтра в 11"), st, Understanding("book", [1012], None, TOMORROW, time(11)))
    assert st.awaiting == "confirm"
    r = await dialogue.step(t("да"), st, Understanding("confirm"))
    assert "не приняла" in r[0] and "Готово" not in r[0]
    assert (sandbox_stack.company_id, chat) in handoff.paused
    assert await sandbox_stack.api.client_records(SALON, phone, START) and all(
        x.record_id in (4001, 4004) for x in await sandbox_stack.api.client_records(SALON, phone, START))


async def test_client_records_follow_the_salon_and_degrade_to_own(
    sandbox_stack: SandboxStack, pool, clock
) -> None:
    store = BookingStore(pool)
    actions = BookingActions(sandbox_stack.api, store, clock)
    info = await sandbox_stack.directory.salon(sandbox_stack.company_id)
    assert info is not None
    from booking.state import Offer

    slot = (await sandbox_stack.api.book_times(SALON, 2003, TOMORROW, [1012]))[0]
    offer = Offer(2003, slot.time, slot.datetime_raw[:10], slot.datetime_raw, [1012])
    phone = "+79990007777"
    booked = await actions.book(info, chat="c", phone=phone, name="Ира", offer=offer, key="k1")
    [mine] = await actions.client_records(info, phone, START)
    assert mine.record_id == booked.record.record_id and mine.record_hash == booked.record.record_hash
    # Admin reads refused (partner-token-only salon): the bot's own booking is still found.
    fault = sandbox_stack.sandbox.add_fault(r"^/api/v1/records/", "status", status=403)
    assert [r.record_id for r in await actions.client_records(info, phone, START)] == [mine.record_id]
    assert fault.hits >= 1
    sandbox_stack.sandbox.faults.remove(fault)
    # The salon deleted it: no longer listed, although the bot's table still says booked.
    sandbox_stack.sandbox.salons[SALON].records[mine.record_id].deleted = True
    assert await actions.client_records(info, phone, START) == []


async def test_no_answer_maps_to_outcome_unknown() -> None:
    import aiohttp

    from booking.adapters import SyncBookingApi
    from booking.ports import OutcomeUnknown
    from sync.client import YClientsClient
    from sync.config import YClientsConfig
    from sync.http import ApiTransport
    from tests.conftest import free_port

    async def no_sleep(_s: float) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        config = YClientsConfig(base_url=f"http://127.0.0.1:{free_port()}", partner_token="p", max_attempts=1)
        api = SyncBookingApi(YClientsClient(ApiTransport(config, session, None, sleep=no_sleep)))
        with pytest.raises(OutcomeUnknown):
            await api.book_record(SALON, phone="79990001122", fullname="Аня", staff_id=2003, service_ids=[1012],
                                  datetime_raw="2026-11-24T11:00:00+03:00", api_id="x", comment="")
