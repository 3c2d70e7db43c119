-- WhatsApp sessions engine: session state, inbound messages, the durable outbox.

CREATE TABLE wa_sessions (
    company_id INTEGER PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    state VARCHAR(32) NOT NULL DEFAULT 'STOPPED',
    reason TEXT,
    desired VARCHAR(16) NOT NULL DEFAULT 'stopped' CHECK (desired IN ('running', 'stopped')),
    jid TEXT,
    phone VARCHAR(20),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    banned_until TIMESTAMPTZ,
    connected_at TIMESTAMPTZ,
    lease_epoch BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE INDEX idx_wa_sessions_running ON wa_sessions(company_id) WHERE desired = 'running';

-- Every message seen: 'in' (a client wrote), 'out' (we sent), 'staff' (sent by hand from the phone).
CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    direction VARCHAR(8) NOT NULL CHECK (direction IN ('in', 'out', 'staff')),
    wa_message_id TEXT NOT NULL,
    chat TEXT NOT NULL,
    sender_phone VARCHAR(20),
    push_name TEXT,
    text TEXT NOT NULL,
    sent_at TIMESTAMPTZ,
    received_at TIMESTAMPTZ NOT NULL,
    claimed_at TIMESTAMPTZ,
    handled_at TIMESTAMPTZ,
    handle_note TEXT,
    UNIQUE (company_id, direction, wa_message_id)
);
CREATE INDEX idx_messages_unhandled ON messages(id) WHERE direction = 'in' AND handled_at IS NULL;
CREATE INDEX idx_messages_chat ON messages(company_id, chat, id);

-- status: pending (waiting, maybe for its session or a rate limit) -> sending (claimed) -> sent;
-- failed = the last send attempt failed, retried at next_attempt_at; dead = gave up after max attempts.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    kind VARCHAR(32) NOT NULL DEFAULT 'reply',
    chat TEXT NOT NULL,
    text TEXT NOT NULL,
    wa_message_id TEXT NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_at TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ,
    UNIQUE (company_id, idempotency_key),
    UNIQUE (company_id, wa_message_id)
);
CREATE INDEX idx_outbox_due ON outbox(next_attempt_at) WHERE status IN ('pending', 'failed', 'sending');
