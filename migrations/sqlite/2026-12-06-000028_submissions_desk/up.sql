-- The submissions desk (issue 30).
--
-- 受付番号: each submission gets the municipality's reference number, sequential per
-- municipality and calendar year in Japan (`2026-000123`), shown wherever the submission is.
-- `submission_counters` holds the last number given; the number is taken in the transaction
-- that stores the submission. Submissions already stored are numbered here in the order they
-- were made.
--
-- `submission_desk` holds what the desk adds to a submission (which stays as the family
-- signed it): its 受付番号 and the member of staff who took it (担当). `submission_notes` are
-- the notes staff keep on it for each other (never shown to the family; sealed like comments).
CREATE TABLE submission_counters (
    municipality_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY (municipality_code, year)
);
CREATE TABLE submission_desk (
    submission_id TEXT PRIMARY KEY NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    municipality_code TEXT NOT NULL,
    reference_number TEXT NOT NULL,
    assigned_staff_id TEXT
);
CREATE UNIQUE INDEX submission_desk_reference_number ON submission_desk (municipality_code, reference_number);
CREATE INDEX submission_desk_assigned ON submission_desk (assigned_staff_id);
INSERT INTO submission_desk (submission_id, municipality_code, reference_number)
SELECT numbered.id, numbered.municipality_code, printf('%s-%06d', numbered.year, numbered.n)
FROM (
    SELECT s.id, s.municipality_code, strftime('%Y', s.submitted_at, '+9 hours') AS year,
           ROW_NUMBER() OVER (PARTITION BY s.municipality_code, strftime('%Y', s.submitted_at, '+9 hours') ORDER BY s.submitted_at, s.id) AS n
    FROM submissions s
) AS numbered;
INSERT INTO submission_counters (municipality_code, year, last_number)
    SELECT s.municipality_code, CAST(strftime('%Y', s.submitted_at, '+9 hours') AS INTEGER), COUNT(*)
    FROM submissions s GROUP BY s.municipality_code, strftime('%Y', s.submitted_at, '+9 hours');
CREATE TABLE submission_notes (
    id TEXT PRIMARY KEY NOT NULL,
    submission_id TEXT NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    staff_id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX submission_notes_submission ON submission_notes (submission_id, created_at);
