//! Identity cards over HTTP, on SQLite and PostgreSQL: an application with its biometric
//! samples (encrypted at rest, read back only by card officers, every read logged), four-eyes
//! approval, production, issuance, loss and replacement with every step in the holder's
//! history; who may record which step; the online status a verifier asks for.
use crate::harness::*;
use base64::Engine;
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
