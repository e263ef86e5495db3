//! The log's proofs and checkpoints, as a third party would check them: over HTTP, with an
//! independent RFC 6962/9162 implementation (`ct-merkle`) and `ed25519-dalek` directly, never
//! with our own ledger crate.
use crate::harness::{lao_import, register_births, PgDatabase, Remote, TestServer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

type Ct = sha2::Sha256;

fn b64(s: &Value) -> Vec<u8> {
    B64.decode(s.as_str().expect("base64 string"))
        .expect("base64")
}

fn digest(bytes: &[u8]) -> ct_merkle::digest::Output<Ct> {
    assert_eq!(bytes.len(), 32, "a SHA-256 hash");
    ct_merkle::digest::Output::<Ct>::clone_from_slice(bytes)
}

fn root(bytes: &[u8], size: u64) -> RootHash<Ct> {
    RootHash::new(digest(bytes), size)
}

fn concat(hashes: &Value) -> Vec<u8> {
    hashes
        .as_array()
        .expect("hashes")
        .iter()
        .flat_map(b64)
        .collect()
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    out
}

/// The independent implementation's tree of the first `size` events.
fn prefix_tree(events: &[Value], size: u64) -> MemoryBackedTree<Ct, Vec<u8>> {
    let mut tree = MemoryBackedTree::new();
    for e in &events[..size as usize] {
        tree.push(
            e["canonical"]
                .as_str()
                .expect("canonical")
                .as_bytes()
                .to_vec(),
        );
    }
    tree
}

/// `<name>+<hex key id>+<base64(0x01 || key)>`, the key id checked from first principles.
fn parse_vkey(vkey: &str) -> (String, [u8; 4], ed25519_dalek::VerifyingKey) {
    // A key name has no '+'; the base64 key may.
    let mut parts = vkey.splitn(3, '+');
    let name = parts.next().expect("name").to_owned();
    let id = hex::decode(parts.next().expect("key id")).expect("hex key id");
    let blob = B64.decode(parts.next().expect("key")).expect("base64 key");
    assert_eq!(blob.len(), 33, "0x01 || 32-byte Ed25519 key");
    assert_eq!(blob[0], 0x01, "Ed25519 algorithm byte");
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n']);
    h.update(&blob);
    assert_eq!(
        &h.finalize()[..4],
        &id[..],
        "key id = SHA-256(name || 0x0A || 0x01 || key)[:4]"
    );
    let key = ed25519_dalek::VerifyingKey::from_bytes(blob[1..].try_into().expect("32 bytes"))
        .expect("Ed25519 key");
    (name, id.try_into().expect("4-byte key id"), key)
}

/// Checks a C2SP signed note: `body`, a blank line, `— <name> <base64(key id || signature)>`
/// lines; returns whether a signature by (`name`, `id`, `key`) verifies over the body.
fn note_verifies(note: &str, name: &str, id: [u8; 4], key: &ed25519_dalek::VerifyingKey) -> bool {
    let Some(split) = note.find("\n\n") else {
        return false;
    };
    let (body, sigs) = (&note[..split + 1], &note[split + 2..]);
    sigs.lines().any(|line| {
        let Some(rest) = line.strip_prefix("\u{2014} ") else {
            return false;
        };
        let Some((who, sig)) = rest.split_once(' ') else {
            return false;
        };
        let Ok(sig) = B64.decode(sig) else {
            return false;
        };
        if who != name || sig.len() != 68 || sig[..4] != id {
            return false;
        }
        let sig = ed25519_dalek::Signature::from_bytes(sig[4..].try_into().expect("64 bytes"));
        key.verify_strict(body.as_bytes(), &sig).is_ok()
    })
}

/// The checkpoint body's lines: origin, size, base64 root, then extensions.
fn note_body(note: &str) -> Vec<String> {
    note.split("\n\n")
        .next()
        .expect("body")
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn checkpoint_now(server: &TestServer, api: &Remote) -> Value {
    server
        .log
        .checkpoint_if_due(chrono::Utc::now(), true)
        .await
        .expect("checkpoint");
    let (s, c) = api.get("/v1/log/checkpoint", "").await;
    assert_eq!(s, StatusCode::OK, "{c}");
    // The background checkpointer may have signed this size first; either way it is the head.
    assert_eq!(
        c["size"].as_u64(),
        Some(server.store.log_size().await.expect("log size")),
        "{c}"
    );
    c
}

async fn proofs_flow(database_url: Option<String>) {
    let server = TestServer::start("la", database_url).await;
    let api = Remote::new(&server.base, &server.client);
    let registrar = server.official("reg-proofs", "registrar", "*", "01").await;
    let supervisor = server.official("sup-proofs", "supervisor", "*", "01").await;
    let feed = server
        .official("svc-proofs", "service_account", "*", "01")
        .await;

    // A few dozen events, a checkpoint, more events, a second checkpoint.
    for i in 0..12 {
        let body = lao_import(
            &format!("pf-{i}"),
            "Somchai",
            "Test",
            if i % 2 == 0 { "male" } else { "female" },
            "1985-05-05",
            "01",
        );
        let (s, b) = api.post("/v1/imports", &supervisor, body, &[]).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    for (i, s, b) in register_births(std::slice::from_ref(&api), &registrar, 0..21, 3).await {
        assert_eq!(s, StatusCode::CREATED, "birth {i}: {b}");
    }
    let first = checkpoint_now(&server, &api).await;
    for (i, s, b) in register_births(std::slice::from_ref(&api), &registrar, 100..119, 3).await {
        assert_eq!(s, StatusCode::CREATED, "birth {i}: {b}");
    }
    let second = checkpoint_now(&server, &api).await;
    let (m, n) = (
        first["size"].as_u64().expect("size"),
        second["size"].as_u64().expect("size"),
    );
    assert!(m >= 33 && n >= m + 19, "checkpoint sizes {m} and {n}");

    // Every event's canonical text, from the feed; the leaf hash recomputed from it.
    let (s, page) = api.get("/v1/events?after=0&limit=1000", &feed).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let events = page["events"].as_array().expect("events").clone();
    assert_eq!(events.len() as u64, n, "the feed holds the whole log");
    let mut tree = MemoryBackedTree::<Ct, Vec<u8>>::new();
    let mut first_root = None;
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1));
        let canonical = e["canonical"]
            .as_str()
            .expect("canonical")
            .as_bytes()
            .to_vec();
        let mut h = Sha256::new();
        h.update([0x00]);
        h.update(&canonical);
        assert_eq!(
            hex::encode(h.finalize()),
            e["leaf_hash"].as_str().expect("leaf_hash"),
            "leaf hash of event {}",
            i + 1
        );
        tree.push(canonical);
        if tree.len() == m {
            first_root = Some(tree.root());
        }
    }
    let first_root = first_root.expect("tree passed the first checkpoint's size");
    assert_eq!(
        first_root.as_bytes().as_slice(),
        b64(&first["root"]),
        "first checkpoint's root (ct-merkle)"
    );
    assert_eq!(
        tree.root().as_bytes().as_slice(),
        b64(&second["root"]),
        "second checkpoint's root (ct-merkle)"
    );

    // Inclusion proofs against the latest checkpoint (and some against the first).
    let mut checked = 0;
    for (seq, size) in [
        (1, n),
        (2, n),
        (m / 2, n),
        (m, n),
        (m + 1, n),
        (n - 1, n),
        (n, n),
        (1, m),
        (m / 3, m),
        (m, m),
    ] {
        let (s, p) = api
            .get(
                &format!("/v1/log/proofs/inclusion?seq={seq}&tree_size={size}"),
                "",
            )
            .await;
        assert_eq!(s, StatusCode::OK, "inclusion {seq} in {size}: {p}");
        let idx = seq - 1;
        assert_eq!(p["leaf_index"].as_u64(), Some(idx), "{p}");
        assert_eq!(p["tree_size"].as_u64(), Some(size), "{p}");
        let canonical = events[idx as usize]["canonical"]
            .as_str()
            .expect("canonical")
            .as_bytes();
        let mut h = Sha256::new();
        h.update([0x00]);
        h.update(canonical);
        assert_eq!(
            b64(&p["leaf_hash"]),
            h.finalize().as_slice(),
            "proof's leaf hash for {seq}"
        );
        let expected_root = if size == n {
            &second["root"]
        } else {
            &first["root"]
        };
        assert_eq!(p["root"], *expected_root, "{p}");
        let r = root(&b64(&p["root"]), size);
        let bytes = concat(&p["hashes"]);
        r.verify_inclusion(
            &canonical,
            idx,
            &InclusionProof::<Ct>::try_from_bytes(bytes.clone()).expect("proof"),
        )
        .unwrap_or_else(|e| panic!("inclusion of {seq} in {size} does not verify: {e:?}"));
        // Same hashes in the same (RFC 9162 §2.1.3) order as the independent implementation's.
        assert_eq!(
            prefix_tree(&events, size)
                .prove_inclusion(idx as usize)
                .as_bytes(),
            &bytes[..],
            "inclusion proof of {seq}"
        );
        // Tampering is caught: any flipped proof byte, another leaf, another index.
        for at in [0, bytes.len() / 2, bytes.len().saturating_sub(1)] {
            if bytes.is_empty() {
                break;
            }
            let bad = InclusionProof::<Ct>::try_from_bytes(flip(&bytes, at)).expect("proof");
            assert!(
                r.verify_inclusion(&canonical, idx, &bad).is_err(),
                "flipped byte {at} of the proof of {seq} verifies"
            );
        }
        let good = InclusionProof::<Ct>::try_from_bytes(bytes).expect("proof");
        let mut edited = canonical.to_vec();
        edited[canonical.len() / 2] ^= 0x01;
        assert!(
            r.verify_inclusion(&edited, idx, &good).is_err(),
            "an edited event verifies at {seq}"
        );
        let other = (idx + 1) % size;
        if other != idx {
            assert!(
                r.verify_inclusion(&canonical, other, &good).is_err(),
                "event {seq} verifies at index {other}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 10);

    // Consistency proofs: between the two checkpoints, and from a few other sizes (powers of two
    // included, whose root the proof leaves out).
    for (old, new) in [
        (m, n),
        (1, n),
        (16, n),
        (32, n),
        (m - 1, m),
        (n - 1, n),
        (n, n),
    ] {
        let (s, p) = api
            .get(
                &format!("/v1/log/proofs/consistency?old={old}&new={new}"),
                "",
            )
            .await;
        assert_eq!(s, StatusCode::OK, "consistency {old}..{new}: {p}");
        assert_eq!(
            (p["old_size"].as_u64(), p["new_size"].as_u64()),
            (Some(old), Some(new)),
            "{p}"
        );
        if (old, new) == (m, n) {
            assert_eq!(p["old_root"], first["root"], "{p}");
            assert_eq!(p["new_root"], second["root"], "{p}");
        }
        let old_root = root(&b64(&p["old_root"]), old);
        let new_root = root(&b64(&p["new_root"]), new);
        let prefix = prefix_tree(&events, new);
        assert_eq!(
            new_root.as_bytes(),
            prefix.root().as_bytes(),
            "new root {new} (ct-merkle)"
        );
        let bytes = concat(&p["hashes"]);
        new_root
            .verify_consistency(
                &old_root,
                &ConsistencyProof::<Ct>::try_from_bytes(bytes.clone()).expect("proof"),
            )
            .unwrap_or_else(|e| panic!("consistency {old}..{new} does not verify: {e:?}"));
        // Same hashes in the same (RFC 9162 §2.1.4) order as the independent implementation's.
        assert_eq!(
            prefix.prove_consistency((new - old) as usize).as_bytes(),
            &bytes[..],
            "consistency proof {old}..{new}"
        );
        for at in [0, bytes.len() / 2, bytes.len().saturating_sub(1)] {
            if bytes.is_empty() {
                break;
            }
            let bad = ConsistencyProof::<Ct>::try_from_bytes(flip(&bytes, at)).expect("proof");
            assert!(
                new_root.verify_consistency(&old_root, &bad).is_err(),
                "flipped byte {at} of consistency {old}..{new} verifies"
            );
        }
        let wrong_old = root(&flip(&b64(&p["old_root"]), 3), old);
        let good = ConsistencyProof::<Ct>::try_from_bytes(bytes).expect("proof");
        assert!(
            new_root.verify_consistency(&wrong_old, &good).is_err(),
            "a forged old root {old} verifies"
        );
    }

    // The checkpoints' signatures, checked with ed25519-dalek against the published key.
    let (s, k) = api.get("/v1/log/key", "").await;
    assert_eq!(s, StatusCode::OK, "{k}");
    let (name, id, key) = parse_vkey(k["vkey"].as_str().expect("vkey"));
    assert_eq!(name, "thabian.la/register");
    for (c, size) in [(&first, m), (&second, n)] {
        let note = c["note"].as_str().expect("note");
        let body = note_body(note);
        assert_eq!(body[0], name, "origin line: {note}");
        assert_eq!(body[1], size.to_string(), "size line: {note}");
        assert_eq!(
            body[2],
            c["root"].as_str().expect("root"),
            "root line: {note}"
        );
        assert!(
            note_verifies(note, &name, id, &key),
            "checkpoint {size} does not verify: {note}"
        );
        // Same note from the by-size endpoint.
        let (s, by_size) = api.get(&format!("/v1/log/checkpoints/{size}"), "").await;
        assert_eq!(s, StatusCode::OK, "{by_size}");
        assert_eq!(by_size["note"], c["note"]);
        // Tampering: another size, another root, a flipped signature byte, another key name.
        let forged_size = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 1), 1);
        assert_ne!(forged_size, note);
        assert!(
            !note_verifies(&forged_size, &name, id, &key),
            "a note with a forged size verifies"
        );
        let forged_root = note.replacen(&body[2], &B64.encode(flip(&b64(&c["root"]), 0)), 1);
        assert!(
            !note_verifies(&forged_root, &name, id, &key),
            "a note with a forged root verifies"
        );
        let sig_line = note
            .lines()
            .find(|l| l.starts_with('\u{2014}'))
            .expect("signature line");
        let sig = sig_line.rsplit(' ').next().expect("signature");
        let forged_sig = note.replacen(
            sig,
            &B64.encode(flip(&B64.decode(sig).expect("base64"), 40)),
            1,
        );
        assert!(
            !note_verifies(&forged_sig, &name, id, &key),
            "a note with a flipped signature byte verifies"
        );
        assert!(
            !note_verifies(note, "someone.else/log", id, &key),
            "a signature by another key name is accepted"
        );
    }
    // The signed body carries the checkpoint's time as an extension line, `time <RFC 3339>`.
    for c in [&first, &second] {
        let time = c["time"].as_str().expect("time");
        let t = chrono::DateTime::parse_from_rfc3339(time).expect("RFC 3339 time");
        assert!(
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .num_seconds()
                .abs()
                < 300,
            "{c}"
        );
        assert_eq!(
            note_body(c["note"].as_str().expect("note"))[3],
            format!("time {time}"),
            "{c}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_verify_independently_sqlite() {
    proofs_flow(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_verify_independently_postgres() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    proofs_flow(Some(db.url.clone())).await;
}
