-- A queued webhook delivery goes to the URL, signed with the secret, that were set when it was
-- queued: changing the webhook never re-targets documents already on their way.
ALTER TABLE webhook_deliveries ADD COLUMN url TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN secret TEXT;
