//! The CSCA master list (Doc 9303 Part 12): a CMS SignedData, eContentType 2.23.136.1.1.2,
//! over `CscaMasterList ::= SEQUENCE { version INTEGER (0), certList SET OF Certificate }`,
//! signed by a Master List Signer (EKU 2.23.136.1.1.3) that a CSCA certified.
use crate::cert::{
    aki, der_err, extended_key_usage, ski, validity, verify_issued_by,
    ID_ICAO_CSCA_MASTER_LIST_SIGNING_KEY,
};
use crate::cms::{
    sign_signed_data, verify_signed_data, CmsError, CmsStep, SignRequest, ID_ICAO_CSCA_MASTER_LIST,
};
use crate::encoded::EncodedCertificate;
use crate::{PkiError, Signer};
use chrono::{DateTime, Utc};
use der::{Any, Decode, Encode, Reader, Sequence, SliceReader, Tag, Tagged};
use x509_cert::Certificate;

#[derive(Sequence)]
struct CscaMasterListRaw {
    version: u8,
    cert_list: Any,
}

/// A verified master list.
#[derive(Debug, Clone)]
pub struct MasterList {
    /// The CSCA certificates listed (self-signed and link certificates), with their octets as
    /// listed.
    pub certificates: Vec<EncodedCertificate>,
    /// Entries of certList that did not parse as RFC 5280 certificates, skipped.
    pub skipped: usize,
    pub signer_certificate: EncodedCertificate,
    /// The CSCA certificate that issued the signer certificate.
    pub signer_issuer: EncodedCertificate,
    pub signing_time: Option<DateTime<Utc>>,
    /// The CMS checks that passed.
    pub steps: Vec<CmsStep>,
}

/// Why a master list was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterListError {
    #[error("master list CMS: {0}")]
    Cms(#[from] CmsError),
    #[error("malformed CscaMasterList: {0}")]
    Malformed(String),
    #[error("CscaMasterList version {0}, expected 0")]
    UnsupportedVersion(u8),
    #[error("the signer certificate lacks extendedKeyUsage 2.23.136.1.1.3")]
    NotMasterListSigner,
    #[error("the signer certificate chains to no trusted CSCA")]
    SignerNotTrusted,
    #[error("the signer certificate or its CSCA is not valid at {0}")]
    SignerNotValid(DateTime<Utc>),
}

/// Builds and signs a master list of `cscas` with the Master List Signer key and certificate.
pub fn build_master_list(
    cscas: &[Certificate],
    signer: &dyn Signer,
    signer_cert: &Certificate,
    signing_time: DateTime<Utc>,
) -> Result<Vec<u8>, PkiError> {
    let econtent = encode_csca_master_list(cscas)?;
    sign_signed_data(&SignRequest {
        econtent_type: ID_ICAO_CSCA_MASTER_LIST,
        econtent: &econtent,
        digest: signer.algorithm().digest_algorithm(),
        signer,
        signer_cert,
        signer_cert_der: None,
        signing_time,
        extra_certs: &[],
    })
}

/// DER of a `CscaMasterList`: a SET OF sorted by encoding (X.690 11.6), duplicates dropped.
pub fn encode_csca_master_list(cscas: &[Certificate]) -> Result<Vec<u8>, PkiError> {
    let mut ders = cscas
        .iter()
        .map(|c| c.to_der().map_err(der_err))
        .collect::<Result<Vec<_>, _>>()?;
    ders.sort();
    ders.dedup();
    let cert_list = Any::new(Tag::Set, ders.concat()).map_err(der_err)?;
    CscaMasterListRaw {
        version: 0,
        cert_list,
    }
    .to_der()
    .map_err(der_err)
}

/// Reads the certificates of a `CscaMasterList`, each with its octets as listed; entries that are
/// not RFC 5280 certificates are counted, not fatal (real master lists carry a few odd ones).
pub fn decode_csca_master_list(
    der: &[u8],
) -> Result<(Vec<EncodedCertificate>, usize), MasterListError> {
    let raw =
        CscaMasterListRaw::from_der(der).map_err(|e| MasterListError::Malformed(e.to_string()))?;
    if raw.version != 0 {
        return Err(MasterListError::UnsupportedVersion(raw.version));
    }
    if raw.cert_list.tag() != Tag::Set {
        return Err(MasterListError::Malformed("certList is not a SET".into()));
    }
    let mut reader = SliceReader::new(raw.cert_list.value())
        .map_err(|e| MasterListError::Malformed(e.to_string()))?;
    let mut certs = Vec::new();
    let mut skipped = 0;
    while !reader.is_finished() {
        let element = reader
            .tlv_bytes()
            .map_err(|e| MasterListError::Malformed(e.to_string()))?;
        match EncodedCertificate::from_der(element) {
            Ok(c) => certs.push(c),
            Err(_) => skipped += 1,
        }
    }
    Ok((certs, skipped))
}

/// Verifies and reads a master list.
///
/// The signer certificate must carry EKU 2.23.136.1.1.3 and be issued by a CSCA: one of
/// `trust_anchors` when any are given (the real trust decision), else one of the listed CSCAs
/// (a self-consistency check only: whoever made the list also made that CSCA). With `at`, the
/// signer and its CSCA must be valid at that time.
pub fn parse_master_list(
    der: &[u8],
    trust_anchors: &[EncodedCertificate],
    at: Option<DateTime<Utc>>,
) -> Result<MasterList, MasterListError> {
    let verified = verify_signed_data(der, &ID_ICAO_CSCA_MASTER_LIST, &[])?;
    let (certificates, skipped) = decode_csca_master_list(&verified.econtent)?;
    let signer = verified.signer_certificate;
    match extended_key_usage(&signer) {
        Some((_, purposes)) if purposes.contains(&ID_ICAO_CSCA_MASTER_LIST_SIGNING_KEY) => {}
        _ => return Err(MasterListError::NotMasterListSigner),
    }
    let pool = if trust_anchors.is_empty() {
        &certificates
    } else {
        trust_anchors
    };
    let signer_aki = aki(&signer);
    let issuer = pool
        .iter()
        .find(|c| {
            c.tbs_certificate.subject == signer.tbs_certificate.issuer
                && match (&signer_aki, ski(c)) {
                    (Some(a), Some(s)) => *a == s,
                    _ => true,
                }
                && verify_issued_by(&signer, c).is_ok()
        })
        .cloned()
        .ok_or(MasterListError::SignerNotTrusted)?;
    if let Some(at) = at {
        for c in [&signer, &issuer] {
            let (nb, na) = validity(c);
            if at < nb || at > na {
                return Err(MasterListError::SignerNotValid(at));
            }
        }
    }
    Ok(MasterList {
        certificates,
        skipped,
        signer_certificate: signer,
        signer_issuer: issuer,
        signing_time: verified.signing_time,
        steps: verified.steps,
    })
}
