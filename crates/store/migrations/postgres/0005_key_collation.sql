-- Blocking keys are ASCII strings compared byte by byte, as SQLite compares them: the search's
-- vocabulary scan (Store::key_components) skips from one name token's keys to the next by
-- comparing keys, which needs the keys of one token to be contiguous. A locale collation that
-- ignores punctuation at its first level (en_US) would interleave them. Comparing bytes is
-- also cheaper than comparing by locale.
ALTER TABLE person_keys ALTER COLUMN key TYPE TEXT COLLATE "C";
