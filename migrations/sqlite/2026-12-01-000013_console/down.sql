DROP TABLE console_sessions;
DROP TABLE staff_logins;
