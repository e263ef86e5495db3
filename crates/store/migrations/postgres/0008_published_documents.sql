-- Public documents the register publishes for verifiers: the CSCA certificates, the CSCA
-- master list, the CRL (ICAO Doc 9303 Part 12). Kept in the database, not on a node's disk, so
-- that every node behind the load balancer serves the same ones. Public data only: never keys.
CREATE TABLE published_documents (
    name TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    updated_at TEXT NOT NULL
);
