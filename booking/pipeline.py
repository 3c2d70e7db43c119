"""The message pipeline: inbound message -> debounce per chat -> per-chat lock -> understand ->
dialogue -> actions -> outbox.

`BookingHandler` implements `sessions.api.MessageHandler`. `handle()` only persists the message in
`booking_inbox` (idempotent on its id) and (re)arms the chat's debounce timer, so it returns fast.
When the chat has been quiet for `debounce_ms`, all its pending messages are answered in ONE turn
under an in-process lock plus a Redis lock (several instances), with optimistic concurrency on the
conversation row. Messages stay pending until the replies are in the outbox: after a crash,
`recover_once()` (run at startup and periodically) answers them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
import structlog

from booking import keys
from booking.config import BookingConfig
from booking.dialogue import Dialogue, Turn
from booking.model import INTENTS, SalonCatalog, Understanding
from booking.ports import Handoff, SalonDirectory, SalonInfo
from booking.state import DialogueState
from booking.store import BookingStore, Conversation, PendingMessage
from sessions.api import InboundMessage, OutboxSender
from sessions.runtime import Clock, Spawner

log = structlog.get_logger(__name__)

Understand = Callable[..., Understanding]
# An optional driver (the LLM) tried before the rule dialogue; returns None to fall back.
TurnDriver = Callable[[Turn, DialogueState, Understanding], Any]

LOCKED_RETRIES = 5  # times a chat locked by another instance is retried before leaving it to the sweep
LOCKED_RETRY_S = 1.0
SORRY = "Извините, у меня что-то пошло не так 🙏 Администратор салона ответит вам здесь в ближайшее время."
_REPLIES = "_replies"  # the last turn's replies, kept in the state until they are in the outbox
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

# Which intent wins when a burst of messages says several things (most specific first).
_PRIORITY = ("human", "cancel", "reschedule", "book", "my_records", "prices", "services", "hours_address",
             "confirm", "decline", "thanks", "greeting", "other")


def merge_understandings(items: list[Understanding]) -> Understanding:
    """One meaning for a burst of messages: the strongest intent; the latest value of each slot."""
    if not items:
        return Understanding()
    out = Understanding()
    ranked = sorted(items, key=lambda u: _PRIORITY.index(u.intent) if u.intent in _PRIORITY else len(_PRIORITY))
    out.intent = ranked[0].intent if ranked[0].intent in INTENTS else "other"
    out.confidence = ranked[0].confidence
    for u in items:
        if u.service_ids:
            out.service_ids = list(dict.fromkeys(out.service_ids + list(u.service_ids)))
        out.staff_id = u.staff_id or out.staff_id
        out.date = u.date or out.date
        if u.time:
            out.time, out.part_of_day = u.time, None
        elif u.part_of_day:
            out.part_of_day, out.time = u.part_of_day, None
        out.client_name = u.client_name or out.client_name
        out.hints.update(u.hints)
    return out


def phone_of(message_phone: str | None, chat: str) -> str:
    """The client's E.164 phone: the sender's, else the digits of a personal chat JID."""
    if message_phone:
        return message_phone if message_phone.startswith("+") else "+" + message_phone
    digits = "".join(ch for ch in chat.split("@", 1)[0] if ch.isdigit())
    return "+" + digits


@dataclass
class _ChatTimer:
    deadline: float
    latest: float  # the answer comes by then even if the client keeps typing
    gen: int = 0
    task: asyncio.Task[None] | None = None


class BookingHandler:
    """The booking bot behind the sessions inbox (implements `MessageHandler`)."""

    def __init__(
        self,
        *,
        store: BookingStore,
        dialogue: Dialogue,
        directory: SalonDirectory,
        outbox: OutboxSender,
        understand: Understand,
        redis: aioredis.Redis,
        clock: Clock,
        spawner: Spawner,
        config: BookingConfig,
        handoff: Handoff | None = None,
        driver: TurnDriver | None = None,
    ) -> None:
        self.store = store
        self.dialogue = dialogue
        self.directory = directory
        self.outbox = outbox
        self.understand = understand
        self.redis = redis
        self.clock = clock
        self.spawner = spawner
        self.config = config
        self.handoff = handoff
        self.driver = driver
        self._timers: dict[tuple[int, str], _ChatTimer] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._closing = False
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.turns_done = 0  # answered turns (for benches and tests)
        self.on_turn: Callable[[int, str, float], None] | None = None  # (company, chat, latency_s) hook

    # --- MessageHandler ------------------------------------------------------------------
    async def handle(self, message: InboundMessage) -> None:
        """Accept one inbound message; the answer follows after the chat's debounce window."""
        if not message.text or not message.text.strip():
            return
        fresh = await self.store.add_pending(
            PendingMessage(
                message_id=message.id,
                company_id=message.company_id,
                chat=message.chat,
                sender_phone=message.sender_phone,
                push_name=message.push_name,
                text=message.text.strip()[:2000],
                received_at=message.received_at,
            )
        )
        if fresh:
            self.schedule(message.company_id, message.chat)

    def schedule(self, company_id: int, chat: str, *, delay_s: float | None = None) -> None:
        """(Re)arm the chat's timer: it fires once the chat was quiet for the debounce window."""
        if self._closing:
            return
        key = (company_id, chat)
        now = self.clock.monotonic()
        deadline = now + (self.config.debounce_s if delay_s is None else delay_s)
        timer = self._timers.get(key)
        if timer is not None:
            if delay_s != 0:  # a new message restarts the quiet window, up to the cap
                timer.deadline = min(deadline, timer.latest)
            timer.gen += 1
            return
        timer = _ChatTimer(deadline=deadline, latest=now + self.config.debounce_max_s)
        self._timers[key] = timer
        timer.task = self.spawner.spawn(f"booking-chat-{company_id}-{chat}", self._run_timer(key, timer))

    async def _run_timer(self, key: tuple[int, str], timer: _ChatTimer) -> None:
        locked_tries = 0
        try:
            while True:
                wait_s = timer.deadline - self.clock.monotonic()
                if wait_s > 0:
                    await self.clock.sleep(wait_s)
                    continue
                gen = timer.gen
                self._busy += 1
                self._idle.clear()
                try:
                    done = await self.process_chat(*key)
                finally:
                    self._busy -= 1
                    if self._busy == 0:
                        self._idle.set()
                if not done and locked_tries < LOCKED_RETRIES:
                    # Another instance holds the chat: try again shortly (the sweep is the backstop).
                    locked_tries += 1
                    timer.deadline = self.clock.monotonic() + LOCKED_RETRY_S
                    continue
                if timer.gen == gen:
                    return
        finally:
            if self._timers.get(key) is timer:
                del self._timers[key]

    async def recover_once(self, *, min_age_s: float | None = 0.0) -> int:
        """Answer messages left pending (a crash in the debounce window, a lost lock); returns chats armed.

        `min_age_s` skips chats whose latest message is younger (another instance may still be in
        its debounce window); the periodic sweep passes debounce + a margin, startup passes 0.
        """
        armed = 0
        cutoff = self.clock.now() - timedelta(seconds=min_age_s) if min_age_s else None
        for company_id, chat in await self.store.pending_chats(cutoff):
            if (company_id, chat) not in self._timers:
                self.schedule(company_id, chat, delay_s=0)
                armed += 1
        return armed

    async def sweep(self) -> int:
        """The periodic job: recover chats whose messages waited well past the debounce window,
        and forget answered messages older than a week."""
        await self.store.purge_done()
        return await self.recover_once(min_age_s=self.config.debounce_s + self.config.recover_interval_s)

    async def close(self) -> None:
        """Stop arming timers and cancel the waiting ones (their messages stay pending)."""
        self._closing = True
        tasks = [t.task for t in self._timers.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except BaseException:  # noqa: BLE001, S110 - cancelled on purpose
                pass

    async def wait_idle(self) -> None:
        """Wait until no turn is being answered (tests: after advancing the clock past a window)."""
        while self._busy:
            await self._idle.wait()

    def is_waiting(self, company_id: int, chat: str) -> bool:
        """True while the chat's debounce timer is armed (its answer is still to come)."""
        return (company_id, chat) in self._timers

    @property
    def waiting_chats(self) -> int:
        return len(self._timers)

    # --- one turn ------------------------------------------------------------------------
    async def process_chat(self, company_id: int, chat: str) -> bool:
        """Answer everything pending in one chat, under both locks; False if another instance holds it."""
        key = (company_id, chat)
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                token = secrets.token_hex(8)
                rkey = keys.chat_lock(company_id, chat)
                if not await self.redis.set(rkey, token, nx=True, px=self.config.lock_ttl_ms):
                    log.info("chat_locked_elsewhere", company_id=company_id, chat=chat)
                    return False
                try:
                    await self._answer(company_id, chat)
                finally:
                    await self.redis.eval(_RELEASE, 1, rkey, token)
                return True
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    async def _answer(self, company_id: int, chat: str) -> None:
        started = self.clock.monotonic()
        pending, conv = await self.store.pending_and_conversation(company_id, chat)
        if not pending:
            return
        ids = [p.message_id for p in pending]
        bound = log.bind(company_id=company_id, chat=chat)
        if self.handoff is not None and await self.handoff.is_paused(company_id, chat):
            bound.info("chat_paused_skip", messages=len(ids))
            await self.store.mark_done(company_id, ids)
            return
        salon = await self.directory.salon(company_id)
        if salon is None:
            bound.warning("unknown_salon_skip", messages=len(ids))
            await self.store.mark_done(company_id, ids)
            return
        last = pending[-1]
        stored = conv.state.get(_REPLIES)
        if isinstance(stored, dict) and stored.get("last_id") == last.message_id:
            # This turn ran before and its replies were saved, but the process died before they all
            # reached the outbox: send them (the outbox dedupes by key), never re-run the actions.
            replies = [str(t) for t in stored.get("texts") or []]
        else:
            try:
                ran = await self._run_turn(conv, pending, salon, bound)
            except Exception as exc:  # noqa: BLE001 - a bug must not leave the client unanswered forever
                bound.error("turn_failed", error=repr(exc), exc_info=exc)
                ran = [SORRY]
            if ran is None:
                return
            replies = ran
        for index, text in enumerate(replies):
            await self.outbox.enqueue(
                company_id, chat, text, idempotency_key=f"booking:{company_id}:{chat}:{last.message_id}:{index}"
            )
        await self.store.mark_done(company_id, ids)
        self.turns_done += 1
        if self.on_turn is not None:
            self.on_turn(company_id, chat, self.clock.monotonic() - started)
        bound.info("turn_answered", messages=len(ids), replies=len(replies))

    async def _run_turn(
        self, conv: Conversation, pending: list[PendingMessage], salon: SalonInfo, bound: Any
    ) -> list[str] | None:
        """Understand and step the dialogue; store the new state WITH its replies (optimistically)."""
        last = pending[-1]
        phone = phone_of(last.sender_phone, conv.chat)
        for _attempt in range(3):
            st = DialogueState.from_json(conv.state)
            now = self.clock.now()
            u = self._understand(pending, now, salon.catalog, st)
            turn = Turn(salon=salon, chat=conv.chat, phone=phone, now=now,
                        text="\n".join(p.text for p in pending), push_name=last.push_name)
            replies = await self._drive(turn, st, u)
            state = st.to_json()
            state[_REPLIES] = {"last_id": last.message_id, "texts": replies}
            if await self.store.save_conversation(conv, state):
                return replies
            bound.info("conversation_conflict_retry")
            conv = await self.store.load_conversation(conv.company_id, conv.chat)
        bound.error("conversation_conflict_gave_up")
        return None

    def _understand(
        self, pending: list[PendingMessage], now: datetime, catalog: SalonCatalog, st: DialogueState
    ) -> Understanding:
        context: dict[str, Any] = {"expecting": st.awaiting, "flow": st.flow}
        items = []
        for p in pending:
            try:
                items.append(self.understand(p.text, now, catalog, context=context))
            except Exception as exc:  # noqa: BLE001 - one bad parse must not lose the turn
                log.warning("understand_failed", error=repr(exc))
                items.append(Understanding())
        return merge_understandings(items)

    async def _drive(self, turn: Turn, st: DialogueState, u: Understanding) -> list[str]:
        if self.driver is not None:
            snapshot = st.to_json()
            try:
                replies = await self.driver(turn, st, u)
            except Exception as exc:  # noqa: BLE001 - the rule engine answers instead
                log.warning("driver_failed", company_id=turn.salon.company_id, error=repr(exc))
                replies = None
            if replies:
                return list(replies)
            restored = DialogueState.from_json(snapshot)
            st.__dict__.update(restored.__dict__)
        return await self.dialogue.step(turn, st, u)
