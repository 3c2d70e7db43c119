"""YClients marketplace: registration, install redirect, tokens, API keys, activation, lifecycle, HTTP API.

Modules (one concept each):

- `config`      MarketplaceConfig (gateway.wiring.marketplace maps Settings onto it)
- `keys`        Redis key names (seed keys `marketplace:token:{token}`, `marketplace:company:{id}:token`)
- `store`       the SQL: companies, api_keys, marketplace_events, audit_log
- `tokens`      connect tokens (JWT HS256, 24 h, `company_id` + `iat` + `exp` + revocation `gen`), `sk_` keys
- `signing`     the install redirect's `user_data_sign` check (HMAC-SHA256, constant time)
- `claims`      who may get a salon's connect link on an install redirect (the salon id is a claim)
- `partner`     the PartnerApi interface (+ an HTTP implementation); `partner_sync` runs it on sync's client
- `service`     MarketplaceService: register, tokens, status, QR, install, ensure_session
- `activation`  Activator: session listener, partner callback with backoff, sweep (incl. retries of
                failed activations), welcome message
- `lifecycle`   uninstall/freeze notices and the salon callback
- `auth`        the auth middleware (route policies in route names `mp.<policy>.<what>`)
- `http`        the JSON routes; `openapi` their spec; `qrimage` QR PNG data URLs
"""
