"""Prometheus metrics of the sessions engine, registered on the registry the app passes in."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from sessions.api import SessionState


class SessionMetrics:
    """Sessions per state (this instance), inbound and outbound message counters."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sessions = Gauge(
            "wa_sessions", "WhatsApp sessions held by this instance, by state", ["state"], registry=registry
        )
        for state in SessionState:
            self.sessions.labels(state.value).set(0)
        self.inbound = Counter(
            "wa_inbound_messages_total", "Inbound WhatsApp messages by outcome", ["outcome"], registry=registry
        )
        self.outbound = Counter(
            "wa_outbound_messages_total", "Outbox deliveries by outcome", ["outcome"], registry=registry
        )

    def state_changed(self, old: SessionState | None, new: SessionState) -> None:
        if old is not None:
            self.sessions.labels(old.value).dec()
        self.sessions.labels(new.value).inc()
