DROP TABLE webhook_deliveries;
DROP TABLE municipal_webhooks;
