-- Who did what (issue 13); see the SQLite migration of the same name for the why of each part.
ALTER TABLE signatures DROP CONSTRAINT signatures_family_id_fkey;
ALTER TABLE signatures ADD COLUMN signer_match TEXT NOT NULL DEFAULT 'basic_four_match';
ALTER TABLE signatures ADD COLUMN holder_name TEXT;
CREATE INDEX signatures_family ON signatures (family_id);

ALTER TABLE submissions DROP CONSTRAINT submissions_family_id_fkey;
ALTER TABLE submissions ADD COLUMN family_deleted_at TIMESTAMP;
CREATE INDEX submissions_family_deleted ON submissions (family_deleted_at) WHERE family_deleted_at IS NOT NULL;

-- Each approval of a notice, with the SHA-256 of the contents approved: a notice is sent or
-- scheduled only while its contents still have the digest of its latest approval.
CREATE TABLE notice_approvals (
    id TEXT PRIMARY KEY NOT NULL,
    notice_id TEXT NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    staff_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    approved_at TIMESTAMP NOT NULL
);
CREATE INDEX notice_approvals_notice ON notice_approvals (notice_id, approved_at);

ALTER TABLE staff_members ADD COLUMN expires_at TIMESTAMP;
ALTER TABLE staff_members ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;

-- 監査記録: append-only; ids and codes only, never a name, a token or a secret.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    municipality_code TEXT,
    detail TEXT,
    request_id TEXT
);
CREATE INDEX audit_events_municipality ON audit_events (municipality_code, occurred_at);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
