"""The sandbox object: salons, tokens, marketplace installs, injectable faults, request log.

Tests hold a `Sandbox`, mount `sandbox.app()` on a TestServer (or the daemon mounts it under
`/sandbox/yclients/` in demo mode) and inspect `sandbox.requests` afterwards.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sync.clock import Clock
from sync.sandbox.state import Install, SandboxSalon, SbRecord
from sync.sandbox.webhooks import WebhookOutbox


@dataclass(frozen=True)
class RecordedRequest:
    """One request the sandbox received. `at` is sandbox-clock time, `wall` real Unix time."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: Any
    headers: dict[str, str]
    at: datetime
    wall: float

    def query_values(self, name: str) -> list[str]:
        """Every value of one query key (brackets already decoded)."""
        return [v for k, v in self.query if k == name]


@dataclass
class Fault:
    """Make requests matching `path` (a regex searched in the path) fail or lag.

    kind: "status" (JSON error with `status`), "html" (an HTML page with `status`),
    "rate_limit" (429, `retry_after_s`), "latency" (`delay_s` real seconds, then normal),
    "content_type" (the normal answer labelled `content_type`, as a misconfigured proxy does).
    `times` limits how many requests it hits (None: until removed).
    """

    path: str
    kind: str
    status: int = 500
    delay_s: float = 0.0
    retry_after_s: float | None = None
    content_type: str = "text/html"
    method: str | None = None
    times: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None


@dataclass
class Sandbox:
    """A YClients stand-in holding several salons. Tokens are what the real API would check."""

    clock: Clock
    partner_token: str
    user_token: str
    application_id: int = 18000
    install_target: str = "http://127.0.0.1/marketplace/yclients/install"
    salons: dict[int, SandboxSalon] = field(default_factory=dict)
    installs: dict[tuple[int, int], Install] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    strict_repeat_activation: bool = False  # [obs] "already installed" error on a repeat
    webhooks: WebhookOutbox = field(default_factory=WebhookOutbox)
    max_recorded: int = 50_000

    def __post_init__(self) -> None:
        self._ids = itertools.count(9_000_000)

    # --- salons ----------------------------------------------------------------------------
    def add_salon(self, data: dict[str, Any]) -> SandboxSalon:
        """Add (or replace) a salon from demo-salon.json-format data; records placed by day_offset
        relative to the sandbox clock's salon-local date."""
        salon = SandboxSalon(data, now=self.clock.now(), ids=self._ids)
        self.salons[salon.id] = salon
        return salon

    def add_salon_file(self, path: str | Path) -> SandboxSalon:
        """Add a salon from a demo-salon.json-format file."""
        return self.add_salon(json.loads(Path(path).read_text("utf-8")))

    def salon(self, salon_id: int) -> SandboxSalon | None:
        return self.salons.get(salon_id)

    def now(self) -> datetime:
        return self.clock.now()

    # --- faults and the request log ----------------------------------------------------------
    def add_fault(self, path: str, kind: str, **kw: Any) -> Fault:
        """Inject a fault (see `Fault`); returns it so a test can read `hits` or remove it."""
        fault = Fault(path=path, kind=kind, **kw)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                fault.hits += 1
                return fault
        return None

    def record(self, method: str, path: str, query: list[tuple[str, str]], body: Any, headers: dict[str, str]) -> None:
        if len(self.requests) >= self.max_recorded:
            del self.requests[: self.max_recorded // 10]
        self.requests.append(
            RecordedRequest(method, path, tuple(query), body, headers, self.clock.now(), time.time())
        )

    def requests_to(self, pattern: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path matches the regex `pattern` (and method, if given)."""
        return [
            r
            for r in self.requests
            if re.search(pattern, r.path) and (method is None or r.method == method.upper())
        ]

    # --- marketplace ------------------------------------------------------------------------
    def install(self, salon_id: int, application_id: int | None = None) -> Install:
        """The marketplace state of a salon for an application (created as "uninstalled")."""
        key = (salon_id, application_id or self.application_id)
        return self.installs.setdefault(key, Install())

    def set_install_status(self, salon_id: int, status: str, source: str, application_id: int | None = None) -> None:
        inst = self.install(salon_id, application_id)
        if inst.status != status:
            inst.logs.append(
                {
                    "changed_at": self.now().astimezone(self.salons[salon_id].tz if salon_id in self.salons else None)
                    .strftime("%Y-%m-%d %H:%M:%S"),
                    "status_from": inst.status,
                    "status_to": status,
                    "source": source,
                }
            )
            inst.status = status

    def is_installed(self, salon_id: int) -> bool:
        return self.install(salon_id).status == "active"

    async def emit_record(self, salon: SandboxSalon, record: SbRecord, status: str, changed: tuple[str, ...] = ()) -> None:
        """Send a `record` data webhook to the URLs the salon's activation registered (if any)."""
        from sync.sandbox.rest import render_record

        inst = self.installs.get((salon.id, self.application_id))
        if inst is None or inst.status != "active" or not inst.webhook_urls:
            return
        body = {"company_id": salon.id, "resource": "record", "resource_id": record.id, "status": status,
                "data": render_record(salon, record)}
        await self.webhooks.emit(list(inst.webhook_urls), body, ("last_change_date", *changed))
