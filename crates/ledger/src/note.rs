//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519, and the
//! key-file helpers around them.
//!
//! The format is the one Go's `golang.org/x/mod/sumdb/note` and the
//! transparency-dev witnesses speak, so our checkpoints can be checked and
//! cosigned by tools we did not write.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use pkcs8::LineEnding;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::checkpoint::{check_name, Checkpoint, CheckpointError};

/// Signature type byte for Ed25519 in the signed-note spec.
const ALG_ED25519: u8 = 0x01;
/// Em dash and space that open every signature line.
const SIG_PREFIX: &str = "\u{2014} ";
/// Cap on signature lines, as in Go's `note.Open`; the spec requires at
/// least 16 to be accepted.
const MAX_SIGNATURES: usize = 100;

/// `SHA-256(name || 0x0A || 0x01 || public key)[:4]`, the key id that lets a
/// verifier pick its signature line out of a cosigned note.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn verifier_key_string(name: &str, key: &VerifyingKey) -> String {
    let mut blob = Vec::with_capacity(33);
    blob.push(ALG_ED25519);
    blob.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{}+{}",
        hex4(&key_id(name, key)),
        STANDARD.encode(blob)
    )
}

fn check_text(text: &str) -> Result<(), &'static str> {
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("it contains control characters other than newline");
    }
    Ok(())
}

/// The register's checkpoint-signing identity: a key name (normally the
/// log origin) and its Ed25519 key.
pub struct CheckpointSigner {
    name: String,
    key: SigningKey,
    key_id: [u8; 4],
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        f.debug_struct("CheckpointSigner")
            .field("name", &self.name)
            .field("key_id", &hex4(&self.key_id))
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// Pairs a key name with a signing key. The C2SP checkpoint spec says
    /// the key name SHOULD equal the checkpoint origin.
    pub fn new(name: impl Into<String>, key: SigningKey) -> Result<Self, CheckpointError> {
        let name = name.into();
        check_name(&name)?;
        let key_id = key_id(&name, &key.verifying_key());
        Ok(CheckpointSigner { name, key, key_id })
    }

    /// The key name on the signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id on the signature lines.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The public key, in signed-note vkey form
    /// `<name>+<hex key id>+<base64(0x01 || public key)>`: what we publish
    /// so that others can verify our checkpoints.
    pub fn verifier_key(&self) -> String {
        verifier_key_string(&self.name, &self.key.verifying_key())
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CheckpointVerifier {
        CheckpointVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            key_id: self.key_id,
        }
    }

    fn signature_line(&self, text: &str) -> String {
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.key_id);
        blob.extend_from_slice(&sig.to_bytes());
        format!("{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(blob))
    }

    /// The full signed note for `checkpoint`: its body, a blank line, and
    /// one signature line. Ed25519 is deterministic, so the same checkpoint
    /// and key always give the same text.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let line = self.signature_line(&body);
        format!("{body}\n{line}")
    }

    /// Signs arbitrary note text (which must be non-empty, end with a
    /// newline and contain no control characters but newlines). Exposed so
    /// the signer can be checked against other implementations' vectors.
    pub fn sign_text(&self, text: &str) -> Result<String, CheckpointError> {
        let bad = |m: &str| CheckpointError::InvalidNoteText(m.to_owned());
        if !text.ends_with('\n') {
            return Err(bad("it must be non-empty and end with a newline"));
        }
        check_text(text).map_err(bad)?;
        Ok(format!("{text}\n{}", self.signature_line(text)))
    }
}

/// A trusted checkpoint key, e.g. loaded from configuration as a vkey
/// string. Verifies notes by the signature line with its name and key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointVerifier {
    name: String,
    key: VerifyingKey,
    key_id: [u8; 4],
}

impl CheckpointVerifier {
    /// A verifier for `name` and `key`.
    pub fn new(name: impl Into<String>, key: VerifyingKey) -> Result<Self, CheckpointError> {
        let name = name.into();
        check_name(&name)?;
        let key_id = key_id(&name, &key);
        Ok(CheckpointVerifier { name, key, key_id })
    }

    /// Parses `<name>+<hex key id>+<base64(0x01 || 32-byte key)>` and checks
    /// that the key id matches the name and key, so a mistyped or spliced
    /// vkey is caught at configuration time.
    pub fn from_vkey(vkey: &str) -> Result<Self, CheckpointError> {
        let bad = |m: &str| CheckpointError::MalformedVerifierKey(m.to_owned());
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected <name>+<hex key id>+<base64 key>"));
        };
        check_name(name).map_err(|_| bad("invalid key name"))?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad("the key id must be 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16)
            .map_err(|_| bad("the key id must be 8 hex digits"))?
            .to_be_bytes();
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| bad("the key is not standard base64"))?;
        let Some((&alg, key)) = blob.split_first() else {
            return Err(bad("the key is empty"));
        };
        if alg != ALG_ED25519 {
            return Err(bad("only Ed25519 keys (type 0x01) are supported"));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("an Ed25519 key must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not a valid Ed25519 key"))?;
        let v = CheckpointVerifier::new(name, key)?;
        if v.key_id != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(v)
    }

    /// The key name this verifier looks for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id this verifier looks for.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The vkey string, the inverse of [`CheckpointVerifier::from_vkey`].
    pub fn verifier_key(&self) -> String {
        verifier_key_string(&self.name, &self.key)
    }

    /// Opens a signed note and returns its text if it carries a valid
    /// signature from this key.
    ///
    /// Follows the spec: the text ends at the last blank line; every
    /// signature line must be well formed; lines from other keys (other
    /// name or other key id) are ignored, which allows witness cosignatures;
    /// a line from this key that fails to verify rejects the whole note.
    pub fn verify_text<'a>(&self, note: &'a str) -> Result<&'a str, CheckpointError> {
        let bad = |m: &str| CheckpointError::MalformedNote(m.to_owned());
        check_text(note).map_err(bad)?;
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| bad("no blank line before the signatures"))?;
        let text = &note[..split + 1];
        let sigs = &note[split + 2..];
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or_else(|| bad("the note must end with a signature line and a newline"))?;
        let mut verified = false;
        for (n, line) in sigs.split('\n').enumerate() {
            if n >= MAX_SIGNATURES {
                return Err(bad("too many signature lines"));
            }
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| bad("a signature line must start with an em dash and a space"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| bad("a signature line must be `— <name> <base64>`"))?;
            check_name(name).map_err(|_| bad("invalid key name on a signature line"))?;
            let blob = STANDARD
                .decode(b64)
                .map_err(|_| bad("a signature is not standard base64"))?;
            if blob.len() < 5 {
                return Err(bad("a signature is too short"));
            }
            if name != self.name || blob[..4] != self.key_id {
                continue;
            }
            let sig = Signature::from_slice(&blob[4..])
                .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
            self.key
                .verify_strict(text.as_bytes(), &sig)
                .map_err(|_| CheckpointError::BadSignature(self.name.clone()))?;
            verified = true;
        }
        if !verified {
            return Err(CheckpointError::NoSignatureFromKey {
                name: self.name.clone(),
                key_id: hex4(&self.key_id),
            });
        }
        Ok(text)
    }

    /// Opens a signed checkpoint: [`CheckpointVerifier::verify_text`], then
    /// [`Checkpoint::parse`] of the verified text. The text is only parsed
    /// after the signature checks, as the spec requires.
    pub fn verify_note(&self, note: &str) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse(self.verify_text(note)?)
    }
}

/// A fresh Ed25519 signing key from `rng` (e.g. `rand::rngs::OsRng`); the
/// caller picks the RNG so the library stays free of ambient randomness.
pub fn generate_signing_key<R: rand::CryptoRng + rand::RngCore>(rng: &mut R) -> SigningKey {
    SigningKey::generate(rng)
}

/// Reads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) Ed25519 key, the form
/// `openssl genpkey -algorithm ed25519` writes.
pub fn signing_key_from_pkcs8_pem(pem: &str) -> Result<SigningKey, CheckpointError> {
    SigningKey::from_pkcs8_pem(pem).map_err(|e| CheckpointError::KeyFile(e.to_string()))
}

/// Writes a key as PKCS#8 PEM (LF line endings). The result zeroizes its
/// memory on drop.
pub fn signing_key_to_pkcs8_pem(key: &SigningKey) -> Result<Zeroizing<String>, CheckpointError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| CheckpointError::KeyFile(e.to_string()))
}
