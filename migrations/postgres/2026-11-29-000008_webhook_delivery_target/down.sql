ALTER TABLE webhook_deliveries DROP COLUMN secret;
ALTER TABLE webhook_deliveries DROP COLUMN url;
