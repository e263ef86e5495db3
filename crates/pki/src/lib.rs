//! Thabian's national PKI, after ICAO Doc 9303 Part 12.
//!
//! Modules: `signer` (the one signing interface), `keys` (software keys in encrypted PKCS#8
//! files), `pkcs11` (keys in a hardware token), `verify` (signature verification for every
//! algorithm a foreign document may use), `cert` (certificate profiles), `encoded` (certificates
//! and CRLs with the octets they were received as, which their signatures cover), `crl`, `cms` (SignedData),
//! `masterlist`, `path` (CSCA → DS path validation).
pub mod alg;
pub mod cert;
pub mod cms;
pub mod crl;
pub mod encoded;
pub mod keys;
pub mod masterlist;
pub mod path;
pub mod pkcs11;
mod signer;
pub mod verify;

pub use alg::DigestAlgorithm;
pub use encoded::{Encoded, EncodedCertificate, EncodedCrl};
pub use keys::{PassphraseSource, SoftwareSigner};
pub use pkcs11::{Pkcs11KeyRef, Pkcs11Signer};
pub use signer::{SignatureAlgorithm, Signer};
pub use verify::{
    check_public_key, spki_with_named_curve, verify_signature, NamedCurve, PublicKeyType,
    VerifyError,
};

/// Errors of the PKI. Messages never contain key material or passphrases.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{0}")]
    Other(String),
    /// A signature did not verify, or could not be checked.
    #[error("signature verification: {0}")]
    Verify(#[from] VerifyError),
    /// A passphrase or PIN could not be read; names its source, never its value.
    #[error("passphrase from {source_name}: {reason}")]
    Passphrase { source_name: String, reason: String },
    /// A key file could not be created, read or decrypted.
    #[error("key file {}: {reason}", path.display())]
    KeyFile {
        path: std::path::PathBuf,
        reason: String,
    },
    /// Decryption of an encrypted private key failed.
    #[error("cannot decrypt the private key: wrong passphrase or damaged key")]
    Decrypt,
    /// A private key is malformed or of an unsupported kind.
    #[error("private key: {0}")]
    Key(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Signing(String),
    /// A PKCS #11 token or module reported an error.
    #[error("PKCS #11: {0}")]
    Pkcs11(String),
    /// A certificate, CRL or CMS request that the profile or the encoding does not allow.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// DER/PEM encoding or decoding failed.
    #[error("encoding: {0}")]
    Encoding(String),
}
