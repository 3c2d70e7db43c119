-- Who installed each salon: the YClients user id of the signed install redirect (user_data `id` or
-- `user_id`). Later install redirects for the salon must come from the same user (marketplace/claims.py).
ALTER TABLE companies ADD COLUMN installed_by_user_id VARCHAR(64);

-- Salons installed before this column existed: the first signed install's user, from the audit log.
UPDATE companies c SET installed_by_user_id = first_install.user_id
FROM (
    SELECT DISTINCT ON (company_id) company_id, details->>'user_id' AS user_id
    FROM audit_log
    WHERE action = 'install' AND company_id IS NOT NULL AND details->>'user_id' IS NOT NULL
    ORDER BY company_id, id
) AS first_install
WHERE c.id = first_install.company_id;
