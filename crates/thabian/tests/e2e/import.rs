//! `thabian import`: a legacy household book migrated through the write path, with broken
//! records reported and skipped, forward references, and idempotent re-runs.
use crate::harness::{bin, PgDatabase};
use serde_json::{json, Value};
use std::path::Path;

fn person(id: &str, given: &str, sex: &str, born: &str, extra: Value) -> Value {
    let mut v = json!({
        "source_id": id, "given_name": given, "family_name": "ພົມມະຈັນ",
        "given_name_latin": given_latin(given), "family_name_latin": "Phommachanh",
        "sex": sex, "date_of_birth": born, "place_of_birth": "0101",
        "residence_area": "0101", "residence_address": "Ban Phonxay, house 12",
        "household": "HH-1",
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn given_latin(given: &str) -> &'static str {
    match given {
        "ສົມສັກ" => "Somsak",
        "ແສງດາວ" => "Sengdao",
        "ບຸນມີ" => "Bounmy",
        _ => "Noy",
    }
}

fn run(args: &[&str], data: &Path, db: Option<&str>) -> (String, String) {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["--data-dir", &data.display().to_string()])
        .args([
            "--areas-file",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../profiles/la-districts-vientiane-capital.csv"
            ),
        ])
        .args(args)
        .env_remove("THABIAN_DATABASE_URL");
    if let Some(url) = db {
        cmd.args(["--database-url", url]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "thabian {args:?} failed:\n{stdout}\n{stderr}"
    );
    (stdout, stderr)
}

async fn migrates_a_household_book(db: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        // A child listed before its parents: waits for them.
        person(
            "C1",
            "ບຸນມີ",
            "male",
            "2001-03-04",
            json!({"relationship": "child", "father": "F", "mother": "M"}),
        )
        .to_string(),
        person(
            "F",
            "ສົມສັກ",
            "male",
            "1970",
            json!({"relationship": "head", "spouse": "M"}),
        )
        .to_string(),
        person(
            "M",
            "ແສງດາວ",
            "female",
            "1972-08-09",
            json!({"relationship": "spouse", "spouse": "F"}),
        )
        .to_string(),
        "{\"source_id\": \"BROKEN\", \"given_name\": ".to_owned(),
        person(
            "BADDATE",
            "ນ້ອຍ",
            "female",
            "1990-02-30",
            json!({"relationship": "child"}),
        )
        .to_string(),
        person(
            "BADAREA",
            "ນ້ອຍ",
            "female",
            "1990",
            json!({"relationship": "child", "residence_area": "9999"}),
        )
        .to_string(),
        // Refers to a record that was refused.
        person(
            "C2",
            "ນ້ອຍ",
            "female",
            "2003",
            json!({"relationship": "child", "mother": "BADDATE"}),
        )
        .to_string(),
        // A mother aged 5 at the birth: the child is refused by the register's rules.
        person(
            "YOUNG",
            "ນ້ອຍ",
            "female",
            "1995",
            json!({"relationship": "child", "household": "HH-2"}),
        )
        .to_string(),
        person(
            "C3",
            "ນ້ອຍ",
            "female",
            "2000",
            json!({"relationship": "child", "household": "HH-2", "mother": "YOUNG", "father": "F"}),
        )
        .to_string(),
        String::new(),
        person(
            "C4",
            "ນ້ອຍ",
            "female",
            "2005",
            json!({"relationship": "child", "father": "F", "mother": "M"}),
        )
        .to_string(),
        // The same source id again with other content.
        person(
            "C4",
            "ນ້ອຍ",
            "female",
            "2006",
            json!({"relationship": "child", "father": "F", "mother": "M"}),
        )
        .to_string(),
    ];
    let file = dir.path().join("book.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let data = dir.path().join("data");
    let f = file.display().to_string();
    let (out, _) = run(&["import", &f, "--batch", "2"], &data, db);
    assert!(
        out.contains("11 records read: 5 imported, 0 already imported, 6 refused"),
        "{out}"
    );
    let errors = std::fs::read_to_string(dir.path().join("book.ndjson.errors.csv")).unwrap();
    let mut codes: Vec<String> = errors
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.splitn(4, ',').collect();
            format!("{} {} {}", cells[0], cells[1], cells[2])
        })
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "12 C4 source-id-reused",
            "4  malformed-record",
            "5 BADDATE malformed-record",
            "6 BADAREA unknown-admin-area",
            "7 C2 unresolved-reference",
            "9 C3 parent-too-young",
        ],
        "{errors}"
    );
    let (again, _) = run(&["import", &f, "--batch", "2"], &data, db);
    assert!(
        again.contains("11 records read: 0 imported, 5 already imported, 6 refused"),
        "{again}"
    );
    let (log, _) = run(&["verify-log"], &data, db);
    assert!(log.contains("log OK: 5 events"), "{log}");
    // The pass measured against a truth file naming records by their source ids: the two
    // records listed are one person (they are not, so nothing is found), one is not imported.
    let truth = dir.path().join("truth.csv");
    std::fs::write(&truth, "duplicate,original\nC1,F\nBADDATE,M\n").unwrap();
    let evaluation = dir.path().join("evaluation.json");
    let (_, err) = run(
        &[
            "dedup",
            "--out",
            &dir.path().join("pairs.csv").display().to_string(),
            "--truth",
            &truth.display().to_string(),
            "--evaluation",
            &evaluation.display().to_string(),
        ],
        &data,
        db,
    );
    assert!(err.contains("(1 pairs of one person)"), "{err}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&evaluation).unwrap()).unwrap();
    assert_eq!(v["same_person_pairs"], 1, "{v}");
    assert_eq!(v["unresolved_rows"], 1, "{v}");
    assert_eq!(v["at_likely"]["recall"], 0.0, "{v}");
}

#[tokio::test]
async fn import_sqlite() {
    migrates_a_household_book(None).await;
}

#[tokio::test]
async fn import_postgres() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    migrates_a_household_book(Some(&db.url)).await;
}

/// `thabian bench` at a tiny size: a smoke test of the suite and its report, never a timing.
#[tokio::test]
async fn bench_report_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let (_, stderr) = run(
        &[
            "bench",
            "--persons",
            "500",
            "--phases",
            "import,raw,lookups",
            "--lookups",
            "200",
            "--concurrency",
            "4",
            "--work-dir",
            &dir.path().display().to_string(),
            "--out",
            &out.display().to_string(),
        ],
        dir.path(),
        None,
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["backend"], "sqlite");
    assert!(report["machine"]["nproc"].as_u64().unwrap() >= 1);
    let p = &report["phases"];
    assert_eq!(p["import"]["imported"], 500, "{report:#}");
    assert_eq!(p["import"]["refused"], 0);
    assert_eq!(p["import"]["verified"], true);
    assert!(p["import"]["persons_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(p["raw"]["persons"], 500);
    assert!(p["raw"]["households"].as_u64().unwrap() > 0);
    assert!(p["raw"]["ratio_import_to_raw"].as_f64().unwrap() > 0.0);
    assert_eq!(p["lookups"]["requests"], 200);
    assert_eq!(p["lookups"]["at_persons"], 500);
    assert!(p["lookups"]["p99_ms"].as_f64().unwrap() >= p["lookups"]["p50_ms"].as_f64().unwrap());
    assert!(p["births"].is_null() && p["feed"].is_null());
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 8);
    let import_target = targets
        .iter()
        .find(|t| t["target"].as_str().unwrap().starts_with("import rate"))
        .unwrap();
    assert!(import_target["met"].is_boolean(), "{import_target}");
    // Not measured in these phases: no verdict.
    let search_target = targets
        .iter()
        .find(|t| t["target"] == "search p99")
        .unwrap();
    assert!(search_target["met"].is_null(), "{search_target}");
    assert!(stderr.contains("targets:"), "{stderr}");
    // The work directory is removed after the run.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("thabian-bench-")
        })
        .collect();
    assert!(left.is_empty());
}
