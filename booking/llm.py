"""Optional LLM driver: an OpenAI-compatible `/chat/completions` model with tool calling.

The model reads the client's turn with the salon's catalog and the dialogue state, and answers
with tool calls. Every tool maps onto the SAME dialogue actions the rule engine uses (it becomes an
`Understanding` handed to `Dialogue.step`), so the safety rules hold whatever the model says: only
offered slots are booked, only after the bot asked for a confirmation, only the client's own
visits are touched. When the model fails, times out or returns an invalid tool call, the driver
returns None and the rule engine answers the turn.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, time
from typing import Any

import aiohttp
import structlog

from booking.config import BookingConfig
from booking.dialogue import Dialogue, Turn
from booking.model import PARTS_OF_DAY, Understanding
from booking.state import DialogueState

log = structlog.get_logger(__name__)


class InvalidToolCall(ValueError):
    """The model asked for something the tools do not allow."""


def _fn(name: str, description: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties or {}, "additionalProperties": False},
        },
    }


_SLOT_PROPS: dict[str, Any] = {
    "service_ids": {"type": "array", "items": {"type": "integer"}, "description": "ids from the catalog"},
    "staff_id": {"type": ["integer", "null"]},
    "date": {"type": ["string", "null"], "description": "YYYY-MM-DD, salon-local"},
    "time": {"type": ["string", "null"], "description": "HH:MM, salon-local"},
    "part_of_day": {"type": ["string", "null"], "enum": [*PARTS_OF_DAY, None]},
}

TOOLS: list[dict[str, Any]] = [
    _fn("find_slots", "Look up free times for services (and optionally a master, day, time) and offer them.",
        _SLOT_PROPS),
    _fn("choose_offer", "The client picked one of the offered times (1-based number).",
        {"number": {"type": "integer"}}),
    _fn("confirm", "The client confirms the action the bot asked to confirm."),
    _fn("decline", "The client declines / changes their mind."),
    _fn("give_name", "The client told their name.", {"name": {"type": "string"}}),
    _fn("reschedule", "The client wants to move their own visit (optionally to a day/time).", _SLOT_PROPS),
    _fn("cancel", "The client wants to cancel their own visit."),
    _fn("my_records", "List the client's upcoming visits."),
    _fn("prices", "Tell prices (of these services, or all).", {"service_ids": _SLOT_PROPS["service_ids"]}),
    _fn("services", "List the salon's services."),
    _fn("hours_address", "Tell the salon's hours and address."),
    _fn("human", "The client asks for a human administrator."),
    _fn("small_talk", "Greeting, thanks or anything else: answer briefly in Russian.",
        {"text": {"type": "string"}}),
]

_SIMPLE = {"confirm": "confirm", "decline": "decline", "cancel": "cancel", "my_records": "my_records",
           "services": "services", "hours_address": "hours_address", "human": "human"}


class LlmDriver:
    """Drives a turn through the model's tool calls; None means "let the rule engine answer"."""

    def __init__(self, config: BookingConfig, session: aiohttp.ClientSession, dialogue: Dialogue) -> None:
        self.config = config
        self.session = session
        self.dialogue = dialogue

    async def __call__(self, turn: Turn, st: DialogueState, rules: Understanding) -> list[str] | None:
        try:
            calls = await asyncio.wait_for(self._complete(turn, st), timeout=self.config.llm_timeout_s)
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError) as exc:
            log.warning("llm_failed", company_id=turn.salon.company_id, error=repr(exc))
            return None
        if not calls:
            return None
        awaiting_at_start = st.awaiting
        replies: list[str] = []
        for index, (name, args) in enumerate(calls[:3]):
            try:
                kind, value = self._to_understanding(turn, st, name, args)
            except InvalidToolCall as exc:
                log.warning("llm_invalid_tool_call", company_id=turn.salon.company_id, error=str(exc))
                if index == 0:
                    return None  # nothing done yet: the rule engine answers the whole turn
                break
            if kind == "text":
                replies.append(str(value))
                continue
            assert isinstance(value, Understanding)
            if value.intent == "confirm" and awaiting_at_start != "confirm":
                # A confirmation counts only for a question the client saw in an earlier turn.
                continue
            replies += await self.dialogue.step(turn, st, value)
        return replies or None

    async def _complete(self, turn: Turn, st: DialogueState) -> list[tuple[str, dict[str, Any]]]:
        body = {
            "model": self.config.llm_model,
            "messages": [
                {"role": "system", "content": self._system_prompt(turn, st)},
                {"role": "user", "content": turn.text},
            ],
            "tools": TOOLS,
            "tool_choice": "required",
            "temperature": 0,
        }
        headers = {"Content-Type": "application/json"}
        if self.config.llm_api_key:
            headers["Authorization"] = f"Bearer {self.config.llm_api_key}"
        url = self.config.llm_base_url.rstrip("/") + "/chat/completions"
        async with self.session.post(url, json=body, headers=headers) as resp:
            if resp.status != 200:
                raise ValueError(f"LLM HTTP {resp.status}")
            data = await resp.json(content_type=None)
        message = data["choices"][0]["message"]
        out: list[tuple[str, dict[str, Any]]] = []
        for call in message.get("tool_calls") or []:
            fn = call["function"]
            raw_args = fn.get("arguments") or "{}"
            args = json.loads(raw_args) if isinstance(raw_args, str) else raw_args
            if not isinstance(args, dict):
                raise TypeError("tool arguments are not an object")
            out.append((str(fn["name"]), args))
        return out

    def _system_prompt(self, turn: Turn, st: DialogueState) -> str:
        cat = turn.catalog
        services = "; ".join(f"{s.id}: {s.title}" for s in cat.services)
        staff = "; ".join(f"{m.id}: {m.name} ({m.specialization})" for m in cat.staff)
        offers = "; ".join(f"{i}) {o.date} {o.time} staff {o.staff_id}" for i, o in enumerate(st.offers, 1))
        return (
            f"Ты администратор салона «{cat.title}» в WhatsApp. Сегодня {turn.today.isoformat()}, "
            f"сейчас {turn.local_now.strftime('%H:%M')} ({cat.timezone}). Отвечай только вызовами инструментов.\n"
            f"Услуги: {services}\nМастера: {staff}\n"
            f"Состояние диалога: ждём {st.awaiting or 'ничего'}; процесс {st.flow or 'нет'}; "
            f"предложенные варианты: {offers or 'нет'}."
        )

    def _to_understanding(
        self, turn: Turn, st: DialogueState, name: str, args: dict[str, Any]
    ) -> tuple[str, Understanding | str]:
        cat = turn.catalog
        if name == "small_talk":
            text = str(args.get("text") or "").strip()
            if not text or len(text) > 1000:
                raise InvalidToolCall("empty small talk")
            return "text", text
        if name in _SIMPLE:
            return "u", Understanding(_SIMPLE[name])
        if name == "give_name":
            value = str(args.get("name") or "").strip()
            if not value or len(value) > 60:
                raise InvalidToolCall("bad name")
            return "u", Understanding("other", client_name=value)
        if name == "choose_offer":
            number = args.get("number")
            if not isinstance(number, int) or not 1 <= number <= len(st.offers):
                raise InvalidToolCall(f"no offer {number!r}")
            offer = st.offers[number - 1]
            return "u", Understanding("other", [], offer.staff_id, date.fromisoformat(offer.date),
                                      time.fromisoformat(offer.time))
        if name in ("find_slots", "reschedule", "prices"):
            known_services = {s.id for s in cat.services}
            service_ids = args.get("service_ids") or []
            if not isinstance(service_ids, list) or not all(isinstance(x, int) and x in known_services
                                                            for x in service_ids):
                raise InvalidToolCall(f"unknown services {service_ids!r}")
            if name == "prices":
                return "u", Understanding("prices", list(service_ids))
            staff_id = args.get("staff_id")
            if staff_id is not None and staff_id not in {m.id for m in cat.staff}:
                raise InvalidToolCall(f"unknown staff {staff_id!r}")
            part = args.get("part_of_day")
            if part is not None and part not in PARTS_OF_DAY:
                raise InvalidToolCall(f"bad part of day {part!r}")
            try:
                day = date.fromisoformat(args["date"]) if args.get("date") else None
                at = time.fromisoformat(args["time"]) if args.get("time") else None
            except (TypeError, ValueError) as exc:
                raise InvalidToolCall(str(exc)) from exc
            intent = "book" if name == "find_slots" else "reschedule"
            return "u", Understanding(intent, list(service_ids), staff_id, day, at, part)
        raise InvalidToolCall(f"unknown tool {name!r}")
