-- Scheduled and standing notices, and the families' replies to a notice's questionnaire.
ALTER TABLE notices ADD COLUMN send_at TIMESTAMP;
ALTER TABLE notices ADD COLUMN standing BOOLEAN NOT NULL DEFAULT FALSE;

-- 回答: one reply per family and notice (changeable until the reply deadline). The free text is
-- sealed: parents write personal things in it.
CREATE TABLE notice_replies (
    notice_id TEXT NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    choices TEXT NOT NULL,
    free_text TEXT,
    replied_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (notice_id, family_id)
);
