"""`ai-admin companies list|show`."""

from __future__ import annotations

import json

from gateway.commands.companies import list_companies, show_company
from gateway.settings import Settings
from marketplace.store import MarketplaceStore


async def test_companies_list_and_show(settings: Settings, pool, clock, capsys) -> None:
    store = MarketplaceStore(pool, clock)
    first = await store.create(111, phone="+79001234567", email="a@b.ru")
    await store.create(222, phone=None, email=None)
    assert first is not None
    await store.set_whatsapp(first.id, connected=True, phone="+79001234567", at=first.created_at)
    assert await list_companies(settings, None, 1, 50, as_json=False) == 0
    out = capsys.readouterr().out
    assert "total=2 connected=1" in out and "111" in out and "222" in out
    assert await list_companies(settings, 222, 1, 50, as_json=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["salon_id"] for c in data["companies"]] == [222] and data["stats"]["total"] == 2
    assert await show_company(settings, 111, by_salon=True) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["company"]["id"] == first.id and shown["company"]["whatsapp_phone"] == "+79001234567"
    assert await show_company(settings, 999, by_salon=False) == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE actor = 'admin:cli'") == 3
