"""Configuration dataclasses of the sessions engine (gateway maps its Settings onto these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SessionsConfig:
    """Session lifecycle: backoff, restore pacing."""

    max_attempts: int = 8  # consecutive failed connects before FAILED
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 300.0
    restore_concurrency: int = 20
    restore_stagger_ms: int = 10
    stop_timeout_s: float = 10.0
    # Inbound texts the store could not take (Postgres down): kept in memory per session, in order,
    # retried with backoff; beyond `inbound_retry_max` waiting ones a new text is lost (logged).
    inbound_retry_max: int = 1000
    inbound_retry_base_s: float = 0.5
    inbound_retry_cap_s: float = 30.0


@dataclass(frozen=True)
class InboxConfig:
    """Inbound handling."""

    handoff_pause_minutes: int = 120  # bot silence in a chat after staff wrote by hand
    claim_timeout_s: float = 300.0  # a claim older than this is considered abandoned (crash)


@dataclass(frozen=True)
class OutboxConfig:
    """Durable sending with anti-ban limits."""

    per_minute: int = 20  # messages per session per minute
    chat_interval_s: float = 1.0  # minimum gap between two messages to one chat
    max_attempts: int = 12  # send failures before the row goes 'dead'
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 300.0
    claim_timeout_s: float = 120.0  # a 'sending' row older than this was abandoned by a crash
    send_timeout_s: float = 30.0  # one transport call may take this long, real time; keep < claim_timeout_s
    batch_size: int = 50
    poll_s: float = 1.0  # delivery loop idle wake-up
    # "typing…" shows this long before the text (app clock): per character, capped; 0 = no pause
    typing_ms_per_char: float = 30.0
    typing_max_ms: float = 3000.0


@dataclass(frozen=True)
class SimConfig:
    """Simulator timings: the first QR lives `qr_first_s`, the next ones `qr_next_s`, `qr_count` in all."""

    qr_first_s: float = 60.0
    qr_next_s: float = 20.0
    qr_count: int = 6
    pairing_code_ttl_s: float = 60.0
    outbound_keep: int = 500  # recorded outbound messages (and send calls) kept per company
    # True: a resend with the same message id is dropped, like WhatsApp does. False: the simulator
    # picks its own ids and delivers every send, like neonize 0.5.2 (tests of the uncertain path).
    idempotent_send: bool = True
    send_hold_max_s: float = 60.0  # a send held by the test hook waits at most this long
