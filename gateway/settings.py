"""Process settings, read from environment variables and an optional `.env` file.

Every variable is documented in README.md ("Configuration"). Domain packages never see this
class: gateway maps it onto each package's own config dataclass.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PARTNER_TOKEN = "dev-partner-token"
DEV_USER_TOKEN = "dev-user-token"
DEV_JWT_SECRET = "dev-jwt-secret-change-me-0123456789abcdef"
DEV_APPLICATION_ID = 18000
DEMO_ADMIN_API_KEY = "demo-admin-key"


class Settings(BaseSettings):
    """All configuration of one gateway process."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # --- process -----------------------------------------------------------------------
    host: str = "0.0.0.0"
    port: int = 8080
    public_base_url: str = ""  # e.g. https://ai-admin.app; default http://localhost:PORT
    var_dir: str = "var"
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    demo: bool = False
    demo_now: datetime | None = None  # demo mode only: start the clock at this moment
    shutdown_grace_s: float = 10.0
    max_body_bytes: int = 64 * 1024
    instance_id: str = Field(default_factory=lambda: secrets.token_hex(4))

    # --- storage -------------------------------------------------------------------------
    database_url: str | None = None  # unset: embedded PostgreSQL in var/pg
    redis_url: str | None = None  # unset: embedded Redis in var/redis
    db_pool_min: int = 1
    db_pool_max: int = 10

    # --- security ----------------------------------------------------------------------
    jwt_secret: str = ""  # unset: DEV_JWT_SECRET in demo mode; required outside it
    admin_api_key: str = ""  # operator key (X-API-Key); unset disables admin routes
    connect_token_ttl_s: int = 24 * 3600
    cors_extra_origins: str = ""  # comma separated, added to the DESIGN allow-list

    # --- WhatsApp sessions -------------------------------------------------------------
    whatsapp_provider: Literal["sim", "neonize"] = "sim"
    # Engine worker processes for the transports; 0: in-process. Unset: 0 for the simulator, 1 for
    # neonize (a Go fatal error in the library must end a worker, not the daemon).
    engine_workers: int | None = Field(default=None, ge=0)
    sessions_per_worker: int = 50
    sim_qr_first_s: float = 60.0
    sim_qr_next_s: float = 20.0
    sim_qr_count: int = 6
    sim_idempotent_send: bool = True  # false: the simulator sends like neonize (own ids, every copy delivered)
    session_max_attempts: int = 8
    session_backoff_base_s: float = 2.0
    session_backoff_cap_s: float = 300.0
    restore_concurrency: int = 20
    restore_stagger_ms: int = 10
    handoff_pause_minutes: int = 120
    outbox_per_minute: int = 20
    outbox_chat_interval_s: float = 1.0
    outbox_typing_ms_per_char: float = 30.0  # "typing..." before a message: per character of its text ...
    outbox_typing_max_ms: float = 3000.0  # ... at most this long (0: no pause)
    neonize_store_dsn: str = ""  # unset: sqlite file under var/wa
    session_lease_ttl_ms: int = 15_000  # session ownership lease (DESIGN 9); renewed every third of it
    # engine workers (sessions/supervisor.py) and the neonize transport
    engine_recycle_after_connects: int = 200  # neonize: replace a worker after this many store connections; 0: never
    engine_heartbeat_timeout_s: float = 30.0  # a worker silent this long is killed and restarted
    neonize_connect_attempts: int = 3  # first-connect attempts (whatsmeow never retries a failed first one)
    neonize_qr_timeout_s: float = 160.0  # end of a QR series (the library sends no event)

    # --- YClients ----------------------------------------------------------------------
    yclients_base_url: str = "https://api.yclients.com"
    yclients_partner_token: str = DEV_PARTNER_TOKEN  # the sandbox's; outside demo mode it must be set
    yclients_user_token: str = DEV_USER_TOKEN
    yclients_application_id: int = DEV_APPLICATION_ID
    yclients_rate_per_s: float = 5.0
    yclients_timeout_s: float = 15.0
    yclients_max_attempts: int = 4  # tries of an idempotent YClients call (429/5xx/timeouts); book_record: 1
    yclients_backoff_base_s: float = 0.5  # first retry delay; doubles, jittered, capped below
    yclients_backoff_cap_s: float = 10.0
    sync_days_ahead: int = 30  # schedules and records copied this many days ahead
    sync_records_interval_s: float = 900.0  # records sync period (catalogue daily, schedules nightly+hourly)
    sync_webhook_retention_days: int = Field(default=14, ge=1)  # data webhook events kept this long
    marketplace_allow_unsigned: bool = False

    # --- marketplace + web (connect page, WebSocket) -----------------------------------
    marketplace_activation_attempts: int = 4  # partner callback tries (transient errors) before activation_failed
    marketplace_activation_backoff_s: float = 2.0  # first retry delay; doubles, jittered, capped at 60 s
    marketplace_activation_retry_base_s: float = 300.0  # sweep retry of a failed activation; doubles...
    marketplace_activation_retry_cap_s: float = 6 * 3600.0  # ... up to this (terminal refusals never)
    ws_connects_per_minute: int = 5  # WebSocket connections per IP per 60 s (Redis, all instances)
    trust_forwarded_for: bool = False  # take the client IP from X-Forwarded-For (behind our own proxy only)

    # --- booking -----------------------------------------------------------------------
    debounce_ms: int = 2000
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_model: str = ""
    llm_timeout_s: float = 15.0

    # --- notifications (booking/notifications: reminders, reviews, change notices) ----------
    notifications_enabled: bool = True  # the reminder/review/change-notice job and the reply handling
    reminder_day_before_hour: int = Field(default=19, ge=0, le=23)  # salon-local hour of the evening reminder
    reminder_hours_before: float = Field(default=2.0, gt=0, le=24)  # the "soon" reminder, hours before the visit
    review_delay_hours: float = Field(default=3.0, ge=0, le=72)  # review request, hours after the visit ends
    quiet_hours: str = "21-10"  # salon-local "START-END" hours when nothing is sent ("" = none)
    notifications_interval_s: float = 300.0  # how often the notifications job runs

    @field_validator("demo_now", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _demo_defaults(self) -> Settings:
        # Demo mode needs an operator key to show; an ADMIN_API_KEY from the environment wins.
        if self.demo and not self.admin_api_key:
            self.admin_api_key = DEMO_ADMIN_API_KEY
        return self

    def engine_worker_count(self) -> int:
        """ENGINE_WORKERS, or the provider's default when it is unset."""
        if self.engine_workers is not None:
            return self.engine_workers
        return 1 if self.whatsapp_provider == "neonize" else 0

    def effective_public_base_url(self) -> str:
        """The URL salons and YClients reach us at (no trailing slash)."""
        base = self.public_base_url or f"http://localhost:{self.port}"
        return base.rstrip("/")

    def effective_jwt_secret(self) -> str:
        """The JWT secret; the fixed development one in demo mode when unset."""
        if self.jwt_secret:
            return self.jwt_secret
        if self.demo:
            return DEV_JWT_SECRET
        raise InsecureSettings(self.insecure_secrets())

    def insecure_secrets(self) -> list[str]:
        """Secrets that are unset or a published development default (allowed in demo mode only).

        The partner token is the HMAC key of install redirects and the only check of lifecycle
        notices, the JWT secret signs every connect link: with a known value anyone could forge them.
        """
        if self.demo:
            return []
        problems = []
        if self.yclients_partner_token in ("", DEV_PARTNER_TOKEN):
            problems.append("YCLIENTS_PARTNER_TOKEN is unset or the development default")
        if self.jwt_secret in ("", DEV_JWT_SECRET):
            problems.append("JWT_SECRET is unset or the development default")
        return problems

    def require_production_secrets(self) -> None:
        """Raise InsecureSettings outside demo mode when `insecure_secrets()` finds any."""
        problems = self.insecure_secrets()
        if problems:
            raise InsecureSettings(problems)


class InsecureSettings(ValueError):
    """The daemon refuses to start outside demo mode with unset or development-default secrets."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "refusing to start outside demo mode: " + "; ".join(problems or ["secrets missing"])
            + ". Set them in the environment (or .env), or run `ai-admin serve --demo`."
        )
        self.problems = problems
