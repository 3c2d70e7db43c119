"""The session state machine: which transitions are allowed, and the reconnect backoff."""

from __future__ import annotations

import random

from sessions.api import TERMINAL_STATES, SessionState

S = SessionState

# Reached from anywhere: an operator stop, an explicit logout, giving up.
_ALWAYS = {S.STOPPED, S.LOGGED_OUT, S.FAILED}
# What the network or WhatsApp can do to a live connection attempt.
_LIVE_OUTCOMES = {S.DISCONNECTED, S.REPLACED, S.BANNED, S.CLIENT_OUTDATED}

TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    S.STOPPED: frozenset({S.STARTING}),
    S.STARTING: frozenset({S.SCAN_QR, S.PAIRING, S.CONNECTED, *_LIVE_OUTCOMES}),
    S.SCAN_QR: frozenset({S.PAIRING, S.CONNECTED, S.QR_EXPIRED, S.STARTING, *_LIVE_OUTCOMES}),
    S.PAIRING: frozenset({S.SCAN_QR, S.CONNECTED, S.QR_EXPIRED, S.STARTING, *_LIVE_OUTCOMES}),
    S.CONNECTED: frozenset(_LIVE_OUTCOMES),
    S.DISCONNECTED: frozenset({S.STARTING}),
    S.QR_EXPIRED: frozenset({S.STARTING}),
    # Terminal: left only by an explicit request (start / request_qr), never automatically.
    S.LOGGED_OUT: frozenset({S.STARTING}),
    S.REPLACED: frozenset({S.STARTING}),
    S.BANNED: frozenset({S.STARTING}),
    S.CLIENT_OUTDATED: frozenset({S.STARTING}),
    S.FAILED: frozenset({S.STARTING}),
}
TRANSITIONS = {k: frozenset(v | _ALWAYS) - {k} for k, v in TRANSITIONS.items()}

# States in which the session is doing something (a start request is a no-op then).
ACTIVE_STATES = frozenset({S.STARTING, S.SCAN_QR, S.PAIRING, S.CONNECTED, S.DISCONNECTED})


class InvalidTransitionError(RuntimeError):
    """A transition the table does not allow."""

    def __init__(self, company_id: int, old: SessionState, new: SessionState) -> None:
        super().__init__(f"company {company_id}: {old.value} -> {new.value} is not allowed")
        self.old = old
        self.new = new


def can_transition(old: SessionState, new: SessionState) -> bool:
    """True when `old -> new` is in the table."""
    return new in TRANSITIONS[old]


def is_terminal(state: SessionState) -> bool:
    """Terminal states are never left automatically."""
    return state in TERMINAL_STATES


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Delay before reconnect attempt `attempt` (1-based): exponential, capped, 'equal jitter' (50-100%)."""
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    r = (rng or random).random()
    return ceiling / 2 + r * ceiling / 2
