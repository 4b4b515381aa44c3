-- 事業者向けイベント: an app's webhook (one per app), the event kinds it chose, and its outbox.
-- The secret is sealed (`app_webhooks.secret`); payloads carry ids and kinds only, so they are
-- stored as they go out.
CREATE TABLE app_webhooks (
    app_id TEXT PRIMARY KEY REFERENCES apps (id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    -- The chosen kinds, sorted and comma-separated (`tasks.changed,inbox.entry_arrived`).
    kinds TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE app_event_deliveries (
    -- The event's id, sent as `Nonstop-Event-Id`.
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX app_event_deliveries_due ON app_event_deliveries (status, next_attempt_at);
CREATE INDEX app_event_deliveries_log ON app_event_deliveries (app_id, id);

-- A queued delivery now goes to the webhook's URL, signed with its secret, as they are when it
-- is sent (`jobs::webhooks`): a URL or secret replaced because the old one moved or leaked is
-- the one the municipality wants used. The copies kept at queueing time go.
ALTER TABLE webhook_deliveries DROP COLUMN url;
ALTER TABLE webhook_deliveries DROP COLUMN secret;
