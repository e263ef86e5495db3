//! One signing interface for every key the national PKI holds, whatever keeps it.
use crate::PkiError;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// The signature algorithms Thabian signs with. Verification accepts more (see `verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// ECDSA over NIST P-256 with SHA-256 (`ecdsa-with-SHA256`).
    EcdsaP256Sha256,
    /// ECDSA over NIST P-384 with SHA-384 (`ecdsa-with-SHA384`).
    EcdsaP384Sha384,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, salt 32 (RFC 4055 parameters spelled out).
    RsaPssSha256,
}

/// A private key that signs, and the public half it certifies.
///
/// `sign` takes the whole message (not a digest) and returns the signature exactly as X.509 and
/// CMS carry it: for ECDSA the DER `Ecdsa-Sig-Value`, for RSA the raw signature octets. The
/// private key may live in a file or in a hardware token; implementations never expose it.
pub trait Signer: Send + Sync {
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The public key, as it goes into a certificate's subjectPublicKeyInfo.
    fn public_key(&self) -> &SubjectPublicKeyInfoOwned;
    /// The signatureAlgorithm identifier that a certificate, CRL or SignerInfo signed by this key
    /// carries (with RSA-PSS parameters spelled out).
    fn signature_algorithm_identifier(&self) -> AlgorithmIdentifierOwned;
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError>;
}
