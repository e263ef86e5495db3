//! `thabian bench`: measures the register over real HTTP on a real database and writes a JSON
//! report. A measurement, never a test: it asserts nothing and is not run by the test suite.
//!
//! Phases, each with keep-alive clients running concurrently:
//! 1. birth registrations (the full write path: rules, event, Merkle nodes, projection, audit),
//! 2. PIN lookups (each one writes its access record durably before answering),
//! 3. the change feed read from the start by one consumer following its cursor.
use anyhow::Context;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct BenchOptions {
    pub births: usize,
    pub lookups: usize,
    pub concurrency: usize,
    pub database_url: Option<String>,
    pub profile: String,
    pub out: Option<std::path::PathBuf>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(name: &str, count: usize, elapsed: Duration, mut latencies_ms: Vec<f64>) -> Value {
    latencies_ms.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    json!({
        "phase": name,
        "requests": count,
        "seconds": elapsed.as_secs_f64(),
        "per_second": count as f64 / elapsed.as_secs_f64().max(1e-9),
        "p50_ms": percentile(&latencies_ms, 50.0),
        "p99_ms": percentile(&latencies_ms, 99.0),
        "max_ms": latencies_ms.last().copied().unwrap_or(0.0),
    })
}

async fn run_phase<F, Fut>(
    count: usize,
    concurrency: usize,
    job: F,
) -> anyhow::Result<(Duration, Vec<f64>)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let job = job.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                job(i).await?;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await.context("bench task")??);
    }
    Ok((started.elapsed(), all))
}

pub async fn run(opts: BenchOptions) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir()?;
    let config = crate::Config {
        data_dir: dir.path().to_path_buf(),
        database_url: opts.database_url.clone(),
        profile: opts.profile.clone(),
        areas_file: None,
        log_key_file: None,
    };
    let platform = crate::open(&config).await?;
    let backend = platform.store.backend();
    if platform.store.log_size().await? != 0 {
        anyhow::bail!("the bench needs an empty database");
    }
    let admin = platform
        .register
        .bootstrap()
        .await?
        .context("fresh register")?
        .token;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let store = platform.store.clone();
    let server = tokio::spawn(crate::serve(platform, listener));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.concurrency * 2)
        .build()?;

    let official = |id: &'static str, role: &'static str| {
        let (client, base, admin) = (client.clone(), base.clone(), admin.clone());
        async move {
            let province = "01";
            let r = client
                .post(format!("{base}/v1/officials"))
                .bearer_auth(&admin)
                .json(&json!({"id": id, "name": id, "role": role, "jurisdiction": "*", "office": province}))
                .send()
                .await?;
            anyhow::ensure!(
                r.status().is_success(),
                "creating {id}: {}",
                r.text().await?
            );
            let t: Value = client
                .post(format!("{base}/v1/officials/{id}/tokens"))
                .bearer_auth(&admin)
                .json(&json!({"label": "bench", "days": 1}))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(t["token"].as_str().context("token")?.to_owned())
        }
    };
    let registrar = official("bench-registrar", "registrar").await?;
    let feed_reader = official("bench-ministry", "service_account").await?;

    // 1. Births.
    let pins = Arc::new(std::sync::Mutex::new(Vec::with_capacity(opts.births)));
    let (elapsed, latencies) = {
        let (client, base, token, pins) = (
            client.clone(),
            base.clone(),
            registrar.clone(),
            pins.clone(),
        );
        run_phase(opts.births, opts.concurrency, move |i| {
            let (client, base, token, pins) = (client.clone(), base.clone(), token.clone(), pins.clone());
            async move {
                let dob = format!("20{:02}-{:02}-{:02}", 10 + i % 15, 1 + i % 12, 1 + i % 28);
                let body = json!({
                    "names": {"national": {"family": "Nguyễn", "middle": "Văn", "given": format!("An {i}")},
                              "latin": {"family": "Nguyen", "middle": "Van", "given": format!("An {i}")}},
                    "sex": if i % 2 == 0 { "male" } else { "female" },
                    "date_of_birth": dob,
                    "place_of_birth": "01",
                    "father": {"type": "unknown"}, "mother": {"type": "unknown"},
                    "residence": {"area": "01", "address_lines": [format!("House {i}")], "since": dob},
                    "legal_basis": {"act": "bench"}
                });
                let r = client.post(format!("{base}/v1/births")).bearer_auth(&token).json(&body).send().await?;
                anyhow::ensure!(r.status().as_u16() == 201, "birth {i}: {}", r.text().await?);
                let v: Value = r.json().await?;
                if let Ok(mut p) = pins.lock() {
                    p.push(v["pin"].as_str().unwrap_or_default().to_owned());
                }
                Ok(())
            }
        })
        .await?
    };
    let births = summary("birth_registration", opts.births, elapsed, latencies);

    // 2. PIN lookups.
    let pins: Arc<Vec<String>> = Arc::new(pins.lock().map(|p| p.clone()).unwrap_or_default());
    let (elapsed, latencies) = {
        let (client, base, token, pins) = (
            client.clone(),
            base.clone(),
            registrar.clone(),
            pins.clone(),
        );
        run_phase(opts.lookups, opts.concurrency, move |i| {
            let (client, base, token, pins) =
                (client.clone(), base.clone(), token.clone(), pins.clone());
            async move {
                let pin = &pins[(i * 7919) % pins.len().max(1)];
                let r = client
                    .get(format!("{base}/v1/persons/{pin}"))
                    .bearer_auth(&token)
                    .header("purpose", "bench")
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "lookup {pin}: {}", r.status());
                r.bytes().await?;
                Ok(())
            }
        })
        .await?
    };
    let lookups = summary("pin_lookup", opts.lookups, elapsed, latencies);

    // 3. The change feed, from the start.
    let started = Instant::now();
    let mut cursor = 0u64;
    let mut delivered = 0usize;
    loop {
        let page: Value = client
            .get(format!("{base}/v1/events?after={cursor}&limit=1000"))
            .bearer_auth(&feed_reader)
            .send()
            .await?
            .json()
            .await?;
        let n = page["events"].as_array().map(|a| a.len()).unwrap_or(0);
        if n == 0 {
            break;
        }
        delivered += n;
        cursor = page["next"].as_u64().context("next")?;
    }
    let feed_elapsed = started.elapsed();
    let feed = json!({
        "phase": "change_feed",
        "events": delivered,
        "seconds": feed_elapsed.as_secs_f64(),
        "per_second": delivered as f64 / feed_elapsed.as_secs_f64().max(1e-9),
    });

    let db_bytes = if backend == "sqlite" {
        ["thabian.db", "thabian.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(dir.path().join(f)).ok())
            .map(|m| m.len())
            .sum::<u64>()
    } else {
        0
    };
    let persons = store.log_size().await?;
    server.abort();
    let report = json!({
        "thabian_version": env!("CARGO_PKG_VERSION"),
        "backend": backend,
        "profile": opts.profile,
        "concurrency": opts.concurrency,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "phases": [births, lookups, feed],
        "events_in_log": persons,
        "sqlite_bytes_per_event": if backend == "sqlite" && persons > 0 { json!(db_bytes / persons) } else { Value::Null },
        "process_rss_bytes_after (server and clients in one process)": rss_bytes(),
    });
    if let Some(out) = &opts.out {
        std::fs::write(out, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(report)
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
