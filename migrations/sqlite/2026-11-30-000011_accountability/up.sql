-- Who did what (issue 13).
--
-- 1. Records a municipality received outlive the family: `signatures` and `submissions` no
--    longer cascade from `families`; deleting a family marks its submissions
--    `family_deleted_at`, and the daily purge removes them after the municipality's retention.
-- 2. A signature says how its signer was matched, and the name printed on the card (sealed).
-- 3. A notice's approval is recorded and tied to the SHA-256 of the contents approved.
-- 4. Staff keys expire and may be a municipality's administrator.
-- 5. An append-only audit trail.
--
-- SQLite cannot drop a foreign key: the two tables are rebuilt (https://sqlite.org/lang_altertable.html,
-- "Making Other Kinds Of Table Schema Changes"), with foreign keys off so that dropping the old
-- tables cascades nowhere.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE signatures_rebuilt (
    id TEXT PRIMARY KEY,
    -- The family that signed; no foreign key: the signature stays when the family is deleted.
    family_id TEXT NOT NULL,
    signed_document TEXT NOT NULL,
    signed_digest TEXT NOT NULL,
    signature_value TEXT NOT NULL,
    certificate TEXT NOT NULL,
    certificate_sha256 TEXT NOT NULL,
    signer_guardian_id TEXT NOT NULL,
    verification TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- `basic_four_match` or `registered_certificate`.
    signer_match TEXT NOT NULL DEFAULT 'basic_four_match',
    -- 氏名 as printed on the card (sealed).
    holder_name TEXT
);
INSERT INTO signatures_rebuilt (id, family_id, signed_document, signed_digest, signature_value, certificate,
    certificate_sha256, signer_guardian_id, verification, created_at)
SELECT id, family_id, signed_document, signed_digest, signature_value, certificate,
    certificate_sha256, signer_guardian_id, verification, created_at FROM signatures;
DROP TABLE signatures;
ALTER TABLE signatures_rebuilt RENAME TO signatures;
CREATE INDEX signatures_family ON signatures (family_id);

CREATE TABLE submissions_rebuilt (
    id TEXT PRIMARY KEY,
    -- No foreign key: the municipality keeps the submission when the family is deleted.
    family_id TEXT NOT NULL,
    signature_id TEXT NOT NULL REFERENCES signatures (id),
    draft_id TEXT NOT NULL UNIQUE,
    bundle_id TEXT,
    municipality_code TEXT NOT NULL,
    form_id TEXT NOT NULL,
    form_version INTEGER NOT NULL,
    task_id TEXT,
    corrects_submission_id TEXT,
    document TEXT NOT NULL,
    digest TEXT NOT NULL,
    status TEXT NOT NULL,
    submitted_at TIMESTAMP NOT NULL,
    status_changed_at TIMESTAMP NOT NULL,
    -- When the family was deleted; the submission is kept for the municipality until its retention ends.
    family_deleted_at TIMESTAMP
);
INSERT INTO submissions_rebuilt (id, family_id, signature_id, draft_id, bundle_id, municipality_code, form_id,
    form_version, task_id, corrects_submission_id, document, digest, status, submitted_at, status_changed_at)
SELECT id, family_id, signature_id, draft_id, bundle_id, municipality_code, form_id,
    form_version, task_id, corrects_submission_id, document, digest, status, submitted_at, status_changed_at
FROM submissions;
DROP TABLE submissions;
ALTER TABLE submissions_rebuilt RENAME TO submissions;
CREATE INDEX submissions_municipality ON submissions (municipality_code, submitted_at);
CREATE INDEX submissions_family ON submissions (family_id, submitted_at);
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
    -- `app`, `staff`, `parent`, `operator` or `system`.
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    -- The municipality whose staff may read the event (none for a vendor's own keys).
    municipality_code TEXT,
    -- A code, never free text: the refusal of a signature, a submission's new status.
    detail TEXT,
    request_id TEXT
);
CREATE INDEX audit_events_municipality ON audit_events (municipality_code, occurred_at);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
