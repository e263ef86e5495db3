-- Biometric samples captured with card applications (face images, fingerprints), encrypted by
-- the register before they reach the database (AES-256-GCM under a key kept outside it:
-- key_id names it). Apart from the demographic record: only the card and biometric services
-- read them, and every read is logged. Written in the transaction of the event that references
-- them (by id and SHA-256 of the plaintext); never part of the event log or its projections,
-- so rebuild leaves them alone.
CREATE TABLE biometric_samples (
    id TEXT PRIMARY KEY,
    pin TEXT NOT NULL,
    card TEXT NOT NULL,
    format TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX biometric_samples_pin ON biometric_samples (pin);
