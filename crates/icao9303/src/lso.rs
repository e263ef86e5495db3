//! The LDSSecurityObject (Doc 9303 Part 10, EF.SOD; Part 11, passive authentication), the
//! content signed in EF.SOD:
//!
//! ```text
//! LDSSecurityObject ::= SEQUENCE {
//!     version                LDSSecurityObjectVersion,   -- v0(0) | v1(1): 1 iff ldsVersionInfo
//!     hashAlgorithm          DigestAlgorithmIdentifier,
//!     dataGroupHashValues    SEQUENCE SIZE (2..ub-DataGroups) OF DataGroupHash,
//!     ldsVersionInfo         LDSVersionInfo OPTIONAL }
//! DataGroupHash ::= SEQUENCE { dataGroupNumber DataGroupNumber (1..16),
//!                              dataGroupHashValue OCTET STRING }
//! LDSVersionInfo ::= SEQUENCE { ldsVersion PrintableString, unicodeVersion PrintableString }
//! ```
//! Its eContentType in the CMS SignedData is [`ID_LDS_SECURITY_OBJECT`] (2.23.136.1.1.1).
//! Each hash covers the **whole** data-group file, outer tag and length included.
//! [`build`] writes SHA-256/384/512 with absent algorithm parameters (RFC 5754); parsing also
//! accepts SHA-1 and SHA-224 and NULL parameters, as found in older documents.

use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, PrintableString};
use der::{Decode, Encode, Sequence, Tagged};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use thiserror::Error;

use crate::lds::DataGroup;

/// id-icao-mrtd-security-ldsSecurityObject, the eContentType of EF.SOD.
pub const ID_LDS_SECURITY_OBJECT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.136.1.1.1");

/// Errors building or reading an LDSSecurityObject.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LsoError {
    /// DER encoding or decoding failed.
    #[error("LDSSecurityObject DER: {0}")]
    Der(String),
    /// A rule of Doc 9303 is broken.
    #[error("LDSSecurityObject: {0}")]
    Invalid(String),
    /// An algorithm this crate does not know or does not write.
    #[error("unsupported hash algorithm {0}")]
    UnsupportedAlgorithm(String),
}

impl From<der::Error> for LsoError {
    fn from(e: der::Error) -> Self {
        LsoError::Der(e.to_string())
    }
}

/// Hash algorithms of the LDSSecurityObject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1: read only (old documents).
    Sha1,
    /// SHA-224: read only.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// The algorithm's OID.
    pub fn oid(self) -> ObjectIdentifier {
        use const_oid::db::rfc5912;
        match self {
            HashAlgorithm::Sha1 => rfc5912::ID_SHA_1,
            HashAlgorithm::Sha224 => rfc5912::ID_SHA_224,
            HashAlgorithm::Sha256 => rfc5912::ID_SHA_256,
            HashAlgorithm::Sha384 => rfc5912::ID_SHA_384,
            HashAlgorithm::Sha512 => rfc5912::ID_SHA_512,
        }
    }

    /// The algorithm of `oid`, if known.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha224,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ]
        .into_iter()
        .find(|a| a.oid() == *oid)
    }

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlgorithm::Sha1 => 20,
            HashAlgorithm::Sha224 => 28,
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
            HashAlgorithm::Sha224 => sha2::Sha224::digest(data).to_vec(),
            HashAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlgorithm::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlgorithm::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The AlgorithmIdentifier with absent parameters (RFC 5754 §2).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }

    /// True for the algorithms [`build`] writes.
    pub fn is_writable(self) -> bool {
        matches!(
            self,
            HashAlgorithm::Sha256 | HashAlgorithm::Sha384 | HashAlgorithm::Sha512
        )
    }
}

/// One data group's hash.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct DataGroupHash {
    /// Data-group number, 1..=16.
    pub data_group_number: u8,
    /// Hash of the whole data-group file.
    pub data_group_hash_value: OctetString,
}

/// LDS and Unicode versions (present in version 1 objects).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct LdsVersionInfo {
    /// `"0107"` for LDS 1.7.
    pub lds_version: PrintableString,
    /// `"040000"` for Unicode 4.0.0.
    pub unicode_version: PrintableString,
}

impl LdsVersionInfo {
    /// LDS 1.7 with Unicode 4.0.0, the values EF.COM carries.
    pub fn lds_1_7() -> Result<Self, LsoError> {
        Ok(Self {
            lds_version: PrintableString::new("0107")?,
            unicode_version: PrintableString::new("040000")?,
        })
    }
}

/// The LDSSecurityObject.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct LdsSecurityObject {
    /// 0 without `lds_version_info`, 1 with it.
    pub version: u8,
    /// The hash algorithm of every data-group hash.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hashes, 2 to 16 of them.
    pub data_group_hash_values: Vec<DataGroupHash>,
    /// LDS and Unicode versions (LDS 1.8 and later write it; version 1).
    #[asn1(optional = "true")]
    pub lds_version_info: Option<LdsVersionInfo>,
}

/// Builds the object over whole data-group files `(number, file bytes)`; sorts by number.
///
/// Fails for SHA-1/SHA-224, fewer than 2 or more than 16 files, a number outside 1..=16 or
/// repeated, or a file whose outer tag is not its data group's tag.
pub fn build(
    hash: HashAlgorithm,
    files: &[(u8, &[u8])],
    lds_version_info: Option<LdsVersionInfo>,
) -> Result<LdsSecurityObject, LsoError> {
    if !hash.is_writable() {
        return Err(LsoError::UnsupportedAlgorithm(format!(
            "{:?} is accepted when reading only",
            hash
        )));
    }
    let mut entries = Vec::with_capacity(files.len());
    for (n, file) in files {
        let dg = DataGroup::new(*n)
            .ok_or_else(|| LsoError::Invalid(format!("data group number {n} not in 1..16")))?;
        if file.first().copied() != Some(dg.tag()) {
            return Err(LsoError::Invalid(format!(
                "the {dg} file does not start with its tag {:#04x}",
                dg.tag()
            )));
        }
        entries.push(DataGroupHash {
            data_group_number: *n,
            data_group_hash_value: OctetString::new(hash.digest(file))?,
        });
    }
    entries.sort_by_key(|e| e.data_group_number);
    let lso = LdsSecurityObject {
        version: u8::from(lds_version_info.is_some()),
        hash_algorithm: hash.algorithm_identifier(),
        data_group_hash_values: entries,
        lds_version_info,
    };
    lso.validate()?;
    Ok(lso)
}

impl LdsSecurityObject {
    /// DER encoding (the eContent of EF.SOD).
    pub fn to_der(&self) -> Result<Vec<u8>, LsoError> {
        Ok(Encode::to_der(self)?)
    }

    /// Parses and checks the Doc 9303 rules (see [`LdsSecurityObject::validate`]).
    pub fn from_der(bytes: &[u8]) -> Result<Self, LsoError> {
        let lso = <Self as Decode>::from_der(bytes)?;
        lso.validate()?;
        Ok(lso)
    }

    /// The hash algorithm, if known.
    pub fn hash(&self) -> Result<HashAlgorithm, LsoError> {
        HashAlgorithm::from_oid(&self.hash_algorithm.oid)
            .ok_or_else(|| LsoError::UnsupportedAlgorithm(self.hash_algorithm.oid.to_string()))
    }

    /// Checks: version 0 without and 1 with ldsVersionInfo; 2..=16 hashes; numbers in 1..=16,
    /// each once; a known hash algorithm with absent or NULL parameters; every hash of the
    /// algorithm's length. The order of the entries is not checked (old documents vary).
    pub fn validate(&self) -> Result<(), LsoError> {
        let bad = |m: String| Err(LsoError::Invalid(m));
        match (self.version, &self.lds_version_info) {
            (0, None) | (1, Some(_)) => {}
            (v, info) => {
                return bad(format!(
                    "version {v} with ldsVersionInfo {}",
                    if info.is_some() { "present" } else { "absent" }
                ))
            }
        }
        let hash = self.hash()?;
        if let Some(p) = &self.hash_algorithm.parameters {
            if p.tag() != der::Tag::Null {
                return bad("hash algorithm parameters must be absent or NULL".into());
            }
        }
        let n = self.data_group_hash_values.len();
        if !(2..=16).contains(&n) {
            return bad(format!("{n} data-group hashes, expected 2 to 16"));
        }
        let mut seen = [false; 17];
        for e in &self.data_group_hash_values {
            let g = usize::from(e.data_group_number);
            if !(1..=16).contains(&g) {
                return bad(format!("data group number {g} not in 1..16"));
            }
            if seen[g] {
                return bad(format!("data group {g} listed twice"));
            }
            seen[g] = true;
            if e.data_group_hash_value.as_bytes().len() != hash.output_len() {
                return bad(format!("DG{g} hash has the wrong length for {hash:?}"));
            }
        }
        Ok(())
    }

    /// The stored hash of data group `number`.
    pub fn hash_of(&self, number: u8) -> Option<&[u8]> {
        self.data_group_hash_values
            .iter()
            .find(|e| e.data_group_number == number)
            .map(|e| e.data_group_hash_value.as_bytes())
    }

    /// The data-group numbers listed, in stored order.
    pub fn data_groups(&self) -> Vec<u8> {
        self.data_group_hash_values
            .iter()
            .map(|e| e.data_group_number)
            .collect()
    }

    /// `Some(true)` when `file` hashes to the stored value of data group `number`, `Some(false)`
    /// when it does not, `None` when the group is not listed or the algorithm is unknown.
    pub fn matches(&self, number: u8, file: &[u8]) -> Option<bool> {
        let expected = self.hash_of(number)?;
        let hash = self.hash().ok()?;
        Some(hash.digest(file) == expected)
    }
}
