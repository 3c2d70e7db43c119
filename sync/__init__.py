"""YClients: the REST client, the sandbox server, and the sync of each salon's data.

- `sync.client.YClientsClient` — typed calls (booking chain, admin reads, marketplace partner
  routes) over `sync.http.ApiTransport` (headers, envelope, retries, the Redis rate limiter of
  `sync.ratelimit`); errors from `sync.errors`; values from `sync.models`.
- `sync.sandbox` — a faithful YClients stand-in (aiohttp app) for tests and demo mode.
- `sync.service.SyncService` — `run_once(company_id, what)`, `sync_company_now`, `status`,
  scheduler jobs; `sync.store.SyncStore` — the local copy and its read methods;
  `sync.webhooks.WebhookIngest` — `POST /marketplace/webhook/{companyId}`.
- `sync.appkeys` — the aiohttp keys under which gateway/wiring/sync.py stores these objects.
"""
