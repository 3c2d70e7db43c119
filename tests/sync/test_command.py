"""`ai-admin sync COMPANY_ID [--what ...]`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import build_parser
from gateway.commands.sync import run_sync
from tests.conftest import make_settings
from tests.sync.conftest import DEMO_SALON, PARTNER, USER, add_company


def _printed(text: str) -> dict:
    """The JSON document the command printed last (log lines may precede it in tests)."""
    start = text.rfind("\n{") + 1  # 0 when the document is the whole output
    return json.loads(text[start:])


def test_parser_accepts_company_and_what() -> None:
    args = build_parser().parse_args(["sync", "7", "--what", "records"])
    assert (args.company_id, args.what) == (7, "records")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sync", "7", "--what", "goods"])


async def test_sync_command_syncs_and_prints_status(
    database_url: str, redis_url: str, tmp_path: Path, sandbox_url: str, pool, capsys
) -> None:
    cid = await add_company(pool, DEMO_SALON)
    settings = make_settings(database_url, redis_url, tmp_path, yclients_base_url=sandbox_url,
                             yclients_partner_token=PARTNER, yclients_user_token=USER, yclients_rate_per_s=100.0)
    assert await run_sync(settings, cid, "services") == 0
    out = _printed(capsys.readouterr().out)
    assert out["success"] is True and out["report"]["kinds"]["services"]["items"] == 14
    assert out["status"]["counts"]["services"] == 14 and out["status"]["counts"]["records"] == 0
    assert await run_sync(settings, 424242, "all") == 2
    assert "unknown company" in _printed(capsys.readouterr().out)["error"]
    bad = make_settings(database_url, redis_url, tmp_path, yclients_base_url=sandbox_url,
                        yclients_partner_token="wrong", yclients_rate_per_s=100.0)
    assert await run_sync(bad, cid, "staff") == 1
    assert "AuthError" in _printed(capsys.readouterr().out)["report"]["kinds"]["staff"]["error"]
