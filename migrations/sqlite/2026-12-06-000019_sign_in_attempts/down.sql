ALTER TABLE staff_logins ADD COLUMN locked_until TIMESTAMP;
ALTER TABLE staff_logins ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
DROP TABLE sign_in_attempts;
