DROP TABLE standing_consents;
ALTER TABLE children DROP COLUMN birth_details;
ALTER TABLE families DROP COLUMN paperwork;
