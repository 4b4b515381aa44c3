ALTER TABLE vaccinations DROP COLUMN product;
