DROP TABLE registered_certificates;
DROP TABLE submission_events;
DROP TABLE submissions;
DROP TABLE signatures;
DROP TABLE drafts;
DROP TABLE draft_bundles;
