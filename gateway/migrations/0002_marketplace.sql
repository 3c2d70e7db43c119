-- Marketplace bookkeeping: install/activation/lifecycle columns on companies, the raw webhook log,
-- and the audit log of admin and lifecycle actions.
ALTER TABLE companies
    ADD COLUMN integration_error TEXT,            -- last activation error, shown by the status route
    ADD COLUMN activated_at TIMESTAMPTZ,
    ADD COLUMN status_changed_at TIMESTAMPTZ,
    ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 1,  -- bumped to revoke every connect token
    ADD COLUMN install_seq INTEGER NOT NULL DEFAULT 1;      -- bumped on each (re)install

-- Raw lifecycle/callback log. `idempotency_key` makes a replayed notice a no-op.
CREATE TABLE marketplace_events (
    id BIGSERIAL PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    source VARCHAR(32) NOT NULL,                  -- 'lifecycle' | 'callback' | 'install'
    event VARCHAR(64) NOT NULL,
    salon_id INTEGER,
    company_id INTEGER REFERENCES companies(id) ON DELETE SET NULL,
    payload JSONB NOT NULL,
    result VARCHAR(64),
    received_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_marketplace_events_company ON marketplace_events(company_id);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    actor VARCHAR(64) NOT NULL,                   -- 'admin' | 'yclients' | 'salon:<id>' | 'system'
    action VARCHAR(64) NOT NULL,
    company_id INTEGER REFERENCES companies(id) ON DELETE SET NULL,
    details JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX idx_audit_log_company ON audit_log(company_id, at);

ALTER TABLE api_keys ADD COLUMN label VARCHAR(32) NOT NULL DEFAULT 'salon';
