-- The compact match record of each person (thabian_model::compact): what search and duplicate
-- checks score, so that scoring a candidate reads a hundred bytes instead of the person's JSON.
-- Written with the person row and its keys in the same transaction (replaced on update, rebuilt
-- with the projections); residence_path is the person row's, for jurisdiction filters.
CREATE TABLE person_match (
    pin TEXT PRIMARY KEY,
    residence_path TEXT NOT NULL,
    record BLOB NOT NULL
) WITHOUT ROWID;
