-- A sent notice reaches its audience a batch of families at a time, each batch in a
-- transaction of its own: where its recording got to (families are walked in id order), who
-- is recording it under a lease, and when it was done. Notices sent before this have no row:
-- they were recorded whole when sent.
CREATE TABLE notice_recordings (
    notice_id TEXT PRIMARY KEY NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    started_at TIMESTAMP NOT NULL,
    recorded_until TEXT,
    done_at TIMESTAMP,
    owner TEXT,
    lease_until TIMESTAMP
);
CREATE INDEX notice_recordings_unfinished ON notice_recordings (done_at, started_at);
-- Audiences are read a page at a time in id order within a municipality.
DROP INDEX families_municipality;
CREATE INDEX families_municipality ON families (municipality_code, id);
