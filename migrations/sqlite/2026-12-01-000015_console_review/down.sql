DROP INDEX webhook_deliveries_recent;
ALTER TABLE notice_approvals DROP COLUMN contents;
