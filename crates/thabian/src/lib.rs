//! Wiring: configuration, opening the platform, serving, the demo data. The CLI is in `main.rs`.
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thabian_ledger::{CheckpointSigner, CheckpointVerifier};
use thabian_model::profile::{AreaFormat, Profile};
use thabian_register::log::LogService;
use thabian_register::{Clock, Register, SystemClock};
use thabian_store::DynStore;

pub mod bench;
pub mod card_bench;
pub mod cards;
pub mod dedup;
pub mod demo;
pub mod generate;
pub mod import;
pub mod pki;

/// Where the platform keeps its state and which country it serves.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `None`: the embedded SQLite database in `data_dir`.
    pub database_url: Option<String>,
    /// A built-in profile code (`la`, `vn`) or a path to a profile JSON file.
    pub profile: String,
    /// Extra admin areas below the provinces (CSV or JSON), per the profile's levels.
    pub areas_file: Option<PathBuf>,
    /// The checkpoint signing key (PKCS#8 PEM); created on first start if missing.
    pub log_key_file: Option<PathBuf>,
    /// The key that encrypts biometric samples (64 hex digits); created on first start if
    /// missing.
    pub biometric_key_file: Option<PathBuf>,
}

impl Config {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("thabian.db").display()),
        }
    }

    pub fn log_key_path(&self) -> PathBuf {
        self.log_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("log-signing-key.pem"))
    }

    pub fn biometric_key_path(&self) -> PathBuf {
        self.biometric_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("biometric-key.hex"))
    }
}

/// Loads the key that encrypts biometric samples, creating it (mode 0600) on first start.
pub fn load_or_create_biometric_key(
    path: &Path,
) -> anyhow::Result<thabian_register::cards::BiometricKey> {
    use thabian_register::cards::BiometricKey;
    if path.exists() {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        );
        BiometricKey::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    } else {
        let key = BiometricKey::generate();
        write_private(path, key.to_hex().as_bytes())?;
        tracing::info!(path = %path.display(), key_id = key.id(), "created the biometric key");
        Ok(key)
    }
}

pub struct Platform {
    pub store: DynStore,
    pub register: Arc<Register>,
    pub log: Arc<LogService>,
    pub clock: Arc<dyn Clock>,
}

pub fn load_profile(spec: &str) -> anyhow::Result<Profile> {
    if let Some(builtin) = thabian_model::profile::builtin(spec) {
        return builtin.map_err(|e| anyhow::anyhow!("built-in profile {spec}: {e}"));
    }
    let text = std::fs::read_to_string(spec).with_context(|| {
        format!(
            "{spec:?} is neither a built-in profile ({:?}) nor a readable file",
            thabian_model::profile::builtin_codes()
        )
    })?;
    Profile::from_json(&text).map_err(|e| anyhow::anyhow!("profile {spec}: {e}"))
}

/// Loads the checkpoint signing key, creating it (mode 0600) on first start.
pub fn load_or_create_log_key(path: &Path, origin: &str) -> anyhow::Result<CheckpointSigner> {
    let key = if path.exists() {
        let pem =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        thabian_ledger::signing_key_from_pkcs8_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
    } else {
        let key = thabian_ledger::generate_signing_key(&mut rand::rngs::OsRng);
        let pem = thabian_ledger::signing_key_to_pkcs8_pem(&key)
            .map_err(|e| anyhow::anyhow!("encoding the log key: {e}"))?;
        write_private(path, pem.as_bytes())?;
        tracing::info!(path = %path.display(), "created the log signing key");
        key
    };
    CheckpointSigner::new(origin, key).map_err(|e| anyhow::anyhow!("log key: {e}"))
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

/// The log's origin line: identifies this register's log in every checkpoint.
pub fn log_origin(profile: &Profile) -> String {
    format!("thabian.{}/register", profile.code)
}

/// The built-in administrator acting as `role` for the whole country: how the operator's
/// commands (import, person show, demo, bench) act. Whoever runs them has the data directory or
/// the database URL, which is more than any token gives; their reads and changes are recorded
/// as `admin`'s, with `purpose` and `client`.
pub async fn operator_context(
    platform: &Platform,
    role: thabian_register::Role,
    purpose: &str,
    client: &str,
) -> anyhow::Result<thabian_register::RequestContext> {
    operator_context_in(&platform.store, role, purpose, client).await
}

/// [`operator_context`] from the store alone.
pub async fn operator_context_in(
    store: &DynStore,
    role: thabian_register::Role,
    purpose: &str,
    client: &str,
) -> anyhow::Result<thabian_register::RequestContext> {
    let admin = store
        .official("admin")
        .await?
        .context("no administrator yet: run `thabian serve` once")?;
    Ok(thabian_register::RequestContext {
        principal: thabian_register::Principal {
            official_id: admin.id,
            name: admin.name,
            role,
            jurisdiction: "*".into(),
            jurisdiction_path: "/".into(),
            office: admin.office,
        },
        purpose: Some(purpose.into()),
        client: Some(client.into()),
    })
}

/// The profile's areas, with the lower levels from `file` (CSV, or JSON by extension) when given.
pub fn load_areas(
    profile: &Profile,
    file: Option<&Path>,
) -> anyhow::Result<thabian_model::profile::AdminTree> {
    let mut areas = profile.admin_tree();
    if let Some(file) = file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let format = if file.extension().and_then(|e| e.to_str()) == Some("json") {
            AreaFormat::Json
        } else {
            AreaFormat::Csv
        };
        let added = areas
            .load_lower_levels(&text, format)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        tracing::info!(added, file = %file.display(), "loaded admin areas");
    }
    Ok(areas)
}

pub async fn open(config: &Config) -> anyhow::Result<Platform> {
    open_with_clock(config, Arc::new(SystemClock)).await
}

/// [`open`] with another clock than the system's: for tests that move time (a card's expiry
/// years after its issue).
pub async fn open_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Platform> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let profile = load_profile(&config.profile)?;
    let areas = load_areas(&profile, config.areas_file.as_deref())?;
    let url = config.database_url();
    let store = thabian_store::open(&url)
        .await
        .with_context(|| format!("opening the database {}", redact(&url)))?;
    let signer = Arc::new(load_or_create_log_key(
        &config.log_key_path(),
        &log_origin(&profile),
    )?);
    let biometric_key = load_or_create_biometric_key(&config.biometric_key_path())?;
    let register = Arc::new(
        Register::new(
            store.clone(),
            Arc::new(profile),
            Arc::new(areas),
            clock.clone(),
        )
        .with_biometric_key(biometric_key),
    );
    let log = Arc::new(LogService::new(store.clone(), signer));
    log.publish_key(clock.now()).await?;
    Ok(Platform {
        store,
        register,
        log,
        clock,
    })
}

/// Hides the password in a database URL before it is printed or logged.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The verifier keys `verify-log` trusts: the local signing key's, plus any given.
pub fn trusted_verifiers(
    platform: &Platform,
    extra: &[String],
) -> anyhow::Result<Vec<CheckpointVerifier>> {
    let mut out = vec![CheckpointVerifier::from_vkey(&platform.log.verifier_key())
        .map_err(|e| anyhow::anyhow!("{e}"))?];
    for vkey in extra {
        out.push(
            CheckpointVerifier::from_vkey(vkey)
                .map_err(|e| anyhow::anyhow!("verifier key {vkey:?}: {e}"))?,
        );
    }
    Ok(out)
}

/// Serves the API until Ctrl-C or SIGTERM; checkpoints the log in the background.
pub async fn serve(platform: Platform, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let checkpointer = tokio::spawn(
        platform
            .log
            .clone()
            .run_checkpointer(platform.clock.clone(), stop_rx),
    );
    let app = thabian_api::router(thabian_api::AppState::new(
        platform.register.clone(),
        platform.log.clone(),
    ));
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal());
    let result = server.await;
    let _ = stop_tx.send(true);
    let _ = checkpointer.await;
    if let Err(e) = result {
        bail!("server error: {e}");
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
