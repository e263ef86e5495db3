//! Test harness: real servers (in-process or as child processes), real databases.
#![allow(dead_code)]
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use thabian::{Config, Platform};

pub const PG_ENV: &str = "THABIAN_TEST_POSTGRES_URL";

/// A fresh PostgreSQL database for one test, dropped at the end; `None` (and a note on stderr)
/// when PostgreSQL tests are not configured. With THABIAN_REQUIRE_POSTGRES=1 that is a failure.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> Option<PgDatabase> {
        let Ok(admin_url) = std::env::var(PG_ENV) else {
            if std::env::var("THABIAN_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("THABIAN_REQUIRE_POSTGRES=1 but {PG_ENV} is not set");
            }
            eprintln!("SKIPPED: PostgreSQL end-to-end test (set {PG_ENV} to run it)");
            return None;
        };
        let name = format!("thabian_e2e_{}", uuid_like());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL");
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        let url = match admin_url.rfind('/') {
            Some(i) if admin_url[..i].contains("://") && i > admin_url.find("://").unwrap() + 2 => {
                format!("{}/{}", &admin_url[..i], name)
            }
            _ => format!("{admin_url}/{name}"),
        };
        Some(PgDatabase {
            url,
            admin_url,
            name,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Best effort, on a thread of its own: Drop cannot be async.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    if let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await
                    {
                        let _ = sqlx::Executor::execute(
                            &mut conn,
                            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                        )
                        .await;
                    }
                });
            }
        })
        .join();
    }
}

pub fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:04x}", nanos, std::process::id() & 0xffff)
}

/// An in-process server on 127.0.0.1:<random port>.
pub struct TestServer {
    pub base: String,
    pub admin: String,
    pub client: Client,
    pub store: thabian_store::DynStore,
    pub config: Config,
    pub data_dir: tempfile::TempDir,
    pub register: Arc<thabian_register::Register>,
    pub log: Arc<thabian_register::log::LogService>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A clock a test moves: the system's time shifted by an offset it sets.
pub struct TestClock {
    offset: std::sync::Mutex<chrono::Duration>,
}

impl TestClock {
    /// The system's time, until moved.
    pub fn new() -> Arc<TestClock> {
        Arc::new(TestClock {
            offset: std::sync::Mutex::new(chrono::Duration::zero()),
        })
    }

    /// From now on the clock reads `at` (and runs on from there).
    pub fn set(&self, at: chrono::DateTime<chrono::Utc>) {
        *self.offset.lock().unwrap() = at - chrono::Utc::now();
    }
}

impl thabian_register::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + *self.offset.lock().unwrap()
    }
}

impl TestServer {
    pub async fn start(profile: &str, database_url: Option<String>) -> TestServer {
        Self::start_with_clock(
            profile,
            database_url,
            Arc::new(thabian_register::SystemClock),
        )
        .await
    }

    /// A server whose register reads `clock` (a [`TestClock`] to move time).
    pub async fn start_with_clock(
        profile: &str,
        database_url: Option<String>,
        clock: Arc<dyn thabian_register::Clock>,
    ) -> TestServer {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            data_dir: data_dir.path().to_path_buf(),
            database_url,
            profile: profile.into(),
            areas_file: None,
            log_key_file: None,
            biometric_key_file: None,
        };
        let platform: Platform = thabian::open_with_clock(&config, clock)
            .await
            .expect("open platform");
        let admin = platform
            .register
            .bootstrap()
            .await
            .expect("bootstrap")
            .expect("fresh register")
            .token;
        let store = platform.store.clone();
        let register = platform.register.clone();
        let log = platform.log.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = thabian::serve(platform, listener).await;
        });
        TestServer {
            base,
            admin,
            client: Client::new(),
            store,
            config,
            data_dir,
            register,
            log,
            task,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> Response {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let r = self.call(Method::GET, path, token, None, &[]).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: Value,
        headers: &[(&str, String)],
    ) -> (StatusCode, Value) {
        let r = self
            .call(Method::POST, path, token, Some(body), headers)
            .await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates an official and returns a token for them.
    pub async fn official(&self, id: &str, role: &str, jurisdiction: &str, office: &str) -> String {
        let (s, b) = self
            .post("/v1/officials", &self.admin, json!({"id": id, "name": id, "role": role, "jurisdiction": jurisdiction, "office": office}), &[])
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, b) = self
            .post(
                &format!("/v1/officials/{id}/tokens"),
                &self.admin,
                json!({"label": "test", "days": 1}),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["token"].as_str().expect("token").to_owned()
    }
}

/// A `thabian serve` child process.
pub struct ChildServer {
    pub base: String,
    child: std::process::Child,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl ChildServer {
    pub async fn spawn(
        data_dir: &std::path::Path,
        database_url: &str,
        log_key: &std::path::Path,
        profile: &str,
    ) -> ChildServer {
        let port = free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_thabian"))
            .args([
                "--data-dir",
                &data_dir.display().to_string(),
                "--profile",
                profile,
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .env("THABIAN_DATABASE_URL", database_url)
            .env("THABIAN_LOG_KEY_FILE", log_key)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn thabian serve");
        let mut child = child;
        let base = format!("http://127.0.0.1:{port}");
        let client = Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    return ChildServer { base, child };
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("thabian serve on port {port} did not become healthy");
    }
}

/// A `thabian serve --demo` child process on the embedded SQLite database of `data_dir`, with
/// what it printed on standard output up to the end of its "where to look" block.
pub struct DemoServer {
    pub base: String,
    pub output: String,
    child: std::process::Child,
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DemoServer {
    /// Starts `serve --demo` with `args` (e.g. `--demo-people 300`; global options such as
    /// `--areas-file` go before `serve`, in `global`) and waits until it serves.
    pub async fn spawn(
        data_dir: &std::path::Path,
        profile: &str,
        global: &[&str],
        args: &[&str],
    ) -> DemoServer {
        use std::io::BufRead;
        let port = free_port();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_thabian"))
            .args(["--data-dir", &data_dir.display().to_string()])
            .args(["--profile", profile])
            .args(global)
            .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .env_remove("THABIAN_DATABASE_URL")
            .env_remove("THABIAN_LOG_KEY_FILE")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn thabian serve --demo");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let base = format!("http://127.0.0.1:{port}");
        let mut output = String::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(line) => {
                    output.push_str(&line);
                    output.push('\n');
                    if line == "Serving." {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                    if std::time::Instant::now() < deadline => {}
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("serve --demo did not print its guide ({e:?}); it printed:\n{output}");
                }
            }
        }
        let client = Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    return DemoServer {
                        base,
                        output,
                        child,
                    };
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve --demo on port {port} did not become healthy; it printed:\n{output}");
    }

    /// The value of a shell variable the guide prints (`  NAME=value   # comment`).
    pub fn var(&self, name: &str) -> Option<String> {
        let prefix = format!("  {name}=");
        self.output.lines().find_map(|l| {
            l.strip_prefix(&prefix)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
        })
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_thabian"))
}

pub fn basis() -> Value {
    json!({"act": "Civil Status Law 2018, art. 12", "document_ref": "TEST-1"})
}

/// A Lao-profile person to import (supervisor) with the given sex and birth date, living in `area`.
pub fn lao_import(
    source_id: &str,
    given: &str,
    family: &str,
    sex: &str,
    dob: &str,
    area: &str,
) -> Value {
    json!({
        "source_id": source_id,
        "names": {"national": {"given": given, "family": family}, "latin": {"given": given, "family": family}},
        "sex": sex, "date_of_birth": dob, "place_of_birth": area,
        "father": {"type": "unknown"}, "mother": {"type": "unknown"},
        "permanent_residence": {"area": area, "address_lines": ["House 1"], "since": "2000-01-01"},
        "status": "living", "effective": "2000-01-01", "legal_basis": basis()
    })
}

/// A plain HTTP client for any node (a `TestServer`'s or a `ChildServer`'s base URL).
#[derive(Clone)]
pub struct Remote {
    pub base: String,
    pub client: Client,
}

impl Remote {
    pub fn new(base: &str, client: &Client) -> Remote {
        Remote {
            base: base.to_owned(),
            client: client.clone(),
        }
    }

    /// Sends a request; returns the status, the ETag (if any) and the JSON body (`Null` if none).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> (StatusCode, Option<String>, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(token)
            .header("Purpose", "e2e test");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status();
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, etag, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, _, b) = self.send(Method::GET, path, token, None, &[]).await;
        (s, b)
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: Value,
        headers: &[(&str, String)],
    ) -> (StatusCode, Value) {
        let (s, _, b) = self
            .send(Method::POST, path, token, Some(body), headers)
            .await;
        (s, b)
    }
}

/// The `i`-th test birth (parents unknown, born in province 01, no residence). Each one a
/// different person: names and birth dates vary, so the duplicate check lets them through.
pub fn birth_request(i: usize) -> Value {
    const SYLLABLES: [&str; 20] = [
        "Bou", "Kham", "Phet", "Noy", "Vanh", "Thong", "Lat", "Mone", "Dao", "Keo", "Ming",
        "Pheng", "Sith", "Vieng", "Oun", "Hak", "Lin", "Pao", "Chan", "Rid",
    ];
    const FAMILIES: [&str; 7] = [
        "Phommachanh",
        "Vongsa",
        "Sisouphanh",
        "Keomany",
        "Inthavong",
        "Douangchak",
        "Luangrath",
    ];
    let given = format!(
        "{}{}",
        SYLLABLES[i % 20],
        SYLLABLES[(i / 20 + 7) % 20].to_lowercase()
    );
    let family = FAMILIES[(i / 700) % 7];
    let day = chrono::NaiveDate::from_ymd_opt(2022, 1, 1).unwrap()
        + chrono::Duration::days(((i * 37) % 700) as i64);
    json!({
        "names": {"national": {"given": given, "family": family}, "latin": {"given": given, "family": family}},
        "sex": if i.is_multiple_of(2) { "female" } else { "male" },
        "date_of_birth": day.format("%Y-%m-%d").to_string(),
        "place_of_birth": "01",
        "father": {"type": "unknown"},
        "mother": {"type": "unknown"},
        "legal_basis": basis()
    })
}

/// Registers births `range` through `nodes` with `tasks` concurrent tasks (task `t` talks to
/// `nodes[t % nodes.len()]`). Returns each birth's (index, status, body), sorted by index.
pub async fn register_births(
    nodes: &[Remote],
    token: &str,
    range: std::ops::Range<usize>,
    tasks: usize,
) -> Vec<(usize, StatusCode, Value)> {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let node = nodes[t % nodes.len()].clone();
        let token = token.to_owned();
        let mine: Vec<usize> = range.clone().filter(|i| i % tasks == t).collect();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in mine {
                let (s, b) = node.post("/v1/births", &token, birth_request(i), &[]).await;
                out.push((i, s, b));
            }
            out
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("birth task"));
    }
    all.sort_by_key(|(i, _, _)| *i);
    all
}
