-- booking/notifications: the job looks for confirmations YClients has not been told yet every tick.
CREATE INDEX idx_notifications_confirm_pending ON notifications(company_id, starts_at)
    WHERE answer = 'confirm_pending';
