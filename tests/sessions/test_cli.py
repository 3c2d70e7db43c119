"""`ai-admin sessions ...` reaches a running daemon through Postgres + the Redis control channel."""

from __future__ import annotations

import io
import json
import uuid

from gateway.appkeys import POOL
from gateway.cli import build_parser
from gateway.commands.sessions import run
from gateway.wiring.sessions import SESSION_MANAGER
from sessions.api import SessionState as S
from tests.conftest import app_of
from tests.sessions.conftest import Recorder, make_company


def test_parser_knows_the_commands() -> None:
    parser = build_parser()
    args = parser.parse_args(["sessions", "start", "12"])
    assert args.action == "start" and args.company_id == 12
    assert parser.parse_args(["sessions", "list", "--json"]).json is True


async def test_cli_drives_the_running_daemon(make_client, settings) -> None:  # type: ignore[no-untyped-def]
    client = await make_client()
    app = app_of(client)
    company = await make_company(app[POOL], 880)
    recorder = Recorder()
    app[SESSION_MANAGER].add_listener(recorder)

    out = io.StringIO()
    assert await run(settings, "start", company, out=out) == 0
    assert "sent to 1 running daemon" in out.getvalue()
    await recorder.wait_state(company, S.SCAN_QR)

    out = io.StringIO()
    assert await run(settings, "show", company, as_json=True, out=out) == 0
    shown = json.loads(out.getvalue())
    assert shown["state"] == "SCAN_QR" and shown["desired"] == "running"
    assert shown["outbox"] == {}
    for status in ("sent", "uncertain", "uncertain"):
        await app[POOL].execute(
            """INSERT INTO outbox (company_id, idempotency_key, chat, text, wa_message_id, status,
                                  next_attempt_at, created_at)
               VALUES ($1, $2, '79990000001@s.whatsapp.net', 'x', $2, $3, now(), now())""",
            company, f"k-{status}-{uuid.uuid4().hex[:6]}", status,
        )
    out = io.StringIO()
    assert await run(settings, "show", company, out=out) == 0
    assert "outbox: sent 1, uncertain 2" in out.getvalue()

    assert await run(settings, "stop", company, out=io.StringIO()) == 0
    await recorder.wait_state(company, S.STOPPED)
    out = io.StringIO()
    assert await run(settings, "list", None, as_json=True, out=out) == 0
    assert json.loads(out.getvalue())[0]["desired"] == "stopped"

    assert await run(settings, "logout", company, out=io.StringIO()) == 0
    await recorder.wait_state(company, S.LOGGED_OUT)
    assert await run(settings, "show", 424242, out=io.StringIO()) == 1  # unknown company
