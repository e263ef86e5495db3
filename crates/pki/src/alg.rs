//! Object identifiers and AlgorithmIdentifier encodings shared by the PKI.
//!
//! Encoding conventions (ICAO Doc 9303 Part 12, RFC 5754, RFC 5758, RFC 4055):
//! - digest AlgorithmIdentifiers carry no parameters (absent); NULL is accepted when reading;
//! - `ecdsa-with-SHA*` identifiers carry no parameters;
//! - RSASSA-PSS identifiers spell out every parameter except the default trailerField, and the
//!   hash and MGF1 hash identifiers inside them carry NULL parameters, as RFC 4055 writes them.
use crate::signer::SignatureAlgorithm;
use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Any, Decode, Encode, Sequence, Tagged};
use spki::AlgorithmIdentifierOwned;

/// `ecdsa-with-SHA1` (RFC 3279).
pub const ECDSA_WITH_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
/// `ecdsa-with-SHA224` (RFC 5758).
pub const ECDSA_WITH_SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.1");
/// `ecdsa-with-SHA256` (RFC 5758).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `ecdsa-with-SHA384` (RFC 5758).
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// `ecdsa-with-SHA512` (RFC 5758).
pub const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");

/// `id-ecPublicKey` (RFC 5480).
pub const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `prime-field` (X9.62), the fieldType of explicit prime-curve parameters.
pub const ID_PRIME_FIELD: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.1.1");
/// `prime256v1` = NIST P-256 = secp256r1.
pub const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1` = NIST P-384.
pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// `secp521r1` = NIST P-521.
pub const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// `brainpoolP224r1` (RFC 5639).
pub const BRAINPOOL_P224R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.5");
/// `brainpoolP256r1` (RFC 5639).
pub const BRAINPOOL_P256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.7");
/// `brainpoolP320r1` (RFC 5639).
pub const BRAINPOOL_P320R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.9");
/// `brainpoolP384r1` (RFC 5639).
pub const BRAINPOOL_P384R1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.11");
/// `brainpoolP512r1` (RFC 5639).
pub const BRAINPOOL_P512R1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.36.3.3.2.8.1.1.13");

/// `rsaEncryption` (PKCS #1).
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-mgf1` (PKCS #1).
pub const ID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
/// `id-RSASSA-PSS` (PKCS #1, RFC 4055).
pub const ID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
/// `sha1WithRSAEncryption`.
pub const SHA1_WITH_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
/// `sha224WithRSAEncryption`.
pub const SHA224_WITH_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.14");
/// `sha256WithRSAEncryption`.
pub const SHA256_WITH_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// `sha384WithRSAEncryption`.
pub const SHA384_WITH_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
/// `sha512WithRSAEncryption`.
pub const SHA512_WITH_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// `id-sha1`.
pub const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// `id-sha224`.
pub const ID_SHA224: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.4");
/// `id-sha256`.
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// `id-sha384`.
pub const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
/// `id-sha512`.
pub const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// A message digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    /// The digest algorithm an OID names, if it is one of ours.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            ID_SHA1 => Some(Self::Sha1),
            ID_SHA224 => Some(Self::Sha224),
            ID_SHA256 => Some(Self::Sha256),
            ID_SHA384 => Some(Self::Sha384),
            ID_SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Reads a digest AlgorithmIdentifier, accepting absent or NULL parameters (RFC 5754 § 2:
    /// absent is the norm, NULL is what many older encoders write). Other parameters are refused.
    pub fn from_algorithm_identifier(alg: &AlgorithmIdentifierOwned) -> Option<Self> {
        if !params_absent_or_null(alg.parameters.as_ref()) {
            return None;
        }
        Self::from_oid(&alg.oid)
    }

    pub fn oid(&self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => ID_SHA1,
            Self::Sha224 => ID_SHA224,
            Self::Sha256 => ID_SHA256,
            Self::Sha384 => ID_SHA384,
            Self::Sha512 => ID_SHA512,
        }
    }

    /// The digest's length in bytes.
    pub fn output_len(&self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    pub fn digest(&self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The identifier as CMS and ICAO LDS security objects carry it: parameters absent.
    pub fn algorithm_identifier(&self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }

    /// The identifier as RFC 4055 writes it inside RSASSA-PSS parameters: parameters NULL.
    pub fn algorithm_identifier_with_null(&self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: Some(Any::from(AnyRef::NULL)),
        }
    }

    /// The `ecdsa-with-SHA*` signature algorithm using this digest.
    pub fn ecdsa_signature_oid(&self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => ECDSA_WITH_SHA1,
            Self::Sha224 => ECDSA_WITH_SHA224,
            Self::Sha256 => ECDSA_WITH_SHA256,
            Self::Sha384 => ECDSA_WITH_SHA384,
            Self::Sha512 => ECDSA_WITH_SHA512,
        }
    }
}

/// True when an AlgorithmIdentifier's parameters are absent or an ASN.1 NULL.
pub fn params_absent_or_null(params: Option<&Any>) -> bool {
    match params {
        None => true,
        Some(any) => any.tag() == der::Tag::Null && any.value().is_empty(),
    }
}

/// `RSASSA-PSS-params` (RFC 4055 § 3.1). Absent fields take the PKCS #1 defaults (SHA-1,
/// MGF1-SHA-1, salt 20, trailer 1).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RsaPssParameters {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub mask_gen_algorithm: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    pub trailer_field: Option<u32>,
}

/// The RSASSA-PSS parameters in force, defaults resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PssParams {
    pub hash: DigestAlgorithm,
    pub mgf1_hash: DigestAlgorithm,
    pub salt_length: usize,
}

/// Why RSASSA-PSS parameters could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PssParamsError {
    #[error("RSASSA-PSS parameters do not decode: {0}")]
    Malformed(String),
    #[error("RSASSA-PSS uses an unsupported {0}")]
    Unsupported(String),
}

impl RsaPssParameters {
    /// RFC 4055 parameters with everything spelled out except the default trailerField.
    pub fn new(hash: DigestAlgorithm, salt_length: u32) -> Result<Self, der::Error> {
        let mgf1 = AlgorithmIdentifierOwned {
            oid: ID_MGF1,
            parameters: Some(Any::encode_from(&hash.algorithm_identifier_with_null())?),
        };
        Ok(Self {
            hash_algorithm: Some(hash.algorithm_identifier_with_null()),
            mask_gen_algorithm: Some(mgf1),
            salt_length: Some(salt_length),
            trailer_field: None,
        })
    }

    /// Reads the parameters of an `id-RSASSA-PSS` AlgorithmIdentifier.
    pub fn from_algorithm_identifier(
        alg: &AlgorithmIdentifierOwned,
    ) -> Result<PssParams, PssParamsError> {
        let params = match &alg.parameters {
            // RFC 4055 § 3.1: absent parameters in a signature algorithm identifier are not
            // meaningful, but an empty SEQUENCE means "all defaults".
            None => {
                return Err(PssParamsError::Malformed(
                    "parameters are absent".to_string(),
                ))
            }
            Some(any) => any
                .decode_as::<RsaPssParameters>()
                .map_err(|e| PssParamsError::Malformed(e.to_string()))?,
        };
        params.resolve()
    }

    /// Applies the PKCS #1 defaults and checks that every algorithm is one we implement.
    pub fn resolve(&self) -> Result<PssParams, PssParamsError> {
        let hash = match &self.hash_algorithm {
            None => DigestAlgorithm::Sha1,
            Some(h) => DigestAlgorithm::from_algorithm_identifier(h)
                .ok_or_else(|| PssParamsError::Unsupported(format!("hash algorithm {}", h.oid)))?,
        };
        let mgf1_hash = match &self.mask_gen_algorithm {
            None => DigestAlgorithm::Sha1,
            Some(m) => {
                if m.oid != ID_MGF1 {
                    return Err(PssParamsError::Unsupported(format!(
                        "mask generation function {}",
                        m.oid
                    )));
                }
                let inner = m
                    .parameters
                    .as_ref()
                    .ok_or_else(|| {
                        PssParamsError::Malformed("MGF1 without a hash algorithm".to_string())
                    })?
                    .decode_as::<AlgorithmIdentifierOwned>()
                    .map_err(|e| PssParamsError::Malformed(e.to_string()))?;
                DigestAlgorithm::from_algorithm_identifier(&inner).ok_or_else(|| {
                    PssParamsError::Unsupported(format!("MGF1 hash algorithm {}", inner.oid))
                })?
            }
        };
        let salt_length = self.salt_length.unwrap_or(20) as usize;
        if let Some(t) = self.trailer_field {
            if t != 1 {
                return Err(PssParamsError::Unsupported(format!("trailerField {t}")));
            }
        }
        Ok(PssParams {
            hash,
            mgf1_hash,
            salt_length,
        })
    }
}

/// The `id-RSASSA-PSS` AlgorithmIdentifier for the given hash (MGF1 with the same hash) and
/// salt length, parameters spelled out as RFC 4055 writes them.
pub fn rsassa_pss_algorithm_identifier(
    hash: DigestAlgorithm,
    salt_length: u32,
) -> Result<AlgorithmIdentifierOwned, der::Error> {
    Ok(AlgorithmIdentifierOwned {
        oid: ID_RSASSA_PSS,
        parameters: Some(Any::encode_from(&RsaPssParameters::new(
            hash,
            salt_length,
        )?)?),
    })
}

/// The RSASSA-PSS identifier Thabian signs with: SHA-256, MGF1-SHA-256, salt 32, trailer 1.
pub fn rsassa_pss_sha256_algorithm_identifier() -> AlgorithmIdentifierOwned {
    // A fixed DER value rather than an encoding call: the structure is constant, and this way the
    // function cannot fail. The unit tests check it against the encoder.
    const DER: [u8; 67] = [
        0x30, 0x41, // AlgorithmIdentifier
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a, // id-RSASSA-PSS
        0x30, 0x34, // RSASSA-PSS-params
        0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, // [0] sha256, NULL
        0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08,
        0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
        0x00, // [1] mgf1(sha256, NULL)
        0xa2, 0x03, 0x02, 0x01, 0x20, // [2] saltLength 32
    ];
    match AlgorithmIdentifierOwned::from_der(&DER) {
        Ok(a) => a,
        // Unreachable (checked by a unit test); an identifier without parameters would then make
        // every verifier refuse the signature, which is the safe failure.
        Err(_) => AlgorithmIdentifierOwned {
            oid: ID_RSASSA_PSS,
            parameters: None,
        },
    }
}

impl SignatureAlgorithm {
    /// The signatureAlgorithm identifier for signatures made with this algorithm.
    pub fn signature_algorithm_identifier(&self) -> AlgorithmIdentifierOwned {
        match self {
            Self::EcdsaP256Sha256 => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            Self::EcdsaP384Sha384 => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA384,
                parameters: None,
            },
            Self::RsaPssSha256 => rsassa_pss_sha256_algorithm_identifier(),
        }
    }

    /// The digest the signature is computed over (also the SignerInfo digestAlgorithm).
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        match self {
            Self::EcdsaP256Sha256 | Self::RsaPssSha256 => DigestAlgorithm::Sha256,
            Self::EcdsaP384Sha384 => DigestAlgorithm::Sha384,
        }
    }
}

/// DER of an AlgorithmIdentifier, for comparisons and reports.
pub fn algorithm_identifier_der(alg: &AlgorithmIdentifierOwned) -> Result<Vec<u8>, der::Error> {
    alg.to_der()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use const_oid::db::rfc5912;

    #[test]
    fn oids_match_the_const_oid_database() {
        assert_eq!(ECDSA_WITH_SHA224, rfc5912::ECDSA_WITH_SHA_224);
        assert_eq!(ECDSA_WITH_SHA256, rfc5912::ECDSA_WITH_SHA_256);
        assert_eq!(ECDSA_WITH_SHA384, rfc5912::ECDSA_WITH_SHA_384);
        assert_eq!(ECDSA_WITH_SHA512, rfc5912::ECDSA_WITH_SHA_512);
        assert_eq!(ID_EC_PUBLIC_KEY, rfc5912::ID_EC_PUBLIC_KEY);
        assert_eq!(PRIME256V1, rfc5912::SECP_256_R_1);
        assert_eq!(SECP384R1, rfc5912::SECP_384_R_1);
        assert_eq!(SECP521R1, rfc5912::SECP_521_R_1);
        assert_eq!(RSA_ENCRYPTION, rfc5912::RSA_ENCRYPTION);
        assert_eq!(ID_RSASSA_PSS, rfc5912::ID_RSASSA_PSS);
        assert_eq!(ID_MGF1, rfc5912::ID_MGF_1);
        assert_eq!(SHA1_WITH_RSA_ENCRYPTION, rfc5912::SHA_1_WITH_RSA_ENCRYPTION);
        assert_eq!(
            SHA224_WITH_RSA_ENCRYPTION,
            rfc5912::SHA_224_WITH_RSA_ENCRYPTION
        );
        assert_eq!(
            SHA256_WITH_RSA_ENCRYPTION,
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION
        );
        assert_eq!(
            SHA384_WITH_RSA_ENCRYPTION,
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION
        );
        assert_eq!(
            SHA512_WITH_RSA_ENCRYPTION,
            rfc5912::SHA_512_WITH_RSA_ENCRYPTION
        );
        assert_eq!(ID_SHA1, rfc5912::ID_SHA_1);
        assert_eq!(ID_SHA224, rfc5912::ID_SHA_224);
        assert_eq!(ID_SHA256, rfc5912::ID_SHA_256);
        assert_eq!(ID_SHA384, rfc5912::ID_SHA_384);
        assert_eq!(ID_SHA512, rfc5912::ID_SHA_512);
        // const-oid 0.9 has neither ecdsa-with-SHA1 nor the RFC 5639 arcs: checked by hand.
        assert_eq!(ECDSA_WITH_SHA1.to_string(), "1.2.840.10045.4.1");
        assert_eq!(BRAINPOOL_P256R1.to_string(), "1.3.36.3.3.2.8.1.1.7");
    }

    #[test]
    fn fixed_pss_identifier_matches_the_encoder() {
        let encoded = rsassa_pss_algorithm_identifier(DigestAlgorithm::Sha256, 32).unwrap();
        assert_eq!(rsassa_pss_sha256_algorithm_identifier(), encoded);
        assert!(rsassa_pss_sha256_algorithm_identifier()
            .parameters
            .is_some());
        let p = RsaPssParameters::from_algorithm_identifier(&encoded).unwrap();
        assert_eq!(
            p,
            PssParams {
                hash: DigestAlgorithm::Sha256,
                mgf1_hash: DigestAlgorithm::Sha256,
                salt_length: 32
            }
        );
    }

    #[test]
    fn pss_defaults_are_sha1_and_salt_20() {
        let empty = AlgorithmIdentifierOwned {
            oid: ID_RSASSA_PSS,
            parameters: Some(Any::from_der(&[0x30, 0x00]).unwrap()),
        };
        let p = RsaPssParameters::from_algorithm_identifier(&empty).unwrap();
        assert_eq!(p.hash, DigestAlgorithm::Sha1);
        assert_eq!(p.mgf1_hash, DigestAlgorithm::Sha1);
        assert_eq!(p.salt_length, 20);
    }

    #[test]
    fn digest_identifiers_accept_absent_and_null() {
        for d in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha224,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            assert_eq!(d.algorithm_identifier().parameters, None);
            assert_eq!(
                DigestAlgorithm::from_algorithm_identifier(&d.algorithm_identifier()),
                Some(d)
            );
            assert_eq!(
                DigestAlgorithm::from_algorithm_identifier(&d.algorithm_identifier_with_null()),
                Some(d)
            );
            assert_eq!(d.digest(b"abc").len(), d.output_len());
        }
        // Absent parameters: the DER is just the OID.
        assert_eq!(
            DigestAlgorithm::Sha256
                .algorithm_identifier()
                .to_der()
                .unwrap(),
            [0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01]
        );
    }
}
