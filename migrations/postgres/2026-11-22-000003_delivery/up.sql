-- Delivery: per-app push credentials, the inbox, the outbox (deliveries), and scheduled jobs.

-- A vendor app's credentials for one push provider (web_push, apns, fcm).
CREATE TABLE push_credentials (
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    -- sealed JSON of the secret parts (private keys)
    secret TEXT NOT NULL,
    -- JSON of the parts that may be shown (public key, key id, team id, topic, project id)
    public_info TEXT NOT NULL,
    -- the last configuration error a provider reported, for the vendor to see
    config_error TEXT,
    config_error_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (app_id, provider)
);

-- 受信箱: every notification a family receives, recorded exactly once (dedupe_key). The texts
-- are the generic rendered template (no personal data); recorded_at is the legal moment of arrival.
CREATE TABLE inbox_entries (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    dedupe_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    template_id TEXT NOT NULL,
    language TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    inbox_text TEXT NOT NULL,
    task_id TEXT,
    urgency TEXT NOT NULL,
    collapse_key TEXT,
    recorded_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
CREATE INDEX inbox_entries_family ON inbox_entries (family_id, recorded_at);

-- 配信 (the outbox): one delivery of an entry to one device, written with the entry.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    entry_id TEXT NOT NULL REFERENCES inbox_entries (id) ON DELETE CASCADE,
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    last_error TEXT,
    provider_message_id TEXT,
    due_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (entry_id, device_id)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_lease ON deliveries (lease_owner);

-- 定期ジョブ: one row per job and scheduled instant, so several replicas run each tick once.
CREATE TABLE scheduled_jobs (
    dedupe_key TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    scheduled_for TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    lease_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE INDEX scheduled_jobs_pending ON scheduled_jobs (status, scheduled_for);
