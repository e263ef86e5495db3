//! Certificates and CRLs together with the octets they were received as.
//!
//! A certificate's or CRL's signature covers the TBS octets the issuer produced, which are not
//! always DER. x509-cert decodes some non-DER forms that foreign CSCAs and Document Signers do
//! emit (an explicitly encoded DEFAULT such as an extension's `critical FALSE`, a multi-valued
//! RDN whose SET OF is out of order, which it sorts), and re-encoding the parsed value then
//! gives other octets and breaks a genuine signature. [`Encoded`] keeps the parsed value with
//! the octets it was decoded from, and [`crate::cert::verify_issued_by`] and
//! [`crate::crl::verify_crl`] verify over the TBS slice of those octets. A value built here
//! (`From<T>`) has no received octets: it is verified over its DER, which is what its signer
//! signed.
use crate::cert::der_err;
use crate::PkiError;
use der::{Decode, Encode, Header, Reader, SliceReader, Tag};
use std::borrow::Cow;
use std::ops::Deref;
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;

/// A parsed X.509 structure (`SEQUENCE { tbs, signatureAlgorithm, signature }`) and, when it
/// was decoded from octets, those octets. Dereferences to the parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded<T> {
    value: T,
    received: Option<Vec<u8>>,
}

/// A certificate with the octets it was received as.
pub type EncodedCertificate = Encoded<Certificate>;
/// A CRL with the octets it was received as.
pub type EncodedCrl = Encoded<CertificateList>;

impl<T> Encoded<T>
where
    T: for<'a> Decode<'a> + Encode,
{
    /// Decodes `der` (trailing octets are an error) and keeps it.
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        Ok(Self {
            value: T::from_der(der).map_err(der_err)?,
            received: Some(der.to_vec()),
        })
    }

    /// The parsed value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The parsed value, without the octets.
    pub fn into_value(self) -> T {
        self.value
    }

    /// The octets it was decoded from; `None` for a value built in this process.
    pub fn received(&self) -> Option<&[u8]> {
        self.received.as_deref()
    }

    /// The whole encoding: the octets received, else the DER of the value.
    pub fn der(&self) -> Result<Cow<'_, [u8]>, PkiError> {
        match &self.received {
            Some(r) => Ok(Cow::Borrowed(r)),
            None => Ok(Cow::Owned(self.value.to_der().map_err(der_err)?)),
        }
    }

    /// The octets the signature covers: the first element of the outer SEQUENCE (the
    /// TBSCertificate or TBSCertList) as received, else as DER-encoded here.
    pub fn tbs_der(&self) -> Result<Cow<'_, [u8]>, PkiError> {
        match self.der()? {
            Cow::Borrowed(r) => Ok(Cow::Borrowed(first_element(r)?)),
            Cow::Owned(d) => Ok(Cow::Owned(first_element(&d)?.to_vec())),
        }
    }
}

impl Encoded<Certificate> {
    /// Decodes one PEM `CERTIFICATE` block and keeps its DER.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        Self::from_der(&pem_der(pem, "CERTIFICATE")?)
    }
}

impl Encoded<CertificateList> {
    /// Decodes one PEM `X509 CRL` block and keeps its DER.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        Self::from_der(&pem_der(pem, "X509 CRL")?)
    }
}

fn pem_der(pem: &str, want: &str) -> Result<Vec<u8>, PkiError> {
    let (label, der) =
        der::pem::decode_vec(pem.as_bytes()).map_err(|e| PkiError::Encoding(e.to_string()))?;
    if label != want {
        return Err(PkiError::Encoding(format!(
            "PEM label {label}, want {want}"
        )));
    }
    Ok(der)
}

/// The first TLV inside the SEQUENCE that `der` starts with, as it stands in `der`.
fn first_element(der: &[u8]) -> Result<&[u8], PkiError> {
    let mut reader = SliceReader::new(der).map_err(der_err)?;
    let outer = Header::decode(&mut reader).map_err(der_err)?;
    outer.tag.assert_eq(Tag::Sequence).map_err(der_err)?;
    reader.tlv_bytes().map_err(der_err)
}

impl<T> From<T> for Encoded<T> {
    fn from(value: T) -> Self {
        Self {
            value,
            received: None,
        }
    }
}

impl<T> Deref for Encoded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> AsRef<T> for Encoded<T> {
    fn as_ref(&self) -> &T {
        &self.value
    }
}
