//! `thabian bench` phase `cards`: the chip side of card personalisation and passive
//! authentication, measured in this process (no database, no HTTP).
//!
//! Per signature algorithm (ECDSA P-256 with SHA-256, ECDSA P-384 with SHA-384), with software
//! keys: a test PKI (CSCA, Document Signer, an empty CRL) and one Lao card holder with a ~20 KB
//! face and two ~10 KB fingerprints (the sizes of real ID-card samples, since hashing them is
//! part of the work). Then:
//!
//! * `raw_sign`: the Document Signer's `Signer::sign` over the DER of a real EF.SOD's signed
//!   attributes (the one signature a card costs), on 1 thread and on `threads` threads sharing
//!   the key;
//! * `personalised`: `ChipContent::build` (the LDS files from the register's record) plus
//!   `DsSigning::sod` (LSO hashing and CMS SignedData signing) per card, the same way, the two
//!   measured in alternation (six slices each, so that the load of a shared machine weighs on
//!   both alike); the ratio personalised / raw sign is the issue's target (≥ 0.8);
//!   `personalisation_profile`
//!   times its parts on one thread (chip content, LSO with the hashes, CMS signing);
//! * `passive_authentication`: `thabian_icao9303::pa::passive_authentication` of the produced
//!   package (EF.SOD, DG1, DG2, DG3, DG11, DG12, EF.COM, printed MRZ) against a trust store of
//!   the CSCA and its CRL, on 1 thread and `threads` threads; target ≥ 5,000 per core. The
//!   verifier keeps a `PathCache` of its trust store (a border or bank verifier reads thousands
//!   of cards signed by a few Document Signers): that is the headline figure; the same without
//!   the cache (every DS path validated again) is reported as `*_without_path_cache`;
//! * `pa_profile`: what its parts cost on one thread (one ECDSA verification, DS path
//!   validation with the CRL, the CMS check, the data-group hashes), so that a shortfall can
//!   be traced. `document_checks_without_path` is *not* passive authentication: it is the work
//!   left per document for a verifier that keeps an already validated DS path.
//!
//! With SoftHSM2 installed, raw signing and personalisation are measured again with the DS key
//! in a temporary token (`Pkcs11Signer`).
//!
//! A measurement, never a test: nothing here asserts a speed. Every run of every measure only
//! counts operations that succeeded (a failing passive authentication stops the phase).
use crate::cards::DsSigning;
use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Datelike, Duration as TimeSpan, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thabian_icao9303::lso::{self, LdsVersionInfo, ID_LDS_SECURITY_OBJECT};
use thabian_icao9303::pa::{self, Document, Outcome, PaOptions, PathCache, TrustStore};
use thabian_icao9303::sod::Sod;
use thabian_model::card::{ApplicationReason, BiometricRef, Card, CardStatus};
use thabian_model::date::PartialDate;
use thabian_model::person::{Names, ParentRef, Person, PersonName, Residence, Status};
use thabian_model::pin::Pin;
use thabian_model::profile::{AdminTree, Profile};
use thabian_model::sex::Sex;
use thabian_pki::cert::{issue_csca, issue_document_signer, CscaRequest, DsRequest};
use thabian_pki::crl::issue_crl;
use thabian_pki::{SignatureAlgorithm, Signer, SoftwareSigner};
use thabian_register::chip::{ChipContent, Relatives, Sample};
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;

/// The issue's target: cards personalised per second over raw ECDSA signatures per second.
pub const PERSONALISATION_RATIO_TARGET: f64 = 0.8;
/// The issue's target: passive authentications per second per core.
pub const PA_PER_CORE_TARGET: f64 = 5000.0;

const FACE_BYTES: usize = 20 * 1024;
const FINGER_BYTES: usize = 10 * 1024;
const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// One measure: `operations` done by `threads` threads in `seconds` of wall time.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub threads: usize,
    pub operations: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub per_thread_per_second: f64,
}

/// Runs `op` on `threads` threads, each in its own loop, until `seconds` have passed (every
/// thread does at least one operation); one warm-up call first, not counted.
fn measure<F>(seconds: f64, threads: usize, op: F) -> anyhow::Result<Rate>
where
    F: Fn() -> anyhow::Result<()> + Sync,
{
    let threads = threads.max(1);
    op()?;
    let budget = Duration::from_secs_f64(seconds.max(0.0));
    let start = Instant::now();
    let deadline = start + budget;
    let counts: Vec<anyhow::Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<u64> {
                    let mut n = 0u64;
                    loop {
                        op()?;
                        n += 1;
                        if Instant::now() >= deadline {
                            return Ok(n);
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a benchmark thread panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut operations = 0;
    for c in counts {
        operations += c?;
    }
    let per_second = operations as f64 / elapsed;
    Ok(Rate {
        threads,
        operations,
        seconds: elapsed,
        per_second,
        per_thread_per_second: per_second / threads as f64,
    })
}

/// 1 thread, then `threads` threads when that is more.
fn thread_counts(threads: usize) -> Vec<usize> {
    if threads > 1 {
        vec![1, threads]
    } else {
        vec![1]
    }
}

fn measure_runs<F>(seconds: f64, threads: usize, op: F) -> anyhow::Result<Vec<Rate>>
where
    F: Fn() -> anyhow::Result<()> + Sync,
{
    thread_counts(threads)
        .into_iter()
        .map(|t| measure(seconds, t, &op))
        .collect()
}

/// Slices per measure in [`measure_alternating`].
const ALTERNATING_ROUNDS: u32 = 6;

/// Two measures taken in alternation, `ALTERNATING_ROUNDS` slices of each, so that a change in
/// the machine's load during the run weighs on both alike: their ratio is the figure that
/// matters, and measuring one after the other let a burst of load on a shared machine land on
/// one side only.
fn measure_alternating<A, B>(
    seconds: f64,
    threads: usize,
    a: A,
    b: B,
) -> anyhow::Result<(Rate, Rate)>
where
    A: Fn() -> anyhow::Result<()> + Sync,
    B: Fn() -> anyhow::Result<()> + Sync,
{
    let slice = seconds / f64::from(ALTERNATING_ROUNDS);
    let mut rates: (Vec<Rate>, Vec<Rate>) = (Vec::new(), Vec::new());
    for _ in 0..ALTERNATING_ROUNDS {
        rates.0.push(measure(slice, threads, &a)?);
        rates.1.push(measure(slice, threads, &b)?);
    }
    let total = |runs: &[Rate]| {
        let operations: u64 = runs.iter().map(|r| r.operations).sum();
        let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
        let per_second = operations as f64 / seconds;
        Rate {
            threads: threads.max(1),
            operations,
            seconds,
            per_second,
            per_thread_per_second: per_second / threads.max(1) as f64,
        }
    };
    Ok((total(&rates.0), total(&rates.1)))
}

/// Deterministic filler that looks like entropy-coded data (no `FF`, so no JPEG marker).
fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match (x >> 24) as u8 {
                0xFF => 0xFE,
                b => b,
            }
        })
        .collect()
}

/// A baseline JPEG of `size` bytes: SOI, APP0 (JFIF), SOF0 (480 × 360, 3 components), SOS,
/// scan data, EOI. Only the start-of-frame is read (the 19794-5 record states the size); the
/// scan data pads the file to an ID-card portrait's size.
fn face_jpeg(size: usize) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    j.extend_from_slice(b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00");
    j.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x01, 0x68, 0x03]);
    j.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    j.extend_from_slice(&[
        0xFF, 0xDA, 0x00, 0x0C, 0x03, 1, 0x00, 2, 0x11, 3, 0x11, 0x00, 0x3F, 0x00,
    ]);
    let pad = size.saturating_sub(j.len() + 2);
    j.extend(filler(pad, 0x5eed_face));
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

/// An ISO/IEC 19794-4 finger image record of `size` bytes: "FIR\0", version "010\0", then
/// image data.
fn finger_record(size: usize, seed: u64) -> Vec<u8> {
    let mut f = b"FIR\x00010\x00".to_vec();
    let pad = size.saturating_sub(f.len());
    f.extend(filler(pad, seed));
    f
}

fn sample_ref(id: &str, sample: &Sample) -> BiometricRef {
    BiometricRef {
        id: id.to_owned(),
        sha256: hex::encode(Sha256::digest(&sample.data)),
        format: sample.format.clone(),
        position: sample.position,
    }
}

/// The card holder: a Lao person with a card in production, and the captured samples.
struct Holder {
    profile: Profile,
    areas: AdminTree,
    person: Person,
    card: Card,
    face: Sample,
    fingerprints: Vec<Sample>,
    relatives: Relatives,
    office: String,
}

fn ten_digit_pin() -> anyhow::Result<Pin> {
    let body = "205719346";
    let check = thabian_model::pin::verhoeff_check_digit(body)
        .context("the Verhoeff check digit of the bench PIN")?;
    Ok(Pin::from_trusted(format!("{body}{check}")))
}

fn holder(today: NaiveDate) -> anyhow::Result<Holder> {
    let profile = thabian_model::profile::builtin("la")
        .context("no built-in profile la")?
        .map_err(|e| anyhow!("built-in profile la: {e}"))?;
    let areas = profile.admin_tree();
    let face = Sample {
        format: "image/jpeg".into(),
        position: None,
        data: face_jpeg(FACE_BYTES),
    };
    let fingerprints = vec![
        Sample {
            format: "iso-19794-4".into(),
            position: Some(1),
            data: finger_record(FINGER_BYTES, 1),
        },
        Sample {
            format: "iso-19794-4".into(),
            position: Some(6),
            data: finger_record(FINGER_BYTES, 6),
        },
    ];
    let date = |y, m, d| PartialDate::from_ymd(y, m, d).map_err(|e| anyhow!("{e}"));
    let expiry = NaiveDate::from_ymd_opt(today.year() + 10, today.month(), 1)
        .context("the card's expiry date")?;
    let card = Card {
        id: "0193a5c2-bench-card-0001".into(),
        number: "L00012345".into(),
        status: CardStatus::InProduction,
        reason: ApplicationReason::First,
        replaces: None,
        applied_by: "officer".into(),
        applied_on: PartialDate::from_ymd(
            today.year(),
            u8::try_from(today.month())?,
            u8::try_from(today.day())?,
        )
        .map_err(|e| anyhow!("{e}"))?,
        face: sample_ref("face-1", &face),
        fingerprints: vec![
            sample_ref("finger-1", &fingerprints[0]),
            sample_ref("finger-6", &fingerprints[1]),
        ],
        batch: Some("B-BENCH".into()),
        date_of_issue: Some(today),
        date_of_expiry: Some(expiry),
        document_signer: None,
        sod_sha256: None,
        status_reason: None,
    };
    let person = Person {
        pin: ten_digit_pin()?,
        names: Names {
            national: PersonName {
                family: Some("ພົມມະຈັນ".into()),
                middle: None,
                given: "ສົມສັກ".into(),
            },
            latin: None,
        },
        sex: Sex::Male,
        date_of_birth: date(1988, 2, 29)?,
        place_of_birth: "01".into(),
        nationalities: vec![profile.nationality_code.clone()],
        ethnicity: None,
        religion: None,
        father: ParentRef::Unknown,
        mother: ParentRef::Unknown,
        spouse: None,
        permanent_residence: Some(Residence {
            area: "01".into(),
            address_lines: vec!["ເຮືອນເລກທີ 45, ໜ່ວຍ 12".into(), "ບ້ານ ໂພນສະຫວັນ".into()],
            since: date(2010, 6, 1)?,
        }),
        temporary_residence: None,
        household: None,
        status: Status::Living,
        date_of_death: None,
        place_of_death: None,
        merged_into: None,
        merged_from: Vec::new(),
        cards: vec![card.clone()],
        version: 6,
    };
    Ok(Holder {
        profile,
        areas,
        person,
        card,
        face,
        fingerprints,
        relatives: Relatives::default(),
        office: "01".into(),
    })
}

/// The test PKI of one algorithm.
struct TestPki {
    csca: SoftwareSigner,
    csca_cert: Certificate,
    crl: CertificateList,
}

fn test_pki(algorithm: SignatureAlgorithm, now: DateTime<Utc>) -> anyhow::Result<TestPki> {
    let csca = SoftwareSigner::generate(algorithm)?;
    let csca_cert = issue_csca(
        &csca,
        &CscaRequest {
            country: "LA".into(),
            organization: "Ministry of Public Security".into(),
            common_name: "CSCA Lao PDR (bench)".into(),
            serial: None,
            not_before: now - TimeSpan::days(1),
            not_after: now + TimeSpan::days(5 * 365),
            private_key_usage_period: None,
        },
    )?;
    let crl = issue_crl(
        &csca,
        &csca_cert,
        &[],
        now - TimeSpan::hours(1),
        now + TimeSpan::days(30),
        1,
    )?;
    Ok(TestPki {
        csca,
        csca_cert,
        crl,
    })
}

fn document_signer(
    pki: &TestPki,
    key: &dyn Signer,
    name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Certificate> {
    Ok(issue_document_signer(
        &pki.csca,
        &pki.csca_cert,
        key.public_key(),
        &DsRequest {
            country: "LA".into(),
            organization: "Ministry of Public Security".into(),
            common_name: name.into(),
            serial: None,
            not_before: now - TimeSpan::days(1),
            not_after: now + TimeSpan::days(10 * 365 + 120),
            private_key_usage_period: Some((now - TimeSpan::days(1), now + TimeSpan::days(90))),
            document_types: vec!["ID".into()],
        },
    )?)
}

/// One card's chip side of personalisation: the LDS files, then EF.SOD over them.
fn personalise(
    h: &Holder,
    signing: &DsSigning,
    now: DateTime<Utc>,
) -> anyhow::Result<(ChipContent, Vec<u8>)> {
    let content = ChipContent::build(
        &h.profile,
        &h.areas,
        &h.person,
        &h.card,
        &h.face,
        &h.fingerprints,
        &h.relatives,
        &h.office,
        now,
    )
    .map_err(|e| anyhow!("chip content: {e}"))?;
    let groups: Vec<(u8, &[u8])> = content
        .data_groups
        .iter()
        .map(|(n, b)| (*n, b.as_slice()))
        .collect();
    let sod = signing.sod(&groups, now)?;
    Ok((content, sod))
}

/// Raw signing and personalisation with one DS key, their ratio, and where a personalisation's
/// time goes.
fn signing_measures(
    h: &Holder,
    signing: &Arc<DsSigning>,
    now: DateTime<Utc>,
    seconds: f64,
    threads: usize,
) -> anyhow::Result<Value> {
    let (_, sod) = personalise(h, signing, now)?;
    // The raw signature is over exactly what EF.SOD's signature covers.
    let signed_attrs = Sod::from_file(&sod)
        .map_err(|e| anyhow!("reading back EF.SOD: {e}"))?
        .signed_attributes_to_verify()
        .into_iter()
        .next()
        .context("EF.SOD has no signed attributes")?;
    let (raw, personalised): (Vec<Rate>, Vec<Rate>) = thread_counts(threads)
        .into_iter()
        .map(|t| {
            measure_alternating(
                seconds,
                t,
                || {
                    black_box(signing.signer.sign(black_box(&signed_attrs))?);
                    Ok(())
                },
                || {
                    black_box(personalise(h, signing, now)?);
                    Ok(())
                },
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    // Where the time of one personalisation goes (1 thread each).
    let content = ChipContent::build(
        &h.profile,
        &h.areas,
        &h.person,
        &h.card,
        &h.face,
        &h.fingerprints,
        &h.relatives,
        &h.office,
        now,
    )
    .map_err(|e| anyhow!("chip content: {e}"))?;
    let groups: Vec<(u8, &[u8])> = content
        .data_groups
        .iter()
        .map(|(n, b)| (*n, b.as_slice()))
        .collect();
    let chip_content = measure(seconds, 1, || {
        black_box(
            ChipContent::build(
                &h.profile,
                &h.areas,
                &h.person,
                &h.card,
                &h.face,
                &h.fingerprints,
                &h.relatives,
                &h.office,
                now,
            )
            .map_err(|e| anyhow!("chip content: {e}"))?,
        );
        Ok(())
    })?;
    let lso_of = || {
        lso::build(signing.hash, &groups, Some(LdsVersionInfo::lds_1_7()?))
            .map_err(|e| anyhow!("the LDS security object: {e}"))
    };
    let lso_build = measure(seconds, 1, || {
        black_box(lso_of()?);
        Ok(())
    })?;
    let lso = lso_of()?;
    let sod_sign = measure(seconds, 1, || {
        black_box(signing.sign_lso(&lso, now)?);
        Ok(())
    })?;
    let ratios: Vec<Value> = raw
        .iter()
        .zip(&personalised)
        .map(|(r, p)| {
            let ratio = p.per_second / r.per_second;
            json!({
                "threads": r.threads,
                "ratio": ratio,
                "target": PERSONALISATION_RATIO_TARGET,
                "met": ratio >= PERSONALISATION_RATIO_TARGET,
            })
        })
        .collect();
    Ok(json!({
        "signed_attributes_bytes": signed_attrs.len(),
        "raw_sign": raw,
        "personalised": personalised,
        "personalised_over_raw_sign": ratios,
        "personalisation_profile": {
            "note": "one thread each",
            "chip_content_build": chip_content,
            "lso_build_with_hashing": lso_build,
            "build_sod_cms_signing": sod_sign,
        },
    }))
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn algorithm_name(a: SignatureAlgorithm) -> &'static str {
    match a {
        SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-with-SHA256, P-256",
        SignatureAlgorithm::EcdsaP384Sha384 => "ecdsa-with-SHA384, P-384",
        SignatureAlgorithm::RsaPssSha256 => "RSASSA-PSS SHA-256",
    }
}

/// Everything measured for one algorithm with software keys; also returns the test PKI for the
/// token measures.
fn algorithm_phase(
    algorithm: SignatureAlgorithm,
    h: &Holder,
    now: DateTime<Utc>,
    seconds: f64,
    threads: usize,
    targets: &mut Vec<Value>,
    key: &str,
) -> anyhow::Result<(Value, TestPki)> {
    let pki = test_pki(algorithm, now)?;
    let ds_key = SoftwareSigner::generate(algorithm)?;
    let ds_cert = document_signer(&pki, &ds_key, "Document Signer LA (bench)", now)?;
    let signing = Arc::new(DsSigning::new(Box::new(ds_key), ds_cert.clone())?);
    let lso_hash = signing.hash;

    let mut signing_report = signing_measures(h, &signing, now, seconds, threads)?;
    for r in signing_report["personalised_over_raw_sign"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        targets.push(json!({
            "name": "cards personalised per second / raw ECDSA signatures per second",
            "algorithm": key,
            "threads": r["threads"],
            "value": r["ratio"],
            "target": format!(">= {PERSONALISATION_RATIO_TARGET}"),
            "met": r["met"],
        }));
    }

    // The package a verifier reads.
    let (content, ef_sod) = personalise(h, &signing, now)?;
    let printed_mrz = content.mrz.join("\n");
    let doc = Document {
        ef_sod: &ef_sod,
        data_groups: content
            .data_groups
            .iter()
            .map(|(n, b)| (*n, b.as_slice()))
            .collect(),
        ef_com: Some(&content.ef_com),
        printed_mrz: Some(&printed_mrz),
    };
    // As a verifier holds them: decoded from their octets, which the signatures are checked over.
    let trust = TrustStore {
        cscas: vec![thabian_pki::EncodedCertificate::from_der(
            &thabian_pki::cert::certificate_to_der(&pki.csca_cert)?,
        )?],
        crls: vec![thabian_pki::EncodedCrl::from_der(
            &thabian_pki::crl::crl_to_der(&pki.crl)?,
        )?],
    };
    let uncached_options = PaOptions {
        require_crl: true,
        ..PaOptions::default()
    };
    // A border or bank verifier reads thousands of cards signed by a few Document Signers: it
    // keeps the validated DS paths of its trust store (per-document checks are never cached).
    let cache = Arc::new(PathCache::new(trust.clone()));
    let options = PaOptions {
        path_cache: Some(Arc::clone(&cache)),
        ..uncached_options.clone()
    };
    let trust = cache.trust_store();
    let at = now + TimeSpan::minutes(1);
    let first = pa::passive_authentication(&doc, trust, at, &options);
    if !first.passed() {
        bail!("passive authentication of the bench package failed:\n{first}");
    }
    let warnings: Vec<String> = first
        .with_outcome(Outcome::Warning)
        .iter()
        .map(|c| format!("{}: {}", c.id, c.detail))
        .collect();
    let uncached_report = pa::passive_authentication(&doc, trust, at, &uncached_options);
    let cached_report = pa::passive_authentication(&doc, trust, at, &options);
    if uncached_report != first || cached_report != first || cache.hits() == 0 {
        bail!("passive authentication with the path cache differs from without:\n{first}\n{uncached_report}");
    }
    let pa_runs = measure_runs(seconds, threads, || {
        let report = pa::passive_authentication(&doc, trust, at, &options);
        if !report.passed() {
            bail!("passive authentication failed during the measure:\n{report}");
        }
        black_box(report);
        Ok(())
    })?;
    let pa_runs_uncached = measure_runs(seconds, threads, || {
        let report = pa::passive_authentication(&doc, trust, at, &uncached_options);
        if !report.passed() {
            bail!("passive authentication failed during the measure:\n{report}");
        }
        black_box(report);
        Ok(())
    })?;
    let cores = cores();
    let per_core: Vec<Value> = pa_runs
        .iter()
        .map(|r| {
            let per_core = r.per_second / r.threads.min(cores) as f64;
            targets.push(json!({
                "name": "passive authentications per second per core",
                "algorithm": key,
                "threads": r.threads,
                "value": per_core,
                "target": format!(">= {PA_PER_CORE_TARGET}"),
                "met": per_core >= PA_PER_CORE_TARGET,
            }));
            json!({"threads": r.threads, "per_core_per_second": per_core})
        })
        .collect();
    let per_core_uncached: Vec<Value> = pa_runs_uncached
        .iter()
        .map(|r| {
            let per_core = r.per_second / r.threads.min(cores) as f64;
            json!({"threads": r.threads, "per_core_per_second": per_core})
        })
        .collect();

    // Where the time of one passive authentication goes (1 thread each).
    let sod = Sod::from_file(&ef_sod).map_err(|e| anyhow!("EF.SOD: {e}"))?;
    let si = sod
        .signer_info()
        .context("EF.SOD has no single SignerInfo")?;
    let signed_attrs = sod
        .signed_attributes_to_verify()
        .into_iter()
        .next()
        .context("EF.SOD has no signed attributes")?;
    let spki = &ds_cert.tbs_certificate.subject_public_key_info;
    let verify = measure(seconds, 1, || {
        thabian_pki::verify_signature(
            spki,
            &si.signature_algorithm,
            &signed_attrs,
            si.signature.as_bytes(),
        )?;
        Ok(())
    })?;
    let ds_received = thabian_pki::EncodedCertificate::from_der(
        &thabian_pki::cert::certificate_to_der(&ds_cert)?,
    )?;
    let path = measure(seconds, 1, || {
        black_box(thabian_pki::path::validate_document_signer(
            &ds_received,
            &trust.cscas,
            &trust.crls,
            at,
        )?);
        Ok(())
    })?;
    let cms = measure(seconds, 1, || {
        black_box(thabian_pki::cms::verify_signed_data(
            &ef_sod,
            &ID_LDS_SECURITY_OBJECT,
            &[],
        )?);
        Ok(())
    })?;
    let parse = measure(seconds, 1, || {
        let sod = Sod::from_file(&ef_sod).map_err(|e| anyhow!("{e}"))?;
        black_box(sod.lds_security_object().map_err(|e| anyhow!("{e}"))?);
        Ok(())
    })?;
    let hashing = measure(seconds, 1, || {
        for (_, file) in &doc.data_groups {
            black_box(lso_hash.digest(file));
        }
        Ok(())
    })?;
    // Not passive authentication: the per-document work left when the DS path is already
    // validated (SOD signature and messageDigest, LSO, every data-group hash).
    let without_path = measure(seconds, 1, || {
        thabian_pki::cms::verify_signed_data(&ef_sod, &ID_LDS_SECURITY_OBJECT, &[])?;
        let lso = Sod::from_file(&ef_sod)
            .and_then(|s| s.lds_security_object())
            .map_err(|e| anyhow!("{e}"))?;
        for (n, file) in &doc.data_groups {
            if lso.matches(*n, file) != Some(true) {
                bail!("DG{n} does not match its hash");
            }
        }
        Ok(())
    })?;
    let pa_one = pa_runs.first().map(|r| r.per_second).unwrap_or(0.0);

    let sizes: serde_json::Map<String, Value> =
        std::iter::once(("EF.COM".to_owned(), json!(content.ef_com.len())))
            .chain(
                content
                    .data_groups
                    .iter()
                    .map(|(n, b)| (format!("DG{n}"), json!(b.len()))),
            )
            .chain(std::iter::once(("EF.SOD".to_owned(), json!(ef_sod.len()))))
            .collect();
    let total: usize = content.ef_com.len()
        + ef_sod.len()
        + content
            .data_groups
            .iter()
            .map(|(_, b)| b.len())
            .sum::<usize>();
    let obj = signing_report
        .as_object_mut()
        .context("the signing report is an object")?;
    obj.insert(
        "signature_algorithm".into(),
        json!(algorithm_name(algorithm)),
    );
    obj.insert("lso_hash".into(), json!(format!("{lso_hash:?}")));
    obj.insert("key_store".into(), json!("software (SoftwareSigner)"));
    obj.insert(
        "package".into(),
        json!({"file_bytes": sizes, "total_bytes": total}),
    );
    obj.insert(
        "passive_authentication".into(),
        json!({
            "runs": pa_runs,
            "per_core": per_core,
            "path_cache": "a PathCache of the trust store (validated DS paths reused; per-document checks never cached)",
            "runs_without_path_cache": pa_runs_uncached,
            "per_core_without_path_cache": per_core_uncached,
            "cores": cores,
            "target_per_core": PA_PER_CORE_TARGET,
            "met_on_one_thread": pa_one >= PA_PER_CORE_TARGET,
            "options": "require_crl; trust store: the CSCA certificate and its CRL",
            "warnings": warnings,
        }),
    );
    obj.insert(
        "pa_profile".into(),
        json!({
            "note": "one thread each; document_checks_without_path is not passive authentication: it is the per-document work left to a verifier that caches a validated DS path",
            "ecdsa_verify": verify,
            "ds_path_validation_with_crl": path,
            "cms_verify_signed_data": cms,
            "sod_and_lso_parse": parse,
            "data_group_hashing": hashing,
            "document_checks_without_path": without_path,
            "pa_cost_in_ecdsa_verifies": if pa_one > 0.0 { verify.per_second / pa_one } else { 0.0 },
        }),
    );
    Ok((signing_report, pki))
}

/// Raw signing and personalisation with the DS key in a temporary SoftHSM2 token; `skipped`
/// with the reason when that is not possible.
fn softhsm_phase(
    pkis: &[(&str, SignatureAlgorithm, &TestPki)],
    h: &Holder,
    now: DateTime<Utc>,
    seconds: f64,
    threads: usize,
) -> Value {
    let module = Path::new(SOFTHSM_MODULE);
    if !module.exists() {
        return json!({"skipped": format!("{SOFTHSM_MODULE} is not installed")});
    }
    match softhsm_measures(module, pkis, h, now, seconds, threads) {
        Ok(v) => v,
        Err(e) => json!({"skipped": format!("{e:#}")}),
    }
}

fn softhsm_measures(
    module: &Path,
    pkis: &[(&str, SignatureAlgorithm, &TestPki)],
    h: &Holder,
    now: DateTime<Utc>,
    seconds: f64,
    threads: usize,
) -> anyhow::Result<Value> {
    use thabian_pki::{PassphraseSource, Pkcs11Signer};
    const TOKEN: &str = "thabian-bench";
    let dir = tempfile::tempdir()?;
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens)?;
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )?;
    // SoftHSM2 reads its configuration once, when the module is initialised in this process:
    // if something loaded it before, the token below is not found and the measure is skipped.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let init = std::process::Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            "bench-so-pin",
            "--pin",
            "bench-user-pin",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .context("running softhsm2-util")?;
    if !init.status.success() {
        bail!(
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&init.stderr).trim()
        );
    }
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, "bench-user-pin\n")?;
    let pin = PassphraseSource::File(pin_file);
    let mut out = serde_json::Map::new();
    for (key, algorithm, pki) in pkis {
        let signer =
            Pkcs11Signer::generate_key_pair(module, TOKEN, &pin, &format!("ds-{key}"), *algorithm)?;
        let cert = document_signer(pki, &signer, "Document Signer LA (bench, SoftHSM2)", now)?;
        let signing = Arc::new(DsSigning::new(Box::new(signer), cert)?);
        let mut report = signing_measures(h, &signing, now, seconds, threads)?;
        if let Some(o) = report.as_object_mut() {
            o.insert(
                "key_store".into(),
                json!("SoftHSM2 token (Pkcs11Signer: one session behind a mutex)"),
            );
        }
        out.insert((*key).to_owned(), report);
    }
    Ok(Value::Object(out))
}

/// One flat row per thread count of an algorithm's report, for a summary table:
/// `raw_sign_per_second`, `personalised_per_second`, `ratio`, and with software keys
/// `pa_per_second` and `pa_per_second_per_core` (with a [`PathCache`], the realistic verifier
/// setting) and `pa_per_second_per_core_without_path_cache`.
fn summary_rows(key_store: &str, algorithm: &str, report: &Value) -> Vec<Value> {
    let runs = |field: &str| report[field].as_array().cloned().unwrap_or_default();
    let (raw, personalised) = (runs("raw_sign"), runs("personalised"));
    let ratios = runs("personalised_over_raw_sign");
    let pa = report["passive_authentication"]["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let per_core = report["passive_authentication"]["per_core"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let per_core_uncached = report["passive_authentication"]["per_core_without_path_cache"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "key_store": key_store,
                "algorithm": algorithm,
                "threads": r["threads"],
                "raw_sign_per_second": r["per_second"],
                "personalised_per_second": personalised.get(i).map(|p| p["per_second"].clone()),
                "ratio": ratios.get(i).map(|p| p["ratio"].clone()),
                "pa_per_second": pa.get(i).map(|p| p["per_second"].clone()),
                "pa_per_second_per_core": per_core.get(i).map(|p| p["per_core_per_second"].clone()),
                "pa_per_second_per_core_without_path_cache": per_core_uncached.get(i).map(|p| p["per_core_per_second"].clone()),
            })
        })
        .collect()
}

/// The `cards` phase: see the module documentation. `seconds_per_measure` is the wall time of
/// each measure (about 44 measures with SoftHSM2, 30 without); `threads` the second thread
/// count measured (after 1). Blocking and CPU-bound (it runs its own threads): from async code,
/// call it in `spawn_blocking`. `summary` holds one flat row per key store, algorithm and
/// thread count; `targets` one row per target, algorithm and thread count.
pub fn cards_phase(seconds_per_measure: f64, threads: usize) -> anyhow::Result<Value> {
    let started = Instant::now();
    let threads = threads.max(1);
    let now = Utc::now();
    let h = holder(now.date_naive())?;
    let mut targets = Vec::new();
    let mut algorithms = serde_json::Map::new();
    let mut pkis = Vec::new();
    for (key, algorithm) in [
        ("p256", SignatureAlgorithm::EcdsaP256Sha256),
        ("p384", SignatureAlgorithm::EcdsaP384Sha384),
    ] {
        let (report, pki) = algorithm_phase(
            algorithm,
            &h,
            now,
            seconds_per_measure,
            threads,
            &mut targets,
            key,
        )
        .with_context(|| format!("cards phase, {key}"))?;
        algorithms.insert(key.to_owned(), report);
        pkis.push((key, algorithm, pki));
    }
    let pki_refs: Vec<(&str, SignatureAlgorithm, &TestPki)> =
        pkis.iter().map(|(k, a, p)| (*k, *a, p)).collect();
    let softhsm = softhsm_phase(&pki_refs, &h, now, seconds_per_measure, threads);
    let mut summary = Vec::new();
    for (store, reports) in [
        ("software", Some(&algorithms)),
        ("softhsm", softhsm.as_object()),
    ] {
        for (key, report) in reports.into_iter().flatten() {
            summary.extend(summary_rows(store, key, report));
        }
    }
    Ok(json!({
        "summary": summary,
        "algorithms": algorithms,
        "softhsm": softhsm,
        "threads": threads,
        "cores": cores(),
        "seconds_per_measure": seconds_per_measure,
        "targets": targets,
        "duration_seconds": started.elapsed().as_secs_f64(),
        "workload": {
            "holder": "Lao profile, national name romanized for the MRZ, no DG13",
            "face_bytes": h.face.data.len(),
            "fingerprint_bytes": h.fingerprints.iter().map(|f| f.data.len()).collect::<Vec<_>>(),
            "personalisation": "ChipContent::build + DsSigning::sod (LSO over DG1, DG2, DG3, DG11, DG12; CMS SignedData)",
            "raw_sign": "Signer::sign over the DER of the EF.SOD signed attributes",
        },
    }))
}
