"""The marketplace package's configuration (gateway maps its Settings onto this)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MarketplaceConfig:
    """Everything the marketplace and web packages need to know about the deployment."""

    jwt_secret: str
    public_base_url: str  # no trailing slash
    admin_api_key: str = ""  # empty: admin routes closed
    partner_token: str = ""
    application_id: int = 0
    yclients_base_url: str = "https://api.yclients.com"
    yclients_timeout_s: float = 15.0
    allow_unsigned: bool = False
    token_ttl_s: int = 24 * 3600
    max_body_bytes: int = 64 * 1024
    extra_origins: tuple[str, ...] = ()
    ws_connects_per_window: int = 5
    ws_window_s: int = 60
    ws_heartbeat_s: float = 15.0
    trust_forwarded_for: bool = False
    activation_attempts: int = 4
    activation_backoff_s: float = 2.0
    activation_backoff_cap_s: float = 60.0
    activation_retry_base_s: float = 300.0  # sweep retry of a failed activation: first delay, doubling...
    activation_retry_cap_s: float = 6 * 3600.0  # ... up to this (jittered 50-100 %)
    welcome_text: str = (
        "Здравствуйте! AI Admin подключён к WhatsApp вашего салона. "
        "Теперь бот отвечает клиентам и записывает их 24/7."
    )
    frame_ancestors: tuple[str, ...] = field(
        default=("'self'", "https://yclients.com", "https://*.yclients.com")
    )
