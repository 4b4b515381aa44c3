DROP INDEX tasks_procedure;
DROP INDEX children_due;
DROP INDEX children_born;
DROP TABLE notice_versions;
