-- Planning: household circumstances, tasks, planned notifications, municipality settings.

-- Household circumstances procedures depend on (児童扶養手当受給 …), comma-separated.
ALTER TABLE families ADD COLUMN circumstances TEXT NOT NULL DEFAULT '';

-- タスク: one instance of a procedure for a family, as last planned. Rows are never deleted by
-- planning: a task that no longer applies is marked cancelled, a closed one keeps its status.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    task_key TEXT NOT NULL,
    procedure_id TEXT NOT NULL,
    child_id TEXT,
    municipality_code TEXT NOT NULL,
    occurrence INTEGER NOT NULL,
    opens_on DATE NOT NULL,
    closes_on DATE NOT NULL,
    deadline_on DATE,
    raw_deadline_on DATE,
    reasons TEXT NOT NULL,
    status TEXT NOT NULL,
    status_changed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (family_id, task_key)
);
CREATE INDEX tasks_family ON tasks (family_id, opens_on);

-- A reminder planned for a task, with the instant it is due (already out of quiet hours).
CREATE TABLE planned_notifications (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    notification_key TEXT NOT NULL UNIQUE,
    reminder_index INTEGER NOT NULL,
    local_date DATE NOT NULL,
    send_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX planned_notifications_due ON planned_notifications (status, send_at);
CREATE INDEX planned_notifications_family ON planned_notifications (family_id, send_at);

-- 自治体ごとの設定 written by a municipality's staff (JSON), replacing the shipped ones.
CREATE TABLE municipality_settings (
    municipality_code TEXT PRIMARY KEY NOT NULL,
    document TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL
);
