// Keys, signing and verification: round trips, encrypted key files, OpenSSL cross-checks,
// explicit EC parameters and a SoftHSM2 token.

use der::{Decode, Encode, Tagged};
use proptest::prelude::*;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use thabian_pki::alg::{self, DigestAlgorithm};
use thabian_pki::verify::{ec_named_curve, named_curve_from_explicit_parameters};
use thabian_pki::{
    spki_with_named_curve, verify_signature, NamedCurve, PassphraseSource, PkiError,
    SignatureAlgorithm, Signer, SoftwareSigner, VerifyError,
};

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: openssl is not on PATH");
    }
    ok
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn flip(bytes: &[u8], index: usize) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[index] ^= 0x01;
    v
}

fn ecdsa_alg(d: DigestAlgorithm) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: d.ecdsa_signature_oid(),
        parameters: None,
    }
}

/// A software RSA key is slow to generate: one for the whole test binary.
fn rsa_signer() -> &'static SoftwareSigner {
    static KEY: OnceLock<SoftwareSigner> = OnceLock::new();
    KEY.get_or_init(|| SoftwareSigner::generate(SignatureAlgorithm::RsaPssSha256).unwrap())
}

fn p256_signer() -> &'static SoftwareSigner {
    static KEY: OnceLock<SoftwareSigner> = OnceLock::new();
    KEY.get_or_init(|| SoftwareSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap())
}

#[test]
fn every_algorithm_signs_and_verifies() {
    let p384 = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap();
    let signers: [&dyn Signer; 3] = [p256_signer(), &p384, rsa_signer()];
    let message = b"LDS security object";
    for s in signers {
        let alg_id = s.signature_algorithm_identifier();
        assert_eq!(alg_id, s.algorithm().signature_algorithm_identifier());
        let sig = s.sign(message).unwrap();
        verify_signature(s.public_key(), &alg_id, message, &sig).unwrap();
        assert_eq!(
            verify_signature(s.public_key(), &alg_id, b"LDS security objecT", &sig),
            Err(VerifyError::BadSignature),
            "{:?}",
            s.algorithm()
        );
        // The last octet is inside s (ECDSA) or the RSA signature: the encoding stays valid.
        let last = sig.len() - 1;
        assert_eq!(
            verify_signature(s.public_key(), &alg_id, message, &flip(&sig, last)),
            Err(VerifyError::BadSignature)
        );
    }
    assert_eq!(
        rsa_signer().public_key().algorithm.oid,
        alg::RSA_ENCRYPTION,
        "RSA-PSS keys are certified as rsaEncryption"
    );
    let rsa_bits = rsa_signer()
        .public_key()
        .subject_public_key
        .raw_bytes()
        .len()
        * 8;
    assert!(rsa_bits > 3072, "{rsa_bits}");
}

#[test]
fn rsa_pss_identifier_spells_out_rfc4055_parameters() {
    let id = SignatureAlgorithm::RsaPssSha256.signature_algorithm_identifier();
    expect_der(
        &id.to_der().unwrap(),
        "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120",
    );
    assert_eq!(
        SignatureAlgorithm::EcdsaP256Sha256
            .signature_algorithm_identifier()
            .to_der()
            .unwrap(),
        hex::decode("300a06082a8648ce3d040302").unwrap()
    );
}

fn expect_der(der: &[u8], hex_expected: &str) {
    assert_eq!(hex::encode(der), hex_expected);
}

#[test]
fn encrypted_pkcs8_round_trip_and_wrong_passphrase() {
    let signer = p256_signer();
    let pem = signer.to_encrypted_pkcs8_pem(b"correct horse").unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let back = SoftwareSigner::from_encrypted_pkcs8_pem(&pem, b"correct horse").unwrap();
    assert_eq!(back.public_key(), signer.public_key());
    assert_eq!(back.algorithm(), SignatureAlgorithm::EcdsaP256Sha256);

    let err = SoftwareSigner::from_encrypted_pkcs8_pem(&pem, b"wrong horse").unwrap_err();
    assert!(matches!(err, PkiError::Decrypt), "{err:?}");
    assert!(err.to_string().contains("wrong passphrase"), "{err}");

    let rsa_pem = rsa_signer().to_encrypted_pkcs8_pem(b"pw").unwrap();
    let rsa_back = SoftwareSigner::from_encrypted_pkcs8_pem(&rsa_pem, b"pw").unwrap();
    assert_eq!(rsa_back.public_key(), rsa_signer().public_key());
    assert_eq!(rsa_back.algorithm(), SignatureAlgorithm::RsaPssSha256);
    assert!(format!("{rsa_back:?}").starts_with("SoftwareSigner"));
}

#[test]
fn key_files_are_0600_never_overwritten_and_errors_name_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ds.pem");
    let pass_file = dir.path().join("pass.txt");
    std::fs::write(&pass_file, "s3cret passphrase\n").unwrap();
    let signer = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap();
    signer.write_encrypted(&key, b"s3cret passphrase").unwrap();
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let err = signer.write_encrypted(&key, b"other").unwrap_err();
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert!(err.to_string().contains("ds.pem"), "{err}");

    let loaded =
        SoftwareSigner::load_encrypted(&key, &PassphraseSource::File(pass_file.clone())).unwrap();
    assert_eq!(loaded.public_key(), signer.public_key());

    std::env::set_var("THABIAN_TEST_KEY_PASSPHRASE", "s3cret passphrase");
    let loaded = SoftwareSigner::load_encrypted(
        &key,
        &PassphraseSource::Env("THABIAN_TEST_KEY_PASSPHRASE".to_string()),
    )
    .unwrap();
    assert_eq!(loaded.public_key(), signer.public_key());

    let wrong_file = dir.path().join("wrong.txt");
    std::fs::write(&wrong_file, "not the passphrase\r\n").unwrap();
    let err =
        SoftwareSigner::load_encrypted(&key, &PassphraseSource::File(wrong_file)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("ds.pem") && msg.contains("wrong.txt"), "{msg}");
    assert!(!msg.contains("not the passphrase"), "{msg}");

    let err = SoftwareSigner::load_encrypted(
        &key,
        &PassphraseSource::Env("THABIAN_TEST_UNSET_VARIABLE".to_string()),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("THABIAN_TEST_UNSET_VARIABLE"),
        "{err}"
    );
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    assert!(PassphraseSource::File(empty).read().is_err());
}

#[test]
fn openssl_reads_our_encrypted_key_and_verifies_our_signatures() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "openssl-check\n").unwrap();
    let msg = dir.path().join("msg");
    std::fs::write(&msg, b"signed attributes").unwrap();
    let p384 = SoftwareSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap();
    let signers: [(&SoftwareSigner, &str, &[&str]); 3] = [
        (p256_signer(), "-sha256", &[]),
        (&p384, "-sha384", &[]),
        (
            rsa_signer(),
            "-sha256",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
                "-sigopt",
                "rsa_mgf1_md:sha256",
            ],
        ),
    ];
    for (i, (signer, md, opts)) in signers.into_iter().enumerate() {
        let key = dir.path().join(format!("key{i}.pem"));
        signer.write_encrypted(&key, b"openssl-check").unwrap();
        let passin = format!("file:{}", p(&pass));
        let spki = openssl(&[
            "pkey",
            "-in",
            p(&key),
            "-passin",
            &passin,
            "-pubout",
            "-outform",
            "DER",
        ]);
        assert_eq!(spki, signer.public_key().to_der().unwrap());
        let pub_pem = dir.path().join(format!("pub{i}.pem"));
        openssl(&[
            "pkey",
            "-in",
            p(&key),
            "-passin",
            &passin,
            "-pubout",
            "-out",
            p(&pub_pem),
        ]);
        let sig = dir.path().join(format!("sig{i}"));
        std::fs::write(&sig, signer.sign(b"signed attributes").unwrap()).unwrap();
        let mut args = vec!["dgst", md, "-verify", p(&pub_pem), "-signature", p(&sig)];
        args.extend_from_slice(opts);
        args.push(p(&msg));
        let out = openssl(&args);
        assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
    }
}

struct OpensslKey {
    _dir: tempfile::TempDir,
    key: PathBuf,
    spki: SubjectPublicKeyInfoOwned,
    msg: PathBuf,
}

impl OpensslKey {
    fn new(genkey: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let mut args: Vec<&str> = genkey.to_vec();
        args.extend(["-out", p(&key)]);
        openssl(&args);
        let spki_der = openssl(&["pkey", "-in", p(&key), "-pubout", "-outform", "DER"]);
        let msg = dir.path().join("msg");
        std::fs::write(&msg, b"EF.SOD signed attributes").unwrap();
        Self {
            spki: SubjectPublicKeyInfoOwned::from_der(&spki_der).unwrap(),
            key,
            msg,
            _dir: dir,
        }
    }

    fn sign(&self, md: &str, extra: &[&str]) -> Vec<u8> {
        let mut args = vec!["dgst", md, "-sign", p(&self.key)];
        args.extend_from_slice(extra);
        args.push(p(&self.msg));
        openssl(&args)
    }
}

const MSG: &[u8] = b"EF.SOD signed attributes";

#[test]
fn openssl_ecdsa_signatures_verify_on_every_curve() {
    if !have_openssl() {
        return;
    }
    let curves = [
        ("prime256v1", NamedCurve::P256),
        ("secp384r1", NamedCurve::P384),
        ("secp521r1", NamedCurve::P521),
        ("brainpoolP224r1", NamedCurve::BrainpoolP224r1),
        ("brainpoolP256r1", NamedCurve::BrainpoolP256r1),
        ("brainpoolP320r1", NamedCurve::BrainpoolP320r1),
        ("brainpoolP384r1", NamedCurve::BrainpoolP384r1),
        ("brainpoolP512r1", NamedCurve::BrainpoolP512r1),
    ];
    for (name, curve) in curves {
        let paramgen = format!("ec_paramgen_curve:{name}");
        let k = OpensslKey::new(&["genpkey", "-algorithm", "EC", "-pkeyopt", &paramgen]);
        assert_eq!(ec_named_curve(&k.spki).unwrap(), curve);
        for (md, d) in [
            ("-sha1", DigestAlgorithm::Sha1),
            ("-sha224", DigestAlgorithm::Sha224),
            ("-sha256", DigestAlgorithm::Sha256),
            ("-sha384", DigestAlgorithm::Sha384),
            ("-sha512", DigestAlgorithm::Sha512),
        ] {
            let sig = k.sign(md, &[]);
            verify_signature(&k.spki, &ecdsa_alg(d), MSG, &sig)
                .unwrap_or_else(|e| panic!("{name} {md}: {e}"));
            assert_eq!(
                verify_signature(&k.spki, &ecdsa_alg(d), b"EF.SOD signed attributeS", &sig),
                Err(VerifyError::BadSignature),
                "{name} {md}"
            );
            let last = sig.len() - 1;
            assert_eq!(
                verify_signature(&k.spki, &ecdsa_alg(d), MSG, &flip(&sig, last)),
                Err(VerifyError::BadSignature),
                "{name} {md}"
            );
        }
    }
}

#[test]
fn openssl_rsa_signatures_verify() {
    if !have_openssl() {
        return;
    }
    let k = OpensslKey::new(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
    ]);
    for (md, oid) in [
        ("-sha1", alg::SHA1_WITH_RSA_ENCRYPTION),
        ("-sha224", alg::SHA224_WITH_RSA_ENCRYPTION),
        ("-sha256", alg::SHA256_WITH_RSA_ENCRYPTION),
        ("-sha384", alg::SHA384_WITH_RSA_ENCRYPTION),
        ("-sha512", alg::SHA512_WITH_RSA_ENCRYPTION),
    ] {
        let sig = k.sign(md, &[]);
        for params in [None, Some(der::Any::from(der::asn1::AnyRef::NULL))] {
            let id = AlgorithmIdentifierOwned {
                oid,
                parameters: params,
            };
            verify_signature(&k.spki, &id, MSG, &sig).unwrap();
            assert_eq!(
                verify_signature(&k.spki, &id, MSG, &flip(&sig, 10)),
                Err(VerifyError::BadSignature)
            );
        }
    }
    // PSS with the parameters read from the identifier, including a non-default salt.
    for (md, d, salt) in [
        ("-sha256", DigestAlgorithm::Sha256, 32u32),
        ("-sha384", DigestAlgorithm::Sha384, 48),
        ("-sha512", DigestAlgorithm::Sha512, 20),
    ] {
        let mgf = format!("rsa_mgf1_md:{}", &md[1..]);
        let saltopt = format!("rsa_pss_saltlen:{salt}");
        let sig = k.sign(
            md,
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                &saltopt,
                "-sigopt",
                &mgf,
            ],
        );
        let id = alg::rsassa_pss_algorithm_identifier(d, salt).unwrap();
        verify_signature(&k.spki, &id, MSG, &sig).unwrap();
        assert_eq!(
            verify_signature(&k.spki, &id, b"other", &sig),
            Err(VerifyError::BadSignature)
        );
        let wrong_salt = alg::rsassa_pss_algorithm_identifier(d, salt + 1).unwrap();
        assert_eq!(
            verify_signature(&k.spki, &wrong_salt, MSG, &sig),
            Err(VerifyError::BadSignature)
        );
    }
    // An ECDSA identifier with an RSA key is refused as such.
    assert!(matches!(
        verify_signature(&k.spki, &ecdsa_alg(DigestAlgorithm::Sha256), MSG, &[0; 256]),
        Err(VerifyError::KeyAlgorithmMismatch { .. })
    ));
}

#[test]
fn openssl_rsa_pss_key_signature_verifies() {
    if !have_openssl() {
        return;
    }
    // An id-RSASSA-PSS key (SPKI restricted to PSS), as some CSCAs issue.
    let k = OpensslKey::new(&[
        "genpkey",
        "-algorithm",
        "RSA-PSS",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-pkeyopt",
        "rsa_pss_keygen_md:sha256",
        "-pkeyopt",
        "rsa_pss_keygen_mgf1_md:sha256",
        "-pkeyopt",
        "rsa_pss_keygen_saltlen:32",
    ]);
    assert_eq!(k.spki.algorithm.oid, alg::ID_RSASSA_PSS);
    let sig = k.sign(
        "-sha256",
        &[
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
        ],
    );
    let id = SignatureAlgorithm::RsaPssSha256.signature_algorithm_identifier();
    verify_signature(&k.spki, &id, MSG, &sig).unwrap();
    assert_eq!(
        verify_signature(&k.spki, &id, MSG, &flip(&sig, 0)),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn pss_with_a_different_mgf1_hash_is_refused_clearly() {
    let params = alg::RsaPssParameters {
        hash_algorithm: Some(DigestAlgorithm::Sha256.algorithm_identifier_with_null()),
        mask_gen_algorithm: None, // default: MGF1 with SHA-1
        salt_length: Some(32),
        trailer_field: None,
    };
    let id = AlgorithmIdentifierOwned {
        oid: alg::ID_RSASSA_PSS,
        parameters: Some(der::Any::encode_from(&params).unwrap()),
    };
    let err = verify_signature(rsa_signer().public_key(), &id, MSG, &[0; 384]).unwrap_err();
    assert!(
        matches!(err, VerifyError::UnsupportedParameters(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("MGF1"), "{err}");

    let unknown = AlgorithmIdentifierOwned {
        oid: der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10040.4.3"), // dsa-with-sha1
        parameters: None,
    };
    assert_eq!(
        verify_signature(rsa_signer().public_key(), &unknown, MSG, &[0; 384]),
        Err(VerifyError::UnsupportedAlgorithm(unknown.oid))
    );
}

#[test]
fn explicit_parameters_map_to_their_named_curve() {
    if !have_openssl() {
        return;
    }
    // Every curve's explicit encoding, as OpenSSL writes it, maps back to its name: this also
    // checks the hex constants of the curve table against OpenSSL's.
    for curve in [
        NamedCurve::P256,
        NamedCurve::P384,
        NamedCurve::P521,
        NamedCurve::BrainpoolP224r1,
        NamedCurve::BrainpoolP256r1,
        NamedCurve::BrainpoolP320r1,
        NamedCurve::BrainpoolP384r1,
        NamedCurve::BrainpoolP512r1,
    ] {
        for form in ["uncompressed", "compressed"] {
            let der = openssl(&[
                "ecparam",
                "-name",
                curve.name(),
                "-param_enc",
                "explicit",
                "-conv_form",
                form,
                "-outform",
                "DER",
            ]);
            assert_eq!(
                named_curve_from_explicit_parameters(&der),
                Ok(curve),
                "{curve:?} {form}"
            );
        }
    }

    // A DS key with explicit P-256 parameters, as openssl's documentation example makes it.
    let k = OpensslKey::new(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-param_enc",
        "explicit",
        "-genkey",
        "-noout",
    ]);
    let params = k.spki.algorithm.parameters.as_ref().unwrap();
    assert_eq!(
        params.tag(),
        der::Tag::Sequence,
        "explicit parameters expected"
    );
    let sig = k.sign("-sha256", &[]);
    verify_signature(&k.spki, &ecdsa_alg(DigestAlgorithm::Sha256), MSG, &sig).unwrap();
    assert_eq!(
        verify_signature(
            &k.spki,
            &ecdsa_alg(DigestAlgorithm::Sha256),
            MSG,
            &flip(&sig, sig.len() - 1)
        ),
        Err(VerifyError::BadSignature)
    );
    let named = spki_with_named_curve(&k.spki).unwrap();
    assert_eq!(
        named
            .algorithm
            .parameters
            .unwrap()
            .decode_as::<der::asn1::ObjectIdentifier>()
            .unwrap(),
        alg::PRIME256V1
    );
    assert_eq!(named.subject_public_key, k.spki.subject_public_key);

    // Explicit brainpool parameters with a compressed public point.
    let k = OpensslKey::new(&[
        "ecparam",
        "-name",
        "brainpoolP256r1",
        "-param_enc",
        "explicit",
        "-conv_form",
        "compressed",
        "-genkey",
        "-noout",
    ]);
    // `openssl pkey` re-encodes points uncompressed; `openssl ec` keeps the requested form.
    let mut k = k;
    let spki_der = openssl(&[
        "ec",
        "-in",
        p(&k.key),
        "-pubout",
        "-outform",
        "DER",
        "-conv_form",
        "compressed",
        "-param_enc",
        "explicit",
    ]);
    k.spki = SubjectPublicKeyInfoOwned::from_der(&spki_der).unwrap();
    assert_eq!(k.spki.subject_public_key.raw_bytes().len(), 33);
    assert_eq!(ec_named_curve(&k.spki), Ok(NamedCurve::BrainpoolP256r1));
    let sig = k.sign("-sha256", &[]);
    verify_signature(&k.spki, &ecdsa_alg(DigestAlgorithm::Sha256), MSG, &sig).unwrap();

    // One altered coefficient: no named curve matches.
    let mut der = openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-param_enc",
        "explicit",
        "-outform",
        "DER",
    ]);
    let b = hex::decode("5ac635d8aa3a93e7b3ebbd55769886bc").unwrap();
    let at = der
        .windows(b.len())
        .position(|w| w == b.as_slice())
        .unwrap();
    der[at] ^= 0x01;
    assert_eq!(
        named_curve_from_explicit_parameters(&der),
        Err(VerifyError::UnknownExplicitCurve)
    );
}

fn ecdsa_forms() -> &'static [(SoftwareSigner, usize)] {
    static KEYS: OnceLock<Vec<(SoftwareSigner, usize)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![
            (
                SoftwareSigner::generate(SignatureAlgorithm::EcdsaP256Sha256).unwrap(),
                32,
            ),
            (
                SoftwareSigner::generate(SignatureAlgorithm::EcdsaP384Sha384).unwrap(),
                48,
            ),
        ]
    })
}

/// DER `Ecdsa-Sig-Value` to fixed-width r||s.
fn der_to_raw(der: &[u8], width: usize) -> Vec<u8> {
    #[derive(der::Sequence)]
    struct SigValue {
        r: der::asn1::Uint,
        s: der::asn1::Uint,
    }
    let v = SigValue::from_der(der).unwrap();
    let mut raw = Vec::new();
    for i in [v.r.as_bytes(), v.s.as_bytes()] {
        raw.extend(std::iter::repeat_n(0u8, width - i.len()));
        raw.extend_from_slice(i);
    }
    raw
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn ecdsa_signatures_verify_in_der_and_raw_form(message in proptest::collection::vec(any::<u8>(), 0..200), which in 0usize..2) {
        let (signer, width) = &ecdsa_forms()[which];
        let alg_id = signer.signature_algorithm_identifier();
        let der_sig = signer.sign(&message).unwrap();
        let raw = der_to_raw(&der_sig, *width);
        prop_assert_eq!(raw.len(), 2 * width);
        prop_assert_eq!(verify_signature(signer.public_key(), &alg_id, &message, &der_sig), Ok(()));
        prop_assert_eq!(verify_signature(signer.public_key(), &alg_id, &message, &raw), Ok(()));
        let mut other = message.clone();
        other.push(0);
        prop_assert_eq!(verify_signature(signer.public_key(), &alg_id, &other, &raw), Err(VerifyError::BadSignature));
    }
}

/// A SoftHSM2 token, `thabian-test`, set up once for the test binary: the module reads its
/// configuration at C_Initialize, which runs once per process, so every SoftHSM test shares this
/// token (each with its own key labels). `None` when the module is absent and not required.
struct SoftHsm {
    module: &'static Path,
    pin: PassphraseSource,
    _dir: tempfile::TempDir,
}

fn softhsm() -> Option<&'static SoftHsm> {
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    use thabian_pki::pkcs11;

    static HSM: OnceLock<Option<SoftHsm>> = OnceLock::new();
    HSM.get_or_init(|| {
        let module = Path::new("/usr/lib/softhsm/libsofthsm2.so");
        if !module.exists() {
            if std::env::var("THABIAN_REQUIRE_SOFTHSM").as_deref() == Ok("1") {
                panic!(
                    "THABIAN_REQUIRE_SOFTHSM=1 but {} is missing",
                    module.display()
                );
            }
            eprintln!(
                "skipping the SoftHSM2 tests: {} is absent (install softhsm2; CI sets THABIAN_REQUIRE_SOFTHSM=1)",
                module.display()
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        std::env::set_var("SOFTHSM2_CONF", &conf);

        let ctx = pkcs11::module(module).unwrap();
        let slot = ctx.get_slots_with_token().unwrap()[0];
        ctx.init_token(slot, &AuthPin::from("so-pin-1234"), "thabian-test")
            .unwrap();
        {
            let session = ctx.open_rw_session(slot).unwrap();
            session
                .login(UserType::So, Some(&AuthPin::from("so-pin-1234")))
                .unwrap();
            session.init_pin(&AuthPin::from("user-pin-5678")).unwrap();
            session.logout().unwrap();
        }
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, "user-pin-5678\n").unwrap();
        Some(SoftHsm {
            module,
            pin: PassphraseSource::File(pin_file),
            _dir: dir,
        })
    })
    .as_ref()
}

#[test]
fn softhsm_token_signs_and_keeps_its_key() {
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    use thabian_pki::pkcs11::{self, Pkcs11KeyRef, Pkcs11Signer};

    let Some(hsm) = softhsm() else {
        return;
    };
    let (module, pin) = (hsm.module, &hsm.pin);
    let ctx = pkcs11::module(module).unwrap();

    let signer = Pkcs11Signer::generate_key_pair(
        module,
        "thabian-test",
        pin,
        "ds-2026",
        SignatureAlgorithm::EcdsaP256Sha256,
    )
    .unwrap();
    assert_eq!(signer.algorithm(), SignatureAlgorithm::EcdsaP256Sha256);
    assert_eq!(
        ec_named_curve(signer.public_key()).unwrap(),
        NamedCurve::P256
    );
    assert_eq!(signer.public_key().subject_public_key.raw_bytes().len(), 65);
    signer.check_key_protection().unwrap();

    let sig = signer.sign(MSG).unwrap();
    let alg_id = signer.signature_algorithm_identifier();
    verify_signature(signer.public_key(), &alg_id, MSG, &sig).unwrap();
    assert_eq!(
        verify_signature(signer.public_key(), &alg_id, b"tampered", &sig),
        Err(VerifyError::BadSignature)
    );

    // Several threads share the one session.
    std::thread::scope(|scope| {
        for i in 0..4u8 {
            let signer = &signer;
            let alg_id = &alg_id;
            scope.spawn(move || {
                for j in 0..5u8 {
                    let m = [i, j];
                    let sig = signer.sign(&m).unwrap();
                    verify_signature(signer.public_key(), alg_id, &m, &sig).unwrap();
                }
            });
        }
    });

    // The private key's value cannot be read: the token withholds a sensitive attribute.
    let slot = pkcs11::find_token(&ctx, "thabian-test").unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"ds-2026".to_vec()),
        ])
        .unwrap();
    assert_eq!(found.len(), 1);
    let attrs = session
        .get_attributes(found[0], &[AttributeType::Value, AttributeType::Sensitive])
        .unwrap();
    assert!(
        !attrs.iter().any(|a| matches!(a, Attribute::Value(_))),
        "CKA_VALUE of the private key was readable"
    );
    assert!(attrs.contains(&Attribute::Sensitive(true)));
    drop(session);

    // The key is found again by its label, and a second key with the same label is refused.
    let reopened = Pkcs11Signer::open(
        module,
        "thabian-test",
        pin,
        &Pkcs11KeyRef::Label("ds-2026".to_string()),
    )
    .unwrap();
    assert_eq!(reopened.public_key(), signer.public_key());
    let sig = reopened.sign(MSG).unwrap();
    verify_signature(signer.public_key(), &alg_id, MSG, &sig).unwrap();
    let err = Pkcs11Signer::generate_key_pair(
        module,
        "thabian-test",
        pin,
        "ds-2026",
        SignatureAlgorithm::EcdsaP384Sha384,
    )
    .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");

    let p384 = Pkcs11Signer::generate_key_pair(
        module,
        "thabian-test",
        pin,
        "csca-2026",
        SignatureAlgorithm::EcdsaP384Sha384,
    )
    .unwrap();
    let sig = p384.sign(MSG).unwrap();
    verify_signature(
        p384.public_key(),
        &p384.signature_algorithm_identifier(),
        MSG,
        &sig,
    )
    .unwrap();

    let missing = Pkcs11Signer::open(
        module,
        "no-such-token",
        pin,
        &Pkcs11KeyRef::Label("x".into()),
    )
    .unwrap_err();
    assert!(missing.to_string().contains("no-such-token"), "{missing}");
}

#[test]
fn softhsm_rsa_key_signs_pss_and_pkcs1() {
    use cryptoki::error::{Error as CkError, RvError};
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;
    use thabian_pki::pkcs11::{self, Pkcs11KeyRef, Pkcs11Signer};

    let Some(hsm) = softhsm() else {
        return;
    };
    let (module, pin) = (hsm.module, &hsm.pin);
    let signer = Pkcs11Signer::generate_key_pair(
        module,
        "thabian-test",
        pin,
        "csca-rsa",
        SignatureAlgorithm::RsaPssSha256,
    )
    .unwrap();
    assert_eq!(signer.algorithm(), SignatureAlgorithm::RsaPssSha256);
    signer.check_key_protection().unwrap();
    let spki = signer.public_key().clone();
    assert_eq!(spki.algorithm.oid, alg::RSA_ENCRYPTION);
    let rsa_key = {
        use rsa::pkcs8::DecodePublicKey;
        rsa::RsaPublicKey::from_public_key_der(&spki.to_der().unwrap()).unwrap()
    };
    assert_eq!(
        rsa::traits::PublicKeyParts::n(&rsa_key).bits(),
        thabian_pki::keys::RSA_DEFAULT_BITS
    );

    // RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32), signed in the token.
    let pss_id = signer.signature_algorithm_identifier();
    let pss = signer.sign(MSG).unwrap();
    verify_signature(&spki, &pss_id, MSG, &pss).unwrap();
    assert_eq!(
        verify_signature(&spki, &pss_id, b"tampered", &pss),
        Err(VerifyError::BadSignature)
    );

    // RSA PKCS #1 v1.5 with SHA-256 from the same token key (Thabian does not sign with it,
    // foreign documents do): the token's CKM_SHA256_RSA_PKCS signature verifies here too.
    let ctx = pkcs11::module(module).unwrap();
    let slot = pkcs11::find_token(&ctx, "thabian-test").unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    match session.login(UserType::User, Some(&AuthPin::from("user-pin-5678"))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("{e}"),
    }
    let key = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"csca-rsa".to_vec()),
        ])
        .unwrap();
    assert_eq!(key.len(), 1);
    let pkcs1 = session
        .sign(&Mechanism::Sha256RsaPkcs, key[0], MSG)
        .unwrap();
    drop(session);
    let pkcs1_id = AlgorithmIdentifierOwned {
        oid: alg::SHA256_WITH_RSA_ENCRYPTION,
        parameters: Some(der::Any::from(der::asn1::AnyRef::NULL)),
    };
    verify_signature(&spki, &pkcs1_id, MSG, &pkcs1).unwrap();
    assert_eq!(
        verify_signature(&spki, &pkcs1_id, MSG, &flip(&pkcs1, 7)),
        Err(VerifyError::BadSignature)
    );
    // Neither padding passes for the other.
    assert_eq!(
        verify_signature(&spki, &pss_id, MSG, &pkcs1),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(
        verify_signature(&spki, &pkcs1_id, MSG, &pss),
        Err(VerifyError::BadSignature)
    );

    // OpenSSL verifies both with the public key the token reported.
    if have_openssl() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let key_pem = d.join("key.pem");
        std::fs::write(
            &key_pem,
            der::pem::encode_string(
                "PUBLIC KEY",
                der::pem::LineEnding::LF,
                &spki.to_der().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let msg = d.join("msg");
        std::fs::write(&msg, MSG).unwrap();
        let (pss_file, pkcs1_file) = (d.join("pss.sig"), d.join("pkcs1.sig"));
        std::fs::write(&pss_file, &pss).unwrap();
        std::fs::write(&pkcs1_file, &pkcs1).unwrap();
        let out = openssl(&[
            "dgst",
            "-sha256",
            "-verify",
            p(&key_pem),
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sigopt",
            "rsa_mgf1_md:sha256",
            "-signature",
            p(&pss_file),
            p(&msg),
        ]);
        assert_eq!(String::from_utf8_lossy(&out).trim(), "Verified OK");
        let out = openssl(&[
            "dgst",
            "-sha256",
            "-verify",
            p(&key_pem),
            "-signature",
            p(&pkcs1_file),
            p(&msg),
        ]);
        assert_eq!(String::from_utf8_lossy(&out).trim(), "Verified OK");
        // A tampered PSS signature is refused by OpenSSL too.
        std::fs::write(&pss_file, flip(&pss, 0)).unwrap();
        let refused = Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-verify",
                p(&key_pem),
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
                "-signature",
                p(&pss_file),
                p(&msg),
            ])
            .output()
            .unwrap();
        assert!(!refused.status.success());
    }

    // Reopened by label, the key is the same RSA key and keeps signing PSS.
    let reopened = Pkcs11Signer::open(
        module,
        "thabian-test",
        pin,
        &Pkcs11KeyRef::Label("csca-rsa".to_string()),
    )
    .unwrap();
    assert_eq!(reopened.algorithm(), SignatureAlgorithm::RsaPssSha256);
    assert_eq!(reopened.public_key(), &spki);
    let sig = reopened.sign(MSG).unwrap();
    verify_signature(&spki, &pss_id, MSG, &sig).unwrap();
}

// P-256 and P-384 with SHA-256/384 are verified by `ring`: checked here through the public API
// against an independent RustCrypto verification of the same signatures.

/// An SPKI for `point` (uncompressed or compressed) on a named curve.
fn ec_spki(curve: NamedCurve, point: &[u8]) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: alg::ID_EC_PUBLIC_KEY,
            parameters: Some(der::Any::encode_from(&curve.oid()).unwrap()),
        },
        subject_public_key: der::asn1::BitString::from_bytes(point).unwrap(),
    }
}

/// A P-256 (Ok) or P-384 (Err) signing key, made with RustCrypto.
struct NistKey {
    signing: Result<p256::ecdsa::SigningKey, p384::ecdsa::SigningKey>,
}

impl NistKey {
    fn new(curve: NamedCurve, seed: &[u8]) -> Option<Self> {
        let signing = match curve {
            NamedCurve::P256 => Ok(p256::ecdsa::SigningKey::from_slice(&seed[..32]).ok()?),
            _ => Err(p384::ecdsa::SigningKey::from_slice(&seed[..48]).ok()?),
        };
        Some(Self { signing })
    }

    fn points(&self) -> [Vec<u8>; 2] {
        match &self.signing {
            Ok(k) => {
                [false, true].map(|c| k.verifying_key().to_encoded_point(c).as_bytes().to_vec())
            }
            Err(k) => {
                [false, true].map(|c| k.verifying_key().to_encoded_point(c).as_bytes().to_vec())
            }
        }
    }

    fn sign(&self, d: DigestAlgorithm, message: &[u8]) -> Vec<u8> {
        use ecdsa::signature::hazmat::PrehashSigner;
        let digest = d.digest(message);
        match &self.signing {
            Ok(k) => {
                let s: p256::ecdsa::Signature = k.sign_prehash(&digest).unwrap();
                s.to_der().as_bytes().to_vec()
            }
            Err(k) => {
                let s: p384::ecdsa::Signature = k.sign_prehash(&digest).unwrap();
                s.to_der().as_bytes().to_vec()
            }
        }
    }

    /// RustCrypto's verdict, independent of the crate under test.
    fn rust_crypto_accepts(&self, d: DigestAlgorithm, message: &[u8], der_sig: &[u8]) -> bool {
        use ecdsa::signature::hazmat::PrehashVerifier;
        let digest = d.digest(message);
        match &self.signing {
            Ok(k) => p256::ecdsa::Signature::from_der(der_sig)
                .is_ok_and(|s| k.verifying_key().verify_prehash(&digest, &s).is_ok()),
            Err(k) => p384::ecdsa::Signature::from_der(der_sig)
                .is_ok_and(|s| k.verifying_key().verify_prehash(&digest, &s).is_ok()),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn ring_path_agrees_with_rustcrypto(
        message in proptest::collection::vec(any::<u8>(), 0..300),
        seed in proptest::collection::vec(any::<u8>(), 48),
        pair in 0usize..4,
        flip_at in any::<proptest::sample::Index>(),
    ) {
        let (curve, d) = [
            (NamedCurve::P256, DigestAlgorithm::Sha256),
            (NamedCurve::P256, DigestAlgorithm::Sha384),
            (NamedCurve::P384, DigestAlgorithm::Sha256),
            (NamedCurve::P384, DigestAlgorithm::Sha384),
        ][pair];
        let Some(key) = NistKey::new(curve, &seed) else {
            return Ok(()); // a seed that is no private key
        };
        let sig = key.sign(d, &message);
        let mut other = message.clone();
        match other.len() {
            0 => other.push(0),
            len => other[flip_at.index(len)] ^= 0x80,
        }
        let bad_sig = flip(&sig, flip_at.index(sig.len()));
        for point in key.points() {
            let spki = ec_spki(curve, &point);
            let alg_id = ecdsa_alg(d);
            for (m, s) in [(&message, &sig), (&other, &sig), (&message, &bad_sig)] {
                let ours = verify_signature(&spki, &alg_id, m, s);
                let theirs = key.rust_crypto_accepts(d, m, s);
                prop_assert_eq!(ours.is_ok(), theirs, "{:?} {:?} {:?}", curve, d, ours);
            }
            prop_assert_eq!(verify_signature(&spki, &alg_id, &message, &sig), Ok(()));
            prop_assert_eq!(verify_signature(&spki, &alg_id, &other, &sig), Err(VerifyError::BadSignature));
            // A CMS SignerInfo naming only id-ecPublicKey takes the hash from digestAlgorithm.
            let key_only = AlgorithmIdentifierOwned { oid: alg::ID_EC_PUBLIC_KEY, parameters: None };
            prop_assert_eq!(
                thabian_pki::verify::verify_signature_with_digest(&spki, &key_only, d, &message, &sig),
                Ok(())
            );
        }
    }
}

#[test]
fn openssl_compressed_nist_keys_verify() {
    if !have_openssl() {
        return;
    }
    for (name, curve, width) in [
        ("prime256v1", NamedCurve::P256, 32),
        ("secp384r1", NamedCurve::P384, 48),
    ] {
        let mut k = OpensslKey::new(&["ecparam", "-name", name, "-genkey", "-noout"]);
        let spki_der = openssl(&[
            "ec",
            "-in",
            p(&k.key),
            "-pubout",
            "-outform",
            "DER",
            "-conv_form",
            "compressed",
        ]);
        k.spki = SubjectPublicKeyInfoOwned::from_der(&spki_der).unwrap();
        assert_eq!(k.spki.subject_public_key.raw_bytes().len(), 1 + width);
        assert_eq!(ec_named_curve(&k.spki), Ok(curve));
        for (md, d) in [
            ("-sha256", DigestAlgorithm::Sha256),
            ("-sha384", DigestAlgorithm::Sha384),
        ] {
            let sig = k.sign(md, &[]);
            verify_signature(&k.spki, &ecdsa_alg(d), MSG, &sig)
                .unwrap_or_else(|e| panic!("{name} {md}: {e}"));
            let raw = der_to_raw(&sig, width);
            verify_signature(&k.spki, &ecdsa_alg(d), MSG, &raw).unwrap();
            assert_eq!(
                verify_signature(&k.spki, &ecdsa_alg(d), b"EF.SOD signed attributeS", &sig),
                Err(VerifyError::BadSignature),
                "{name} {md}"
            );
        }
    }
}
