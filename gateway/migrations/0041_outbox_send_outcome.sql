-- Outbox: what is known about a send's outcome (sessions/outbox.py).
-- 'uncertain': a send reached the wire and its outcome is unknown (timeout, worker died mid-send, a
-- crash left the row 'sending') on a transport that cannot resend with the same WhatsApp id
-- (neonize): never resent automatically, so the client never gets it twice.
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'uncertain'));
-- Set just before send_text is called, cleared when the attempt is known not to have gone out: a
-- stale 'sending' row with it set may have been delivered.
ALTER TABLE outbox ADD COLUMN send_started_at TIMESTAMPTZ;
-- The id the transport reported (neonize picks its own, not our wa_message_id).
ALTER TABLE outbox ADD COLUMN sent_wa_message_id TEXT;
-- When the typing indicator was shown for this row (the text follows after a short delay).
ALTER TABLE outbox ADD COLUMN typing_at TIMESTAMPTZ;
