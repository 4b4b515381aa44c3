-- Every version of a notice's contents, by the SHA-256 an approval vouches for (the digest the
-- notice view shows): an approval names the digest of the contents its approver was shown, and
-- one made on contents changed since is refused, naming the parts that changed between the
-- version shown and the present one.
CREATE TABLE notice_versions (
    notice_id TEXT NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    -- The JSON whose SHA-256 is the digest (as `notice_approvals.contents`).
    contents TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (notice_id, digest)
);

-- An audience is counted by one query (`notices::audience_size`); each condition on children
-- and tasks is a subquery these indexes answer alone (the rows they name, not every resident
-- family's): born children by birth date, expected ones by due date, open tasks by procedure.
CREATE INDEX children_born ON children (status, birth_date, family_id);
CREATE INDEX children_due ON children (status, due_date, family_id);
CREATE INDEX tasks_procedure ON tasks (procedure_id, status, family_id);
