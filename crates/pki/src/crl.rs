//! CSCA certificate revocation lists (RFC 5280 section 5, Doc 9303 Part 12: v2, thisUpdate and
//! nextUpdate, authorityKeyIdentifier and cRLNumber, issued at least every 90 days).
use crate::cert::{aki_from_extensions, der_err, from_time, key_usage, name_country, ski, to_time};
use crate::encoded::EncodedCrl;
use crate::{PkiError, Signer};
use chrono::{DateTime, Utc};
use const_oid::db::rfc5280::{ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CRL_NUMBER, ID_CE_CRL_REASONS};
use der::asn1::{BitString, OctetString, Uint};
use der::{Decode, Encode};
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

/// One revoked certificate, as the CSCA lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: SerialNumber,
    pub revocation_date: DateTime<Utc>,
    pub reason: Option<CrlReason>,
}

/// Why a CRL does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    #[error("CRL issuer name differs from the certificate's subject")]
    IssuerMismatch,
    #[error("CRL authorityKeyIdentifier does not match the certificate's key identifier")]
    KeyIdentifierMismatch,
    #[error("the certificate's keyUsage does not allow cRLSign")]
    NotCrlSigner,
    #[error("CRL signature does not verify: {0}")]
    SignatureInvalid(String),
    #[error("CRL is not v2")]
    NotVersion2,
    #[error("malformed CRL: {0}")]
    Malformed(String),
}

/// Issues a v2 CRL signed by the CSCA. `crl_number` must grow with every CRL the CSCA issues.
pub fn issue_crl(
    csca_signer: &dyn Signer,
    csca_cert: &Certificate,
    revoked: &[RevokedEntry],
    this_update: DateTime<Utc>,
    next_update: DateTime<Utc>,
    crl_number: u64,
) -> Result<CertificateList, PkiError> {
    if csca_signer.public_key() != &csca_cert.tbs_certificate.subject_public_key_info {
        return Err(PkiError::InvalidRequest(
            "the signing key is not the key of the CSCA certificate".into(),
        ));
    }
    if next_update <= this_update {
        return Err(PkiError::InvalidRequest(
            "nextUpdate must come after thisUpdate".into(),
        ));
    }
    let mut entries = Vec::with_capacity(revoked.len());
    for r in revoked {
        let crl_entry_extensions = match r.reason {
            Some(reason) => Some(vec![Extension {
                extn_id: ID_CE_CRL_REASONS,
                critical: false,
                extn_value: OctetString::new(reason.to_der().map_err(der_err)?).map_err(der_err)?,
            }]),
            None => None,
        };
        entries.push(RevokedCert {
            serial_number: r.serial.clone(),
            revocation_date: to_time(r.revocation_date)?,
            crl_entry_extensions,
        });
    }
    let key_id = ski(csca_cert).unwrap_or_else(|| {
        crate::cert::key_identifier(&csca_cert.tbs_certificate.subject_public_key_info)
    });
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_id).map_err(der_err)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let number = CrlNumber(Uint::new(&crl_number.to_be_bytes()).map_err(der_err)?);
    let extensions = vec![
        Extension {
            extn_id: ID_CE_AUTHORITY_KEY_IDENTIFIER,
            critical: false,
            extn_value: OctetString::new(aki.to_der().map_err(der_err)?).map_err(der_err)?,
        },
        Extension {
            extn_id: ID_CE_CRL_NUMBER,
            critical: false,
            extn_value: OctetString::new(number.to_der().map_err(der_err)?).map_err(der_err)?,
        },
    ];
    let signature_algorithm = csca_signer.signature_algorithm_identifier();
    let tbs = TbsCertList {
        version: Version::V2,
        signature: signature_algorithm.clone(),
        issuer: csca_cert.tbs_certificate.subject.clone(),
        this_update: to_time(this_update)?,
        next_update: Some(to_time(next_update)?),
        // RFC 5280 5.1.2.6: no revoked certificates means no list, not an empty one.
        revoked_certificates: if entries.is_empty() {
            None
        } else {
            Some(entries)
        },
        crl_extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(der_err)?;
    let signature = csca_signer.sign(&tbs_der)?;
    Ok(CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm,
        signature: BitString::from_bytes(&signature).map_err(der_err)?,
    })
}

/// Verifies a CRL against the CSCA certificate that should have issued it: v2, issuer name,
/// authorityKeyIdentifier (when both sides have one), cRLSign in keyUsage, signature (over the
/// TBSCertList octets as received; see [`crate::encoded`]).
pub fn verify_crl(crl: &EncodedCrl, issuer_cert: &Certificate) -> Result<(), CrlError> {
    let tbs = &crl.tbs_cert_list;
    if tbs.version != Version::V2 {
        return Err(CrlError::NotVersion2);
    }
    if tbs.issuer != issuer_cert.tbs_certificate.subject {
        return Err(CrlError::IssuerMismatch);
    }
    let issuer_ki = ski(issuer_cert).unwrap_or_else(|| {
        crate::cert::key_identifier(&issuer_cert.tbs_certificate.subject_public_key_info)
    });
    if let Some(a) = crl_aki(crl) {
        if a != issuer_ki {
            return Err(CrlError::KeyIdentifierMismatch);
        }
    }
    if let Some((_, ku)) = key_usage(issuer_cert) {
        if !ku.crl_sign() {
            return Err(CrlError::NotCrlSigner);
        }
    }
    if crl.signature_algorithm != tbs.signature {
        return Err(CrlError::SignatureInvalid(
            "signatureAlgorithm differs from the TBSCertList's signature field".into(),
        ));
    }
    let tbs_der = crl
        .tbs_der()
        .map_err(|e| CrlError::Malformed(e.to_string()))?;
    let sig = crl
        .signature
        .as_bytes()
        .ok_or_else(|| CrlError::Malformed("signature BIT STRING has unused bits".into()))?;
    crate::verify::verify_signature(
        &issuer_cert.tbs_certificate.subject_public_key_info,
        &crl.signature_algorithm,
        &tbs_der,
        sig,
    )
    .map_err(|e| CrlError::SignatureInvalid(e.to_string()))
}

/// The authorityKeyIdentifier's keyIdentifier of a CRL.
pub fn crl_aki(crl: &CertificateList) -> Option<Vec<u8>> {
    aki_from_extensions(crl.tbs_cert_list.crl_extensions.as_deref())
}

/// The cRLNumber of a CRL, as big-endian octets (leading zeros stripped).
pub fn crl_number(crl: &CertificateList) -> Option<Vec<u8>> {
    let ext = crl
        .tbs_cert_list
        .crl_extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == ID_CE_CRL_NUMBER)?;
    CrlNumber::from_der(ext.extn_value.as_bytes())
        .ok()
        .map(|n| n.0.as_bytes().to_vec())
}

/// thisUpdate and nextUpdate of a CRL.
pub fn crl_times(crl: &CertificateList) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    let t = &crl.tbs_cert_list;
    (
        from_time(&t.this_update),
        t.next_update.as_ref().map(from_time),
    )
}

/// The country of a CRL's issuer.
pub fn crl_country(crl: &CertificateList) -> Option<String> {
    name_country(&crl.tbs_cert_list.issuer)
}

/// The entry for `serial` if the CRL lists it.
pub fn is_revoked(crl: &CertificateList, serial: &SerialNumber) -> Option<RevokedEntry> {
    let list = crl.tbs_cert_list.revoked_certificates.as_ref()?;
    let wanted = strip_sign(serial.as_bytes());
    let entry = list
        .iter()
        .find(|r| strip_sign(r.serial_number.as_bytes()) == wanted)?;
    let reason = entry.crl_entry_extensions.as_ref().and_then(|exts| {
        exts.iter()
            .find(|e| e.extn_id == ID_CE_CRL_REASONS)
            .and_then(|e| CrlReason::from_der(e.extn_value.as_bytes()).ok())
    });
    Some(RevokedEntry {
        serial: entry.serial_number.clone(),
        revocation_date: from_time(&entry.revocation_date),
        reason,
    })
}

fn strip_sign(bytes: &[u8]) -> &[u8] {
    let mut b = bytes;
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    b
}

/// DER of a CRL.
pub fn crl_to_der(crl: &CertificateList) -> Result<Vec<u8>, PkiError> {
    crl.to_der().map_err(der_err)
}

/// PEM (`-----BEGIN X509 CRL-----`) of a CRL.
pub fn crl_to_pem(crl: &CertificateList) -> Result<String, PkiError> {
    let der = crl.to_der().map_err(der_err)?;
    der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &der)
        .map_err(|e| PkiError::Encoding(e.to_string()))
}

/// Parses a DER CRL.
pub fn crl_from_der(der: &[u8]) -> Result<CertificateList, PkiError> {
    CertificateList::from_der(der).map_err(der_err)
}

/// Parses a PEM CRL.
pub fn crl_from_pem(pem: &str) -> Result<CertificateList, PkiError> {
    let (label, der) =
        der::pem::decode_vec(pem.as_bytes()).map_err(|e| PkiError::Encoding(e.to_string()))?;
    if label != "X509 CRL" {
        return Err(PkiError::Encoding(format!(
            "PEM label {label}, want X509 CRL"
        )));
    }
    CertificateList::from_der(&der).map_err(der_err)
}
