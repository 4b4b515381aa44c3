-- Everyone who wrote a notice's contents (its author and each member of staff who edited it),
-- as a JSON list of staff ids: none of them may approve it (the two-person rule).
ALTER TABLE notices ADD COLUMN editors TEXT NOT NULL DEFAULT '[]';
UPDATE notices SET editors = '["' || author_staff_id || '"]';
