-- booking/notifications: delivery bookkeeping on the `notifications` claim table of 0031, the
-- salon-change snapshots, and per-company baselines.
--
-- A notification row is inserted (ON CONFLICT DO NOTHING) BEFORE its message is queued; the same
-- unique (company_id, record_id, kind) key dedupes every job and instance. Kinds:
--   day_before | two_hours | review                      reminders and the review request
--   change:<fingerprint>                                 a salon-made create/move/cancel, per new state
--   day_before#<id> | two_hours#<id>                     a reminder archived when the visit moved
ALTER TABLE notifications ALTER COLUMN kind TYPE VARCHAR(40);
ALTER TABLE notifications
    ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'queued', -- claimed | queued | answered | failed
    ADD COLUMN outbox_id BIGINT,
    ADD COLUMN chat VARCHAR(128),
    ADD COLUMN answer VARCHAR(20),                  -- confirmed | rated | comment_asked | commented
    ADD COLUMN answered_at TIMESTAMPTZ,
    ADD COLUMN sent_at TIMESTAMPTZ;
CREATE INDEX idx_notifications_open ON notifications(company_id, client_phone, created_at)
    WHERE answered_at IS NULL;

-- The last state of each upcoming record the change notices have seen (salon-made changes are
-- found by comparing it with the synced record: date/time, staff, the SET of service ids).
CREATE TABLE notification_snapshots (
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    fingerprint CHAR(16) NOT NULL,
    starts_at TIMESTAMPTZ,
    staff_id BIGINT,
    service_ids BIGINT[] NOT NULL DEFAULT '{}',   -- sorted
    cancelled BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (company_id, record_id)
);

-- A company's first change scan only records what exists (no notices for the whole book).
CREATE TABLE notification_baselines (
    company_id INTEGER PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
