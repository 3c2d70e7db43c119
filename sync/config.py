"""Configuration of the `sync` package (gateway/wiring/sync.py maps Settings onto these)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class YClientsConfig:
    """How to reach YClients. `base_url` has no `/api/v1`: REST is `{base}/api/v1`, partner
    routes `{base}/marketplace` (reference 1.1)."""

    base_url: str = "https://api.yclients.com"
    partner_token: str = ""
    user_token: str = ""  # empty: partner-token-only calls (reference gotcha 2)
    application_id: int = 0
    rate_per_s: float = 5.0
    timeout_s: float = 15.0
    max_attempts: int = 4  # total tries of an idempotent call (1 = no retry)
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 10.0
    page_size: int = 100


@dataclass(frozen=True)
class SyncConfig:
    """What to copy and how often (scheduler crontabs are UTC)."""

    days_ahead: int = 30
    catalog_cron: str = "0 0 * * *"  # company, services, staff: daily (03:00 Moscow)
    schedules_cron: str = "30 0 * * *"  # schedules, 30 days ahead: nightly
    schedules_near_interval_s: float = 3600.0  # today + tomorrow schedules: hourly
    records_interval_s: float = 900.0  # records, today .. +days_ahead: every 15 minutes
    webhook_sweep_interval_s: float = 60.0  # re-process webhook events left unprocessed
    webhook_lease_s: float = 300.0  # a claim on webhook events lapses after this (a crashed instance's)
    webhook_retention_days: int = 14  # webhook events older than this are deleted
    webhook_prune_interval_s: float = 3600.0  # how often the retention sweep runs
    company_concurrency: int = 4  # companies synced at once by one job tick
