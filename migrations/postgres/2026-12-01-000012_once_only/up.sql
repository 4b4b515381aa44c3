-- Once-only (issue 19): facts the forms ask, given once and reused by every form.
--
-- 1. A family's paperwork facts (本籍, 筆頭者, 世帯のおもな仕事, 公金受取口座, the health
--    insurance the child joins, whether the parents are married): one sealed JSON value.
-- 2. A child's birth details (time and place of birth, 嫡出 status): one sealed JSON value.
-- 3. Standing consents per purpose, with the wording agreed to and when; a withdrawal is kept
--    as the consent's end, never by deleting it.
ALTER TABLE families ADD COLUMN paperwork TEXT;
ALTER TABLE children ADD COLUMN birth_details TEXT;

CREATE TABLE standing_consents (
    id TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    language TEXT NOT NULL,
    wording TEXT NOT NULL,
    given_at TIMESTAMP NOT NULL,
    withdrawn_at TIMESTAMP
);
CREATE INDEX standing_consents_family ON standing_consents (family_id, purpose);
