-- Data webhook events (package `sync`): a claim lease so that two instances never process one
-- event at once, the outcome of processing, and an index for the retention sweep.

ALTER TABLE sync_webhook_events
    ADD COLUMN claimed_by TEXT,             -- the instance (WebhookIngest) holding the claim
    ADD COLUMN claimed_until TIMESTAMPTZ,   -- the claim lapses then (a crashed instance's events come back)
    ADD COLUMN outcome TEXT;                -- refreshed | deleted | skipped (not a record) | ignored (salon not active)

CREATE INDEX idx_sync_webhook_events_received ON sync_webhook_events(received_at);
