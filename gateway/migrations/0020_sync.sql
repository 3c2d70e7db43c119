-- The local copy of each salon's YClients data (package `sync`), per our companies.id.

CREATE TABLE sync_company_info (
    company_id INTEGER PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    salon_id INTEGER NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    timezone TEXT NOT NULL DEFAULT 'Europe/Moscow',
    schedule_text TEXT NOT NULL DEFAULT '',
    raw JSONB NOT NULL DEFAULT '{}'::jsonb,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TABLE sync_service_categories (
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    category_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    weight INTEGER NOT NULL DEFAULT 0,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (company_id, category_id)
);

CREATE TABLE sync_services (
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    service_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    category_id BIGINT,
    price_min NUMERIC(12, 2),
    price_max NUMERIC(12, 2),
    duration_s INTEGER,            -- the shortest performer's seance_length
    active BOOLEAN NOT NULL DEFAULT TRUE,
    weight INTEGER NOT NULL DEFAULT 0,
    comment TEXT NOT NULL DEFAULT '',
    deleted BOOLEAN NOT NULL DEFAULT FALSE,  -- gone from YClients
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (company_id, service_id)
);

CREATE TABLE sync_staff (
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    staff_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    specialization TEXT NOT NULL DEFAULT '',
    position TEXT NOT NULL DEFAULT '',
    avatar TEXT NOT NULL DEFAULT '',
    fired BOOLEAN NOT NULL DEFAULT FALSE,
    hidden BOOLEAN NOT NULL DEFAULT FALSE,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (company_id, staff_id)
);

-- Who performs what, and how long it takes them.
CREATE TABLE sync_staff_services (
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    staff_id BIGINT NOT NULL,
    service_id BIGINT NOT NULL,
    duration_s INTEGER,
    PRIMARY KEY (company_id, staff_id, service_id)
);

CREATE TABLE sync_schedules (
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    staff_id BIGINT NOT NULL,
    day DATE NOT NULL,
    is_working BOOLEAN NOT NULL,
    slots JSONB NOT NULL DEFAULT '[]'::jsonb,   -- [["10:00", "14:00"], ...] salon-local
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (company_id, staff_id, day)
);

CREATE TABLE sync_records (
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    staff_id BIGINT,
    staff_name TEXT NOT NULL DEFAULT '',
    client_id BIGINT,
    client_name TEXT NOT NULL DEFAULT '',
    client_phone TEXT NOT NULL DEFAULT '',     -- E.164 digits, no '+'
    starts_at TIMESTAMPTZ,
    date_local TEXT NOT NULL DEFAULT '',       -- "YYYY-MM-DD HH:MM:SS" salon-local
    length_s INTEGER NOT NULL DEFAULT 0,
    service_ids BIGINT[] NOT NULL DEFAULT '{}', -- sorted: compare sets, never lists
    services JSONB NOT NULL DEFAULT '[]'::jsonb,
    comment TEXT NOT NULL DEFAULT '',
    attendance INTEGER NOT NULL DEFAULT 0,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,    -- deleted or cancelled in YClients
    api_id TEXT NOT NULL DEFAULT '',
    visit_id BIGINT,
    last_change_date TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (company_id, record_id)
);
CREATE INDEX idx_sync_records_phone ON sync_records(company_id, client_phone, starts_at);
CREATE INDEX idx_sync_records_starts ON sync_records(company_id, starts_at);

-- Per company and kind (company, services, staff, schedules, records): the last outcome.
CREATE TABLE sync_status (
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    last_success_at TIMESTAMPTZ,
    last_error_at TIMESTAMPTZ,
    last_error TEXT,
    item_count INTEGER NOT NULL DEFAULT 0,
    changed_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, kind)
);

-- Data webhooks from YClients, deduplicated (reference section 5).
CREATE TABLE sync_webhook_events (
    id BIGSERIAL PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    dedupe_key CHAR(64) NOT NULL UNIQUE,
    resource TEXT NOT NULL,
    resource_id BIGINT,
    status TEXT NOT NULL,
    payload JSONB NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    processed_at TIMESTAMPTZ,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX idx_sync_webhook_events_pending ON sync_webhook_events(company_id, id) WHERE processed_at IS NULL;
