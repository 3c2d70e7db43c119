-- Failed activations are retried by the sweep with capped exponential backoff (marketplace/activation.py).
ALTER TABLE companies
    ADD COLUMN activation_attempts INTEGER NOT NULL DEFAULT 0,  -- activation runs failed in a row
    ADD COLUMN activation_retry_at TIMESTAMPTZ;                 -- next sweep retry; NULL: none (terminal refusal)

CREATE INDEX idx_companies_activation_retry ON companies(activation_retry_at)
    WHERE integration_status = 'activation_failed';

-- Failures from before: retry those that were not a 4xx refusal (401/403/404/422 are terminal).
UPDATE companies SET activation_attempts = 1, activation_retry_at = status_changed_at
WHERE integration_status = 'activation_failed'
  AND COALESCE(integration_error, '') !~ '(-> |HTTP )4(0[0-9]|1[0-9]|2[0-8]|[3-9][0-9])';
