-- Salons. Columns of the original system's `companies` table (the seed document), plus our own
-- bookkeeping. `id` is our company_id; `salon_id` is the YClients company id.
CREATE TABLE companies (
    id SERIAL PRIMARY KEY,
    salon_id INTEGER NOT NULL UNIQUE,
    company_id INTEGER,               -- the seed's column; kept equal to salon_id for compatibility
    yclients_id INTEGER,              -- the seed's column; kept equal to salon_id for compatibility
    title VARCHAR(255),
    phone VARCHAR(20),
    email VARCHAR(100),
    address VARCHAR(500),
    timezone VARCHAR(50) NOT NULL DEFAULT 'Europe/Moscow',

    whatsapp_connected BOOLEAN NOT NULL DEFAULT FALSE,
    whatsapp_phone VARCHAR(20),
    whatsapp_connected_at TIMESTAMPTZ,
    integration_status VARCHAR(50) NOT NULL DEFAULT 'pending',
    connected_at TIMESTAMPTZ,

    ai_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    sync_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    whatsapp_enabled BOOLEAN NOT NULL DEFAULT FALSE,

    raw_data JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ
);

CREATE INDEX idx_companies_whatsapp_connected ON companies(whatsapp_connected) WHERE whatsapp_connected = true;
CREATE INDEX idx_companies_whatsapp_phone ON companies(whatsapp_phone) WHERE whatsapp_phone IS NOT NULL;
CREATE INDEX idx_companies_integration_status ON companies(integration_status);

-- Salon API keys: only a visible prefix and the sha256 of the whole key are stored.
CREATE TABLE api_keys (
    id SERIAL PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    prefix VARCHAR(16) NOT NULL,
    key_sha256 CHAR(64) NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    revoked_at TIMESTAMPTZ
);
CREATE INDEX idx_api_keys_company ON api_keys(company_id);
