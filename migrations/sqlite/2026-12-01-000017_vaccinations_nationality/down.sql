DROP TABLE vaccinations;
ALTER TABLE guardians DROP COLUMN nationality;
