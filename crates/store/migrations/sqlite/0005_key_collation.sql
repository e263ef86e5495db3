-- SQLite compares TEXT keys byte by byte already (BINARY); this migration keeps the two
-- backends' migration numbers in step (PostgreSQL: 0005_key_collation.sql).
SELECT 1;
