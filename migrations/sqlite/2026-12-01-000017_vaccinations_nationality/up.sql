-- 接種記録: a dose of a routine vaccination a parent recorded for a child. The planner closes
-- that dose's task and plans the next dose from its date; one record per dose.
CREATE TABLE vaccinations (
    id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES families (id) ON DELETE CASCADE,
    child_id TEXT NOT NULL REFERENCES children (id) ON DELETE CASCADE,
    procedure_id TEXT NOT NULL,
    given_on DATE NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (child_id, procedure_id)
);
CREATE INDEX vaccinations_family ON vaccinations (family_id);

-- 国籍 (ISO 3166-1 alpha-2), optional: asked only to know whether a newborn needs a status of
-- residence (a child of a Japanese parent is Japanese) and to fill 国籍 on a foreign parent's
-- 出生届.
ALTER TABLE guardians ADD COLUMN nationality TEXT;
