-- お知らせ: notices a municipality's staff write for its residents.
CREATE TABLE notices (
    id TEXT PRIMARY KEY NOT NULL,
    municipality_code TEXT NOT NULL,
    category TEXT NOT NULL,
    -- JSON: titles and bodies by language, links
    content TEXT NOT NULL,
    -- JSON: the audience filter
    audience TEXT NOT NULL,
    status TEXT NOT NULL,
    author_staff_id TEXT NOT NULL,
    approver_staff_id TEXT,
    approved_at TIMESTAMP,
    sent_at TIMESTAMP,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX notices_municipality ON notices (municipality_code, created_at);

-- 電子通知への同意: a family's consent to receive a municipality's official notifications
-- electronically, with the time it was given or withdrawn.
CREATE TABLE notice_consents (
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    municipality_code TEXT NOT NULL,
    consented BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (family_id, municipality_code)
);

-- Who a sent notice was for: recorded in an inbox, or needing a paper letter.
CREATE TABLE notice_recipients (
    notice_id TEXT NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    entry_id TEXT,
    needs_paper BOOLEAN NOT NULL,
    PRIMARY KEY (notice_id, family_id)
);
