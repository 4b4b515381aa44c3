-- Work over many families done a batch per transaction (recording a sent notice's audience,
-- re-planning a municipality's residents after its settings change): where it got to (families
-- are walked in id order), who is doing it under a lease, and when it was done. Notices sent
-- before this were recorded whole when sent.
CREATE TABLE batch_runs (
    work TEXT NOT NULL,
    subject TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    cursor TEXT,
    done_at TIMESTAMP,
    owner TEXT,
    lease_until TIMESTAMP,
    PRIMARY KEY (work, subject)
);
CREATE INDEX batch_runs_unfinished ON batch_runs (work, done_at, started_at);
-- Audiences and residents are read a page at a time in id order within a municipality.
DROP INDEX families_municipality;
CREATE INDEX families_municipality ON families (municipality_code, id);
