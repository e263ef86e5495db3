//! `thabian`: the whole platform in one binary.
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use thabian::{open, Config};
use thabian_model::pin::Pin;
use thabian_register::{NewOfficial, RequestContext, Role, View};

#[derive(Parser)]
#[command(
    name = "thabian",
    version,
    about = "Thabian: national population register and digital identity platform"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Directory for the embedded database and the log signing key.
    #[arg(
        long,
        env = "THABIAN_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    data_dir: PathBuf,
    /// PostgreSQL URL (postgres://...). Without it: the embedded SQLite database in the data directory.
    #[arg(long, env = "THABIAN_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Country profile: a built-in code (la, vn) or a profile JSON file.
    #[arg(long, env = "THABIAN_PROFILE", default_value = "la", global = true)]
    profile: String,
    /// Admin areas below the provinces (CSV `code,name,name_latin,level,parent`, or JSON).
    #[arg(long, env = "THABIAN_AREAS_FILE", global = true)]
    areas_file: Option<PathBuf>,
    /// Checkpoint signing key (PKCS#8 PEM, Ed25519); default: <data-dir>/log-signing-key.pem, created if missing.
    /// Every node sharing one database must use the same key.
    #[arg(long, env = "THABIAN_LOG_KEY_FILE", global = true)]
    log_key_file: Option<PathBuf>,
    /// Key that encrypts biometric samples at rest (64 hex digits); default:
    /// <data-dir>/biometric-key.hex, created if missing. Keep it outside the database and its
    /// backups; every node sharing one database must use the same key.
    #[arg(long, env = "THABIAN_BIOMETRIC_KEY_FILE", global = true)]
    biometric_key_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "THABIAN_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// On an empty register, load demo families, create demo officials (prints their tokens)
        /// and import a generated population (see --demo-people).
        #[arg(long)]
        demo: bool,
        /// With --demo: how many generated persons to import (same seed every time); 0: only
        /// the hand-written families.
        #[arg(long, default_value_t = 100_000, requires = "demo")]
        demo_people: u64,
    },
    /// Manage officials and API tokens.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Read a person's record.
    Person {
        #[command(subcommand)]
        command: PersonCommand,
    },
    /// Recompute the Merkle tree from the events, check every checkpoint, name the first bad event.
    VerifyLog {
        /// Extra trusted checkpoint verifier keys (signed-note vkey format).
        #[arg(long)]
        trust: Vec<String>,
    },
    /// Drop the projections (current persons, households) and rebuild them from the event log.
    Rebuild,
    /// Print the OpenAPI document.
    Openapi,
    /// Migrate a legacy register: NDJSON (one record per line) or CSV. Idempotent and
    /// resumable: run the same command again after a crash.
    Import {
        file: PathBuf,
        #[arg(long, value_enum, default_value = "ndjson")]
        format: thabian::import::Format,
        /// CSV columns to record fields: "Column=field,Other=-" (`-` ignores a column).
        #[arg(long, default_value = "")]
        map: String,
        /// The law or decree the migration is done under (recorded in every event).
        #[arg(long, default_value = "Migration of the legacy population register")]
        legal_basis: String,
        /// The reference of the migration's authorising document; default: the file's name.
        #[arg(long)]
        document_ref: Option<String>,
        /// The registering office (admin-area code); default: the administrator's office.
        #[arg(long)]
        office: Option<String>,
        /// Records per transaction.
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        /// Where refused records are listed (CSV: line, source_id, code, message);
        /// default: FILE.errors.csv.
        #[arg(long)]
        errors: Option<PathBuf>,
        /// No progress bar or progress lines.
        #[arg(long)]
        quiet: bool,
        /// Skip the duplicate checks: the check of each record against the register (once a
        /// linkage model is estimated, likely duplicates are held for review instead of
        /// imported) and the whole-register pass after the import (candidate pairs to
        /// FILE.duplicates.csv, likely duplicates queued for review, the linkage model
        /// re-estimated). Run `thabian dedup` later instead.
        #[arg(long)]
        no_dedup: bool,
    },
    /// The whole-register duplicate pass: blocks every record by its search keys, estimates the
    /// record-linkage model by EM, stores it, and writes the candidate pairs with their scores
    /// (for the clean-up after a migration).
    Dedup(thabian::dedup::DedupArgs),
    /// The national document PKI (ICAO Doc 9303 Part 12): CSCA, Document Signers, CRL, master
    /// list; keys in encrypted files or a PKCS#11 token.
    Pki(thabian::pki::PkiArgs),
    /// Identity cards: personalise a production batch; verify a card's chip data.
    Card {
        #[command(subcommand)]
        command: thabian::cards::CardCommand,
    },
    /// Write a synthetic population (legacy NDJSON, the input of `import`), deterministic for a seed.
    Generate(thabian::generate::GenerateArgs),
    /// The benchmark suite: import (and a raw loader for comparison), PIN lookups, births and
    /// the change feed over HTTP, disk and RSS, on fresh stores (temporary SQLite files, or
    /// fresh databases created on the --database-url PostgreSQL server and dropped after).
    /// Writes a JSON report and prints a summary on stderr. A measurement, not a test.
    Bench {
        /// Phases to run (comma-separated).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "import,raw,lookups,births,feed,disk,dedup,cards"
        )]
        phases: Vec<thabian::bench::Phase>,
        /// Persons generated, imported and raw-loaded.
        #[arg(long, default_value_t = 1_000_000)]
        persons: u64,
        /// Seed of the generated population.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Records per import transaction (and persons per raw-loader batch).
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        /// Birth registrations.
        #[arg(long, default_value_t = 20_000)]
        births: usize,
        /// PIN lookups (at --persons, and at --scale).
        #[arg(long, default_value_t = 50_000)]
        lookups: usize,
        /// Concurrent keep-alive clients.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// At most this many events read by the change-feed consumer.
        #[arg(long, default_value_t = 100_000)]
        feed_events: usize,
        /// Also seed a store to this many persons with the raw loader and measure lookups and
        /// the server's RSS there (e.g. 10000000).
        #[arg(long)]
        scale: Option<u64>,
        /// Where the temporary directory goes (NDJSON file, SQLite files); default: the system's.
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// The directory an earlier `--scale N --keep` run kept: its scale store (seeded to the
        /// same --scale, --profile and --seed) is measured again instead of seeded anew.
        #[arg(long, requires = "scale")]
        reuse: Option<PathBuf>,
        /// Keep the temporary directory and the PostgreSQL databases.
        #[arg(long)]
        keep: bool,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench-report.json")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an official.
    CreateOfficial {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// registrar, supervisor, card_officer, auditor, administrator, service_account
        #[arg(long)]
        role: String,
        /// Admin-area code, or * for the whole country.
        #[arg(long)]
        jurisdiction: String,
        /// The office's admin-area code.
        #[arg(long)]
        office: String,
    },
    /// Issue an API token (printed once).
    IssueToken {
        #[arg(long)]
        official: String,
        #[arg(long, default_value = "cli")]
        label: String,
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// Revoke an API token by its id.
    RevokeToken { id: String },
    /// List officials.
    ListOfficials,
}

#[derive(Subcommand)]
enum PersonCommand {
    /// Show a person's current record (the read is recorded in the access log).
    Show {
        pin: String,
        /// Why you read it (recorded).
        #[arg(long, default_value = "cli")]
        purpose: String,
        /// Valid time: as it was on this date (YYYY-MM-DD).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Fuzzy search: ranked matches with the fields that matched (recorded in the access log).
    Search(thabian::dedup::SearchArgs),
}

fn config(g: &Global) -> Config {
    Config {
        data_dir: g.data_dir.clone(),
        database_url: g.database_url.clone(),
        profile: g.profile.clone(),
        areas_file: g.areas_file.clone(),
        log_key_file: g.log_key_file.clone(),
        biometric_key_file: g.biometric_key_file.clone(),
    }
}

/// The CLI acts as the built-in administrator.
async fn cli_admin(platform: &thabian::Platform, purpose: &str) -> anyhow::Result<RequestContext> {
    thabian::operator_context(platform, Role::Administrator, purpose, "cli").await
}

/// The register allocates many short-lived strings per record (JSON, SQL parameters); glibc's
/// allocator spent about a fifth of an import's time in malloc/free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let cfg = config(&cli.global);
    match cli.command {
        Command::Bench {
            phases,
            persons,
            seed,
            batch,
            births,
            lookups,
            concurrency,
            feed_events,
            scale,
            work_dir,
            reuse,
            keep,
            out,
        } => {
            if batch == 0 || concurrency == 0 {
                bail!("--batch and --concurrency must be at least 1");
            }
            let report = thabian::bench::run(thabian::bench::BenchOptions {
                phases,
                persons,
                seed,
                batch,
                births,
                lookups,
                concurrency,
                feed_events,
                scale,
                database_url: cfg.database_url.clone(),
                profile: cfg.profile.clone(),
                areas_file: cfg.areas_file.clone(),
                work_dir,
                reuse,
                keep,
                out: Some(out.clone()),
            })
            .await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            eprintln!("report written to {}", out.display());
        }
        Command::Generate(args) => thabian::generate::run(&args)?,
        Command::Pki(args) => thabian::pki::run(&args, &cfg).await?,
        Command::Card {
            command: thabian::cards::CardCommand::Personalise(args),
        } => {
            let platform = open(&cfg).await?;
            thabian::cards::personalise(&platform, &cfg, &args).await?;
        }
        Command::Card {
            command: thabian::cards::CardCommand::Expire(args),
        } => {
            let platform = open(&cfg).await?;
            if !thabian::cards::expire(&platform, &args).await? {
                std::process::exit(1);
            }
        }
        Command::Card {
            command: thabian::cards::CardCommand::Verify(args),
        } => {
            if !thabian::cards::verify(&args, &cfg).await? {
                std::process::exit(1);
            }
        }
        Command::Import {
            file,
            format,
            map,
            legal_basis,
            document_ref,
            office,
            batch,
            errors,
            quiet,
            no_dedup,
        } => {
            if batch == 0 {
                bail!("--batch must be at least 1");
            }
            let platform = open(&config(&cli.global)).await?;
            if let Some(issued) = platform.register.bootstrap().await? {
                eprintln!(
                    "Created the administrator; its token (shown once): {}",
                    issued.token
                );
            }
            // Registering is a supervisor's act; the operator performs it for the whole country.
            let ctx =
                thabian::operator_context(&platform, Role::Supervisor, "migration import", "cli")
                    .await?;
            let errors = errors.unwrap_or_else(|| {
                let mut name = file.as_os_str().to_owned();
                name.push(".errors.csv");
                PathBuf::from(name)
            });
            let document_ref =
                document_ref.or_else(|| file.file_name().map(|n| n.to_string_lossy().into_owned()));
            let options = thabian::import::ImportOptions {
                format,
                mapping: thabian::import::parse_mapping(&map)?,
                batch_size: batch,
                settings: thabian_register::import::ImportSettings {
                    legal_basis: thabian_model::event::LegalBasis {
                        act: legal_basis,
                        document_ref,
                    },
                    office,
                    settle: false,
                    check_duplicates: !no_dedup,
                },
                errors: errors.clone(),
                progress: if quiet {
                    thabian::import::Progress::Quiet
                } else {
                    thabian::import::Progress::Auto
                },
            };
            let summary = thabian::import::run(&platform.register, &ctx, &file, &options).await?;
            platform
                .log
                .checkpoint_if_due(platform.clock.now(), true)
                .await?;
            summary.print(&errors, &mut std::io::stdout())?;
            if !no_dedup {
                let mut name = file.as_os_str().to_owned();
                name.push(".duplicates.csv");
                thabian::dedup::after_import(&platform.register, &ctx, &PathBuf::from(name))
                    .await?;
            }
        }
        Command::Openapi => {
            println!("{}", thabian_api::openapi_document());
        }
        Command::Serve {
            listen,
            demo,
            demo_people,
        } => {
            let platform = open(&cfg).await?;
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            let addr = listener.local_addr()?;
            println!(
                "Thabian register ({}) on {}",
                platform.register.profile().name,
                thabian::redact(&cfg.database_url())
            );
            println!("API: http://{addr}/v1   OpenAPI: http://{addr}/openapi.json   health: http://{addr}/healthz");
            let admin_token = platform.register.bootstrap().await?.map(|token| {
                println!("\nFirst start: administrator created. Its API token (shown once, valid until {}):\n  {}\n", token.expires_at, token.token);
                token.token
            });
            let fresh = platform.store.log_size().await? == 0;
            let pending = thabian::demo::population_pending(&cfg.data_dir);
            if demo && (fresh || pending) {
                let ctx = cli_admin(&platform, "demo").await?;
                let tokens = if fresh {
                    let t = thabian::demo::seed(&platform.register, &ctx).await?;
                    println!("Demo data loaded. Tokens (valid 30 days):");
                    println!("  supervisor (national):          {}", t.supervisor);
                    println!(
                        "  registrar (area {}):            {}",
                        t.registrar_jurisdiction, t.registrar
                    );
                    println!("  ministry service account:       {}", t.service_account);
                    println!("  auditor:                        {}", t.auditor);
                    println!("Sample PINs: {}", t.sample_pins.join(" "));
                    Some(t)
                } else {
                    None
                };
                let population = if demo_people > 0 || pending {
                    thabian::demo::populate(&platform.register, &ctx, &cfg.data_dir, demo_people)
                        .await?
                } else {
                    None
                };
                // A demo PKI and one active card, so that `card verify` has something to check.
                let card = match (&tokens, fresh) {
                    (Some(t), true) if !t.sample_pins.is_empty() => {
                        match thabian::cards::demo_card(
                            &platform,
                            &cfg,
                            &t.supervisor,
                            &t.sample_pins[0],
                        )
                        .await
                        {
                            Ok(card) => Some(card),
                            Err(e) => {
                                eprintln!("demo card not created: {e:#}");
                                None
                            }
                        }
                    }
                    _ => None,
                };
                if let Some(c) = card {
                    println!("\nA demo identity card (ICAO Doc 9303 chip data, signed by the demo PKI in {}; its key files' passphrase is in {}):", c.pki_dir.display(), c.passphrase_file.display());
                    println!("  CARD={}   # active, held by {}", c.number, c.holder);
                    println!(
                        "  thabian --data-dir {} card verify {} --from-register",
                        cfg.data_dir.display(),
                        c.package.display()
                    );
                    println!("  curl -H \"Authorization: Bearer $SUP\" $API/v1/cards/$CARD/status");
                }
                thabian::demo::print_guide(
                    &mut std::io::stdout(),
                    addr,
                    admin_token.as_deref(),
                    tokens.as_ref(),
                    population.as_ref(),
                )?;
            } else if demo {
                println!("--demo: the register is not empty, so no demo data was loaded (the demo tokens were printed at its first start).");
            }
            thabian::serve(platform, listener).await?;
        }
        Command::Admin { command } => {
            let platform = open(&cfg).await?;
            if let Some(token) = platform.register.bootstrap().await? {
                println!("First start: administrator created. Its API token (shown once, valid until {}):\n  {}\n", token.expires_at, token.token);
            }
            let ctx = cli_admin(&platform, "admin cli").await?;
            match command {
                AdminCommand::CreateOfficial {
                    id,
                    name,
                    role,
                    jurisdiction,
                    office,
                } => {
                    let Some(role) = Role::parse(&role) else {
                        bail!("unknown role {role:?}")
                    };
                    let o = platform
                        .register
                        .create_official(
                            &ctx,
                            NewOfficial {
                                id,
                                name,
                                role,
                                jurisdiction,
                                office,
                            },
                        )
                        .await?;
                    println!(
                        "created official {} ({}, jurisdiction {})",
                        o.id, o.role, o.jurisdiction
                    );
                }
                AdminCommand::IssueToken {
                    official,
                    label,
                    days,
                } => {
                    let t = platform
                        .register
                        .issue_token(&ctx, &official, &label, chrono::Duration::days(days))
                        .await?;
                    println!(
                        "token id {} for {} (expires {}):\n{}",
                        t.id, t.official_id, t.expires_at, t.token
                    );
                }
                AdminCommand::RevokeToken { id } => {
                    platform.register.revoke_token(&ctx, &id).await?;
                    println!("revoked {id}");
                }
                AdminCommand::ListOfficials => {
                    for o in platform.register.officials(&ctx).await? {
                        println!(
                            "{}\t{}\t{}\t{}\t{}",
                            o.id,
                            o.role,
                            o.jurisdiction,
                            o.office,
                            if o.disabled_at.is_some() {
                                "disabled"
                            } else {
                                "active"
                            }
                        );
                    }
                }
            }
        }
        Command::Dedup(args) => {
            let platform = open(&cfg).await?;
            thabian::dedup::run_dedup(&platform, &args).await?;
        }
        Command::Person {
            command: PersonCommand::Search(args),
        } => {
            let platform = open(&cfg).await?;
            thabian::dedup::run_search(&platform, &args).await?;
        }
        Command::Person {
            command:
                PersonCommand::Show {
                    pin,
                    purpose,
                    as_of,
                },
        } => {
            let platform = open(&cfg).await?;
            let pin = Pin::parse(&platform.register.profile().pin, &pin)
                .map_err(|e| anyhow::anyhow!("PIN {pin:?}: {e}"))?;
            // Reading personal data from the CLI is recorded like any other read, as a national
            // supervisor acting for the operator.
            let ctx =
                thabian::operator_context(&platform, Role::Supervisor, &purpose, "cli").await?;
            let as_of = as_of
                .map(|d| {
                    chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                        .map_err(|_| anyhow::anyhow!("--as-of {d:?} is not YYYY-MM-DD"))
                })
                .transpose()?;
            let person = platform
                .register
                .person(
                    &ctx,
                    &pin,
                    View {
                        as_of,
                        known_at: None,
                    },
                )
                .await?;
            let text = serde_json::to_string_pretty(&serde_json::to_value(&person)?)?;
            println!("{text}");
        }
        Command::VerifyLog { trust } => {
            let platform = open(&cfg).await?;
            let trusted = thabian::trusted_verifiers(&platform, &trust)?;
            let report = thabian_register::log::verify_log(&platform.store, &trusted).await?;
            match &report.first_problem {
                None => println!(
                    "log OK: {} events, {} checkpoints verified",
                    report.events_checked, report.checkpoints_checked
                ),
                Some((seq, why)) => {
                    println!("log NOT OK at event {seq}: {why}");
                    println!(
                        "({} events and {} checkpoints verified before it)",
                        report.events_checked, report.checkpoints_checked
                    );
                    std::process::exit(1);
                }
            }
        }
        Command::Rebuild => {
            let platform = open(&cfg).await?;
            let report = platform.register.rebuild().await?;
            println!(
                "rebuilt {} persons, {} households and {} review cases from the event log",
                report.persons, report.households, report.review_cases
            );
        }
    }
    Ok(())
}
