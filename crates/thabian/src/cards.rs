//! Card production and verification at the command line: `thabian card personalise` (a
//! production batch to personalisation packages for the card bureau) and `thabian card verify`
//! (passive authentication of a package, as a border or bank verifier does it).
//!
//! A batch export is a directory (`--out DIR`), a zip archive of the same tree (`--zip
//! FILE.zip`), or both:
//!
//! ```text
//! <number>/EF.COM, DG1, DG2, [DG3], DG11, DG12, [DG13], [DG14], [DG15], EF.SOD
//!                         the chip's files, as written (DG14, DG15 when --chip-keys gives
//!                         the chip's keys for the card)
//! <number>/mrz.txt        the three MRZ lines printed on the card's back
//! <number>/printed.json   the fields printed on the card's face, the card id and holder
//! MANIFEST                `sha256sum` lines for every file above (check with `sha256sum -c`)
//! MANIFEST.sig            MANIFEST as a C2SP signed note by the register's log key
//!                         (GET /v1/log/key publishes the verifier key)
//! ```
//!
//! The zip holds those paths (deflated, no leading directory) and appears whole or not at all:
//! it is written to a temporary file beside it, synced and renamed. With `--zip` alone the tree
//! is staged in a temporary directory beside the zip; if the zip cannot be written, that
//! directory is kept and named (the cards are personalised by then: their packages must not
//! be lost).
use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use thabian_icao9303::lso::{self, HashAlgorithm, LdsVersionInfo};
use thabian_pki::cert::serial_hex;
use thabian_pki::Signer;
use thabian_register::cards::{CardPackage, ChipFiles, DocumentSigning};
use thabian_register::RegisterError;
use x509_cert::Certificate;

/// The Document Signer signing a card's data groups (its key in a file or a token).
pub struct DsSigning {
    pub signer: Box<dyn Signer>,
    pub certificate: Certificate,
    /// Its DER, embedded in every EF.SOD as it is.
    certificate_der: Vec<u8>,
    pub serial: String,
    pub hash: HashAlgorithm,
}

impl DsSigning {
    pub fn new(signer: Box<dyn Signer>, certificate: Certificate) -> anyhow::Result<DsSigning> {
        let hash = match signer.algorithm() {
            thabian_pki::SignatureAlgorithm::EcdsaP384Sha384 => HashAlgorithm::Sha384,
            _ => HashAlgorithm::Sha256,
        };
        Ok(DsSigning {
            serial: serial_hex(&certificate.tbs_certificate.serial_number),
            certificate_der: x509_cert::der::Encode::to_der(&certificate)
                .context("encoding the Document Signer certificate")?,
            signer,
            certificate,
            hash,
        })
    }

    /// EF.SOD over the data groups.
    pub fn sod(&self, data_groups: &[(u8, &[u8])], at: DateTime<Utc>) -> anyhow::Result<Vec<u8>> {
        let version =
            LdsVersionInfo::lds_1_7().map_err(|e| anyhow::anyhow!("the LDS version info: {e}"))?;
        let lso = lso::build(self.hash, data_groups, Some(version))
            .map_err(|e| anyhow::anyhow!("the LDS security object: {e}"))?;
        self.sign_lso(&lso, at)
    }

    /// EF.SOD over an LDS security object.
    pub fn sign_lso(
        &self,
        lso: &lso::LdsSecurityObject,
        at: DateTime<Utc>,
    ) -> anyhow::Result<Vec<u8>> {
        thabian_icao9303::sod::build_sod_with_certificate_der(
            lso,
            self.signer.as_ref(),
            &self.certificate,
            Some(&self.certificate_der),
            at,
        )
        .map_err(|e| anyhow::anyhow!("EF.SOD: {e}"))
    }
}

impl DocumentSigning for DsSigning {
    fn sign(
        &self,
        data_groups: &[(u8, Vec<u8>)],
        at: DateTime<Utc>,
    ) -> Result<(Vec<u8>, String), RegisterError> {
        let groups: Vec<(u8, &[u8])> = data_groups
            .iter()
            .map(|(n, b)| (*n, b.as_slice()))
            .collect();
        let sod = self
            .sod(&groups, at)
            .map_err(|e| RegisterError::Internal(e.to_string()))?;
        Ok((sod, self.serial.clone()))
    }
}

/// Writes one card's package under `dir/<number>/`; returns the files written, relative to
/// `dir`.
pub fn write_package(dir: &Path, package: &CardPackage) -> anyhow::Result<Vec<PathBuf>> {
    let rel = PathBuf::from(&package.number);
    let card_dir = dir.join(&rel);
    std::fs::create_dir_all(&card_dir)
        .with_context(|| format!("creating {}", card_dir.display()))?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        std::fs::write(card_dir.join(name), bytes)
            .with_context(|| format!("writing {}", card_dir.join(name).display()))?;
        written.push(rel.join(name));
        Ok(())
    };
    for (name, bytes) in &package.files {
        put(name, bytes)?;
    }
    put(
        "mrz.txt",
        format!("{}\n", package.mrz.join("\n")).as_bytes(),
    )?;
    let printed = serde_json::json!({
        "card": package.card,
        "holder": package.pin.as_str(),
        "document_signer": package.document_signer,
        "printed": package.printed,
    });
    put(
        "printed.json",
        serde_json::to_string_pretty(&printed)?.as_bytes(),
    )?;
    Ok(written)
}

/// Writes `MANIFEST` (`sha256sum` format) over `files` and its signed note `MANIFEST.sig`.
pub fn write_manifest(
    dir: &Path,
    files: &[PathBuf],
    signer: &thabian_ledger::CheckpointSigner,
) -> anyhow::Result<()> {
    let mut sorted = files.to_vec();
    sorted.sort();
    let mut text = String::new();
    for f in &sorted {
        let bytes = std::fs::read(dir.join(f))?;
        text.push_str(&format!(
            "{}  {}\n",
            hex::encode(Sha256::digest(&bytes)),
            f.display()
        ));
    }
    std::fs::write(dir.join("MANIFEST"), &text)?;
    let note = signer
        .sign_text(&text)
        .map_err(|e| anyhow::anyhow!("signing the manifest: {e}"))?;
    std::fs::write(dir.join("MANIFEST.sig"), note)?;
    Ok(())
}

/// The files of a package directory: the data groups, EF.COM, EF.SOD, and the MRZ printed on
/// the card when `mrz.txt` is there.
pub fn read_package(dir: &Path) -> anyhow::Result<ChipFiles> {
    let ef_sod = std::fs::read(dir.join("EF.SOD"))
        .with_context(|| format!("{} has no EF.SOD", dir.display()))?;
    let mut data_groups = Vec::new();
    for n in 1..=16u8 {
        let path = dir.join(format!("DG{n}"));
        if path.exists() {
            data_groups.push((n, std::fs::read(&path)?));
        }
    }
    if data_groups.is_empty() {
        bail!("{} holds no data group (DG1 ... DG16)", dir.display());
    }
    let ef_com = std::fs::read(dir.join("EF.COM")).ok();
    let printed_mrz = std::fs::read_to_string(dir.join("mrz.txt")).ok();
    Ok(ChipFiles {
        data_groups,
        ef_com,
        ef_sod,
        printed_mrz,
    })
}

#[derive(Debug, clap::Subcommand)]
pub enum CardCommand {
    /// Personalise every card waiting in a production batch with the current Document Signer,
    /// and write the batch's packages, MANIFEST and MANIFEST.sig to --out and/or --zip; or,
    /// with --card and --reason, personalise again one card whose package was lost or spoiled
    /// before it was issued.
    Personalise(PersonaliseArgs),
    /// Passive authentication of a card's files (a package directory): every check with its
    /// result; exit code 0 only when none failed.
    Verify(VerifyArgs),
    /// Record `card_expired` for every issued, active or suspended card past its date of
    /// expiry (a daily job: cron or a systemd timer). Idempotent; exit code 1 when an expiry
    /// could not be recorded (the others are).
    Expire(ExpireArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExpireArgs {
    /// List the cards that would expire; record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The legal basis recorded with each expiry.
    #[arg(
        long,
        default_value = "Identity card term ended (date of expiry under the profile's card validity rule)"
    )]
    pub legal_basis: String,
}

/// `thabian card expire`: true when every expiry due was recorded.
pub async fn expire(platform: &crate::Platform, args: &ExpireArgs) -> anyhow::Result<bool> {
    let ctx = crate::operator_context(
        platform,
        thabian_register::Role::Supervisor,
        "card expiry sweep",
        "cli",
    )
    .await?;
    let sweep = platform
        .register
        .expire_cards(&ctx, &args.legal_basis, args.dry_run)
        .await?;
    let card = |c: &thabian_register::cards::ExpiringCard| {
        serde_json::json!({
            "pin": c.pin.as_str(),
            "card": c.card,
            "number": c.number,
            "date_of_expiry": c.date_of_expiry.to_string(),
            "status": c.status.as_str(),
        })
    };
    if args.json {
        let report = serde_json::json!({
            "today": sweep.today.to_string(),
            "dry_run": args.dry_run,
            "expired": sweep.expired.iter().map(card).collect::<Vec<_>>(),
            "already_recorded": sweep.already_recorded.iter().map(card).collect::<Vec<_>>(),
            "failed": sweep.failed.iter().map(|(c, e)| {
                let mut v = card(c);
                v["code"] = e.code().into();
                v["error"] = e.to_string().into();
                v
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &sweep.expired {
            println!(
                "{} card {} ({}) of {}: expired on {}",
                if args.dry_run {
                    "would expire:"
                } else {
                    "expired:"
                },
                c.number,
                c.card,
                c.pin,
                c.date_of_expiry
            );
        }
        for (c, e) in &sweep.failed {
            eprintln!(
                "card {} ({}) of {}: expiry not recorded: {e}",
                c.number, c.card, c.pin
            );
        }
        println!(
            "{}: {} cards {}, {} already recorded, {} failed",
            sweep.today,
            sweep.expired.len(),
            if args.dry_run {
                "would expire"
            } else {
                "expired"
            },
            sweep.already_recorded.len(),
            sweep.failed.len()
        );
    }
    Ok(sweep.failed.is_empty())
}

#[derive(Debug, Clone, clap::Args)]
pub struct PersonaliseArgs {
    /// The production batch (as recorded by `batched`).
    #[arg(long, required_unless_present = "card", conflicts_with = "card")]
    pub batch: Option<String>,
    /// A card personalised already, not yet issued, whose package was lost or spoiled: it is
    /// personalised again (a fresh EF.SOD; the old package no longer verifies online).
    #[arg(long, requires = "reason")]
    pub card: Option<String>,
    /// Why the card is personalised again (recorded with the event).
    #[arg(long, requires = "card")]
    pub reason: Option<String>,
    /// The export directory (created; must not exist).
    #[arg(long, required_unless_present = "zip")]
    pub out: Option<PathBuf>,
    /// The export as a zip archive (same layout; must not exist), instead of or besides --out.
    #[arg(long)]
    pub zip: Option<PathBuf>,
    /// The public keys each chip generated, read back by the personalisation machine: a JSON
    /// object from card number to {"chip_authentication": {"public_key": ..., "key_id": ...},
    /// "active_authentication": {"public_key": ...}, "pace": <parameter id>} (README, "Chip
    /// identity cards"). They become DG14 and DG15. With this file, a card without an entry is
    /// not personalised (`{}` is the entry of a chip without keys).
    #[arg(long)]
    pub chip_keys: Option<PathBuf>,
    #[command(flatten)]
    pub keys: crate::pki::KeyArgs,
}

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// A package directory: DG1 ... DG16, EF.SOD, optionally EF.COM and mrz.txt (the MRZ
    /// printed on the card, compared with DG1).
    pub package: PathBuf,
    /// Trusted CSCA certificates (PEM or DER), link certificates included.
    #[arg(long)]
    pub csca: Vec<PathBuf>,
    /// A CSCA master list (CMS, DER) whose certificates are trusted once its signature and
    /// signer check out against the --csca certificates (or, without them, against itself).
    #[arg(long)]
    pub master_list: Option<PathBuf>,
    /// CRLs (DER or PEM).
    #[arg(long)]
    pub crl: Vec<PathBuf>,
    /// Without --csca or --master-list: trust what the register publishes (its database).
    #[arg(long)]
    pub from_register: bool,
    /// Fail when no CRL of the issuing CSCA is at hand (instead of a warning).
    #[arg(long)]
    pub require_crl: bool,
    /// Verification time (RFC 3339); default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// The MRZ read from the card's back (3 lines, `\n`-separated); default: mrz.txt.
    #[arg(long)]
    pub mrz: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `thabian card personalise`.
pub async fn personalise(
    platform: &crate::Platform,
    config: &crate::Config,
    args: &PersonaliseArgs,
) -> anyhow::Result<()> {
    let batch = match (&args.batch, &args.card) {
        (Some(batch), _) => format!("batch {batch}"),
        (None, Some(number)) => format!("card {number}"),
        (None, None) => bail!("give --batch, or --card and --reason"),
    };
    for path in args.out.iter().chain(&args.zip) {
        if path.exists() {
            bail!(
                "{} exists: a batch is exported to a new directory or zip",
                path.display()
            );
        }
    }
    let zip_parent = match &args.zip {
        Some(zip) => {
            let parent = match zip.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !parent.is_dir() {
                bail!("{}: no such directory for the zip", parent.display());
            }
            Some(parent)
        }
        None => None,
    };
    // The whole file is read before anything is personalised; a bad entry only refuses its card.
    let chip_keys = match &args.chip_keys {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(
                thabian_register::chip::read_chip_keys(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let pki = crate::pki::PkiDir::open(&args.keys.dir(&config.data_dir))?;
    let now = Utc::now();
    let ds = pki.current_document_signer(now)?.clone();
    let signing = DsSigning::new(
        pki.signer(&ds.key, &args.keys.access())?,
        pki.read_cert(&ds.cert)?,
    )?;
    let ctx = crate::operator_context(
        platform,
        thabian_register::Role::CardOfficer,
        "card personalisation",
        "cli",
    )
    .await?;
    let cards = match (&args.batch, &args.card) {
        (Some(b), _) => platform.register.batch_cards(&ctx, b).await?,
        (None, Some(number)) => {
            let (pin, card) = platform
                .register
                .card_by_number(&ctx, number)
                .await?
                .with_context(|| format!("no card {number}"))?;
            vec![thabian_register::cards::BatchCard {
                pin,
                card: card.id,
                number: card.number,
            }]
        }
        (None, None) => Vec::new(),
    };
    if cards.is_empty() {
        bail!("no card waits in production {batch}");
    }
    if let Some(keys) = &chip_keys {
        for number in keys.keys() {
            if !cards.iter().any(|c| &c.number == number) {
                eprintln!("chip keys for card {number}: no such card waits in {batch} (ignored)");
            }
        }
    }
    let staging = match (&args.out, &zip_parent) {
        (None, Some(parent)) => Some(
            tempfile::Builder::new()
                .prefix(".thabian-batch-")
                .tempdir_in(parent)
                .with_context(|| format!("a staging directory in {}", parent.display()))?,
        ),
        _ => None,
    };
    let out: &Path = match (&args.out, &staging) {
        (Some(out), _) => out,
        (None, Some(staging)) => staging.path(),
        (None, None) => bail!("give --out DIR or --zip FILE.zip"),
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let no_keys = thabian_icao9303::lds::ChipSecurity::default();
    let mut files = Vec::new();
    let mut failed = 0usize;
    for c in &cards {
        let refused = |why: &dyn std::fmt::Display| {
            eprintln!(
                "card {} ({}) of {}: not personalised: {why}",
                c.number, c.card, c.pin
            );
        };
        let security = match chip_keys.as_ref().map(|keys| keys.get(&c.number)) {
            None => &no_keys,
            Some(Some(Ok(security))) => security,
            Some(Some(Err(e))) => {
                failed += 1;
                refused(e);
                continue;
            }
            Some(None) => {
                failed += 1;
                refused(&"the chip-keys file has no entry for it (`{}` for a chip without keys)");
                continue;
            }
        };
        let done = match &args.reason {
            Some(reason) => {
                platform
                    .register
                    .repersonalise_card(&ctx, &c.number, reason, &signing, security)
                    .await
            }
            None => {
                platform
                    .register
                    .personalise_card(&ctx, &c.pin, &c.card, &signing, security)
                    .await
            }
        };
        match done {
            Ok(done) => files.extend(write_package(out, &done.package)?),
            Err(e) => {
                failed += 1;
                refused(&e);
            }
        }
    }
    let profile = platform.register.profile();
    let log_signer =
        crate::load_or_create_log_key(&config.log_key_path(), &crate::log_origin(profile))?;
    write_manifest(out, &files, &log_signer)?;
    let mut written = args
        .out
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>();
    if let Some(zip) = &args.zip {
        let mut entries = files.clone();
        entries.sort();
        entries.push(PathBuf::from("MANIFEST"));
        entries.push(PathBuf::from("MANIFEST.sig"));
        if let Err(e) = write_zip(out, &entries, zip) {
            // The cards are personalised: their packages stay on disk, whatever happens.
            if let Some(staging) = staging {
                let kept = staging.keep();
                bail!(
                    "writing {}: {e:#}; the packages, MANIFEST and MANIFEST.sig are in {}",
                    zip.display(),
                    kept.display()
                );
            }
            return Err(e.context(format!("writing {}", zip.display())));
        }
        written.push(zip.display().to_string());
    }
    println!(
        "{batch}: {} cards personalised by Document Signer {}, {failed} refused; packages, MANIFEST and MANIFEST.sig in {}",
        cards.len() - failed,
        signing.serial,
        written.join(" and ")
    );
    if failed > 0 {
        bail!("{failed} cards of {batch} were not personalised");
    }
    Ok(())
}

/// Writes `files` (paths relative to `dir`) into the zip archive `zip`, deflated, under the
/// same relative paths. Atomic: a temporary file in the zip's directory, synced, then renamed
/// to `zip` only if nothing is there; on any failure the temporary file is removed.
pub fn write_zip(dir: &Path, files: &[PathBuf], zip: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let parent = match zip.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".thabian-zip-")
        .tempfile_in(parent)
        .with_context(|| format!("a temporary file in {}", parent.display()))?;
    let now = Utc::now().naive_utc();
    let mtime = {
        use chrono::{Datelike, Timelike};
        zip::DateTime::from_date_and_time(
            u16::try_from(now.year()).unwrap_or(1980),
            now.month() as u8,
            now.day() as u8,
            now.hour() as u8,
            now.minute() as u8,
            now.second() as u8,
        )
        .unwrap_or_default()
    };
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(mtime)
        .unix_permissions(0o644);
    let mut writer = zip::ZipWriter::new(tmp.as_file_mut());
    for f in files {
        let name = f
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let bytes = std::fs::read(dir.join(f))
            .with_context(|| format!("reading {}", dir.join(f).display()))?;
        writer.start_file(name.as_str(), options)?;
        writer.write_all(&bytes)?;
    }
    writer.finish()?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(zip)
        .map_err(|e| anyhow::anyhow!("renaming to {}: {}", zip.display(), e.error))?;
    Ok(())
}

/// `thabian card verify`: prints the report; true when no check failed.
pub async fn verify(args: &VerifyArgs, config: &crate::Config) -> anyhow::Result<bool> {
    use thabian_icao9303::pa::{passive_authentication, PaOptions, TrustStore};
    let at = match &args.at {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("--at {t:?} is not RFC 3339"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let mut trust = TrustStore::new();
    for path in &args.csca {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        trust
            .add_certificates(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.master_list {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let anchors = trust.cscas.clone();
        trust
            .add_master_list(&bytes, &anchors, at)
            .map_err(|e| anyhow::anyhow!("master list {}: {e}", path.display()))?;
    }
    for path in &args.crl {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        trust
            .add_crls(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    if args.from_register || trust.cscas.is_empty() {
        if !args.from_register {
            eprintln!("no --csca or --master-list: trusting what the register publishes");
        }
        let platform = crate::open(config).await?;
        let published = platform.register.published_trust().await?;
        trust.cscas.extend(published.cscas);
        trust.crls.extend(published.crls);
    }
    if trust.cscas.is_empty() {
        bail!("no trusted CSCA: give --csca or --master-list, or publish the PKI (`thabian pki publish`)");
    }
    let mut files = read_package(&args.package)?;
    if args.mrz.is_some() {
        files.printed_mrz = args.mrz.clone();
    }
    let doc = files.document();
    let options = PaOptions {
        require_crl: args.require_crl,
        ..PaOptions::default()
    };
    let report = passive_authentication(&doc, &trust, at, &options);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
        println!(
            "{}",
            if report.passed() {
                "VERIFIED: every check passed"
            } else {
                "NOT VERIFIED: see the failed checks"
            }
        );
    }
    Ok(report.passed())
}

/// A placeholder portrait for the demo card: a JPEG header with a frame size (480×360) and no
/// picture. The demo has no real faces.
fn demo_face() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    j.extend_from_slice(b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00");
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x01, 0x68, 0x03]);
    j.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

/// What `serve --demo` set up for cards.
pub struct DemoCard {
    pub number: String,
    pub holder: String,
    pub package: PathBuf,
    pub pki_dir: PathBuf,
    pub passphrase_file: PathBuf,
}

/// For `serve --demo` on a fresh register: a demo PKI (CSCA, Document Signer, CRL, master
/// list, published) whose key files are encrypted with a random passphrase kept in
/// `<data-dir>/pki-passphrase` (0600), and one active card for `holder`: applied for by the
/// operator as card officer, approved by the demo supervisor, personalised into
/// `<data-dir>/demo-cards/`, issued and activated.
pub async fn demo_card(
    platform: &crate::Platform,
    config: &crate::Config,
    supervisor_token: &str,
    holder: &str,
) -> anyhow::Result<DemoCard> {
    use rand::RngCore;
    use thabian_model::card::{ApplicationReason, CardChange};
    let pki_dir = config.data_dir.join("pki");
    if pki_dir.exists() {
        bail!(
            "{} exists: the demo does not touch an existing PKI",
            pki_dir.display()
        );
    }
    let passphrase_file = config.data_dir.join("pki-passphrase");
    let mut secret = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    crate::write_private(
        &passphrase_file,
        format!("{}\n", hex::encode(secret)).as_bytes(),
    )?;
    let access = crate::pki::KeyAccess {
        passphrase: thabian_pki::PassphraseSource::File(passphrase_file.clone()),
        pkcs11_pin: None,
    };
    let profile = platform.register.profile().clone();
    let now = Utc::now();
    let mut pki = crate::pki::PkiDir::init(
        &pki_dir,
        &profile.iso3166_alpha2,
        "Demo national PKI (not for real documents)",
        "p256",
        &crate::pki::NewKey::File,
        &access,
        now,
    )?;
    let ds = pki.issue_document_signer(
        &crate::pki::NewKey::File,
        &access,
        3,
        std::slice::from_ref(&profile.card.document_code),
        now,
    )?;
    for (name, media_type, body) in pki.publications()? {
        platform
            .store
            .publish(&thabian_store::PublishedDocument {
                name,
                media_type,
                body,
                updated_at: thabian_store::format_time(now),
            })
            .await?;
    }

    let register = &platform.register;
    let officer = crate::operator_context(
        platform,
        thabian_register::Role::CardOfficer,
        "demo card",
        "demo",
    )
    .await?;
    let supervisor = thabian_register::RequestContext {
        principal: register.authenticate(supervisor_token).await?,
        purpose: Some("demo card".into()),
        client: None,
    };
    let pin = thabian_model::pin::Pin::from_trusted(holder.to_owned());
    let basis = thabian_model::event::LegalBasis {
        act: "Demo data (not a legal registration)".into(),
        document_ref: None,
    };
    let applied = register
        .apply_for_card(
            &officer,
            &pin,
            thabian_register::cards::CardApplication {
                reason: ApplicationReason::First,
                replaces: None,
                face: thabian_register::cards::BiometricSample {
                    format: "image/jpeg".into(),
                    position: None,
                    data: demo_face(),
                },
                fingerprints: Vec::new(),
                legal_basis: basis.clone(),
                idempotency_key: None,
            },
        )
        .await?;
    let card = applied.card.clone();
    register
        .change_card(
            &supervisor,
            &pin,
            &card,
            CardChange::Approved,
            basis.clone(),
            None,
        )
        .await?;
    register
        .change_card(
            &officer,
            &pin,
            &card,
            CardChange::Batched {
                batch: "DEMO-1".into(),
            },
            basis.clone(),
            None,
        )
        .await?;
    let signing = DsSigning::new(pki.signer(&ds.key, &access)?, pki.read_cert(&ds.cert)?)?;
    let done = register
        .personalise_card(
            &officer,
            &pin,
            &card,
            &signing,
            &thabian_icao9303::lds::ChipSecurity::default(),
        )
        .await?;
    let out = config.data_dir.join("demo-cards");
    let files = write_package(&out, &done.package)?;
    let log_signer =
        crate::load_or_create_log_key(&config.log_key_path(), &crate::log_origin(&profile))?;
    write_manifest(&out, &files, &log_signer)?;
    for step in [CardChange::Issued, CardChange::Activated] {
        register
            .change_card(&officer, &pin, &card, step, basis.clone(), None)
            .await?;
    }
    Ok(DemoCard {
        package: out.join(&applied.number),
        number: applied.number,
        holder: holder.to_owned(),
        pki_dir,
        passphrase_file,
    })
}
