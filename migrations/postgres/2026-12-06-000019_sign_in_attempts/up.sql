-- Console sign-in attempts (試行制限), counted per login and client address, and counted before
-- the password is checked: a guess is reserved in this row's update, so however many guesses
-- arrive at once, at most five per lock period are ever evaluated. Keyed by digests: neither the
-- login typed (it may be a password typed in the wrong field) nor the address is kept in clear.
-- A pair's lock slows that client down without locking the account's owner out elsewhere.
CREATE TABLE sign_in_attempts (
    -- SHA-256 of the login and the client address.
    id TEXT PRIMARY KEY,
    -- SHA-256 of the login alone: the administrator's unlock clears every pair of an account.
    login_digest TEXT NOT NULL,
    failures INTEGER NOT NULL,
    locked_until TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_attempts_login ON sign_in_attempts (login_digest);

-- The account-wide count this table replaces.
ALTER TABLE staff_logins DROP COLUMN failed_attempts;
ALTER TABLE staff_logins DROP COLUMN locked_until;
