"""Configuration of the booking handler (gateway maps its Settings onto this)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BookingConfig:
    """Tunables of the dialogue and the message pipeline."""

    debounce_ms: int = 2000  # quiet time per chat before answering a burst of messages
    debounce_max_ms: int = 10_000  # a client typing non-stop still gets an answer after this
    lock_ttl_ms: int = 30_000  # Redis per-chat lock lifetime (renewed never; a step is short)
    offer_min: int = 3
    offer_max: int = 5
    search_days: int = 7  # how far ahead to look when the asked day is full
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = ""
    llm_timeout_s: float = 15.0
    recover_interval_s: float = 30.0  # sweep for messages left pending (crash, lost lock)

    @property
    def debounce_s(self) -> float:
        return self.debounce_ms / 1000.0

    @property
    def debounce_max_s(self) -> float:
        return max(self.debounce_ms, self.debounce_max_ms) / 1000.0

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)
