-- ワクチンの製品: the product a dose was given with, where a vaccine's products differ in doses
-- and window (ロタウイルス: rotarix 2 doses by 出生24週0日後, rotateq 3 doses by 32週0日後).
-- Optional: a dose recorded without it is planned on the earlier reading.
ALTER TABLE vaccinations ADD COLUMN product TEXT;
