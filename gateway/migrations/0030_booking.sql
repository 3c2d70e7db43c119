-- The booking handler (booking/): dialogue state per chat, the bot's bookings, and the inbound
-- messages waiting for the debounced answer (durable across restarts).

CREATE TABLE conversations (
    id BIGSERIAL PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    chat VARCHAR(128) NOT NULL,
    state JSONB NOT NULL DEFAULT '{}'::jsonb,
    version INTEGER NOT NULL DEFAULT 0,           -- optimistic concurrency
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (company_id, chat)
);

-- Every booking action of the bot. A row is claimed (status 'pending') under its idempotency key
-- BEFORE YClients is called, so a second confirmation or a racing message cannot book twice.
CREATE TABLE bookings (
    id BIGSERIAL PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    idempotency_key VARCHAR(200) NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'pending', -- pending | unknown (no answer) | booked | cancelled
    record_id BIGINT,
    record_hash VARCHAR(64),
    api_id VARCHAR(64),
    chat VARCHAR(128),
    client_phone VARCHAR(20) NOT NULL,
    client_name VARCHAR(255),
    staff_id INTEGER,
    service_ids INTEGER[] NOT NULL DEFAULT '{}',
    starts_at TIMESTAMPTZ,
    datetime_raw VARCHAR(40),                      -- the book_times datetime, verbatim
    created_by_bot BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (company_id, idempotency_key)
);
CREATE UNIQUE INDEX idx_bookings_record ON bookings(company_id, record_id) WHERE record_id IS NOT NULL;
CREATE INDEX idx_bookings_phone ON bookings(company_id, client_phone);

-- Inbound client messages accepted by the booking handler, answered after the debounce window.
-- A row stays 'pending' until its answer is in the outbox, so a restart answers it.
CREATE TABLE booking_inbox (
    message_id BIGINT NOT NULL,                    -- messages.id (sessions inbox)
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    chat VARCHAR(128) NOT NULL,
    sender_phone VARCHAR(20),
    push_name VARCHAR(255),
    text TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    status VARCHAR(10) NOT NULL DEFAULT 'pending', -- pending | done
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    done_at TIMESTAMPTZ,
    PRIMARY KEY (company_id, message_id)
);
CREATE INDEX idx_booking_inbox_pending ON booking_inbox(company_id, chat) WHERE status = 'pending';
