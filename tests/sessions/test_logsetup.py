"""The worker process and the daemon share one log configuration, secret redaction included."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from sessions.logsetup import redact
from sessions.worker import configure_worker_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**config)
        root.handlers[:] = handlers
        root.setLevel(level)


def test_worker_logs_are_json_and_never_carry_a_full_token(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_worker_logging("INFO")
    structlog.get_logger("sessions.test").info("connect", auth_token="eyJhbGciOiJIUzI1NiJ9.secret", company_id=7)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "connect"
    assert record["company_id"] == 7
    assert record["auth_token"] == "eyJh…"
    assert "secret" not in line


def test_redact_keeps_only_a_short_prefix() -> None:
    assert redact("sk_0123456789") == "sk_0…"
    assert redact("short") == "…"
