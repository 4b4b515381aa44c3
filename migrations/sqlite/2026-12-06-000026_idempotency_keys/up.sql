-- Idempotency keys (the `Idempotency-Key` header of a POST): the first answer to a key, replayed
-- to a retry with the same body for 24 hours. Keyed by a digest of the credential and the key,
-- so neither is kept in clear; the answer is sealed, since it may carry personal data.
CREATE TABLE idempotency_keys (
    -- SHA-256 of the credential's digest and the key the caller chose.
    id TEXT PRIMARY KEY,
    -- SHA-256 of the method, path and body of the first request.
    request_digest TEXT NOT NULL,
    -- The first answer's status; NULL while the first request runs.
    status INTEGER,
    -- The first answer's JSON body, sealed (NULL for an empty body).
    response TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
