-- Migrations from legacy registers: the PIN or household number assigned to each source record.
-- They are reserved before any record is imported, so that a record can refer to one further down
-- the file, and a re-run after a crash reuses them: an import is idempotent and resumable.
-- Bookkeeping, not personal data: the import events carry the same mapping (`source_id`).
CREATE TABLE import_keys (
    kind TEXT NOT NULL,
    source_id TEXT NOT NULL,
    value TEXT NOT NULL,
    -- SHA-256 of the source record as first reserved: a source id reused for another record is refused.
    digest TEXT NOT NULL,
    PRIMARY KEY (kind, source_id)
);
CREATE UNIQUE INDEX import_keys_value ON import_keys (kind, value);
