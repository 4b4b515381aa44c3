-- 申請書の下書き, 署名 and 申請: drafts pre-filled from the profile, the parent's signature,
-- and the submissions a municipality receives. Everything a parent typed or a form carries
-- (names, addresses, bank accounts, certificates with the 基本4情報) is sealed.

-- 一括申請: the post-birth forms of one child, reviewed and signed together.
CREATE TABLE draft_bundles (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    child_id TEXT NOT NULL,
    status TEXT NOT NULL,
    document TEXT,
    digest TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (family_id, kind, child_id)
);

-- 下書き: one per task whose form nonstop knows (key `task:<id>`), and one per correction
-- request (key `correction:<submission id>`).
CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    draft_key TEXT NOT NULL UNIQUE,
    form_id TEXT NOT NULL,
    form_version INTEGER NOT NULL,
    task_id TEXT,
    child_id TEXT,
    bundle_id TEXT REFERENCES draft_bundles (id) ON DELETE SET NULL,
    status TEXT NOT NULL,
    content TEXT NOT NULL,
    corrects_submission_id TEXT,
    document TEXT,
    digest TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX drafts_family ON drafts (family_id, status);
CREATE INDEX drafts_bundle ON drafts (bundle_id);

-- 署名: one per signing; a bundle's one signature covers several submissions.
CREATE TABLE signatures (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    signed_document TEXT NOT NULL,
    signed_digest TEXT NOT NULL,
    signature_value TEXT NOT NULL,
    certificate TEXT NOT NULL,
    certificate_sha256 TEXT NOT NULL,
    signer_guardian_id TEXT NOT NULL,
    verification TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- 申請: immutable once made; only its status moves.
CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
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
    status_changed_at TIMESTAMP NOT NULL
);
CREATE INDEX submissions_municipality ON submissions (municipality_code, submitted_at);
CREATE INDEX submissions_family ON submissions (family_id, submitted_at);

-- Each status a municipality set, with its comments (sealed: staff may quote the form).
CREATE TABLE submission_events (
    id TEXT PRIMARY KEY,
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    comments TEXT,
    staff_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX submission_events_submission ON submission_events (submission_id, created_at);

-- A guardian's signing certificate registered beforehand (by its SHA-256 only): used when the
-- card substitutes characters of the name (代替文字) and the name cannot be compared.
CREATE TABLE registered_certificates (
    guardian_id TEXT NOT NULL REFERENCES guardians (id) ON DELETE CASCADE,
    certificate_sha256 TEXT NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    registered_at TIMESTAMP NOT NULL,
    PRIMARY KEY (guardian_id, certificate_sha256)
);
