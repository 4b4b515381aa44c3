-- Facts that link a family to its health and its people, sealed at rest like names and addresses
-- (issue 29): a child's birth weight (要配慮個人情報) and a guardian's date of birth get sealed
-- columns of their own, and so does a family's postal code. The service seals
-- what the old columns still hold at its first start after this migration and empties them
-- (`db::sealing`); a later migration drops them once every deployment has started once.
ALTER TABLE children ADD COLUMN birth_weight_sealed TEXT;
ALTER TABLE guardians ADD COLUMN birth_date_sealed TEXT;
ALTER TABLE families ADD COLUMN postal_code_sealed TEXT;
