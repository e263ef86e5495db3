//! Keys in a hardware token (HSM), reached through a PKCS #11 module.
//!
//! The private key never leaves the token: keys are generated inside it as sensitive and
//! non-extractable, and this module has no export function. Signing hashes locally and lets the
//! token sign the digest (CKM_ECDSA), so every token that implements raw ECDSA will do; RSA signs
//! with CKM_SHA256_RSA_PKCS_PSS (SHA-256, MGF1-SHA-256, salt 32). RSA keys are generated with
//! CKM_RSA_PKCS_KEY_PAIR_GEN ([`RSA_DEFAULT_BITS`], exponent 65537), and a token RSA key of
//! fewer than [`RSA_MIN_BITS`] is refused as a software one is.
use crate::alg::DigestAlgorithm;
use crate::keys::{PassphraseSource, RSA_DEFAULT_BITS, RSA_MIN_BITS};
use crate::signer::{SignatureAlgorithm, Signer};
use crate::verify::{ec_named_curve, verify_signature, NamedCurve};
use crate::PkiError;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{RawAuthPin, Ulong};
use der::asn1::{BitString, OctetString};
use der::{Any, Decode, Encode};
use pkcs8::EncodePublicKey;
use rand::RngCore;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

fn ck(context: &str) -> impl Fn(CkError) -> PkiError + '_ {
    move |e| PkiError::Pkcs11(format!("{context}: {e}"))
}

/// Modules loaded and initialised in this process. C_Initialize may run once per module and
/// process, and C_Finalize (run when a context is dropped) would end every other user's sessions,
/// so each module is loaded once and kept for the life of the process.
static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();

/// The process-wide, initialised context of the PKCS #11 module at `path` (e.g.
/// `/usr/lib/softhsm/libsofthsm2.so`), loading it on first use. Token administration (init_token,
/// init_pin) goes through this same context.
pub fn module(path: &Path) -> Result<Pkcs11, PkiError> {
    let mut modules = MODULES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .map_err(|_| PkiError::Pkcs11("module registry lock poisoned".to_string()))?;
    if let Some(ctx) = modules.get(path) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(path)
        .map_err(|e| PkiError::Pkcs11(format!("loading module {}: {e}", path.display())))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(PkiError::Pkcs11(format!(
                "initialising module {}: {e}",
                path.display()
            )))
        }
    }
    modules.insert(path.to_path_buf(), ctx.clone());
    Ok(ctx)
}

/// Finds the slot holding the token labelled `token_label`.
pub fn find_token(ctx: &Pkcs11, token_label: &str) -> Result<Slot, PkiError> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(ck("listing token slots"))?;
    let mut found = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(ck("reading token information"))?;
        if info.label().trim_end() == token_label {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(PkiError::Pkcs11(format!(
            "no token labelled {token_label:?}"
        ))),
        _ => Err(PkiError::Pkcs11(format!(
            "{} tokens are labelled {token_label:?}",
            found.len()
        ))),
    }
}

/// How a key is found in the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pkcs11KeyRef {
    /// CKA_LABEL.
    Label(String),
    /// CKA_ID.
    Id(Vec<u8>),
}

impl Pkcs11KeyRef {
    fn attribute(&self) -> Attribute {
        match self {
            Self::Label(l) => Attribute::Label(l.as_bytes().to_vec()),
            Self::Id(id) => Attribute::Id(id.clone()),
        }
    }
}

impl fmt::Display for Pkcs11KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Label(l) => write!(f, "label {l:?}"),
            Self::Id(id) => {
                write!(f, "id ")?;
                for b in id {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// A key pair in a PKCS #11 token. One logged-in session, shared by all threads behind a mutex
/// (a cryptoki `Session` is `Send` but not `Sync`).
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    private_key: ObjectHandle,
    algorithm: SignatureAlgorithm,
    spki: SubjectPublicKeyInfoOwned,
    description: String,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("key", &self.description)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn open_logged_in(
    module_path: &Path,
    token_label: &str,
    pin: &PassphraseSource,
) -> Result<Session, PkiError> {
    let ctx = module(module_path)?;
    let slot = find_token(&ctx, token_label)?;
    let session = ctx.open_rw_session(slot).map_err(ck("opening a session"))?;
    let pin = RawAuthPin::new(Box::new(pin.read()?.to_vec()));
    match session.login_with_raw(UserType::User, &pin) {
        // Login state is per application and token: another signer may have logged in already.
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(e) => Err(PkiError::Pkcs11(format!(
            "logging in to token {token_label:?}: {e}"
        ))),
    }
}

fn find_one(
    session: &Session,
    class: ObjectClass,
    key: &Pkcs11KeyRef,
    what: &str,
) -> Result<Option<ObjectHandle>, PkiError> {
    let found = session
        .find_objects(&[Attribute::Class(class), key.attribute()])
        .map_err(ck("searching the token"))?;
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(PkiError::Pkcs11(format!(
            "{} {what} objects with {key}",
            found.len()
        ))),
    }
}

/// The point in CKA_EC_POINT, which PKCS #11 defines as a DER OCTET STRING wrapping the SEC 1
/// point; some modules return the bare point, which is accepted too (a bare point can happen to
/// parse as an OCTET STRING, so the interpretation that yields a point on the curve wins).
fn ec_point_from_attribute(curve: NamedCurve, raw: &[u8]) -> Result<Vec<u8>, PkiError> {
    if let Ok(os) = OctetString::from_der(raw) {
        if let Ok(point) = uncompressed_point(curve, os.as_bytes()) {
            return Ok(point);
        }
    }
    uncompressed_point(curve, raw)
}

/// The uncompressed SEC 1 encoding of a point on `curve`, validating it.
fn uncompressed_point(curve: NamedCurve, point: &[u8]) -> Result<Vec<u8>, PkiError> {
    use ecdsa::elliptic_curve::sec1::ToEncodedPoint;
    let bad = |_| PkiError::Pkcs11("CKA_EC_POINT is not a point on the key's curve".to_string());
    match curve {
        NamedCurve::P256 => Ok(p256::PublicKey::from_sec1_bytes(point)
            .map_err(bad)?
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()),
        NamedCurve::P384 => Ok(p384::PublicKey::from_sec1_bytes(point)
            .map_err(bad)?
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()),
        other => Err(PkiError::Pkcs11(format!(
            "token key on {} which Thabian does not sign with",
            other.name()
        ))),
    }
}

fn attr_bytes(attrs: &[Attribute], wanted: AttributeType) -> Option<Vec<u8>> {
    attrs.iter().find_map(|a| match (a, wanted) {
        (Attribute::EcParams(v), AttributeType::EcParams)
        | (Attribute::EcPoint(v), AttributeType::EcPoint)
        | (Attribute::Modulus(v), AttributeType::Modulus)
        | (Attribute::PublicExponent(v), AttributeType::PublicExponent) => Some(v.clone()),
        _ => None,
    })
}

fn attr_bool(attrs: &[Attribute], wanted: AttributeType) -> Option<bool> {
    attrs.iter().find_map(|a| match (a, wanted) {
        (Attribute::Sensitive(v), AttributeType::Sensitive)
        | (Attribute::Extractable(v), AttributeType::Extractable) => Some(*v),
        _ => None,
    })
}

/// Builds the SPKI of a token public key and the algorithm Thabian signs with it.
fn public_key_info(
    session: &Session,
    public_key: ObjectHandle,
) -> Result<(SignatureAlgorithm, SubjectPublicKeyInfoOwned), PkiError> {
    let attrs = session
        .get_attributes(public_key, &[AttributeType::KeyType])
        .map_err(ck("reading the public key type"))?;
    let key_type = attrs.iter().find_map(|a| match a {
        Attribute::KeyType(k) => Some(*k),
        _ => None,
    });
    match key_type {
        Some(KeyType::EC) => {
            let attrs = session
                .get_attributes(
                    public_key,
                    &[AttributeType::EcParams, AttributeType::EcPoint],
                )
                .map_err(ck("reading the EC public key"))?;
            let (Some(params), Some(point)) = (
                attr_bytes(&attrs, AttributeType::EcParams),
                attr_bytes(&attrs, AttributeType::EcPoint),
            ) else {
                return Err(PkiError::Pkcs11(
                    "EC public key without CKA_EC_PARAMS or CKA_EC_POINT".to_string(),
                ));
            };
            let params = Any::from_der(&params)
                .map_err(|e| PkiError::Pkcs11(format!("CKA_EC_PARAMS: {e}")))?;
            let mut spki = SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: crate::alg::ID_EC_PUBLIC_KEY,
                    parameters: Some(params),
                },
                subject_public_key: BitString::from_bytes(&[])
                    .map_err(|e| PkiError::Pkcs11(e.to_string()))?,
            };
            // Certificates name the curve (RFC 5480); a token storing explicit parameters gets
            // its key re-labelled with the curve they match.
            let curve = ec_named_curve(&spki)?;
            spki.algorithm.parameters =
                Some(Any::encode_from(&curve.oid()).map_err(|e| PkiError::Pkcs11(e.to_string()))?);
            let point = ec_point_from_attribute(curve, &point)?;
            spki.subject_public_key =
                BitString::from_bytes(&point).map_err(|e| PkiError::Pkcs11(e.to_string()))?;
            let algorithm = match curve {
                NamedCurve::P256 => SignatureAlgorithm::EcdsaP256Sha256,
                _ => SignatureAlgorithm::EcdsaP384Sha384,
            };
            Ok((algorithm, spki))
        }
        Some(KeyType::RSA) => {
            let attrs = session
                .get_attributes(
                    public_key,
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .map_err(ck("reading the RSA public key"))?;
            let (Some(n), Some(e)) = (
                attr_bytes(&attrs, AttributeType::Modulus),
                attr_bytes(&attrs, AttributeType::PublicExponent),
            ) else {
                return Err(PkiError::Pkcs11(
                    "RSA public key without modulus or exponent".to_string(),
                ));
            };
            let key = rsa::RsaPublicKey::new_with_max_size(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
                16384,
            )
            .map_err(|e| PkiError::Pkcs11(format!("RSA public key: {e}")))?;
            let bits = rsa::traits::PublicKeyParts::n(&key).bits();
            if bits < RSA_MIN_BITS {
                return Err(PkiError::Pkcs11(format!(
                    "token RSA key of {bits} bits; at least {RSA_MIN_BITS} required"
                )));
            }
            let der = key
                .to_public_key_der()
                .map_err(|e| PkiError::Pkcs11(e.to_string()))?;
            let spki = SubjectPublicKeyInfoOwned::from_der(der.as_bytes())
                .map_err(|e| PkiError::Pkcs11(e.to_string()))?;
            Ok((SignatureAlgorithm::RsaPssSha256, spki))
        }
        other => Err(PkiError::Pkcs11(format!(
            "unsupported token key type {other:?}"
        ))),
    }
}

impl Pkcs11Signer {
    /// Opens the key pair `key` (private and public objects share the label or id) on the token
    /// labelled `token_label`, logging in with the user PIN from `pin`.
    pub fn open(
        module_path: &Path,
        token_label: &str,
        pin: &PassphraseSource,
        key: &Pkcs11KeyRef,
    ) -> Result<Self, PkiError> {
        let session = open_logged_in(module_path, token_label, pin)?;
        Self::from_session(session, token_label, key)
    }

    fn from_session(
        session: Session,
        token_label: &str,
        key: &Pkcs11KeyRef,
    ) -> Result<Self, PkiError> {
        let private_key = find_one(&session, ObjectClass::PRIVATE_KEY, key, "private key")?
            .ok_or_else(|| {
                PkiError::Pkcs11(format!(
                    "no private key with {key} on token {token_label:?}"
                ))
            })?;
        let public_key = find_one(&session, ObjectClass::PUBLIC_KEY, key, "public key")?
            .ok_or_else(|| {
                PkiError::Pkcs11(format!(
                    "no public key with {key} on token {token_label:?} (needed for the certificate)"
                ))
            })?;
        let (algorithm, spki) = public_key_info(&session, public_key)?;
        Ok(Self {
            session: Mutex::new(session),
            private_key,
            algorithm,
            spki,
            description: format!("{key} on token {token_label:?}"),
        })
    }

    /// Generates a key pair inside the token: EC P-256 or P-384, or RSA of
    /// [`RSA_DEFAULT_BITS`] bits for RSASSA-PSS; CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true,
    /// CKA_EXTRACTABLE false. Refuses a label already in use.
    pub fn generate_key_pair(
        module_path: &Path,
        token_label: &str,
        pin: &PassphraseSource,
        key_label: &str,
        algorithm: SignatureAlgorithm,
    ) -> Result<Self, PkiError> {
        let session = open_logged_in(module_path, token_label, pin)?;
        let key = Pkcs11KeyRef::Label(key_label.to_string());
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            if find_one(&session, class, &key, "key")?.is_some() {
                return Err(PkiError::Pkcs11(format!(
                    "a key with {key} already exists on token {token_label:?}"
                )));
            }
        }
        let ec_params = |curve: NamedCurve| {
            curve
                .oid()
                .to_der()
                .map(|params| vec![Attribute::EcParams(params)])
                .map_err(|e| PkiError::Pkcs11(e.to_string()))
        };
        let (mechanism, key_attributes) = match algorithm {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                (Mechanism::EccKeyPairGen, ec_params(NamedCurve::P256)?)
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                (Mechanism::EccKeyPairGen, ec_params(NamedCurve::P384)?)
            }
            SignatureAlgorithm::RsaPssSha256 => (
                Mechanism::RsaPkcsKeyPairGen,
                vec![
                    Attribute::ModulusBits(Ulong::from(RSA_DEFAULT_BITS as u64)),
                    Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                ],
            ),
        };
        let mut id = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let label = key_label.as_bytes().to_vec();
        let mut public_template = vec![
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Label(label.clone()),
            Attribute::Id(id.clone()),
        ];
        public_template.extend(key_attributes);
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Label(label),
            Attribute::Id(id),
        ];
        session
            .generate_key_pair(&mechanism, &public_template, &private_template)
            .map_err(ck("generating a key pair"))?;
        Self::from_session(session, token_label, &key)
    }

    /// Checks that the token reports the private key as sensitive and not extractable.
    pub fn check_key_protection(&self) -> Result<(), PkiError> {
        let session = self
            .session
            .lock()
            .map_err(|_| PkiError::Pkcs11("session lock poisoned".to_string()))?;
        let attrs = session
            .get_attributes(
                self.private_key,
                &[AttributeType::Sensitive, AttributeType::Extractable],
            )
            .map_err(ck("reading the private key's protection attributes"))?;
        match (
            attr_bool(&attrs, AttributeType::Sensitive),
            attr_bool(&attrs, AttributeType::Extractable),
        ) {
            (Some(true), Some(false)) => Ok(()),
            (sensitive, extractable) => Err(PkiError::Pkcs11(format!(
                "private key {} is not protected: CKA_SENSITIVE {sensitive:?}, CKA_EXTRACTABLE {extractable:?}",
                self.description
            ))),
        }
    }
}

impl Signer for Pkcs11Signer {
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
        let signature = {
            let session = self
                .session
                .lock()
                .map_err(|_| PkiError::Pkcs11("session lock poisoned".to_string()))?;
            match self.algorithm {
                SignatureAlgorithm::EcdsaP256Sha256 | SignatureAlgorithm::EcdsaP384Sha384 => {
                    let digest = self.algorithm.digest_algorithm().digest(message);
                    let raw = session
                        .sign(&Mechanism::Ecdsa, self.private_key, &digest)
                        .map_err(ck("signing"))?;
                    raw_ecdsa_to_der(self.algorithm, &raw)?
                }
                SignatureAlgorithm::RsaPssSha256 => {
                    let params = PkcsPssParams {
                        hash_alg: MechanismType::SHA256,
                        mgf: PkcsMgfType::MGF1_SHA256,
                        s_len: Ulong::from(DigestAlgorithm::Sha256.output_len() as u64),
                    };
                    session
                        .sign(
                            &Mechanism::Sha256RsaPkcsPss(params),
                            self.private_key,
                            message,
                        )
                        .map_err(ck("signing"))?
                }
            }
        };
        // A token fault must not yield a certificate or SOD with a wrong signature.
        verify_signature(
            &self.spki,
            &self.signature_algorithm_identifier(),
            message,
            &signature,
        )
        .map_err(|e| PkiError::Signing(format!("token signature does not verify: {e}")))?;
        Ok(signature)
    }
}

/// PKCS #11 returns ECDSA signatures as r||s; X.509 and CMS carry the DER `Ecdsa-Sig-Value`.
fn raw_ecdsa_to_der(algorithm: SignatureAlgorithm, raw: &[u8]) -> Result<Vec<u8>, PkiError> {
    let bad = |_| PkiError::Signing("token returned a malformed ECDSA signature".to_string());
    match algorithm {
        SignatureAlgorithm::EcdsaP256Sha256 => Ok(p256::ecdsa::Signature::from_slice(raw)
            .map_err(bad)?
            .to_der()
            .as_bytes()
            .to_vec()),
        SignatureAlgorithm::EcdsaP384Sha384 => Ok(p384::ecdsa::Signature::from_slice(raw)
            .map_err(bad)?
            .to_der()
            .as_bytes()
            .to_vec()),
        SignatureAlgorithm::RsaPssSha256 => {
            Err(PkiError::Signing("not an ECDSA algorithm".to_string()))
        }
    }
}
