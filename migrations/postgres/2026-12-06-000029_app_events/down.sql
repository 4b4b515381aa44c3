ALTER TABLE webhook_deliveries ADD COLUMN url TEXT;
ALTER TABLE webhook_deliveries ADD COLUMN secret TEXT;
DROP TABLE app_event_deliveries;
DROP TABLE app_webhooks;
