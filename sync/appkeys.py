"""Typed aiohttp application keys for sync's objects (set by gateway/wiring/sync.py)."""

from __future__ import annotations

from aiohttp import web

from sync.client import YClientsClient
from sync.sandbox.core import Sandbox
from sync.service import SyncService
from sync.store import SyncStore
from sync.webhooks import WebhookIngest

YCLIENTS = web.AppKey("yclients_client", YClientsClient)  # the process's one YClients client
SYNC_STORE = web.AppKey("sync_store", SyncStore)  # the local copy (read methods for booking)
SYNC_SERVICE = web.AppKey("sync_service", SyncService)  # run_once / sync_company_now / status
SYNC_WEBHOOKS = web.AppKey("sync_webhooks", WebhookIngest)
YCLIENTS_SANDBOX = web.AppKey("yclients_sandbox_demo", Sandbox)  # demo mode only
