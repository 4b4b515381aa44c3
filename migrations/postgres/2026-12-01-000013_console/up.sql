-- The municipal console (issue 17): staff sign in as people.
--
-- A person's account is a member of staff (`staff_members`, the identity notices, approvals and
-- the audit trail name) with a login and an argon2id password hash. Its `staff_members.key_hash`
-- is the hash of a key never issued, so the account has no API key.
CREATE TABLE staff_logins (
    staff_id TEXT PRIMARY KEY REFERENCES staff_members (id),
    login TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    must_change_password BOOLEAN NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);

-- A signed-in browser: the SHA-256 of its cookie, the form token its pages carry, and its end.
CREATE TABLE console_sessions (
    id TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff_members (id),
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_staff ON console_sessions (staff_id);
