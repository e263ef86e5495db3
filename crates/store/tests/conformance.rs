//! The store conformance suite: the same behaviour, through the `Store` trait, on real databases.
//!
//! Every case is a plain `async fn` over the trait; the `conformance!` macro at the bottom runs each
//! one twice, as `sqlite::<case>` (a fresh file in a temporary directory) and `postgres::<case>`
//! (a fresh database per test, created on the server named by `THABIAN_TEST_POSTGRES_URL` and
//! dropped afterwards, so the tests can run in parallel).
//!
//! Without `THABIAN_TEST_POSTGRES_URL` the PostgreSQL variants print one `SKIPPED` line and pass,
//! unless `THABIAN_REQUIRE_POSTGRES=1`, in which case they fail (CI sets it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use thabian_ledger::{Hash, NodeId};
use thabian_store::{
    format_time, AccessRecord, BiometricRow, CheckpointRow, FeedFilter, HouseholdRow,
    IdempotencyRecord, ImportKey, NewEvent, OfficialRow, PersonRow, PublishedDocument, Store,
    StoreError, StoredEvent, StoredIdempotency, TokenRow, Versioned, WriteBatch,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const PG_URL_VAR: &str = "THABIAN_TEST_POSTGRES_URL";
const PG_REQUIRE_VAR: &str = "THABIAN_REQUIRE_POSTGRES";

/// One test's database, not opened yet: a fresh SQLite file in a temporary directory, or a fresh
/// PostgreSQL database on the server named by `THABIAN_TEST_POSTGRES_URL`.
pub enum Target {
    Sqlite {
        path: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        _db: PgDatabase,
    },
}

impl Target {
    async fn sqlite() -> Option<Target> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir
            .path()
            .join("register.db")
            .to_string_lossy()
            .into_owned();
        Some(Target::Sqlite { path, _dir: dir })
    }

    /// `None` (after one SKIPPED line on stderr) when no PostgreSQL server is configured, unless
    /// `THABIAN_REQUIRE_POSTGRES=1`, which makes that a failure.
    async fn postgres() -> Option<Target> {
        let admin_url = match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                if std::env::var(PG_REQUIRE_VAR).as_deref() == Ok("1") {
                    panic!(
                        "{PG_REQUIRE_VAR}=1 but {PG_URL_VAR} is not set: the PostgreSQL \
                         conformance tests cannot run (set it, e.g. \
                         postgres://postgres@127.0.0.1:5432/postgres)"
                    );
                }
                eprintln!("SKIPPED: PostgreSQL conformance tests (set {PG_URL_VAR} to run them)");
                return None;
            }
        };
        let db = PgDatabase::create(&admin_url).await;
        let url = with_database(&admin_url, &db.name);
        Some(Target::Postgres { url, _db: db })
    }

    /// Opens an independent store instance (its own pools, running the migrations) on the
    /// database, as one more server process would.
    pub async fn open(&self) -> Arc<dyn Store> {
        let store: Arc<dyn Store> = match self {
            Target::Sqlite { path, .. } => Arc::new(
                thabian_store::sqlite::SqliteStore::connect(path)
                    .await
                    .unwrap_or_else(|e| panic!("open SQLite store {path}: {e}")),
            ),
            Target::Postgres { url, .. } => Arc::new(
                thabian_store::postgres::PgStore::connect(url)
                    .await
                    .unwrap_or_else(|e| panic!("open PgStore on {url}: {e}")),
            ),
        };
        let expected = match self {
            Target::Sqlite { .. } => "sqlite",
            Target::Postgres { .. } => "postgres",
        };
        assert_eq!(store.backend(), expected);
        store
    }
}

/// A target with one store opened on it.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    target: Target,
}

impl Fixture {
    async fn open(target: Target) -> Fixture {
        Fixture {
            store: target.open().await,
            target,
        }
    }

    /// Another, independent store instance on the same database.
    pub async fn open_another(&self) -> Arc<dyn Store> {
        self.target.open().await
    }
}

/// A throw-away PostgreSQL database, dropped (best effort) when the test ends, even on panic.
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> PgDatabase {
        use sqlx::Connection;
        let name = format!("thabian_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to PostgreSQL at {admin_url}: {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = conn.close().await;
        PgDatabase {
            admin_url: admin_url.to_owned(),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime (or while unwinding out of it): do the async work
        // on a thread of its own with a runtime of its own.
        let done = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(e) = sqlx::query(&sql).execute(&mut conn).await {
                        eprintln!("warning: {sql}: {e}");
                    }
                    let _ = conn.close().await;
                }
            });
        });
        let _ = done.join();
    }
}

/// `url` with its database name replaced by `db` (the query string, if any, is kept).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[authority_start..]
        .find('/')
        .map(|i| authority_start + i)
        .unwrap_or(base.len());
    match query {
        Some(q) => format!("{}/{db}?{q}", &base[..path_start]),
        None => format!("{}/{db}", &base[..path_start]),
    }
}

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}

/// Several batches in one transaction: the refused ones (duplicate person, stale version) leave
/// nothing behind, the others get contiguous seqs in order, and the log stays verifiable.
async fn case_group_commit(store: &dyn Store) {
    store
        .commit(WriteBatch {
            persons: vec![insert(person("P1", 1))],
            ..batch(t(0), vec![event("g-0", "k", &["P1"], "/01/")])
        })
        .await
        .unwrap();
    let results = store
        .commit_many(vec![
            WriteBatch {
                persons: vec![update(person("P1", 2), 1)],
                ..batch(t(1), vec![event("g-1", "k", &["P1"], "/01/")])
            },
            // Stale: P1 is at version 2 now, inside this same transaction.
            WriteBatch {
                persons: vec![update(person("P1", 2), 1)],
                ..batch(t(1), vec![event("g-2", "k", &["P1"], "/01/")])
            },
            WriteBatch {
                persons: vec![insert(person("P2", 1))],
                ..batch(
                    t(2),
                    vec![
                        event("g-3", "k", &["P2"], "/01/"),
                        event("g-4", "k", &["P2"], "/01/"),
                    ],
                )
            },
            // Duplicate PIN.
            WriteBatch {
                persons: vec![insert(person("P2", 1))],
                ..batch(t(3), vec![event("g-5", "k", &["P2"], "/01/")])
            },
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 4);
    let seqs = |r: &Result<Vec<StoredEvent>, StoreError>| -> Vec<u64> {
        r.as_ref().unwrap().iter().map(|e| e.seq).collect()
    };
    assert_eq!(seqs(&results[0]), vec![2]);
    assert!(
        matches!(results[1], Err(StoreError::Conflict { .. })),
        "{:?}",
        results[1]
    );
    assert_eq!(seqs(&results[2]), vec![3, 4]);
    assert!(
        matches!(results[3], Err(StoreError::Duplicate { .. })),
        "{:?}",
        results[3]
    );
    assert_eq!(store.log_size().await.unwrap(), 4);
    let ids: Vec<String> = store
        .events_after(0, 100, &FeedFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["g-0", "g-1", "g-3", "g-4"]);
    assert_eq!(store.person("P1").await.unwrap().unwrap().version, 2);
    let leaves: Vec<Hash> = store
        .events_after(0, 100, &FeedFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|e| e.leaf_hash)
        .collect();
    let nodes = store
        .merkle_nodes(&thabian_ledger::root_plan(4))
        .await
        .unwrap();
    let mut frontier = thabian_ledger::Frontier::new();
    for leaf in leaves {
        frontier.append(leaf).unwrap();
    }
    assert_eq!(thabian_ledger::root_at(4, &nodes).unwrap(), frontier.root());
    // A later commit continues after the group.
    let next = store
        .commit(batch(t(4), vec![event("g-6", "k", &["P3"], "/01/")]))
        .await
        .unwrap();
    assert_eq!(next[0].seq, 5);
}

// ---------------------------------------------------------------------------------------------
// Builders and helpers
// ---------------------------------------------------------------------------------------------

fn t(seconds: i64) -> DateTime<Utc> {
    let base = DateTime::parse_from_rfc3339("2031-05-06T07:08:09.123456Z")
        .unwrap()
        .with_timezone(&Utc);
    base + Duration::seconds(seconds)
}

fn event(id: &str, kind: &str, subjects: &[&str], area: &str) -> NewEvent {
    let mut body = serde_json::Map::new();
    body.insert("id".into(), id.into());
    body.insert("type".into(), kind.into());
    body.insert(
        "subjects".into(),
        serde_json::Value::from(subjects.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
    );
    body.insert("area".into(), area.into());
    body.insert("note".into(), "Nguyễn Văn Đức / ສົມພອນ".into());
    body.insert(
        "z_nested".into(),
        serde_json::json!({"b": 2, "a": [1, null, true]}),
    );
    NewEvent {
        id: id.to_owned(),
        kind: kind.to_owned(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        area_path: area.to_owned(),
        effective: "2031-05-01".to_owned(),
        actor: "official-1".to_owned(),
        office: "office-01".to_owned(),
        idempotency_key: None,
        body,
    }
}

fn batch(now: DateTime<Utc>, events: Vec<NewEvent>) -> WriteBatch {
    WriteBatch {
        now,
        events,
        persons: Vec::new(),
        households: Vec::new(),
        cases: Vec::new(),
        access: Vec::new(),
        idempotency: None,
        biometrics: Vec::new(),
    }
}

fn person(pin: &str, version: u64) -> PersonRow {
    PersonRow {
        pin: pin.to_owned(),
        version,
        status: "alive".to_owned(),
        residence_path: "/01/0101/".to_owned(),
        household: None,
        father: None,
        mother: None,
        spouse: None,
        record: format!(r#"{{"pin":"{pin}","name":"Nguyễn Thị Ánh","lao":"ສົມພອນ","v":{version}}}"#),
        search_keys: Vec::new(),
        match_record: Vec::new(),
    }
}

fn household(id: &str, version: u64, head: Option<&str>) -> HouseholdRow {
    HouseholdRow {
        id: id.to_owned(),
        version,
        head: head.map(str::to_owned),
        area_path: "/01/0101/".to_owned(),
        record: format!(r#"{{"id":"{id}","v":{version}}}"#),
    }
}

fn insert<T>(row: T) -> Versioned<T> {
    Versioned {
        row,
        expected_version: None,
    }
}

fn update<T>(row: T, expected: u64) -> Versioned<T> {
    Versioned {
        row,
        expected_version: Some(expected),
    }
}

fn access(id: &str, at: DateTime<Utc>, pin: Option<&str>, action: &str) -> AccessRecord {
    AccessRecord {
        id: id.to_owned(),
        at: format_time(at),
        official_id: "official-1".to_owned(),
        pin: pin.map(str::to_owned),
        action: action.to_owned(),
        purpose: Some("case 42".to_owned()),
        client: Some("127.0.0.1".to_owned()),
        detail: None,
        event_seq: None,
    }
}

fn seqs(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn expect_duplicate<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Duplicate { what: w, .. }) => assert_eq!(w, what, "Duplicate of what"),
        other => panic!("expected Duplicate {what}, got {other:?}"),
    }
}

fn expect_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict { what: w, .. }) => assert_eq!(w, what, "Conflict on what"),
        other => panic!("expected Conflict on {what}, got {other:?}"),
    }
}

/// Everything the write path can touch, to check that a failed batch wrote nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    log_size: u64,
    events: Vec<StoredEvent>,
    persons: Vec<PersonRow>,
    households: Vec<HouseholdRow>,
    access: Vec<AccessRecord>,
    officials: Vec<OfficialRow>,
    frontier: HashMap<NodeId, Hash>,
}

async fn snapshot(store: &dyn Store) -> Snapshot {
    let log_size = store.log_size().await.unwrap();
    // Every node that can exist in a tree of up to log_size + 16 leaves, so that a stray node
    // written by a failed batch would show up.
    let mut ids = Vec::new();
    for level in 0..6u8 {
        for index in 0..=((log_size + 16) >> level) {
            ids.push(NodeId::new(level, index));
        }
    }
    Snapshot {
        log_size,
        events: store
            .events_after(0, 100_000, &FeedFilter::default())
            .await
            .unwrap(),
        persons: store.all_persons("", 100_000).await.unwrap(),
        households: store.all_households().await.unwrap(),
        access: store.access_log("", 100_000).await.unwrap(),
        officials: store.officials().await.unwrap(),
        frontier: store.merkle_nodes(&ids).await.unwrap(),
    }
}

/// RFC 9162 MTH computed directly from the leaf hashes, independently of the ledger crate.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => thabian_ledger::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            thabian_ledger::node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

async fn root_from_store(store: &dyn Store, size: u64) -> Hash {
    let nodes = store
        .merkle_nodes(&thabian_ledger::root_plan(size))
        .await
        .unwrap();
    thabian_ledger::root_at(size, &nodes)
        .unwrap_or_else(|e| panic!("root_at({size}) from stored nodes: {e}"))
}

async fn all_leaves(store: &dyn Store) -> Vec<Hash> {
    store
        .events_after(0, 100_000, &FeedFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|e| e.leaf_hash)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 0. Several processes starting at once on a fresh database
// ---------------------------------------------------------------------------------------------

pub async fn case_parallel_startup(target: &Target) {
    // PostgreSQL promises that several nodes may start at once on a fresh database (the migrator
    // takes an advisory lock). The embedded SQLite backend does not: sqlx's SQLite migrator takes
    // no lock and switching a fresh file to WAL can fail with SQLITE_BUSY, so there the first
    // process creates the file alone and only the later ones start together.
    let first = match target {
        Target::Sqlite { .. } => Some(target.open().await),
        Target::Postgres { .. } => None,
    };
    let (a, b, c, d) = tokio::join!(target.open(), target.open(), target.open(), target.open());
    let mut stores = vec![a, b, c, d];
    stores.extend(first);
    for store in &stores {
        assert_eq!(store.log_size().await.unwrap(), 0);
    }
    let out = stores[0]
        .commit(batch(t(0), vec![event("e1", "birth", &["P1"], "/01/")]))
        .await
        .unwrap();
    for store in &stores {
        assert_eq!(store.event(1).await.unwrap().as_ref(), out.first());
    }
    // Opening again on a migrated database changes nothing.
    let again = target.open().await;
    assert_eq!(again.log_size().await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// 1. commit: seqs, recorded_at, canonical body, leaf hash, log size
// ---------------------------------------------------------------------------------------------

fn check_committed(e: &StoredEvent, input: &NewEvent, seq: u64, recorded_at: &str) {
    assert_eq!(e.seq, seq);
    assert_eq!(e.id, input.id);
    assert_eq!(e.kind, input.kind);
    assert_eq!(e.subjects, input.subjects);
    assert_eq!(e.area_path, input.area_path);
    assert_eq!(e.effective, input.effective);
    assert_eq!(e.actor, input.actor);
    assert_eq!(e.office, input.office);
    assert_eq!(e.idempotency_key, input.idempotency_key);
    assert_eq!(e.recorded_at, recorded_at);
    // The body is the input body plus seq and recorded_at, in canonical form.
    let mut expected = input.body.clone();
    expected.insert("seq".into(), seq.into());
    expected.insert("recorded_at".into(), recorded_at.into());
    let parsed: serde_json::Value = serde_json::from_str(&e.body).unwrap();
    assert_eq!(parsed, serde_json::Value::Object(expected));
    assert_eq!(
        e.body,
        thabian_store::canonical::to_canonical_string(&parsed),
        "stored body is canonical"
    );
    assert_eq!(e.leaf_hash, thabian_ledger::leaf_hash(e.body.as_bytes()));
}

pub async fn case_commit_assigns_seqs(store: &dyn Store) {
    assert_eq!(store.log_size().await.unwrap(), 0);
    assert_eq!(store.event(1).await.unwrap(), None);

    let b1 = vec![
        event("e1", "birth", &["P1"], "/01/0101/"),
        event("e2", "birth", &["P2", "P1"], "/01/0101/"),
        event("e3", "move", &["P1"], "/02/"),
    ];
    let out1 = store.commit(batch(t(0), b1.clone())).await.unwrap();
    assert_eq!(seqs(&out1), vec![1, 2, 3]);
    let at1 = format_time(t(0));
    for (i, (e, input)) in out1.iter().zip(&b1).enumerate() {
        check_committed(e, input, i as u64 + 1, &at1);
    }
    assert_eq!(store.log_size().await.unwrap(), 3);

    // A node whose clock is an hour behind: recorded_at must not go backwards.
    let b2 = vec![
        event("e4", "death", &["P2"], "/01/"),
        event("e5", "birth", &["P3"], "/03/"),
    ];
    let out2 = store.commit(batch(t(-3600), b2.clone())).await.unwrap();
    assert_eq!(seqs(&out2), vec![4, 5]);
    for (i, (e, input)) in out2.iter().zip(&b2).enumerate() {
        check_committed(e, input, i as u64 + 4, &at1);
    }
    assert_eq!(store.log_size().await.unwrap(), 5);

    // A batch without events commits nothing to the log and does not move recorded_at.
    let empty = store.commit(batch(t(100), Vec::new())).await.unwrap();
    assert!(empty.is_empty());
    assert_eq!(store.log_size().await.unwrap(), 5);

    // Time moves forward again, with sub-second precision kept to the microsecond.
    let later = t(1) + Duration::microseconds(7);
    let b3 = vec![event("e6", "marriage", &["P1", "P3"], "/01/0102/")];
    let out3 = store.commit(batch(later, b3.clone())).await.unwrap();
    let at3 = format_time(later);
    assert!(at3 > at1);
    check_committed(&out3[0], &b3[0], 6, &at3);
    assert_eq!(store.log_size().await.unwrap(), 6);

    // Reading back gives exactly what commit returned.
    let mut committed = out1;
    committed.extend(out2);
    committed.extend(out3);
    for e in &committed {
        assert_eq!(store.event(e.seq).await.unwrap().as_ref(), Some(e));
    }
    assert_eq!(
        store
            .events_after(0, 100, &FeedFilter::default())
            .await
            .unwrap(),
        committed
    );
    assert_eq!(store.event(0).await.unwrap(), None);
    assert_eq!(store.event(7).await.unwrap(), None);

    // recorded_at never decreases along the log.
    for pair in committed.windows(2) {
        assert!(pair[0].recorded_at <= pair[1].recorded_at);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Merkle nodes: roots and proofs from stored nodes
// ---------------------------------------------------------------------------------------------

pub async fn case_merkle_nodes(store: &dyn Store) {
    assert_eq!(
        root_from_store(store, 0).await,
        thabian_ledger::empty_root()
    );
    let batch_sizes = [1usize, 1, 2, 3, 1, 4, 5]; // 17 events in all
    let mut next = 0usize;
    let mut leaves: Vec<Hash> = Vec::new();
    let mut frontier = thabian_ledger::Frontier::new();
    for (b, &n) in batch_sizes.iter().enumerate() {
        let events: Vec<NewEvent> = (0..n)
            .map(|i| event(&format!("m{}", next + i), "birth", &["P1"], "/01/"))
            .collect();
        next += n;
        let out = store.commit(batch(t(b as i64), events)).await.unwrap();
        for e in &out {
            leaves.push(e.leaf_hash);
            frontier.append(e.leaf_hash).unwrap();
        }
        let size = leaves.len() as u64;
        assert_eq!(store.log_size().await.unwrap(), size);

        // Every historical root is rebuildable from stored nodes.
        for s in 1..=size {
            let expected = reference_root(&leaves[..s as usize]);
            assert_eq!(
                root_from_store(store, s).await,
                expected,
                "root at size {s}"
            );
        }
        assert_eq!(reference_root(&leaves), frontier.root());

        // The frontier can be rebuilt from the store.
        let ids = thabian_ledger::frontier_node_ids(size);
        let nodes = store.merkle_nodes(&ids).await.unwrap();
        let hashes: Vec<Hash> = ids.iter().map(|id| nodes[id]).collect();
        assert_eq!(hashes, frontier.hashes());

        // Inclusion proofs for every leaf at the current size.
        let root = frontier.root();
        for index in 0..size {
            let plan = thabian_ledger::inclusion_proof_plan(index, size).unwrap();
            let nodes = store.merkle_nodes(&plan).await.unwrap();
            let proof = thabian_ledger::inclusion_proof(index, size, &nodes).unwrap();
            thabian_ledger::verify_inclusion(&leaves[index as usize], index, size, &proof, &root)
                .unwrap_or_else(|e| panic!("inclusion of {index} in {size}: {e}"));
        }

        // Consistency from every earlier size.
        for old in 0..=size {
            let plan = thabian_ledger::consistency_proof_plan(old, size).unwrap();
            let nodes = store.merkle_nodes(&plan).await.unwrap();
            let proof = thabian_ledger::consistency_proof(old, size, &nodes).unwrap();
            let old_root = reference_root(&leaves[..old as usize]);
            thabian_ledger::verify_consistency(old, size, &proof, &old_root, &root)
                .unwrap_or_else(|e| panic!("consistency {old} -> {size}: {e}"));
        }
    }

    // Exactly the perfect nodes exist: nothing beyond the tree, nothing on incomplete subtrees.
    let probe = [
        NodeId::leaf(16),
        NodeId::leaf(17),
        NodeId::new(1, 8),
        NodeId::new(4, 0),
        NodeId::new(4, 1),
        NodeId::new(5, 0),
    ];
    let found = store.merkle_nodes(&probe).await.unwrap();
    let present: BTreeSet<NodeId> = found.keys().copied().collect();
    assert_eq!(
        present,
        BTreeSet::from([NodeId::leaf(16), NodeId::new(4, 0)])
    );
    assert_eq!(found[&NodeId::new(4, 0)], reference_root(&leaves[..16]));
    assert!(store.merkle_nodes(&[]).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// 3. Optimistic concurrency on projections
// ---------------------------------------------------------------------------------------------

pub async fn case_optimistic_concurrency(store: &dyn Store) {
    let mut b = batch(t(0), vec![event("e1", "birth", &["P1"], "/01/")]);
    b.persons.push(insert(person("P1", 1)));
    b.households.push(insert(household("H1", 1, Some("P1"))));
    store.commit(b).await.unwrap();
    let before = snapshot(store).await;
    assert_eq!(before.log_size, 1);

    // Inserting an existing person: Duplicate, and nothing of the batch is written, even the
    // parts that came before the failing row.
    let mut b = batch(t(10), vec![event("e2", "birth", &["P2"], "/01/")]);
    b.persons.push(insert(person("P2", 1)));
    b.persons.push(insert(person("P1", 1)));
    b.access.push(AccessRecord {
        event_seq: Some(0),
        ..access("acc-1", t(10), Some("P2"), "change")
    });
    b.idempotency = Some(IdempotencyRecord {
        key: "k-dup-person".into(),
        request_hash: "h".into(),
        result: "r".into(),
    });
    expect_duplicate(store.commit(b).await, "person");
    assert_eq!(snapshot(store).await, before);
    assert_eq!(store.person("P2").await.unwrap(), None);
    assert_eq!(store.find_idempotency("k-dup-person").await.unwrap(), None);

    // Same for households.
    let mut b = batch(t(10), vec![event("e2", "birth", &["P2"], "/01/")]);
    b.households.push(insert(household("H1", 1, None)));
    expect_duplicate(store.commit(b).await, "household");
    assert_eq!(snapshot(store).await, before);

    // A duplicate event id.
    let b = batch(
        t(10),
        vec![
            event("e9", "x", &["P9"], "/09/"),
            event("e1", "x", &["P9"], "/09/"),
        ],
    );
    expect_duplicate(store.commit(b).await, "event");
    assert_eq!(snapshot(store).await, before);
    assert!(store.person_events("P9", None).await.unwrap().is_empty());

    // Wrong expected version: Conflict, nothing written.
    let mut b = batch(t(10), vec![event("e2", "move", &["P1"], "/02/")]);
    b.persons.push(update(person("P1", 3), 2));
    expect_conflict(store.commit(b).await, "person");
    assert_eq!(snapshot(store).await, before);

    // Updating a row that does not exist is a conflict too.
    let mut b = batch(t(10), vec![event("e2", "move", &["P7"], "/02/")]);
    b.persons.push(update(person("P7", 2), 1));
    expect_conflict(store.commit(b).await, "person");
    let mut b = batch(t(10), vec![event("e2", "move", &["P1"], "/02/")]);
    b.households.push(update(household("H1", 3, None), 2));
    expect_conflict(store.commit(b).await, "household");
    assert_eq!(snapshot(store).await, before);

    // The right version: updated.
    let mut moved = person("P1", 2);
    moved.residence_path = "/02/0201/".into();
    moved.household = Some("H1".into());
    moved.spouse = Some("P3".into());
    let mut b = batch(t(20), vec![event("e2", "move", &["P1"], "/02/")]);
    b.persons.push(update(moved.clone(), 1));
    b.households.push(update(household("H1", 2, Some("P1")), 1));
    let out = store.commit(b).await.unwrap();
    assert_eq!(seqs(&out), vec![2], "failed batches consumed no seq");
    assert_eq!(store.person("P1").await.unwrap(), Some(moved.clone()));
    assert_eq!(
        store.household("H1").await.unwrap(),
        Some(household("H1", 2, Some("P1")))
    );

    // The old version is now stale.
    let mut b = batch(t(30), vec![event("e3", "move", &["P1"], "/03/")]);
    b.persons.push(update(person("P1", 2), 1));
    expect_conflict(store.commit(b).await, "person");
    assert_eq!(store.person("P1").await.unwrap(), Some(moved));
    assert_eq!(store.log_size().await.unwrap(), 2);

    // A projection-only batch (no events) is allowed and leaves the log alone.
    let mut b = batch(t(40), Vec::new());
    b.persons.push(insert(person("P5", 1)));
    assert!(store.commit(b).await.unwrap().is_empty());
    assert_eq!(store.person("P5").await.unwrap(), Some(person("P5", 1)));
    assert_eq!(store.log_size().await.unwrap(), 2);
}

// ---------------------------------------------------------------------------------------------
// 4. Idempotency records
// ---------------------------------------------------------------------------------------------

pub async fn case_idempotency(store: &dyn Store) {
    assert_eq!(store.find_idempotency("k1").await.unwrap(), None);
    store
        .commit(batch(t(0), vec![event("e0", "birth", &["P0"], "/01/")]))
        .await
        .unwrap();

    let mut e1 = event("e1", "birth", &["P1"], "/01/");
    e1.idempotency_key = Some("k1".into());
    let mut e2 = event("e2", "birth", &["P2"], "/01/");
    e2.idempotency_key = Some("k1".into());
    let mut b = batch(t(1), vec![e1, e2]);
    b.persons.push(insert(person("P1", 1)));
    b.idempotency = Some(IdempotencyRecord {
        key: "k1".into(),
        request_hash: "sha256:abc".into(),
        result: r#"{"pin":"P1"}"#.into(),
    });
    let out = store.commit(b).await.unwrap();
    assert_eq!(seqs(&out), vec![2, 3]);
    assert_eq!(out[0].idempotency_key.as_deref(), Some("k1"));
    let stored = StoredIdempotency {
        request_hash: "sha256:abc".into(),
        result: r#"{"pin":"P1"}"#.into(),
        seqs: vec![2, 3],
    };
    assert_eq!(
        store.find_idempotency("k1").await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        store
            .event(2)
            .await
            .unwrap()
            .unwrap()
            .idempotency_key
            .as_deref(),
        Some("k1")
    );

    // The same key again (a retry that raced past the lookup): Duplicate, nothing written.
    let before = snapshot(store).await;
    let mut b = batch(t(2), vec![event("e3", "birth", &["P3"], "/01/")]);
    b.persons.push(insert(person("P3", 1)));
    b.idempotency = Some(IdempotencyRecord {
        key: "k1".into(),
        request_hash: "sha256:other".into(),
        result: "other".into(),
    });
    expect_duplicate(store.commit(b).await, "idempotency key");
    assert_eq!(snapshot(store).await, before);
    assert_eq!(store.find_idempotency("k1").await.unwrap(), Some(stored));

    // A record for a change that appended no events.
    let mut b = batch(t(3), Vec::new());
    b.idempotency = Some(IdempotencyRecord {
        key: "k2".into(),
        request_hash: "h2".into(),
        result: "noop".into(),
    });
    assert!(store.commit(b).await.unwrap().is_empty());
    assert_eq!(
        store.find_idempotency("k2").await.unwrap(),
        Some(StoredIdempotency {
            request_hash: "h2".into(),
            result: "noop".into(),
            seqs: vec![],
        })
    );
    assert_eq!(
        store.find_idempotency("K1").await.unwrap(),
        None,
        "keys are exact"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. The change feed and per-person history
// ---------------------------------------------------------------------------------------------

pub async fn case_events_after(store: &dyn Store) {
    store
        .commit(batch(
            t(0),
            vec![
                event("e1", "birth", &["A"], "/01/0101/"),
                event("e2", "death", &["B"], "/010/"),
            ],
        ))
        .await
        .unwrap();
    store
        .commit(batch(t(10), vec![event("e3", "move", &["A", "B"], "/01/")]))
        .await
        .unwrap();
    store
        .commit(batch(
            t(20),
            vec![
                event("e4", "birth", &["C", "A", "A"], "/02/0201/"),
                event("e5", "marriage", &["A", "C"], "/01/0102/"),
            ],
        ))
        .await
        .unwrap();

    let all = FeedFilter::default();
    let feed = |after: u64, limit: u32, kinds: &[&str], area: Option<&str>| {
        let filter = FeedFilter {
            kinds: kinds.iter().map(|k| k.to_string()).collect(),
            area_prefix: area.map(str::to_owned),
        };
        async move { seqs(&store.events_after(after, limit, &filter).await.unwrap()) }
    };
    assert_eq!(
        seqs(&store.events_after(0, 100, &all).await.unwrap()),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(feed(0, 100, &[], None).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(feed(2, 100, &[], None).await, vec![3, 4, 5]);
    assert_eq!(feed(0, 2, &[], None).await, vec![1, 2]);
    assert_eq!(feed(2, 2, &[], None).await, vec![3, 4]);
    assert_eq!(feed(5, 100, &[], None).await, Vec::<u64>::new());
    assert_eq!(feed(99, 100, &[], None).await, Vec::<u64>::new());

    // Kind filter.
    assert_eq!(feed(0, 100, &["birth"], None).await, vec![1, 4]);
    assert_eq!(feed(0, 100, &["birth", "death"], None).await, vec![1, 2, 4]);
    assert_eq!(feed(1, 100, &["birth", "death"], None).await, vec![2, 4]);
    assert_eq!(feed(0, 1, &["death", "marriage"], None).await, vec![2]);
    assert_eq!(feed(0, 100, &["adoption"], None).await, Vec::<u64>::new());

    // Area prefix: "/01/" covers "/01/" and everything under it, but not "/010/".
    assert_eq!(feed(0, 100, &[], Some("/01/")).await, vec![1, 3, 5]);
    assert_eq!(feed(0, 100, &[], Some("/01/0101/")).await, vec![1]);
    assert_eq!(feed(0, 100, &[], Some("/010/")).await, vec![2]);
    assert_eq!(feed(0, 100, &[], Some("/02/")).await, vec![4]);
    assert_eq!(feed(0, 100, &[], Some("/03/")).await, Vec::<u64>::new());
    assert_eq!(feed(0, 100, &[], Some("/")).await, vec![1, 2, 3, 4, 5]);
    assert_eq!(feed(0, 2, &[], Some("/01/")).await, vec![1, 3]);
    assert_eq!(feed(3, 100, &[], Some("/01/")).await, vec![5]);

    // Both filters together.
    assert_eq!(feed(0, 100, &["birth"], Some("/01/")).await, vec![1]);
    assert_eq!(
        feed(0, 100, &["birth", "marriage"], Some("/01/")).await,
        vec![1, 5]
    );
    assert_eq!(
        feed(0, 100, &["death"], Some("/01/")).await,
        Vec::<u64>::new()
    );

    // Subjects keep their order (and repetitions) on the event.
    let e4 = store.event(4).await.unwrap().unwrap();
    assert_eq!(e4.subjects, vec!["C", "A", "A"]);

    // Per-person history, each event once, in seq order.
    let history = |pin: &'static str, max: Option<u64>| async move {
        seqs(&store.person_events(pin, max).await.unwrap())
    };
    assert_eq!(history("A", None).await, vec![1, 3, 4, 5]);
    assert_eq!(history("A", Some(3)).await, vec![1, 3]);
    assert_eq!(history("A", Some(4)).await, vec![1, 3, 4]);
    assert_eq!(history("A", Some(0)).await, Vec::<u64>::new());
    assert_eq!(history("A", Some(1000)).await, vec![1, 3, 4, 5]);
    assert_eq!(history("B", None).await, vec![2, 3]);
    assert_eq!(history("C", None).await, vec![4, 5]);
    assert_eq!(history("Z", None).await, Vec::<u64>::new());
    assert_eq!(
        store.person_events("A", None).await.unwrap()[2],
        e4,
        "person_events returns whole events"
    );

    // seq_known_at: the log prefix known at a point in transaction time.
    let at = |s: i64| format_time(t(s));
    assert_eq!(store.seq_known_at(&at(-1)).await.unwrap(), 0);
    assert_eq!(store.seq_known_at(&at(0)).await.unwrap(), 2);
    assert_eq!(store.seq_known_at(&at(5)).await.unwrap(), 2);
    assert_eq!(store.seq_known_at(&at(10)).await.unwrap(), 3);
    assert_eq!(store.seq_known_at(&at(19)).await.unwrap(), 3);
    assert_eq!(store.seq_known_at(&at(20)).await.unwrap(), 5);
    assert_eq!(store.seq_known_at(&at(3600)).await.unwrap(), 5);
}

// ---------------------------------------------------------------------------------------------
// 6. Concurrent writers and a concurrent feed reader
// ---------------------------------------------------------------------------------------------

const WRITERS: usize = 8;
const PER_WRITER: usize = 50;

pub async fn case_concurrent_commits(fx: &Fixture) {
    // Two independent store instances on the same database, as two server processes would have.
    let stores: Vec<Arc<dyn Store>> = vec![fx.store.clone(), fx.open_another().await];
    let total = (WRITERS * PER_WRITER) as u64;
    let started = std::time::Instant::now();

    let writers_done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = {
        let store = stores[1].clone();
        let writers_done = writers_done.clone();
        tokio::spawn(async move {
            let mut cursor = 0u64;
            let mut seen = Vec::new();
            let mut polls = 0u64;
            while cursor < total {
                let done_before = writers_done.load(std::sync::atomic::Ordering::SeqCst);
                let page = store
                    .events_after(cursor, 37, &FeedFilter::default())
                    .await
                    .unwrap();
                polls += 1;
                for e in &page {
                    assert_eq!(
                        e.seq,
                        cursor + 1,
                        "the feed skipped or repeated a seq (commit order != seq order)"
                    );
                    cursor = e.seq;
                    seen.push(e.seq);
                }
                if page.is_empty() {
                    assert!(
                        done_before < WRITERS,
                        "all writers finished but the feed stops at {cursor} of {total}"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
            (seen, polls)
        })
    };

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = stores[w % stores.len()].clone();
        let writers_done = writers_done.clone();
        writers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..PER_WRITER {
                let id = format!("w{w}-{i}");
                let pin = format!("W{w}");
                let area = format!("/0{}/", w % 3);
                let out = store
                    .commit(batch(Utc::now(), vec![event(&id, "birth", &[&pin], &area)]))
                    .await
                    .unwrap_or_else(|e| panic!("writer {w} batch {i}: {e}"));
                assert_eq!(out.len(), 1);
                mine.push(out[0].seq);
                if i % 10 == 9 {
                    // A failing batch in the middle of the traffic must not burn a seq.
                    let retry = batch(Utc::now(), vec![event(&format!("w{w}-0"), "x", &[], "/")]);
                    expect_duplicate(store.commit(retry).await, "event");
                }
            }
            writers_done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            mine
        }));
    }

    let mut committed = Vec::new();
    for (w, handle) in writers.into_iter().enumerate() {
        let mine = tokio::time::timeout(std::time::Duration::from_secs(240), handle)
            .await
            .unwrap_or_else(|_| panic!("writer {w} timed out"))
            .unwrap();
        assert!(
            mine.windows(2).all(|p| p[0] < p[1]),
            "a writer's seqs increase"
        );
        committed.extend(mine);
    }
    committed.sort_unstable();
    assert_eq!(
        committed,
        (1..=total).collect::<Vec<_>>(),
        "seqs are exactly 1..=n"
    );

    let (seen, polls) = tokio::time::timeout(std::time::Duration::from_secs(60), reader)
        .await
        .expect("reader timed out")
        .unwrap();
    assert_eq!(
        seen,
        (1..=total).collect::<Vec<_>>(),
        "the reader saw every seq once, in order"
    );
    eprintln!(
        "{}: {total} concurrent commits in {:?}, reader polled {polls} times",
        fx.store.backend(),
        started.elapsed()
    );

    for store in &stores {
        assert_eq!(store.log_size().await.unwrap(), total);
    }
    let events = fx
        .store
        .events_after(0, 100_000, &FeedFilter::default())
        .await
        .unwrap();
    assert_eq!(seqs(&events), (1..=total).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "each event committed once");
    for pair in events.windows(2) {
        assert!(
            pair[0].recorded_at <= pair[1].recorded_at,
            "recorded_at is monotonic"
        );
    }
    for w in 0..WRITERS {
        let mine = fx
            .store
            .person_events(&format!("W{w}"), None)
            .await
            .unwrap();
        let ids: Vec<String> = mine.iter().map(|e| e.id.clone()).collect();
        let expected: Vec<String> = (0..PER_WRITER).map(|i| format!("w{w}-{i}")).collect();
        assert_eq!(ids, expected);
    }
    // The Merkle state survived the interleaving: roots from stored nodes match the leaves.
    let leaves = all_leaves(&*fx.store).await;
    for size in [1, 2, 3, 127, 128, 129, 255, 256, 399, total] {
        assert_eq!(
            root_from_store(&*stores[(size % 2) as usize], size).await,
            reference_root(&leaves[..size as usize]),
            "root at {size}"
        );
    }
    for (seq, e) in events.iter().enumerate() {
        assert_eq!(e.leaf_hash, thabian_ledger::leaf_hash(e.body.as_bytes()));
        let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(body["seq"], serde_json::Value::from(seq as u64 + 1));
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Projections
// ---------------------------------------------------------------------------------------------

pub async fn case_projections(store: &dyn Store) {
    let with = |pin: &str, hh: Option<&str>, father: Option<&str>, mother: Option<&str>| {
        let mut p = person(pin, 1);
        p.household = hh.map(str::to_owned);
        p.father = father.map(str::to_owned);
        p.mother = mother.map(str::to_owned);
        p
    };
    let f = with("P-F", Some("H1"), None, None);
    let m = with("P-M", Some("H1"), None, None);
    let c1 = with("P-C1", Some("H1"), Some("P-F"), Some("P-M"));
    let c2 = with("P-C2", Some("H2"), None, Some("P-M"));
    let lone = with("P-Z", None, None, None);
    let h1 = household("H1", 1, Some("P-F"));
    let h2 = household("H2", 1, None);

    let mut b = batch(
        t(0),
        vec![event("e1", "household", &["P-F", "P-M"], "/01/")],
    );
    b.persons = vec![insert(f.clone()), insert(m.clone())];
    b.households = vec![insert(h1.clone())];
    store.commit(b).await.unwrap();
    let mut b = batch(t(1), vec![event("e2", "birth", &["P-C1", "P-C2"], "/01/")]);
    b.persons = vec![insert(c1.clone()), insert(c2.clone()), insert(lone.clone())];
    b.households = vec![insert(h2.clone())];
    store.commit(b).await.unwrap();
    // A second version of one person.
    let mut c2v2 = c2.clone();
    c2v2.version = 2;
    c2v2.spouse = Some("P-Z".into());
    c2v2.status = "married".into();
    c2v2.record = r#"{"pin":"P-C2","name":"Phạm Thị Đào","v":2}"#.into();
    let mut b = batch(
        t(2),
        vec![event("e3", "marriage", &["P-C2", "P-Z"], "/01/")],
    );
    b.persons = vec![update(c2v2.clone(), 1)];
    store.commit(b).await.unwrap();

    assert_eq!(store.person("P-C1").await.unwrap(), Some(c1.clone()));
    assert_eq!(store.person("P-C2").await.unwrap(), Some(c2v2.clone()));
    assert_eq!(store.person("P-X").await.unwrap(), None);

    let mut got = store
        .persons(&["P-C2".into(), "P-X".into(), "P-F".into(), "P-C1".into()])
        .await
        .unwrap();
    got.sort_by(|a, b| a.pin.cmp(&b.pin));
    assert_eq!(got, vec![c1.clone(), c2v2.clone(), f.clone()]);
    assert!(store.persons(&[]).await.unwrap().is_empty());
    // More pins than one statement's worth (the store chunks them).
    let mut many: Vec<String> = (0..1234).map(|i| format!("P-NONE-{i:04}")).collect();
    many.insert(3, "P-Z".into());
    many.push("P-M".into());
    many.insert(700, "P-F".into());
    let mut got = store.persons(&many).await.unwrap();
    got.sort_by(|a, b| a.pin.cmp(&b.pin));
    assert_eq!(got, vec![f.clone(), m.clone(), lone.clone()]);

    assert_eq!(
        store.children("P-M").await.unwrap(),
        vec![c1.clone(), c2v2.clone()]
    );
    assert_eq!(store.children("P-F").await.unwrap(), vec![c1.clone()]);
    assert!(store.children("P-C1").await.unwrap().is_empty());

    assert_eq!(store.household("H1").await.unwrap(), Some(h1.clone()));
    assert_eq!(store.household("H9").await.unwrap(), None);
    // Many at once, across statement boundaries, missing ones left out.
    let mut ids: Vec<String> = (0..2500).map(|i| format!("HX-{i}")).collect();
    ids.insert(1200, "H2".into());
    ids.push("H1".into());
    let mut got = store.households(&ids).await.unwrap();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(got, vec![h1.clone(), h2.clone()]);
    assert!(store.households(&[]).await.unwrap().is_empty());
    assert_eq!(
        store.household_members("H1").await.unwrap(),
        vec![c1.clone(), f.clone(), m.clone()]
    );
    assert_eq!(
        store.household_members("H2").await.unwrap(),
        vec![c2v2.clone()]
    );
    assert!(store.household_members("H9").await.unwrap().is_empty());

    // Paging through every person, in PIN order.
    let everyone = vec![c1.clone(), c2v2.clone(), f.clone(), m.clone(), lone.clone()];
    for page_size in [1u32, 2, 3, 5, 100] {
        let mut paged = Vec::new();
        let mut after = String::new();
        loop {
            let page = store.all_persons(&after, page_size).await.unwrap();
            assert!(page.len() <= page_size as usize);
            let Some(last) = page.last() else { break };
            after = last.pin.clone();
            paged.extend(page);
        }
        assert_eq!(paged, everyone, "page size {page_size}");
    }
    assert_eq!(
        store.all_persons("P-M", 10).await.unwrap(),
        vec![lone.clone()]
    );
    assert_eq!(
        store.all_households().await.unwrap(),
        vec![h1.clone(), h2.clone()]
    );

    // Rebuild: clear, then put back the same rows; the result is identical, the log untouched.
    let persons = store.all_persons("", 1000).await.unwrap();
    let households = store.all_households().await.unwrap();
    let log_before = store
        .events_after(0, 1000, &FeedFilter::default())
        .await
        .unwrap();
    store.clear_projections().await.unwrap();
    assert!(store.all_persons("", 1000).await.unwrap().is_empty());
    assert!(store.all_households().await.unwrap().is_empty());
    assert_eq!(store.person("P-F").await.unwrap(), None);
    assert!(store.children("P-M").await.unwrap().is_empty());
    assert_eq!(store.log_size().await.unwrap(), 3);
    store.put_projections(&persons, &households).await.unwrap();
    assert_eq!(store.all_persons("", 1000).await.unwrap(), persons);
    assert_eq!(store.all_households().await.unwrap(), households);
    assert_eq!(
        store.children("P-M").await.unwrap(),
        vec![c1.clone(), c2v2.clone()]
    );
    assert_eq!(
        store
            .events_after(0, 1000, &FeedFilter::default())
            .await
            .unwrap(),
        log_before
    );
    store.put_projections(&[], &[]).await.unwrap();

    // Restored versions are live for optimistic checks.
    let mut c2v3 = c2v2.clone();
    c2v3.version = 3;
    let mut b = batch(t(3), vec![event("e4", "x", &["P-C2"], "/01/")]);
    b.persons = vec![update(c2v3.clone(), 1)];
    expect_conflict(store.commit(b).await, "person");
    let mut b = batch(t(3), vec![event("e4", "x", &["P-C2"], "/01/")]);
    b.persons = vec![update(c2v3.clone(), 2)];
    store.commit(b).await.unwrap();
    assert_eq!(store.person("P-C2").await.unwrap(), Some(c2v3));
}

// ---------------------------------------------------------------------------------------------
// 8. Officials, tokens and the access log
// ---------------------------------------------------------------------------------------------

fn official(id: &str) -> OfficialRow {
    OfficialRow {
        id: id.to_owned(),
        name: format!("Official {id}"),
        role: "registrar".to_owned(),
        jurisdiction: "/01/".to_owned(),
        office: "office-01".to_owned(),
        created_at: format_time(t(0)),
        disabled_at: None,
    }
}

fn token(id: &str, hash: &str, official_id: &str, created: i64) -> TokenRow {
    TokenRow {
        id: id.to_owned(),
        hash: hash.to_owned(),
        official_id: official_id.to_owned(),
        label: format!("token {id}"),
        created_at: format_time(t(created)),
        expires_at: format_time(t(created + 86_400)),
        revoked_at: None,
    }
}

pub async fn case_officials_and_tokens(store: &dyn Store) {
    assert!(store.officials().await.unwrap().is_empty());
    assert_eq!(store.official("O1").await.unwrap(), None);

    let a1 = access("a-0001", t(0), None, "admin");
    store.insert_official(&official("O1"), &a1).await.unwrap();
    assert_eq!(store.official("O1").await.unwrap(), Some(official("O1")));
    assert_eq!(store.access_log("", 100).await.unwrap(), vec![a1.clone()]);

    // Same id again: Duplicate, and its audit record is not written either.
    let mut again = official("O1");
    again.name = "Impostor".into();
    expect_duplicate(
        store
            .insert_official(&again, &access("a-0002", t(1), None, "admin"))
            .await,
        "official",
    );
    assert_eq!(store.official("O1").await.unwrap(), Some(official("O1")));
    assert_eq!(store.access_log("", 100).await.unwrap(), vec![a1.clone()]);

    let a3 = access("a-0003", t(2), None, "admin");
    store.insert_official(&official("O0"), &a3).await.unwrap();
    assert_eq!(
        store.officials().await.unwrap(),
        vec![official("O0"), official("O1")]
    );

    // Tokens.
    let a4 = access("a-0004", t(3), None, "admin");
    let a5 = access("a-0005", t(4), None, "admin");
    store
        .insert_token(&token("T2", "hash-2", "O1", 20), &a4)
        .await
        .unwrap();
    store
        .insert_token(&token("T1", "hash-1", "O1", 10), &a5)
        .await
        .unwrap();
    assert_eq!(
        store.token_by_hash("hash-1").await.unwrap(),
        Some(token("T1", "hash-1", "O1", 10))
    );
    assert_eq!(store.token_by_hash("hash-3").await.unwrap(), None);
    let (cred_token, cred_official) = store.credential("hash-1").await.unwrap().unwrap();
    assert_eq!(cred_token, token("T1", "hash-1", "O1", 10));
    assert_eq!(Some(cred_official), store.official("O1").await.unwrap());
    assert_eq!(store.credential("hash-3").await.unwrap(), None);
    assert_eq!(
        store.tokens("O1").await.unwrap(),
        vec![
            token("T1", "hash-1", "O1", 10),
            token("T2", "hash-2", "O1", 20)
        ]
    );
    assert!(store.tokens("O0").await.unwrap().is_empty());

    let revoked_at = format_time(t(30));
    let a6 = access("a-0006", t(30), None, "admin");
    assert!(store.revoke_token("T1", &revoked_at, &a6).await.unwrap());
    let mut t1 = token("T1", "hash-1", "O1", 10);
    t1.revoked_at = Some(revoked_at.clone());
    assert_eq!(store.token_by_hash("hash-1").await.unwrap(), Some(t1));
    // Revoking twice does nothing, and logs nothing.
    let later = format_time(t(40));
    assert!(!store
        .revoke_token("T1", &later, &access("a-0007", t(40), None, "admin"))
        .await
        .unwrap());
    assert!(!store
        .revoke_token("T9", &later, &access("a-0008", t(40), None, "admin"))
        .await
        .unwrap());
    assert_eq!(
        store
            .token_by_hash("hash-1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(revoked_at)
    );
    assert_eq!(
        store
            .token_by_hash("hash-2")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );

    // Disabling an official.
    let disabled_at = format_time(t(50));
    let a9 = access("a-0009", t(50), None, "admin");
    assert!(store
        .disable_official("O0", &disabled_at, &a9)
        .await
        .unwrap());
    assert_eq!(
        store.official("O0").await.unwrap().unwrap().disabled_at,
        Some(disabled_at.clone())
    );
    assert!(!store
        .disable_official(
            "O0",
            &format_time(t(60)),
            &access("a-0010", t(60), None, "admin")
        )
        .await
        .unwrap());
    assert!(!store
        .disable_official(
            "O9",
            &format_time(t(60)),
            &access("a-0011", t(60), None, "admin")
        )
        .await
        .unwrap());
    assert_eq!(
        store.official("O0").await.unwrap().unwrap().disabled_at,
        Some(disabled_at)
    );
    assert_eq!(
        store.official("O1").await.unwrap().unwrap().disabled_at,
        None
    );
    assert_eq!(
        store.access_log("", 100).await.unwrap(),
        vec![
            a1.clone(),
            a3.clone(),
            a4.clone(),
            a5.clone(),
            a6.clone(),
            a9.clone()
        ]
    );

    // Access records: appended directly, and written by commit with the batch's seqs.
    store.append_access(&[]).await.unwrap();
    let reads = vec![
        access("a-0012", t(70), Some("PX"), "read"),
        access("a-0013", t(71), Some("PY"), "read"),
        AccessRecord {
            detail: Some(r#"{"q":"Nguyễn"}"#.into()),
            purpose: None,
            client: None,
            ..access("a-0014", t(72), None, "search")
        },
        access("a-0015", t(69), Some("PX"), "read"),
    ];
    store.append_access(&reads).await.unwrap();
    store
        .commit(batch(t(80), vec![event("e1", "birth", &["P0"], "/01/")]))
        .await
        .unwrap();
    let mut b = batch(
        t(90),
        vec![
            event("e2", "birth", &["PX"], "/01/"),
            event("e3", "move", &["PX"], "/02/"),
        ],
    );
    b.access = vec![
        AccessRecord {
            event_seq: Some(1),
            ..access("a-0016", t(90), Some("PX"), "change")
        },
        AccessRecord {
            event_seq: Some(0),
            ..access("a-0017", t(90), Some("PX"), "change")
        },
    ];
    store.commit(b).await.unwrap();
    let px = store.access_for_person("PX", 100).await.unwrap();
    let ids: Vec<&str> = px.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["a-0017", "a-0016", "a-0012", "a-0015"],
        "newest first"
    );
    assert_eq!(px[3], reads[3]);
    assert_eq!(px[1].event_seq, Some(3), "batch index 1 became seq 3");
    assert_eq!(px[0].event_seq, Some(2), "batch index 0 became seq 2");
    assert_eq!(
        store.access_for_person("PX", 1).await.unwrap(),
        vec![px[0].clone()]
    );
    assert_eq!(
        store.access_for_person("PY", 100).await.unwrap(),
        vec![reads[1].clone()]
    );
    assert!(store.access_for_person("PQ", 100).await.unwrap().is_empty());

    // Paging the whole access log by id.
    let full = store.access_log("", 1000).await.unwrap();
    assert_eq!(full.len(), 12);
    assert!(full.windows(2).all(|p| p[0].id < p[1].id), "ordered by id");
    assert!(full.contains(&reads[2]));
    for page_size in [1u32, 5, 12] {
        let mut paged = Vec::new();
        let mut after = String::new();
        loop {
            let page = store.access_log(&after, page_size).await.unwrap();
            assert!(page.len() <= page_size as usize);
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            paged.extend(page);
        }
        assert_eq!(paged, full, "page size {page_size}");
    }
    assert_eq!(
        store.access_log("a-0016", 10).await.unwrap(),
        full[11..].to_vec()
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Checkpoints and log keys
// ---------------------------------------------------------------------------------------------

fn checkpoint(size: u64, fill: u8, note: &str) -> CheckpointRow {
    CheckpointRow {
        size,
        root: [fill; 32],
        time: format_time(t(size as i64)),
        key_id: "key-1".to_owned(),
        note: note.to_owned(),
    }
}

pub async fn case_checkpoints_and_keys(store: &dyn Store) {
    assert!(store.log_keys().await.unwrap().is_empty());
    assert!(store.checkpoints().await.unwrap().is_empty());
    assert_eq!(store.latest_checkpoint().await.unwrap(), None);
    assert_eq!(store.checkpoint(1).await.unwrap(), None);

    store
        .add_log_key("key-2", "vkey-2", &format_time(t(5)))
        .await
        .unwrap();
    store
        .add_log_key("key-1", "vkey-1", &format_time(t(1)))
        .await
        .unwrap();
    // Re-adding a key id keeps the first.
    store
        .add_log_key("key-1", "vkey-other", &format_time(t(9)))
        .await
        .unwrap();
    assert_eq!(
        store.log_keys().await.unwrap(),
        vec![
            ("key-1".to_owned(), "vkey-1".to_owned()),
            ("key-2".to_owned(), "vkey-2".to_owned())
        ]
    );

    let first = checkpoint(2, 0xaa, "thabian.example/log\n2\nqg==\n\n— key-1 sig\n");
    store.add_checkpoint(&first).await.unwrap();
    // Another node raced to sign the same size: ignored, the first is kept.
    store
        .add_checkpoint(&checkpoint(2, 0xbb, "second"))
        .await
        .unwrap();
    assert_eq!(store.checkpoints().await.unwrap(), vec![first.clone()]);
    assert_eq!(store.checkpoint(2).await.unwrap(), Some(first.clone()));
    assert_eq!(
        store.latest_checkpoint().await.unwrap(),
        Some(first.clone())
    );

    let c5 = checkpoint(5, 0x05, "five");
    let c3 = checkpoint(3, 0x03, "three");
    store.add_checkpoint(&c5).await.unwrap();
    store.add_checkpoint(&c3).await.unwrap();
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(c5.clone()));
    assert_eq!(store.checkpoint(3).await.unwrap(), Some(c3.clone()));
    assert_eq!(store.checkpoint(4).await.unwrap(), None);
    assert_eq!(store.checkpoints().await.unwrap(), vec![first, c3, c5]);

    // A checkpoint of the real log round-trips its root.
    let out = store
        .commit(batch(
            t(0),
            (0..10)
                .map(|i| event(&format!("c{i}"), "birth", &["P"], "/01/"))
                .collect(),
        ))
        .await
        .unwrap();
    let leaves: Vec<Hash> = out.iter().map(|e| e.leaf_hash).collect();
    let real = CheckpointRow {
        size: 10,
        root: root_from_store(store, 10).await,
        ..checkpoint(10, 0, "ten")
    };
    assert_eq!(real.root, reference_root(&leaves));
    store.add_checkpoint(&real).await.unwrap();
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(real));
}

/// A batch far larger than one multi-row statement (a bulk import): every row lands, the tree
/// is the same as if the events had come one by one, and a duplicate anywhere in it writes
/// nothing at all.
async fn case_bulk_batch(store: &dyn Store) {
    const N: usize = 1_234;
    let pins: Vec<String> = (0..N).map(|i| format!("9{i:09}")).collect();
    let mut b = batch(
        t(1),
        pins.iter()
            .enumerate()
            .map(|(i, pin)| {
                event(
                    &format!("bulk-{i}"),
                    "record_imported",
                    &[pin, pin],
                    "/01/0101/",
                )
            })
            .collect(),
    );
    b.persons = pins.iter().map(|p| insert(person(p, 1))).collect();
    b.households = (0..N / 5)
        .map(|i| insert(household(&format!("H{i}"), 1, None)))
        .collect();
    b.access = pins
        .iter()
        .enumerate()
        .map(|(i, p)| AccessRecord {
            event_seq: Some(i as u64),
            ..access(&format!("a-{i:05}"), t(1), Some(p), "change")
        })
        .collect();
    let committed = store.commit(b).await.unwrap();
    assert_eq!(seqs(&committed), (1..=N as u64).collect::<Vec<_>>());
    assert_eq!(store.log_size().await.unwrap(), N as u64);
    let leaves: Vec<Hash> = committed.iter().map(|e| e.leaf_hash).collect();
    assert_eq!(all_leaves(store).await, leaves);
    assert_eq!(
        root_from_store(store, N as u64).await,
        reference_root(&leaves)
    );
    assert_eq!(
        root_from_store(store, 777).await,
        reference_root(&leaves[..777])
    );
    assert_eq!(store.all_persons("", 100_000).await.unwrap().len(), N);
    assert_eq!(store.all_households().await.unwrap().len(), N / 5);
    // Fresh planner statistics change no answer.
    store.refresh_statistics().await.unwrap();
    assert_eq!(store.persons(&pins).await.unwrap().len(), N);
    // A subject listed twice is recorded once.
    let events = store.person_events(&pins[1000], None).await.unwrap();
    assert_eq!(seqs(&events), vec![1001]);
    let seen = store.access_for_person(&pins[1000], 10).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].event_seq, Some(1001));

    let before = snapshot(store).await;
    let mut again = batch(
        t(2),
        (0..N)
            .map(|i| event(&format!("more-{i}"), "record_imported", &[], "/01/"))
            .collect(),
    );
    again.persons = (0..N)
        .map(|i| insert(person(&format!("8{i:09}"), 1)))
        .chain([insert(person(&pins[600], 1))])
        .collect();
    expect_duplicate(store.commit(again).await, "person");
    assert_eq!(snapshot(store).await, before);
}

/// The key index and the compact match records follow the person rows: inserted with a new
/// row, replaced on update, in the same transaction (a refused batch leaves no key and no
/// record), cleared and rebuilt with the projections; keys cut at the per-key limit, listed in
/// order.
async fn case_search_index(store: &dyn Store) {
    let with_keys = |pin: &str, version: u64, keys: &[&str]| PersonRow {
        search_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        match_record: format!("match {pin} v{version}").into_bytes(),
        ..person(pin, version)
    };
    let match_of = |pin: &str, version: u64, path: &str| thabian_store::MatchRow {
        pin: pin.to_owned(),
        residence_path: path.to_owned(),
        record: format!("match {pin} v{version}").into_bytes(),
    };
    let matches = |pins: &[&str]| {
        let pins: Vec<String> = pins.iter().map(|p| (*p).to_owned()).collect();
        async move {
            let mut found = store.match_records(&pins).await.unwrap();
            found.sort_by(|a, b| a.pin.cmp(&b.pin));
            found
        }
    };
    let mut b = batch(
        t(1),
        vec![event("e-1", "birth_registered", &["1111111111"], "/01/")],
    );
    b.persons = vec![
        insert(with_keys("1111111111", 1, &["y:an:1990", "d:19900101"])),
        insert(with_keys("2222222222", 1, &["y:an:1990", "n:an:nguyen"])),
        insert(with_keys("3333333333", 1, &["y:an:1990"])),
    ];
    store.commit(b).await.unwrap();
    // Each new row's match record, with its residence path, in the same commit.
    assert_eq!(
        matches(&["1111111111", "2222222222", "3333333333", "9999999999"]).await,
        vec![
            match_of("1111111111", 1, "/01/0101/"),
            match_of("2222222222", 1, "/01/0101/"),
            match_of("3333333333", 1, "/01/0101/"),
        ]
    );
    // Many PINs in one call (more than one statement's worth).
    let many: Vec<String> = (0..1_500)
        .map(|i| format!("{i:010}"))
        .chain(["3333333333".to_owned()])
        .collect();
    assert_eq!(
        store.match_records(&many).await.unwrap(),
        vec![match_of("3333333333", 1, "/01/0101/")]
    );

    // Ranked: a key's specificity is 1 + ⌊log2(limit / postings)⌋, a person's rank the sum
    // over their keys; the best come with their match records.
    let keys: Vec<String> = ["y:an:1990", "d:19900101", "n:an:nguyen", "x:none"]
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    let ranked = store.ranked_candidates(&keys, 10, 10).await.unwrap();
    let summary = |r: &thabian_store::RankedCandidates| -> Vec<(String, i64)> {
        r.candidates
            .iter()
            .map(|c| (c.pin.clone(), c.rank))
            .collect()
    };
    // y:an:1990 has 3 postings (2 + 0 = ⌊log2(10/3)⌋ + 1), the others 1 (⌊log2 10⌋ + 1 = 4).
    assert_eq!(
        summary(&ranked),
        vec![
            ("1111111111".to_owned(), 6),
            ("2222222222".to_owned(), 6),
            ("3333333333".to_owned(), 2),
        ]
    );
    assert_eq!((ranked.found, ranked.deepest), (3, 3));
    assert_eq!(
        ranked.candidates[0].matched,
        Some(match_of("1111111111", 1, "/01/0101/"))
    );
    // Cut at `max` (the count found says so), and at the per-key limit (`deepest`).
    let ranked = store.ranked_candidates(&keys, 10, 1).await.unwrap();
    assert_eq!(summary(&ranked), vec![("1111111111".to_owned(), 6)]);
    assert_eq!(ranked.found, 3);
    let ranked = store
        .ranked_candidates(&["y:an:1990".to_owned()], 2, 10)
        .await
        .unwrap();
    assert_eq!((ranked.candidates.len(), ranked.deepest), (2, 2));
    assert!(store
        .ranked_candidates(&["x:none".to_owned()], 10, 10)
        .await
        .unwrap()
        .candidates
        .is_empty());

    // Every person's record in PIN order, page by page.
    let page = store.match_records_after("", 2).await.unwrap();
    assert_eq!(
        page,
        vec![
            (
                "1111111111".to_owned(),
                Some(b"match 1111111111 v1".to_vec())
            ),
            (
                "2222222222".to_owned(),
                Some(b"match 2222222222 v1".to_vec())
            ),
        ]
    );
    assert_eq!(
        store.match_records_after("2222222222", 10).await.unwrap(),
        vec![(
            "3333333333".to_owned(),
            Some(b"match 3333333333 v1".to_vec())
        )]
    );

    let sorted = |mut v: Vec<(String, String)>| {
        v.sort();
        v
    };
    let pair = |k: &str, p: &str| (k.to_owned(), p.to_owned());
    let found = store
        .search_candidates(
            &["d:19900101".into(), "n:an:nguyen".into(), "x:none".into()],
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        sorted(found),
        vec![
            pair("d:19900101", "1111111111"),
            pair("n:an:nguyen", "2222222222")
        ]
    );
    // The per-key limit bounds what one common key returns.
    let found = store
        .search_candidates(&["y:an:1990".into()], 2)
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    // Many keys in one call (more than one statement's worth).
    let many: Vec<String> = (0..250)
        .map(|i| format!("z:{i}"))
        .chain(["d:19900101".to_owned()])
        .collect();
    assert_eq!(
        store.search_candidates(&many, 5).await.unwrap(),
        vec![pair("d:19900101", "1111111111")]
    );

    // An update replaces the row's keys.
    let mut b = batch(
        t(2),
        vec![event("e-2", "name_changed", &["1111111111"], "/01/")],
    );
    b.persons = vec![update(
        PersonRow {
            residence_path: "/02/0203/".into(),
            ..with_keys("1111111111", 2, &["y:binh:1990"])
        },
        1,
    )];
    store.commit(b).await.unwrap();
    assert!(store
        .search_candidates(&["d:19900101".into()], 10)
        .await
        .unwrap()
        .is_empty());
    // ... and its match record, residence path included.
    assert_eq!(
        matches(&["1111111111"]).await,
        vec![match_of("1111111111", 2, "/02/0203/")]
    );

    // A refused batch (version conflict) writes no key.
    let mut b = batch(
        t(3),
        vec![event("e-3", "name_changed", &["2222222222"], "/01/")],
    );
    b.persons = vec![
        insert(with_keys("4444444444", 1, &["y:chi:2000"])),
        update(with_keys("2222222222", 5, &["y:dung:1990"]), 4),
    ];
    expect_conflict(store.commit(b).await, "person");
    assert!(store
        .search_candidates(&["y:chi:2000".into()], 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        matches(&["4444444444", "2222222222"]).await,
        vec![match_of("2222222222", 1, "/01/0101/")]
    );
    // Nor does one refused inside a group commit, whose neighbour commits.
    let mut refused = batch(
        t(3),
        vec![event("e-4", "name_changed", &["2222222222"], "/01/")],
    );
    refused.persons = vec![
        insert(with_keys("5555555555", 1, &["y:em:2001"])),
        update(with_keys("2222222222", 5, &["y:dung:1990"]), 4),
    ];
    let mut accepted = batch(
        t(3),
        vec![event("e-5", "birth_registered", &["6666666666"], "/01/")],
    );
    accepted.persons = vec![insert(with_keys("6666666666", 1, &[]))];
    let mut results = store
        .commit_many(vec![refused, accepted])
        .await
        .unwrap()
        .into_iter();
    expect_conflict(results.next().unwrap(), "person");
    assert!(results.next().unwrap().is_ok());
    assert_eq!(
        matches(&["5555555555", "6666666666"]).await,
        vec![match_of("6666666666", 1, "/01/0101/")]
    );

    // The whole index in (key, pin) order, page by page.
    let mut all = Vec::new();
    let mut after = (String::new(), String::new());
    loop {
        let page = store.key_postings(&after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.clone();
        all.extend(page);
    }
    assert_eq!(
        all,
        vec![
            pair("n:an:nguyen", "2222222222"),
            pair("y:an:1990", "2222222222"),
            pair("y:an:1990", "3333333333"),
            pair("y:binh:1990", "1111111111"),
        ]
    );

    // Projections cleared (for a rebuild): the index goes with them; put_projections and
    // index_staged_keys restore it.
    store.clear_projections().await.unwrap();
    assert!(store
        .key_postings(&(String::new(), String::new()), 10)
        .await
        .unwrap()
        .is_empty());
    assert!(matches(&["1111111111", "2222222222", "6666666666"])
        .await
        .is_empty());
    // A bulk load stages the keys: its persons are found once the staged keys are indexed, in
    // one pass, whatever the order they came in (two batches, the second's keys sorting first).
    store
        .put_projections(
            &[with_keys(
                "1111111111",
                2,
                &["y:binh:1990", "n:binh:tran", "y:binh:1990"],
            )],
            &[],
        )
        .await
        .unwrap();
    store
        .put_projections(&[with_keys("2222222222", 1, &["n:an:nguyen"])], &[])
        .await
        .unwrap();
    assert_eq!(
        matches(&["1111111111", "2222222222"]).await,
        vec![
            match_of("1111111111", 2, "/01/0101/"),
            match_of("2222222222", 1, "/01/0101/")
        ]
    );
    assert!(store
        .search_candidates(&["y:binh:1990".into()], 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.index_staged_keys().await.unwrap(), 4);
    assert_eq!(
        store
            .key_postings(&(String::new(), String::new()), 10)
            .await
            .unwrap(),
        vec![
            pair("n:an:nguyen", "2222222222"),
            pair("n:binh:tran", "1111111111"),
            pair("y:binh:1990", "1111111111"),
        ]
    );
    assert_eq!(
        store
            .search_candidates(&["y:binh:1990".into()], 10)
            .await
            .unwrap(),
        vec![pair("y:binh:1990", "1111111111")]
    );
    // Nothing is left staged: a second call indexes nothing.
    assert_eq!(store.index_staged_keys().await.unwrap(), 0);
    // Keys staged and then cleared with the projections are gone.
    store
        .put_projections(&[with_keys("3333333333", 1, &["y:an:1991"])], &[])
        .await
        .unwrap();
    store.clear_projections().await.unwrap();
    assert_eq!(store.index_staged_keys().await.unwrap(), 0);
    assert!(store
        .key_postings(&(String::new(), String::new()), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn case_review_cases_and_models(store: &dyn Store) {
    use thabian_store::{CaseRow, LinkageModelRow};
    let case = |id: &str, version: u64, status: &str| CaseRow {
        id: id.to_owned(),
        version,
        status: status.to_owned(),
        area_path: "/01/0101/".to_owned(),
        created_at: format_time(t(1)),
        record: format!(r#"{{"id":"{id}","v":{version}}}"#),
    };
    let mut b = batch(
        t(1),
        vec![event("e-1", "duplicate_held", &["1111111111"], "/01/")],
    );
    b.cases = vec![
        insert(case("c-1", 1, "open")),
        insert(case("c-2", 1, "open")),
    ];
    store.commit(b).await.unwrap();
    assert_eq!(
        store.review_case("c-1").await.unwrap(),
        Some(case("c-1", 1, "open"))
    );
    assert_eq!(store.review_case("c-9").await.unwrap(), None);
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        store
            .existing_review_cases(&ids(&["c-2", "c-9", "c-1"]))
            .await
            .unwrap(),
        ids(&["c-1", "c-2"])
    );
    assert!(store.existing_review_cases(&[]).await.unwrap().is_empty());

    let mut b = batch(
        t(2),
        vec![event("e-2", "duplicate_reviewed", &["1111111111"], "/01/")],
    );
    b.cases = vec![update(case("c-1", 2, "decided"), 1)];
    store.commit(b).await.unwrap();
    // Deciding twice from the same version is a conflict, and the event goes with it.
    let mut b = batch(
        t(3),
        vec![event("e-3", "duplicate_reviewed", &["1111111111"], "/01/")],
    );
    b.cases = vec![update(case("c-1", 2, "decided"), 1)];
    expect_conflict(store.commit(b).await, "review case");
    assert_eq!(store.log_size().await.unwrap(), 2);
    // Opening the same case twice is a duplicate.
    let mut b = batch(
        t(3),
        vec![event("e-4", "duplicate_held", &["1111111111"], "/01/")],
    );
    b.cases = vec![insert(case("c-2", 1, "open"))];
    expect_duplicate(store.commit(b).await, "review case");

    let ids = |v: Vec<CaseRow>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.review_cases(Some("open"), "", 10).await.unwrap()),
        vec!["c-2"]
    );
    assert_eq!(
        ids(store.review_cases(None, "", 10).await.unwrap()),
        vec!["c-1", "c-2"]
    );
    assert_eq!(
        ids(store.review_cases(None, "c-1", 10).await.unwrap()),
        vec!["c-2"]
    );

    // A rebuild clears the cases with the other projections and puts back what the log says.
    let before = store.review_cases(None, "", 10).await.unwrap();
    store.clear_projections().await.unwrap();
    assert!(store.review_cases(None, "", 10).await.unwrap().is_empty());
    assert_eq!(store.review_case("c-1").await.unwrap(), None);
    store.put_review_cases(&before).await.unwrap();
    assert_eq!(store.review_cases(None, "", 10).await.unwrap(), before);
    assert_eq!(store.log_size().await.unwrap(), 2);

    assert_eq!(store.latest_linkage_model().await.unwrap(), None);
    let model = |id: &str| LinkageModelRow {
        id: id.to_owned(),
        created_at: format_time(t(1)),
        model: format!(r#"{{"id":"{id}"}}"#),
    };
    store.put_linkage_model(&model("0190-a")).await.unwrap();
    store.put_linkage_model(&model("0190-b")).await.unwrap();
    assert_eq!(
        store.latest_linkage_model().await.unwrap(),
        Some(model("0190-b"))
    );
}

/// Biometric samples are written with the event that references them, all or nothing, and are
/// not projections: clearing the projections keeps them.
async fn case_biometric_samples(store: &dyn Store) {
    let sample = |id: &str| BiometricRow {
        id: id.to_owned(),
        pin: "P1".to_owned(),
        card: "card-1".to_owned(),
        format: "image/jpeg".to_owned(),
        sha256: "ab".repeat(32),
        key_id: "key-1".to_owned(),
        nonce: vec![1; 12],
        ciphertext: vec![0, 255, 7, 0],
        created_at: "2026-12-07T00:00:00.000000Z".to_owned(),
    };
    store
        .commit(WriteBatch {
            persons: vec![insert(person("P1", 1))],
            biometrics: vec![sample("bio-1"), sample("bio-2")],
            ..batch(t(0), vec![event("b-0", "k", &["P1"], "/01/")])
        })
        .await
        .unwrap();
    assert_eq!(
        store.biometric("bio-1").await.unwrap(),
        Some(sample("bio-1"))
    );
    assert_eq!(
        store.biometric("bio-2").await.unwrap(),
        Some(sample("bio-2"))
    );
    assert_eq!(store.biometric("bio-3").await.unwrap(), None);
    // A batch refused for a stale version writes none of its samples.
    let refused = store
        .commit(WriteBatch {
            persons: vec![update(person("P1", 2), 7)],
            biometrics: vec![sample("bio-3")],
            ..batch(t(1), vec![event("b-1", "k", &["P1"], "/01/")])
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
    assert_eq!(store.biometric("bio-3").await.unwrap(), None);
    // A reused sample id refuses the whole batch.
    let refused = store
        .commit(WriteBatch {
            persons: vec![update(person("P1", 2), 1)],
            biometrics: vec![sample("bio-1")],
            ..batch(t(1), vec![event("b-2", "k", &["P1"], "/01/")])
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(StoreError::Duplicate {
                what: "biometric sample",
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(store.log_size().await.unwrap(), 1);
    store.clear_projections().await.unwrap();
    assert_eq!(
        store.biometric("bio-1").await.unwrap(),
        Some(sample("bio-1"))
    );
}

/// Published documents are replaced by name and read back byte for byte.
async fn case_published_documents(store: &dyn Store) {
    let doc = |name: &str, body: &[u8], at: &str| PublishedDocument {
        name: name.to_owned(),
        media_type: "application/pkix-crl".to_owned(),
        body: body.to_vec(),
        updated_at: at.to_owned(),
    };
    assert_eq!(store.published("crl/01.crl").await.unwrap(), None);
    store
        .publish(&doc(
            "crl/01.crl",
            &[0x30, 0, 0xff],
            "2026-12-07T00:00:00.000000Z",
        ))
        .await
        .unwrap();
    store
        .publish(&doc("a.der", &[1], "2026-12-07T00:00:00.000000Z"))
        .await
        .unwrap();
    store
        .publish(&doc(
            "crl/01.crl",
            &[0x30, 1, 0],
            "2026-12-08T00:00:00.000000Z",
        ))
        .await
        .unwrap();
    assert_eq!(
        store.published("crl/01.crl").await.unwrap(),
        Some(doc(
            "crl/01.crl",
            &[0x30, 1, 0],
            "2026-12-08T00:00:00.000000Z"
        ))
    );
    let names: Vec<String> = store
        .all_published()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["a.der", "crl/01.crl"]);
}

async fn case_import_keys(store: &dyn Store) {
    use thabian_store::{IMPORT_HOUSEHOLD, IMPORT_PERSON};
    let mut b = batch(
        t(1),
        vec![event("e-1", "birth_registered", &["1111111111"], "/01/")],
    );
    b.persons = vec![insert(person("1111111111", 1))];
    store.commit(b).await.unwrap();

    let key = |s: &str, v: &str| ImportKey {
        source_id: s.to_owned(),
        value: v.to_owned(),
        digest: format!("d-{s}"),
    };
    let keys: Vec<ImportKey> = (0..1_500)
        .map(|i| key(&format!("SRC-{i:05}"), &format!("2{i:09}")))
        .collect();
    store
        .reserve_import_keys(IMPORT_PERSON, &keys)
        .await
        .unwrap();
    store
        .reserve_import_keys(
            IMPORT_PERSON,
            &[
                // Already recorded: kept as it was.
                key("SRC-00007", "3000000000"),
                // Value reserved by another source id: skipped.
                key("SRC-NEW", "2000000001"),
                key("SRC-OK", "3000000001"),
            ],
        )
        .await
        .unwrap();
    // The same source id as a household is another key.
    store
        .reserve_import_keys(IMPORT_HOUSEHOLD, &[key("SRC-00007", "H-7")])
        .await
        .unwrap();

    let mut asked: Vec<String> = keys.iter().map(|k| k.source_id.clone()).collect();
    asked.extend(["SRC-NEW".into(), "SRC-OK".into(), "SRC-MISSING".into()]);
    let mut found = store.import_keys(IMPORT_PERSON, &asked).await.unwrap();
    found.sort();
    let mut expected = keys.clone();
    expected.push(key("SRC-OK", "3000000001"));
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(
        store
            .import_keys(IMPORT_HOUSEHOLD, &["SRC-00007".into()])
            .await
            .unwrap(),
        vec![key("SRC-00007", "H-7")]
    );

    let mut taken = store
        .taken(
            IMPORT_PERSON,
            &[
                "1111111111".into(),
                "2000000005".into(),
                "5555555555".into(),
                "H-7".into(),
            ],
        )
        .await
        .unwrap();
    taken.sort();
    assert_eq!(
        taken,
        vec!["1111111111".to_owned(), "2000000005".to_owned()]
    );
    assert_eq!(
        store
            .taken(IMPORT_HOUSEHOLD, &["H-7".into(), "H-8".into()])
            .await
            .unwrap(),
        vec!["H-7".to_owned()]
    );
    assert!(store.taken("nonsense", &["x".into()]).await.is_err());
}

/// The vocabulary scan: the distinct tokens of the keys with a prefix, in byte order, however
/// many keys each token has, with tokens that are prefixes of others and tokens with digits
/// (whose keys sort before a shorter token's), and keys of other prefixes around them.
async fn case_key_tokens(store: &dyn Store) {
    let keys: Vec<String> = [
        "y:abc:1990",
        "y:abc:1991",
        "y:abc:2001",
        "y:abc0:1990",
        "y:abca:1985",
        "y:ab:1970",
        "y:b:2000",
        "y:zz9:1999",
        "x:abc:1990",
        "yy:abc:1990",
        "fy:abc:k:1990",
        "fy:abc:m:1991",
        "fy:abcd:k:1990",
        "fz:abc:k:1990",
        "z:abc:1990",
    ]
    .map(String::from)
    .to_vec();
    let mut b = batch(
        t(1),
        vec![event("e-1", "birth_registered", &["1111111111"], "/01/")],
    );
    b.persons = vec![
        insert(PersonRow {
            search_keys: keys.clone(),
            ..person("1111111111", 1)
        }),
        insert(PersonRow {
            search_keys: vec!["y:abc:1990".into(), "y:mid:1990".into()],
            ..person("2222222222", 1)
        }),
    ];
    store.commit(b).await.unwrap();
    let tokens = |prefix: &'static str, suffix: u32, limit: u32| async move {
        store.key_tokens(prefix, suffix, limit).await.unwrap()
    };
    assert_eq!(
        tokens("y:", 5, 100).await,
        ["ab", "abc0", "abc", "abca", "b", "mid", "zz9"]
    );
    assert_eq!(tokens("fy:", 7, 100).await, ["abc", "abcd"]);
    assert_eq!(tokens("y:", 5, 3).await, ["ab", "abc0", "abc"]);
    assert!(tokens("q:", 5, 100).await.is_empty());
}

/// A walk along the key index between two keys: byte order, the bounds excluded, keys of other
/// prefixes left out, resumed from the last key returned; a key that leaves a person's row
/// leaves the walk.
async fn case_keys_between(store: &dyn Store) {
    let mut b = batch(
        t(1),
        vec![
            event("e-1", "birth_registered", &["1111111111"], "/01/"),
            event("e-2", "birth_registered", &["2222222222"], "/01/"),
        ],
    );
    b.persons = vec![
        insert(PersonRow {
            search_keys: vec![
                "card-expiry:2030-01-01:c1".into(),
                "card-expiry:2031-06-30:c3".into(),
                "card:L1".into(),
                "y:abc:1990".into(),
            ],
            ..person("1111111111", 1)
        }),
        insert(PersonRow {
            search_keys: vec![
                "card-expiry:2030-01-01:c2".into(),
                "card-expiry:2032-01-01:c4".into(),
            ],
            ..person("2222222222", 1)
        }),
    ];
    store.commit(b).await.unwrap();
    let between = |after: &'static str, before: &'static str, limit: u32| async move {
        store.keys_between(after, before, limit).await.unwrap()
    };
    let pair = |k: &str, p: &str| (k.to_owned(), p.to_owned());
    assert_eq!(
        between("card-expiry:", "card-expiry:2032-01-01", 100).await,
        [
            pair("card-expiry:2030-01-01:c1", "1111111111"),
            pair("card-expiry:2030-01-01:c2", "2222222222"),
            pair("card-expiry:2031-06-30:c3", "1111111111"),
        ]
    );
    assert_eq!(
        between("card-expiry:", "card-expiry:2032-01-01", 1).await,
        [pair("card-expiry:2030-01-01:c1", "1111111111")]
    );
    assert_eq!(
        between("card-expiry:2030-01-01:c1", "card-expiry:2032-01-01", 1).await,
        [pair("card-expiry:2030-01-01:c2", "2222222222")]
    );
    assert!(between("card-expiry:", "card-expiry:2030-01-01", 100)
        .await
        .is_empty());
    // The keys go with the row: rewritten without one, the walk no longer finds it.
    let mut b = batch(
        t(2),
        vec![event("e-3", "card_expired", &["1111111111"], "/01/")],
    );
    b.persons = vec![update(
        PersonRow {
            search_keys: vec!["card-expiry:2031-06-30:c3".into(), "card:L1".into()],
            ..person("1111111111", 2)
        },
        1,
    )];
    store.commit(b).await.unwrap();
    assert_eq!(
        between("card-expiry:", "card-expiry:2031-01-01", 100).await,
        [pair("card-expiry:2030-01-01:c2", "2222222222")]
    );
}

// ---------------------------------------------------------------------------------------------
// The two backends
// ---------------------------------------------------------------------------------------------

macro_rules! conformance {
    ($($name:ident => $case:ident($arg:ident)),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(target) = crate::Target::sqlite().await else { return };
                    conformance!(@run target $case $arg);
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(target) = crate::Target::postgres().await else { return };
                    conformance!(@run target $case $arg);
                }
            )*
        }
    };
    (@run $target:ident $case:ident store) => {
        let fx = crate::Fixture::open($target).await;
        crate::$case(&*fx.store).await;
    };
    (@run $target:ident $case:ident fixture) => {
        let fx = crate::Fixture::open($target).await;
        crate::$case(&fx).await;
    };
    (@run $target:ident $case:ident target) => {
        crate::$case(&$target).await;
    };
}

conformance! {
    parallel_startup => case_parallel_startup(target),
    commit_assigns_seqs => case_commit_assigns_seqs(store),
    merkle_nodes => case_merkle_nodes(store),
    optimistic_concurrency => case_optimistic_concurrency(store),
    idempotency => case_idempotency(store),
    events_after => case_events_after(store),
    concurrent_commits => case_concurrent_commits(fixture),
    projections => case_projections(store),
    officials_and_tokens => case_officials_and_tokens(store),
    checkpoints_and_keys => case_checkpoints_and_keys(store),
    group_commit => case_group_commit(store),
    bulk_batch => case_bulk_batch(store),
    import_keys => case_import_keys(store),
    search_index => case_search_index(store),
    key_tokens => case_key_tokens(store),
    keys_between => case_keys_between(store),
    review_cases_and_models => case_review_cases_and_models(store),
    biometric_samples => case_biometric_samples(store),
    published_documents => case_published_documents(store),
}
