//! Software keys: private keys held in memory and stored in passphrase-encrypted PKCS #8 files.
//!
//! Files are PKCS #8 `EncryptedPrivateKeyInfo` in PEM ("ENCRYPTED PRIVATE KEY"), PBES2 with
//! PBKDF2-HMAC-SHA-256 and AES-256-CBC: the scheme OpenSSL itself writes, so `openssl pkey` reads
//! the files and an operator can move a key into a token with standard tools. Passphrases never
//! appear in errors, logs or `Debug` output; errors name where the passphrase came from.
use crate::alg::{ID_EC_PUBLIC_KEY, PRIME256V1, RSA_ENCRYPTION, SECP384R1};
use crate::signer::{SignatureAlgorithm, Signer};
use crate::PkiError;
use der::asn1::ObjectIdentifier;
use der::Decode;
use pkcs8::{
    pkcs5, DecodePrivateKey, EncodePrivateKey, EncodePublicKey, EncryptedPrivateKeyInfo,
    LineEnding, PrivateKeyInfo, SecretDocument,
};
use rand::rngs::OsRng;
use rand::RngCore;
use rsa::traits::PublicKeyParts;
use signature::{RandomizedSigner, SignatureEncoding};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// PBKDF2-HMAC-SHA-256 iterations for new key files (OWASP 2023 guidance for PBKDF2-SHA-256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// RSA modulus size of generated RSA-PSS keys.
pub const RSA_DEFAULT_BITS: usize = 3072;

/// Smallest RSA modulus a software signer accepts.
pub const RSA_MIN_BITS: usize = 2048;

const PEM_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// Where a passphrase (or a token PIN) comes from. Holds only the location, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// The first line of this file, without its line ending.
    File(PathBuf),
    /// The value of this environment variable.
    Env(String),
}

impl fmt::Display for PassphraseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "file {}", p.display()),
            Self::Env(v) => write!(f, "environment variable {v}"),
        }
    }
}

impl PassphraseSource {
    /// Reads the passphrase. An empty passphrase is refused.
    pub fn read(&self) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        let err = |reason: &str| PkiError::Passphrase {
            source_name: self.to_string(),
            reason: reason.to_string(),
        };
        let value = match self {
            Self::File(path) => {
                let content =
                    Zeroizing::new(std::fs::read(path).map_err(|e| PkiError::Passphrase {
                        source_name: self.to_string(),
                        reason: e.to_string(),
                    })?);
                let line = content.split(|b| *b == b'\n').next().unwrap_or(&[]);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                Zeroizing::new(line.to_vec())
            }
            Self::Env(name) => {
                use std::os::unix::ffi::OsStringExt;
                let value = std::env::var_os(name).ok_or_else(|| err("not set"))?;
                Zeroizing::new(value.into_vec())
            }
        };
        if value.is_empty() {
            return Err(err("empty passphrase"));
        }
        Ok(value)
    }
}

enum SoftwareKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    RsaPss(rsa::pss::BlindedSigningKey<sha2::Sha256>),
}

/// A private key held in process memory (zeroized on drop by the key types).
pub struct SoftwareSigner {
    key: SoftwareKey,
    algorithm: SignatureAlgorithm,
    spki: SubjectPublicKeyInfoOwned,
}

impl fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn key_err(e: impl fmt::Display) -> PkiError {
    PkiError::Key(e.to_string())
}

fn spki_from_der(der: &[u8]) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
    SubjectPublicKeyInfoOwned::from_der(der).map_err(key_err)
}

impl SoftwareSigner {
    /// Generates a new key with the operating system's CSPRNG (RSA: 3072 bits).
    pub fn generate(algorithm: SignatureAlgorithm) -> Result<Self, PkiError> {
        let key = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                SoftwareKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng))
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                SoftwareKey::P384(p384::ecdsa::SigningKey::random(&mut OsRng))
            }
            SignatureAlgorithm::RsaPssSha256 => {
                let key = rsa::RsaPrivateKey::new(&mut OsRng, RSA_DEFAULT_BITS).map_err(key_err)?;
                SoftwareKey::RsaPss(rsa::pss::BlindedSigningKey::new(key))
            }
        };
        Self::from_key(key)
    }

    fn from_key(key: SoftwareKey) -> Result<Self, PkiError> {
        let (algorithm, spki_der) = match &key {
            SoftwareKey::P256(k) => (
                SignatureAlgorithm::EcdsaP256Sha256,
                k.verifying_key().to_public_key_der().map_err(key_err)?,
            ),
            SoftwareKey::P384(k) => (
                SignatureAlgorithm::EcdsaP384Sha384,
                k.verifying_key().to_public_key_der().map_err(key_err)?,
            ),
            SoftwareKey::RsaPss(k) => (
                SignatureAlgorithm::RsaPssSha256,
                k.as_ref()
                    .to_public_key()
                    .to_public_key_der()
                    .map_err(key_err)?,
            ),
        };
        Ok(Self {
            key,
            algorithm,
            spki: spki_from_der(spki_der.as_bytes())?,
        })
    }

    /// Reads an unencrypted PKCS #8 `PrivateKeyInfo` (test fixtures, keys from other tools):
    /// EC keys on P-256 or P-384, or RSA keys of at least 2048 bits (signing RSASSA-PSS).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, PkiError> {
        let info = PrivateKeyInfo::try_from(der).map_err(key_err)?;
        let key = match info.algorithm.oid {
            ID_EC_PUBLIC_KEY => {
                let curve: ObjectIdentifier = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| PkiError::Key("EC key without a named curve".to_string()))?;
                match curve {
                    PRIME256V1 => SoftwareKey::P256(
                        p256::ecdsa::SigningKey::from_pkcs8_der(der).map_err(key_err)?,
                    ),
                    SECP384R1 => SoftwareKey::P384(
                        p384::ecdsa::SigningKey::from_pkcs8_der(der).map_err(key_err)?,
                    ),
                    other => {
                        return Err(PkiError::Key(format!(
                            "EC curve {other} is not one Thabian signs with"
                        )))
                    }
                }
            }
            RSA_ENCRYPTION => {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(key_err)?;
                let bits = key.n().bits();
                if bits < RSA_MIN_BITS {
                    return Err(PkiError::Key(format!(
                        "RSA key of {bits} bits; at least {RSA_MIN_BITS} required"
                    )));
                }
                SoftwareKey::RsaPss(rsa::pss::BlindedSigningKey::new(key))
            }
            other => {
                return Err(PkiError::Key(format!(
                    "private key algorithm {other} is not supported"
                )))
            }
        };
        Self::from_key(key)
    }

    fn pkcs8_der(&self) -> Result<SecretDocument, PkiError> {
        match &self.key {
            SoftwareKey::P256(k) => p256::SecretKey::from(k).to_pkcs8_der(),
            SoftwareKey::P384(k) => p384::SecretKey::from(k).to_pkcs8_der(),
            SoftwareKey::RsaPss(k) => k.as_ref().to_pkcs8_der(),
        }
        .map_err(key_err)
    }

    /// The key as a PEM `EncryptedPrivateKeyInfo` (PBES2: PBKDF2-HMAC-SHA-256, AES-256-CBC,
    /// random salt and IV).
    pub fn to_encrypted_pkcs8_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>, PkiError> {
        if passphrase.is_empty() {
            return Err(PkiError::Key(
                "refusing to encrypt a key under an empty passphrase".to_string(),
            ));
        }
        let der = self.pkcs8_der()?;
        let info = PrivateKeyInfo::try_from(der.as_bytes()).map_err(key_err)?;
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut iv);
        let params =
            pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
                .map_err(key_err)?;
        let encrypted = info
            .encrypt_with_params(params, passphrase)
            .map_err(key_err)?;
        encrypted.to_pem(PEM_LABEL, LineEnding::LF).map_err(key_err)
    }

    /// Reads a PEM `EncryptedPrivateKeyInfo` (any PBES2 scheme the pkcs5 crate implements:
    /// PBKDF2 or scrypt, AES-CBC), detecting the key's algorithm and curve.
    pub fn from_encrypted_pkcs8_pem(pem: &str, passphrase: &[u8]) -> Result<Self, PkiError> {
        let (label, doc) = SecretDocument::from_pem(pem).map_err(key_err)?;
        if label != PEM_LABEL {
            return Err(PkiError::Key(format!(
                "PEM label is {label:?}, expected {PEM_LABEL:?}"
            )));
        }
        let encrypted = EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).map_err(key_err)?;
        let plain = encrypted
            .decrypt(passphrase)
            .map_err(|_| PkiError::Decrypt)?;
        // A wrong passphrase usually fails the CBC padding check, but 1 time in ~256 it leaves
        // valid padding around garbage: that too is a decryption failure, not a malformed key.
        PrivateKeyInfo::try_from(plain.as_bytes()).map_err(|_| PkiError::Decrypt)?;
        Self::from_pkcs8_der(plain.as_bytes())
    }

    /// Writes the encrypted key to a new file created with mode 0600; an existing file is never
    /// overwritten.
    pub fn write_encrypted(&self, path: &Path, passphrase: &[u8]) -> Result<(), PkiError> {
        let pem = self.to_encrypted_pkcs8_pem(passphrase)?;
        let file_err = |e: std::io::Error| PkiError::KeyFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    PkiError::KeyFile {
                        path: path.to_path_buf(),
                        reason: "already exists; refusing to overwrite a key file".to_string(),
                    }
                } else {
                    file_err(e)
                }
            })?;
        file.write_all(pem.as_bytes()).map_err(file_err)?;
        file.sync_all().map_err(file_err)?;
        Ok(())
    }

    /// Loads a key file written by [`SoftwareSigner::write_encrypted`] (or by OpenSSL).
    pub fn load_encrypted(path: &Path, passphrase: &PassphraseSource) -> Result<Self, PkiError> {
        let file_err = |reason: String| PkiError::KeyFile {
            path: path.to_path_buf(),
            reason,
        };
        let pem =
            Zeroizing::new(std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?);
        let pass = passphrase.read()?;
        Self::from_encrypted_pkcs8_pem(&pem, &pass).map_err(|e| match e {
            PkiError::Decrypt => file_err(format!(
                "cannot decrypt with the passphrase from {passphrase}: wrong passphrase or damaged file"
            )),
            PkiError::Key(reason) => file_err(reason),
            other => other,
        })
    }
}

impl Signer for SoftwareSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }

    fn signature_algorithm_identifier(&self) -> AlgorithmIdentifierOwned {
        self.algorithm.signature_algorithm_identifier()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let sign_err = |e: signature::Error| PkiError::Signing(e.to_string());
        // Hedged ECDSA: RFC 6979 nonces with added randomness.
        Ok(match &self.key {
            SoftwareKey::P256(k) => {
                let sig: p256::ecdsa::DerSignature =
                    k.try_sign_with_rng(&mut OsRng, message).map_err(sign_err)?;
                sig.to_vec()
            }
            SoftwareKey::P384(k) => {
                let sig: p384::ecdsa::DerSignature =
                    k.try_sign_with_rng(&mut OsRng, message).map_err(sign_err)?;
                sig.to_vec()
            }
            SoftwareKey::RsaPss(k) => k
                .try_sign_with_rng(&mut OsRng, message)
                .map_err(sign_err)?
                .to_vec(),
        })
    }
}
