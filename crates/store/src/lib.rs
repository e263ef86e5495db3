//! Thabian storage.
//!
//! The [`Store`] trait is the only way the rest of Thabian touches the database. It knows rows, not
//! persons: the domain (validation, projections) lives in `thabian-model`, the use cases in
//! `thabian-register`. Two implementations share one SQL text and one conformance suite:
//! [`sqlite::SqliteStore`] (embedded, the default) and [`postgres::PgStore`] (production).
//!
//! The write path is [`Store::commit`]: one transaction that takes the sequencer row, appends the
//! events (with their commit positions and Merkle nodes), writes the projections (with optimistic
//! version checks), the access records and the idempotency record, all or nothing.

pub mod canonical;
mod common;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use thabian_ledger::{Hash, NodeId};

/// An event about to be appended. `body` holds every field of the event except `seq` and
/// `recorded_at`, which the store assigns inside the sequencer lock and inserts into the body
/// before it is canonicalised and hashed.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub kind: String,
    pub subjects: Vec<String>,
    /// The admin-area paths the event concerns, space-separated (e.g. `/01/0101/ /02/0203/`),
    /// used by the change feed's area filter.
    pub area_path: String,
    pub effective: String,
    pub actor: String,
    pub office: String,
    pub idempotency_key: Option<String>,
    pub body: serde_json::Map<String, serde_json::Value>,
}

/// An event as committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: u64,
    pub id: String,
    pub kind: String,
    pub subjects: Vec<String>,
    pub area_path: String,
    pub effective: String,
    pub recorded_at: String,
    pub actor: String,
    pub office: String,
    pub idempotency_key: Option<String>,
    /// Canonical JSON; the Merkle leaf is `SHA-256(0x00 || body)`.
    pub body: String,
    pub leaf_hash: Hash,
}

/// A row of the current-person projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRow {
    pub pin: String,
    pub version: u64,
    pub status: String,
    pub residence_path: String,
    pub household: Option<String>,
    pub father: Option<String>,
    pub mother: Option<String>,
    pub spouse: Option<String>,
    /// The projection, as JSON produced by the domain model.
    pub record: String,
    /// The blocking keys of this record for search and duplicate detection
    /// (`thabian_model::linkage`). Written with the row, replacing the previous keys; not read
    /// back with the row (reads return an empty list).
    pub search_keys: Vec<String>,
    /// The compact record search and duplicate checks score (`thabian_model::compact`), opaque
    /// to the store: written to `person_match` with the row and its keys, replacing the
    /// previous one, together with the row's `residence_path`; read back by
    /// [`Store::match_records`], not with the row (reads return an empty one).
    pub match_record: Vec<u8>,
}

/// A candidate of [`Store::ranked_candidates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankedCandidate {
    pub pin: String,
    /// The sum of the specificities of the keys the person was found under.
    pub rank: i64,
    /// The person's match record; `None` when none is stored (a database from before
    /// `person_match`, not rebuilt since).
    pub matched: Option<MatchRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RankedCandidates {
    /// Best first (rank, then PIN).
    pub candidates: Vec<RankedCandidate>,
    /// Persons found under any key, before the cut at `max`.
    pub found: u64,
    /// The most postings read for one key: a key at the per-key limit was cut.
    pub deepest: u64,
}

/// A person's compact match record as stored beside the search keys (see
/// [`PersonRow::match_record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchRow {
    pub pin: String,
    /// The person row's `residence_path`, written with it (for jurisdiction filters).
    pub residence_path: String,
    pub record: Vec<u8>,
}

/// A case of the duplicate review queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    pub id: String,
    pub version: u64,
    /// `open` or `decided`.
    pub status: String,
    /// The admin-area paths the case concerns, space-separated (for jurisdiction filters).
    pub area_path: String,
    pub created_at: String,
    /// The case as JSON produced by the register.
    pub record: String,
}

/// A stored record-linkage model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkageModelRow {
    pub id: String,
    pub created_at: String,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdRow {
    pub id: String,
    pub version: u64,
    pub head: Option<String>,
    pub area_path: String,
    pub record: String,
}

/// A projection write with its optimistic-concurrency expectation.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub row: T,
    /// `None`: the row must not exist yet. `Some(v)`: the stored version must be `v`.
    pub expected_version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecord {
    pub id: String,
    pub at: String,
    pub official_id: String,
    pub pin: Option<String>,
    /// `read`, `change`, `search`, `feed`, `admin`, ...
    pub action: String,
    pub purpose: Option<String>,
    pub client: Option<String>,
    pub detail: Option<String>,
    /// For a change: the index of the event in the same batch (replaced by its seq on commit).
    pub event_seq: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct IdempotencyRecord {
    pub key: String,
    pub request_hash: String,
    /// The use case's result; the committed seqs are stored beside it.
    pub result: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIdempotency {
    pub request_hash: String,
    pub result: String,
    pub seqs: Vec<u64>,
}

/// Everything one change writes, committed atomically.
#[derive(Debug, Clone)]
pub struct WriteBatch {
    pub now: DateTime<Utc>,
    pub events: Vec<NewEvent>,
    pub persons: Vec<Versioned<PersonRow>>,
    pub households: Vec<Versioned<HouseholdRow>>,
    /// Review-queue cases opened or decided by this change.
    pub cases: Vec<Versioned<CaseRow>>,
    /// Access records; `event_seq: Some(i)` means "the i-th event of this batch".
    pub access: Vec<AccessRecord>,
    pub idempotency: Option<IdempotencyRecord>,
    /// Encrypted biometric samples the batch's events reference.
    pub biometrics: Vec<BiometricRow>,
}

/// A public document the register publishes for verifiers (see [`Store::publish`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedDocument {
    /// `csca-<n>.crt`, `csca-<n>-link.crt`, `crl.der`, `master-list.der`.
    pub name: String,
    pub media_type: String,
    pub body: Vec<u8>,
    pub updated_at: String,
}

/// A biometric sample, encrypted by the register (the store never sees the plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BiometricRow {
    pub id: String,
    pub pin: String,
    /// The card application it was captured for.
    pub card: String,
    /// `image/jpeg`, `image/jp2`, `iso-19794-4`, `iso-19794-2`.
    pub format: String,
    /// SHA-256 of the plaintext (hex), as the event that references it records.
    pub sha256: String,
    /// Names the encryption key (kept outside the database).
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficialRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub jurisdiction: String,
    pub office: String,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub hash: String,
    pub official_id: String,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub size: u64,
    pub root: Hash,
    pub time: String,
    pub key_id: String,
    pub note: String,
}

/// Filter for the change feed.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    pub kinds: Vec<String>,
    /// Admin-area path prefix, e.g. `/01/`.
    pub area_prefix: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An optimistic version check failed: someone else changed the row first.
    #[error("version conflict on {what} {key}")]
    Conflict { what: &'static str, key: String },
    /// A unique key already exists (a PIN, an event id, an idempotency key...).
    #[error("{what} {key} already exists")]
    Duplicate { what: &'static str, key: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The transaction could not be committed (the database is down, the disk is full...).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // --- the write path ---
    /// Commits a batch in one transaction; returns the committed events in order.
    async fn commit(&self, batch: WriteBatch) -> Result<Vec<StoredEvent>>;
    /// Group commit: several batches in one transaction (one sequencer hold, one fsync), each
    /// in its own savepoint, so a refused batch (version conflict, duplicate) leaves the others
    /// whole. The outer error is for a failure of the whole transaction.
    async fn commit_many(&self, batches: Vec<WriteBatch>) -> Result<Vec<Result<Vec<StoredEvent>>>>;

    // --- events and the log ---
    async fn log_size(&self) -> Result<u64>;
    async fn event(&self, seq: u64) -> Result<Option<StoredEvent>>;
    /// Events with `seq > after`, in seq order.
    async fn events_after(
        &self,
        after: u64,
        limit: u32,
        filter: &FeedFilter,
    ) -> Result<Vec<StoredEvent>>;
    /// The events a person is a subject of, in seq order, up to `max_seq` when given.
    async fn person_events(&self, pin: &str, max_seq: Option<u64>) -> Result<Vec<StoredEvent>>;
    /// The largest seq recorded at or before `at` (RFC 3339, same format as `recorded_at`).
    async fn seq_known_at(&self, at: &str) -> Result<u64>;
    async fn merkle_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>>;
    async fn find_idempotency(&self, key: &str) -> Result<Option<StoredIdempotency>>;

    // --- checkpoints ---
    async fn add_log_key(&self, key_id: &str, vkey: &str, created_at: &str) -> Result<()>;
    async fn log_keys(&self) -> Result<Vec<(String, String)>>;
    /// Stores a checkpoint; a second one for the same size is ignored (several nodes may race).
    async fn add_checkpoint(&self, checkpoint: &CheckpointRow) -> Result<()>;
    async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>>;
    async fn checkpoint(&self, size: u64) -> Result<Option<CheckpointRow>>;
    async fn checkpoints(&self) -> Result<Vec<CheckpointRow>>;

    // --- projections ---
    async fn person(&self, pin: &str) -> Result<Option<PersonRow>>;
    async fn persons(&self, pins: &[String]) -> Result<Vec<PersonRow>>;
    async fn children(&self, pin: &str) -> Result<Vec<PersonRow>>;
    async fn household(&self, id: &str) -> Result<Option<HouseholdRow>>;
    /// The households among `ids` that exist, in no particular order.
    async fn households(&self, ids: &[String]) -> Result<Vec<HouseholdRow>>;
    async fn household_members(&self, id: &str) -> Result<Vec<PersonRow>>;
    /// Every projection row, in key order (for `rebuild` and its byte-for-byte check).
    async fn all_persons(&self, after_pin: &str, limit: u32) -> Result<Vec<PersonRow>>;
    async fn all_households(&self) -> Result<Vec<HouseholdRow>>;
    /// Distinct PINs that are subjects of events, in order, after `after_pin` (for `rebuild`).
    async fn subjects_after(&self, after_pin: &str, limit: u32) -> Result<Vec<String>>;
    /// Drops every projection row, review cases included (the log stays).
    async fn clear_projections(&self) -> Result<()>;
    /// Refreshes the query planner's statistics. A bulk load calls it as its tables grow: on
    /// PostgreSQL a plan cached while a table was small (a sequential scan) otherwise stays in
    /// use until autovacuum analyzes the table, by when each statement scans the whole table.
    async fn refresh_statistics(&self) -> Result<()>;
    /// Writes rebuilt projection rows without version checks (only bulk loads call this:
    /// `rebuild` and the benchmark's seeding, after [`Store::clear_projections`] or on an empty
    /// store). The persons' search keys are staged, not indexed: search does not find these
    /// persons until [`Store::index_staged_keys`] has run, which the loader calls once at the
    /// end. Their match records are written at once.
    async fn put_projections(
        &self,
        persons: &[PersonRow],
        households: &[HouseholdRow],
    ) -> Result<()>;
    /// Moves every staged search key (see [`Store::put_projections`]) into the search index, in
    /// one transaction: the keys are inserted in key order and the index by PIN is rebuilt by
    /// sorting, so that tens of millions of keys cost one pass instead of a random page write
    /// each. A bulk load's last step, run offline: other writers wait for it, and on
    /// PostgreSQL searches too (the index by PIN is dropped and built again inside the
    /// transaction, which locks the table); SQLite readers go on with the data before it.
    /// Returns the number of keys that were staged.
    async fn index_staged_keys(&self) -> Result<u64>;
    /// Writes review cases rebuilt from the log, without version checks (only `rebuild`).
    async fn put_review_cases(&self, cases: &[CaseRow]) -> Result<()>;

    // --- search and duplicate detection ---
    /// The persons having any of `keys` (see [`PersonRow::search_keys`]), at most
    /// `per_key_limit` per key: `(key, pin)` pairs, in no particular order.
    async fn search_candidates(
        &self,
        keys: &[String],
        per_key_limit: u32,
    ) -> Result<Vec<(String, String)>>;
    /// The persons having any of `keys`, ranked, with their match records: each key's postings
    /// are read through the index up to `per_key_limit` (one statement for up to 100 keys); a
    /// key's specificity is `1 + ⌊log2(per_key_limit / postings read)⌋` (at most 10: a key
    /// shared by a handful of persons weighs 10, one cut at the limit 1); a person's rank is the
    /// sum over the keys they were found under. The `max` best (rank, then PIN bytewise) come
    /// back with their match records, read by a second statement; only they are read from
    /// `person_match` (a record rewritten between the two reads comes back as it is now).
    /// PINs contain no commas (the postings of a key travel joined by commas).
    async fn ranked_candidates(
        &self,
        keys: &[String],
        per_key_limit: u32,
        max: u32,
    ) -> Result<RankedCandidates>;
    /// The distinct tokens of the keys that start with `prefix`: the part after the prefix
    /// without the last `suffix_len` bytes (`y:<token>:YYYY`: prefix `y:`, suffix 5), in key
    /// order, at most `limit`. One index probe per token (a loose index scan: it jumps from a
    /// token's keys to the next token's), not a scan of the keys.
    async fn key_tokens(&self, prefix: &str, suffix_len: u32, limit: u32) -> Result<Vec<String>>;
    /// The `(key, pin)` pairs of the keys strictly between `after` and `before` (byte order),
    /// in key then PIN order, at most `limit`: a walk along the key index for keys whose order
    /// means something (`card-expiry:<date>:<card>` finds the cards past a date), resumed from
    /// the last key returned. One range read of the index's primary key, not a scan.
    async fn keys_between(
        &self,
        after: &str,
        before: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>>;
    /// Every person's compact match record in PIN order after `after_pin`, at most `limit`
    /// persons: `(pin, record)`, the record `None` for a person written before match records
    /// existed (migration 0004) and not rebuilt since (for the whole-register pass, which then
    /// reads that person whole).
    async fn match_records_after(
        &self,
        after_pin: &str,
        limit: u32,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>>;
    /// The compact match records of these persons (those that have one), in no particular
    /// order.
    async fn match_records(&self, pins: &[String]) -> Result<Vec<MatchRow>>;
    /// The whole key index in `(key, pin)` order, after `after` (for the whole-register
    /// duplicate pass).
    async fn key_postings(
        &self,
        after: &(String, String),
        limit: u32,
    ) -> Result<Vec<(String, String)>>;
    async fn review_case(&self, id: &str) -> Result<Option<CaseRow>>;
    /// An encrypted biometric sample (see [`WriteBatch::biometrics`]).
    async fn biometric(&self, id: &str) -> Result<Option<BiometricRow>>;

    // --- published PKI documents ---
    /// Publishes (or replaces) a public document: a certificate, the master list, the CRL.
    async fn publish(&self, doc: &PublishedDocument) -> Result<()>;
    async fn published(&self, name: &str) -> Result<Option<PublishedDocument>>;
    /// Every published document, by name.
    async fn all_published(&self) -> Result<Vec<PublishedDocument>>;
    /// The ids among `ids` that name a review case.
    async fn existing_review_cases(&self, ids: &[String]) -> Result<Vec<String>>;
    /// Cases with `status` (any when `None`), in id order after `after_id`.
    async fn review_cases(
        &self,
        status: Option<&str>,
        after_id: &str,
        limit: u32,
    ) -> Result<Vec<CaseRow>>;
    async fn put_linkage_model(&self, model: &LinkageModelRow) -> Result<()>;
    /// The newest model (largest id).
    async fn latest_linkage_model(&self) -> Result<Option<LinkageModelRow>>;

    // --- migrations from legacy registers ---
    /// Records keys of `kind` ([`IMPORT_PERSON`]: a PIN,
    /// [`IMPORT_HOUSEHOLD`]: a household number), skipping a source id already recorded and a
    /// value already reserved; never overwrites. Read back with [`Store::import_keys`].
    async fn reserve_import_keys(&self, kind: &str, keys: &[ImportKey]) -> Result<()>;
    /// The keys recorded for these source ids (those recorded).
    async fn import_keys(&self, kind: &str, source_ids: &[String]) -> Result<Vec<ImportKey>>;
    /// Which of these values are taken: issued (a person's PIN, a household's number) or reserved.
    async fn taken(&self, kind: &str, values: &[String]) -> Result<Vec<String>>;

    // --- officials, tokens, access log ---
    async fn insert_official(&self, official: &OfficialRow, audit: &AccessRecord) -> Result<()>;
    async fn official(&self, id: &str) -> Result<Option<OfficialRow>>;
    async fn officials(&self) -> Result<Vec<OfficialRow>>;
    async fn disable_official(&self, id: &str, at: &str, audit: &AccessRecord) -> Result<bool>;
    async fn insert_token(&self, token: &TokenRow, audit: &AccessRecord) -> Result<()>;
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>>;
    /// A token and its official in one query: what every authenticated request needs.
    async fn credential(&self, hash: &str) -> Result<Option<(TokenRow, OfficialRow)>>;
    async fn tokens(&self, official_id: &str) -> Result<Vec<TokenRow>>;
    async fn revoke_token(&self, id: &str, at: &str, audit: &AccessRecord) -> Result<bool>;
    /// Appends access records in one durable commit.
    async fn append_access(&self, records: &[AccessRecord]) -> Result<()>;
    /// A person's access records, newest first.
    async fn access_for_person(&self, pin: &str, limit: u32) -> Result<Vec<AccessRecord>>;
    async fn access_log(&self, after_id: &str, limit: u32) -> Result<Vec<AccessRecord>>;
}

pub type DynStore = Arc<dyn Store>;

/// The PIN or household number reserved for a record of a legacy register.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImportKey {
    pub source_id: String,
    pub value: String,
    /// A digest of the source record, to tell a re-run from a reused source id.
    pub digest: String,
}

/// [`Store::reserve_import_keys`] kinds.
pub const IMPORT_PERSON: &str = "person";
pub const IMPORT_HOUSEHOLD: &str = "household";

/// Opens the store a URL names: `sqlite://path/to/file.db` (created if missing) or
/// `postgres://...`. Runs the backend's migrations.
pub async fn open(url: &str) -> Result<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    }
}

/// The timestamp format used in every stored time column: RFC 3339, UTC, microseconds,
/// fixed width, so that text order is time order on both backends.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
