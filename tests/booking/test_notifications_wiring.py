"""The notifications wired into the whole app (demo mode: simulator WhatsApp, mounted sandbox):
a reminder reaches the client's phone, "да" confirms the visit in YClients, the dialogue still answers
everything else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from booking.notifications import NotificationReplies
from gateway.appkeys import POOL, READINESS, SCHEDULER
from gateway.clock import FakeClock
from gateway.settings import Settings
from gateway.wiring import notifications
from tests.booking.simchat import AppChat, lookup_key, until
from tests.conftest import free_port, make_settings

MSK = ZoneInfo("Europe/Moscow")
NATALIA = "+79257654321"  # demo record 4003: today 16:00


@pytest.fixture
async def app_client(
    database_url: str, redis_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[TestClient]:
    from gateway.app import create_app

    port = free_port()
    settings = make_settings(
        database_url,
        redis_url,
        tmp_path,
        demo=True,
        port=port,
        public_base_url=f"http://127.0.0.1:{port}",
        yclients_rate_per_s=1000.0,
    )
    app = create_app(settings, clock=clock)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    try:
        await asyncio.wait_for(app[READINESS].finished.wait(), timeout=30)
        yield client
    finally:
        await client.close()


async def test_reminder_and_yes_through_the_whole_app(app_client: TestClient, clock: FakeClock) -> None:
    from gateway.wiring.booking import BOOKING_HANDLER
    from sync.appkeys import SYNC_SERVICE

    chat = await AppChat.start(app_client, clock)
    app = chat.app
    inbox = app[lookup_key("gateway.wiring.sessions", "INBOX")]
    assert isinstance(inbox.handler, NotificationReplies) and inbox.handler.inner is app[BOOKING_HANDLER]
    assert notifications.JOB_NAME in app[SCHEDULER].jobs

    assert (await app[SYNC_SERVICE].run_once(chat.company_id, "all")).ok
    await app[POOL].execute(
        "UPDATE companies SET integration_status = 'active' WHERE id = $1", chat.company_id
    )
    clock.set(datetime(2026, 11, 23, 14, 5, tzinfo=MSK))
    report = await app[notifications.NOTIFICATION_JOBS].run_once()
    assert report.reminders == 1
    await clock.advance(1.1)

    async def reminder_on_the_phone() -> list[str]:
        # The app's own outbox loop may hold the row mid-send while this run_once finds nothing due.
        await chat._deliver()
        return await chat._sent_to(NATALIA)

    [reminder] = await until(reminder_on_the_phone, "the reminder on the phone")
    assert "сегодня в 16:00" in reminder and "Ответьте «да»" in reminder

    await chat._post(NATALIA, "да")

    async def confirmed() -> bool:
        return chat.salon.records[4003].attendance == 2

    await until(confirmed, "attendance 2 in the sandbox")
    await clock.advance(1.1)

    async def thanked() -> list[str]:
        await chat._deliver()
        return [t for t in await chat._sent_to(NATALIA) if "подтвердили" in t]

    assert await until(thanked, "the thanks")
    chat.seen[NATALIA] = len(await chat._sent_to(NATALIA))
    answer = await chat.say(NATALIA, "сколько стоит маникюр?")  # the dialogue still answers
    assert "₽" in answer or "руб" in answer


def test_bad_quiet_hours_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, quiet_hours="вечером")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="QUIET_HOURS"):
        notifications.config_from(settings)
