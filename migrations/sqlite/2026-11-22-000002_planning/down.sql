DROP TABLE municipality_settings;
DROP TABLE planned_notifications;
DROP TABLE tasks;
ALTER TABLE families DROP COLUMN circumstances;
