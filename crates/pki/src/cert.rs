//! Certificates of the national PKI, after ICAO Doc 9303 Part 12: the CSCA (self-signed), CSCA
//! link certificates (old key → new key), Document Signers and Master List Signers.
//!
//! The TBSCertificate is built here and its DER is signed through [`Signer`], so that a key in a
//! hardware token signs exactly like a key in a file.
use crate::encoded::EncodedCertificate;
use crate::{PkiError, Signer};
use chrono::{DateTime, Datelike, Timelike, Utc};
use const_oid::db::rfc4519::{COMMON_NAME, COUNTRY_NAME, ORGANIZATION_NAME};
use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE,
    ID_CE_PRIVATE_KEY_USAGE_PERIOD, ID_CE_SUBJECT_KEY_IDENTIFIER,
};
use der::asn1::{
    BitString, GeneralizedTime, OctetString, PrintableString, PrintableStringRef, SetOfVec,
    UtcTime, Utf8StringRef,
};
use der::{Any, Decode, DecodePem, Encode, EncodePem, Sequence};
use sha1::{Digest, Sha1};
use spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};
use std::fmt;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    PrivateKeyUsagePeriod, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

/// id-icao-mrtd-security-cscaMasterListSigningKey (Doc 9303 Part 12): the extended key usage of
/// a Master List Signer.
pub const ID_ICAO_CSCA_MASTER_LIST_SIGNING_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.23.136.1.1.3");
/// id-icao-mrtd-security-extensions-documentTypeList (Doc 9303 Part 12).
pub const ID_ICAO_DOCUMENT_TYPE_LIST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.23.136.1.1.6.2");

const ID_CE_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const ID_CE_ISSUER_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.18");
const ID_CE_NAME_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.30");
const ID_CE_POLICY_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.36");
const ID_CE_CRL_DISTRIBUTION_POINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const ID_CE_CERTIFICATE_POLICIES: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.32");
const ID_NETSCAPE_CERT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113730.1.1");

/// What a new CSCA (self-signed, or the subject of a link certificate) is named and how long it
/// lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CscaRequest {
    /// ISO 3166-1 alpha-2 (or ICAO) country code, two upper-case letters.
    pub country: String,
    pub organization: String,
    pub common_name: String,
    /// Big-endian unsigned serial number; `None` draws a random one.
    pub serial: Option<Vec<u8>>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// The period the private key may sign in (privateKeyUsagePeriod, 2.5.29.16).
    pub private_key_usage_period: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// What a Document Signer is named, how long it lives and which documents it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsRequest {
    pub country: String,
    pub organization: String,
    pub common_name: String,
    /// Big-endian unsigned serial number; `None` draws a random one.
    pub serial: Option<Vec<u8>>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub private_key_usage_period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Document types for the Document Type List extension, e.g. `["ID"]` (PrintableString each).
    pub document_types: Vec<String>,
}

/// What a Master List Signer is named and how long it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterListSignerRequest {
    pub country: String,
    pub organization: String,
    pub common_name: String,
    /// Big-endian unsigned serial number; `None` draws a random one.
    pub serial: Option<Vec<u8>>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub private_key_usage_period: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// `DocumentTypeListSyntax ::= SEQUENCE { version INTEGER (0), docTypeList SET OF DocumentType }`
/// with `DocumentType ::= PrintableString` (Doc 9303 Part 12).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct DocumentTypeListSyntax {
    pub version: u8,
    pub doc_type_list: SetOfVec<PrintableString>,
}

/// The Doc 9303 Part 12 profile a certificate is meant to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileKind {
    /// Self-signed CSCA certificate.
    Csca,
    /// CSCA link certificate: the new CSCA key certified by the old one.
    CscaLink,
    DocumentSigner,
    MasterListSigner,
}

/// How serious a profile finding is: an `Error` breaks the profile in a way that changes what
/// the key may do; a `Warning` is a deviation a tolerant verifier (foreign documents) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// One deviation of a certificate from its Doc 9303 Part 12 profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileFinding {
    NotVersion3,
    SerialNotPositive,
    /// The serial number's content octets, more than 20.
    SerialTooLong(usize),
    CountryMissingInIssuer,
    CountryMissingInSubject,
    /// Issuer and subject name different countries.
    CountryMismatch {
        issuer: String,
        subject: String,
    },
    /// The same extension appears twice (RFC 5280 forbids it).
    DuplicateExtension(ObjectIdentifier),
    /// An extension's value does not decode.
    MalformedExtension(ObjectIdentifier),
    KeyUsageMissing,
    KeyUsageNotCritical,
    /// keyUsage carries other bits than the profile's (bits as names, comma-separated).
    KeyUsageWrong {
        expected: String,
        found: String,
    },
    BasicConstraintsMissing,
    BasicConstraintsNotCritical,
    /// A CSCA without cA = TRUE.
    NotCa,
    /// A CSCA with a pathLenConstraint other than 0.
    PathLenNotZero(Option<u8>),
    /// A Document Signer or Master List Signer marked as a CA.
    UnexpectedCa,
    SubjectKeyIdentifierMissing,
    AuthorityKeyIdentifierMissing,
    /// A self-signed CSCA whose AKI is not its own SKI.
    SelfSignedAkiNotSki,
    /// A self-signed CSCA whose issuer differs from its subject.
    NotSelfSigned,
    /// A link certificate whose AKI equals its SKI (it certifies its own key).
    LinkCertifiesOwnKey,
    ExtendedKeyUsageForbidden,
    ExtendedKeyUsageMissing,
    ExtendedKeyUsageNotCritical,
    /// The EKU lacks 2.23.136.1.1.3 (or carries other purposes too).
    ExtendedKeyUsageWrong(Vec<ObjectIdentifier>),
    DocumentTypeListMissing,
    DocumentTypeListCritical,
    /// An extension the profile forbids (SAN, IAN, name or policy constraints on a CSCA).
    ForbiddenExtension(ObjectIdentifier),
    /// A critical extension this implementation does not understand.
    UnknownCriticalExtension(ObjectIdentifier),
}

impl ProfileFinding {
    /// How serious the finding is for a verifier.
    pub fn severity(&self) -> Severity {
        match self {
            ProfileFinding::DocumentTypeListMissing
            | ProfileFinding::SubjectKeyIdentifierMissing
            | ProfileFinding::AuthorityKeyIdentifierMissing
            | ProfileFinding::SelfSignedAkiNotSki
            | ProfileFinding::SerialNotPositive
            | ProfileFinding::SerialTooLong(_)
            | ProfileFinding::CountryMissingInIssuer
            | ProfileFinding::CountryMissingInSubject
            | ProfileFinding::CountryMismatch { .. }
            | ProfileFinding::DocumentTypeListCritical
            | ProfileFinding::BasicConstraintsNotCritical
            | ProfileFinding::ForbiddenExtension(_) => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for ProfileFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProfileFinding::*;
        match self {
            NotVersion3 => write!(f, "certificate is not X.509 v3"),
            SerialNotPositive => write!(f, "serial number is not positive"),
            SerialTooLong(n) => write!(f, "serial number has {n} octets (at most 20)"),
            CountryMissingInIssuer => write!(f, "issuer name has no countryName"),
            CountryMissingInSubject => write!(f, "subject name has no countryName"),
            CountryMismatch { issuer, subject } => {
                write!(
                    f,
                    "issuer country {issuer} differs from subject country {subject}"
                )
            }
            DuplicateExtension(o) => write!(f, "extension {o} appears more than once"),
            MalformedExtension(o) => write!(f, "extension {o} does not decode"),
            KeyUsageMissing => write!(f, "keyUsage is missing"),
            KeyUsageNotCritical => write!(f, "keyUsage is not critical"),
            KeyUsageWrong { expected, found } => {
                write!(
                    f,
                    "keyUsage is {{{found}}}, the profile wants {{{expected}}}"
                )
            }
            BasicConstraintsMissing => write!(f, "basicConstraints is missing"),
            BasicConstraintsNotCritical => write!(f, "basicConstraints is not critical"),
            NotCa => write!(f, "basicConstraints does not say cA"),
            PathLenNotZero(p) => write!(f, "pathLenConstraint is {p:?}, the profile wants 0"),
            UnexpectedCa => write!(f, "an end-entity certificate says cA"),
            SubjectKeyIdentifierMissing => write!(f, "subjectKeyIdentifier is missing"),
            AuthorityKeyIdentifierMissing => write!(f, "authorityKeyIdentifier is missing"),
            SelfSignedAkiNotSki => write!(f, "self-signed CSCA whose AKI is not its SKI"),
            NotSelfSigned => write!(f, "CSCA issuer differs from its subject"),
            LinkCertifiesOwnKey => write!(f, "link certificate whose AKI equals its SKI"),
            ExtendedKeyUsageForbidden => write!(f, "extendedKeyUsage is forbidden here"),
            ExtendedKeyUsageMissing => write!(f, "extendedKeyUsage is missing"),
            ExtendedKeyUsageNotCritical => write!(f, "extendedKeyUsage is not critical"),
            ExtendedKeyUsageWrong(v) => {
                let v: Vec<String> = v.iter().map(|o| o.to_string()).collect();
                write!(
                    f,
                    "extendedKeyUsage is [{}], want [2.23.136.1.1.3]",
                    v.join(", ")
                )
            }
            DocumentTypeListMissing => write!(f, "Document Type List extension is missing"),
            DocumentTypeListCritical => write!(f, "Document Type List extension is critical"),
            ForbiddenExtension(o) => write!(f, "extension {o} is forbidden by the profile"),
            UnknownCriticalExtension(o) => write!(f, "unknown critical extension {o}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Issuing

/// Issues a self-signed CSCA certificate with `signer`'s key.
pub fn issue_csca(signer: &dyn Signer, request: &CscaRequest) -> Result<Certificate, PkiError> {
    let name = build_name(
        &request.country,
        &request.organization,
        &request.common_name,
    )?;
    let spki = signer.public_key().clone();
    let own_ski = key_identifier(&spki);
    let mut extensions = ca_extensions(&own_ski, &own_ski)?;
    if let Some(period) = request.private_key_usage_period {
        extensions.push(private_key_usage_period_extension(period)?);
    }
    sign_tbs(
        signer,
        Parts {
            serial: request.serial.as_deref(),
            issuer: name.clone(),
            subject: name,
            not_before: request.not_before,
            not_after: request.not_after,
            spki,
            extensions,
        },
    )
}

/// Issues a CSCA link certificate: the old CSCA (`old_csca_signer`, `old_csca_cert`) certifies
/// the new CSCA key, under the new CSCA's name.
pub fn issue_link(
    old_csca_signer: &dyn Signer,
    old_csca_cert: &Certificate,
    new_csca_public_key: &SubjectPublicKeyInfoOwned,
    new_subject: &CscaRequest,
) -> Result<Certificate, PkiError> {
    check_issuer_key(old_csca_signer, old_csca_cert)?;
    let subject = build_name(
        &new_subject.country,
        &new_subject.organization,
        &new_subject.common_name,
    )?;
    check_same_country(old_csca_cert, &new_subject.country)?;
    let old_ski = issuer_key_identifier(old_csca_cert);
    let new_ski = key_identifier(new_csca_public_key);
    let mut extensions = ca_extensions(&old_ski, &new_ski)?;
    if let Some(period) = new_subject.private_key_usage_period {
        extensions.push(private_key_usage_period_extension(period)?);
    }
    sign_tbs(
        old_csca_signer,
        Parts {
            serial: new_subject.serial.as_deref(),
            issuer: old_csca_cert.tbs_certificate.subject.clone(),
            subject,
            not_before: new_subject.not_before,
            not_after: new_subject.not_after,
            spki: new_csca_public_key.clone(),
            extensions,
        },
    )
}

/// Issues a Document Signer certificate under the CSCA.
pub fn issue_document_signer(
    csca_signer: &dyn Signer,
    csca_cert: &Certificate,
    ds_public_key: &SubjectPublicKeyInfoOwned,
    request: &DsRequest,
) -> Result<Certificate, PkiError> {
    if request.document_types.is_empty() {
        return Err(PkiError::InvalidRequest(
            "a Document Signer needs at least one document type".into(),
        ));
    }
    let mut doc_types = Vec::with_capacity(request.document_types.len());
    for t in &request.document_types {
        doc_types.push(PrintableString::new(t).map_err(|_| {
            PkiError::InvalidRequest(format!("document type {t:?} is not a PrintableString"))
        })?);
    }
    let dtl = DocumentTypeListSyntax {
        version: 0,
        doc_type_list: SetOfVec::try_from(doc_types).map_err(der_err)?,
    };
    issue_signer_certificate(
        csca_signer,
        csca_cert,
        ds_public_key,
        &MasterListSignerRequest {
            country: request.country.clone(),
            organization: request.organization.clone(),
            common_name: request.common_name.clone(),
            serial: request.serial.clone(),
            not_before: request.not_before,
            not_after: request.not_after,
            private_key_usage_period: request.private_key_usage_period,
        },
        Vec::new(),
        vec![extension(ID_ICAO_DOCUMENT_TYPE_LIST, false, &dtl)?],
    )
}

/// Issues a Master List Signer certificate under the CSCA (EKU 2.23.136.1.1.3, critical).
pub fn issue_master_list_signer(
    csca_signer: &dyn Signer,
    csca_cert: &Certificate,
    public_key: &SubjectPublicKeyInfoOwned,
    request: &MasterListSignerRequest,
) -> Result<Certificate, PkiError> {
    issue_signer_certificate(
        csca_signer,
        csca_cert,
        public_key,
        request,
        vec![extension(
            ID_CE_EXT_KEY_USAGE,
            true,
            &ExtendedKeyUsage(vec![ID_ICAO_CSCA_MASTER_LIST_SIGNING_KEY]),
        )?],
        Vec::new(),
    )
}

/// A signer certificate under the CSCA (Document Signer or master-list signer): keyUsage
/// digitalSignature (critical), `after_key_usage`, AKI, SKI, privateKeyUsagePeriod when given,
/// then `last`.
fn issue_signer_certificate(
    csca_signer: &dyn Signer,
    csca_cert: &Certificate,
    public_key: &SubjectPublicKeyInfoOwned,
    request: &MasterListSignerRequest,
    after_key_usage: Vec<Extension>,
    last: Vec<Extension>,
) -> Result<Certificate, PkiError> {
    check_issuer_key(csca_signer, csca_cert)?;
    let subject = build_name(
        &request.country,
        &request.organization,
        &request.common_name,
    )?;
    check_same_country(csca_cert, &request.country)?;
    let mut extensions = vec![extension(
        ID_CE_KEY_USAGE,
        true,
        &KeyUsage(KeyUsages::DigitalSignature.into()),
    )?];
    extensions.extend(after_key_usage);
    extensions.push(extension(
        ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &aki_value(&issuer_key_identifier(csca_cert))?,
    )?);
    extensions.push(extension(
        ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(octets(&key_identifier(public_key))?),
    )?);
    if let Some(period) = request.private_key_usage_period {
        extensions.push(private_key_usage_period_extension(period)?);
    }
    extensions.extend(last);
    sign_tbs(
        csca_signer,
        Parts {
            serial: request.serial.as_deref(),
            issuer: csca_cert.tbs_certificate.subject.clone(),
            subject,
            not_before: request.not_before,
            not_after: request.not_after,
            spki: public_key.clone(),
            extensions,
        },
    )
}

struct Parts<'a> {
    serial: Option<&'a [u8]>,
    issuer: Name,
    subject: Name,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    spki: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
}

fn sign_tbs(signer: &dyn Signer, parts: Parts<'_>) -> Result<Certificate, PkiError> {
    if parts.not_after <= parts.not_before {
        return Err(PkiError::InvalidRequest(
            "notAfter must come after notBefore".into(),
        ));
    }
    let serial = match parts.serial {
        Some(bytes) => serial_from_bytes(bytes)?,
        None => random_serial()?,
    };
    let signature_algorithm = signer.signature_algorithm_identifier();
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial,
        signature: signature_algorithm.clone(),
        issuer: parts.issuer,
        validity: Validity {
            not_before: to_time(parts.not_before)?,
            not_after: to_time(parts.not_after)?,
        },
        subject: parts.subject,
        subject_public_key_info: parts.spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(parts.extensions),
    };
    let tbs_der = tbs.to_der().map_err(der_err)?;
    let signature = signer.sign(&tbs_der)?;
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm,
        signature: BitString::from_bytes(&signature).map_err(der_err)?,
    })
}

fn ca_extensions(aki: &[u8], ski: &[u8]) -> Result<Vec<Extension>, PkiError> {
    Ok(vec![
        extension(
            ID_CE_KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        )?,
        extension(
            ID_CE_BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: Some(0),
            },
        )?,
        extension(ID_CE_AUTHORITY_KEY_IDENTIFIER, false, &aki_value(aki)?)?,
        extension(
            ID_CE_SUBJECT_KEY_IDENTIFIER,
            false,
            &SubjectKeyIdentifier(octets(ski)?),
        )?,
    ])
}

fn private_key_usage_period_extension(
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Extension, PkiError> {
    if to <= from {
        return Err(PkiError::InvalidRequest(
            "private key usage period ends before it starts".into(),
        ));
    }
    extension(
        ID_CE_PRIVATE_KEY_USAGE_PERIOD,
        false,
        &PrivateKeyUsagePeriod {
            not_before: Some(generalized_time(from)?),
            not_after: Some(generalized_time(to)?),
        },
    )
}

fn aki_value(key_id: &[u8]) -> Result<AuthorityKeyIdentifier, PkiError> {
    Ok(AuthorityKeyIdentifier {
        key_identifier: Some(octets(key_id)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    })
}

fn extension<T: Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension, PkiError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(der_err)?).map_err(der_err)?,
    })
}

fn octets(bytes: &[u8]) -> Result<OctetString, PkiError> {
    OctetString::new(bytes).map_err(der_err)
}

/// The key must be the one the issuing certificate certifies, or the issued certificate would
/// not verify: catch a wrong key (or token slot) here rather than in the field.
fn check_issuer_key(signer: &dyn Signer, issuer: &Certificate) -> Result<(), PkiError> {
    if signer.public_key() != &issuer.tbs_certificate.subject_public_key_info {
        return Err(PkiError::InvalidRequest(
            "the signing key is not the key of the issuing certificate".into(),
        ));
    }
    Ok(())
}

fn check_same_country(issuer: &Certificate, country: &str) -> Result<(), PkiError> {
    match name_country(&issuer.tbs_certificate.subject) {
        Some(c) if c == country => Ok(()),
        other => Err(PkiError::InvalidRequest(format!(
            "subject country {country} differs from the issuer's ({})",
            other.unwrap_or_default()
        ))),
    }
}

/// The issuer's key identifier: its SKI, or computed from its key if it has none.
fn issuer_key_identifier(issuer: &Certificate) -> Vec<u8> {
    ski(issuer).unwrap_or_else(|| key_identifier(&issuer.tbs_certificate.subject_public_key_info))
}

/// Builds `C=.., O=.., CN=..`: countryName as PrintableString (X.520), the others as
/// PrintableString when they fit, UTF8String otherwise (RFC 5280 4.1.2.6).
pub fn build_name(country: &str, organization: &str, common_name: &str) -> Result<Name, PkiError> {
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(PkiError::InvalidRequest(format!(
            "country {country:?} is not two upper-case letters"
        )));
    }
    if organization.is_empty() || common_name.is_empty() {
        return Err(PkiError::InvalidRequest(
            "organization and common name must not be empty".into(),
        ));
    }
    let mut rdns = Vec::new();
    for (oid, value) in [
        (COUNTRY_NAME, country),
        (ORGANIZATION_NAME, organization),
        (COMMON_NAME, common_name),
    ] {
        let any = match PrintableStringRef::new(value) {
            Ok(p) => Any::encode_from(&p),
            Err(_) => Any::encode_from(&Utf8StringRef::new(value).map_err(der_err)?),
        }
        .map_err(der_err)?;
        let atv = AttributeTypeAndValue { oid, value: any };
        rdns.push(RelativeDistinguishedName(
            SetOfVec::try_from(vec![atv]).map_err(der_err)?,
        ));
    }
    Ok(RdnSequence(rdns))
}

/// The countryName of a name, if it has one.
pub fn name_country(name: &Name) -> Option<String> {
    name.0.iter().flat_map(|rdn| rdn.0.iter()).find_map(|atv| {
        if atv.oid == COUNTRY_NAME {
            directory_string(&atv.value)
        } else {
            None
        }
    })
}

fn directory_string(any: &Any) -> Option<String> {
    std::str::from_utf8(any.value()).ok().map(str::to_owned)
}

fn serial_from_bytes(bytes: &[u8]) -> Result<SerialNumber, PkiError> {
    if bytes.iter().all(|b| *b == 0) {
        return Err(PkiError::InvalidRequest(
            "serial number must be positive".into(),
        ));
    }
    SerialNumber::new(bytes)
        .map_err(|_| PkiError::InvalidRequest("serial number longer than 20 octets".into()))
}

/// 20 random octets with the top bit clear: positive, at most 20 content octets, 159 bits of
/// entropy (RFC 5280 4.1.2.2; CA/B-style unpredictability).
fn random_serial() -> Result<SerialNumber, PkiError> {
    use rand::RngCore;
    let mut bytes = [0u8; 20];
    loop {
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes[0] &= 0x7f;
        if bytes.iter().any(|b| *b != 0) {
            return SerialNumber::new(&bytes).map_err(der_err);
        }
    }
}

/// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. Sub-seconds are dropped
/// (DER times have none).
pub fn to_time(t: DateTime<Utc>) -> Result<Time, PkiError> {
    let dt = der_datetime(t)?;
    if t.year() < 2050 {
        Ok(Time::UtcTime(UtcTime::from_date_time(dt).map_err(der_err)?))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    }
}

/// Converts an ASN.1 time back to chrono.
pub fn from_time(t: &Time) -> DateTime<Utc> {
    let secs = t.to_unix_duration().as_secs();
    DateTime::<Utc>::from_timestamp(i64::try_from(secs).unwrap_or(i64::MAX), 0)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn generalized_time(t: DateTime<Utc>) -> Result<GeneralizedTime, PkiError> {
    Ok(GeneralizedTime::from_date_time(der_datetime(t)?))
}

fn der_datetime(t: DateTime<Utc>) -> Result<der::DateTime, PkiError> {
    let year = u16::try_from(t.year())
        .map_err(|_| PkiError::InvalidRequest(format!("year {} out of range", t.year())))?;
    // Months, days, hours, minutes and seconds all fit in u8 by construction.
    der::DateTime::new(
        year,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second().min(59) as u8,
    )
    .map_err(|e| PkiError::InvalidRequest(format!("time {t} not encodable: {e}")))
}

pub(crate) fn der_err(e: der::Error) -> PkiError {
    PkiError::Encoding(e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Reading

/// RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's value (no tag, length
/// or unused-bits octet).
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

/// The subjectKeyIdentifier of a certificate, if it has a decodable one.
pub fn ski(cert: &Certificate) -> Option<Vec<u8>> {
    let ext = find_extension(cert, &ID_CE_SUBJECT_KEY_IDENTIFIER)?;
    SubjectKeyIdentifier::from_der(ext.extn_value.as_bytes())
        .ok()
        .map(|s| s.0.as_bytes().to_vec())
}

/// The keyIdentifier of a certificate's authorityKeyIdentifier, if it has one.
pub fn aki(cert: &Certificate) -> Option<Vec<u8>> {
    aki_from_extensions(cert.tbs_certificate.extensions.as_deref())
}

pub(crate) fn aki_from_extensions(exts: Option<&[Extension]>) -> Option<Vec<u8>> {
    let ext = exts?
        .iter()
        .find(|e| e.extn_id == ID_CE_AUTHORITY_KEY_IDENTIFIER)?;
    AuthorityKeyIdentifier::from_der(ext.extn_value.as_bytes())
        .ok()?
        .key_identifier
        .map(|k| k.as_bytes().to_vec())
}

/// The certificate's extension with this OID (the first, should it repeat).
pub fn find_extension<'a>(cert: &'a Certificate, oid: &ObjectIdentifier) -> Option<&'a Extension> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| &e.extn_id == oid)
}

/// The keyUsage of a certificate, with its critical flag.
pub fn key_usage(cert: &Certificate) -> Option<(bool, KeyUsage)> {
    let ext = find_extension(cert, &ID_CE_KEY_USAGE)?;
    KeyUsage::from_der(ext.extn_value.as_bytes())
        .ok()
        .map(|k| (ext.critical, k))
}

/// The basicConstraints of a certificate, with its critical flag.
pub fn basic_constraints(cert: &Certificate) -> Option<(bool, BasicConstraints)> {
    let ext = find_extension(cert, &ID_CE_BASIC_CONSTRAINTS)?;
    BasicConstraints::from_der(ext.extn_value.as_bytes())
        .ok()
        .map(|b| (ext.critical, b))
}

/// The extendedKeyUsage purposes of a certificate, with its critical flag.
pub fn extended_key_usage(cert: &Certificate) -> Option<(bool, Vec<ObjectIdentifier>)> {
    let ext = find_extension(cert, &ID_CE_EXT_KEY_USAGE)?;
    ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
        .ok()
        .map(|e| (ext.critical, e.0))
}

/// The document types of a Document Signer's Document Type List extension.
pub fn document_types(cert: &Certificate) -> Option<Vec<String>> {
    let ext = find_extension(cert, &ID_ICAO_DOCUMENT_TYPE_LIST)?;
    DocumentTypeListSyntax::from_der(ext.extn_value.as_bytes())
        .ok()
        .map(|d| d.doc_type_list.iter().map(|s| s.to_string()).collect())
}

/// A decoded privateKeyUsagePeriod (either bound may be absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUsagePeriod {
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
}

/// The privateKeyUsagePeriod of a certificate, if present.
pub fn private_key_usage_period(cert: &Certificate) -> Option<KeyUsagePeriod> {
    let ext = find_extension(cert, &ID_CE_PRIVATE_KEY_USAGE_PERIOD)?;
    let p = PrivateKeyUsagePeriod::from_der(ext.extn_value.as_bytes()).ok()?;
    let conv = |g: GeneralizedTime| from_time(&Time::GeneralTime(g));
    Some(KeyUsagePeriod {
        not_before: p.not_before.map(conv),
        not_after: p.not_after.map(conv),
    })
}

/// notBefore and notAfter of a certificate.
pub fn validity(cert: &Certificate) -> (DateTime<Utc>, DateTime<Utc>) {
    let v = &cert.tbs_certificate.validity;
    (from_time(&v.not_before), from_time(&v.not_after))
}

/// Whether issuer equals subject and the AKI (when present) names the certificate's own key.
/// This is about the names only; [`verify_issued_by`] checks the signature.
pub fn is_self_issued(cert: &Certificate) -> bool {
    let tbs = &cert.tbs_certificate;
    if tbs.issuer != tbs.subject {
        return false;
    }
    match (aki(cert), ski(cert)) {
        (Some(a), Some(s)) => a == s,
        (Some(a), None) => a == key_identifier(&tbs.subject_public_key_info),
        _ => true,
    }
}

/// Verifies that `issuer`'s key signed `cert` (signature only: names, validity and profile are
/// the caller's business), over the TBSCertificate octets as received (see [`crate::encoded`]);
/// a certificate without received octets is verified over its DER.
pub fn verify_issued_by(cert: &EncodedCertificate, issuer: &Certificate) -> Result<(), String> {
    let tbs = cert.tbs_der().map_err(|e| e.to_string())?;
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return Err("signatureAlgorithm differs from the TBSCertificate's signature field".into());
    }
    let sig = cert
        .signature
        .as_bytes()
        .ok_or("signature BIT STRING has unused bits")?;
    crate::verify::verify_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        &cert.signature_algorithm,
        &tbs,
        sig,
    )
    .map_err(|e| e.to_string())
}

/// DER of a certificate.
pub fn certificate_to_der(cert: &Certificate) -> Result<Vec<u8>, PkiError> {
    cert.to_der().map_err(der_err)
}

/// PEM (`-----BEGIN CERTIFICATE-----`) of a certificate.
pub fn certificate_to_pem(cert: &Certificate) -> Result<String, PkiError> {
    cert.to_pem(der::pem::LineEnding::LF).map_err(der_err)
}

/// Parses a DER certificate (trailing bytes are an error).
pub fn certificate_from_der(der: &[u8]) -> Result<Certificate, PkiError> {
    Certificate::from_der(der).map_err(der_err)
}

/// Parses one PEM certificate.
pub fn certificate_from_pem(pem: &str) -> Result<Certificate, PkiError> {
    Certificate::from_pem(pem).map_err(der_err)
}

/// Hex of a certificate's serial number, upper case, no separators.
pub fn serial_hex(serial: &SerialNumber) -> String {
    hex::encode_upper(serial.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Profile check

/// Checks a certificate against its Doc 9303 Part 12 profile. An empty list means it conforms.
/// Signatures, validity dates and revocation are not looked at here.
pub fn check_profile(cert: &Certificate, kind: ProfileKind) -> Vec<ProfileFinding> {
    use ProfileFinding as F;
    let mut out = Vec::new();
    let tbs = &cert.tbs_certificate;
    if tbs.version != Version::V3 {
        out.push(F::NotVersion3);
    }
    let serial = tbs.serial_number.as_bytes();
    // as_bytes keeps the sign octet: a leading 0x00 is sign padding, a leading 1 bit negative.
    let magnitude = match serial.first() {
        Some(0) => &serial[1..],
        _ => serial,
    };
    if serial.first().is_some_and(|b| b & 0x80 != 0) || magnitude.iter().all(|b| *b == 0) {
        out.push(F::SerialNotPositive);
    }
    if serial.len() > 20 {
        out.push(F::SerialTooLong(serial.len()));
    }
    let ic = name_country(&tbs.issuer);
    let sc = name_country(&tbs.subject);
    if ic.is_none() {
        out.push(F::CountryMissingInIssuer);
    }
    if sc.is_none() {
        out.push(F::CountryMissingInSubject);
    }
    if let (Some(i), Some(s)) = (&ic, &sc) {
        if !i.eq_ignore_ascii_case(s) {
            out.push(F::CountryMismatch {
                issuer: i.clone(),
                subject: s.clone(),
            });
        }
    }

    let exts: &[Extension] = tbs.extensions.as_deref().unwrap_or(&[]);
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|p| p.extn_id == e.extn_id) {
            out.push(F::DuplicateExtension(e.extn_id));
        }
        let known = [
            ID_CE_KEY_USAGE,
            ID_CE_BASIC_CONSTRAINTS,
            ID_CE_EXT_KEY_USAGE,
            ID_CE_AUTHORITY_KEY_IDENTIFIER,
            ID_CE_SUBJECT_KEY_IDENTIFIER,
            ID_CE_PRIVATE_KEY_USAGE_PERIOD,
            ID_ICAO_DOCUMENT_TYPE_LIST,
            ID_CE_SUBJECT_ALT_NAME,
            ID_CE_ISSUER_ALT_NAME,
            ID_CE_NAME_CONSTRAINTS,
            ID_CE_POLICY_CONSTRAINTS,
            ID_CE_CRL_DISTRIBUTION_POINTS,
            ID_CE_CERTIFICATE_POLICIES,
            ID_NETSCAPE_CERT_TYPE,
        ];
        if e.critical && !known.contains(&e.extn_id) {
            out.push(F::UnknownCriticalExtension(e.extn_id));
        }
    }

    // keyUsage
    let want = match kind {
        ProfileKind::Csca | ProfileKind::CscaLink => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
        ProfileKind::DocumentSigner | ProfileKind::MasterListSigner => {
            KeyUsages::DigitalSignature.into()
        }
    };
    match find_extension(cert, &ID_CE_KEY_USAGE) {
        None => out.push(F::KeyUsageMissing),
        Some(ext) => {
            if !ext.critical {
                out.push(F::KeyUsageNotCritical);
            }
            match KeyUsage::from_der(ext.extn_value.as_bytes()) {
                Err(_) => out.push(F::MalformedExtension(ID_CE_KEY_USAGE)),
                Ok(ku) if ku.0 != want => out.push(F::KeyUsageWrong {
                    expected: usage_names(want),
                    found: usage_names(ku.0),
                }),
                Ok(_) => {}
            }
        }
    }

    // basicConstraints
    let bc_ext = find_extension(cert, &ID_CE_BASIC_CONSTRAINTS);
    let bc = bc_ext.map(|e| {
        (
            e.critical,
            BasicConstraints::from_der(e.extn_value.as_bytes()),
        )
    });
    match kind {
        ProfileKind::Csca | ProfileKind::CscaLink => match bc {
            None => out.push(F::BasicConstraintsMissing),
            Some((critical, value)) => {
                if !critical {
                    out.push(F::BasicConstraintsNotCritical);
                }
                match value {
                    Err(_) => out.push(F::MalformedExtension(ID_CE_BASIC_CONSTRAINTS)),
                    Ok(b) => {
                        if !b.ca {
                            out.push(F::NotCa);
                        }
                        if b.ca && b.path_len_constraint != Some(0) {
                            out.push(F::PathLenNotZero(b.path_len_constraint));
                        }
                    }
                }
            }
        },
        ProfileKind::DocumentSigner | ProfileKind::MasterListSigner => match bc {
            Some((_, Err(_))) => out.push(F::MalformedExtension(ID_CE_BASIC_CONSTRAINTS)),
            Some((_, Ok(b))) if b.ca => out.push(F::UnexpectedCa),
            _ => {}
        },
    }

    // key identifiers
    let s = ski(cert);
    let a = aki(cert);
    if find_extension(cert, &ID_CE_SUBJECT_KEY_IDENTIFIER).is_some() && s.is_none() {
        out.push(F::MalformedExtension(ID_CE_SUBJECT_KEY_IDENTIFIER));
    }
    if find_extension(cert, &ID_CE_AUTHORITY_KEY_IDENTIFIER).is_some() && a.is_none() {
        out.push(F::MalformedExtension(ID_CE_AUTHORITY_KEY_IDENTIFIER));
    }
    match kind {
        ProfileKind::Csca => {
            if s.is_none() {
                out.push(F::SubjectKeyIdentifierMissing);
            }
            if tbs.issuer != tbs.subject {
                out.push(F::NotSelfSigned);
            }
            if let (Some(a), Some(s)) = (&a, &s) {
                if a != s {
                    out.push(F::SelfSignedAkiNotSki);
                }
            }
        }
        ProfileKind::CscaLink => {
            if s.is_none() {
                out.push(F::SubjectKeyIdentifierMissing);
            }
            match (&a, &s) {
                (None, _) => out.push(F::AuthorityKeyIdentifierMissing),
                (Some(a), Some(s)) if a == s => out.push(F::LinkCertifiesOwnKey),
                _ => {}
            }
        }
        ProfileKind::DocumentSigner | ProfileKind::MasterListSigner => {
            if a.is_none() {
                out.push(F::AuthorityKeyIdentifierMissing);
            }
            if s.is_none() {
                out.push(F::SubjectKeyIdentifierMissing);
            }
        }
    }

    // extendedKeyUsage
    let eku = find_extension(cert, &ID_CE_EXT_KEY_USAGE);
    match kind {
        ProfileKind::MasterListSigner => match eku {
            None => out.push(F::ExtendedKeyUsageMissing),
            Some(ext) => {
                if !ext.critical {
                    out.push(F::ExtendedKeyUsageNotCritical);
                }
                match ExtendedKeyUsage::from_der(ext.extn_value.as_bytes()) {
                    Err(_) => out.push(F::MalformedExtension(ID_CE_EXT_KEY_USAGE)),
                    Ok(e) if e.0 != [ID_ICAO_CSCA_MASTER_LIST_SIGNING_KEY] => {
                        out.push(F::ExtendedKeyUsageWrong(e.0))
                    }
                    Ok(_) => {}
                }
            }
        },
        _ => {
            if eku.is_some() {
                out.push(F::ExtendedKeyUsageForbidden);
            }
        }
    }

    // kind-specific extras
    match kind {
        ProfileKind::Csca | ProfileKind::CscaLink => {
            for oid in [
                ID_CE_SUBJECT_ALT_NAME,
                ID_CE_ISSUER_ALT_NAME,
                ID_CE_NAME_CONSTRAINTS,
                ID_CE_POLICY_CONSTRAINTS,
            ] {
                if find_extension(cert, &oid).is_some() {
                    out.push(F::ForbiddenExtension(oid));
                }
            }
        }
        ProfileKind::DocumentSigner => match find_extension(cert, &ID_ICAO_DOCUMENT_TYPE_LIST) {
            None => out.push(F::DocumentTypeListMissing),
            Some(ext) => {
                if ext.critical {
                    out.push(F::DocumentTypeListCritical);
                }
                if DocumentTypeListSyntax::from_der(ext.extn_value.as_bytes()).is_err() {
                    out.push(F::MalformedExtension(ID_ICAO_DOCUMENT_TYPE_LIST));
                }
            }
        },
        ProfileKind::MasterListSigner => {}
    }
    if let Some(ext) = find_extension(cert, &ID_CE_PRIVATE_KEY_USAGE_PERIOD) {
        if PrivateKeyUsagePeriod::from_der(ext.extn_value.as_bytes()).is_err() {
            out.push(F::MalformedExtension(ID_CE_PRIVATE_KEY_USAGE_PERIOD));
        }
    }
    out
}

fn usage_names(set: der::flagset::FlagSet<KeyUsages>) -> String {
    let names: Vec<String> = set.into_iter().map(|u| format!("{u:?}")).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn time_switches_to_generalized_in_2050() {
        let t = Utc.with_ymd_and_hms(2049, 12, 31, 23, 59, 59).unwrap();
        assert!(matches!(to_time(t).unwrap(), Time::UtcTime(_)));
        let t = Utc.with_ymd_and_hms(2050, 1, 1, 0, 0, 0).unwrap();
        assert!(matches!(to_time(t).unwrap(), Time::GeneralTime(_)));
        assert_eq!(from_time(&to_time(t).unwrap()), t);
    }

    #[test]
    fn random_serials_are_positive_and_short() {
        for _ in 0..200 {
            let s = random_serial().unwrap();
            let der = s.to_der().unwrap();
            // tag, length, ≤ 20 content octets, and no sign padding needed.
            assert!(der.len() <= 22, "{der:02x?}");
            assert_eq!(der[2] & 0x80, 0);
        }
    }

    proptest::proptest! {
        #[test]
        fn times_round_trip(secs in 0i64..4_102_444_800) {
            let t = DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
            let time = to_time(t).unwrap();
            proptest::prop_assert_eq!(matches!(time, Time::UtcTime(_)), t.year() < 2050);
            let der = time.to_der().unwrap();
            proptest::prop_assert_eq!(from_time(&Time::from_der(&der).unwrap()), t);
        }

        #[test]
        fn serials_round_trip(mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 1..=20)) {
            bytes[0] &= 0x7f;
            proptest::prop_assume!(bytes.iter().any(|b| *b != 0));
            let serial = serial_from_bytes(&bytes).unwrap();
            let der = serial.to_der().unwrap();
            proptest::prop_assert!(der.len() <= 22);
            let back: SerialNumber = SerialNumber::from_der(&der).unwrap();
            let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
            // as_bytes keeps the 0x00 sign octet of a value whose top bit is set.
            let back: Vec<u8> = back.as_bytes().iter().copied().skip_while(|b| *b == 0).collect();
            proptest::prop_assert_eq!(back, trimmed);
        }
    }

    #[test]
    fn names_reject_bad_country() {
        assert!(build_name("tl", "O", "CN").is_err());
        assert!(build_name("THA", "O", "CN").is_err());
        let n = build_name("TH", "Ministère", "CSCA").unwrap();
        assert_eq!(name_country(&n).as_deref(), Some("TH"));
    }
}
