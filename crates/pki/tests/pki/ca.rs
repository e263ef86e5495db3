// The certificate authority end to end: CSCA, link, Document Signer, Master List Signer, CRL,
// CMS SignedData and the master list, checked by OpenSSL and by our own verifiers.

use chrono::{DateTime, TimeZone, Utc};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use std::path::Path;
use std::process::Command;
use thabian_pki::cert::{
    certificate_from_der, certificate_from_pem, certificate_to_der, certificate_to_pem,
    check_profile, document_types, issue_csca, issue_document_signer, issue_link,
    issue_master_list_signer, private_key_usage_period, ski, CscaRequest, DsRequest,
    KeyUsagePeriod, MasterListSignerRequest, ProfileFinding, ProfileKind,
};
use thabian_pki::cms::{
    sign_signed_data, verify_signed_data, CmsCheck, CmsError, SignRequest,
    ID_ICAO_LDS_SECURITY_OBJECT,
};
use thabian_pki::crl::{
    crl_from_der, crl_from_pem, crl_number, crl_to_der, crl_to_pem, is_revoked, issue_crl,
    verify_crl, CrlError, RevokedEntry,
};
use thabian_pki::masterlist::{build_master_list, parse_master_list, MasterListError};
use thabian_pki::path::{validate_document_signer, CertRole, PathError, PathWarning};
use thabian_pki::{
    DigestAlgorithm, Encoded, EncodedCertificate, EncodedCrl, PkiError, SignatureAlgorithm, Signer,
};
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::Certificate;

// ---------------------------------------------------------------------------------------------
// Test signers (software keys; RSA 2048 to keep key generation fast)

enum Key {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Pss(rsa::pss::SigningKey<sha2::Sha256>),
}

struct TestSigner {
    key: Key,
    alg: SignatureAlgorithm,
    spki: SubjectPublicKeyInfoOwned,
}

impl TestSigner {
    fn new(alg: SignatureAlgorithm) -> Self {
        use rsa::pkcs8::EncodePublicKey;
        let mut rng = rand::rngs::OsRng;
        let (key, spki_der) = match alg {
            SignatureAlgorithm::EcdsaP256Sha256 => {
                let k = p256::ecdsa::SigningKey::random(&mut rng);
                let d = k.verifying_key().to_public_key_der().unwrap();
                (Key::P256(k), d)
            }
            SignatureAlgorithm::EcdsaP384Sha384 => {
                let k = p384::ecdsa::SigningKey::random(&mut rng);
                let d = k.verifying_key().to_public_key_der().unwrap();
                (Key::P384(k), d)
            }
            SignatureAlgorithm::RsaPssSha256 => {
                let k = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
                let d = k.to_public_key().to_public_key_der().unwrap();
                (Key::Pss(rsa::pss::SigningKey::new_with_salt_len(k, 32)), d)
            }
        };
        TestSigner {
            key,
            alg,
            spki: SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes()).unwrap(),
        }
    }
}

impl Signer for TestSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.alg
    }
    fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.spki
    }
    fn signature_algorithm_identifier(&self) -> AlgorithmIdentifierOwned {
        self.alg.signature_algorithm_identifier()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        use signature::{RandomizedSigner, SignatureEncoding, Signer as _};
        Ok(match &self.key {
            Key::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(message);
                s.to_der().as_bytes().to_vec()
            }
            Key::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign(message);
                s.to_der().as_bytes().to_vec()
            }
            Key::Pss(k) => k.sign_with_rng(&mut rand::rngs::OsRng, message).to_vec(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Fixture

fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

/// The verification time used throughout.
fn at() -> DateTime<Utc> {
    t(2026, 3, 15)
}

fn csca_request(cn: &str, not_after: DateTime<Utc>) -> CscaRequest {
    CscaRequest {
        country: "TH".into(),
        organization: "Thabian Civil Registry".into(),
        common_name: cn.into(),
        serial: None,
        not_before: t(2026, 1, 1),
        not_after,
        private_key_usage_period: Some((t(2026, 1, 1), t(2031, 1, 1))),
    }
}

fn ds_request(cn: &str) -> DsRequest {
    DsRequest {
        country: "TH".into(),
        organization: "Thabian Civil Registry".into(),
        common_name: cn.into(),
        serial: None,
        not_before: t(2026, 2, 1),
        not_after: t(2035, 12, 31),
        private_key_usage_period: Some((t(2026, 2, 1), t(2026, 5, 1))),
        document_types: vec!["ID".into()],
    }
}

struct Pki {
    csca_signer: TestSigner,
    csca: Certificate,
    ds_signer: TestSigner,
    ds: Certificate,
    revoked_ds: Certificate,
    ml_signer: TestSigner,
    ml_cert: Certificate,
    crl_empty: CertificateList,
    crl: CertificateList,
}

fn pki(alg: SignatureAlgorithm) -> Pki {
    // RSA's CSCA runs past 2050 so that GeneralizedTime goes through OpenSSL too.
    let csca_end = if alg == SignatureAlgorithm::RsaPssSha256 {
        t(2051, 1, 1)
    } else {
        t(2036, 1, 1)
    };
    let csca_signer = TestSigner::new(alg);
    let csca = issue_csca(&csca_signer, &csca_request("CSCA Thabia", csca_end)).unwrap();
    let ds_signer = TestSigner::new(alg);
    let ds = issue_document_signer(
        &csca_signer,
        &csca,
        ds_signer.public_key(),
        &ds_request("DS 1"),
    )
    .unwrap();
    let revoked_ds = issue_document_signer(
        &csca_signer,
        &csca,
        TestSigner::new(SignatureAlgorithm::EcdsaP256Sha256).public_key(),
        &ds_request("DS 2"),
    )
    .unwrap();
    let ml_signer = TestSigner::new(alg);
    let ml_cert = issue_master_list_signer(
        &csca_signer,
        &csca,
        ml_signer.public_key(),
        &MasterListSignerRequest {
            country: "TH".into(),
            organization: "Thabian Civil Registry".into(),
            common_name: "Master List Signer".into(),
            serial: None,
            not_before: t(2026, 1, 1),
            not_after: t(2027, 1, 1),
            private_key_usage_period: None,
        },
    )
    .unwrap();
    let crl_empty = issue_crl(&csca_signer, &csca, &[], t(2026, 3, 1), t(2026, 5, 30), 1).unwrap();
    let crl = issue_crl(
        &csca_signer,
        &csca,
        &[RevokedEntry {
            serial: revoked_ds.tbs_certificate.serial_number.clone(),
            revocation_date: t(2026, 3, 2),
            reason: Some(CrlReason::KeyCompromise),
        }],
        t(2026, 3, 2),
        t(2026, 5, 31),
        2,
    )
    .unwrap();
    Pki {
        csca_signer,
        csca,
        ds_signer,
        ds,
        revoked_ds,
        ml_signer,
        ml_cert,
        crl_empty,
        crl,
    }
}

/// A certificate or CRL built here, without received octets (verified over its DER).
fn enc<T: Clone>(value: &T) -> Encoded<T> {
    Encoded::from(value.clone())
}

fn sod(p: &Pki, content: &[u8]) -> Vec<u8> {
    sign_signed_data(&SignRequest {
        econtent_type: ID_ICAO_LDS_SECURITY_OBJECT,
        econtent: content,
        digest: p.ds_signer.algorithm().digest_algorithm(),
        signer: &p.ds_signer,
        signer_cert: &p.ds,
        signer_cert_der: None,
        signing_time: t(2026, 3, 10),
        extra_certs: &[],
    })
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// OpenSSL

fn have_openssl() -> bool {
    let ok = Command::new("openssl").arg("version").output().is_ok();
    if !ok {
        eprintln!("openssl is not on PATH: skipping the OpenSSL checks");
    }
    ok
}

/// Runs openssl; returns (success, stdout + stderr).
fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

/// The text block of one extension in `openssl x509 -text` output: its header line plus the
/// value line(s) that follow.
fn ext_block<'a>(text: &'a str, header: &str) -> &'a str {
    let start = text
        .find(header)
        .unwrap_or_else(|| panic!("{header} missing in\n{text}"));
    let rest = &text[start..];
    let end = rest[1..]
        .find("X509v3")
        .or_else(|| rest[1..].find("Signature Algorithm"))
        .map(|e| e + 1)
        .unwrap_or(rest.len());
    &rest[..end]
}

fn openssl_checks(alg: SignatureAlgorithm) {
    if !have_openssl() {
        return;
    }
    let p = pki(alg);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let attime = at().timestamp().to_string();
    let csca_der = write(d, "csca.der", &certificate_to_der(&p.csca).unwrap());
    let csca_pem = write(
        d,
        "csca.pem",
        certificate_to_pem(&p.csca).unwrap().as_bytes(),
    );
    let ds_der = write(d, "ds.der", &certificate_to_der(&p.ds).unwrap());
    let ds_pem = write(d, "ds.pem", certificate_to_pem(&p.ds).unwrap().as_bytes());
    let rds_pem = write(
        d,
        "rds.pem",
        certificate_to_pem(&p.revoked_ds).unwrap().as_bytes(),
    );
    let ml_der = write(d, "mlsigner.der", &certificate_to_der(&p.ml_cert).unwrap());
    let crl_der = write(d, "crl.der", &crl_to_der(&p.crl).unwrap());
    let crl_pem = write(d, "crl.pem", crl_to_pem(&p.crl).unwrap().as_bytes());
    let crl_empty_der = write(d, "crl0.der", &crl_to_der(&p.crl_empty).unwrap());
    let crl_empty_pem = write(d, "crl0.pem", crl_to_pem(&p.crl_empty).unwrap().as_bytes());

    // CSCA
    let (ok, text) = openssl(&[
        "x509", "-inform", "DER", "-in", &csca_der, "-noout", "-text",
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("Version: 3 (0x2)"), "{text}");
    let ku = ext_block(&text, "X509v3 Key Usage");
    assert!(
        ku.contains("critical") && ku.contains("Certificate Sign, CRL Sign"),
        "{ku}"
    );
    assert!(!ku.contains("Digital Signature"), "{ku}");
    let bc = ext_block(&text, "X509v3 Basic Constraints");
    assert!(
        bc.contains("critical") && bc.contains("CA:TRUE, pathlen:0"),
        "{bc}"
    );
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(text.contains("X509v3 Private Key Usage Period"), "{text}");
    assert!(!text.contains("Extended Key Usage"), "{text}");
    assert!(
        text.contains("C = TH, O = Thabian Civil Registry, CN = CSCA Thabia"),
        "{text}"
    );
    if alg == SignatureAlgorithm::RsaPssSha256 {
        assert!(text.contains("rsassaPss"), "{text}");
        assert!(text.contains("2051"), "{text}");
    }
    // OpenSSL checks the self-signature of a trust anchor when asked to.
    let (ok, text) = openssl(&[
        "verify",
        "-x509_strict",
        "-check_ss_sig",
        "-attime",
        &attime,
        "-CAfile",
        &csca_pem,
        &csca_pem,
    ]);
    assert!(ok, "{text}");

    // Document Signer
    let (ok, text) = openssl(&["x509", "-inform", "DER", "-in", &ds_der, "-noout", "-text"]);
    assert!(ok, "{text}");
    let ku = ext_block(&text, "X509v3 Key Usage");
    assert!(
        ku.contains("critical") && ku.contains("Digital Signature"),
        "{ku}"
    );
    assert!(!ku.contains("Certificate Sign"), "{ku}");
    assert!(!text.contains("CA:TRUE"), "{text}");
    assert!(!text.contains("Extended Key Usage"), "{text}");
    assert!(text.contains("2.23.136.1.1.6.2"), "{text}");
    // The Document Type List value: SEQUENCE { INTEGER 0, SET { PrintableString "ID" } }.
    let dtl = &text[text.find("2.23.136.1.1.6.2:").unwrap()..];
    assert!(!dtl.lines().next().unwrap().contains("critical"), "{dtl}");
    assert!(dtl.lines().nth(1).unwrap().trim().ends_with("ID"), "{dtl}");
    let (ok, text) = openssl(&[
        "verify",
        "-x509_strict",
        "-attime",
        &attime,
        "-CAfile",
        &csca_pem,
        &ds_pem,
    ]);
    assert!(ok && text.contains("OK"), "{text}");

    // Master List Signer
    let (ok, text) = openssl(&["x509", "-inform", "DER", "-in", &ml_der, "-noout", "-text"]);
    assert!(ok, "{text}");
    let eku = ext_block(&text, "X509v3 Extended Key Usage");
    assert!(
        eku.contains("critical") && eku.contains("2.23.136.1.1.3"),
        "{eku}"
    );
    let ku = ext_block(&text, "X509v3 Key Usage");
    assert!(
        ku.contains("critical") && ku.contains("Digital Signature"),
        "{ku}"
    );

    // CRLs: signature against the CSCA, and revocation.
    for crl in [&crl_der, &crl_empty_der] {
        let (ok, text) = openssl(&[
            "crl", "-inform", "DER", "-in", crl, "-CAfile", &csca_pem, "-noout",
        ]);
        assert!(ok && text.contains("verify OK"), "{text}");
    }
    let (ok, text) = openssl(&["crl", "-inform", "DER", "-in", &crl_der, "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(text.contains("Version 2"), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    let (ok, text) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        &crl_empty_der,
        "-noout",
        "-text",
    ]);
    assert!(ok && text.contains("No Revoked Certificates"), "{text}");
    let (ok, text) = openssl(&[
        "verify",
        "-x509_strict",
        "-attime",
        &attime,
        "-crl_check",
        "-CRLfile",
        &crl_pem,
        "-CAfile",
        &csca_pem,
        &rds_pem,
    ]);
    assert!(!ok && text.contains("certificate revoked"), "{text}");
    let (ok, text) = openssl(&[
        "verify",
        "-x509_strict",
        "-attime",
        &attime,
        "-crl_check",
        "-CRLfile",
        &crl_pem,
        "-CAfile",
        &csca_pem,
        &ds_pem,
    ]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&[
        "verify",
        "-x509_strict",
        "-attime",
        &attime,
        "-crl_check",
        "-CRLfile",
        &crl_empty_pem,
        "-CAfile",
        &csca_pem,
        &rds_pem,
    ]);
    assert!(ok, "{text}");

    // CMS: the master list, and an LDS security object, signature AND chain checked.
    let ml = build_master_list(
        std::slice::from_ref(&p.csca),
        &p.ml_signer,
        &p.ml_cert,
        t(2026, 3, 10),
    )
    .unwrap();
    let ml_file = write(d, "ml.der", &ml);
    let (ok, text) = openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        &ml_file,
        "-CAfile",
        &csca_pem,
        "-purpose",
        "any",
        "-attime",
        &attime,
        "-out",
        "/dev/null",
    ]);
    assert!(ok && text.contains("Verification successful"), "{text}");
    let sod_file = write(d, "sod.der", &sod(&p, b"any content at all"));
    let content_out = d.join("content.bin");
    let (ok, text) = openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        &sod_file,
        "-CAfile",
        &csca_pem,
        "-purpose",
        "any",
        "-attime",
        &attime,
        "-out",
        content_out.to_str().unwrap(),
    ]);
    assert!(ok && text.contains("Verification successful"), "{text}");
    assert_eq!(std::fs::read(&content_out).unwrap(), b"any content at all");
    let (ok, text) = openssl(&[
        "cms", "-cmsout", "-print", "-inform", "DER", "-in", &sod_file,
    ]);
    assert!(ok, "{text}");
    assert!(text.contains("(2.23.136.1.1.1)"), "{text}");
    assert!(text.contains("version: 3"), "{text}");
    assert!(text.contains("version: 1"), "SignerInfo v1: {text}");
    assert!(text.contains("d.issuerAndSerialNumber"), "{text}");
    // The chain really is checked: another CSCA does not vouch for this signer.
    let other = TestSigner::new(SignatureAlgorithm::EcdsaP256Sha256);
    let other_csca = issue_csca(&other, &csca_request("CSCA Thabia", t(2036, 1, 1))).unwrap();
    let other_pem = write(
        d,
        "other.pem",
        certificate_to_pem(&other_csca).unwrap().as_bytes(),
    );
    let (ok, text) = openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        &ml_file,
        "-CAfile",
        &other_pem,
        "-purpose",
        "any",
        "-attime",
        &attime,
        "-out",
        "/dev/null",
    ]);
    assert!(!ok, "{text}");
    // And the signature is checked: one flipped byte of the signature fails.
    let mut bad = std::fs::read(&sod_file).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let bad_file = write(d, "bad.der", &bad);
    let (ok, text) = openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        &bad_file,
        "-CAfile",
        &csca_pem,
        "-purpose",
        "any",
        "-attime",
        &attime,
        "-out",
        "/dev/null",
    ]);
    assert!(!ok, "{text}");
}

#[test]
fn openssl_accepts_p256() {
    openssl_checks(SignatureAlgorithm::EcdsaP256Sha256);
}

#[test]
fn openssl_accepts_p384() {
    openssl_checks(SignatureAlgorithm::EcdsaP384Sha384);
}

#[test]
fn openssl_accepts_rsa_pss() {
    openssl_checks(SignatureAlgorithm::RsaPssSha256);
}

// ---------------------------------------------------------------------------------------------
// Profiles and encodings

#[test]
fn certificates_meet_their_profiles() {
    for alg in [
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::EcdsaP384Sha384,
        SignatureAlgorithm::RsaPssSha256,
    ] {
        let p = pki(alg);
        assert_eq!(check_profile(&p.csca, ProfileKind::Csca), vec![]);
        assert_eq!(check_profile(&p.ds, ProfileKind::DocumentSigner), vec![]);
        assert_eq!(
            check_profile(&p.ml_cert, ProfileKind::MasterListSigner),
            vec![]
        );
        // And a certificate does not meet another's profile.
        let f = check_profile(&p.ds, ProfileKind::Csca);
        assert!(
            f.contains(&ProfileFinding::BasicConstraintsMissing),
            "{f:?}"
        );
        assert!(f
            .iter()
            .any(|x| matches!(x, ProfileFinding::KeyUsageWrong { .. })));
        let f = check_profile(&p.ds, ProfileKind::MasterListSigner);
        assert_eq!(f, vec![ProfileFinding::ExtendedKeyUsageMissing]);
        let f = check_profile(&p.ml_cert, ProfileKind::DocumentSigner);
        assert!(
            f.contains(&ProfileFinding::ExtendedKeyUsageForbidden),
            "{f:?}"
        );
        assert!(
            f.contains(&ProfileFinding::DocumentTypeListMissing),
            "{f:?}"
        );
        let f = check_profile(&p.csca, ProfileKind::CscaLink);
        assert_eq!(f, vec![ProfileFinding::LinkCertifiesOwnKey]);

        assert_eq!(document_types(&p.ds), Some(vec!["ID".to_string()]));
        let dtl = thabian_pki::cert::find_extension(
            &p.ds,
            &thabian_pki::cert::ID_ICAO_DOCUMENT_TYPE_LIST,
        )
        .unwrap();
        assert!(!dtl.critical);
        // SEQUENCE { INTEGER 0, SET { PrintableString "ID" } }
        assert_eq!(
            dtl.extn_value.as_bytes(),
            [0x30, 0x09, 0x02, 0x01, 0x00, 0x31, 0x04, 0x13, 0x02, b'I', b'D']
        );
        assert_eq!(
            private_key_usage_period(&p.ds),
            Some(KeyUsagePeriod {
                not_before: Some(t(2026, 2, 1)),
                not_after: Some(t(2026, 5, 1))
            })
        );
        assert_eq!(
            thabian_pki::cert::aki(&p.ds),
            ski(&p.csca),
            "DS AKI = CSCA SKI"
        );
        assert_eq!(thabian_pki::cert::aki(&p.csca), ski(&p.csca));
        // Serial: positive, at most 20 content octets.
        let serial = p.ds.tbs_certificate.serial_number.to_der().unwrap();
        assert!(serial.len() <= 22 && serial[2] & 0x80 == 0, "{serial:02x?}");
    }
}

#[test]
fn der_and_pem_round_trip() {
    let p = pki(SignatureAlgorithm::EcdsaP256Sha256);
    let der = certificate_to_der(&p.ds).unwrap();
    assert_eq!(certificate_from_der(&der).unwrap(), p.ds);
    let pem = certificate_to_pem(&p.ds).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(certificate_from_pem(&pem).unwrap(), p.ds);
    let der = crl_to_der(&p.crl).unwrap();
    assert_eq!(crl_from_der(&der).unwrap(), p.crl);
    let pem = crl_to_pem(&p.crl).unwrap();
    assert!(pem.starts_with("-----BEGIN X509 CRL-----"));
    assert_eq!(crl_from_pem(&pem).unwrap(), p.crl);
    assert!(crl_from_pem(&certificate_to_pem(&p.ds).unwrap()).is_err());
    // An empty CRL has no revokedCertificates field at all.
    let empty = crl_from_der(&crl_to_der(&p.crl_empty).unwrap()).unwrap();
    assert!(empty.tbs_cert_list.revoked_certificates.is_none());
    assert_eq!(crl_number(&p.crl), Some(vec![2]));
}

#[test]
fn requests_are_checked() {
    let s = TestSigner::new(SignatureAlgorithm::EcdsaP256Sha256);
    let mut r = csca_request("CSCA", t(2036, 1, 1));
    r.country = "THA".into();
    assert!(matches!(
        issue_csca(&s, &r),
        Err(PkiError::InvalidRequest(_))
    ));
    let mut r = csca_request("CSCA", t(2025, 1, 1));
    r.serial = Some(vec![1]);
    assert!(matches!(
        issue_csca(&s, &r),
        Err(PkiError::InvalidRequest(_))
    ));
    let mut r = csca_request("CSCA", t(2036, 1, 1));
    r.serial = Some(vec![0x01; 21]);
    assert!(matches!(
        issue_csca(&s, &r),
        Err(PkiError::InvalidRequest(_))
    ));
    r.serial = Some(vec![0x7f; 20]);
    let c = issue_csca(&s, &r).unwrap();
    assert_eq!(c.tbs_certificate.serial_number.as_bytes(), &[0x7f; 20]);
    // The wrong key for the issuing certificate is refused.
    let other = TestSigner::new(SignatureAlgorithm::EcdsaP256Sha256);
    assert!(matches!(
        issue_document_signer(&other, &c, other.public_key(), &ds_request("DS")),
        Err(PkiError::InvalidRequest(_))
    ));
    // SHA-1 is never used to sign.
    let ds = issue_document_signer(&s, &c, other.public_key(), &ds_request("DS")).unwrap();
    let err = sign_signed_data(&SignRequest {
        econtent_type: ID_ICAO_LDS_SECURITY_OBJECT,
        econtent: b"x",
        digest: DigestAlgorithm::Sha1,
        signer: &other,
        signer_cert: &ds,
        signer_cert_der: None,
        signing_time: at(),
        extra_certs: &[],
    });
    assert!(matches!(err, Err(PkiError::InvalidRequest(_))));
}

// ---------------------------------------------------------------------------------------------
// CMS

fn flip_at(bytes: &[u8], needle: &[u8]) -> Vec<u8> {
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present");
    let mut out = bytes.to_vec();
    out[pos + needle.len() / 2] ^= 0x01;
    out
}

#[test]
fn cms_round_trip_and_tampering() {
    for alg in [
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::EcdsaP384Sha384,
        SignatureAlgorithm::RsaPssSha256,
    ] {
        let p = pki(alg);
        let content = b"LDS security object stand-in 0123456789";
        let der = sod(&p, content);
        let v = verify_signed_data(&der, &ID_ICAO_LDS_SECURITY_OBJECT, &[]).unwrap();
        assert_eq!(v.econtent, content);
        assert_eq!(*v.signer_certificate, p.ds);
        assert_eq!(v.signing_time, Some(t(2026, 3, 10)));
        assert_eq!(v.digest_algorithm, alg.digest_algorithm());
        let checks: Vec<CmsCheck> = v.steps.iter().map(|s| s.check).collect();
        assert_eq!(
            checks,
            [
                CmsCheck::Parsed,
                CmsCheck::EContentType,
                CmsCheck::DigestAlgorithm,
                CmsCheck::SignerCertificateFound,
                CmsCheck::ContentTypeAttribute,
                CmsCheck::MessageDigest,
                CmsCheck::Signature
            ]
        );
        // EF.SOD's tag 77 wrapper is accepted.
        let mut wrapped = vec![0x77, 0x82];
        wrapped.extend_from_slice(&u16::try_from(der.len()).unwrap().to_be_bytes());
        wrapped.extend_from_slice(&der);
        assert!(verify_signed_data(&wrapped, &ID_ICAO_LDS_SECURITY_OBJECT, &[]).is_ok());

        // Wrong eContentType expected.
        let e = verify_signed_data(&der, &thabian_pki::cms::ID_ICAO_CSCA_MASTER_LIST, &[]);
        assert!(
            matches!(e, Err(CmsError::EContentTypeMismatch { .. })),
            "{e:?}"
        );
        // One byte of the eContent.
        let e = verify_signed_data(&flip_at(&der, content), &ID_ICAO_LDS_SECURITY_OBJECT, &[]);
        assert!(matches!(e, Err(CmsError::MessageDigestMismatch)), "{e:?}");
        // One byte of the signed attributes (the signingTime digits "260310").
        let e = verify_signed_data(
            &flip_at(&der, b"260310000000Z"),
            &ID_ICAO_LDS_SECURITY_OBJECT,
            &[],
        );
        assert!(matches!(e, Err(CmsError::SignatureInvalid(_))), "{e:?}");
        // One byte of the messageDigest attribute itself.
        let md = alg.digest_algorithm().digest(content);
        let e = verify_signed_data(&flip_at(&der, &md), &ID_ICAO_LDS_SECURITY_OBJECT, &[]);
        assert!(matches!(e, Err(CmsError::MessageDigestMismatch)), "{e:?}");
        // One byte of the signature (the SignerInfo's last field, at the very end).
        let mut bad = der.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        let e = verify_signed_data(&bad, &ID_ICAO_LDS_SECURITY_OBJECT, &[]);
        assert!(matches!(e, Err(CmsError::SignatureInvalid(_))), "{e:?}");
        // One byte of the embedded DS certificate's subject: the CMS signature does not cover
        // the certificate, but the DS no longer verifies under the CSCA.
        let bad = flip_at(&der, b"DS 1");
        let v = verify_signed_data(&bad, &ID_ICAO_LDS_SECURITY_OBJECT, &[]).unwrap();
        assert_ne!(*v.signer_certificate, p.ds);
        let e = validate_document_signer(&v.signer_certificate, &[enc(&p.csca)], &[], at());
        assert!(matches!(e, Err(PathError::SignatureInvalid(_))), "{e:?}");
        // The DS public key in the embedded certificate: now the CMS signature fails.
        let key =
            p.ds.tbs_certificate
                .subject_public_key_info
                .subject_public_key
                .raw_bytes();
        let bad = flip_at(&der, &key[key.len() - 8..]);
        let e = verify_signed_data(&bad, &ID_ICAO_LDS_SECURITY_OBJECT, &[]);
        assert!(matches!(e, Err(CmsError::SignatureInvalid(_))), "{e:?}");
    }
}

/// The SignedData is put together from the DER of its parts: decoding it and encoding it again
/// must give the same bytes (DER, with the certificate SET OF in DER order), whether the
/// signer certificate's DER is passed in or encoded there.
#[test]
fn signed_data_is_canonical_der() {
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    let p = pki(SignatureAlgorithm::EcdsaP256Sha256);
    let ds_der = p.ds.to_der().unwrap();
    let extra = [p.csca.clone(), p.revoked_ds.clone(), p.ml_cert.clone()];
    let sign = |cert_der: Option<&[u8]>, extra_certs: &[Certificate]| {
        sign_signed_data(&SignRequest {
            econtent_type: ID_ICAO_LDS_SECURITY_OBJECT,
            econtent: b"content",
            digest: DigestAlgorithm::Sha256,
            signer: &p.ds_signer,
            signer_cert: &p.ds,
            signer_cert_der: cert_der,
            signing_time: t(2026, 3, 10),
            extra_certs,
        })
        .unwrap()
    };
    for (cert_der, extra_certs) in [
        (None, &[][..]),
        (Some(&ds_der[..]), &[][..]),
        (Some(&ds_der[..]), &extra[..]),
        (None, &extra[..]),
    ] {
        let der = sign(cert_der, extra_certs);
        let info = ContentInfo::from_der(&der).unwrap();
        assert_eq!(info.to_der().unwrap(), der);
        // With one certificate the whole SignedData is what the der crate encodes; with more,
        // the set is in X.690 11.6 order (ascending octet strings), which the der crate's own
        // SET OF ordering of certificates does not always follow, so the set is checked here.
        let sd: SignedData = info.content.decode_as().unwrap();
        if extra_certs.is_empty() {
            assert_eq!(sd.to_der().unwrap(), info.content.to_der().unwrap());
        }
        let embedded = thabian_pki::cms::embedded_certificates(&der);
        assert_eq!(embedded.len(), 1 + extra_certs.len());
        let octets: Vec<Vec<u8>> = embedded
            .iter()
            .map(|c| c.der().unwrap().into_owned())
            .collect();
        assert!(octets.windows(2).all(|w| w[0] < w[1]), "DER order");
        let mut expected: Vec<Vec<u8>> = std::iter::once(&p.ds)
            .chain(extra_certs)
            .map(|c| c.to_der().unwrap())
            .collect();
        expected.sort();
        assert_eq!(octets, expected);
        let v = verify_signed_data(&der, &ID_ICAO_LDS_SECURITY_OBJECT, &[]).unwrap();
        assert_eq!(*v.signer_certificate, p.ds);
    }
}

#[test]
fn cms_finds_a_supplied_signer_certificate() {
    let p = pki(SignatureAlgorithm::EcdsaP256Sha256);
    let der = sod(&p, b"content");
    // Strip the embedded certificates by re-encoding without them.
    let ci = cms::content_info::ContentInfo::from_der(&der).unwrap();
    let mut sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    sd.certificates = None;
    let der2 = cms::content_info::ContentInfo {
        content_type: ci.content_type,
        content: der::Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap();
    let e = verify_signed_data(&der2, &ID_ICAO_LDS_SECURITY_OBJECT, &[]);
    assert!(
        matches!(e, Err(CmsError::SignerCertificateNotFound)),
        "{e:?}"
    );
    let v = verify_signed_data(
        &der2,
        &ID_ICAO_LDS_SECURITY_OBJECT,
        &[enc(&p.ml_cert), enc(&p.ds)],
    )
    .unwrap();
    assert_eq!(*v.signer_certificate, p.ds);
}

// ---------------------------------------------------------------------------------------------
// Master list

#[test]
fn master_list_round_trip() {
    let p = pki(SignatureAlgorithm::EcdsaP384Sha384);
    let csca2_signer = TestSigner::new(SignatureAlgorithm::EcdsaP384Sha384);
    let csca2 = issue_csca(&csca2_signer, &csca_request("CSCA Thabia 2", t(2036, 1, 1))).unwrap();
    let list = [p.csca.clone(), csca2.clone()];
    let ml = build_master_list(&list, &p.ml_signer, &p.ml_cert, t(2026, 3, 10)).unwrap();
    let parsed = parse_master_list(&ml, &[], Some(at())).unwrap();
    assert_eq!(parsed.certificates.len(), 2);
    let listed: Vec<&Certificate> = parsed.certificates.iter().map(|c| c.value()).collect();
    assert!(listed.contains(&&p.csca) && listed.contains(&&csca2));
    assert_eq!(*parsed.signer_certificate, p.ml_cert);
    assert_eq!(*parsed.signer_issuer, p.csca);
    assert_eq!(parsed.signing_time, Some(t(2026, 3, 10)));
    assert_eq!(parsed.skipped, 0);
    // With a trust anchor: the right one passes, another does not.
    assert!(parse_master_list(&ml, &[enc(&p.csca)], Some(at())).is_ok());
    let e = parse_master_list(&ml, &[enc(&csca2)], Some(at()));
    assert!(matches!(e, Err(MasterListError::SignerNotTrusted)), "{e:?}");
    // Outside the signer's validity.
    let e = parse_master_list(&ml, &[], Some(t(2028, 1, 1)));
    assert!(
        matches!(e, Err(MasterListError::SignerNotValid(_))),
        "{e:?}"
    );
    // Signed by a Document Signer (no EKU 2.23.136.1.1.3).
    let ml = build_master_list(&list, &p.ds_signer, &p.ds, t(2026, 3, 10)).unwrap();
    let e = parse_master_list(&ml, &[], None);
    assert!(
        matches!(e, Err(MasterListError::NotMasterListSigner)),
        "{e:?}"
    );
    // Tampered content.
    let ml = build_master_list(&list, &p.ml_signer, &p.ml_cert, t(2026, 3, 10)).unwrap();
    let e = parse_master_list(&flip_at(&ml, b"CSCA Thabia 2"), &[], None);
    assert!(
        matches!(
            e,
            Err(MasterListError::Cms(CmsError::MessageDigestMismatch))
        ),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// CRLs and path validation

#[test]
fn crl_verification_and_lookup() {
    let p = pki(SignatureAlgorithm::EcdsaP256Sha256);
    verify_crl(&enc(&p.crl), &p.csca).unwrap();
    let entry = is_revoked(&p.crl, &p.revoked_ds.tbs_certificate.serial_number).unwrap();
    assert_eq!(entry.revocation_date, t(2026, 3, 2));
    assert_eq!(entry.reason, Some(CrlReason::KeyCompromise));
    assert!(is_revoked(&p.crl, &p.ds.tbs_certificate.serial_number).is_none());
    assert!(is_revoked(&p.crl_empty, &p.revoked_ds.tbs_certificate.serial_number).is_none());
    // Another CSCA of the same name.
    let other = TestSigner::new(SignatureAlgorithm::EcdsaP256Sha256);
    let other_csca = issue_csca(&other, &csca_request("CSCA Thabia", t(2036, 1, 1))).unwrap();
    assert_eq!(
        verify_crl(&enc(&p.crl), &other_csca),
        Err(CrlError::KeyIdentifierMismatch)
    );
    let other_name = issue_csca(&other, &csca_request("CSCA Other", t(2036, 1, 1))).unwrap();
    assert_eq!(
        verify_crl(&enc(&p.crl), &other_name),
        Err(CrlError::IssuerMismatch)
    );
    // A flipped byte of the CRL's signed part.
    let der = crl_to_der(&p.crl).unwrap();
    let serial = p
        .revoked_ds
        .tbs_certificate
        .serial_number
        .as_bytes()
        .to_vec();
    let bad = crl_from_der(&flip_at(&der, &serial)).unwrap();
    assert!(matches!(
        verify_crl(&enc(&bad), &p.csca),
        Err(CrlError::SignatureInvalid(_))
    ));
}

#[test]
fn path_validation() {
    let p = pki(SignatureAlgorithm::EcdsaP256Sha256);
    let anchors = &[enc(&p.csca)];
    let crls = [enc(&p.crl_empty), enc(&p.crl)];

    let v = validate_document_signer(&enc(&p.ds), anchors, &crls, at()).unwrap();
    assert_eq!(*v.csca, p.csca);
    assert!(v.link.is_none());
    assert_eq!(v.crl.as_deref(), Some(&p.crl), "the newest CRL is used");
    assert_eq!(v.warnings, vec![]);

    // Revoked.
    let e = validate_document_signer(&enc(&p.revoked_ds), anchors, &crls, at());
    match e {
        Err(PathError::Revoked { date, reason, .. }) => {
            assert_eq!(date, t(2026, 3, 2));
            assert_eq!(reason, Some(CrlReason::KeyCompromise));
        }
        other => panic!("{other:?}"),
    }
    // No CRL: a warning, not an error.
    let v = validate_document_signer(&enc(&p.revoked_ds), anchors, &[], at()).unwrap();
    assert_eq!(v.warnings, vec![PathWarning::CrlMissing]);
    // CRL past nextUpdate: a warning.
    let v = validate_document_signer(&enc(&p.ds), anchors, &crls, t(2026, 7, 1)).unwrap();
    assert!(v
        .warnings
        .iter()
        .any(|w| matches!(w, PathWarning::CrlExpired { .. })));
    // Outside the DS validity.
    let e = validate_document_signer(&enc(&p.ds), anchors, &crls, t(2026, 1, 15));
    assert!(
        matches!(
            e,
            Err(PathError::NotYetValid {
                role: CertRole::DocumentSigner,
                ..
            })
        ),
        "{e:?}"
    );
    // The CSCA expires (2036) before the DS (2035-12-31 here: move past both).
    let e = validate_document_signer(&enc(&p.ds), anchors, &crls, t(2036, 6, 1));
    assert!(matches!(e, Err(PathError::Expired { .. })), "{e:?}");
    // Untrusted: no anchor, or another CSCA of the same name.
    let e = validate_document_signer(&enc(&p.ds), &[], &crls, at());
    assert!(matches!(e, Err(PathError::NoTrustedIssuer { .. })), "{e:?}");
    let other = TestSigner::new(SignatureAlgorithm::EcdsaP256Sha256);
    let other_csca = issue_csca(&other, &csca_request("CSCA Thabia", t(2036, 1, 1))).unwrap();
    let e = validate_document_signer(&enc(&p.ds), &[enc(&other_csca)], &crls, at());
    assert!(matches!(e, Err(PathError::NoTrustedIssuer { .. })), "{e:?}");
    // A CRL by a stranger of the same name is ignored, with a warning.
    let stranger_crl =
        issue_crl(&other, &other_csca, &[], t(2026, 3, 1), t(2026, 5, 1), 9).unwrap();
    let v = validate_document_signer(&enc(&p.ds), anchors, &[enc(&stranger_crl)], at()).unwrap();
    assert!(v.warnings.contains(&PathWarning::CrlMissing));
    assert!(v
        .warnings
        .iter()
        .any(|w| matches!(w, PathWarning::CrlInvalid(_))));
    // A DS profile violation: a Master List Signer certificate is no Document Signer.
    let e = validate_document_signer(&enc(&p.ml_cert), anchors, &crls, at());
    assert!(
        matches!(
            e,
            Err(PathError::ProfileViolation {
                role: CertRole::DocumentSigner,
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn link_certificate_bridges_a_rollover() {
    let old_signer = TestSigner::new(SignatureAlgorithm::EcdsaP256Sha256);
    let old = issue_csca(&old_signer, &csca_request("CSCA Thabia", t(2036, 1, 1))).unwrap();
    let new_signer = TestSigner::new(SignatureAlgorithm::EcdsaP384Sha384);
    let mut req = csca_request("CSCA Thabia", t(2036, 1, 1));
    req.not_before = t(2026, 2, 1);
    // Same name, new key: the usual rollover.
    let new_self = issue_csca(&new_signer, &req).unwrap();
    let link = issue_link(&old_signer, &old, new_signer.public_key(), &req).unwrap();
    assert_eq!(check_profile(&link, ProfileKind::CscaLink), vec![]);
    assert_eq!(thabian_pki::cert::aki(&link), ski(&old));
    assert_eq!(ski(&link), ski(&new_self));
    assert_eq!(link.tbs_certificate.issuer, old.tbs_certificate.subject);

    let ds_signer = TestSigner::new(SignatureAlgorithm::EcdsaP256Sha256);
    let ds = issue_document_signer(
        &new_signer,
        &new_self,
        ds_signer.public_key(),
        &ds_request("DS"),
    )
    .unwrap();
    // Trusting only the old CSCA is not enough ...
    let e = validate_document_signer(&enc(&ds), &[enc(&old)], &[], at());
    assert!(matches!(e, Err(PathError::NoTrustedIssuer { .. })), "{e:?}");
    // ... the link certificate bridges it.
    let store = [enc(&old), enc(&link)];
    let v = validate_document_signer(&enc(&ds), &store, &[], at()).unwrap();
    assert_eq!(v.link.as_deref(), Some(&link));
    assert_eq!(*v.anchor, old);
    assert_eq!(*v.csca, link);
    // A CRL signed by the new key counts for the DS.
    let crl = issue_crl(
        &new_signer,
        &new_self,
        &[RevokedEntry {
            serial: ds.tbs_certificate.serial_number.clone(),
            revocation_date: t(2026, 3, 3),
            reason: None,
        }],
        t(2026, 3, 3),
        t(2026, 6, 1),
        1,
    )
    .unwrap();
    let e = validate_document_signer(&enc(&ds), &store, &[enc(&crl)], at());
    assert!(
        matches!(e, Err(PathError::Revoked { reason: None, .. })),
        "{e:?}"
    );
    // The new self-signed CSCA alone also works, and is preferred when both are present.
    let v = validate_document_signer(&enc(&ds), &[enc(&new_self)], &[], at()).unwrap();
    assert!(v.link.is_none());
    let all = [enc(&old), enc(&link), enc(&new_self)];
    let v = validate_document_signer(&enc(&ds), &all, &[], at()).unwrap();
    assert_eq!(*v.csca, new_self);
    // A link from a CSCA that is not trusted bridges nothing.
    let e = validate_document_signer(&enc(&ds), &[enc(&link)], &[], at());
    assert!(matches!(e, Err(PathError::NoTrustedIssuer { .. })), "{e:?}");

    // OpenSSL agrees: old CSCA trusted, link as intermediate.
    if have_openssl() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let old_pem = write(d, "old.pem", certificate_to_pem(&old).unwrap().as_bytes());
        let link_pem = write(d, "link.pem", certificate_to_pem(&link).unwrap().as_bytes());
        let ds_pem = write(d, "ds.pem", certificate_to_pem(&ds).unwrap().as_bytes());
        let attime = at().timestamp().to_string();
        let (ok, text) = openssl(&[
            "verify",
            "-x509_strict",
            "-attime",
            &attime,
            "-CAfile",
            &old_pem,
            "-untrusted",
            &link_pem,
            &ds_pem,
        ]);
        assert!(ok, "{text}");
        let (ok, text) = openssl(&[
            "verify",
            "-x509_strict",
            "-attime",
            &attime,
            "-CAfile",
            &old_pem,
            &ds_pem,
        ]);
        assert!(!ok, "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures over the octets as received

/// `tag`, a minimal DER length, `content`.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// The value of one TLV.
fn value(element: &[u8]) -> &[u8] {
    use der::Reader;
    let mut r = der::SliceReader::new(element).unwrap();
    let header = der::Header::decode(&mut r).unwrap();
    r.read_slice(header.length).unwrap()
}

/// The TLVs that `input` is made of, in order.
fn elements(mut input: &[u8]) -> Vec<&[u8]> {
    use der::Reader;
    let mut out = Vec::new();
    while !input.is_empty() {
        let mut r = der::SliceReader::new(input).unwrap();
        let e = r.tlv_bytes().unwrap();
        input = &input[e.len()..];
        out.push(e);
    }
    out
}

/// The authorityKeyIdentifier OID, as a TLV.
const AKI_OID: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x23];

/// An `[n]`-tagged extensions list (certificate `[3]`, CRL `[0]`) in which the
/// authorityKeyIdentifier carries `critical FALSE` explicitly: BER allows it, DER forbids a
/// DEFAULT value, and x509-cert decodes it and drops it on re-encoding.
fn aki_with_explicit_critical_false(tagged: &[u8]) -> Vec<u8> {
    let list = elements(value(tagged))[0];
    let mut exts = Vec::new();
    for ext in elements(value(list)) {
        let fields = elements(value(ext));
        if fields.len() == 2 && fields[0] == AKI_OID {
            exts.extend(tlv(
                0x30,
                &[fields[0], &[0x01, 0x01, 0x00], fields[1]].concat(),
            ));
        } else {
            exts.extend_from_slice(ext);
        }
    }
    tlv(tagged[0], &tlv(0x30, &exts))
}

/// A subject Name whose last RDN becomes multi-valued (CN plus serialNumber) with its SET OF
/// out of DER order: x509-cert sorts it on decoding, so the re-encoding differs at the same
/// length.
fn name_with_unsorted_rdn(name: &[u8]) -> Vec<u8> {
    let rdns = elements(value(name));
    let (last, first) = rdns.split_last().unwrap();
    let cn = elements(value(last))[0];
    let serial_number = tlv(
        0x30,
        &[
            &[0x06, 0x03, 0x55, 0x04, 0x05][..],
            &tlv(0x13, b"ABCDEFGHIJ"),
        ]
        .concat(),
    );
    // DER orders a SET OF by encoding: put the greater first.
    let (a, b) = if serial_number.as_slice() > cn {
        (serial_number.as_slice(), cn)
    } else {
        (cn, serial_number.as_slice())
    };
    let mut content: Vec<u8> = first.concat();
    content.extend(tlv(0x31, &[a, b].concat()));
    tlv(0x30, &content)
}

/// A certificate assembled by hand around `tbs`, signed by `signer`.
fn assemble(tbs: &[u8], signer: &dyn Signer) -> Vec<u8> {
    let signature = signer.sign(tbs).unwrap();
    let alg = signer.signature_algorithm_identifier().to_der().unwrap();
    let bits = tlv(0x03, &[&[0u8][..], &signature].concat());
    tlv(0x30, &[tbs, &alg, &bits].concat())
}

/// A Document Signer certificate with both quirks in its TBSCertificate, genuinely signed by
/// the CSCA over those octets.
fn non_der_document_signer(p: &Pki) -> Vec<u8> {
    let tbs = p.ds.tbs_certificate.to_der().unwrap();
    // version, serial, signature, issuer, validity, subject, spki, [3] extensions
    let fields = elements(value(&tbs));
    assert_eq!(fields.len(), 8);
    let subject = name_with_unsorted_rdn(fields[5]);
    let exts = aki_with_explicit_critical_false(fields[7]);
    let mut content = fields[..5].concat();
    content.extend(subject);
    content.extend_from_slice(fields[6]);
    content.extend(exts);
    assemble(&tlv(0x30, &content), &p.csca_signer)
}

#[test]
fn certificate_signature_is_verified_over_the_octets_received() {
    for alg in [
        SignatureAlgorithm::EcdsaP256Sha256,
        SignatureAlgorithm::RsaPssSha256,
    ] {
        let p = pki(alg);
        let raw = non_der_document_signer(&p);
        // x509-cert accepts it, and its DER re-encoding is other octets.
        let parsed = Certificate::from_der(&raw).unwrap();
        assert_ne!(parsed.to_der().unwrap(), raw);
        let received = EncodedCertificate::from_der(&raw).unwrap();
        assert_eq!(received.received(), Some(raw.as_slice()));
        assert_eq!(received.der().unwrap().as_ref(), raw.as_slice());
        assert_ne!(
            received.tbs_der().unwrap().as_ref(),
            parsed.tbs_certificate.to_der().unwrap().as_slice()
        );

        let anchors = [enc(&p.csca)];
        let crls = [enc(&p.crl)];
        let v = validate_document_signer(&received, &anchors, &crls, at()).unwrap();
        assert_eq!(*v.csca, p.csca);
        assert_eq!(v.warnings, vec![]);
        // Re-encoded, the signature no longer verifies: what verification over the DER did.
        let e = validate_document_signer(&enc(&parsed), &anchors, &crls, at());
        assert!(matches!(e, Err(PathError::SignatureInvalid(_))), "{e:?}");
        // One flipped bit inside the TBSCertificate (the subject's CN) still fails.
        let tampered = EncodedCertificate::from_der(&flip_at(&raw, b"DS 1")).unwrap();
        let e = validate_document_signer(&tampered, &anchors, &crls, at());
        assert!(matches!(e, Err(PathError::SignatureInvalid(_))), "{e:?}");
        // PEM keeps the octets too.
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &raw).unwrap();
        assert_eq!(EncodedCertificate::from_pem(&pem).unwrap(), received);

        // OpenSSL, which also verifies over the octets received, agrees.
        if have_openssl() {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let csca_pem = write(
                d,
                "csca.pem",
                certificate_to_pem(&p.csca).unwrap().as_bytes(),
            );
            let ds_pem = write(d, "ds.pem", pem.as_bytes());
            let attime = at().timestamp().to_string();
            let (ok, text) =
                openssl(&["verify", "-attime", &attime, "-CAfile", &csca_pem, &ds_pem]);
            assert!(ok, "{text}");
        }
    }
}

#[test]
fn crl_signature_is_verified_over_the_octets_received() {
    let p = pki(SignatureAlgorithm::EcdsaP256Sha256);
    let tbs = p.crl.tbs_cert_list.to_der().unwrap();
    // version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates, [0] extensions
    let fields = elements(value(&tbs));
    let (exts, rest) = fields.split_last().unwrap();
    assert_eq!(exts[0], 0xa0);
    let mut content = rest.concat();
    content.extend(aki_with_explicit_critical_false(exts));
    let raw = assemble(&tlv(0x30, &content), &p.csca_signer);

    let parsed = CertificateList::from_der(&raw).unwrap();
    assert_ne!(parsed.to_der().unwrap(), raw);
    let received = EncodedCrl::from_der(&raw).unwrap();
    verify_crl(&received, &p.csca).unwrap();
    assert!(matches!(
        verify_crl(&enc(&parsed), &p.csca),
        Err(CrlError::SignatureInvalid(_))
    ));
    let serial = p.revoked_ds.tbs_certificate.serial_number.as_bytes();
    let tampered = EncodedCrl::from_der(&flip_at(&raw, serial)).unwrap();
    assert!(matches!(
        verify_crl(&tampered, &p.csca),
        Err(CrlError::SignatureInvalid(_))
    ));
    // Path validation uses it: the revoked Document Signer is found revoked.
    let e = validate_document_signer(
        &enc(&p.revoked_ds),
        &[enc(&p.csca)],
        std::slice::from_ref(&received),
        at(),
    );
    assert!(matches!(e, Err(PathError::Revoked { .. })), "{e:?}");
}

/// The decoder (der 0.7) refuses a non-minimal length outright, so a certificate encoded so
/// never reaches a signature check: the non-DER forms that do reach one are those above.
#[test]
fn non_minimal_lengths_are_refused_by_the_decoder() {
    let p = pki(SignatureAlgorithm::EcdsaP256Sha256);
    let der = certificate_to_der(&p.ds).unwrap();
    // The outer SEQUENCE's two-octet length (0x82 hi lo) re-encoded with three octets.
    assert_eq!(der[1], 0x82);
    let mut long = vec![0x30, 0x83, 0x00];
    long.extend_from_slice(&der[2..]);
    assert!(EncodedCertificate::from_der(&long).is_err());
    assert!(Certificate::from_der(&long).is_err());
}
