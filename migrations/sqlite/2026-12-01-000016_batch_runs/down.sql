DROP INDEX families_municipality;
CREATE INDEX families_municipality ON families (municipality_code);
DROP TABLE batch_runs;
