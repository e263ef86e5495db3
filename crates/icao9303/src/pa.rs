//! Passive authentication (Doc 9303 Part 11 §5), with a step-by-step report.
//!
//! [`passive_authentication`] never stops at the first problem: every step appends a [`Check`]
//! to the [`Report`], so that a verifier sees *which* part of a document is wrong. Steps:
//!
//! | check id | what |
//! |---|---|
//! | `sod_parse` | strip `77`, parse the SignedData, eContentType is the LDS security object, one SignerInfo |
//! | `ds_certificate` | the Document Signer certificate, embedded or among [`PaOptions::extra_certificates`], by signer identifier |
//! | `ds_profile` | the DS against its Doc 9303 Part 12 profile (errors fail, deviations warn) |
//! | `ds_chain` | a trusted CSCA (or a link certificate a trusted CSCA issued) signed the DS |
//! | `ds_validity` | DS, CSCA (and link issuer) valid at the verification time |
//! | `ds_revocation` | the DS is not on the issuing CSCA's newest valid CRL |
//! | `ds_key_usage_period` | EF.SOD's signingTime lies in the DS privateKeyUsagePeriod (skipped when either is absent) |
//! | `sod_signature` | the SignerInfo signature over the signed attributes (and contentType) |
//! | `message_digest` | messageDigest equals the hash of the eContent |
//! | `lds_security_object` | the LDSSecurityObject parses and follows the rules of Part 10 |
//! | `dgN_hash` | one per data group listed or read: the file hashes to the stored value |
//! | `ef_com` | EF.COM's tag list names the groups of the LSO (unsigned: mismatch warns) |
//! | `mrz_check_digits` | DG1 parses as TD1 and every check digit holds |
//! | `dg1_matches_printed_mrz` | DG1 equals the MRZ read from the card's face |
//!
//! [`thabian_pki::path::validate_document_signer`] and [`thabian_pki::cms::verify_signed_data`]
//! are the source of truth: when they accept, their result (issuer, CRL, verified signature) is
//! used and no signature is verified twice; when they reject, each step is computed here so that
//! every check shows, and their error fails the check it is about, so the report is never more
//! lenient than the PKI crate. A [`PathCache`] in [`PaOptions`] reuses the Document Signer path
//! checks across documents (never the per-document checks).
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use thabian_pki::cert::{
    check_profile, private_key_usage_period, serial_hex, validity, ProfileKind, Severity,
};
use thabian_pki::cms::{verify_decoded_signed_data, CmsError};
use thabian_pki::crl::{crl_times, is_revoked, verify_crl};
use thabian_pki::encoded::{EncodedCertificate, EncodedCrl};
use thabian_pki::masterlist::{parse_master_list, MasterListError};
use thabian_pki::path::{
    validate_document_signer, CertRole, IssuerMatch as Issuer, PathError, PathWarning,
};
use thiserror::Error;
use x509_cert::Certificate;

use crate::lds::{DataGroup, Dg1, Dg11, EfCom};
use crate::lso::{HashAlgorithm, LdsSecurityObject, ID_LDS_SECURITY_OBJECT};
use crate::mrz::CheckField;
use crate::sod::Sod;

// ---------------------------------------------------------------------------------------------
// Trust store

/// Errors loading a trust store.
#[derive(Debug, Error)]
pub enum TrustError {
    /// The master list did not verify.
    #[error("master list: {0}")]
    MasterList(#[from] MasterListError),
    /// A certificate file did not parse.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A CRL file did not parse.
    #[error("CRL: {0}")]
    Crl(String),
}

/// The CSCA certificates (self-signed and link) a verifier trusts, and the CSCAs' CRLs, each
/// with the octets it was read as: signatures are verified over those (see
/// [`thabian_pki::encoded`]).
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    /// Self-signed CSCA certificates and link certificates.
    pub cscas: Vec<EncodedCertificate>,
    /// CRLs of the CSCAs (each is checked against its CSCA before use).
    pub crls: Vec<EncodedCrl>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding the CSCAs of a master list, verified with
    /// [`thabian_pki::masterlist::parse_master_list`]: its signer must chain to one of
    /// `trust_anchors` (when empty, to a CSCA of the list itself: a self-consistency check
    /// only) and be valid at `at`.
    pub fn from_master_list(
        der: &[u8],
        trust_anchors: &[EncodedCertificate],
        at: DateTime<Utc>,
    ) -> Result<Self, TrustError> {
        let mut store = Self::new();
        store.add_master_list(der, trust_anchors, at)?;
        Ok(store)
    }

    /// Verifies a master list and adds its CSCAs; returns how many were new.
    pub fn add_master_list(
        &mut self,
        der: &[u8],
        trust_anchors: &[EncodedCertificate],
        at: DateTime<Utc>,
    ) -> Result<usize, TrustError> {
        let list = parse_master_list(der, trust_anchors, Some(at))?;
        Ok(list
            .certificates
            .into_iter()
            .filter(|c| self.add_certificate(c.clone()))
            .count())
    }

    /// Adds a CSCA or link certificate; false when it was already there. A plain
    /// `Certificate` has no received octets and is verified over its DER: pass certificates
    /// read from outside as [`EncodedCertificate`]s.
    pub fn add_certificate(&mut self, cert: impl Into<EncodedCertificate>) -> bool {
        let cert = cert.into();
        if self.cscas.contains(&cert) {
            return false;
        }
        self.cscas.push(cert);
        true
    }

    /// Adds the certificates of a PEM (one or more `CERTIFICATE` blocks) or DER file; returns
    /// how many were new.
    pub fn add_certificates(&mut self, bytes: &[u8]) -> Result<usize, TrustError> {
        Ok(certificates_from_bytes(bytes)?
            .into_iter()
            .filter(|c| self.add_certificate(c.clone()))
            .count())
    }

    /// Adds the CRLs of a PEM (one or more `X509 CRL` blocks) or DER file; returns how many.
    pub fn add_crls(&mut self, bytes: &[u8]) -> Result<usize, TrustError> {
        let crls = crls_from_bytes(bytes)?;
        let n = crls.len();
        for crl in crls {
            if !self.crls.contains(&crl) {
                self.crls.push(crl);
            }
        }
        Ok(n)
    }
}

/// The `-----BEGIN label-----` … `-----END label-----` blocks of a PEM text, with their labels.
fn pem_blocks(text: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or("unterminated PEM header")?;
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let end = rest[start..]
            .find(&end_marker)
            .ok_or_else(|| format!("PEM block {label} without its END line"))?;
        let block_end = start + end + end_marker.len();
        out.push((label, &rest[start..block_end]));
        rest = &rest[block_end..];
    }
    Ok(out)
}

fn as_pem(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.trim_start().starts_with("-----BEGIN ").then_some(text)
}

/// Certificates from a PEM file (one or more `CERTIFICATE` blocks) or one DER certificate.
pub fn certificates_from_bytes(bytes: &[u8]) -> Result<Vec<EncodedCertificate>, TrustError> {
    let err = |e: String| TrustError::Certificate(e);
    match as_pem(bytes) {
        None => EncodedCertificate::from_der(bytes)
            .map(|c| vec![c])
            .map_err(|e| err(e.to_string())),
        Some(text) => pem_blocks(text)
            .map_err(err)?
            .into_iter()
            .map(|(label, block)| {
                if label != "CERTIFICATE" {
                    return Err(err(format!("PEM block {label}, expected CERTIFICATE")));
                }
                EncodedCertificate::from_pem(block).map_err(|e| err(e.to_string()))
            })
            .collect(),
    }
}

/// CRLs from a PEM file (one or more `X509 CRL` blocks) or one DER CRL.
pub fn crls_from_bytes(bytes: &[u8]) -> Result<Vec<EncodedCrl>, TrustError> {
    let err = |e: String| TrustError::Crl(e);
    match as_pem(bytes) {
        None => EncodedCrl::from_der(bytes)
            .map(|c| vec![c])
            .map_err(|e| err(e.to_string())),
        Some(text) => pem_blocks(text)
            .map_err(err)?
            .into_iter()
            .map(|(_, block)| EncodedCrl::from_pem(block).map_err(|e| err(e.to_string())))
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Input and options

/// What was read from a card.
#[derive(Debug, Clone, Default)]
pub struct Document<'a> {
    /// EF.SOD as read (tag `77` …).
    pub ef_sod: &'a [u8],
    /// `(number, whole file)` for every data group read.
    pub data_groups: Vec<(u8, &'a [u8])>,
    /// EF.COM, if read.
    pub ef_com: Option<&'a [u8]>,
    /// The MRZ read optically from the card's face (line breaks allowed).
    pub printed_mrz: Option<&'a str>,
}

/// How strict passive authentication is.
#[derive(Debug, Clone, Default)]
pub struct PaOptions {
    /// No valid CRL of the issuing CSCA (or only an expired one) fails `ds_revocation`
    /// instead of warning.
    pub require_crl: bool,
    /// A data group listed in the LSO but not supplied warns instead of failing (a reader
    /// without Extended Access Control cannot read DG3).
    pub allow_missing_groups: bool,
    /// Document Signer certificates to look for by signer identifier when EF.SOD does not
    /// embed its own (with the octets they were read as).
    pub extra_certificates: Vec<EncodedCertificate>,
    /// Validated Document Signer paths to reuse; used only when the trust store passed to
    /// [`passive_authentication`] is the cache's own (see [`PathCache`]).
    pub path_cache: Option<Arc<PathCache>>,
}

/// The outcomes of the Document Signer path checks (`ds_profile`, `ds_chain`, `ds_validity`,
/// `ds_revocation` and the CSCA of the summary), kept per DS certificate so that a verifier
/// reading thousands of documents signed by a few Document Signers verifies each path once.
///
/// * A cache belongs to **one immutable trust store**, given at construction. It serves a call
///   of [`passive_authentication`] only when the trust store passed is that store (the same
///   object, [`PathCache::trust_store`], which is a pointer comparison, or equal contents); any
///   other store is verified without the cache. A new CRL means a new store, so a new cache.
/// * The key is the SHA-256 of the DS certificate's octets as received (two encodings of one
///   parsed certificate are two keys: only one of them may carry a valid signature) and
///   [`PaOptions::require_crl`].
/// * An entry holds for a time window: from the latest notBefore to the earliest notAfter of the
///   DS, the CSCA and the link's issuer, and the CRL's nextUpdate (or from just after the
///   nextUpdate when the CRL had already expired). It is stored only when the verification time
///   is inside that window and used only for times inside it, where every time comparison of
///   the checks gives the same answer: a cached report is identical to an uncached one.
/// * Failed paths are cached too, under the same rule (they fail the same way inside the window).
/// * Per-document checks (EF.SOD signature, messageDigest, LDS security object, data-group
///   hashes, EF.COM, MRZ) are never cached.
/// * Bounded: when full, entries whose window ended before the verification time are dropped,
///   and if that is not enough the cache is emptied (simple, and cheap to refill).
pub struct PathCache {
    trust: TrustStore,
    capacity: usize,
    entries: Mutex<HashMap<PathKey, PathOutcome>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// SHA-256 of the DS certificate's octets, and `require_crl`.
type PathKey = ([u8; 32], bool);

impl PathCache {
    /// Default bound on the number of entries.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A cache for `trust`, holding at most [`Self::DEFAULT_CAPACITY`] entries.
    pub fn new(trust: TrustStore) -> Self {
        Self::with_capacity(trust, Self::DEFAULT_CAPACITY)
    }

    /// A cache for `trust`, holding at most `capacity` entries (at least one).
    pub fn with_capacity(trust: TrustStore, capacity: usize) -> Self {
        Self {
            trust,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The trust store this cache belongs to: pass it to [`passive_authentication`].
    pub fn trust_store(&self) -> &TrustStore {
        &self.trust
    }

    /// How many paths are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no path is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that had to validate the path.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathKey, PathOutcome>> {
        // An entry is inserted whole, so a panic elsewhere cannot leave one half-written.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn serves(&self, trust: &TrustStore) -> bool {
        std::ptr::eq(trust, &self.trust)
            || (trust.cscas == self.trust.cscas && trust.crls == self.trust.crls)
    }

    fn outcome(
        &self,
        ds: &EncodedCertificate,
        trust: &TrustStore,
        at: DateTime<Utc>,
        options: &PaOptions,
    ) -> PathOutcome {
        let Ok(der) = ds.der() else {
            return path_outcome(ds, trust, at, options);
        };
        let key: PathKey = (Sha256::digest(&der).into(), options.require_crl);
        if let Some(hit) = self.lock().get(&key).filter(|o| o.window.contains(at)) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return hit.clone();
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // Computed without the lock: other threads keep verifying meanwhile.
        let outcome = path_outcome(ds, trust, at, options);
        if outcome.window.contains(at) {
            let mut entries = self.lock();
            if entries.len() >= self.capacity && !entries.contains_key(&key) {
                entries.retain(|_, o| o.window.to >= at);
                if entries.len() >= self.capacity {
                    entries.clear();
                }
            }
            entries.insert(key, outcome.clone());
        }
        outcome
    }
}

impl fmt::Debug for PathCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PathCache")
            .field("cscas", &self.trust.cscas.len())
            .field("crls", &self.trust.crls.len())
            .field("entries", &self.len())
            .field("capacity", &self.capacity)
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Report

/// The identifier of a check; serializes as a stable snake_case string (`ds_chain`,
/// `dg2_hash` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckId {
    SodParse,
    DsCertificate,
    DsProfile,
    DsChain,
    DsValidity,
    DsRevocation,
    DsKeyUsagePeriod,
    SodSignature,
    MessageDigest,
    LdsSecurityObject,
    /// The hash of data group N (`dgN_hash`).
    DgHash(u8),
    EfCom,
    MrzCheckDigits,
    Dg1MatchesPrintedMrz,
}

impl CheckId {
    /// The stable name, as shown in CLI and JSON output.
    pub fn as_str(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            CheckId::SodParse => "sod_parse",
            CheckId::DsCertificate => "ds_certificate",
            CheckId::DsProfile => "ds_profile",
            CheckId::DsChain => "ds_chain",
            CheckId::DsValidity => "ds_validity",
            CheckId::DsRevocation => "ds_revocation",
            CheckId::DsKeyUsagePeriod => "ds_key_usage_period",
            CheckId::SodSignature => "sod_signature",
            CheckId::MessageDigest => "message_digest",
            CheckId::LdsSecurityObject => "lds_security_object",
            CheckId::DgHash(n) => return Cow::Owned(format!("dg{n}_hash")),
            CheckId::EfCom => "ef_com",
            CheckId::MrzCheckDigits => "mrz_check_digits",
            CheckId::Dg1MatchesPrintedMrz => "dg1_matches_printed_mrz",
        })
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// Passed with a finding a verifier should see (profile deviation, no CRL …).
    Warning,
    /// Not applicable, or not possible because an earlier step failed.
    Skipped,
}

impl Outcome {
    /// `PASS`, `FAIL`, `WARN` or `SKIP`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "PASS",
            Outcome::Failed => "FAIL",
            Outcome::Warning => "WARN",
            Outcome::Skipped => "SKIP",
        }
    }
}

/// One step of passive authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: CheckId,
    /// The outcome (serialized as `outcome`).
    #[serde(rename = "outcome")]
    pub passed: Outcome,
    /// What was checked and found, in words.
    pub detail: String,
}

/// A certificate as a verifier sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertSummary {
    /// RFC 4514 string.
    pub subject: String,
    pub issuer: String,
    /// Upper-case hex.
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// The signature algorithm OID.
    pub signature_algorithm: String,
    /// The public key algorithm OID.
    pub public_key_algorithm: String,
}

impl CertSummary {
    /// Summarises a certificate.
    pub fn of(cert: &Certificate) -> Self {
        let tbs = &cert.tbs_certificate;
        let (not_before, not_after) = validity(cert);
        Self {
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            serial: serial_hex(&tbs.serial_number),
            not_before,
            not_after,
            signature_algorithm: cert.signature_algorithm.oid.to_string(),
            public_key_algorithm: tbs.subject_public_key_info.algorithm.oid.to_string(),
        }
    }
}

/// The fields of DG1's TD1 MRZ, names in MRZ form (`ANNA<MARIA`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MrzSummary {
    pub document_code: String,
    pub issuing_state: String,
    pub document_number: String,
    /// `YYMMDD`.
    pub date_of_birth: String,
    /// `M`, `F` or `<`.
    pub sex: String,
    /// `YYMMDD`, `None` for `<<<<<<`.
    pub date_of_expiry: Option<String>,
    pub nationality: String,
    pub optional_data_1: String,
    pub optional_data_2: String,
    pub primary_identifier: String,
    pub secondary_identifier: String,
    /// The three lines.
    pub lines: Vec<String>,
}

/// The fields of DG11 (proof of citizenship as its size only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dg11Summary {
    pub full_name: Option<String>,
    pub other_names: Vec<String>,
    pub personal_number: Option<String>,
    pub full_date_of_birth: Option<String>,
    pub place_of_birth: Option<String>,
    pub address: Option<String>,
    pub telephone: Option<String>,
    pub profession: Option<String>,
    pub title: Option<String>,
    pub personal_summary: Option<String>,
    /// Size in bytes of the proof-of-citizenship image.
    pub proof_of_citizenship_len: Option<usize>,
    pub other_td_numbers: Option<String>,
    pub custody_information: Option<String>,
}

impl From<Dg11> for Dg11Summary {
    fn from(d: Dg11) -> Self {
        Self {
            full_name: d.full_name,
            other_names: d.other_names,
            personal_number: d.personal_number,
            full_date_of_birth: d.full_date_of_birth,
            place_of_birth: d.place_of_birth,
            address: d.address,
            telephone: d.telephone,
            profession: d.profession,
            title: d.title,
            personal_summary: d.personal_summary,
            proof_of_citizenship_len: d.proof_of_citizenship.map(|p| p.len()),
            other_td_numbers: d.other_td_numbers,
            custody_information: d.custody_information,
        }
    }
}

/// What the verified document says: shown next to the checks, and authentic only as far as
/// the checks passed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DocumentSummary {
    /// DG1's MRZ, when DG1 was read and parses as TD1.
    pub mrz: Option<MrzSummary>,
    /// DG11, when read and decodable.
    pub dg11: Option<Dg11Summary>,
    /// The Document Signer certificate.
    pub document_signer: Option<CertSummary>,
    /// The CSCA certificate that signed the Document Signer (self-signed or link).
    pub csca: Option<CertSummary>,
    /// The signingTime attribute of EF.SOD.
    pub signing_time: Option<DateTime<Utc>>,
    /// The LSO's hash algorithm (`Sha256` …).
    pub lds_hash_algorithm: Option<String>,
    /// The data groups the LSO lists.
    pub lds_data_groups: Vec<u8>,
}

/// The report of [`passive_authentication`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Report {
    /// Every check, in the order made.
    pub checks: Vec<Check>,
    /// What was read, for display.
    pub document: Option<DocumentSummary>,
}

impl Report {
    /// True when no check failed (warnings and skipped checks allowed).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed != Outcome::Failed)
    }

    /// The failed checks.
    pub fn failed(&self) -> Vec<&Check> {
        self.with_outcome(Outcome::Failed)
    }

    /// The checks that passed with a warning.
    pub fn warnings(&self) -> Vec<&Check> {
        self.with_outcome(Outcome::Warning)
    }

    /// The checks with this outcome.
    pub fn with_outcome(&self, outcome: Outcome) -> Vec<&Check> {
        self.checks.iter().filter(|c| c.passed == outcome).collect()
    }

    /// The check with this id, if made.
    pub fn check(&self, id: CheckId) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The outcome of a check, if made.
    pub fn outcome(&self, id: CheckId) -> Option<Outcome> {
        self.check(id).map(|c| c.passed)
    }

    fn push(&mut self, id: CheckId, passed: Outcome, detail: impl Into<String>) {
        self.checks.push(Check {
            id,
            passed,
            detail: detail.into(),
        });
    }

    /// Marks a check failed because the PKI crate rejected what it is about.
    fn force_failed(&mut self, id: CheckId, reason: String) {
        match self.checks.iter_mut().find(|c| c.id == id) {
            Some(c) if c.passed == Outcome::Failed => {}
            Some(c) => {
                c.passed = Outcome::Failed;
                c.detail = reason;
            }
            None => self.push(id, Outcome::Failed, reason),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .checks
            .iter()
            .map(|c| c.id.as_str().len())
            .max()
            .unwrap_or(0);
        for c in &self.checks {
            writeln!(
                f,
                "{}  {:width$}  {}",
                c.passed.label(),
                c.id.as_str(),
                c.detail
            )?;
        }
        let failed: Vec<String> = self
            .failed()
            .iter()
            .map(|c| c.id.as_str().into_owned())
            .collect();
        if failed.is_empty() {
            write!(
                f,
                "passive authentication PASSED ({} warning(s))",
                self.warnings().len()
            )
        } else {
            write!(f, "passive authentication FAILED: {}", failed.join(", "))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Passive authentication

/// Runs every step of passive authentication of `doc` against `trust` at time `at`.
/// Never panics and never stops early: see the module documentation for the checks.
pub fn passive_authentication(
    doc: &Document<'_>,
    trust: &TrustStore,
    at: DateTime<Utc>,
    options: &PaOptions,
) -> Report {
    let mut report = Report::default();
    let mut summary = DocumentSummary::default();

    let sod = sod_checks(&mut report, doc);
    let found = ds_certificate_check(&mut report, sod.as_ref(), options);
    let ds = found.as_ref().map(|(ds, _)| ds.clone());
    if let Some((ds, whence)) = &found {
        let path = match options.path_cache.as_deref() {
            Some(cache) if cache.serves(trust) => cache.outcome(ds, trust, at, options),
            _ => path_outcome(ds, trust, at, options),
        };
        // Written from the path's summary, which the cache keeps: an RFC 4514 subject per
        // document cost a verifier more than a data-group hash.
        report.push(
            CheckId::DsCertificate,
            Outcome::Passed,
            format!(
                "DS \"{}\" serial {} ({whence})",
                path.document_signer.subject, path.document_signer.serial
            ),
        );
        report.checks.extend(path.checks);
        summary.document_signer = Some(path.document_signer);
        summary.csca = path.csca;
    } else {
        for id in [
            CheckId::DsProfile,
            CheckId::DsChain,
            CheckId::DsValidity,
            CheckId::DsRevocation,
        ] {
            report.push(id, Outcome::Skipped, "no Document Signer certificate");
        }
    }
    key_usage_period_check(&mut report, sod.as_ref(), ds.as_ref());
    let lso = match &sod {
        Some(sod) => {
            summary.signing_time = sod.signing_time();
            signed_data_checks(&mut report, sod, ds.as_ref(), options);
            lso_check(&mut report, sod)
        }
        None => {
            for id in [
                CheckId::SodSignature,
                CheckId::MessageDigest,
                CheckId::LdsSecurityObject,
            ] {
                report.push(id, Outcome::Skipped, "EF.SOD did not parse");
            }
            None
        }
    };
    if let Some(lso) = &lso {
        summary.lds_hash_algorithm = lso.hash().ok().map(|h| format!("{h:?}"));
        summary.lds_data_groups = lso.data_groups();
    }
    dg_hash_checks(&mut report, doc, lso.as_ref(), options);
    ef_com_check(&mut report, doc, lso.as_ref());
    mrz_checks(&mut report, doc, &mut summary);
    if let Some((_, dg11)) = doc.data_groups.iter().find(|(n, _)| *n == Dg11::NUMBER) {
        summary.dg11 = Dg11::decode(dg11).ok().map(Dg11Summary::from);
    }

    let empty = summary == DocumentSummary::default();
    report.document = (!empty).then_some(summary);
    report
}

fn sod_checks(report: &mut Report, doc: &Document<'_>) -> Option<Sod> {
    let sod = match Sod::from_file(doc.ef_sod) {
        Ok(s) => s,
        Err(e) => {
            report.push(CheckId::SodParse, Outcome::Failed, e.to_string());
            return None;
        }
    };
    let problem = if sod.econtent_type() != ID_LDS_SECURITY_OBJECT {
        Some(format!(
            "eContentType is {}, not id-icao-mrtd-security-ldsSecurityObject",
            sod.econtent_type()
        ))
    } else if sod.econtent().is_none() {
        Some("no eContent OCTET STRING".into())
    } else if sod.signer_info().is_none() {
        Some(format!(
            "{} SignerInfos, ICAO wants exactly one",
            sod.signed_data().signer_infos.0.len()
        ))
    } else {
        None
    };
    match problem {
        Some(p) => {
            report.push(CheckId::SodParse, Outcome::Failed, p);
            None
        }
        None => {
            report.push(
                CheckId::SodParse,
                Outcome::Passed,
                format!(
                    "SignedData {:?}, eContentType {}, {} embedded certificate(s)",
                    sod.signed_data().version,
                    sod.econtent_type(),
                    sod.certificates().len()
                ),
            );
            Some(sod)
        }
    }
}

/// The DS certificate and where it was found; on success the caller records the passed
/// check (with the names from the validated path's summary).
fn ds_certificate_check(
    report: &mut Report,
    sod: Option<&Sod>,
    options: &PaOptions,
) -> Option<(EncodedCertificate, &'static str)> {
    let Some(sod) = sod else {
        report.push(
            CheckId::DsCertificate,
            Outcome::Skipped,
            "EF.SOD did not parse",
        );
        return None;
    };
    let embedded = sod.document_signer();
    let (cert, whence) = match embedded {
        Some(c) => (Some(c), "embedded in EF.SOD"),
        None => (
            sod.find_signer(&options.extra_certificates),
            "supplied by the caller",
        ),
    };
    match cert {
        Some(c) => Some((c, whence)),
        None => {
            report.push(
                CheckId::DsCertificate,
                Outcome::Failed,
                "no certificate matches the SignerInfo's signer identifier, embedded or supplied",
            );
            None
        }
    }
}

fn ds_profile_check(report: &mut Report, ds: &Certificate) {
    let findings = check_profile(ds, ProfileKind::DocumentSigner);
    let errors: Vec<String> = findings
        .iter()
        .filter(|f| f.severity() == Severity::Error)
        .map(|f| f.to_string())
        .collect();
    let warnings: Vec<String> = findings
        .iter()
        .filter(|f| f.severity() == Severity::Warning)
        .map(|f| f.to_string())
        .collect();
    if !errors.is_empty() {
        let mut all = errors;
        all.extend(warnings);
        report.push(CheckId::DsProfile, Outcome::Failed, all.join("; "));
    } else if !warnings.is_empty() {
        report.push(CheckId::DsProfile, Outcome::Warning, warnings.join("; "));
    } else {
        report.push(
            CheckId::DsProfile,
            Outcome::Passed,
            "follows the Doc 9303 Part 12 Document Signer profile",
        );
    }
}

/// The issuer search of `thabian_pki::path`, its error in words for the `ds_chain` check.
fn find_issuer<'a>(
    ds: &EncodedCertificate,
    store: &'a [EncodedCertificate],
) -> Result<Issuer<'a>, String> {
    thabian_pki::path::find_issuer(ds, store).map_err(|e| match e {
        PathError::SignatureInvalid(e) => {
            format!("the DS signature does not verify with the CSCA key: {e}")
        }
        _ => format!(
            "no trusted CSCA matches the DS issuer \"{}\" and key identifier",
            ds.tbs_certificate.issuer
        ),
    })
}

fn path_check_id(e: &PathError) -> CheckId {
    match e {
        PathError::NoTrustedIssuer { .. } | PathError::SignatureInvalid(_) => CheckId::DsChain,
        PathError::NotYetValid { .. } | PathError::Expired { .. } => CheckId::DsValidity,
        PathError::Revoked { .. } => CheckId::DsRevocation,
        PathError::ProfileViolation {
            role: CertRole::DocumentSigner,
            ..
        } => CheckId::DsProfile,
        PathError::ProfileViolation { .. } => CheckId::DsChain,
    }
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// The time window (both ends included) in which every time comparison of the path checks
/// gives the same answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl Window {
    fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at <= self.to
    }

    /// Narrows to the validity period of `c` (`ds_validity` passes iff notBefore ≤ at ≤
    /// notAfter).
    fn within_validity(&mut self, c: &Certificate) {
        let (not_before, not_after) = validity(c);
        self.from = self.from.max(not_before);
        self.to = self.to.min(not_after);
    }
}

/// What the Document Signer path checks found. It depends only on the DS certificate, the
/// trust store, `require_crl` and the verification time, and is the same for every time inside
/// `window`; that is what makes it cacheable.
#[derive(Debug, Clone)]
struct PathOutcome {
    /// `ds_profile`, `ds_chain`, `ds_validity`, `ds_revocation`, in that order.
    checks: Vec<Check>,
    /// The DS itself: cached with its path, since writing its names out as RFC 4514 strings
    /// (an OID-name lookup per attribute) cost a verifier more than hashing a data group.
    document_signer: CertSummary,
    /// The CSCA that signed the DS.
    csca: Option<CertSummary>,
    window: Window,
}

/// `ds_profile`, `ds_chain`, `ds_validity`, `ds_revocation`.
///
/// [`validate_document_signer`] runs first and is the source of truth: when it accepts the
/// path, its issuer and CRL are used and nothing is verified twice (three signature
/// verifications: DS, CSCA self-signature, CRL). When it rejects the path, each step is redone
/// here so that every check shows, and its error then fails the check it is about, so the
/// report is never more lenient than the PKI crate.
fn path_outcome(
    ds: &EncodedCertificate,
    trust: &TrustStore,
    at: DateTime<Utc>,
    options: &PaOptions,
) -> PathOutcome {
    let mut report = Report::default();
    ds_profile_check(&mut report, ds);
    let mut window = Window {
        from: DateTime::<Utc>::MIN_UTC,
        to: DateTime::<Utc>::MAX_UTC,
    };
    let csca = match validate_document_signer(ds, &trust.cscas, &trust.crls, at) {
        Ok(path) => {
            let iss = Issuer {
                csca: &path.csca,
                anchor: &path.anchor,
                link: path.link.is_some(),
            };
            let invalid: Vec<String> = path
                .warnings
                .iter()
                .filter_map(|w| match w {
                    PathWarning::CrlInvalid(e) => Some(e.clone()),
                    _ => None,
                })
                .collect();
            issuer_checks(&mut report, ds, Ok(&iss), at, &mut window);
            revocation_report(
                &mut report,
                ds,
                &iss,
                path.crl.as_ref(),
                &invalid,
                at,
                options,
                &mut window,
            );
            Some(CertSummary::of(&path.csca))
        }
        Err(e) => {
            let issuer = find_issuer(ds, &trust.cscas);
            issuer_checks(
                &mut report,
                ds,
                issuer.as_ref().map_err(String::as_str),
                at,
                &mut window,
            );
            match &issuer {
                Err(_) => report.push(
                    CheckId::DsRevocation,
                    Outcome::Skipped,
                    "no trusted CSCA, so no CRL to check against",
                ),
                Ok(iss) => {
                    let (best, invalid) = select_crl(ds, iss, trust);
                    revocation_report(
                        &mut report,
                        ds,
                        iss,
                        best,
                        &invalid,
                        at,
                        options,
                        &mut window,
                    );
                }
            }
            report.force_failed(path_check_id(&e), e.to_string());
            issuer.ok().map(|i| CertSummary::of(i.csca))
        }
    };
    PathOutcome {
        checks: report.checks,
        document_signer: CertSummary::of(ds),
        csca,
        window,
    }
}

/// `ds_chain` (including the Part 12 profile of the CSCA and of the link's issuer) and
/// `ds_validity`; narrows `window` to the validity of every certificate checked.
fn issuer_checks(
    report: &mut Report,
    ds: &Certificate,
    issuer: Result<&Issuer<'_>, &str>,
    at: DateTime<Utc>,
    window: &mut Window,
) {
    let ds_serial = serial_hex(&ds.tbs_certificate.serial_number);
    match issuer {
        Err(e) => report.push(CheckId::DsChain, Outcome::Failed, e),
        Ok(iss) => {
            let mut profiles = vec![(
                iss.csca,
                if iss.link {
                    ProfileKind::CscaLink
                } else {
                    ProfileKind::Csca
                },
                "CSCA",
            )];
            if iss.link {
                profiles.push((iss.anchor, ProfileKind::Csca, "link issuer"));
            }
            let (mut errors, mut warnings) = (Vec::new(), Vec::new());
            for (c, kind, role) in profiles {
                for f in check_profile(c, kind) {
                    match f.severity() {
                        Severity::Error => errors.push(format!("{role}: {f}")),
                        Severity::Warning => warnings.push(format!("{role}: {f}")),
                    }
                }
            }
            let mut detail = format!(
                "CSCA \"{}\" → DS serial {ds_serial}",
                iss.csca.tbs_certificate.subject
            );
            if iss.link {
                detail = format!(
                    "CSCA \"{}\" (serial {}) → link certificate serial {} → DS serial {ds_serial}",
                    iss.anchor.tbs_certificate.subject,
                    serial_hex(&iss.anchor.tbs_certificate.serial_number),
                    serial_hex(&iss.csca.tbs_certificate.serial_number),
                );
            }
            if !errors.is_empty() {
                report.push(
                    CheckId::DsChain,
                    Outcome::Failed,
                    format!("{detail}; {}", errors.join("; ")),
                );
            } else if !warnings.is_empty() {
                report.push(
                    CheckId::DsChain,
                    Outcome::Warning,
                    format!("{detail}; {}", warnings.join("; ")),
                );
            } else {
                report.push(CheckId::DsChain, Outcome::Passed, detail);
            }
        }
    }

    // ds_validity
    let mut certs = vec![("DS", ds)];
    if let Ok(iss) = issuer {
        certs.push(("CSCA", iss.csca));
        if iss.link {
            certs.push(("link issuer", iss.anchor));
        }
    }
    let mut bad = Vec::new();
    let mut good = Vec::new();
    for (role, c) in certs {
        window.within_validity(c);
        let (nb, na) = validity(c);
        let range = format!("{role} valid {} to {}", date(nb), date(na));
        if at < nb || at > na {
            bad.push(format!("{range}: not at {}", date(at)));
        } else {
            good.push(range);
        }
    }
    if !bad.is_empty() {
        report.push(CheckId::DsValidity, Outcome::Failed, bad.join("; "));
    } else {
        let mut detail = good.join("; ");
        if issuer.is_err() {
            detail.push_str(" (no trusted CSCA to check)");
        }
        report.push(CheckId::DsValidity, Outcome::Passed, detail);
    }
}

/// The issuing CSCA's newest CRL that verifies with a key of the path (as
/// `thabian_pki::path` chooses it), and why the others were ignored.
fn select_crl<'t>(
    ds: &EncodedCertificate,
    iss: &Issuer<'_>,
    trust: &'t TrustStore,
) -> (Option<&'t EncodedCrl>, Vec<String>) {
    let mut invalid = Vec::new();
    let mut best: Option<&EncodedCrl> = None;
    for crl in trust
        .crls
        .iter()
        .filter(|crl| crl.tbs_cert_list.issuer == ds.tbs_certificate.issuer)
    {
        match verify_crl(crl, iss.csca).or_else(|e| verify_crl(crl, iss.anchor).map_err(|_| e)) {
            Err(e) => invalid.push(e.to_string()),
            Ok(()) => {
                if best.is_none_or(|b| crl_times(crl).0 > crl_times(b).0) {
                    best = Some(crl);
                }
            }
        }
    }
    (best, invalid)
}

/// `ds_revocation` against the chosen CRL; narrows `window` so that the CRL's expiry reads the
/// same anywhere inside it.
#[allow(clippy::too_many_arguments)]
fn revocation_report(
    report: &mut Report,
    ds: &Certificate,
    iss: &Issuer<'_>,
    best: Option<&EncodedCrl>,
    invalid: &[String],
    at: DateTime<Utc>,
    options: &PaOptions,
    window: &mut Window,
) {
    let ignored = if invalid.is_empty() {
        String::new()
    } else {
        format!(
            " ({} CRL(s) ignored: {})",
            invalid.len(),
            invalid.join("; ")
        )
    };
    let missing = if options.require_crl {
        Outcome::Failed
    } else {
        Outcome::Warning
    };
    let Some(crl) = best else {
        report.push(
            CheckId::DsRevocation,
            missing,
            format!(
                "no valid CRL from CSCA \"{}\": revocation not checked{ignored}",
                iss.csca.tbs_certificate.subject
            ),
        );
        return;
    };
    let (this_update, next_update) = crl_times(crl);
    if let Some(next) = next_update {
        // "Expired" is `next < at`: the same answer on one side of nextUpdate only.
        if next < at {
            window.from = window.from.max(
                next.checked_add_signed(TimeDelta::nanoseconds(1))
                    .unwrap_or(next),
            );
        } else {
            window.to = window.to.min(next);
        }
    }
    let number = thabian_pki::crl::crl_number(crl)
        .map(hex::encode_upper)
        .unwrap_or_else(|| "?".into());
    if let Some(entry) = is_revoked(crl, &ds.tbs_certificate.serial_number) {
        report.push(
            CheckId::DsRevocation,
            Outcome::Failed,
            format!(
                "DS serial {} revoked on {} (reason {:?}) by CRL number {number}",
                serial_hex(&entry.serial),
                date(entry.revocation_date),
                entry.reason
            ),
        );
        return;
    }
    let listed = format!(
        "DS not on CRL number {number} of {}{ignored}",
        date(this_update)
    );
    match next_update {
        Some(next) if next < at => report.push(
            CheckId::DsRevocation,
            missing,
            format!("{listed}, but that CRL expired at {}", date(next)),
        ),
        _ => report.push(CheckId::DsRevocation, Outcome::Passed, listed),
    }
}

/// `ds_key_usage_period`: a Document Signer key signs only during its privateKeyUsagePeriod
/// (Doc 9303 Part 12: about three months), while its certificate lives for as long as the
/// documents it signed. A document signed after that period was signed by a key that should no
/// longer have been in use (kept, stolen, or a back-dated certificate): it fails. Per document,
/// so never part of the cached path outcome.
fn key_usage_period_check(report: &mut Report, sod: Option<&Sod>, ds: Option<&EncodedCertificate>) {
    let (Some(sod), Some(ds)) = (sod, ds) else {
        report.push(
            CheckId::DsKeyUsagePeriod,
            Outcome::Skipped,
            "no Document Signer certificate",
        );
        return;
    };
    let Some(signed) = sod.signing_time() else {
        report.push(
            CheckId::DsKeyUsagePeriod,
            Outcome::Skipped,
            "EF.SOD has no signingTime attribute",
        );
        return;
    };
    let Some(period) = private_key_usage_period(ds) else {
        report.push(
            CheckId::DsKeyUsagePeriod,
            Outcome::Skipped,
            "the DS certificate has no privateKeyUsagePeriod",
        );
        return;
    };
    let bound = |t: Option<DateTime<Utc>>| t.map_or_else(|| "(open)".to_string(), date);
    let range = format!(
        "DS private key usage period {} to {}",
        bound(period.not_before),
        bound(period.not_after)
    );
    let problem = match (period.not_before, period.not_after) {
        (Some(nb), _) if signed < nb => Some("before the start of"),
        (_, Some(na)) if signed > na => Some("after the end of"),
        _ => None,
    };
    match problem {
        Some(when) => report.push(
            CheckId::DsKeyUsagePeriod,
            Outcome::Failed,
            format!("EF.SOD signingTime {} is {when} the {range}", date(signed)),
        ),
        None => report.push(
            CheckId::DsKeyUsagePeriod,
            Outcome::Passed,
            format!("EF.SOD signingTime {} within the {range}", date(signed)),
        ),
    }
}

fn cms_check_id(e: &CmsError) -> CheckId {
    match e {
        CmsError::Malformed(_)
        | CmsError::NotSignedData(_)
        | CmsError::EContentTypeMismatch { .. }
        | CmsError::NoEContent => CheckId::SodParse,
        CmsError::SignerCertificateNotFound => CheckId::DsCertificate,
        CmsError::UnsupportedDigestAlgorithm(_)
        | CmsError::MessageDigestMismatch
        | CmsError::MissingAttribute("messageDigest") => CheckId::MessageDigest,
        CmsError::SignedAttributesMissing
        | CmsError::MissingAttribute(_)
        | CmsError::ContentTypeMismatch { .. }
        | CmsError::SignatureInvalid(_) => CheckId::SodSignature,
    }
}

/// `sod_signature` and `message_digest`, each computed on its own so that both show.
///
/// [`thabian_pki::cms::verify_signed_data`] runs first and is the source of truth for the signature: when it
/// accepts the SignedData with the same signer certificate, the signature it verified is not
/// verified again (the contentType and digest algorithm are still checked here). Otherwise the
/// signature is verified here, and whatever `verify_signed_data` rejected fails the check its
/// error is about (it stops at the first failure, so each check is also computed here).
fn signed_data_checks(
    report: &mut Report,
    sod: &Sod,
    ds: Option<&EncodedCertificate>,
    options: &PaOptions,
) {
    let digest = sod.digest_algorithm();
    let pki = verify_decoded_signed_data(
        &sod.cms_der,
        sod.signed_data(),
        sod.certificates().to_vec(),
        &ID_LDS_SECURITY_OBJECT,
        &options.extra_certificates,
    );
    let verified_by_pki = matches!((&pki, ds), (Ok(v), Some(ds)) if v.signer_certificate == *ds);

    // sod_signature
    match (ds, sod.signer_info()) {
        (None, _) => report.push(
            CheckId::SodSignature,
            Outcome::Skipped,
            "no Document Signer certificate",
        ),
        (Some(_), None) => report.push(
            CheckId::SodSignature,
            Outcome::Failed,
            "not exactly one SignerInfo",
        ),
        (Some(ds), Some(si)) => {
            let content_type = si.signed_attrs.as_ref().map(|attrs| {
                attrs
                    .iter()
                    .filter(|a| a.oid == const_oid::db::rfc5911::ID_CONTENT_TYPE)
                    .flat_map(|a| a.values.iter())
                    .filter_map(|v| v.decode_as::<const_oid::ObjectIdentifier>().ok())
                    .collect::<Vec<_>>()
            });
            let result = match (&content_type, digest) {
                (None, _) => Err("the SignerInfo has no signed attributes".to_string()),
                (Some(ct), _) if ct.as_slice() != [sod.econtent_type()] => Err(format!(
                    "contentType attribute {ct:?} is not exactly the eContentType {}",
                    sod.econtent_type()
                )),
                (_, None) => Err(format!(
                    "unsupported digest algorithm {}",
                    si.digest_alg.oid
                )),
                (Some(_), Some(_)) if verified_by_pki => Ok(()),
                (Some(_), Some(digest)) => {
                    let spki = &ds.tbs_certificate.subject_public_key_info;
                    let mut last = "no signed attributes to verify".to_string();
                    let mut ok = false;
                    for msg in sod.signed_attributes_to_verify() {
                        match thabian_pki::verify::verify_signature_with_digest(
                            spki,
                            &si.signature_algorithm,
                            digest,
                            &msg,
                            si.signature.as_bytes(),
                        ) {
                            Ok(()) => {
                                ok = true;
                                break;
                            }
                            Err(e) => last = e.to_string(),
                        }
                    }
                    if ok {
                        Ok(())
                    } else {
                        Err(format!("SignerInfo signature does not verify: {last}"))
                    }
                }
            };
            match result {
                Ok(()) => report.push(
                    CheckId::SodSignature,
                    Outcome::Passed,
                    format!(
                        "{} signature over the signed attributes verifies with the DS key",
                        signature_name(&si.signature_algorithm.oid)
                    ),
                ),
                Err(e) => report.push(CheckId::SodSignature, Outcome::Failed, e),
            }
        }
    }

    // message_digest
    let md = match (digest, sod.message_digest(), sod.econtent()) {
        (None, _, _) => Err("unsupported digest algorithm".to_string()),
        (_, None, _) => Err("no single messageDigest signed attribute".to_string()),
        (_, _, None) => Err("no eContent".to_string()),
        (Some(d), Some(md), Some(content)) => {
            if d.digest(content) == md {
                Ok(format!("{d:?} of the eContent equals messageDigest"))
            } else {
                Err(format!(
                    "messageDigest differs from the {d:?} of the eContent"
                ))
            }
        }
    };
    match md {
        Ok(d) => report.push(CheckId::MessageDigest, Outcome::Passed, d),
        Err(e) => report.push(CheckId::MessageDigest, Outcome::Failed, e),
    }

    if let Err(e) = pki {
        report.force_failed(cms_check_id(&e), e.to_string());
    }
}

fn signature_name(oid: &const_oid::ObjectIdentifier) -> String {
    const_oid::db::DB
        .by_oid(oid)
        .map(str::to_owned)
        .unwrap_or_else(|| oid.to_string())
}

fn lso_check(report: &mut Report, sod: &Sod) -> Option<LdsSecurityObject> {
    match sod.lds_security_object() {
        Err(e) => {
            report.push(CheckId::LdsSecurityObject, Outcome::Failed, e.to_string());
            None
        }
        Ok(lso) => {
            let groups: Vec<String> = lso.data_groups().iter().map(|n| n.to_string()).collect();
            let hash = lso.hash().ok();
            let detail = format!(
                "version {}, {}, data groups {}",
                lso.version,
                hash.map_or_else(|| lso.hash_algorithm.oid.to_string(), |h| format!("{h:?}")),
                groups.join(",")
            );
            match hash {
                Some(HashAlgorithm::Sha1) => report.push(
                    CheckId::LdsSecurityObject,
                    Outcome::Warning,
                    format!("{detail}: SHA-1 is weak"),
                ),
                _ => report.push(CheckId::LdsSecurityObject, Outcome::Passed, detail),
            }
            Some(lso)
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn dg_hash_checks(
    report: &mut Report,
    doc: &Document<'_>,
    lso: Option<&LdsSecurityObject>,
    options: &PaOptions,
) {
    let mut numbers: Vec<u8> = doc.data_groups.iter().map(|(n, _)| *n).collect();
    if let Some(lso) = lso {
        numbers.extend(lso.data_groups());
    }
    numbers.sort_unstable();
    numbers.dedup();
    let hash = lso.and_then(|l| l.hash().ok());
    for n in numbers {
        let id = CheckId::DgHash(n);
        let supplied: Vec<&[u8]> = doc
            .data_groups
            .iter()
            .filter(|(m, _)| *m == n)
            .map(|(_, f)| *f)
            .collect();
        let (Some(lso), Some(hash)) = (lso, hash) else {
            report.push(id, Outcome::Skipped, "no valid LDSSecurityObject");
            continue;
        };
        let Some(group) = DataGroup::new(n) else {
            report.push(
                id,
                Outcome::Failed,
                format!("{n} is not a data group number"),
            );
            continue;
        };
        match (lso.hash_of(n), supplied.as_slice()) {
            (_, [_, _, ..]) => report.push(id, Outcome::Failed, format!("{group} supplied twice")),
            (None, [_]) => report.push(
                id,
                Outcome::Failed,
                format!("{group} was read but the LDSSecurityObject does not list it"),
            ),
            (Some(_), []) => report.push(
                id,
                if options.allow_missing_groups {
                    Outcome::Warning
                } else {
                    Outcome::Failed
                },
                format!("{group} is listed in the LDSSecurityObject but was not read"),
            ),
            (Some(expected), [file]) => {
                let actual = hash.digest(file);
                let tag_note = if file.first() == Some(&group.tag()) {
                    String::new()
                } else {
                    format!(" (file does not start with the {group} tag)")
                };
                if actual == expected {
                    report.push(
                        id,
                        Outcome::Passed,
                        format!("{hash:?} {} matches ({} bytes)", hex(&actual), file.len()),
                    );
                } else {
                    report.push(
                        id,
                        Outcome::Failed,
                        format!(
                            "{hash:?} of the file is {}, the LDSSecurityObject says {}{tag_note}",
                            hex(&actual),
                            hex(expected)
                        ),
                    );
                }
            }
            (None, []) => {}
        }
    }
}

fn ef_com_check(report: &mut Report, doc: &Document<'_>, lso: Option<&LdsSecurityObject>) {
    let Some(bytes) = doc.ef_com else {
        report.push(CheckId::EfCom, Outcome::Skipped, "EF.COM not read");
        return;
    };
    let com = match EfCom::decode(bytes) {
        Ok(c) => c,
        Err(e) => {
            report.push(CheckId::EfCom, Outcome::Warning, format!("EF.COM: {e}"));
            return;
        }
    };
    let Some(lso) = lso else {
        report.push(CheckId::EfCom, Outcome::Skipped, "no LDSSecurityObject");
        return;
    };
    let mut unknown = Vec::new();
    let mut com_groups = Vec::new();
    for t in &com.tags {
        match DataGroup::from_tag(u32::from(*t)) {
            Some(g) => com_groups.push(g.number()),
            None => unknown.push(format!("{t:02X}")),
        }
    }
    com_groups.sort_unstable();
    let mut lso_groups = lso.data_groups();
    lso_groups.sort_unstable();
    let fmt_list = |v: &[u8]| {
        v.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if com_groups == lso_groups && unknown.is_empty() {
        report.push(
            CheckId::EfCom,
            Outcome::Passed,
            format!(
                "LDS {}, Unicode {}, data groups {} as in the LDSSecurityObject",
                com.lds_version,
                com.unicode_version,
                fmt_list(&com_groups)
            ),
        );
    } else {
        let mut detail = format!(
            "EF.COM lists data groups {}, the LDSSecurityObject {}",
            fmt_list(&com_groups),
            fmt_list(&lso_groups)
        );
        if !unknown.is_empty() {
            detail.push_str(&format!("; unknown tags {}", unknown.join(" ")));
        }
        report.push(CheckId::EfCom, Outcome::Warning, detail);
    }
}

fn mrz_checks(report: &mut Report, doc: &Document<'_>, summary: &mut DocumentSummary) {
    let dg1 = doc
        .data_groups
        .iter()
        .find(|(n, _)| *n == Dg1::NUMBER)
        .map(|(_, f)| Dg1::decode(f));
    let dg1 = match dg1 {
        None => {
            for id in [CheckId::MrzCheckDigits, CheckId::Dg1MatchesPrintedMrz] {
                report.push(id, Outcome::Skipped, "DG1 not read");
            }
            return;
        }
        Some(Err(e)) => {
            report.push(
                CheckId::MrzCheckDigits,
                Outcome::Failed,
                format!("DG1: {e}"),
            );
            report.push(
                CheckId::Dg1MatchesPrintedMrz,
                if doc.printed_mrz.is_some() {
                    Outcome::Failed
                } else {
                    Outcome::Skipped
                },
                "DG1 does not decode",
            );
            return;
        }
        Some(Ok(d)) => d,
    };

    match dg1.parse_td1() {
        Err(e) => report.push(
            CheckId::MrzCheckDigits,
            Outcome::Failed,
            format!("DG1 is not a TD1 MRZ: {e}"),
        ),
        Ok(parsed) => {
            let parts: Vec<String> = parsed
                .checks
                .iter()
                .map(|c| {
                    let name = match c.field {
                        CheckField::DocumentNumber => "document number",
                        CheckField::DateOfBirth => "date of birth",
                        CheckField::DateOfExpiry => "date of expiry",
                        CheckField::Composite => "composite",
                    };
                    if c.ok {
                        format!("{name} {} ok", c.found)
                    } else {
                        format!("{name} {} (expected {})", c.found, c.expected)
                    }
                })
                .collect();
            report.push(
                CheckId::MrzCheckDigits,
                if parsed.all_checks_ok() {
                    Outcome::Passed
                } else {
                    Outcome::Failed
                },
                parts.join(", "),
            );
            let t = &parsed.td1;
            summary.mrz = Some(MrzSummary {
                document_code: t.document_code.clone(),
                issuing_state: t.issuing_state.clone(),
                document_number: t.document_number.clone(),
                date_of_birth: t.date_of_birth.as_str().to_owned(),
                sex: t.sex.as_char().to_string(),
                date_of_expiry: t.date_of_expiry.as_ref().map(|d| d.as_str().to_owned()),
                nationality: t.nationality.clone(),
                optional_data_1: t.optional_data_1.clone(),
                optional_data_2: t.optional_data_2.clone(),
                primary_identifier: t.primary_identifier.clone(),
                secondary_identifier: t.secondary_identifier.clone(),
                lines: parsed.lines.to_vec(),
            });
        }
    }

    match doc.printed_mrz {
        None => report.push(
            CheckId::Dg1MatchesPrintedMrz,
            Outcome::Skipped,
            "no printed MRZ given",
        ),
        Some(printed) => {
            let printed: String = printed
                .trim()
                .chars()
                .filter(|c| *c != '\n' && *c != '\r')
                .collect();
            if printed == dg1.mrz {
                report.push(
                    CheckId::Dg1MatchesPrintedMrz,
                    Outcome::Passed,
                    "DG1 equals the printed MRZ",
                );
            } else {
                let at = printed
                    .chars()
                    .zip(dg1.mrz.chars())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| printed.len().min(dg1.mrz.len()));
                report.push(
                    CheckId::Dg1MatchesPrintedMrz,
                    Outcome::Failed,
                    format!(
                        "DG1 differs from the printed MRZ at character {} (line {}, position {})",
                        at + 1,
                        at / 30 + 1,
                        at % 30 + 1
                    ),
                );
            }
        }
    }
}
