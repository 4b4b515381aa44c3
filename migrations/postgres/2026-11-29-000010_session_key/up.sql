-- The app key that minted a parent session: revoking the key ends its sessions.
ALTER TABLE parent_sessions ADD COLUMN app_key_id TEXT;
