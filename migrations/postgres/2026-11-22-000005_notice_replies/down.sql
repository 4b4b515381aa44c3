DROP TABLE notice_replies;
ALTER TABLE notices DROP COLUMN standing;
ALTER TABLE notices DROP COLUMN send_at;
