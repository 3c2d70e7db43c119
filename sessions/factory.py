"""Build an in-process TransportFactory from plain configuration.

Used by the engine worker process (which receives the config as JSON) and by the gateway wiring
when ENGINE_WORKERS=0. Providers: ``"sim"`` (the simulator transport), ``"neonize"`` (the real
WhatsApp transport), or ``"module:callable"`` — a callable taking the EngineConfig and returning a
factory (used by tests to host their own transports inside real worker processes).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sessions.runtime import Clock, WallClock
from sessions.transport import TransportFactory

# The JID a company's session last connected with (the SessionManager stores it in wa_sessions):
# lets a transport on another machine resume that device from a shared neonize store with `jid=`.
DeviceHint = Callable[[int], Awaitable[str | None]]


@dataclass(frozen=True)
class EngineConfig:
    """What a transport factory needs; JSON-serialisable so a worker process can receive it."""

    provider: str = "sim"
    redis_url: str | None = None  # the simulator keeps its phone-side state in Redis
    sim_qr_first_s: float = 60.0
    sim_qr_next_s: float = 20.0
    sim_qr_count: int = 6
    sim_idempotent_send: bool = True  # False: the simulator sends like neonize (own ids, no dedupe)
    var_dir: str = "var"
    clock_offset_s: float = 0.0  # worker clocks run this far from the wall clock (the daemon's DEMO_NOW shift)
    neonize_store_dsn: str = ""  # postgres://... or a sqlite path; unset: var/wa/neonize.db
    neonize_qr_series_timeout_s: float = 160.0  # the library sends no event when the QR series ends
    neonize_connect_attempts: int = 3  # whatsmeow does not retry a failed first connect
    neonize_connect_retry_s: float = 2.0
    neonize_connect_settle_s: float = 5.0  # how long a connect-start holds the process-wide gate
    neonize_stop_timeout_s: float = 15.0
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # provider-specific knobs

    def store_dsn(self) -> str:
        """The neonize device store: the configured DSN or a sqlite file under var/wa."""
        if self.neonize_store_dsn:
            return self.neonize_store_dsn
        return os.path.join(os.path.abspath(self.var_dir), "wa", "neonize.db")

    def to_json(self) -> str:
        """Serialise for a worker process."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> EngineConfig:
        """Parse what `to_json` wrote; unknown keys are ignored."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("engine config must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def build_transport_factory(
    config: EngineConfig, *, clock: Clock | None = None, redis: Any = None, device_hint: DeviceHint | None = None
) -> TransportFactory:
    """The in-process factory for `config.provider`.

    `clock` and `redis` are handed to the simulator when given (the daemon's own objects);
    a worker process passes none and the simulator connects to `config.redis_url` itself.
    """
    if config.provider == "neonize":
        from sessions.neonize_transport import NeonizeTransportFactory

        return NeonizeTransportFactory(config, device_hint=device_hint)
    if config.provider == "sim":
        return _sim_factory(config, clock=clock, redis=redis)
    if ":" in config.provider:
        module_name, _, attr = config.provider.partition(":")
        builder = getattr(importlib.import_module(module_name), attr)
        return builder(config)
    raise ValueError(f"unknown WhatsApp provider {config.provider!r} (expected sim or neonize)")


def _sim_factory(config: EngineConfig, *, clock: Clock | None, redis: Any) -> TransportFactory:
    """The simulator's factory (sessions.sim, owned by the sessions core)."""
    from sessions import sim

    if redis is None:
        import redis.asyncio as aioredis

        if not config.redis_url:
            raise ValueError("the sim provider needs redis_url in a worker process")
        redis = aioredis.from_url(config.redis_url, decode_responses=True)
    if clock is None:
        clock = WallClock(config.clock_offset_s)
    return sim.SimTransportFactory(
        redis, clock=clock, qr_first_s=config.sim_qr_first_s, qr_next_s=config.sim_qr_next_s,
        qr_count=config.sim_qr_count, idempotent_send=config.sim_idempotent_send,
    )
