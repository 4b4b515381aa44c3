-- What each approval vouched for, as JSON (its SHA-256 is the digest), so that whoever approves
-- next sees what changed since. Approvals recorded before keep NULL.
ALTER TABLE notice_approvals ADD COLUMN contents TEXT;
-- The webhook's latest deliveries, per municipality (the console's settings page).
CREATE INDEX webhook_deliveries_recent ON webhook_deliveries (municipality_code, created_at);
