-- booking: the bot's own moves and cancellations of YClients records, ANY record (also those the
-- salon made, which have no `bookings` row, no api_id of ours and, once deleted, no comment). The
-- change notices (booking/notifications) read it so the client is not told again about a change the
-- bot just confirmed in the chat. Written by booking/store.py after YClients accepted the change;
-- rows older than the retention are pruned on write.
CREATE TABLE bot_record_changes (
    id BIGSERIAL PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    record_id BIGINT NOT NULL,
    action VARCHAR(10) NOT NULL CHECK (action IN ('moved', 'cancelled')),
    starts_at TIMESTAMPTZ,                 -- moved: the new start; cancelled: NULL
    changed_at TIMESTAMPTZ NOT NULL        -- the booking handler's clock
);
CREATE INDEX idx_bot_record_changes_record ON bot_record_changes(company_id, record_id, changed_at);
CREATE INDEX idx_bot_record_changes_age ON bot_record_changes(changed_at);
