ALTER TABLE families DROP COLUMN postal_code_sealed;
ALTER TABLE guardians DROP COLUMN birth_date_sealed;
ALTER TABLE children DROP COLUMN birth_weight_sealed;
