-- Search and duplicate detection (thabian_model::linkage).
-- The blocking keys of each person's current record, written in the same transaction as the person
-- row, so that every node sees the same index as the register itself. Keys combine a phonetic name
-- token with a birth year, a full date of birth, or a family/given pair: never a family name alone.
CREATE TABLE person_keys (
    key TEXT NOT NULL,
    pin TEXT NOT NULL,
    PRIMARY KEY (key, pin)
) WITHOUT ROWID;
CREATE INDEX person_keys_pin ON person_keys (pin);

-- The duplicate review queue: a projection of duplicate_held / duplicate_pair_found and
-- duplicate_reviewed events. `record` is the case as JSON (the held submission, the candidates
-- and their scores, the decision).
CREATE TABLE review_cases (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    area_path TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX review_cases_status ON review_cases (status, id);

-- Record-linkage models estimated from the register (m and u probabilities, by EM). The newest is
-- used; older ones stay so that a past decision can be explained with the model that made it.
CREATE TABLE linkage_models (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    model TEXT NOT NULL
);
