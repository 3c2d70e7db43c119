"""The optional LLM driver against a local fake /chat/completions server with scripted tool calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from booking.config import BookingConfig
from booking.llm import LlmDriver
from booking.model import Understanding
from booking.state import DialogueState
from tests.booking.conftest import Bot
from tests.booking.test_dialogue import turn


class FakeLlm:
    """Answers each request with the next scripted reply; records the requests."""

    def __init__(self) -> None:
        self.script: list[Any] = []
        self.requests: list[dict[str, Any]] = []
        self.hang = asyncio.Event()

    def calls(self, *calls: tuple[str, dict[str, Any]]) -> None:
        self.script.append({"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, (n, a) in enumerate(calls)]}}]})

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        reply = self.script.pop(0)
        if reply == "hang":
            await self.hang.wait()
        if isinstance(reply, int):
            return web.json_response({"error": "boom"}, status=reply)
        return web.json_response(reply)


@pytest.fixture
async def llm() -> AsyncIterator[tuple[FakeLlm, str]]:
    fake = FakeLlm()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, str(server.make_url("/v1"))
    finally:
        fake.hang.set()
        await server.close()


async def test_model_books_through_the_same_actions(bot: Bot, llm: tuple[FakeLlm, str]) -> None:
    fake, url = llm
    phone = "+79161234567"
    async with aiohttp.ClientSession() as session:
        driver = LlmDriver(BookingConfig(llm_base_url=url, llm_model="m", llm_api_key="k"), session, bot.dialogue)
        st = DialogueState()
        fake.calls(("find_slots", {"service_ids": [1012], "date": "2026-11-24", "time": None}))
        out = await driver(turn(bot, "маникюр бы завтра", phone=phone), st, Understanding())
        assert out and "1)" in out[0] and st.awaiting == "slot"
        fake.calls(("choose_offer", {"number": 2}))
        out = await driver(turn(bot, "второй", phone=phone), st, Understanding())
        assert out and "Подтверждаете" in out[0] and st.chosen == st.offers[1]
        chosen = st.offers[1].datetime_raw
        fake.calls(("confirm", {}))
        out = await driver(turn(bot, "да", phone=phone), st, Understanding())
        assert out and "Готово" in out[0]
    [rec] = [r for r in bot.api.records.values() if not r.deleted]
    assert rec.starts_at.isoformat() == chosen
    assert fake.requests[0]["tools"] and fake.requests[0]["model"] == "m"


async def test_model_cannot_book_what_was_not_confirmed(bot: Bot, llm: tuple[FakeLlm, str]) -> None:
    fake, url = llm
    async with aiohttp.ClientSession() as session:
        driver = LlmDriver(BookingConfig(llm_base_url=url, llm_model="m"), session, bot.dialogue)
        st = DialogueState()
        fake.calls(("find_slots", {"service_ids": [1012], "date": "2026-11-24"}), ("choose_offer", {"number": 1}),
                   ("confirm", {}))
        out = await driver(turn(bot, "маникюр завтра, первый, да", phone="+79161234567"), st, Understanding())
        # Offer, choice and confirm prompt happen, but the confirmation of a prompt shown in the SAME
        # turn is the client's "да" to nothing: the dialogue asked only now.
        assert out is not None and "Подтверждаете" in out[-1] and st.awaiting == "confirm"
        assert not [r for r in bot.api.records.values() if not r.deleted]
        fake.calls(("confirm", {}))
        out = await driver(turn(bot, "да", phone="+79161234567"), st, Understanding())
        assert out and "Готово" in out[0]
    assert len([r for r in bot.api.records.values() if not r.deleted]) == 1


@pytest.mark.parametrize("bad", [
    500,
    {"choices": [{"message": {"tool_calls": [{"function": {"name": "drop_database", "arguments": "{}"}}]}}]},
    {"choices": [{"message": {"tool_calls": [{"function": {"name": "choose_offer", "arguments": "{\"number\": 9}"}}]}}]},
    {"choices": [{"message": {"tool_calls": [{"function": {"name": "find_slots",
                                                           "arguments": "{\"service_ids\": [424242]}"}}]}}]},
    {"choices": [{"message": {"content": "not json tool"}}]},
    {"nonsense": True},
])
async def test_failures_fall_back_to_rules(bot: Bot, llm: tuple[FakeLlm, str], bad: Any) -> None:
    fake, url = llm
    fake.script.append(bad)
    async with aiohttp.ClientSession() as session:
        driver = LlmDriver(BookingConfig(llm_base_url=url, llm_model="m"), session, bot.dialogue)
        st = DialogueState()
        assert await driver(turn(bot, "привет"), st, Understanding("greeting")) is None


async def test_timeout_falls_back(bot: Bot, llm: tuple[FakeLlm, str]) -> None:
    fake, url = llm
    fake.script.append("hang")
    async with aiohttp.ClientSession() as session:
        driver = LlmDriver(BookingConfig(llm_base_url=url, llm_model="m", llm_timeout_s=0.05), session, bot.dialogue)
        assert await driver(turn(bot, "привет"), DialogueState(), Understanding("greeting")) is None


async def test_model_drives_the_app_dialogue_and_rules_take_over(
    make_client: Any, clock: Any, llm: tuple[FakeLlm, str]
) -> None:
    from tests.booking.simchat import AppChat, lookup_key

    if lookup_key("gateway.wiring.sessions", "INBOX") is None:
        pytest.skip("the sessions engine is not wired yet")
    fake, url = llm
    client = await make_client(demo=True, yclients_rate_per_s=1000.0, llm_base_url=url, llm_model="m",
                               llm_timeout_s=5.0)
    chat = await AppChat.start(client, clock)
    phone = "+79991110030"
    fake.calls(("find_slots", {"service_ids": [1012], "date": "2026-11-24", "time": None}))
    r = await chat.say(phone, "хочу маникюрчик на завтра")
    assert "1)" in r
    fake.calls(("choose_offer", {"number": 2}))
    assert "зовут" in await chat.say(phone, "давай второй")
    fake.calls(("give_name", {"name": "Аня"}))
    assert "Подтверждаете" in await chat.say(phone, "Аня")
    fake.calls(("confirm", {}))
    assert "Готово" in await chat.say(phone, "да")
    [rec] = chat.records_of(phone[1:])
    assert rec.service_ids == [1012] and rec.start.date().isoformat() == "2026-11-24"
    fake.script.append(500)  # the model fails: the rule engine answers
    assert "Садовая" in await chat.say(phone, "какой у вас адрес?")
    assert len(fake.requests) == 5
