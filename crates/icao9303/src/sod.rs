//! EF.SOD, the Document Security Object (Doc 9303 Part 10 and Part 11): tag `77` wrapping the
//! DER of a CMS ContentInfo (RFC 5652) of SignedData whose eContent is the
//! [`LdsSecurityObject`] (eContentType [`ID_LDS_SECURITY_OBJECT`], 2.23.136.1.1.1), signed by a
//! Document Signer whose certificate is embedded.
//!
//! [`build_sod`] signs through [`thabian_pki::cms::sign_signed_data`]; [`Sod`] reads a file
//! **without verifying it** (for display): verification is [`crate::pa`]'s job.
use chrono::{DateTime, Utc};
use cms::signed_data::{SignedData, SignerInfo};
use const_oid::db::rfc5911::{ID_MESSAGE_DIGEST, ID_SIGNING_TIME};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Tag, Tagged};
use thabian_pki::cms::{sign_signed_data, CmsError, SignRequest};
use thabian_pki::{DigestAlgorithm, EncodedCertificate, PkiError, Signer};
use thiserror::Error;
use x509_cert::time::Time;
use x509_cert::Certificate;

use crate::lso::{HashAlgorithm, LdsSecurityObject, LsoError, ID_LDS_SECURITY_OBJECT};
use crate::tlv;

/// The outer tag of EF.SOD.
pub const EF_SOD_TAG: u8 = 0x77;

/// Errors building or reading EF.SOD.
#[derive(Debug, Error)]
pub enum SodError {
    /// The LDSSecurityObject is invalid or does not encode.
    #[error(transparent)]
    Lso(#[from] LsoError),
    /// Signing failed (wrong key for the certificate, token error ...).
    #[error("signing EF.SOD: {0}")]
    Signing(#[from] PkiError),
    /// The file is not a `77`-wrapped ContentInfo of SignedData.
    #[error("malformed EF.SOD: {0}")]
    Malformed(String),
    /// The SignedData does not carry an LDSSecurityObject.
    #[error("EF.SOD eContentType is {0}, not id-icao-mrtd-security-ldsSecurityObject")]
    NotLdsSecurityObject(ObjectIdentifier),
}

fn malformed(e: impl std::fmt::Display) -> SodError {
    SodError::Malformed(e.to_string())
}

fn digest_of(hash: HashAlgorithm) -> DigestAlgorithm {
    match hash {
        HashAlgorithm::Sha1 => DigestAlgorithm::Sha1,
        HashAlgorithm::Sha224 => DigestAlgorithm::Sha224,
        HashAlgorithm::Sha256 => DigestAlgorithm::Sha256,
        HashAlgorithm::Sha384 => DigestAlgorithm::Sha384,
        HashAlgorithm::Sha512 => DigestAlgorithm::Sha512,
    }
}

/// The CMS digestAlgorithm EF.SOD is signed with: the LSO's hash when it is the hash of the
/// signer's signature algorithm, else the signature's hash.
///
/// The two cannot differ: RFC 5652 5.4 digests the signed attributes with digestAlgorithm, and
/// OpenSSL (like most readers) verifies the signature over that digest, while the signature
/// algorithm (`ecdsa-with-SHA256` ...) names its own hash.
pub fn sod_digest_algorithm(lso_hash: HashAlgorithm, signer: &dyn Signer) -> DigestAlgorithm {
    let signature_digest = signer.algorithm().digest_algorithm();
    let lso_digest = digest_of(lso_hash);
    if lso_digest == signature_digest {
        lso_digest
    } else {
        signature_digest
    }
}

/// Builds EF.SOD: `77` wrapping a ContentInfo of SignedData over the LSO's DER, eContentType
/// 2.23.136.1.1.1, signed attributes contentType, signingTime and messageDigest, the Document
/// Signer certificate embedded and named by issuerAndSerialNumber.
pub fn build_sod(
    lso: &LdsSecurityObject,
    signer: &dyn Signer,
    ds_cert: &Certificate,
    signing_time: DateTime<Utc>,
) -> Result<Vec<u8>, SodError> {
    build_sod_with_certificate_der(lso, signer, ds_cert, None, signing_time)
}

/// [`build_sod`] for a signer that keeps the DER of its certificate (`ds_cert.to_der()`), as a
/// personalisation run does: it is embedded as it is instead of being encoded per card.
pub fn build_sod_with_certificate_der(
    lso: &LdsSecurityObject,
    signer: &dyn Signer,
    ds_cert: &Certificate,
    ds_cert_der: Option<&[u8]>,
    signing_time: DateTime<Utc>,
) -> Result<Vec<u8>, SodError> {
    lso.validate()?;
    let econtent = lso.to_der()?;
    let digest = sod_digest_algorithm(lso.hash()?, signer);
    let content_info = sign_signed_data(&SignRequest {
        econtent_type: ID_LDS_SECURITY_OBJECT,
        econtent: &econtent,
        digest,
        signer,
        signer_cert: ds_cert,
        signer_cert_der: ds_cert_der,
        signing_time,
        extra_certs: &[],
    })?;
    Ok(tlv::encode(u32::from(EF_SOD_TAG), &content_info))
}

/// A parsed, **unverified** EF.SOD.
#[derive(Debug, Clone)]
pub struct Sod {
    /// The DER of the ContentInfo (EF.SOD without its `77` wrapper), as read.
    pub cms_der: Vec<u8>,
    /// Without its `certificates` (see [`thabian_pki::cms::decode_signed_data`]).
    signed_data: SignedData,
    certificates: Vec<EncodedCertificate>,
}

impl Sod {
    /// Reads EF.SOD: strips tag `77` (a bare ContentInfo starting with `30` is accepted too) and
    /// parses the SignedData. Checks the structure only, not the signature nor the content type.
    pub fn from_file(ef_sod: &[u8]) -> Result<Self, SodError> {
        let cms_der = match ef_sod.first() {
            Some(&EF_SOD_TAG) => tlv::parse_exact(ef_sod).map_err(malformed)?.value,
            Some(0x30) => ef_sod,
            Some(t) => {
                return Err(SodError::Malformed(format!(
                    "file starts with tag {t:#04x}, expected 77"
                )))
            }
            None => return Err(SodError::Malformed("empty file".into())),
        };
        let (signed_data, certificates) =
            thabian_pki::cms::decode_signed_data(cms_der).map_err(|e| match e {
                CmsError::NotSignedData(oid) => {
                    SodError::Malformed(format!("ContentInfo holds {oid}, not SignedData"))
                }
                other => malformed(other),
            })?;
        Ok(Self {
            cms_der: cms_der.to_vec(),
            signed_data,
            certificates,
        })
    }

    /// The parsed SignedData, without its certificates ([`Sod::certificates`] has them).
    pub fn signed_data(&self) -> &SignedData {
        &self.signed_data
    }

    /// The eContentType (2.23.136.1.1.1 in a genuine EF.SOD).
    pub fn econtent_type(&self) -> ObjectIdentifier {
        self.signed_data.encap_content_info.econtent_type
    }

    /// The eContent octets (the DER of the LDSSecurityObject), if present as an OCTET STRING.
    pub fn econtent(&self) -> Option<&[u8]> {
        let any = self.signed_data.encap_content_info.econtent.as_ref()?;
        (any.tag() == Tag::OctetString).then(|| any.value())
    }

    /// Decodes the LDSSecurityObject, without verifying anything.
    pub fn lds_security_object(&self) -> Result<LdsSecurityObject, SodError> {
        if self.econtent_type() != ID_LDS_SECURITY_OBJECT {
            return Err(SodError::NotLdsSecurityObject(self.econtent_type()));
        }
        let econtent = self
            .econtent()
            .ok_or_else(|| SodError::Malformed("no eContent OCTET STRING".into()))?;
        Ok(LdsSecurityObject::from_der(econtent)?)
    }

    /// The SignerInfo, when there is exactly one (as ICAO requires).
    pub fn signer_info(&self) -> Option<&SignerInfo> {
        match self.signed_data.signer_infos.0.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// All embedded certificates, with their octets as embedded (which their issuers'
    /// signatures cover).
    pub fn certificates(&self) -> &[EncodedCertificate] {
        &self.certificates
    }

    /// The embedded certificate the SignerInfo names (the Document Signer), not validated.
    pub fn document_signer(&self) -> Option<EncodedCertificate> {
        self.find_signer(&[])
    }

    /// The Document Signer certificate, among the embedded ones, then among `extra`.
    pub fn find_signer(&self, extra: &[EncodedCertificate]) -> Option<EncodedCertificate> {
        let sid = &self.signer_info()?.sid;
        let matches = |c: &EncodedCertificate| thabian_pki::cms::matches_sid(c, sid);
        self.certificates
            .iter()
            .chain(extra)
            .find(|c| matches(c))
            .cloned()
    }

    /// The SignerInfo's digestAlgorithm, if known.
    pub fn digest_algorithm(&self) -> Option<DigestAlgorithm> {
        DigestAlgorithm::from_algorithm_identifier(&self.signer_info()?.digest_alg)
    }

    /// The value of the messageDigest signed attribute.
    pub fn message_digest(&self) -> Option<&[u8]> {
        let any = self.single_attribute(&ID_MESSAGE_DIGEST)?;
        (any.tag() == Tag::OctetString).then(|| any.value())
    }

    /// The signingTime signed attribute.
    pub fn signing_time(&self) -> Option<DateTime<Utc>> {
        let der = self.single_attribute(&ID_SIGNING_TIME)?.to_der().ok()?;
        Time::from_der(&der)
            .ok()
            .map(|t| thabian_pki::cert::from_time(&t))
    }

    fn single_attribute(&self, oid: &ObjectIdentifier) -> Option<&der::Any> {
        let attrs = self.signer_info()?.signed_attrs.as_ref()?;
        let mut found = attrs.iter().filter(|a| &a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) => match a.values.as_slice() {
                [v] => Some(v),
                _ => None,
            },
            _ => None,
        }
    }

    /// The octets the SignerInfo signature covers, as candidates: the signed attributes as they
    /// appear in the file with `A0` replaced by the SET OF tag `31`, then their DER re-encoding
    /// (the parser sorts a SET OF, so both differ only for a signer that did not sort).
    pub fn signed_attributes_to_verify(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(raw) = raw_signed_attributes(&self.cms_der) {
            out.push(raw);
        }
        if let Some(attrs) = self.signer_info().and_then(|si| si.signed_attrs.as_ref()) {
            if let Ok(der) = attrs.to_der() {
                if !out.contains(&der) {
                    out.push(der);
                }
            }
        }
        out
    }
}

/// One TLV element: (tag, value, whole encoded element).
type Element<'a> = (u32, &'a [u8], &'a [u8]);

/// The TLV elements of `input`, in order.
fn elements(mut input: &[u8]) -> Option<Vec<Element<'_>>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (t, rest) = tlv::parse_one(input).ok()?;
        out.push((t.tag, t.value, &input[..input.len() - rest.len()]));
        input = rest;
    }
    Some(out)
}

fn raw_signed_attributes(content_info: &[u8]) -> Option<Vec<u8>> {
    let ci = elements(content_info)?;
    let ci = elements(ci.first()?.1)?;
    let explicit = elements(ci.get(1)?.1)?;
    let sd = elements(explicit.first()?.1)?;
    // version, digestAlgorithms, encapContentInfo, [0] certificates?, [1] crls?, signerInfos
    let infos = sd.last()?;
    let infos = elements(infos.1)?;
    let si = elements(infos.first()?.1)?;
    let (tag, _, raw) = si.get(3)?;
    if *tag != 0xA0 {
        return None;
    }
    let mut raw = raw.to_vec();
    raw[0] = 0x31;
    Some(raw)
}
