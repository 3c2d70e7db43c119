"""The marketplace repository: companies, api keys, the lifecycle event log and the audit log.

Raw SQL with parameters only; rows come back as dataclasses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from sessions.runtime import Clock

# Statuses of companies.integration_status.
PENDING = "pending"  # registered/installed, WhatsApp not connected yet
ACTIVATING = "activating"  # connected, the YClients callback is under way
ACTIVE = "active"  # YClients accepted the activation
ACTIVATION_FAILED = "activation_failed"
FROZEN = "frozen"
UNINSTALLED = "uninstalled"


@dataclass(frozen=True)
class Company:
    """One salon (a `companies` row)."""

    id: int
    salon_id: int
    title: str | None
    phone: str | None
    email: str | None
    address: str | None
    timezone: str
    whatsapp_connected: bool
    whatsapp_phone: str | None
    whatsapp_connected_at: datetime | None
    integration_status: str
    integration_error: str | None
    connected_at: datetime | None
    activated_at: datetime | None
    token_generation: int
    install_seq: int
    created_at: datetime
    updated_at: datetime | None
    installed_by_user_id: str | None  # YClients user of the install that owns the salon (claims.py)
    activation_attempts: int  # activation runs failed in a row
    activation_retry_at: datetime | None  # when the sweep retries a failed activation (None: never)


_COMPANY_COLS = (
    "id, salon_id, title, phone, email, address, timezone, whatsapp_connected, whatsapp_phone, "
    "whatsapp_connected_at, integration_status, integration_error, connected_at, activated_at, "
    "token_generation, install_seq, created_at, updated_at, installed_by_user_id, activation_attempts, "
    "activation_retry_at"
)


@dataclass(frozen=True)
class ActivationClaim:
    """A won `claim_activation`."""

    install_seq: int  # the install the claim belongs to (a reinstall makes it stale)
    attempts: int  # activation runs failed in a row before this one


class InstallDenied(Exception):
    """`upsert_installed`'s authorize callback refused the install (nothing was written)."""

    def __init__(self, reason: str, company: Company | None) -> None:
        super().__init__(reason)
        self.reason, self.company = reason, company


def _company(row: asyncpg.Record | None) -> Company | None:
    return Company(**dict(row)) if row is not None else None


class MarketplaceStore:
    """All SQL of the marketplace package. Timestamps it writes come from `clock`, never SQL now()."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    # --- companies -----------------------------------------------------------------------
    async def get(self, company_id: int) -> Company | None:
        """A company by our id."""
        row = await self._pool.fetchrow(f"SELECT {_COMPANY_COLS} FROM companies WHERE id = $1", company_id)
        return _company(row)

    async def by_salon(self, salon_id: int) -> Company | None:
        """A company by its YClients salon id."""
        row = await self._pool.fetchrow(f"SELECT {_COMPANY_COLS} FROM companies WHERE salon_id = $1", salon_id)
        return _company(row)

    async def create(self, salon_id: int, *, phone: str | None, email: str | None) -> Company | None:
        """Insert a new salon; None when the salon id is taken already."""
        row = await self._pool.fetchrow(
            f"""INSERT INTO companies (salon_id, company_id, yclients_id, phone, email, status_changed_at, created_at)
                VALUES ($1, $1, $1, $2, $3, $4, $4)
                ON CONFLICT (salon_id) DO NOTHING
                RETURNING {_COMPANY_COLS}""",
            salon_id, phone, email, self._clock.now(),
        )
        return _company(row)

    async def upsert_installed(
        self, salon_id: int, info: dict[str, Any], *, installer: str | None = None,
        authorize: Callable[[Company | None], str | None] | None = None,
    ) -> tuple[Company, bool]:
        """Create or refresh a salon from YClients company info on install.

        A reinstall (frozen or uninstalled before) goes back to `pending` with a new install sequence;
        an install over a failed activation goes back to `pending` too (the sweep activates it again).
        `installer` (the YClients user id) is recorded when the salon has none yet or starts over
        after an uninstall. `authorize(row before)` runs inside the transaction that locks the row;
        a reason it returns aborts with InstallDenied. Returns the row and whether it was a reinstall
        of a frozen/uninstalled salon.
        """
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            before = _company(await conn.fetchrow(
                f"SELECT {_COMPANY_COLS} FROM companies WHERE salon_id = $1 FOR UPDATE", salon_id
            ))
            if authorize is not None and (reason := authorize(before)) is not None:
                raise InstallDenied(reason, before)
            row = await conn.fetchrow(
                f"""INSERT INTO companies (salon_id, company_id, yclients_id, title, phone, address, timezone,
                                           raw_data, installed_by_user_id, status_changed_at, created_at)
                    VALUES ($1, $1, $1, $2, $3, $4, COALESCE($5, 'Europe/Moscow'), $6, $7, $8, $8)
                    ON CONFLICT (salon_id) DO UPDATE SET
                        title = COALESCE(EXCLUDED.title, companies.title),
                        phone = COALESCE(companies.phone, EXCLUDED.phone),
                        address = COALESCE(EXCLUDED.address, companies.address),
                        timezone = COALESCE($5, companies.timezone),
                        raw_data = COALESCE(EXCLUDED.raw_data, companies.raw_data),
                        installed_by_user_id = CASE
                            WHEN companies.integration_status = 'uninstalled' THEN $7
                            ELSE COALESCE(companies.installed_by_user_id, $7) END,
                        integration_status = CASE
                            WHEN companies.integration_status IN ('frozen', 'uninstalled', 'activation_failed')
                            THEN 'pending' ELSE companies.integration_status END,
                        status_changed_at = CASE
                            WHEN companies.integration_status IN ('frozen', 'uninstalled', 'activation_failed')
                            THEN $8 ELSE companies.status_changed_at END,
                        activation_attempts = CASE
                            WHEN companies.integration_status IN ('frozen', 'uninstalled', 'activation_failed')
                            THEN 0 ELSE companies.activation_attempts END,
                        activation_retry_at = CASE
                            WHEN companies.integration_status IN ('frozen', 'uninstalled', 'activation_failed')
                            THEN NULL ELSE companies.activation_retry_at END,
                        install_seq = companies.install_seq
                            + CASE WHEN companies.integration_status IN ('frozen', 'uninstalled') THEN 1 ELSE 0 END,
                        updated_at = $8
                    RETURNING {_COMPANY_COLS}""",
                salon_id,
                _str(info.get("title")),
                _str(info.get("phone"), 20),
                _str(info.get("address"), 500),
                _str(info.get("timezone_name") or info.get("timezone"), 50),
                _clean(info) or None,
                installer,
                now,
            )
        reinstalled = before is not None and before.integration_status in (FROZEN, UNINSTALLED)
        company = _company(row)
        assert company is not None
        return company, reinstalled

    async def set_installer(self, company_id: int, user_id: str | None) -> bool:
        """Operator override of who owns a salon's installs (None: the next install takes it)."""
        result = await self._pool.execute(
            "UPDATE companies SET installed_by_user_id = $2, updated_at = $3 WHERE id = $1",
            company_id, user_id, self._clock.now(),
        )
        return result.endswith(" 1")

    async def set_status(self, company_id: int, status: str, *, error: str | None = None) -> None:
        """Move a company to `status` (error kept for `activation_failed`)."""
        await self._pool.execute(
            """UPDATE companies SET integration_status = $2::text, integration_error = $3,
                   status_changed_at = $4, updated_at = $4,
                   activated_at = CASE WHEN $2::text = 'active' THEN $4 ELSE activated_at END
               WHERE id = $1""",
            company_id, status, error, self._clock.now(),
        )

    async def claim_activation(
        self, company_id: int, *, key_prefix: str, key_sha256: str, due_only: bool = False,
    ) -> ActivationClaim | None:
        """`pending`/`activation_failed`/`activating` -> `activating`, with the fresh `yclients` api key
        that goes to YClients stored in the same transaction (older `yclients` keys revoked).

        `due_only` (automatic runs): an `activation_failed` row is taken only once its retry time
        has come, never when it has none (a terminal refusal). Returns the claim (pass its install
        sequence to `finish_activation`), or None when the company is in another state (active,
        frozen, uninstalled...). The row lock taken here orders the claim against
        `mark_uninstalled`: either the uninstall comes later and revokes this key, or it came
        first and nothing is claimed.
        """
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """UPDATE companies SET integration_status = 'activating', integration_error = NULL,
                       status_changed_at = $2, updated_at = $2
                   WHERE id = $1 AND integration_status IN ('pending', 'activation_failed', 'activating')
                     AND (NOT $3 OR integration_status <> 'activation_failed' OR activation_retry_at <= $2)
                   RETURNING install_seq, activation_attempts""",
                company_id, now, due_only,
            )
            if row is None:
                return None
            await conn.execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE company_id = $1 AND revoked_at IS NULL AND label = 'yclients'",
                company_id, now,
            )
            await conn.execute(
                "INSERT INTO api_keys (company_id, prefix, key_sha256, label, created_at) VALUES ($1, $2, $3, 'yclients', $4)",
                company_id, key_prefix, key_sha256, now,
            )
        return ActivationClaim(int(row["install_seq"]), int(row["activation_attempts"]))

    async def still_activating(self, company_id: int, install_seq: int) -> bool:
        """True while the claim of `install_seq` stands (no uninstall, freeze or reinstall since)."""
        value = await self._pool.fetchval(
            "SELECT 1 FROM companies WHERE id = $1 AND install_seq = $2 AND integration_status = 'activating'",
            company_id, install_seq,
        )
        return value is not None

    async def finish_activation(
        self, company_id: int, install_seq: int, *, ok: bool, error: str | None, retry_at: datetime | None = None,
    ) -> bool:
        """`activating` -> `active` (ok) or `activation_failed`, only if the claim still stands.

        A failure counts one more attempt and keeps `retry_at` (None: terminal, never retried by
        the sweep); a success clears both. False when an uninstall, freeze or reinstall changed the
        row meanwhile: the caller then does nothing more (no status, no welcome, no sync).
        """
        now = self._clock.now()
        row = await self._pool.fetchval(
            """UPDATE companies SET
                   integration_status = CASE WHEN $3 THEN 'active' ELSE 'activation_failed' END,
                   integration_error = $4, status_changed_at = $5, updated_at = $5,
                   activated_at = CASE WHEN $3 THEN $5 ELSE activated_at END,
                   activation_attempts = CASE WHEN $3 THEN 0 ELSE activation_attempts + 1 END,
                   activation_retry_at = CASE WHEN $3 THEN NULL ELSE $6::timestamptz END
               WHERE id = $1 AND install_seq = $2 AND integration_status = 'activating'
               RETURNING id""",
            company_id, install_seq, ok, error, now, retry_at,
        )
        return row is not None

    async def mark_uninstalled(self, company_id: int) -> None:
        """Status `uninstalled`, every connect token (generation bump) and api key revoked, in one
        transaction. The WhatsApp link is gone too: phone and connection times are cleared, so the
        next install's first connection is recorded afresh."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE companies SET integration_status = 'uninstalled', integration_error = NULL,
                       token_generation = token_generation + 1, whatsapp_connected = FALSE,
                       whatsapp_phone = NULL, connected_at = NULL, whatsapp_connected_at = NULL,
                       whatsapp_enabled = FALSE, status_changed_at = $2, updated_at = $2,
                       activation_attempts = 0, activation_retry_at = NULL
                   WHERE id = $1""",
                company_id, now,
            )
            await conn.execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE company_id = $1 AND revoked_at IS NULL", company_id, now
            )

    async def needing_activation(self, stale_before: datetime, limit: int = 100) -> list[int]:
        """Connected companies whose activation never ran (missed event), died midway (stale
        `activating`), or failed transiently and whose retry time has come."""
        rows = await self._pool.fetch(
            """SELECT id FROM companies
               WHERE whatsapp_connected AND (integration_status = 'pending'
                     OR (integration_status = 'activating' AND status_changed_at < $1)
                     OR (integration_status = 'activation_failed' AND activation_retry_at <= $2))
               ORDER BY id LIMIT $3""",
            stale_before, self._clock.now(), limit,
        )
        return [int(r["id"]) for r in rows]

    async def set_whatsapp(self, company_id: int, *, connected: bool, phone: str | None, at: datetime) -> None:
        """Keep the WhatsApp columns in step with the session.

        `connected_at` is the first connection (kept across reconnects and restarts, cleared only
        by an uninstall); `whatsapp_connected_at` is the latest one.
        """
        await self._pool.execute(
            """UPDATE companies SET whatsapp_connected = $2::boolean,
                   whatsapp_phone = COALESCE($3::text, whatsapp_phone),
                   whatsapp_connected_at = CASE WHEN $2 THEN $4 ELSE whatsapp_connected_at END,
                   connected_at = CASE WHEN $2 AND connected_at IS NULL THEN $4 ELSE connected_at END,
                   whatsapp_enabled = $2, updated_at = $4
               WHERE id = $1""",
            company_id, connected, phone, at,
        )

    async def page(self, *, salon_id: int | None, limit: int, offset: int) -> list[Company]:
        """A page of companies, newest first."""
        rows = await self._pool.fetch(
            f"""SELECT {_COMPANY_COLS} FROM companies
                WHERE ($1::int IS NULL OR salon_id = $1) ORDER BY id LIMIT $2 OFFSET $3""",
            salon_id, limit, offset,
        )
        return [c for c in (_company(r) for r in rows) if c is not None]

    async def stats(self) -> dict[str, Any]:
        """Totals by status and connection."""
        rows = await self._pool.fetch(
            "SELECT integration_status, whatsapp_connected, count(*) AS n FROM companies "
            "GROUP BY integration_status, whatsapp_connected"
        )
        by_status: dict[str, int] = {}
        total = connected = 0
        for r in rows:
            total += r["n"]
            connected += r["n"] if r["whatsapp_connected"] else 0
            by_status[r["integration_status"]] = by_status.get(r["integration_status"], 0) + r["n"]
        return {"total": total, "connected": connected, "not_connected": total - connected, "by_status": by_status}

    # --- api keys ------------------------------------------------------------------------
    async def add_api_key(self, company_id: int, prefix: str, key_sha256: str, *, label: str = "salon") -> None:
        """Store a key as its prefix and hash."""
        await self._pool.execute(
            "INSERT INTO api_keys (company_id, prefix, key_sha256, label, created_at) VALUES ($1, $2, $3, $4, $5)",
            company_id, prefix, key_sha256, label, self._clock.now(),
        )

    async def company_for_key(self, key_sha256: str) -> int | None:
        """The company owning a live key."""
        value = await self._pool.fetchval(
            "SELECT company_id FROM api_keys WHERE key_sha256 = $1 AND revoked_at IS NULL", key_sha256
        )
        return int(value) if value is not None else None

    # --- logs ----------------------------------------------------------------------------
    async def record_event(
        self, key: str, *, source: str, event: str, salon_id: int | None, company_id: int | None,
        payload: dict[str, Any], result: str | None = None,
    ) -> bool:
        """Log a raw marketplace event; False when its idempotency key was seen before."""
        row = await self._pool.fetchval(
            """INSERT INTO marketplace_events (idempotency_key, source, event, salon_id, company_id, payload, result,
                                                received_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
            key, source, event[:64], salon_id, company_id, payload, result, self._clock.now(),
        )
        return row is not None

    async def retake_failed_event(self, key: str) -> bool:
        """Take a logged event whose handling failed for another try (True when it was `failed`)."""
        result = await self._pool.execute(
            "UPDATE marketplace_events SET result = NULL WHERE idempotency_key = $1 AND result = 'failed'", key)
        return result.endswith(" 1")

    async def set_event_result(self, key: str, result: str) -> None:
        """Note how a logged event was handled."""
        await self._pool.execute("UPDATE marketplace_events SET result = $2 WHERE idempotency_key = $1", key, result)

    async def audit(self, actor: str, action: str, company_id: int | None, details: dict[str, Any] | None = None) -> None:
        """One audit_log row."""
        await self._pool.execute(
            "INSERT INTO audit_log (actor, action, company_id, details, at) VALUES ($1, $2, $3, $4, $5)",
            actor[:64], action[:64], company_id, details or {}, self._clock.now(),
        )

    async def audit_rows(self, company_id: int) -> list[dict[str, Any]]:
        """A company's audit trail, oldest first."""
        rows = await self._pool.fetch(
            "SELECT at, actor, action, details FROM audit_log WHERE company_id = $1 ORDER BY id", company_id
        )
        return [dict(r) for r in rows]


def _clean(value: Any) -> Any:
    """A JSON value without U+0000 (PostgreSQL text and JSONB refuse it)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _str(value: Any, limit: int = 255) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
    return value.replace("\x00", "")[:limit]
