-- Bulk loads (rebuild, the benchmark's seeding) write search keys here, in arrival order, and
-- Store::index_staged_keys moves them into person_keys in key order at the end: inserting tens
-- of millions of keys at random places in person_keys's B-trees rewrites a random page per key,
-- while one sorted pass appends and an index built by sorting writes each page once.
-- UNLOGGED: a staged key is only a step of a bulk load, which starts again after a crash (the
-- table comes back empty then) and which nothing but the primary reads.
CREATE UNLOGGED TABLE person_keys_staged (
    key TEXT COLLATE "C" NOT NULL,
    pin TEXT NOT NULL
);
