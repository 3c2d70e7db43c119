"""Settings defaults that depend on other settings."""

from __future__ import annotations

import pydantic
import pytest

from gateway.settings import Settings


@pytest.fixture(autouse=True)
def no_engine_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGINE_WORKERS", raising=False)
    monkeypatch.delenv("WHATSAPP_PROVIDER", raising=False)


def test_neonize_runs_in_a_worker_process_unless_told_otherwise() -> None:
    assert Settings(whatsapp_provider="neonize").engine_worker_count() == 1
    assert Settings(whatsapp_provider="sim").engine_worker_count() == 0
    assert Settings(whatsapp_provider="neonize", engine_workers=0).engine_worker_count() == 0  # explicit wins
    assert Settings(whatsapp_provider="sim", engine_workers=3).engine_worker_count() == 3


def test_engine_workers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_PROVIDER", "neonize")
    monkeypatch.setenv("ENGINE_WORKERS", "2")
    assert Settings().engine_worker_count() == 2
    monkeypatch.setenv("ENGINE_WORKERS", "-1")
    with pytest.raises(pydantic.ValidationError):
        Settings()
