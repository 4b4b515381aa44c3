-- One value sealed under each encryption key this database has been served with (issue 29).
-- A process checks, before it starts, that its keys open every canary: a key file generated
-- anew in another working directory, or the wrong key under the right id, is refused at the
-- start instead of answering 500 on every sealed read and sealing new writes under a second key
-- of the same id. A canary is written the first time a key is the active one.
CREATE TABLE key_canaries (
    key_id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
