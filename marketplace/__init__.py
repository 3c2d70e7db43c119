"""YClients marketplace: registration, install redirect, tokens, API keys, activation, webhooks, HTTP API."""
