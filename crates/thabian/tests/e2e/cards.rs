//! Identity cards over HTTP, on SQLite and PostgreSQL: an application with its biometric
//! samples (encrypted at rest, read back only by card officers, every read logged), four-eyes
//! approval, production, issuance, loss and replacement with every step in the holder's
//! history; who may record which step; the online status a verifier asks for.
use crate::harness::*;
use base64::Engine;
use chrono::Datelike;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The first bytes of a JPEG (SOI, APP0 "JFIF"), then a marker to look for in the database.
pub const FACE_JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00FACE-PLAINTEXT-MARKER\xFF\xD9";
/// An ISO/IEC 19794-4 finger image record header, then a marker.
pub const FINGER: &[u8] = b"FIR\x00010\x00FINGER-PLAINTEXT-MARKER";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn application(reason: &str, replaces: Option<&str>) -> Value {
    let mut body = json!({
        "reason": reason,
        "face": {"format": "image/jpeg", "data": b64(FACE_JPEG)},
        "fingerprints": [{"format": "iso-19794-4", "position": 1, "data": b64(FINGER)}],
        "legal_basis": {"act": "Law on Identity Cards 2024, art. 9"}
    });
    if let Some(old) = replaces {
        body["replaces"] = json!(old);
    }
    body
}

pub async fn card_step(
    s: &TestServer,
    token: &str,
    pin: &str,
    card: &str,
    body: Value,
) -> (StatusCode, Value) {
    let mut body = body;
    body["legal_basis"] = json!({"act": "Law on Identity Cards 2024"});
    s.post(
        &format!("/v1/persons/{pin}/cards/{card}/events"),
        token,
        body,
        &[],
    )
    .await
}

/// How many card numbers of the Lao series the store has reserved (a refused application must
/// not take one: a reservation is never released).
async fn reserved_card_numbers(s: &TestServer) -> i64 {
    let url = s.config.database_url();
    let sql = "SELECT count(*) FROM import_keys WHERE kind = 'card-number'";
    if url.starts_with("postgres") {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    }
}

/// A card applied for (with a real JPEG face) by `officer`, approved by `sup` and put in
/// production batch `batch`: its id and number.
async fn apply_and_batch(
    s: &TestServer,
    officer: &str,
    sup: &str,
    pin: &str,
    application: Value,
    batch: &str,
) -> (String, String) {
    let mut app = application;
    app["face"]["data"] = json!(b64(&face_jpeg()));
    let (status, b) = s
        .post(&format!("/v1/persons/{pin}/cards"), officer, app, &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let card = b["card"].as_str().unwrap().to_owned();
    let number = b["number"].as_str().unwrap().to_owned();
    for (token, step) in [
        (sup, json!({"action": "approved"})),
        (officer, json!({"action": "batched", "batch": batch})),
    ] {
        let (status, b) = card_step(s, token, pin, &card, step).await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
    }
    (card, number)
}

async fn cards(s: &TestServer, token: &str, pin: &str) -> Vec<Value> {
    let (status, b) = s.get(&format!("/v1/persons/{pin}/cards"), token).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b.as_array().unwrap().clone()
}

async fn card_lifecycle(database_url: Option<String>) {
    let s = TestServer::start("la", database_url).await;
    let sup = s.official("sup", "supervisor", "*", "01").await;
    let officer = s.official("officer", "card_officer", "01", "01").await;
    let officer02 = s.official("officer02", "card_officer", "02", "02").await;
    let reg = s.official("reg", "registrar", "01", "01").await;
    let bank = s.official("bank", "service_account", "*", "01").await;
    let (status, b) = s
        .post(
            "/v1/imports",
            &sup,
            lao_import(
                "card-1",
                "Somsak",
                "Phommachanh",
                "male",
                "1990-05-01",
                "01",
            ),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let pin = b["pin"].as_str().unwrap().to_owned();

    // A mislabelled sample is refused, and nothing is recorded.
    let mut bad = application("first", None);
    bad["face"]["data"] = json!(b64(b"\x89PNG\r\n\x1a\n not a jpeg"));
    let (status, b) = s
        .post(&format!("/v1/persons/{pin}/cards"), &officer, bad, &[])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["code"], "invalid-request");
    assert!(cards(&s, &sup, &pin).await.is_empty());

    // Outside the officer's jurisdiction: refused.
    let (status, b) = s
        .post(
            &format!("/v1/persons/{pin}/cards"),
            &officer02,
            application("first", None),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{b}");

    let (status, b) = s
        .post(
            &format!("/v1/persons/{pin}/cards"),
            &officer,
            application("first", None),
            &[("idempotency-key", "app-1".to_owned())],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let card = b["card"].as_str().unwrap().to_owned();
    let number = b["number"].as_str().unwrap().to_owned();
    assert!(
        number.len() == 9 && number.starts_with('L'),
        "a Lao card number: {number}"
    );
    // The same application again (same key): the first answer, no second card.
    let (status, again) = s
        .post(
            &format!("/v1/persons/{pin}/cards"),
            &officer,
            application("first", None),
            &[("idempotency-key", "app-1".to_owned())],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["result"]["replayed"], true);
    assert_eq!(cards(&s, &sup, &pin).await.len(), 1);
    // A second application while the first is in progress: refused by the rules, before a
    // number of the series is reserved for it.
    assert_eq!(reserved_card_numbers(&s).await, 1);
    let (status, b) = s
        .post(
            &format!("/v1/persons/{pin}/cards"),
            &officer,
            application("first", None),
            &[("idempotency-key", "app-2".to_owned())],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["code"], "card-application-pending");
    assert_eq!(reserved_card_numbers(&s).await, 1);
    assert_eq!(cards(&s, &sup, &pin).await.len(), 1);

    // The samples are encrypted in the database.
    let listed = cards(&s, &sup, &pin).await;
    let face_id = listed[0]["face"]["id"].as_str().unwrap().to_owned();
    let stored = s.store.biometric(&face_id).await.unwrap().unwrap();
    assert!(!stored
        .ciphertext
        .windows(b"FACE-PLAINTEXT-MARKER".len())
        .any(|w| w == b"FACE-PLAINTEXT-MARKER"));
    // Only a card officer reads them back, and the read is logged.
    let r = s
        .call(
            Method::GET,
            &format!("/v1/persons/{pin}/biometrics/{face_id}"),
            &officer,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.unwrap().as_ref(), FACE_JPEG);
    let (status, _) = s
        .get(&format!("/v1/persons/{pin}/biometrics/{face_id}"), &sup)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, log) = s.get(&format!("/v1/persons/{pin}/access-log"), &sup).await;
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "read-biometric" && e["official_id"] == "officer"));

    // Four eyes: the officer who took the application cannot approve it; a supervisor can.
    let (status, b) = card_step(&s, &officer, &pin, &card, json!({"action": "approved"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{b}");
    let (status, b) = card_step(&s, &sup, &pin, &card, json!({"action": "issued"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{b}");
    let (status, b) = card_step(&s, &sup, &pin, &card, json!({"action": "approved"})).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let (status, b) = card_step(&s, &sup, &pin, &card, json!({"action": "approved"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["code"], "invalid-card-transition");
    let (status, b) = card_step(
        &s,
        &officer,
        &pin,
        &card,
        json!({"action": "batched", "batch": "2026-12-07-A"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    // Issued before it is personalised: refused with the rule's code.
    let (status, b) = card_step(&s, &officer, &pin, &card, json!({"action": "issued"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["code"], "invalid-card-transition");

    // A raw card event through the generic endpoint is not accepted.
    let r = s
        .call(Method::GET, &format!("/v1/persons/{pin}"), &sup, None, &[])
        .await;
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let (status, _) = s
        .post(
            &format!("/v1/persons/{pin}/events"),
            &sup,
            json!({"effective": "2026-12-07", "legal_basis": basis(),
                   "event": {"type": "card", "pin": pin, "card": card, "change": {"action": "issued"}}}),
            &[("if-match", etag)],
        )
        .await;
    assert!(status.is_client_error());

    // A verifier's online check: known, not valid yet.
    let (status, b) = s.get(&format!("/v1/cards/{number}/status"), &bank).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "in_production");
    assert_eq!(b["valid"], false);
    let (status, _) = s.get("/v1/cards/L99999999/status", &bank).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.get(&format!("/v1/cards/{number}/status"), &reg).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (_, h) = s.get(&format!("/v1/persons/{pin}/history"), &sup).await;
    let kinds: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "record_imported",
            "card_applied",
            "card_approved",
            "card_batched"
        ]
    );
    // Rebuild folds the card events into the same record and the same card-number index.
    let before = s.get(&format!("/v1/persons/{pin}"), &sup).await.1;
    s.register.rebuild().await.unwrap();
    assert_eq!(s.get(&format!("/v1/persons/{pin}"), &sup).await.1, before);
    let (status, _) = s.get(&format!("/v1/cards/{number}/status"), &bank).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_lifecycle_sqlite() {
    card_lifecycle(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_lifecycle_postgres() {
    if let Some(db) = PgDatabase::create().await {
        card_lifecycle(Some(db.url.clone())).await;
    }
}

/// A minimal JPEG with a start-of-frame segment (so the 19794-5 record states its size).
pub fn face_jpeg() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    j.extend_from_slice(b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00");
    // SOF0: length 17, precision 8, height 480, width 360, 3 components.
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x01, 0x68, 0x03]);
    j.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    j.extend_from_slice(b"FACE-PLAINTEXT-MARKER");
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

/// Runs the `thabian` binary on the test server's data directory and database.
fn cli(
    s: &TestServer,
    db: Option<&str>,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = std::process::Command::new(bin());
    cmd.args([
        "--data-dir",
        &s.data_dir.path().display().to_string(),
        "--profile",
        &s.config.profile,
    ]);
    if let Some(url) = db {
        cmd.args(["--database-url", url]);
    }
    cmd.args(args)
        .env("THABIAN_PKI_PASSPHRASE", "test passphrase (fixture)");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run thabian")
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The outcome of one check of a `thabian card verify --json` report.
fn outcome(report: &Value, id: &str) -> String {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["outcome"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("no check {id} in {report}"))
}

fn failed_checks(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "failed")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

fn verify(s: &TestServer, db: Option<&str>, package: &std::path::Path) -> (bool, Value) {
    let out = cli(
        s,
        db,
        &[
            "card",
            "verify",
            &package.display().to_string(),
            "--from-register",
            "--json",
        ],
        &[],
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

/// `POST /v1/cards/verify` with a package's files.
async fn verify_online(s: &TestServer, token: &str, package: &std::path::Path) -> Value {
    let mut files = serde_json::Map::new();
    for entry in std::fs::read_dir(package).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("DG") || name.starts_with("EF.") {
            files.insert(name, json!(b64(&std::fs::read(entry.path()).unwrap())));
        }
    }
    let mrz = std::fs::read_to_string(package.join("mrz.txt")).unwrap();
    let (status, b) = s
        .post(
            "/v1/cards/verify",
            token,
            json!({"files": files, "printed_mrz": mrz, "online": true}),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    b
}

/// The whole life of a card with the national PKI: applied, approved, produced in a batch and
/// personalised (EF.SOD signed by a Document Signer whose key is in a file, or in a SoftHSM2
/// token), issued, reported lost and replaced; every step in the history. The package verifies
/// with `thabian card verify` and `openssl cms -verify`; a flipped byte in any data group, or
/// the Document Signer revoked on the CRL, fails exactly that check.
async fn card_with_pki(database_url: Option<String>, hsm: bool) {
    let s = TestServer::start("la", database_url.clone()).await;
    let db = database_url.as_deref();
    let sup = s.official("sup", "supervisor", "*", "01").await;
    let officer = s.official("officer", "card_officer", "01", "01").await;
    let police = s.official("police", "registrar", "01", "01").await;
    let (status, b) = s
        .post(
            "/v1/imports",
            &sup,
            lao_import("pki-1", "Somsak", "Phommachanh", "male", "1988-02-29", "01"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let pin = b["pin"].as_str().unwrap().to_owned();

    // The PKI: CSCA and a Document Signer (its key in a file, or generated inside the token).
    let hsm_dir = tempfile::tempdir().unwrap();
    let conf = hsm_dir.path().join("softhsm2.conf");
    let mut hsm_env: Vec<(&str, String)> = Vec::new();
    if hsm {
        std::fs::create_dir_all(hsm_dir.path().join("tokens")).unwrap();
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\n",
                hsm_dir.path().join("tokens").display()
            ),
        )
        .unwrap();
        let init = std::process::Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                "thabian-ds",
                "--so-pin",
                "12345678",
                "--pin",
                "87654321",
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("softhsm2-util");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        hsm_env.push(("SOFTHSM2_CONF", conf.display().to_string()));
        hsm_env.push(("TOKEN_PIN", "87654321".to_owned()));
    }
    let env: Vec<(&str, &str)> = hsm_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // With the token, the CSCA's key is generated in it too (and signs the DS, CRLs and the
    // master-list signer from there).
    let mut init = vec![
        "pki",
        "init",
        "--country",
        "LA",
        "--organization",
        "Ministry of Public Security",
    ];
    let token_args = [
        "--pkcs11-module",
        "/usr/lib/softhsm/libsofthsm2.so",
        "--pkcs11-token",
        "thabian-ds",
        "--pkcs11-pin-env",
        "TOKEN_PIN",
    ];
    if hsm {
        init.extend(token_args);
    }
    ok(cli(&s, db, &init, &env));
    if hsm {
        let status = ok(cli(
            &s,
            db,
            &["pki", "--pkcs11-pin-env", "TOKEN_PIN", "status"],
            &env,
        ));
        assert!(
            status.contains("CSCA 1") && status.contains("PKCS#11 token"),
            "{status}"
        );
    }
    let mut issue = vec!["pki", "issue-ds"];
    if hsm {
        issue.extend([
            "--pkcs11-module",
            "/usr/lib/softhsm/libsofthsm2.so",
            "--pkcs11-token",
            "thabian-ds",
            "--pkcs11-pin-env",
            "TOKEN_PIN",
        ]);
    }
    let issued = ok(cli(&s, db, &issue, &env));
    let ds_serial = issued.split_whitespace().nth(3).unwrap().to_owned();
    ok(cli(&s, db, &["pki", "publish"], &[]));
    let (status, docs) = s.get("/v1/pki", "").await;
    assert_eq!(status, StatusCode::OK, "{docs}");
    let names: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["crl.der", "csca-1.crt", "master-list.der"]);

    // Applied, approved, batched, personalised.
    let (card, number) =
        apply_and_batch(&s, &officer, &sup, &pin, application("first", None), "B-1").await;
    let export = tempfile::tempdir().unwrap();
    let out_dir = export.path().join("batch-B-1");
    let personalised = ok(cli(
        &s,
        db,
        &[
            "card",
            "personalise",
            "--batch",
            "B-1",
            "--out",
            &out_dir.display().to_string(),
            "--pkcs11-pin-env",
            "TOKEN_PIN",
        ],
        &env,
    ));
    assert!(
        personalised.contains("1 cards personalised"),
        "{personalised}"
    );
    let package = out_dir.join(&number);
    for f in [
        "EF.COM",
        "DG1",
        "DG2",
        "DG3",
        "DG11",
        "DG12",
        "EF.SOD",
        "mrz.txt",
        "printed.json",
    ] {
        assert!(package.join(f).exists(), "{f} missing from the package");
    }
    // The manifest checks with sha256sum and is a signed note.
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "MANIFEST", "--quiet"])
        .current_dir(&out_dir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let note = std::fs::read_to_string(out_dir.join("MANIFEST.sig")).unwrap();
    let (_, key) = s.get("/v1/log/key", "").await;
    let verifier =
        thabian_ledger::CheckpointVerifier::from_vkey(key["vkey"].as_str().unwrap()).unwrap();
    assert_eq!(
        verifier.verify_text(&note).unwrap(),
        std::fs::read_to_string(out_dir.join("MANIFEST")).unwrap()
    );

    // The chip's MRZ: the Lao card number, 29 February 1988, the Latin name.
    let mrz = std::fs::read_to_string(package.join("mrz.txt")).unwrap();
    assert!(mrz.starts_with(&format!("IDLAO{number}")), "{mrz}");
    assert!(mrz.contains("880229"), "{mrz}");
    assert!(mrz.contains("PHOMMACHANH<<SOMSAK"), "{mrz}");

    // Verified by thabian against what the register publishes...
    let (passed, report) = verify(&s, db, &package);
    assert!(passed, "{report}");
    assert!(failed_checks(&report).is_empty(), "{report}");
    // ...and by OpenSSL: the SOD's CMS against the published CSCA.
    let (_, csca) = {
        let r = s
            .call(Method::GET, "/v1/pki/csca-1.crt", "", None, &[])
            .await;
        (r.status(), r.bytes().await.unwrap())
    };
    std::fs::write(export.path().join("csca.der"), &csca).unwrap();
    let sod = std::fs::read(package.join("EF.SOD")).unwrap();
    // EF.SOD is tag 77 around the CMS ContentInfo: strip the tag and its length.
    let body = match sod[1] {
        0x82 => &sod[4..],
        0x81 => &sod[3..],
        _ => &sod[2..],
    };
    std::fs::write(export.path().join("sod.cms"), body).unwrap();
    let openssl = std::process::Command::new("openssl")
        .args([
            "x509", "-inform", "DER", "-in", "csca.der", "-out", "csca.pem",
        ])
        .current_dir(export.path())
        .output()
        .unwrap();
    assert!(openssl.status.success());
    let openssl = std::process::Command::new("openssl")
        .args([
            "cms", "-verify", "-inform", "DER", "-in", "sod.cms", "-CAfile", "csca.pem",
            "-purpose", "any", "-out", "lso.der",
        ])
        .current_dir(export.path())
        .output()
        .unwrap();
    assert!(
        openssl.status.success(),
        "{}",
        String::from_utf8_lossy(&openssl.stderr)
    );

    // One flipped byte in any data group fails that group's hash, and only that.
    for dg in ["DG1", "DG2", "DG3", "DG11", "DG12"] {
        let tampered = export.path().join(format!("tampered-{dg}"));
        std::fs::create_dir_all(&tampered).unwrap();
        for entry in std::fs::read_dir(&package).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), tampered.join(entry.file_name())).unwrap();
        }
        let mut bytes = std::fs::read(tampered.join(dg)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(tampered.join(dg), bytes).unwrap();
        let (passed, report) = verify(&s, db, &tampered);
        assert!(!passed);
        let mut expected = vec![format!("{}_hash", dg.to_lowercase())];
        if dg == "DG1" {
            expected.push("dg1_matches_printed_mrz".into());
        }
        let mut failed = failed_checks(&report);
        failed.retain(|c| c != "mrz_check_digits");
        assert_eq!(failed, expected, "{report}");
    }

    // Issued and activated; the online status says valid.
    for (token, step) in [
        (&officer, json!({"action": "issued"})),
        (&officer, json!({"action": "activated"})),
    ] {
        let (status, b) = card_step(&s, token, &pin, &card, step).await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
    }
    let (_, st) = s.get(&format!("/v1/cards/{number}/status"), &sup).await;
    assert_eq!(st["valid"], true, "{st}");
    // A first Lao card: ten years from the day of issue.
    let today = chrono::Utc::now().date_naive();
    let expiry = chrono::NaiveDate::from_ymd_opt(today.year() + 10, today.month(), today.day())
        .or_else(|| chrono::NaiveDate::from_ymd_opt(today.year() + 10, today.month(), 28))
        .unwrap();
    assert_eq!(st["date_of_expiry"], expiry.to_string(), "{st}");
    // A bank's online verification: the chip data and the register agree.
    let v = verify_online(&s, &sup, &package).await;
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["online_status"]["status"], "active");

    // Reported lost, replaced: the new card supersedes nothing valid; both in the history.
    let (status, b) = card_step(&s, &police, &pin, &card, json!({"action": "reported_lost"})).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let (_, st) = s.get(&format!("/v1/cards/{number}/status"), &sup).await;
    assert_eq!(st["status"], "lost");
    assert_eq!(st["valid"], false);
    // The chip data is still genuine, but the register says the card is lost.
    let v = verify_online(&s, &sup, &package).await;
    assert_eq!(v["verified"], false, "{v}");
    assert_eq!(v["online_status"]["status"], "lost");
    assert!(v["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["outcome"] != "failed"));
    let (card2, number2) = apply_and_batch(
        &s,
        &officer,
        &sup,
        &pin,
        application("replacement", Some(&card)),
        "B-2",
    )
    .await;
    assert_ne!(number2, number);
    let out2 = export.path().join("batch-B-2");
    ok(cli(
        &s,
        db,
        &[
            "card",
            "personalise",
            "--batch",
            "B-2",
            "--out",
            &out2.display().to_string(),
            "--pkcs11-pin-env",
            "TOKEN_PIN",
        ],
        &env,
    ));
    let (status, b) = card_step(&s, &officer, &pin, &card2, json!({"action": "issued"})).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let listed = cards(&s, &sup, &pin).await;
    let statuses: Vec<&str> = listed
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["lost", "issued"]);
    let (_, h) = s.get(&format!("/v1/persons/{pin}/history"), &sup).await;
    let kinds: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "record_imported",
            "card_applied",
            "card_approved",
            "card_batched",
            "card_personalised",
            "card_issued",
            "card_activated",
            "card_reported_lost",
            "card_applied",
            "card_approved",
            "card_batched",
            "card_personalised",
            "card_issued"
        ]
    );

    // The Document Signer revoked on the CRL: its cards fail on exactly that check.
    ok(cli(
        &s,
        db,
        &[
            "pki",
            "revoke",
            &ds_serial,
            "--reason",
            "keyCompromise",
            "--pkcs11-pin-env",
            "TOKEN_PIN",
        ],
        &env,
    ));
    ok(cli(&s, db, &["pki", "publish"], &[]));
    let (passed, report) = verify(&s, db, &package);
    assert!(!passed);
    assert_eq!(failed_checks(&report), ["ds_revocation"], "{report}");
    assert_eq!(outcome(&report, "sod_signature"), "passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_with_pki_sqlite() {
    card_with_pki(None, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_with_pki_postgres() {
    if let Some(db) = PgDatabase::create().await {
        card_with_pki(Some(db.url.clone()), false).await;
    }
}

/// The same flow with the Document Signer's key inside a SoftHSM2 token (PKCS#11): the key
/// never leaves it. Required in CI (THABIAN_REQUIRE_SOFTHSM=1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_with_pki_in_softhsm() {
    if !std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so").exists() {
        assert_ne!(
            std::env::var("THABIAN_REQUIRE_SOFTHSM").as_deref(),
            Ok("1"),
            "THABIAN_REQUIRE_SOFTHSM=1 but SoftHSM2 is not installed"
        );
        eprintln!("SKIPPED: the SoftHSM2 card test (install softhsm2)");
        return;
    }
    card_with_pki(None, true).await;
}

/// A Vietnamese card: its number is the holder's PIN, the MRZ carries its last nine digits in
/// the document-number field and the whole PIN in optional data 1; the name loses its marks
/// (Nguyễn Văn An → NGUYEN<<VAN<AN); DG11 keeps it in Vietnamese; it verifies; and renewal is at
/// the next renewal age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vietnamese_card() {
    let s = TestServer::start("vn", None).await;
    let sup = s.official("sup", "supervisor", "*", "01").await;
    let officer = s.official("officer", "card_officer", "01", "01").await;
    // 36 years old on every day of the year the test runs.
    let born = chrono::Utc::now().date_naive().year() - 36;
    let (status, b) = s
        .post(
            "/v1/imports",
            &sup,
            json!({
                "source_id": "vn-1",
                "names": {"national": {"family": "Nguyễn", "middle": "Văn", "given": "An"}},
                "sex": "male", "date_of_birth": format!("{born}-01-01"), "place_of_birth": "01",
                "father": {"type": "unknown"}, "mother": {"type": "unknown"},
                "permanent_residence": {"area": "01", "address_lines": ["Số 1 Tràng Tiền"], "since": "2000-01-01"},
                "ethnicity": "Kinh",
                "status": "living", "effective": "2000-01-01", "legal_basis": basis()
            }),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let pin = b["pin"].as_str().unwrap().to_owned();
    ok(cli(
        &s,
        None,
        &[
            "pki",
            "init",
            "--country",
            "VN",
            "--organization",
            "Bo Cong an",
            "--algorithm",
            "p384",
        ],
        &[],
    ));
    ok(cli(&s, None, &["pki", "issue-ds"], &[]));
    ok(cli(&s, None, &["pki", "publish"], &[]));
    let (_, number) =
        apply_and_batch(&s, &officer, &sup, &pin, application("first", None), "VN-1").await;
    assert_eq!(number, pin.as_str(), "a Vietnamese card number is the PIN");
    let export = tempfile::tempdir().unwrap();
    let out = export.path().join("VN-1");
    ok(cli(
        &s,
        None,
        &[
            "card",
            "personalise",
            "--batch",
            "VN-1",
            "--out",
            &out.display().to_string(),
        ],
        &[],
    ));
    let package = out.join(&pin);
    let mrz = std::fs::read_to_string(package.join("mrz.txt")).unwrap();
    let lines: Vec<&str> = mrz.lines().collect();
    let last9 = &pin[pin.len() - 9..];
    assert!(lines[0].starts_with(&format!("IDVNM{last9}")), "{mrz}");
    assert_eq!(
        &lines[0][15..27],
        pin.as_str(),
        "the whole PIN in optional data 1: {mrz}"
    );
    assert!(
        lines[1].starts_with(&format!("{:02}0101", born % 100)),
        "{mrz}"
    );
    assert!(
        lines[1][7..8] == *"M" && &lines[1][15..18] == "VNM",
        "{mrz}"
    );
    assert!(lines[2].starts_with("NGUYEN<<VAN<AN<"), "{mrz}");
    // DG11 holds the name as registered, in Vietnamese.
    let dg11 = std::fs::read(package.join("DG11")).unwrap();
    let dg11_text = String::from_utf8_lossy(&dg11);
    assert!(dg11_text.contains("Nguyễn<<Văn An"), "{dg11_text}");
    let dg13 = std::fs::read(package.join("DG13")).unwrap();
    assert!(String::from_utf8_lossy(&dg13).contains("Kinh"));
    let (passed, report) = verify(&s, None, &package);
    assert!(passed, "{report}");
    // A first card at 36: valid until the 40th birthday (the next renewal age, more than the
    // two-year grace away).
    let listed = cards(&s, &sup, &pin).await;
    assert_eq!(
        listed[0]["date_of_expiry"],
        format!("{}-01-01", born + 40),
        "{:?}",
        listed[0]
    );
}

/// A fresh key pair from OpenSSL in `dir`: the private key file (PEM) and the public key's
/// SubjectPublicKeyInfo in DER, as the personalisation machine reads it back from a chip.
fn openssl_key(dir: &std::path::Path, name: &str, genpkey: &[&str]) -> Vec<u8> {
    let key = dir.join(format!("{name}.pem"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let key_path = key.display().to_string();
    let mut gen = vec!["genpkey"];
    gen.extend(genpkey);
    gen.extend(["-out", &key_path]);
    run(&gen);
    run(&["pkey", "-in", &key_path, "-pubout", "-outform", "DER"])
}

fn pem_public_key(der: &[u8]) -> String {
    let body = b64(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// Extracts `zip` into `into` with `unzip`, or with the zip crate's reader where `unzip` is
/// not installed.
fn extract_zip(zip: &std::path::Path, into: &std::path::Path) {
    std::fs::create_dir_all(into).unwrap();
    match std::process::Command::new("unzip")
        .arg("-q")
        .arg(zip)
        .arg("-d")
        .arg(into)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => {
            let file = std::fs::File::open(zip).unwrap();
            zip::ZipArchive::new(file).unwrap().extract(into).unwrap();
        }
    }
}

/// Chip keys and the zip export: a batch of three cards personalised with a chip-keys file
/// into a zip only. The card whose chip reported EC keys gets DG14 (Chip Authentication public
/// key and info, PACE, Active Authentication info) and DG15, listed in EF.COM and covered by
/// EF.SOD; a card with `{}` gets neither; the card whose Chip Authentication key is RSA is
/// refused by number and stays in production while the others go on. The zip extracts to
/// packages that `sha256sum -c MANIFEST` accepts and that verify; a flipped byte in DG15 or
/// DG14 fails exactly that group's hash.
async fn chip_keys_and_zip(database_url: Option<String>) {
    use thabian_icao9303::lds::{Dg14, Dg15, EfCom, SecurityInfo};
    let s = TestServer::start("la", database_url.clone()).await;
    let db = database_url.as_deref();
    let sup = s.official("sup", "supervisor", "*", "01").await;
    let officer = s.official("officer", "card_officer", "01", "01").await;
    ok(cli(
        &s,
        db,
        &[
            "pki",
            "init",
            "--country",
            "LA",
            "--organization",
            "Ministry of Public Security",
        ],
        &[],
    ));
    ok(cli(&s, db, &["pki", "issue-ds"], &[]));
    ok(cli(&s, db, &["pki", "publish"], &[]));
    let mut holders = Vec::new();
    for (i, given) in ["Keo", "Noy", "Bounmy"].iter().enumerate() {
        let (status, b) = s
            .post(
                "/v1/imports",
                &sup,
                lao_import(
                    &format!("ck-{i}"),
                    given,
                    "Sisavath",
                    "female",
                    &format!("1990-05-0{}", i + 1),
                    "01",
                ),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        let pin = b["pin"].as_str().unwrap().to_owned();
        let (_, number) =
            apply_and_batch(&s, &officer, &sup, &pin, application("first", None), "K-1").await;
        holders.push((pin, number));
    }
    let (with_keys, bad_keys, no_keys) = (&holders[0], &holders[1], &holders[2]);

    // The chips' keys, as the personalisation machine read them back: EC P-256 for Chip
    // Authentication (PEM) and Active Authentication (base64 DER); an RSA key offered for
    // Chip Authentication, which needs EC or DH.
    let work = tempfile::tempdir().unwrap();
    let ca = openssl_key(
        work.path(),
        "ca",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let aa = openssl_key(
        work.path(),
        "aa",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    let rsa = openssl_key(
        work.path(),
        "rsa",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    );
    let keys_file = work.path().join("chip-keys.json");
    std::fs::write(
        &keys_file,
        serde_json::to_vec_pretty(&json!({
            with_keys.1.as_str(): {
                "chip_authentication": {"public_key": pem_public_key(&ca), "key_id": 1},
                "active_authentication": {"public_key": b64(&aa)},
                "pace": 12
            },
            bad_keys.1.as_str(): {"chip_authentication": {"public_key": b64(&rsa)}},
            no_keys.1.as_str(): {},
            "L00000000": {}
        }))
        .unwrap(),
    )
    .unwrap();

    let export = tempfile::tempdir().unwrap();
    // A zip in a directory that does not exist: refused before any card is personalised.
    let out = cli(
        &s,
        db,
        &[
            "card",
            "personalise",
            "--batch",
            "K-1",
            "--zip",
            &export.path().join("nowhere/k.zip").display().to_string(),
        ],
        &[],
    );
    assert!(!out.status.success());
    for (pin, _) in &holders {
        assert_eq!(cards(&s, &sup, pin).await[0]["status"], "in_production");
    }

    let zip_path = export.path().join("batch-K-1.zip");
    let out = cli(
        &s,
        db,
        &[
            "card",
            "personalise",
            "--batch",
            "K-1",
            "--chip-keys",
            &keys_file.display().to_string(),
            "--zip",
            &zip_path.display().to_string(),
        ],
        &[],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "one card was refused: {stdout}");
    assert!(
        stdout.contains("2 cards personalised") && stdout.contains("1 refused"),
        "{stdout}"
    );
    let refusal = stderr
        .lines()
        .find(|l| l.contains(&format!("card {}", bad_keys.1)))
        .unwrap_or_else(|| panic!("no refusal of {} in {stderr}", bad_keys.1));
    assert!(
        refusal.contains("Chip Authentication public key is RSA"),
        "{refusal}"
    );
    assert!(
        stderr.contains("chip keys for card L00000000: no such card waits in batch K-1"),
        "{stderr}"
    );
    assert_eq!(
        cards(&s, &sup, &bad_keys.0).await[0]["status"],
        "in_production",
        "the refused card waits for another run"
    );
    // Only the zip is left: no staging directory, no temporary file.
    let left: Vec<String> = std::fs::read_dir(export.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["batch-K-1.zip"]);

    let extracted = export.path().join("extracted");
    extract_zip(&zip_path, &extracted);
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "MANIFEST", "--quiet"])
        .current_dir(&extracted)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let manifest = std::fs::read_to_string(extracted.join("MANIFEST")).unwrap();
    assert!(
        manifest.contains(&format!("{}/DG15", with_keys.1)),
        "{manifest}"
    );
    assert!(!manifest.contains(&bad_keys.1), "{manifest}");
    let (_, key) = s.get("/v1/log/key", "").await;
    let verifier =
        thabian_ledger::CheckpointVerifier::from_vkey(key["vkey"].as_str().unwrap()).unwrap();
    let note = std::fs::read_to_string(extracted.join("MANIFEST.sig")).unwrap();
    assert_eq!(verifier.verify_text(&note).unwrap(), manifest);

    // The card with chip keys: DG14 and DG15, named in EF.COM, covered by EF.SOD.
    let package = extracted.join(&with_keys.1);
    let ef_com = EfCom::decode(&std::fs::read(package.join("EF.COM")).unwrap()).unwrap();
    assert!(
        ef_com.tags.contains(&0x6E) && ef_com.tags.contains(&0x6F),
        "{ef_com:?}"
    );
    let dg15 = Dg15::decode(&std::fs::read(package.join("DG15")).unwrap()).unwrap();
    assert_eq!(dg15.public_key_info, aa);
    let infos = Dg14::decode(&std::fs::read(package.join("DG14")).unwrap())
        .unwrap()
        .infos()
        .unwrap();
    let mut protocols: Vec<String> = infos.iter().map(|i| i.protocol().to_string()).collect();
    protocols.sort();
    assert_eq!(
        protocols,
        [
            "0.4.0.127.0.7.2.2.1.2",
            "0.4.0.127.0.7.2.2.3.2.2",
            "0.4.0.127.0.7.2.2.4.2.2",
            "2.23.136.1.1.5"
        ]
    );
    assert!(infos.iter().any(|i| matches!(
        i,
        SecurityInfo::ChipAuthenticationPublicKey { public_key, key_id: Some(1), .. }
            if *public_key == ca
    )));
    let (passed, report) = verify(&s, db, &package);
    assert!(passed, "{report}");
    assert_eq!(outcome(&report, "dg14_hash"), "passed");
    assert_eq!(outcome(&report, "dg15_hash"), "passed");
    assert_eq!(outcome(&report, "ef_com"), "passed");

    // A chip without keys: neither group.
    let plain = extracted.join(&no_keys.1);
    assert!(!plain.join("DG14").exists() && !plain.join("DG15").exists());
    let (passed, report) = verify(&s, db, &plain);
    assert!(passed, "{report}");

    for dg in ["DG15", "DG14"] {
        let tampered = export.path().join(format!("tampered-{dg}"));
        std::fs::create_dir_all(&tampered).unwrap();
        for entry in std::fs::read_dir(&package).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), tampered.join(entry.file_name())).unwrap();
        }
        let mut bytes = std::fs::read(tampered.join(dg)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(tampered.join(dg), bytes).unwrap();
        let (passed, report) = verify(&s, db, &tampered);
        assert!(!passed);
        assert_eq!(
            failed_checks(&report),
            [format!("{}_hash", dg.to_lowercase())],
            "{report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_chip_keys_and_zip_sqlite() {
    chip_keys_and_zip(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_chip_keys_and_zip_postgres() {
    if let Some(db) = PgDatabase::create().await {
        chip_keys_and_zip(Some(db.url.clone())).await;
    }
}

/// An operator's context for calls into the register in-process (the tokens of the officials
/// created over HTTP expire while a test moves the clock by years).
async fn operator(
    s: &TestServer,
    role: thabian_register::Role,
) -> thabian_register::RequestContext {
    thabian::operator_context_in(&s.store, role, "test", "test")
        .await
        .unwrap()
}

/// The kinds of a card's events in its holder's history.
async fn card_event_kinds(s: &TestServer, pin: &str, card: &str) -> Vec<String> {
    let events = s.store.person_events(pin, None).await.unwrap();
    events
        .iter()
        .map(|e| thabian_register::decode_event(e).unwrap())
        .filter_map(|e| match e.payload {
            thabian_model::event::EventPayload::Card(c) if c.card == card => {
                Some(c.change.kind().to_owned())
            }
            _ => None,
        })
        .collect()
}

fn expire_cli(s: &TestServer, db: Option<&str>, dry_run: bool) -> Value {
    let mut args = vec!["card", "expire", "--json"];
    if dry_run {
        args.push("--dry-run");
    }
    serde_json::from_str(&ok(cli(s, db, &args, &[]))).unwrap()
}

/// The expiry sweep: a card issued and activated ten years and two days ago (the register's
/// clock set back), another issued five years later. On its date of expiry a card is still
/// valid: the sweep records nothing. The day after, `thabian card expire` (the system's clock)
/// records exactly one `card_expired`, for that card only, in its holder's history and on the
/// change feed; the online status says expired; a second sweep records nothing.
async fn card_expiry_sweep(database_url: Option<String>) {
    let clock = TestClock::new();
    let start = chrono::Utc::now() - chrono::Duration::days(10 * 366 + 2);
    clock.set(start);
    let s = TestServer::start_with_clock("la", database_url.clone(), clock.clone()).await;
    let db = database_url.as_deref();
    let sup = s.official("sup", "supervisor", "*", "01").await;
    let officer = s.official("officer", "card_officer", "01", "01").await;
    s.official("bank", "service_account", "*", "01").await;
    ok(cli(
        &s,
        db,
        &["pki", "init", "--country", "LA", "--organization", "MPS"],
        &[],
    ));
    ok(cli(&s, db, &["pki", "issue-ds"], &[]));
    let pki = thabian::pki::PkiDir::open(&s.data_dir.path().join("pki")).unwrap();
    let ds = pki
        .current_document_signer(chrono::Utc::now())
        .unwrap()
        .clone();
    let passphrase = s.data_dir.path().join("passphrase");
    std::fs::write(&passphrase, "test passphrase (fixture)\n").unwrap();
    let access = thabian::pki::KeyAccess {
        passphrase: thabian_pki::PassphraseSource::File(passphrase),
        pkcs11_pin: None,
    };
    let signing = thabian::cards::DsSigning::new(
        pki.signer(&ds.key, &access).unwrap(),
        pki.read_cert(&ds.cert).unwrap(),
    )
    .unwrap();
    let producer = operator(&s, thabian_register::Role::CardOfficer).await;

    let mut holders = Vec::new();
    for (i, name) in ["Somsak", "Bounmy"].into_iter().enumerate() {
        let (status, b) = s
            .post(
                "/v1/imports",
                &sup,
                lao_import(
                    &format!("exp-{i}"),
                    name,
                    "Phommachanh",
                    "male",
                    "1980-05-01",
                    "01",
                ),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
        let pin = b["pin"].as_str().unwrap().to_owned();
        let (card, number) = apply_and_batch(
            &s,
            &officer,
            &sup,
            &pin,
            application("first", None),
            &format!("EXP-{i}"),
        )
        .await;
        holders.push((thabian_model::pin::Pin::from_trusted(pin), card, number));
    }
    let produce = |at_years: i64, i: usize| {
        let (pin, card, _) = holders[i].clone();
        let (s, clock, producer, signing) = (&s, &clock, &producer, &signing);
        async move {
            clock.set(start + chrono::Duration::days(at_years * 365));
            s.register
                .personalise_card(producer, &pin, &card, signing, &Default::default())
                .await
                .unwrap();
            for step in [
                thabian_model::card::CardChange::Issued,
                thabian_model::card::CardChange::Activated,
            ] {
                s.register
                    .change_card(
                        producer,
                        &pin,
                        &card,
                        step,
                        thabian_model::event::LegalBasis {
                            act: "Law on Identity Cards 2024".into(),
                            document_ref: None,
                        },
                        None,
                    )
                    .await
                    .unwrap();
            }
        }
    };
    produce(0, 0).await;
    produce(5, 1).await;
    let expiry_of = |i: usize| {
        let (pin, card, _) = holders[i].clone();
        let s = &s;
        async move {
            let p = s.store.person(pin.as_str()).await.unwrap().unwrap();
            let p: thabian_model::person::Person = serde_json::from_str(&p.record).unwrap();
            let c = p.cards.into_iter().find(|c| c.id == card).unwrap();
            (c.status, c.date_of_expiry.unwrap())
        }
    };
    let (status, expiry) = expiry_of(0).await;
    assert_eq!(status, thabian_model::card::CardStatus::Active);
    let (_, later_expiry) = expiry_of(1).await;
    assert!(
        expiry < chrono::Utc::now().date_naive() && later_expiry > chrono::Utc::now().date_naive()
    );

    // On its date of expiry the card is still valid: nothing to record.
    clock.set(expiry.and_hms_opt(12, 0, 0).unwrap().and_utc());
    let supervisor = operator(&s, thabian_register::Role::Supervisor).await;
    let sweep = s
        .register
        .expire_cards(&supervisor, "Law on Identity Cards 2024, art. 12", false)
        .await
        .unwrap();
    assert_eq!(sweep.today, expiry);
    assert!(
        sweep.expired.is_empty() && sweep.failed.is_empty(),
        "{sweep:?}"
    );
    // A card officer does not record expiries.
    let refused = s
        .register
        .expire_cards(&producer, "Law on Identity Cards 2024, art. 12", false)
        .await;
    assert!(
        matches!(refused, Err(thabian_register::RegisterError::Forbidden(_))),
        "{refused:?}"
    );

    // The operator's daily job, on the system's clock (after the expiry): a dry run lists the
    // card and records nothing; the sweep records it; a second sweep records nothing.
    let (pin, card, number) = holders[0].clone();
    let (other_pin, other_card, _) = holders[1].clone();
    let dry = expire_cli(&s, db, true);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["expired"].as_array().unwrap().len(), 1, "{dry}");
    assert_eq!(dry["expired"][0]["card"], card.as_str());
    assert_eq!(dry["expired"][0]["date_of_expiry"], expiry.to_string());
    assert_eq!(dry["expired"][0]["status"], "active");
    assert!(!card_event_kinds(&s, pin.as_str(), &card)
        .await
        .contains(&"card_expired".to_owned()));
    let done = expire_cli(&s, db, false);
    assert_eq!(done["expired"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(done["expired"][0]["number"], number.as_str());
    assert!(done["failed"].as_array().unwrap().is_empty(), "{done}");
    let kinds = card_event_kinds(&s, pin.as_str(), &card).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "card_expired").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("card_expired"));
    // The card not yet expired is untouched.
    assert_eq!(
        card_event_kinds(&s, other_pin.as_str(), &other_card).await,
        [
            "card_applied",
            "card_approved",
            "card_batched",
            "card_personalised",
            "card_issued",
            "card_activated"
        ]
    );
    let again = expire_cli(&s, db, false);
    assert!(again["expired"].as_array().unwrap().is_empty(), "{again}");
    assert!(
        again["already_recorded"].as_array().unwrap().is_empty(),
        "{again}"
    );
    clock.set(chrono::Utc::now());
    let sweep = s
        .register
        .expire_cards(&supervisor, "Law on Identity Cards 2024, art. 12", false)
        .await
        .unwrap();
    assert!(
        sweep.expired.is_empty() && sweep.failed.is_empty(),
        "{sweep:?}"
    );
    assert_eq!(
        card_event_kinds(&s, pin.as_str(), &card)
            .await
            .iter()
            .filter(|k| *k == "card_expired")
            .count(),
        1
    );

    // The recorded expiry: the online status, the holder's history with its legal basis, the
    // change feed (fresh tokens: the clock moved past the first ones).
    let admin = operator(&s, thabian_register::Role::Administrator).await;
    let fresh = |id: &'static str| {
        let (s, admin) = (&s, &admin);
        async move {
            s.register
                .issue_token(admin, id, "test", chrono::Duration::days(1))
                .await
                .unwrap()
                .token
        }
    };
    let bank = fresh("bank").await;
    let sup = fresh("sup").await;
    let (status, b) = s.get(&format!("/v1/cards/{number}/status"), &bank).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "expired");
    assert_eq!(b["valid"], false);
    let (_, h) = s.get(&format!("/v1/persons/{pin}/history"), &sup).await;
    let expired: Vec<&Value> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "card_expired")
        .collect();
    assert_eq!(expired.len(), 1, "{h}");
    let (status, feed) = s.get("/v1/events?after=0", &bank).await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    assert_eq!(
        feed.to_string().matches("card_expired").count(),
        1,
        "{feed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_expiry_sweep_sqlite() {
    card_expiry_sweep(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_expiry_sweep_postgres() {
    if let Some(db) = PgDatabase::create().await {
        card_expiry_sweep(Some(db.url.clone())).await;
    }
}

/// A package lost or spoiled at the bureau: the card, personalised and not yet issued, is
/// personalised again with a stated reason (`thabian card personalise --card N --reason R`),
/// a second `card_personalised` with the new SOD's digest. Once the card is issued, the old
/// package fails the online check on exactly that (`sod_current` false, the chip data
/// genuine, the card valid) and the new one passes. Without a reason it is refused.
async fn card_repersonalisation(database_url: Option<String>) {
    let s = TestServer::start("la", database_url.clone()).await;
    let db = database_url.as_deref();
    let sup = s.official("sup", "supervisor", "*", "01").await;
    let officer = s.official("officer", "card_officer", "01", "01").await;
    let bank = s.official("bank", "service_account", "*", "01").await;
    let (status, b) = s
        .post(
            "/v1/imports",
            &sup,
            lao_import("rep-1", "Somsak", "Phommachanh", "male", "1985-03-04", "01"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let pin = b["pin"].as_str().unwrap().to_owned();
    ok(cli(
        &s,
        db,
        &["pki", "init", "--country", "LA", "--organization", "MPS"],
        &[],
    ));
    ok(cli(&s, db, &["pki", "issue-ds"], &[]));
    ok(cli(&s, db, &["pki", "publish"], &[]));
    let (card, number) =
        apply_and_batch(&s, &officer, &sup, &pin, application("first", None), "R-1").await;
    let export = tempfile::tempdir().unwrap();
    let first = export.path().join("first");
    ok(cli(
        &s,
        db,
        &[
            "card",
            "personalise",
            "--batch",
            "R-1",
            "--out",
            &first.display().to_string(),
        ],
        &[],
    ));

    // Without a reason: refused by the command line and by the register (the rules refuse it
    // too: crates/model/tests/model.rs).
    let second = export.path().join("second");
    let out = cli(
        &s,
        db,
        &[
            "card",
            "personalise",
            "--card",
            &number,
            "--out",
            &second.display().to_string(),
        ],
        &[],
    );
    assert!(!out.status.success());
    let out = cli(
        &s,
        db,
        &[
            "card",
            "personalise",
            "--card",
            &number,
            "--reason",
            " ",
            "--out",
            &second.display().to_string(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("give the reason"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // With the reason: a fresh package, a second card_personalised.
    let second = export.path().join("second-ok");
    let printed = ok(cli(
        &s,
        db,
        &[
            "card",
            "personalise",
            "--card",
            &number,
            "--reason",
            "chip spoiled at the bureau",
            "--out",
            &second.display().to_string(),
        ],
        &[],
    ));
    assert!(printed.contains("1 cards personalised"), "{printed}");
    let (old, new) = (first.join(&number), second.join(&number));
    assert_ne!(
        std::fs::read(old.join("EF.SOD")).unwrap(),
        std::fs::read(new.join("EF.SOD")).unwrap()
    );
    let (_, h) = s.get(&format!("/v1/persons/{pin}/history"), &sup).await;
    let personalised: Vec<&Value> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "card_personalised")
        .collect();
    assert_eq!(personalised.len(), 2, "{h}");
    assert_eq!(
        personalised[1]["event"]["payload"]["change"]["reason"],
        "chip spoiled at the bureau"
    );
    assert!(personalised[0]["event"]["payload"]["change"]
        .get("reason")
        .is_none());
    let (status, b) = card_step(&s, &officer, &pin, &card, json!({"action": "issued"})).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");

    // The old package: genuine chip data, a valid card, but not the card's current EF.SOD.
    let checked = verify_online(&s, &bank, &old).await;
    assert_eq!(checked["verified"], false, "{checked}");
    assert_eq!(checked["sod_current"], false, "{checked}");
    assert_eq!(checked["online_status"]["valid"], true, "{checked}");
    assert!(failed_checks(&checked["report"]).is_empty(), "{checked}");
    let checked = verify_online(&s, &bank, &new).await;
    assert_eq!(checked["verified"], true, "{checked}");
    assert_eq!(checked["sod_current"], true, "{checked}");

    // Issued: no longer personalised again.
    let out = cli(
        &s,
        db,
        &[
            "card",
            "personalise",
            "--card",
            &number,
            "--reason",
            "again",
            "--out",
            &export.path().join("third").display().to_string(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is issued"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_repersonalisation_sqlite() {
    card_repersonalisation(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_repersonalisation_postgres() {
    if let Some(db) = PgDatabase::create().await {
        card_repersonalisation(Some(db.url.clone())).await;
    }
}
