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
