DROP TABLE submission_notes;
DROP TABLE submission_desk;
DROP TABLE submission_counters;
