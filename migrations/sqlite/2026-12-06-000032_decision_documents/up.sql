-- 処分通知 (issue 30, item 6): the decision document a municipality's 基幹 system produced,
-- attached by staff when they set 受理, 却下 or 完了, kept with the submission and read by the
-- family's app. One per status event that carried one. `document` is the PDF as base64, sealed
-- like the other personal data (`submission_decision_documents.document`); its size and
-- SHA-256 are kept in the clear so that a listing need not open it.
CREATE TABLE submission_decision_documents (
    id TEXT PRIMARY KEY NOT NULL,
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL REFERENCES submission_events (id) ON DELETE CASCADE,
    document TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX submission_decision_documents_event ON submission_decision_documents (event_id);
CREATE INDEX submission_decision_documents_submission ON submission_decision_documents (submission_id);
