-- Reminders and review requests of the booking handler: each notification is claimed by a unique
-- row BEFORE it is sent, so duplicate job runs (several instances, retries) never send it twice.
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    kind VARCHAR(20) NOT NULL,                 -- day_before | two_hours | review
    client_phone VARCHAR(20) NOT NULL,
    starts_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (company_id, record_id, kind)
);

CREATE TABLE reviews (
    id BIGSERIAL PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    client_phone VARCHAR(20) NOT NULL,
    rating SMALLINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment TEXT,
    flagged BOOLEAN NOT NULL DEFAULT FALSE,     -- low rating: the salon should call the client
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (company_id, record_id)
);
