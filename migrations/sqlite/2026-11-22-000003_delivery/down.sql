DROP TABLE scheduled_jobs;
DROP TABLE deliveries;
DROP TABLE inbox_entries;
DROP TABLE push_credentials;
