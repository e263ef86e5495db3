//! The register's life-event flow over HTTP, on SQLite and on PostgreSQL: births to registered
//! parents, marriage, move, death; current record, history, as-of and as-known-at; every
//! invalid event refused with problem+json and nothing changed; jurisdiction; the access log;
//! verify-log catching an edited row; rebuild reproducing the projections.
use crate::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn import(s: &TestServer, token: &str, body: Value) -> String {
    let (status, b) = s.post("/v1/imports", token, body, &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    b["pin"].as_str().unwrap().to_owned()
}

async fn version(s: &TestServer, token: &str, pin: &str) -> String {
    let r = s
        .call(Method::GET, &format!("/v1/persons/{pin}"), token, None, &[])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    r.headers()["etag"].to_str().unwrap().to_owned()
}

async fn event(
    s: &TestServer,
    token: &str,
    pin: &str,
    effective: &str,
    event: Value,
) -> (StatusCode, Value) {
    let etag = version(s, token, pin).await;
    s.post(
        &format!("/v1/persons/{pin}/events"),
        token,
        json!({"effective": effective, "legal_basis": basis(), "event": event}),
        &[("if-match", etag)],
    )
    .await
}

fn birth(given: &str, dob: &str, father: &str, mother: &str, area: &str) -> Value {
    json!({
        "names": {"national": {"given": given, "family": "Phommachanh"}, "latin": {"given": given, "family": "Phommachanh"}},
        "sex": "male", "date_of_birth": dob, "place_of_birth": area,
        "father": {"type": "registered", "pin": father}, "mother": {"type": "registered", "pin": mother},
        "residence": {"area": area, "address_lines": ["House 7"], "since": dob},
        "legal_basis": basis()
    })
}

async fn log_size(s: &TestServer) -> u64 {
    s.store.log_size().await.unwrap()
}

/// Asserts the request was refused with problem+json `code` and that nothing was written.
async fn refused(
    s: &TestServer,
    (status, body): (StatusCode, Value),
    expected_status: StatusCode,
    code: &str,
    size_before: u64,
) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["type"], format!("urn:thabian:problem:{code}"));
    assert_eq!(body["status"], expected_status.as_u16());
    assert_eq!(
        log_size(s).await,
        size_before,
        "a refused request wrote an event"
    );
}

async fn life_events(database_url: Option<String>) {
    let s = TestServer::start("la", database_url).await;
    let sup = s.official("sup", "supervisor", "*", "01").await;
    let reg01 = s.official("reg01", "registrar", "01", "01").await;
    let reg02 = s.official("reg02", "registrar", "02", "02").await;
    let ministry = s.official("ministry", "service_account", "*", "01").await;

    let father = import(
        &s,
        &sup,
        lao_import(
            "legacy-1",
            "Somsak",
            "Phommachanh",
            "male",
            "1985-02-03",
            "01",
        ),
    )
    .await;
    let mother = import(
        &s,
        &sup,
        lao_import(
            "legacy-2",
            "Bouaphanh",
            "Sisouvanh",
            "female",
            "1987-06-07",
            "01",
        ),
    )
    .await;

    // A birth to two registered parents, by the registrar of the province.
    let (status, b) = s
        .post(
            "/v1/births",
            &reg01,
            birth("Khamphaeng", "2010-04-05", &father, &mother, "01"),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let child = b["pin"].as_str().unwrap().to_owned();
    assert!(thabian_model::pin::verhoeff_is_valid(&child));

    let (status, b) = event(
        &s,
        &reg01,
        &father,
        "2012-01-01",
        json!({"type": "marriage_registered", "spouse": mother}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let after_marriage = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // The move is registered by the office of departure.
    let (status, b) = event(
        &s,
        &reg01,
        &child,
        "2015-03-01",
        json!({"type": "permanent_residence_changed", "area": "02", "address_lines": ["Ban Nong"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let (status, b) = event(
        &s,
        &reg01,
        &father,
        "2020-05-06",
        json!({"type": "death_recorded", "place_of_death": "01"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");

    // Current records.
    let (_, f) = s.get(&format!("/v1/persons/{father}"), &sup).await;
    assert_eq!(f["status"], "deceased");
    assert_eq!(f["date_of_death"], "2020-05-06");
    assert_eq!(f["spouse"], mother.as_str());
    assert_eq!(f["version"], 3);
    let (_, m) = s.get(&format!("/v1/persons/{mother}"), &sup).await;
    assert_eq!(m["spouse"], father.as_str());
    let (_, c) = s.get(&format!("/v1/persons/{child}"), &sup).await;
    assert_eq!(c["permanent_residence"]["area"], "02");
    assert_eq!(c["father"]["pin"], father.as_str());

    // History, as-of (valid time) and as-known-at (transaction time).
    let (_, h) = s.get(&format!("/v1/persons/{father}/history"), &sup).await;
    let kinds: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["record_imported", "marriage_registered", "death_recorded"]
    );
    let (_, before) = s
        .get(&format!("/v1/persons/{father}?as_of=2011-06-30"), &sup)
        .await;
    assert_eq!(before["spouse"], Value::Null);
    assert_eq!(before["status"], "living");
    let (_, married) = s
        .get(&format!("/v1/persons/{father}?as_of=2019-12-31"), &sup)
        .await;
    assert_eq!(married["spouse"], mother.as_str());
    assert_eq!(married["status"], "living");
    let known = after_marriage.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let (status, known_then) = s
        .get(
            &format!(
                "/v1/persons/{father}?known_at={}",
                known.replace('+', "%2B")
            ),
            &sup,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{known_then}");
    assert_eq!(
        known_then["status"], "living",
        "the death was not known yet"
    );
    assert_eq!(known_then["spouse"], mother.as_str());
    let (_, child_then) = s
        .get(&format!("/v1/persons/{child}?as_of=2014-01-01"), &sup)
        .await;
    assert_eq!(child_then["permanent_residence"]["area"], "01");
    let (status, _) = s
        .get(&format!("/v1/persons/{child}?as_of=2009-01-01"), &sup)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not born yet");

    // Relatives.
    let (_, r) = s
        .get(&format!("/v1/persons/{father}/relatives"), &sup)
        .await;
    assert_eq!(r["children"][0]["pin"], child.as_str());
    assert_eq!(r["spouse"]["pin"], mother.as_str());

    // Every invalid event is refused with problem+json and writes nothing.
    let n = log_size(&s).await;
    let r = event(
        &s,
        &sup,
        &child,
        "2000-01-01",
        json!({"type": "death_recorded"}),
    )
    .await;
    refused(
        &s,
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "death-before-birth",
        n,
    )
    .await;
    let r = s
        .post(
            "/v1/births",
            &reg01,
            birth("Baby", "2011-01-01", &child, &mother, "01"),
            &[],
        )
        .await;
    refused(
        &s,
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parent-too-young",
        n,
    )
    .await;
    let r = event(
        &s,
        &sup,
        &father,
        "2021-01-01",
        json!({"type": "permanent_residence_changed", "area": "03"}),
    )
    .await;
    refused(
        &s,
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "person-deceased",
        n,
    )
    .await;
    let r = event(
        &s,
        &sup,
        &mother,
        "2099-01-01",
        json!({"type": "permanent_residence_changed", "area": "03"}),
    )
    .await;
    refused(
        &s,
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "effective-date-in-future",
        n,
    )
    .await;
    let r = event(
        &s,
        &sup,
        &mother,
        "2021-01-01",
        json!({"type": "permanent_residence_changed", "area": "99"}),
    )
    .await;
    refused(
        &s,
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-admin-area",
        n,
    )
    .await;
    let a = import(
        &s,
        &sup,
        lao_import("legacy-3", "Bounmy", "Keo", "male", "1980", "01"),
    )
    .await;
    let b2 = import(
        &s,
        &sup,
        lao_import("legacy-4", "Nang", "Keo", "female", "1982-03-04", "01"),
    )
    .await;
    let third = import(
        &s,
        &sup,
        lao_import(
            "legacy-5",
            "Daoheuang",
            "Vong",
            "female",
            "1983-03-04",
            "01",
        ),
    )
    .await;
    let (status, _) = event(
        &s,
        &sup,
        &a,
        "2005-01-01",
        json!({"type": "marriage_registered", "spouse": b2}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let n = log_size(&s).await;
    let r = event(
        &s,
        &sup,
        &third,
        "2006-01-01",
        json!({"type": "marriage_registered", "spouse": a}),
    )
    .await;
    refused(
        &s,
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "already-married",
        n,
    )
    .await;
    // The widowed mother may remarry.
    let widower = import(
        &s,
        &sup,
        lao_import("legacy-6", "Vanh", "Inthavong", "male", "1984-08-08", "01"),
    )
    .await;
    let (status, b) = event(
        &s,
        &sup,
        &mother,
        "2021-02-02",
        json!({"type": "marriage_registered", "spouse": widower}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");

    // Optimistic concurrency: a stale If-Match gets 412, a missing one 428.
    let n = log_size(&s).await;
    let body = json!({"effective": "2021-01-01", "legal_basis": basis(), "event": {"type": "temporary_residence_started", "area": "03"}});
    let r = s
        .post(
            &format!("/v1/persons/{mother}/events"),
            &sup,
            body.clone(),
            &[("if-match", "\"1\"".into())],
        )
        .await;
    refused(
        &s,
        r,
        StatusCode::PRECONDITION_FAILED,
        "version-mismatch",
        n,
    )
    .await;
    let r = s
        .post(
            &format!("/v1/persons/{mother}/events"),
            &sup,
            body.clone(),
            &[],
        )
        .await;
    refused(
        &s,
        r,
        StatusCode::PRECONDITION_REQUIRED,
        "precondition-required",
        n,
    )
    .await;

    // Idempotency: the same key returns the first result and creates nothing.
    let etag = version(&s, &sup, &mother).await;
    let headers = [
        ("if-match", etag.clone()),
        ("idempotency-key", "req-42".to_owned()),
    ];
    let (s1, first) = s
        .post(
            &format!("/v1/persons/{mother}/events"),
            &sup,
            body.clone(),
            &headers,
        )
        .await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    let n = log_size(&s).await;
    let (s2, second) = s
        .post(
            &format!("/v1/persons/{mother}/events"),
            &sup,
            body.clone(),
            &headers,
        )
        .await;
    assert_eq!(s2, StatusCode::OK, "{second}");
    assert_eq!(second["replayed"], true);
    assert_eq!(second["events"], first["events"]);
    assert_eq!(log_size(&s).await, n);
    let other = json!({"effective": "2021-01-02", "legal_basis": basis(), "event": {"type": "temporary_residence_ended"}});
    let r = s
        .post(
            &format!("/v1/persons/{mother}/events"),
            &sup,
            other,
            &headers,
        )
        .await;
    refused(
        &s,
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        n,
    )
    .await;

    // Malformed input is refused before the database.
    let bad_check = format!("{}{}", &child[..9], (child.as_bytes()[9] - b'0' + 1) % 10);
    let (status, b) = s.get(&format!("/v1/persons/{bad_check}"), &sup).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(b["code"], "invalid-pin");
    let (status, b) = s.get("/v1/persons/12345", &sup).await;
    assert_eq!(
        (status, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-pin"))
    );
    let r = s
        .client
        .post(format!("{}/v1/births", s.base))
        .bearer_auth(&reg01)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let (status, _) = s
        .get(&format!("/v1/persons/{child}"), "thb_not-a-token")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Jurisdiction: the child now lives in province 02.
    let (status, _) = s.get(&format!("/v1/persons/{child}"), &reg01).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let n = log_size(&s).await;
    let r = event(
        &s,
        &sup,
        &child,
        "2021-01-01",
        json!({"type": "temporary_residence_started", "area": "01"}),
    )
    .await;
    assert_eq!(r.0, StatusCode::CREATED);
    let n2 = log_size(&s).await;
    assert_eq!(n2, n + 1);
    let etag = version(&s, &sup, &child).await;
    let r = s
        .post(
            &format!("/v1/persons/{child}/events"),
            &reg01,
            json!({"effective": "2021-02-01", "legal_basis": basis(), "event": {"type": "temporary_residence_ended"}}),
            &[("if-match", etag)],
        )
        .await;
    refused(&s, r, StatusCode::FORBIDDEN, "forbidden", n2).await;
    let r = s
        .call(
            Method::GET,
            &format!("/v1/persons/{child}"),
            &reg02,
            None,
            &[("purpose", "school enrolment check".into())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A registrar cannot read the feed or the access log; a ministry can read the feed.
    let (status, _) = s.get("/v1/events?after=0", &reg02).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, feed) = s
        .get("/v1/events?after=0&kinds=death_recorded", &ministry)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(feed["events"].as_array().unwrap().len(), 1);
    let (_, feed) = s.get("/v1/events?after=0&area=02", &ministry).await;
    assert!(
        feed["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["subjects"][0] == child.as_str()),
        "{feed}"
    );
    // The move is news to the province of departure and to that of arrival.
    let kinds_in = |feed: &Value| -> Vec<String> {
        feed["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        kinds_in(&feed).contains(&"permanent_residence_changed".to_owned()),
        "{feed}"
    );
    let (_, feed01) = s
        .get(
            "/v1/events?after=0&area=01&kinds=permanent_residence_changed",
            &ministry,
        )
        .await;
    assert_eq!(
        kinds_in(&feed01),
        ["permanent_residence_changed"],
        "{feed01}"
    );
    // The mother's temporary residence in province 03 is news there; nothing else is.
    let (_, feed03) = s.get("/v1/events?after=0&area=03", &ministry).await;
    assert_eq!(
        kinds_in(&feed03),
        ["temporary_residence_started"],
        "{feed03}"
    );
    let (_, feed04) = s.get("/v1/events?after=0&area=04", &ministry).await;
    assert!(kinds_in(&feed04).is_empty(), "{feed04}");

    // Every read is in the access log, with who, purpose and client address.
    let (status, log) = s
        .get(&format!("/v1/persons/{child}/access-log"), &sup)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries = log.as_array().unwrap();
    let reg02_read = entries
        .iter()
        .find(|e| e["official_id"] == "reg02" && e["action"] == "read")
        .expect("reg02's read is logged");
    assert_eq!(reg02_read["purpose"], "school enrolment check");
    assert_eq!(reg02_read["client"], "127.0.0.1");
    assert!(entries
        .iter()
        .any(|e| e["action"] == "change" && e["official_id"] == "reg01"));
    assert!(entries
        .iter()
        .any(|e| e["action"] == "feed" && e["official_id"] == "ministry"));
    let reads = entries.iter().filter(|e| e["action"] == "read").count();
    assert!(
        reads >= 8,
        "every read of the child is logged, found {reads}"
    );

    // The log verifies; rebuild reproduces the projections byte for byte.
    // The server's own checkpointer may have signed the current size already: then there is
    // nothing new to sign.
    s.log
        .checkpoint_if_due(chrono::Utc::now(), true)
        .await
        .unwrap();
    assert_eq!(
        s.store.latest_checkpoint().await.unwrap().map(|c| c.size),
        Some(s.store.log_size().await.unwrap()),
        "the whole log is signed"
    );
    let trusted =
        vec![thabian_ledger::CheckpointVerifier::from_vkey(&s.log.verifier_key()).unwrap()];
    let report = thabian_register::log::verify_log(&s.store, &trusted)
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    assert!(report.checkpoints_checked >= 1, "{report:?}");
    // The search index too: a rebuild stages the keys and indexes them at the end, the write
    // path writes them with each person; both must give the same postings and match records.
    let dump = |store: thabian_store::DynStore| async move {
        (
            store.all_persons("", 100_000).await.unwrap(),
            store.all_households().await.unwrap(),
            store
                .key_postings(&(String::new(), String::new()), 1_000_000)
                .await
                .unwrap(),
            store.match_records_after("", 100_000).await.unwrap(),
        )
    };
    let before = dump(s.store.clone()).await;
    assert!(!before.2.is_empty() && !before.3.is_empty());
    let rebuilt = s.register.rebuild().await.unwrap();
    assert_eq!(rebuilt.persons as usize, before.0.len());
    assert_eq!(dump(s.store.clone()).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn life_events_sqlite() {
    life_events(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn life_events_postgres() {
    if let Some(db) = PgDatabase::create().await {
        life_events(Some(db.url.clone())).await;
    }
}

/// Households: created with a head, joined, head changed, left; and rebuild agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn households() {
    let s = TestServer::start("vn", None).await;
    let sup = s.official("sup", "supervisor", "*", "01").await;
    let vn = |src: &str, family: &str, middle: &str, given: &str, sex: &str, dob: &str| {
        json!({
            "source_id": src, "names": {"national": {"family": family, "middle": middle, "given": given}},
            "sex": sex, "date_of_birth": dob, "place_of_birth": "01",
            "father": {"type": "unknown"}, "mother": {"type": "unknown"},
            "permanent_residence": {"area": "01", "since": "2000-01-01"},
            "status": "living", "effective": "2000-01-01", "legal_basis": basis()
        })
    };
    let head = import(
        &s,
        &sup,
        vn("h", "Nguyễn", "Văn", "An", "male", "1960-01-01"),
    )
    .await;
    let son = import(
        &s,
        &sup,
        vn("s", "Nguyễn", "Văn", "Bình", "male", "1990-01-01"),
    )
    .await;
    // vn-12 PINs: province 001, century/sex digit 0 (20th century, male), year 60.
    assert!(head.starts_with("001060"), "{head}");
    let etag = version(&s, &sup, &head).await;
    let (status, b) = s
        .post("/v1/households", &sup, json!({"head": head, "area": "01", "address_lines": ["12 Phố Huế"], "effective": "2001-01-01", "legal_basis": basis()}), &[("if-match", etag)])
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let hh = b["household"].as_str().unwrap().to_owned();
    let (status, b) = event(
        &s,
        &sup,
        &son,
        "2001-02-01",
        json!({"type": "household_joined", "household": hh, "relationship": "child"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let n = log_size(&s).await;
    let r = event(
        &s,
        &sup,
        &head,
        "2002-01-01",
        json!({"type": "household_left", "household": hh}),
    )
    .await;
    refused(
        &s,
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid-household-change",
        n,
    )
    .await;
    let rels = json!({ son.clone(): "head", head.clone(): "parent" });
    let (status, b) = event(
        &s,
        &sup,
        &son,
        "2020-01-01",
        json!({"type": "household_head_changed", "household": hh, "relationships": rels}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let (status, h) = s.get(&format!("/v1/households/{hh}"), &sup).await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["head"], son.as_str());
    assert_eq!(h["persons"].as_array().unwrap().len(), 2);
    let (_, p) = s.get(&format!("/v1/persons/{head}"), &sup).await;
    assert_eq!(p["household"]["relationship"], "parent");
    let (status, b) = event(
        &s,
        &sup,
        &head,
        "2021-01-01",
        json!({"type": "household_left", "household": hh}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    let before = (
        s.store.all_persons("", 1000).await.unwrap(),
        s.store.all_households().await.unwrap(),
    );
    s.register.rebuild().await.unwrap();
    let after = (
        s.store.all_persons("", 1000).await.unwrap(),
        s.store.all_households().await.unwrap(),
    );
    assert_eq!(before, after);
}

/// Editing one event row directly in the database makes verify-log fail and name that event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_log_names_the_edited_event() {
    let s = TestServer::start("la", None).await;
    let sup = s.official("sup", "supervisor", "*", "01").await;
    for i in 0..6 {
        import(
            &s,
            &sup,
            lao_import(
                &format!("t-{i}"),
                "Somsak",
                "Keo",
                "male",
                "1970-01-01",
                "01",
            ),
        )
        .await;
    }
    s.log
        .checkpoint_if_due(chrono::Utc::now(), true)
        .await
        .unwrap();
    let run = |data_dir: std::path::PathBuf| {
        std::process::Command::new(bin())
            .args(["--data-dir", &data_dir.display().to_string(), "verify-log"])
            .env_remove("THABIAN_DATABASE_URL")
            .output()
            .unwrap()
    };
    let ok = run(s.config.data_dir.clone());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("log OK: 6 events, 1 checkpoints"));

    let url = s.config.database_url();
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET body = replace(body, '1970-01-01', '1971-01-01') WHERE seq = 4")
        .execute(&mut conn)
        .await
        .unwrap();
    let bad = run(s.config.data_dir.clone());
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(out.contains("NOT OK at event 4"), "{out}");

    // A forger who also rewrites the stored leaf hash is still caught at event 4.
    let body: String = sqlx::query_scalar("SELECT body FROM events WHERE seq = 4")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let forged = thabian_ledger::leaf_hash(body.as_bytes()).to_vec();
    sqlx::query("UPDATE events SET leaf_hash = $1 WHERE seq = 4")
        .bind(forged)
        .execute(&mut conn)
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&run(s.config.data_dir.clone()).stdout).to_string();
    assert!(out.contains("NOT OK at event 4"), "{out}");

    // A removed event is named too.
    sqlx::query("DELETE FROM events WHERE seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&run(s.config.data_dir.clone()).stdout).to_string();
    assert!(out.contains("NOT OK at event 2"), "{out}");
}

#[test]
fn openapi_document_is_checked_in() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    let current = thabian_api::openapi_document();
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &current).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == current,
        "openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p thabian --test e2e openapi` and commit it"
    );
    let doc: Value = serde_json::from_str(&current).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

/// Deny by default, token lifecycle, limits and the operator endpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_control_and_operations() {
    let s = TestServer::start("la", None).await;
    let reg = s.official("reg", "registrar", "01", "01").await;
    let auditor = s.official("aud", "auditor", "*", "01").await;
    // A registrar cannot manage officials; an auditor cannot read or change persons.
    let (status, b) = s.post("/v1/officials", &reg, json!({"id": "x", "name": "x", "role": "administrator", "jurisdiction": "*", "office": "01"}), &[]).await;
    assert_eq!(
        (status, b["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let n = log_size(&s).await;
    let r = s
        .post(
            "/v1/imports",
            &reg,
            lao_import("acl-1", "A", "B", "male", "1990-01-01", "01"),
            &[],
        )
        .await;
    refused(&s, r, StatusCode::FORBIDDEN, "forbidden", n).await;
    let r = s
        .post(
            "/v1/births",
            &auditor,
            birth("C", "2020-01-01", "0000000000", "0000000000", "01"),
            &[],
        )
        .await;
    refused(&s, r, StatusCode::FORBIDDEN, "forbidden", n).await;
    // An official cannot be created outside the profile's areas, or with an office outside the jurisdiction.
    let (status, b) = s.post("/v1/officials", &s.admin, json!({"id": "y", "name": "y", "role": "registrar", "jurisdiction": "02", "office": "01"}), &[]).await;
    assert_eq!(
        (status, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-request"))
    );

    // Revoked tokens and disabled officials no longer authenticate.
    let (status, tokens) = s.get("/v1/officials/reg/tokens", &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    let token_id = tokens[0]["id"].as_str().unwrap().to_owned();
    assert!(
        tokens[0].get("hash").is_none(),
        "token hashes never leave the server"
    );
    let (status, _) = s.get("/v1/events?after=0", &reg).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "authenticated, but not allowed"
    );
    let r = s
        .call(
            Method::POST,
            &format!("/v1/tokens/{token_id}/revoke"),
            &s.admin,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, b) = s.get("/v1/persons/1234567890", &reg).await;
    assert_eq!(
        (status, b["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    let r = s
        .call(
            Method::POST,
            "/v1/officials/aud/disable",
            &s.admin,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, _) = s.get("/v1/log/checkpoint", &auditor).await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _) = s.get("/v1/persons/1234567890/access-log", &auditor).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A malformed PIN is refused before anything touches the database, authentication included.
    let (status, b) = s.get("/v1/persons/123456789X", "thb_unknown").await;
    assert_eq!(
        (status, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-pin"))
    );

    // Request size limit. The server answers before reading the whole body and then closes the
    // connection; `Connection: close` keeps the client from reusing it for the next request
    // (which then failed now and then with an incomplete message).
    let big = json!({"source_id": "x".repeat(2 * 1024 * 1024)});
    let r = s
        .call(
            Method::POST,
            "/v1/imports",
            &s.admin,
            Some(big),
            &[("connection", "close".into())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // Operators.
    let r = s
        .client
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let metrics = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("thabian_http_requests_total"), "{metrics}");
    let (status, b) = s.get("/v1/no-such-thing", &s.admin).await;
    assert_eq!(
        (status, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not-found"))
    );
}

/// Two registers drawing the same PIN sequence: the second one's first draw is already issued,
/// so it draws again instead of refusing the birth (collisions are expected: a 10-digit PIN has
/// about 57 million valid values).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drawn_pin_already_issued_is_drawn_again() {
    use rand::SeedableRng;
    use std::sync::Arc;
    use thabian_model::pin::{generate_pin, PinContext};
    let s = TestServer::start("la", None).await;
    let sup = s.official("sup", "supervisor", "*", "01").await;
    let profile = Arc::new(s.register.profile().clone());
    let areas = Arc::new(s.register.areas().clone());
    let seeded = || {
        thabian_register::Register::new(
            s.store.clone(),
            profile.clone(),
            areas.clone(),
            Arc::new(thabian_register::SystemClock),
        )
        .with_pin_rng(Box::new(rand::rngs::StdRng::seed_from_u64(7)))
    };
    let mut expected = rand::rngs::StdRng::seed_from_u64(7);
    let draws: Vec<String> = (0..3)
        .map(|_| {
            generate_pin(&profile.pin, &PinContext::default(), &mut expected)
                .unwrap()
                .to_string()
        })
        .collect();

    // Different people (the duplicate check would hold look-alikes for review).
    let dob = |given: &str| match given {
        "One" => "2024-01-02",
        "Two" => "2023-06-17",
        _ => "2022-10-29",
    };
    let birth = |given: &str| thabian_register::Submission {
        change: thabian_register::Change::Birth {
            particulars: thabian_model::event::PersonParticulars {
                names: thabian_model::person::Names {
                    national: thabian_model::person::PersonName {
                        family: Some("Keo".into()),
                        middle: None,
                        given: given.into(),
                    },
                    latin: Some(thabian_model::person::PersonName {
                        family: Some("Keo".into()),
                        middle: None,
                        given: given.into(),
                    }),
                },
                sex: thabian_model::sex::Sex::Female,
                date_of_birth: thabian_model::date::PartialDate::parse(dob(given)).unwrap(),
                place_of_birth: "01".into(),
                nationalities: vec!["LAO".into()],
                ethnicity: None,
                religion: None,
                father: thabian_model::person::ParentRef::Unknown,
                mother: thabian_model::person::ParentRef::Unknown,
            },
            residence: None,
            household: None,
        },
        effective: thabian_model::date::PartialDate::parse(dob(given)).unwrap(),
        legal_basis: thabian_model::event::LegalBasis {
            act: "test".into(),
            document_ref: None,
        },
        office: None,
        idempotency_key: None,
        target: None,
        if_match: None,
    };
    let a = seeded();
    let b = seeded();
    let ctx = thabian_register::RequestContext {
        principal: a.authenticate(&sup).await.unwrap(),
        purpose: None,
        client: None,
    };
    let first = a
        .submit(&ctx, birth("One"))
        .await
        .unwrap()
        .pin
        .unwrap()
        .to_string();
    let second = b
        .submit(&ctx, birth("Two"))
        .await
        .unwrap()
        .pin
        .unwrap()
        .to_string();
    let third = a
        .submit(&ctx, birth("Three"))
        .await
        .unwrap()
        .pin
        .unwrap()
        .to_string();
    assert_eq!(first, draws[0]);
    assert_eq!(
        second, draws[1],
        "b's first draw was taken by a, so it drew again"
    );
    assert_eq!(
        third, draws[2],
        "a's second draw was taken by b, so it drew again"
    );
    assert_eq!(s.store.log_size().await.unwrap(), 3);
}

/// `serve --demo` on a fresh data directory: the hand-written families, the demo officials and a
/// generated population imported through the write path, with a guide naming people to look up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_a_generated_population() {
    let dir = tempfile::tempdir().unwrap();
    let areas = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../profiles/la-districts-vientiane-capital.csv"
    );
    let demo = DemoServer::spawn(
        dir.path(),
        "la",
        &["--areas-file", areas],
        &["--demo-people", "300"],
    )
    .await;
    let var = |name: &str| {
        demo.var(name)
            .unwrap_or_else(|| panic!("no {name}= in the guide:\n{}", demo.output))
    };
    let (sup, min, head, child) = (var("SUP"), var("MIN"), var("HEAD"), var("CHILD"));
    assert!(var("ADMIN").starts_with("thb_"), "{}", demo.output);
    assert!(
        demo.output.contains("300 generated persons imported"),
        "{}",
        demo.output
    );
    // The CI's API fuzzer reads the supervisor's token from exactly one line.
    assert_eq!(
        demo.output.matches("supervisor (national)").count(),
        1,
        "{}",
        demo.output
    );
    let api = Remote::new(&demo.base, &reqwest::Client::new());

    let (s, p) = api.get(&format!("/v1/persons/{head}"), &sup).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "living");
    assert_eq!(p["household"]["relationship"], "head");
    let (s, p) = api.get(&format!("/v1/persons/{child}"), &sup).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let parents = [&p["father"], &p["mother"]];
    assert!(
        parents
            .iter()
            .any(|r| r["type"] == "registered" && r["pin"] == head.as_str()),
        "the child's parent is the head: {p}"
    );
    let (s, h) = api
        .get(&format!("/v1/households/{}", var("HOUSEHOLD")), &sup)
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    assert_eq!(h["head"], head.as_str());
    // The demo's identity card: active in the register, its chip data verified by the CLI.
    let (s, c) = api
        .get(&format!("/v1/cards/{}/status", var("CARD")), &sup)
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "active", "{c}");
    let package = dir.path().join("demo-cards").join(var("CARD"));
    let verified = std::process::Command::new(bin())
        .args([
            "--data-dir",
            &dir.path().display().to_string(),
            "--profile",
            "la",
        ])
        .args([
            "card",
            "verify",
            &package.display().to_string(),
            "--from-register",
        ])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );

    // Every generated person is one record_imported event, under the demo's legal basis.
    let mut after = 0u64;
    let mut generated = 0;
    loop {
        let (s, page) = api
            .get(
                &format!("/v1/events?after={after}&kinds=record_imported&limit=1000"),
                &min,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        for e in events {
            let canonical: Value = serde_json::from_str(e["canonical"].as_str().unwrap()).unwrap();
            assert_eq!(
                canonical["legal_basis"]["act"],
                "Demo data (not a legal registration)"
            );
            if canonical["legal_basis"]["document_ref"]
                .as_str()
                .is_some_and(|d| d.starts_with("thabian generate"))
            {
                generated += 1;
            }
        }
        after = page["next"].as_u64().unwrap();
    }
    assert_eq!(generated, 300);
    // The generated file is gone once imported; nothing was refused.
    assert!(!dir.path().join("demo-population.ndjson").exists());
    assert!(!dir.path().join("demo-population.errors.csv").exists());
}
