//! Several `thabian serve` processes on one PostgreSQL database (ARCHITECTURE.md invariants 3, 9
//! and 11): no PIN is issued twice, no update is lost, and the change feed delivers every event
//! exactly once in commit order, whichever node commits it.
use crate::harness::{bin, register_births, ChildServer, PgDatabase, Remote, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIRTHS: usize = 300;
const BIRTH_TASKS: usize = 16;
const ROUNDS: usize = 10;
const ATTEMPTS_PER_NODE: usize = 2;

/// Follows the feed from `after` on `node` until `done` is set and a page comes back empty;
/// returns every seq delivered, in delivery order.
async fn follow_feed(node: Remote, token: String, after: u64, done: Arc<AtomicBool>) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut cursor = after;
    let mut seen = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "feed consumer did not catch up in time (cursor {cursor})"
        );
        // Read the flag before the page: an empty page after `done` means nothing is left.
        let finished = done.load(Ordering::SeqCst);
        let (s, page) = node
            .get(
                &format!("/v1/events?after={cursor}&limit=50&wait=1"),
                &token,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let events = page["events"].as_array().expect("events");
        for e in events {
            seen.push(e["seq"].as_u64().expect("seq"));
        }
        let next = page["next"].as_u64().expect("next");
        assert!(
            next >= cursor,
            "the cursor went back from {cursor} to {next}"
        );
        if let Some(last) = events.last() {
            assert_eq!(
                next,
                last["seq"].as_u64().expect("seq"),
                "next is the last seq delivered"
            );
        }
        cursor = next;
        if events.is_empty() && finished {
            return seen;
        }
    }
}

fn assert_exactly_once_in_order(seen: &[u64], n: u64) {
    for (i, seq) in seen.iter().enumerate() {
        assert_eq!(
            *seq,
            i as u64 + 1,
            "feed delivered {seq} at position {i} (gap, duplicate or reordering)"
        );
    }
    assert_eq!(
        seen.len() as u64,
        n,
        "feed delivered {} events, the log holds {n}",
        seen.len()
    );
}

fn residence_change(round: usize, node: usize, k: usize) -> Value {
    json!({
        "effective": format!("2024-06-{:02}", round + 1),
        "legal_basis": crate::harness::basis(),
        "event": {"type": "permanent_residence_changed", "area": if node == 0 { "02" } else { "03" },
                  "address_lines": [format!("House {round}-{node}-{k}")]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_no_duplicate_pin_no_lost_update_complete_feed() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    let started = Instant::now();
    // The in-process server migrates the fresh database and creates the administrator.
    let server = TestServer::start("la", Some(db.url.clone())).await;
    let registrar = server
        .official("reg-national", "registrar", "*", "01")
        .await;
    let supervisor = server
        .official("sup-national", "supervisor", "*", "01")
        .await;
    let feed_token = server
        .official("svc-feed", "service_account", "*", "01")
        .await;
    let key = server.config.log_key_path();
    assert!(key.exists(), "the in-process server created the log key");
    let child_dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let a = ChildServer::spawn(child_dirs[0].path(), &db.url, &key, "la").await;
    let b = ChildServer::spawn(child_dirs[1].path(), &db.url, &key, "la").await;
    let client = reqwest::Client::new();
    let nodes = [Remote::new(&a.base, &client), Remote::new(&b.base, &client)];
    let setup = started.elapsed();

    // Births through both nodes while a consumer follows the feed on node A.
    let before = server.store.log_size().await.expect("log size");
    let done = Arc::new(AtomicBool::new(false));
    let consumer = tokio::spawn(follow_feed(
        nodes[0].clone(),
        feed_token.clone(),
        0,
        done.clone(),
    ));
    let t = Instant::now();
    let births = register_births(&nodes, &registrar, 0..BIRTHS, BIRTH_TASKS).await;
    let births_time = t.elapsed();
    done.store(true, Ordering::SeqCst);
    let mut pins = HashSet::new();
    for (i, s, b) in &births {
        assert_eq!(*s, StatusCode::CREATED, "birth {i}: {b}");
        assert!(
            pins.insert(b["pin"].as_str().expect("pin").to_owned()),
            "PIN {} issued twice",
            b["pin"]
        );
    }
    assert_eq!(pins.len(), BIRTHS);
    let n = server.store.log_size().await.expect("log size");
    assert_eq!(n, before + BIRTHS as u64, "one event per birth");
    let seen = consumer.await.expect("consumer");
    let feed_time = t.elapsed();
    assert_exactly_once_in_order(&seen, n);

    // Lost updates: in each round every attempt (two per node, concurrently) carries the same
    // If-Match; exactly one may win, the others get 412 and write nothing.
    let t = Instant::now();
    let pin = births[0].2["pin"].as_str().expect("pin").to_owned();
    let (s, etag, person) = nodes[1]
        .send(
            Method::GET,
            &format!("/v1/persons/{pin}"),
            &registrar,
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{person}");
    let mut version = person["version"].as_u64().expect("version");
    assert_eq!(version, 1, "a newborn's record starts at version 1");
    assert_eq!(etag.as_deref(), Some("\"1\""));
    let log_before = server.store.log_size().await.expect("log size");
    let mut successes = 0u64;
    let mut refused = 0u64;
    let mut last_winner = Value::Null;
    for round in 0..ROUNDS {
        let mut attempts = Vec::new();
        for (ni, node) in nodes.iter().enumerate() {
            for k in 0..ATTEMPTS_PER_NODE {
                let node = node.clone();
                let token = registrar.clone();
                let path = format!("/v1/persons/{pin}/events");
                let body = residence_change(round, ni, k);
                let if_match = format!("\"{version}\"");
                let lines = body["event"]["address_lines"].clone();
                attempts.push(tokio::spawn(async move {
                    (
                        lines,
                        node.post(&path, &token, body, &[("If-Match", if_match)])
                            .await,
                    )
                }));
            }
        }
        let mut won = Vec::new();
        for h in attempts {
            let (lines, (s, b)) = h.await.expect("attempt");
            match s {
                StatusCode::CREATED => {
                    last_winner = lines;
                    won.push(b)
                }
                StatusCode::PRECONDITION_FAILED => {
                    assert_eq!(b["code"], "version-mismatch", "{b}");
                    refused += 1;
                }
                other => panic!("round {round}: unexpected {other}: {b}"),
            }
        }
        assert_eq!(
            won.len(),
            1,
            "round {round} at version {version}: exactly one attempt wins: {won:?}"
        );
        assert_eq!(won[0]["version"].as_u64(), Some(version + 1), "{}", won[0]);
        version += 1;
        successes += 1;
    }
    assert_eq!(
        refused,
        (ROUNDS * (nodes.len() * ATTEMPTS_PER_NODE - 1)) as u64
    );
    let (s, person) = nodes[0]
        .get(&format!("/v1/persons/{pin}"), &registrar)
        .await;
    assert_eq!(s, StatusCode::OK, "{person}");
    assert_eq!(person["version"].as_u64(), Some(1 + successes), "{person}");
    let (s, history) = nodes[1]
        .get(&format!("/v1/persons/{pin}/history"), &registrar)
        .await;
    assert_eq!(s, StatusCode::OK, "{history}");
    assert_eq!(
        history["events"].as_array().expect("events").len() as u64,
        1 + successes,
        "history length = version"
    );
    assert_eq!(
        person["permanent_residence"]["address_lines"], last_winner,
        "the record is the last winner's: {person}"
    );
    let log_after = server.store.log_size().await.expect("log size");
    assert_eq!(
        log_after,
        log_before + successes,
        "refused attempts wrote nothing to the log"
    );
    let update_time = t.elapsed();

    // A fresh consumer on the other node reads the whole log once, in order, from the start.
    let done = Arc::new(AtomicBool::new(true));
    let seen = follow_feed(nodes[1].clone(), feed_token.clone(), 0, done).await;
    assert_exactly_once_in_order(&seen, log_after);

    // A few imports by the supervisor, through both nodes, keep PINs unique as well.
    for i in 0..4 {
        let body = crate::harness::lao_import(
            &format!("mn-{i}"),
            "Import",
            "Test",
            "male",
            "1980-02-03",
            "01",
        );
        let (s, b) = nodes[i % 2]
            .post("/v1/imports", &supervisor, body, &[])
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert!(
            pins.insert(b["pin"].as_str().expect("pin").to_owned()),
            "PIN {} issued twice",
            b["pin"]
        );
    }

    // The log verifies end to end, checkpoints (signed by either node or by us) included.
    server
        .log
        .checkpoint_if_due(chrono::Utc::now(), true)
        .await
        .expect("checkpoint");
    let t = Instant::now();
    let out = std::process::Command::new(bin())
        .args([
            "--data-dir",
            &server.data_dir.path().display().to_string(),
            "--profile",
            "la",
            "verify-log",
        ])
        .env("THABIAN_DATABASE_URL", &db.url)
        .env("THABIAN_LOG_KEY_FILE", &key)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run thabian verify-log");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify-log failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("log OK"), "{stdout}");
    let verify_time = t.elapsed();

    eprintln!(
        "multinode timings: setup {setup:?}, {BIRTHS} births via 2 processes {births_time:?} ({:.0}/s), feed caught up {feed_time:?}, \
         {ROUNDS} contended update rounds {update_time:?}, verify-log {verify_time:?}, total {:?}; {stdout}",
        BIRTHS as f64 / births_time.as_secs_f64(),
        started.elapsed()
    );
    drop((a, b));
}
