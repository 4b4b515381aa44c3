ALTER TABLE notices DROP COLUMN editors;
