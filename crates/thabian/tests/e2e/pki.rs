//! The PKI directory (`thabian pki`): a CSCA rollover keeps every Document Signer verifiable
//! from the old CSCA through the link certificate; revocation reaches the CRL; key files are
//! encrypted and private; a wrong passphrase is refused without leaking it.
use chrono::{TimeZone, Utc};
use std::os::unix::fs::PermissionsExt;
use thabian::pki::{KeyAccess, NewKey, PkiDir};
use thabian_pki::{EncodedCertificate, EncodedCrl, PassphraseSource};

fn access(dir: &std::path::Path, passphrase: &str) -> KeyAccess {
    let file = dir.join(format!("passphrase-{}", passphrase.len()));
    std::fs::write(&file, format!("{passphrase}\n")).unwrap();
    KeyAccess {
        passphrase: PassphraseSource::File(file),
        pkcs11_pin: None,
    }
}

#[test]
fn rollover_revocation_and_key_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let keys = access(tmp.path(), "fixture passphrase, not a secret");
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut pki = PkiDir::init(
        &dir,
        "LA",
        "Ministry of Public Security",
        "p256",
        &NewKey::File,
        &keys,
        t0,
    )
    .unwrap();
    let ds1 = pki
        .issue_document_signer(&NewKey::File, &keys, 3, &["ID".into()], t0)
        .unwrap();

    // Key files: encrypted PKCS#8, mode 0600.
    let pem = std::fs::read_to_string(dir.join("csca-1.key.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let mode = std::fs::metadata(dir.join("csca-1.key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A wrong passphrase is refused, and the error does not contain it.
    let wrong = access(tmp.path(), "the wrong one");
    let err = pki.issue_crl(&wrong, t0).unwrap_err().to_string();
    assert!(!err.contains("the wrong one"), "{err}");

    // Rollover a year later: CSCA 2 with a link from CSCA 1; a new DS under CSCA 2.
    let t1 = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(pki.new_csca(&NewKey::File, &keys, t1).unwrap(), 2);
    pki.issue_master_list_signer(&keys, t1).unwrap();
    pki.issue_crl(&keys, t1).unwrap();
    pki.issue_master_list(&keys, t1).unwrap();
    let ds2 = pki
        .issue_document_signer(&NewKey::File, &keys, 3, &["ID".into()], t1)
        .unwrap();
    let ds2_cert: EncodedCertificate = pki.read_cert(&ds2.cert).unwrap().into();
    let csca1: EncodedCertificate = pki.read_cert("csca-1.crt.pem").unwrap().into();
    let link: EncodedCertificate = pki.read_cert("link-2.crt.pem").unwrap().into();
    let crl = EncodedCrl::from_der(&std::fs::read(dir.join("crl.der")).unwrap()).unwrap();
    // A verifier that only knows CSCA 1 (and the link) accepts DS 2.
    let path = thabian_pki::path::validate_document_signer(
        &ds2_cert,
        &[csca1.clone(), link.clone()],
        std::slice::from_ref(&crl),
        t1,
    )
    .unwrap();
    assert!(path.link.is_some());
    // Without the link, it does not.
    assert!(thabian_pki::path::validate_document_signer(
        &ds2_cert,
        std::slice::from_ref(&csca1),
        &[],
        t1
    )
    .is_err());
    // The master list carries both CSCAs and the link, signed by the new master-list signer.
    let ml = std::fs::read(dir.join("master-list.der")).unwrap();
    let parsed = thabian_pki::masterlist::parse_master_list(&ml, &[], Some(t1)).unwrap();
    assert_eq!(parsed.certificates.len(), 3);

    // Revoking DS 2 puts it on CSCA 2's next CRL; DS 1 is no longer the current signer after
    // its three months, DS 2 no longer once revoked.
    assert_eq!(pki.current_document_signer(t1).unwrap().serial, ds2.serial);
    pki.revoke(&ds2.serial.to_lowercase(), Some("keyCompromise"), &keys, t1)
        .unwrap();
    let crl = EncodedCrl::from_der(&std::fs::read(dir.join("crl.der")).unwrap()).unwrap();
    assert!(thabian_pki::crl::is_revoked(&crl, &ds2_cert.tbs_certificate.serial_number).is_some());
    let err = thabian_pki::path::validate_document_signer(&ds2_cert, &[csca1, link], &[crl], t1)
        .unwrap_err();
    assert!(
        matches!(err, thabian_pki::path::PathError::Revoked { .. }),
        "{err:?}"
    );
    assert!(pki.current_document_signer(t1).is_err());
    assert!(
        pki.revoke("00ff", None, &keys, t1).is_err(),
        "an unknown serial"
    );
    let _ = ds1;
    // What is published: both CSCAs, the link, the CRL, the master list; no key.
    let names: Vec<String> = pki
        .publications()
        .unwrap()
        .into_iter()
        .map(|(n, _, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "csca-1.crt",
            "csca-2.crt",
            "csca-2-link.crt",
            "crl.der",
            "master-list.der"
        ]
    );
}
