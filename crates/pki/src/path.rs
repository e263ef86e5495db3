//! CSCA → Document Signer path validation (Doc 9303 Part 11 passive authentication, step 2).
//!
//! The trust store holds CSCA certificates: self-signed ones are trust anchors as they stand; a
//! link certificate (old CSCA key → new CSCA key) is trusted when a self-signed CSCA in the store
//! issued it, which bridges one key rollover (one step, as Doc 9303 needs).
use crate::cert::{
    aki, basic_constraints, check_profile, is_self_issued, key_usage, ski, validity,
    verify_issued_by, ProfileFinding, ProfileKind, Severity,
};
use crate::crl::{crl_times, is_revoked, verify_crl};
use crate::encoded::{EncodedCertificate, EncodedCrl};
use chrono::{DateTime, Utc};
use x509_cert::ext::pkix::CrlReason;
use x509_cert::Certificate;

/// Which certificate of the path a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    DocumentSigner,
    /// The CSCA certificate whose key signed the Document Signer (self-signed or link).
    Csca,
    /// The self-signed CSCA that issued the link certificate.
    LinkIssuer,
}

/// Why a Document Signer certificate is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("no trusted CSCA matches the Document Signer's issuer {issuer} and key identifier")]
    NoTrustedIssuer { issuer: String },
    #[error("the Document Signer's signature does not verify with the CSCA key: {0}")]
    SignatureInvalid(String),
    #[error("{role:?} certificate not valid before {not_before}")]
    NotYetValid {
        role: CertRole,
        not_before: DateTime<Utc>,
    },
    #[error("{role:?} certificate expired at {not_after}")]
    Expired {
        role: CertRole,
        not_after: DateTime<Utc>,
    },
    #[error("Document Signer serial {serial} revoked on {date} (reason {reason:?})")]
    Revoked {
        /// Upper-case hex.
        serial: String,
        date: DateTime<Utc>,
        reason: Option<CrlReason>,
    },
    #[error("{role:?} certificate breaks its Doc 9303 profile: {}", join(findings))]
    ProfileViolation {
        role: CertRole,
        findings: Vec<ProfileFinding>,
    },
}

fn join(findings: &[ProfileFinding]) -> String {
    let v: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
    v.join("; ")
}

/// Non-fatal findings of a path validation: the caller decides whether they fail the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathWarning {
    /// No valid CRL from the issuing CSCA was supplied: revocation was not checked.
    CrlMissing,
    /// The CRL used is past its nextUpdate.
    CrlExpired { next_update: DateTime<Utc> },
    /// A CRL naming the CSCA as issuer did not verify and was ignored.
    CrlInvalid(String),
    /// A profile deviation a tolerant verifier accepts.
    Profile {
        role: CertRole,
        finding: ProfileFinding,
    },
}

/// A Document Signer certificate validated up to a trusted CSCA.
#[derive(Debug, Clone)]
pub struct ValidatedPath {
    /// The CSCA certificate whose key signed the Document Signer: a self-signed CSCA, or a link
    /// certificate.
    pub csca: EncodedCertificate,
    /// The self-signed trust anchor at the top (equal to `csca` unless a link was used).
    pub anchor: EncodedCertificate,
    /// The link certificate used, if any.
    pub link: Option<EncodedCertificate>,
    /// The CRL revocation was checked against.
    pub crl: Option<EncodedCrl>,
    pub warnings: Vec<PathWarning>,
}

/// Validates a Document Signer certificate at time `at` against a trust store of CSCA
/// certificates (self-signed and link) and the CSCAs' CRLs. Every signature is verified over
/// the octets the certificate or CRL was received as (see [`crate::encoded`]).
pub fn validate_document_signer(
    ds: &EncodedCertificate,
    trust_anchors: &[EncodedCertificate],
    crls: &[EncodedCrl],
    at: DateTime<Utc>,
) -> Result<ValidatedPath, PathError> {
    let mut warnings = Vec::new();
    profile(
        ds,
        ProfileKind::DocumentSigner,
        CertRole::DocumentSigner,
        &mut warnings,
    )?;

    let IssuerMatch { csca, anchor, link } = find_issuer(ds, trust_anchors)?;
    let link = link.then(|| csca.clone());

    check_validity(ds, CertRole::DocumentSigner, at)?;
    check_validity(csca, CertRole::Csca, at)?;
    if link.is_some() {
        check_validity(anchor, CertRole::LinkIssuer, at)?;
        profile(csca, ProfileKind::CscaLink, CertRole::Csca, &mut warnings)?;
        profile(
            anchor,
            ProfileKind::Csca,
            CertRole::LinkIssuer,
            &mut warnings,
        )?;
    } else {
        profile(csca, ProfileKind::Csca, CertRole::Csca, &mut warnings)?;
    }

    // The CSCA's newest CRL that verifies with any key of that CSCA in the path.
    let mut best: Option<&EncodedCrl> = None;
    for crl in crls
        .iter()
        .filter(|crl| crl.tbs_cert_list.issuer == ds.tbs_certificate.issuer)
    {
        let ok = verify_crl(crl, csca).or_else(|e| verify_crl(crl, anchor).map_err(|_| e));
        match ok {
            Err(e) => warnings.push(PathWarning::CrlInvalid(e.to_string())),
            Ok(()) => {
                if best.is_none_or(|b| crl_times(crl).0 > crl_times(b).0) {
                    best = Some(crl);
                }
            }
        }
    }
    match best {
        None => warnings.push(PathWarning::CrlMissing),
        Some(crl) => {
            if let (_, Some(next_update)) = crl_times(crl) {
                if next_update < at {
                    warnings.push(PathWarning::CrlExpired { next_update });
                }
            }
            if let Some(entry) = is_revoked(crl, &ds.tbs_certificate.serial_number) {
                return Err(PathError::Revoked {
                    serial: crate::cert::serial_hex(&entry.serial),
                    date: entry.revocation_date,
                    reason: entry.reason,
                });
            }
        }
    }

    Ok(ValidatedPath {
        csca: csca.clone(),
        anchor: anchor.clone(),
        link,
        crl: best.cloned(),
        warnings,
    })
}

/// Where a Document Signer's certificate leads in a trust store: the CSCA certificate whose key
/// signed it (self-signed, or a link certificate) and the self-signed anchor above it (the same
/// certificate unless `link`).
#[derive(Debug, Clone, Copy)]
pub struct IssuerMatch<'a> {
    pub csca: &'a EncodedCertificate,
    pub anchor: &'a EncodedCertificate,
    pub link: bool,
}

/// Finds the trusted CSCA that issued `ds`: subject = the DS issuer, SKI = the DS AKI when both
/// are there, allowed to sign certificates, and its signature on the DS verifying. Self-signed
/// CSCAs are tried first: a link is only needed when the new CSCA itself is not trusted.
/// Errors: `SignatureInvalid` when a candidate matched by name and key identifier but its
/// signature did not verify, `NoTrustedIssuer` otherwise.
pub fn find_issuer<'a>(
    ds: &EncodedCertificate,
    trust_anchors: &'a [EncodedCertificate],
) -> Result<IssuerMatch<'a>, PathError> {
    let ds_aki = aki(ds);
    let mut candidates: Vec<&EncodedCertificate> = trust_anchors
        .iter()
        .filter(|c| {
            c.tbs_certificate.subject == ds.tbs_certificate.issuer
                && key_id_matches(ds_aki.as_deref(), c)
                && may_sign_certificates(c)
        })
        .collect();
    candidates.sort_by_key(|c| !is_self_issued(c));

    let mut signature_error = None;
    for c in candidates {
        if let Err(e) = verify_issued_by(ds, c) {
            signature_error.get_or_insert(e);
            continue;
        }
        if is_self_issued(c) {
            if verify_issued_by(c, c).is_ok() {
                return Ok(IssuerMatch {
                    csca: c,
                    anchor: c,
                    link: false,
                });
            }
        } else if let Some(anchor) = link_anchor(c, trust_anchors) {
            return Ok(IssuerMatch {
                csca: c,
                anchor,
                link: true,
            });
        }
    }
    Err(match signature_error {
        Some(e) => PathError::SignatureInvalid(e),
        None => PathError::NoTrustedIssuer {
            issuer: ds.tbs_certificate.issuer.to_string(),
        },
    })
}

/// The self-signed CSCA in the store that issued a link certificate, if any.
fn link_anchor<'a>(
    link: &EncodedCertificate,
    store: &'a [EncodedCertificate],
) -> Option<&'a EncodedCertificate> {
    let link_aki = aki(link);
    store.iter().find(|a| {
        is_self_issued(a)
            && a.tbs_certificate.subject == link.tbs_certificate.issuer
            && key_id_matches(link_aki.as_deref(), a)
            && may_sign_certificates(a)
            && verify_issued_by(a, a).is_ok()
            && verify_issued_by(link, a).is_ok()
    })
}

/// An AKI names the issuer's SKI; when the issuer has no SKI its key identifier may have been
/// computed by any method, so only the signature can decide.
fn key_id_matches(aki: Option<&[u8]>, issuer: &Certificate) -> bool {
    match (aki, ski(issuer)) {
        (Some(a), Some(s)) => a == s.as_slice(),
        _ => true,
    }
}

fn may_sign_certificates(c: &Certificate) -> bool {
    let ca = basic_constraints(c).is_some_and(|(_, b)| b.ca);
    let ku = key_usage(c).is_none_or(|(_, k)| k.key_cert_sign());
    ca && ku
}

fn check_validity(c: &Certificate, role: CertRole, at: DateTime<Utc>) -> Result<(), PathError> {
    let (not_before, not_after) = validity(c);
    if at < not_before {
        return Err(PathError::NotYetValid { role, not_before });
    }
    if at > not_after {
        return Err(PathError::Expired { role, not_after });
    }
    Ok(())
}

fn profile(
    c: &Certificate,
    kind: ProfileKind,
    role: CertRole,
    warnings: &mut Vec<PathWarning>,
) -> Result<(), PathError> {
    let (errors, minor): (Vec<_>, Vec<_>) = check_profile(c, kind)
        .into_iter()
        .partition(|f| f.severity() == Severity::Error);
    if !errors.is_empty() {
        return Err(PathError::ProfileViolation {
            role,
            findings: errors,
        });
    }
    warnings.extend(
        minor
            .into_iter()
            .map(|finding| PathWarning::Profile { role, finding }),
    );
    Ok(())
}
