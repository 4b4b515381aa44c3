-- Optional TOTP (RFC 6238) for console accounts: the secret, sealed, and the last time step
-- used, so that a code is accepted once.
ALTER TABLE staff_logins ADD COLUMN totp_secret TEXT;
ALTER TABLE staff_logins ADD COLUMN totp_last_step BIGINT;
