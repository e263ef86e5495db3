//! CMS SignedData (RFC 5652) as ICAO Doc 9303 uses it: the Document Security Object (EF.SOD)
//! and the CSCA master list. One SignerInfo, identified by issuerAndSerialNumber, with signed
//! attributes contentType, signingTime and messageDigest.
use crate::alg::DigestAlgorithm;
use crate::cert::{der_err, from_time, ski, to_time};
use crate::encoded::EncodedCertificate;
use crate::{PkiError, Signer};
use ::cms::content_info::CmsVersion;
use ::cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier};
use chrono::{DateTime, Utc};
use const_oid::db::rfc5911::{ID_CONTENT_TYPE, ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME};
use der::asn1::{OctetStringRef, SetOfVec};
use der::{Any, Decode, Encode, Tag, Tagged};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier};
use x509_cert::attr::Attribute;
use x509_cert::time::Time;
use x509_cert::Certificate;

/// id-icao-mrtd-security-ldsSecurityObject: the eContentType of EF.SOD.
pub const ID_ICAO_LDS_SECURITY_OBJECT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.23.136.1.1.1");
/// id-icao-cscaMasterList: the eContentType of a CSCA master list.
pub const ID_ICAO_CSCA_MASTER_LIST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.23.136.1.1.2");

/// What to sign.
pub struct SignRequest<'a> {
    pub econtent_type: ObjectIdentifier,
    /// The content octets (e.g. the DER of an LDSSecurityObject).
    pub econtent: &'a [u8],
    /// Digest of the eContent (messageDigest). SHA-1 is refused.
    pub digest: DigestAlgorithm,
    pub signer: &'a dyn Signer,
    /// The certificate of `signer`'s key, embedded and named in the SignerInfo.
    pub signer_cert: &'a Certificate,
    /// The DER of `signer_cert`, when the caller keeps it: a Document Signer signs thousands of
    /// EF.SODs with one certificate, and encoding it again for each costs a noticeable share of
    /// a personalisation. `None`: encoded here. Must be `signer_cert.to_der()`.
    pub signer_cert_der: Option<&'a [u8]>,
    pub signing_time: DateTime<Utc>,
    /// Further certificates to embed (rarely wanted: ICAO readers take the DS certificate).
    pub extra_certs: &'a [Certificate],
}

/// Which check of a SignedData verification failed. Each check has its own variant so that a
/// report can say exactly what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmsError {
    #[error("malformed CMS: {0}")]
    Malformed(String),
    #[error("ContentInfo holds {0}, not SignedData")]
    NotSignedData(ObjectIdentifier),
    #[error("eContentType is {found}, expected {expected}")]
    EContentTypeMismatch {
        expected: ObjectIdentifier,
        found: ObjectIdentifier,
    },
    #[error("SignedData carries no eContent (detached signatures are not supported)")]
    NoEContent,
    #[error("unsupported digest algorithm {0}")]
    UnsupportedDigestAlgorithm(ObjectIdentifier),
    #[error("the signer's certificate is neither embedded nor supplied")]
    SignerCertificateNotFound,
    #[error("the SignerInfo has no signed attributes")]
    SignedAttributesMissing,
    #[error("signed attribute {0} is missing or does not hold exactly one value")]
    MissingAttribute(&'static str),
    #[error("contentType attribute is {attribute}, eContentType is {econtent_type}")]
    ContentTypeMismatch {
        attribute: ObjectIdentifier,
        econtent_type: ObjectIdentifier,
    },
    #[error("messageDigest attribute differs from the hash of the eContent")]
    MessageDigestMismatch,
    #[error("SignerInfo signature does not verify: {0}")]
    SignatureInvalid(String),
}

/// One passed check of a SignedData verification, for a step-by-step report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmsStep {
    pub check: CmsCheck,
    pub detail: String,
}

/// The checks [`verify_signed_data`] makes, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmsCheck {
    Parsed,
    EContentType,
    DigestAlgorithm,
    SignerCertificateFound,
    ContentTypeAttribute,
    MessageDigest,
    Signature,
}

/// What a verified SignedData holds. The signer certificate is *not* yet validated against a
/// trust anchor: that is [`crate::path`]'s job.
#[derive(Debug, Clone)]
pub struct VerifiedSignedData {
    pub econtent_type: ObjectIdentifier,
    pub econtent: Vec<u8>,
    /// With its octets as embedded (or as supplied), which its issuer's signature covers.
    pub signer_certificate: EncodedCertificate,
    /// The signingTime attribute, when present.
    pub signing_time: Option<DateTime<Utc>>,
    pub digest_algorithm: DigestAlgorithm,
    /// The SignerInfo signatureAlgorithm as it was written.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// All certificates embedded in the SignedData, with their octets as embedded.
    pub certificates: Vec<EncodedCertificate>,
    pub steps: Vec<CmsStep>,
}

/// Signs `econtent` as a CMS SignedData and returns the DER of the ContentInfo.
pub fn sign_signed_data(request: &SignRequest<'_>) -> Result<Vec<u8>, PkiError> {
    if request.digest == DigestAlgorithm::Sha1 {
        return Err(PkiError::InvalidRequest(
            "SHA-1 is accepted on verification only; sign with SHA-256 or stronger".into(),
        ));
    }
    let cert = request.signer_cert;
    if request.signer.public_key() != &cert.tbs_certificate.subject_public_key_info {
        return Err(PkiError::InvalidRequest(
            "the signing key is not the key of the signer certificate".into(),
        ));
    }
    let digest_alg = request.digest.algorithm_identifier();
    let message_digest = request.digest.digest(request.econtent);
    let attrs: Vec<Attribute> = vec![
        attribute(
            ID_CONTENT_TYPE,
            Any::encode_from(&request.econtent_type).map_err(der_err)?,
        )?,
        attribute(
            ID_SIGNING_TIME,
            Any::encode_from(&to_time(request.signing_time)?).map_err(der_err)?,
        )?,
        attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetStringRef::new(&message_digest).map_err(der_err)?)
                .map_err(der_err)?,
        )?,
    ];
    // SetOfVec sorts by DER encoding, which is what DER wants of a SET OF (X.690 11.6).
    let signed_attrs: SetOfVec<Attribute> = SetOfVec::try_from(attrs).map_err(der_err)?;
    // RFC 5652 5.4: the signature covers the DER of the attributes with the SET OF tag, not the
    // [0] IMPLICIT tag they are carried under.
    let to_sign = signed_attrs.to_der().map_err(der_err)?;
    let signature = request.signer.sign(&to_sign)?;

    let signer_cert_der: std::borrow::Cow<'_, [u8]> = match request.signer_cert_der {
        Some(der) => der.into(),
        None => cert.to_der().map_err(der_err)?.into(),
    };
    // The SignerInfo is put together from DER parts too: its issuerAndSerialNumber is the
    // certificate's own issuer and serial octets, not a deep copy of the Name encoded again.
    let mut implicit_signed_attrs = to_sign;
    implicit_signed_attrs[0] = 0xa0; // [0] IMPLICIT instead of the SET OF tag
    let digest_alg_der = digest_alg.to_der().map_err(der_err)?;
    let signer_info = der_tlv(
        Tag::Sequence,
        &[
            CmsVersion::V1.to_der().map_err(der_err)?,
            issuer_and_serial_number(&signer_cert_der)?,
            digest_alg_der.clone(),
            implicit_signed_attrs,
            request
                .signer
                .signature_algorithm_identifier()
                .to_der()
                .map_err(der_err)?,
            OctetStringRef::new(&signature)
                .map_err(der_err)?
                .to_der()
                .map_err(der_err)?,
        ],
    )?;
    let mut certs: Vec<std::borrow::Cow<'_, [u8]>> = vec![signer_cert_der];
    for c in request.extra_certs {
        if c != cert {
            certs.push(c.to_der().map_err(der_err)?.into());
        }
    }
    let econtent_info = EncapsulatedContentInfo {
        econtent_type: request.econtent_type,
        econtent: Some(
            Any::encode_from(&OctetStringRef::new(request.econtent).map_err(der_err)?)
                .map_err(der_err)?,
        ),
    };
    // The ContentInfo is put together from the DER of its parts, so that the certificates go in
    // as the bytes they are, without a deep copy and a fresh encoding per signature. Decoding
    // the result and encoding it again gives the same bytes (tested).
    let signed_data_parts = [
        // RFC 5652 5.1: version 3 because the eContentType is not id-data.
        CmsVersion::V3.to_der().map_err(der_err)?,
        der_tlv(Tag::Set, &[digest_alg_der])?,
        econtent_info.to_der().map_err(der_err)?,
        der_set_of(
            Tag::ContextSpecific {
                constructed: true,
                number: der::TagNumber::N0,
            },
            certs,
        )?,
        der_tlv(Tag::Set, &[signer_info])?,
    ];
    let signed_data = der_tlv(Tag::Sequence, &signed_data_parts)?;
    let content = der_tlv(
        Tag::ContextSpecific {
            constructed: true,
            number: der::TagNumber::N0,
        },
        &[signed_data],
    )?;
    der_tlv(
        Tag::Sequence,
        &[ID_SIGNED_DATA.to_der().map_err(der_err)?, content],
    )
}

/// `IssuerAndSerialNumber` (RFC 5652 10.2.4) of a certificate, from its own octets: the
/// tbsCertificate's issuer and serialNumber, as they are encoded there.
fn issuer_and_serial_number(cert_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let malformed = || PkiError::InvalidRequest("the signer certificate is not DER".into());
    let (_, cert, _) = tlv(cert_der).ok_or_else(malformed)?;
    let (_, tbs, _) = tlv(cert).ok_or_else(malformed)?;
    let (tag, _, after_version) = tlv(tbs).ok_or_else(malformed)?;
    let at_serial = if tag == 0xa0 { after_version } else { tbs };
    let (_, _, after_serial) = tlv(at_serial).ok_or_else(malformed)?;
    let serial = &at_serial[..at_serial.len() - after_serial.len()];
    let (_, _, at_issuer) = tlv(after_serial).ok_or_else(malformed)?; // signature algorithm
    let (_, _, after_issuer) = tlv(at_issuer).ok_or_else(malformed)?;
    let issuer = &at_issuer[..at_issuer.len() - after_issuer.len()];
    der_tlv(Tag::Sequence, &[issuer, serial])
}

/// `tag`, the DER length of the concatenated `parts`, then the parts.
fn der_tlv<P: AsRef<[u8]>>(tag: Tag, parts: &[P]) -> Result<Vec<u8>, PkiError> {
    let len: usize = parts.iter().map(|p| p.as_ref().len()).sum();
    let header =
        der::Header::new(tag, der::Length::try_from(len).map_err(der_err)?).map_err(der_err)?;
    let mut out = Vec::with_capacity(len + 8);
    header.encode_to_vec(&mut out).map_err(der_err)?;
    for p in parts {
        out.extend_from_slice(p.as_ref());
    }
    Ok(out)
}

/// A SET OF (under `tag`) holding already encoded elements, in DER order: ascending as octet
/// strings, a shorter one compared as if padded with zero octets (X.690 11.6).
fn der_set_of<P: AsRef<[u8]>>(tag: Tag, mut elements: Vec<P>) -> Result<Vec<u8>, PkiError> {
    elements.sort_by(|a, b| {
        let (a, b) = (a.as_ref(), b.as_ref());
        let n = a.len().max(b.len());
        let padded = |x: &[u8], i: usize| x.get(i).copied().unwrap_or(0);
        (0..n)
            .map(|i| padded(a, i).cmp(&padded(b, i)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    der_tlv(tag, &elements)
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, PkiError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(der_err)?,
    })
}

/// Verifies a CMS SignedData (the DER of a ContentInfo; an EF.SOD `77` wrapper is stripped).
///
/// The signer certificate is looked up by the SignerInfo's sid among the embedded certificates,
/// then among `extra_certificates`. SHA-1 digests are accepted (old documents).
pub fn verify_signed_data(
    der: &[u8],
    expected_econtent_type: &ObjectIdentifier,
    extra_certificates: &[EncodedCertificate],
) -> Result<VerifiedSignedData, CmsError> {
    let der = strip_sod_wrapper(der)?;
    let (signed_data, certificates) = decode_signed_data(der)?;
    verify_decoded_signed_data(
        der,
        &signed_data,
        certificates,
        expected_econtent_type,
        extra_certificates,
    )
}

/// [`verify_signed_data`] for a caller that already decoded the ContentInfo `der` (without an
/// EF.SOD wrapper) with [`decode_signed_data`], as a passive authentication has: decoding it a
/// second time cost a verifier as much as hashing the data groups.
pub fn verify_decoded_signed_data(
    der: &[u8],
    signed_data: &SignedData,
    certificates: Vec<EncodedCertificate>,
    expected_econtent_type: &ObjectIdentifier,
    extra_certificates: &[EncodedCertificate],
) -> Result<VerifiedSignedData, CmsError> {
    let mut steps = Vec::new();
    let signer_infos = signed_data.signer_infos.0.as_slice();
    let signer_info = match signer_infos {
        [one] => one,
        other => {
            return Err(CmsError::Malformed(format!(
                "{} SignerInfos, ICAO wants exactly one",
                other.len()
            )))
        }
    };
    steps.push(CmsStep {
        check: CmsCheck::Parsed,
        detail: format!(
            "SignedData version {:?}, {} embedded certificate(s)",
            signed_data.version,
            certificates.len()
        ),
    });

    let encap = &signed_data.encap_content_info;
    if &encap.econtent_type != expected_econtent_type {
        return Err(CmsError::EContentTypeMismatch {
            expected: *expected_econtent_type,
            found: encap.econtent_type,
        });
    }
    let econtent_any = encap.econtent.as_ref().ok_or(CmsError::NoEContent)?;
    if econtent_any.tag() != Tag::OctetString {
        return Err(CmsError::Malformed(format!(
            "eContent is a {}, not an OCTET STRING",
            econtent_any.tag()
        )));
    }
    let econtent = econtent_any.value().to_vec();
    steps.push(CmsStep {
        check: CmsCheck::EContentType,
        detail: format!("eContentType {}", encap.econtent_type),
    });

    let digest_algorithm = DigestAlgorithm::from_algorithm_identifier(&signer_info.digest_alg)
        .ok_or(CmsError::UnsupportedDigestAlgorithm(
            signer_info.digest_alg.oid,
        ))?;
    steps.push(CmsStep {
        check: CmsCheck::DigestAlgorithm,
        detail: format!("{digest_algorithm:?}"),
    });

    let signer_certificate = certificates
        .iter()
        .chain(extra_certificates.iter())
        .find(|c| matches_sid(c, &signer_info.sid))
        .cloned()
        .ok_or(CmsError::SignerCertificateNotFound)?;
    steps.push(CmsStep {
        check: CmsCheck::SignerCertificateFound,
        detail: format!(
            "{} serial {}",
            signer_certificate.tbs_certificate.subject,
            crate::cert::serial_hex(&signer_certificate.tbs_certificate.serial_number)
        ),
    });

    let attrs = signer_info
        .signed_attrs
        .as_ref()
        .ok_or(CmsError::SignedAttributesMissing)?;
    let content_type: ObjectIdentifier = single_value(attrs, &ID_CONTENT_TYPE, "contentType")?
        .decode_as()
        .map_err(|_| CmsError::Malformed("contentType attribute is not an OID".into()))?;
    if content_type != encap.econtent_type {
        return Err(CmsError::ContentTypeMismatch {
            attribute: content_type,
            econtent_type: encap.econtent_type,
        });
    }
    steps.push(CmsStep {
        check: CmsCheck::ContentTypeAttribute,
        detail: format!("contentType {content_type}"),
    });

    let md_any = single_value(attrs, &ID_MESSAGE_DIGEST, "messageDigest")?;
    if md_any.tag() != Tag::OctetString {
        return Err(CmsError::Malformed(
            "messageDigest attribute is not an OCTET STRING".into(),
        ));
    }
    let computed = digest_algorithm.digest(&econtent);
    if md_any.value() != computed.as_slice() {
        return Err(CmsError::MessageDigestMismatch);
    }
    steps.push(CmsStep {
        check: CmsCheck::MessageDigest,
        detail: format!("{digest_algorithm:?} of the eContent matches messageDigest"),
    });

    let signing_time = match attrs.iter().find(|a| a.oid == ID_SIGNING_TIME) {
        None => None,
        Some(a) => match a.values.as_slice() {
            [v] => Some(from_time(
                &v.to_der().and_then(|d| Time::from_der(&d)).map_err(|_| {
                    CmsError::Malformed("signingTime attribute is not a Time".into())
                })?,
            )),
            _ => return Err(CmsError::MissingAttribute("signingTime")),
        },
    };

    // The signature covers the attributes as sent, with the [0] tag replaced by SET OF. The raw
    // octets come first: a signer that did not DER-sort its attributes still signed those octets;
    // the re-encoding (which the parser sorted) is the fallback.
    let raw = raw_signed_attributes(der);
    let reencoded = attrs
        .to_der()
        .map_err(|e| CmsError::Malformed(e.to_string()))?;
    let spki = &signer_certificate.tbs_certificate.subject_public_key_info;
    let signature_algorithm = &signer_info.signature_algorithm;
    let signature = signer_info.signature.as_bytes();
    // verify_signature_with_digest also covers a signatureAlgorithm that names only the key type
    // (rsaEncryption, id-ecPublicKey), the hash then being digestAlgorithm.
    let verify = |msg: &[u8]| {
        crate::verify::verify_signature_with_digest(
            spki,
            signature_algorithm,
            digest_algorithm,
            msg,
            signature,
        )
        .map_err(|e| e.to_string())
    };
    let result = match &raw {
        Some(raw) if raw != &reencoded => verify(raw).or_else(|_| verify(&reencoded)),
        _ => verify(&reencoded),
    };
    result.map_err(CmsError::SignatureInvalid)?;
    steps.push(CmsStep {
        check: CmsCheck::Signature,
        detail: format!(
            "signature ({}) over the signed attributes verifies with the signer's key",
            signature_algorithm.oid
        ),
    });

    Ok(VerifiedSignedData {
        econtent_type: encap.econtent_type,
        econtent,
        signer_certificate,
        signing_time,
        digest_algorithm,
        signature_algorithm: signer_info.signature_algorithm.clone(),
        certificates,
        steps,
    })
}

fn single_value<'a>(
    attrs: &'a SetOfVec<Attribute>,
    oid: &ObjectIdentifier,
    name: &'static str,
) -> Result<&'a Any, CmsError> {
    let mut found = attrs.iter().filter(|a| &a.oid == oid);
    match (found.next(), found.next()) {
        (Some(a), None) => match a.values.as_slice() {
            [v] => Ok(v),
            _ => Err(CmsError::MissingAttribute(name)),
        },
        _ => Err(CmsError::MissingAttribute(name)),
    }
}

/// The SignedData of a ContentInfo (an EF.SOD `77` wrapper is stripped) and the X.509
/// certificates it carries, each parsed once from the octets it is embedded as (see
/// [`embedded_certificates`]). The SignedData returned has no `certificates`: the cms crate
/// would parse every certificate a second time, keep no octets and re-sort the set, so it
/// decodes the SignedData with that field left out.
pub fn decode_signed_data(
    content_info: &[u8],
) -> Result<(SignedData, Vec<EncodedCertificate>), CmsError> {
    let malformed = |what: &str| CmsError::Malformed(what.to_owned());
    let content_info = strip_sod_wrapper(content_info)?;
    let (tag, ci, trailing) = tlv(content_info).ok_or_else(|| malformed("bad ContentInfo"))?;
    if tag != 0x30 || !trailing.is_empty() {
        return Err(malformed("ContentInfo is not one SEQUENCE"));
    }
    let (_, _, after_type) = tlv(ci).ok_or_else(|| malformed("bad contentType"))?;
    let content_type = ObjectIdentifier::from_der(&ci[..ci.len() - after_type.len()])
        .map_err(|e| CmsError::Malformed(format!("contentType: {e}")))?;
    if content_type != ID_SIGNED_DATA {
        return Err(CmsError::NotSignedData(content_type));
    }
    let (tag, explicit, trailing) = tlv(after_type).ok_or_else(|| malformed("bad content"))?;
    if tag != 0xa0 || !trailing.is_empty() {
        return Err(malformed("the content is not one [0] EXPLICIT element"));
    }
    let (tag, _, trailing) = tlv(explicit).ok_or_else(|| malformed("bad SignedData"))?;
    if tag != 0x30 || !trailing.is_empty() {
        return Err(malformed("SignedData is not one SEQUENCE"));
    }
    let fields = signed_data_fields(content_info)
        .ok_or_else(|| malformed("a SignedData field is not a DER element"))?;
    let mut certificates = Vec::new();
    let mut other_fields = Vec::with_capacity(fields.len());
    for (tag, content, whole) in fields {
        if tag == 0xa0 {
            certificates = certificate_set(content);
        } else {
            other_fields.push(whole);
        }
    }
    let sequence =
        der_tlv(Tag::Sequence, &other_fields).map_err(|e| CmsError::Malformed(e.to_string()))?;
    let signed_data =
        SignedData::from_der(&sequence).map_err(|e| CmsError::Malformed(e.to_string()))?;
    Ok((signed_data, certificates))
}

/// The X.509 certificates in the content of a `[0] CertificateSet`, in the order written.
fn certificate_set(set: &[u8]) -> Vec<EncodedCertificate> {
    let mut out = Vec::new();
    let mut rest = set;
    while let Some((_, _, after)) = tlv(rest) {
        let element = &rest[..rest.len() - after.len()];
        if let Ok(c) = EncodedCertificate::from_der(element) {
            out.push(c);
        }
        rest = after;
    }
    out
}

/// The X.509 certificates a SignedData carries, each with its octets as they stand in the
/// ContentInfo `content_info` (an EF.SOD `77` wrapper is stripped), in the order written; other
/// certificate formats are skipped. The parsed SignedData cannot give these: the cms crate
/// re-sorts the SET OF and keeps no octets.
pub fn embedded_certificates(content_info: &[u8]) -> Vec<EncodedCertificate> {
    let Ok(content_info) = strip_sod_wrapper(content_info) else {
        return Vec::new();
    };
    signed_data_fields(content_info)
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(tag, _, _)| *tag == 0xa0)
                .map(|(_, content, _)| certificate_set(content))
        })
        .unwrap_or_default()
}

/// Whether a certificate is the one a SignerIdentifier names.
pub fn matches_sid(cert: &Certificate, sid: &SignerIdentifier) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.issuer == cert.tbs_certificate.issuer
                && ias.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(k) => {
            let own = ski(cert).unwrap_or_else(|| {
                crate::cert::key_identifier(&cert.tbs_certificate.subject_public_key_info)
            });
            k.0.as_bytes() == own.as_slice()
        }
    }
}

/// EF.SOD wraps the ContentInfo in an application tag `77`; accept both forms.
fn strip_sod_wrapper(der: &[u8]) -> Result<&[u8], CmsError> {
    if der.first() == Some(&0x77) {
        let (tag, content, _) =
            tlv(der).ok_or_else(|| CmsError::Malformed("bad EF.SOD tag 77 length".into()))?;
        debug_assert_eq!(tag, 0x77);
        Ok(content)
    } else {
        Ok(der)
    }
}

/// Splits one DER TLV (single-octet tag, definite length) into (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*input.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let content = input.get(header..end)?;
    Some((tag, content, input.get(end..)?))
}

/// One TLV as (tag, content, whole element).
type Field<'a> = (u8, &'a [u8], &'a [u8]);

/// The fields of the SignedData in a ContentInfo: version, digestAlgorithms, encapContentInfo,
/// `[0]` certificates, `[1]` crls, signerInfos.
fn signed_data_fields(content_info: &[u8]) -> Option<Vec<Field<'_>>> {
    let (_, ci, _) = tlv(content_info)?;
    let (_, _, rest) = tlv(ci)?; // contentType
    let (_, explicit, _) = tlv(rest)?; // [0]
    let (_, mut rest, _) = tlv(explicit)?; // SignedData
    let mut fields = Vec::new();
    while !rest.is_empty() {
        let (tag, content, after) = tlv(rest)?;
        fields.push((tag, content, &rest[..rest.len() - after.len()]));
        rest = after;
    }
    Some(fields)
}

/// The octets of the (single) SignerInfo's signedAttrs with the `A0` tag replaced by `31`, as
/// they appear in the input.
fn raw_signed_attributes(content_info: &[u8]) -> Option<Vec<u8>> {
    let (tag, infos, _) = *signed_data_fields(content_info)?.last()?; // SignerInfos
    if tag != 0x31 {
        return None;
    }
    let (_, si, _) = tlv(infos)?; // first SignerInfo
    let (_, _, rest) = tlv(si)?; // version
    let (_, _, rest) = tlv(rest)?; // sid
    let (_, _, rest) = tlv(rest)?; // digestAlgorithm
    let (tag, _, after) = tlv(rest)?;
    if tag != 0xa0 {
        return None;
    }
    let mut out = rest[..rest.len() - after.len()].to_vec();
    out[0] = 0x31;
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::cert::{issue_csca, CscaRequest};
    use crate::keys::SoftwareSigner;
    use crate::SignatureAlgorithm;
    use chrono::TimeZone;

    fn signed(alg: SignatureAlgorithm) -> (SoftwareSigner, Vec<u8>) {
        let signer = SoftwareSigner::generate(alg).unwrap();
        let t = |y| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
        let cert = issue_csca(
            &signer,
            &CscaRequest {
                country: "TH".into(),
                organization: "Test".into(),
                common_name: "Test".into(),
                serial: None,
                not_before: t(2026),
                not_after: t(2030),
                private_key_usage_period: None,
            },
        )
        .unwrap();
        let der = sign_signed_data(&SignRequest {
            econtent_type: ID_ICAO_LDS_SECURITY_OBJECT,
            econtent: b"content",
            digest: DigestAlgorithm::Sha256,
            signer: &signer,
            signer_cert: &cert,
            signer_cert_der: None,
            signing_time: t(2027),
            extra_certs: &[],
        })
        .unwrap();
        (signer, der)
    }

    #[test]
    fn raw_signed_attributes_are_found_and_match_the_der() {
        let (_, der) = signed(SignatureAlgorithm::EcdsaP256Sha256);
        let raw = raw_signed_attributes(&der).unwrap();
        let ci = ::cms::content_info::ContentInfo::from_der(&der).unwrap();
        let sd: SignedData = ci.content.decode_as().unwrap();
        let attrs = sd
            .signer_infos
            .0
            .get(0)
            .unwrap()
            .signed_attrs
            .clone()
            .unwrap();
        assert_eq!(raw, attrs.to_der().unwrap());
        assert_eq!(raw[0], 0x31);
    }

    /// A signer that did not DER-sort its signed attributes signed them in its own order: the
    /// raw octets are what verifies.
    #[test]
    fn unsorted_signed_attributes_verify_as_sent() {
        // RSA: the signature has a fixed length, so it can be replaced in place.
        let (signer, der) = signed(SignatureAlgorithm::RsaPssSha256);
        let raw = raw_signed_attributes(&der).unwrap();
        let pos = der
            .windows(raw.len() - 1)
            .position(|w| w == &raw[1..])
            .unwrap()
            - 1;
        assert_eq!(der[pos], 0xa0);
        // Split the SET OF content into its attributes and reverse their order.
        let (_, content, _) = tlv(&raw).unwrap();
        let header = raw.len() - content.len();
        let mut items = Vec::new();
        let mut rest = content;
        while !rest.is_empty() {
            let (_, _, r) = tlv(rest).unwrap();
            items.push(&rest[..rest.len() - r.len()]);
            rest = r;
        }
        assert_eq!(items.len(), 3);
        items.reverse();
        let mut reordered = raw[..header].to_vec();
        for i in &items {
            reordered.extend_from_slice(i);
        }
        let signature = signer.sign(&reordered).unwrap();
        let mut tampered = der.clone();
        tampered[pos + 1..pos + raw.len()].copy_from_slice(&reordered[1..]);
        let sig_len = signature.len();
        let end = tampered.len();
        tampered[end - sig_len..].copy_from_slice(&signature);
        verify_signed_data(&tampered, &ID_ICAO_LDS_SECURITY_OBJECT, &[]).unwrap();
        // A signature over the DER-sorted form is accepted too (the re-encoding fallback) ...
        let mut sorted_sig = tampered.clone();
        sorted_sig[end - sig_len..].copy_from_slice(&der[end - sig_len..]);
        verify_signed_data(&sorted_sig, &ID_ICAO_LDS_SECURITY_OBJECT, &[]).unwrap();
        // ... and one over neither is not.
        let mut wrong = tampered.clone();
        wrong[end - 1] ^= 1;
        assert!(matches!(
            verify_signed_data(&wrong, &ID_ICAO_LDS_SECURITY_OBJECT, &[]),
            Err(CmsError::SignatureInvalid(_))
        ));
    }
}
