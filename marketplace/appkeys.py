"""Typed application keys for the marketplace package's objects."""

from __future__ import annotations

from aiohttp import web

from marketplace.activation import Activator
from marketplace.config import MarketplaceConfig
from marketplace.lifecycle import Lifecycle
from marketplace.service import MarketplaceService

MARKETPLACE_CONFIG = web.AppKey("marketplace_config", MarketplaceConfig)
MARKETPLACE = web.AppKey("marketplace_service", MarketplaceService)
ACTIVATOR = web.AppKey("marketplace_activator", Activator)
LIFECYCLE = web.AppKey("marketplace_lifecycle", Lifecycle)
