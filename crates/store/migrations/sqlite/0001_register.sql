-- Thabian register schema (SQLite). Keep semantics identical to ../postgres/0001_register.sql.

-- The single sequencer row: holding its write lock is what makes commit positions follow commit order.
CREATE TABLE log_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL,
    frontier BLOB NOT NULL,
    last_recorded_at TEXT NOT NULL
);
INSERT INTO log_head (id, size, frontier, last_recorded_at)
VALUES (1, 0, X'0000000000000000', '');

-- The event log: the source of truth. `body` is the canonical JSON that is hashed into the Merkle tree.
CREATE TABLE events (
    seq BIGINT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    subjects TEXT NOT NULL,
    area_path TEXT NOT NULL,
    effective TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    office TEXT NOT NULL,
    idempotency_key TEXT,
    body TEXT NOT NULL,
    leaf_hash BLOB NOT NULL
);
CREATE INDEX events_kind ON events (kind, seq);
CREATE INDEX events_recorded_at ON events (recorded_at);

CREATE TABLE event_subjects (
    pin TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (pin, seq)
);

-- Hashes of every perfect aligned subtree (level 0 = leaves), so proofs need only O(log n) rows.
CREATE TABLE merkle_nodes (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE checkpoints (
    size BIGINT PRIMARY KEY,
    root BLOB NOT NULL,
    time TEXT NOT NULL,
    key_id TEXT NOT NULL,
    note TEXT NOT NULL
);

CREATE TABLE log_keys (
    key_id TEXT PRIMARY KEY,
    vkey TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Projections: dropped and rebuilt from the event log by `thabian rebuild`.
CREATE TABLE persons (
    pin TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    residence_path TEXT NOT NULL,
    household TEXT,
    father TEXT,
    mother TEXT,
    spouse TEXT,
    record TEXT NOT NULL
);
CREATE INDEX persons_father ON persons (father);
CREATE INDEX persons_mother ON persons (mother);
CREATE INDEX persons_household ON persons (household);

CREATE TABLE households (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    head TEXT,
    area_path TEXT NOT NULL,
    record TEXT NOT NULL
);

-- A repeated submission returns the first result.
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    result TEXT NOT NULL,
    seqs TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE officials (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    office TEXT NOT NULL,
    created_at TEXT NOT NULL,
    disabled_at TEXT
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    official_id TEXT NOT NULL,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Who read or changed which person's data, when, from where and why.
CREATE TABLE access_log (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    official_id TEXT NOT NULL,
    pin TEXT,
    action TEXT NOT NULL,
    purpose TEXT,
    client TEXT,
    detail TEXT,
    event_seq BIGINT
);
CREATE INDEX access_log_pin ON access_log (pin, at);
CREATE INDEX access_log_at ON access_log (at);
