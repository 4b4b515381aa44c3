ALTER TABLE staff_logins DROP COLUMN totp_last_step;
ALTER TABLE staff_logins DROP COLUMN totp_secret;
