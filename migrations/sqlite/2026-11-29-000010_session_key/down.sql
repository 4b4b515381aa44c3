ALTER TABLE parent_sessions DROP COLUMN app_key_id;
