"""The dialogue state of one chat, stored as JSON in `conversations.state`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# What the bot asked last (what the next message most likely answers).
AWAITING = ("service", "when", "slot", "name", "confirm", "record", "retry")
FLOWS = ("book", "reschedule", "cancel")


@dataclass
class Offer:
    """A free time the bot offered: the only kind of slot it may book or move a visit to."""

    staff_id: int
    time: str  # HH:MM
    date: str  # YYYY-MM-DD
    datetime_raw: str  # from book_times, verbatim
    service_ids: list[int]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Offer:
        return cls(
            staff_id=int(data["staff_id"]),
            time=str(data["time"]),
            date=str(data["date"]),
            datetime_raw=str(data["datetime_raw"]),
            service_ids=[int(x) for x in data.get("service_ids", [])],
        )


@dataclass
class RecordRef:
    """One of the client's own visits (found by the client's phone)."""

    record_id: int
    starts_at: str  # ISO
    staff_id: int | None
    service_ids: list[int]
    record_hash: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordRef:
        return cls(
            record_id=int(data["record_id"]),
            starts_at=str(data["starts_at"]),
            staff_id=data.get("staff_id"),
            service_ids=[int(x) for x in data.get("service_ids", [])],
            record_hash=data.get("record_hash"),
        )


@dataclass
class DialogueState:
    """Everything the bot remembers of a chat between messages."""

    flow: str | None = None  # one of FLOWS
    awaiting: str | None = None  # one of AWAITING
    service_ids: list[int] = field(default_factory=list)
    staff_id: int | None = None
    strict_staff: bool = False  # the client insists on this master: other masters are not offered
    exclude_staff: list[int] = field(default_factory=list)  # "к другому мастеру": not these
    date: str | None = None
    time: str | None = None
    part_of_day: str | None = None
    same_time: bool = False  # "на то же время": the new time is the moved visit's time (set once it is known)
    shift_min: int | None = None  # "на час позже": the moved visit's time shifted (set once it is known)
    offers: list[Offer] = field(default_factory=list)
    offered_at: float | None = None  # unix seconds of the last offer
    chosen: Offer | None = None
    client_name: str | None = None
    records: list[RecordRef] = field(default_factory=list)
    target: RecordRef | None = None
    seq: int = 0  # bumped whenever a new slot is chosen: part of the booking idempotency key
    greeted: bool = False
    last_done: str | None = None  # summary of the last finished action (answers a repeated "да")
    priced: list[int] = field(default_factory=list)  # the one service the last answer priced ("Записать вас?")
    queued: list[int] = field(default_factory=list)  # services to book next, after the one being booked
    not_before: str | None = None  # HH:MM on `date`: a queued service starts after the visit just booked
    booked: Offer | None = None  # the visit booked by the last answer (the next message may move it)

    def reset_flow(self) -> None:
        """Forget the request in progress (keeps the client's name and the greeting)."""
        keep = (self.client_name, self.greeted, self.seq, self.last_done)
        self.__init__()  # type: ignore[misc]
        self.client_name, self.greeted, self.seq, self.last_done = keep

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DialogueState:
        if not data:
            return cls()
        state = cls(
            flow=data.get("flow"),
            awaiting=data.get("awaiting"),
            service_ids=[int(x) for x in data.get("service_ids") or []],
            staff_id=data.get("staff_id"),
            strict_staff=bool(data.get("strict_staff")),
            exclude_staff=[int(x) for x in data.get("exclude_staff") or []],
            date=data.get("date"),
            time=data.get("time"),
            part_of_day=data.get("part_of_day"),
            same_time=bool(data.get("same_time")),
            shift_min=data.get("shift_min"),
            offers=[Offer.from_json(o) for o in data.get("offers") or []],
            offered_at=data.get("offered_at"),
            chosen=Offer.from_json(data["chosen"]) if data.get("chosen") else None,
            client_name=data.get("client_name"),
            records=[RecordRef.from_json(r) for r in data.get("records") or []],
            target=RecordRef.from_json(data["target"]) if data.get("target") else None,
            seq=int(data.get("seq") or 0),
            greeted=bool(data.get("greeted")),
            last_done=data.get("last_done"),
            priced=[int(x) for x in data.get("priced") or []],
            queued=[int(x) for x in data.get("queued") or []],
            not_before=data.get("not_before"),
            booked=Offer.from_json(data["booked"]) if data.get("booked") else None,
        )
        return state
