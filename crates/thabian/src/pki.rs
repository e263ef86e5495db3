//! The national PKI's working directory and its operations (`thabian pki ...`).
//!
//! A PKI directory holds the state of one country's document PKI (ICAO Doc 9303 Part 12):
//!
//! ```text
//! pki.json                 what exists: CSCAs, link certificates, the master-list signer,
//!                          Document Signers, revocations, the CRL number (no secrets)
//! csca-<n>.crt.pem         CSCA certificates (self-signed);  link-<n>.crt.pem: CSCA n-1 → n
//! ds-<serial>.crt.pem      Document Signer certificates;  mls-<n>.crt.pem: master-list signer
//! *.key.pem                software private keys: encrypted PKCS#8 (PBES2), mode 0600
//! crl.der, master-list.der the current CRL and CSCA master list
//! ```
//!
//! A key is either an encrypted file (one passphrase for the directory, read from a file or an
//! environment variable, never from the command line) or a key inside a PKCS#11 token, named by
//! module, token label and key label, whose PIN is read the same way. The CSCA key is meant to
//! live offline; this directory can be kept on the CSCA's offline machine, and only the public
//! results (certificates, CRL, master list) published to the register with `thabian pki publish`.
use anyhow::{bail, Context};
use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thabian_pki::cert::{
    certificate_from_pem, certificate_to_der, certificate_to_pem, serial_hex, CscaRequest,
    DsRequest, MasterListSignerRequest,
};
use thabian_pki::crl::{crl_to_der, issue_crl, RevokedEntry};
use thabian_pki::SoftwareSigner;
use thabian_pki::{PassphraseSource, Pkcs11KeyRef, Pkcs11Signer, SignatureAlgorithm, Signer};
use x509_cert::ext::pkix::CrlReason;
use x509_cert::Certificate;

/// Where a private key is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum KeyLocation {
    /// An encrypted PKCS#8 file in the PKI directory.
    File { file: String },
    /// A key inside a PKCS#11 token.
    Pkcs11 {
        module: PathBuf,
        token: String,
        label: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CscaEntry {
    pub number: u32,
    pub cert: String,
    pub key: KeyLocation,
    /// The link certificate from the previous CSCA, if this one replaced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignerEntry {
    pub serial: String,
    pub cert: String,
    pub key: KeyLocation,
    /// The CSCA that issued it.
    pub csca: u32,
    /// The end of its private key usage period: after it, the key signs nothing.
    pub sign_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revocation {
    pub serial: String,
    pub date: DateTime<Utc>,
    /// RFC 5280 CRLReason name, e.g. `keyCompromise`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `pki.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PkiState {
    pub country: String,
    pub organization: String,
    pub algorithm: String,
    pub cscas: Vec<CscaEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_list_signer: Option<SignerEntry>,
    #[serde(default)]
    pub document_signers: Vec<SignerEntry>,
    #[serde(default)]
    pub revoked: Vec<Revocation>,
    #[serde(default)]
    pub crl_number: u64,
}

/// How keys are unlocked and where new ones go.
#[derive(Debug, Clone)]
pub struct KeyAccess {
    /// Passphrase of the directory's encrypted key files.
    pub passphrase: PassphraseSource,
    /// User PIN of the PKCS#11 token, when keys live there.
    pub pkcs11_pin: Option<PassphraseSource>,
}

/// Where a new key is made: in a file, or in a token.
#[derive(Debug, Clone)]
pub enum NewKey {
    File,
    Pkcs11 { module: PathBuf, token: String },
}

pub fn parse_algorithm(name: &str) -> anyhow::Result<SignatureAlgorithm> {
    Ok(match name {
        "p256" | "ecdsa-p256" => SignatureAlgorithm::EcdsaP256Sha256,
        "p384" | "ecdsa-p384" => SignatureAlgorithm::EcdsaP384Sha384,
        "rsa-pss" => SignatureAlgorithm::RsaPssSha256,
        other => bail!("algorithm {other:?}: expected p256, p384 or rsa-pss"),
    })
}

/// A PKI directory.
pub struct PkiDir {
    pub dir: PathBuf,
    pub state: PkiState,
}

fn months(n: u32) -> Months {
    Months::new(n)
}

impl PkiDir {
    pub fn state_path(dir: &Path) -> PathBuf {
        dir.join("pki.json")
    }

    pub fn open(dir: &Path) -> anyhow::Result<PkiDir> {
        let path = Self::state_path(dir);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (create the PKI with `thabian pki init`)",
                path.display()
            )
        })?;
        let state = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a Thabian PKI state", path.display()))?;
        Ok(PkiDir {
            dir: dir.to_path_buf(),
            state,
        })
    }

    fn save(&self) -> anyhow::Result<()> {
        let path = Self::state_path(&self.dir);
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&self.state)?)?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn read_cert(&self, name: &str) -> anyhow::Result<Certificate> {
        let pem = std::fs::read_to_string(self.file(name))
            .with_context(|| format!("reading {}", self.file(name).display()))?;
        certificate_from_pem(&pem).map_err(|e| anyhow::anyhow!("{name}: {e}"))
    }

    fn write_cert(&self, name: &str, cert: &Certificate) -> anyhow::Result<()> {
        let pem = certificate_to_pem(cert).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        std::fs::write(self.file(name), pem)?;
        Ok(())
    }

    /// Unlocks a key.
    pub fn signer(&self, key: &KeyLocation, access: &KeyAccess) -> anyhow::Result<Box<dyn Signer>> {
        match key {
            KeyLocation::File { file } => Ok(Box::new(
                SoftwareSigner::load_encrypted(&self.file(file), &access.passphrase)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
            KeyLocation::Pkcs11 {
                module,
                token,
                label,
            } => {
                let pin = access
                    .pkcs11_pin
                    .as_ref()
                    .context("this key is in a PKCS#11 token: give its PIN (--pkcs11-pin-file or --pkcs11-pin-env)")?;
                Ok(Box::new(
                    Pkcs11Signer::open(module, token, pin, &Pkcs11KeyRef::Label(label.clone()))
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                ))
            }
        }
    }

    fn new_key(
        &self,
        name: &str,
        algorithm: SignatureAlgorithm,
        place: &NewKey,
        access: &KeyAccess,
    ) -> anyhow::Result<(Box<dyn Signer>, KeyLocation)> {
        match place {
            NewKey::File => {
                let signer =
                    SoftwareSigner::generate(algorithm).map_err(|e| anyhow::anyhow!("{e}"))?;
                let file = format!("{name}.key.pem");
                let passphrase = access
                    .passphrase
                    .read()
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                signer
                    .write_encrypted(&self.file(&file), &passphrase)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok((Box::new(signer), KeyLocation::File { file }))
            }
            NewKey::Pkcs11 { module, token } => {
                let pin = access
                    .pkcs11_pin
                    .as_ref()
                    .context("a key in a PKCS#11 token needs its PIN (--pkcs11-pin-file or --pkcs11-pin-env)")?;
                let label = format!("thabian-{name}");
                let signer = Pkcs11Signer::generate_key_pair(module, token, pin, &label, algorithm)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                Ok((
                    Box::new(signer),
                    KeyLocation::Pkcs11 {
                        module: module.clone(),
                        token: token.clone(),
                        label,
                    },
                ))
            }
        }
    }

    pub fn algorithm(&self) -> anyhow::Result<SignatureAlgorithm> {
        parse_algorithm(&self.state.algorithm)
    }

    pub fn current_csca(&self) -> anyhow::Result<&CscaEntry> {
        self.state.cscas.last().context("the PKI has no CSCA")
    }

    /// Creates the PKI: the first CSCA (valid `csca_years`, its key signing for the first
    /// `csca_years - ...` years), the master-list signer, a first CRL and master list.
    #[allow(clippy::too_many_arguments)]
    pub fn init(
        dir: &Path,
        country: &str,
        organization: &str,
        algorithm: &str,
        csca_key: &NewKey,
        access: &KeyAccess,
        now: DateTime<Utc>,
    ) -> anyhow::Result<PkiDir> {
        if Self::state_path(dir).exists() {
            bail!("{} already holds a PKI", dir.display());
        }
        std::fs::create_dir_all(dir)?;
        let pki = PkiDir {
            dir: dir.to_path_buf(),
            state: PkiState {
                country: country.to_owned(),
                organization: organization.to_owned(),
                algorithm: algorithm.to_owned(),
                cscas: Vec::new(),
                master_list_signer: None,
                document_signers: Vec::new(),
                revoked: Vec::new(),
                crl_number: 0,
            },
        };
        parse_algorithm(algorithm)?;
        let mut pki = pki;
        pki.new_csca(csca_key, access, now)?;
        pki.issue_master_list_signer(access, now)?;
        pki.issue_crl(access, now)?;
        pki.issue_master_list(access, now)?;
        Ok(pki)
    }

    fn csca_request(&self, number: u32, now: DateTime<Utc>) -> CscaRequest {
        // Doc 9303 Part 12: a CSCA key signs for 3–5 years; its certificate outlives the last
        // document it signed a Document Signer for (the longest card validity, 20 years).
        CscaRequest {
            country: self.state.country.clone(),
            organization: self.state.organization.clone(),
            common_name: format!("CSCA {} {number}", self.state.country),
            serial: None,
            not_before: now,
            not_after: now + months(12 * 25),
            private_key_usage_period: Some((now, now + months(12 * 5))),
        }
    }

    /// A new CSCA: the first one, or a rollover with a link certificate from the current one.
    pub fn new_csca(
        &mut self,
        place: &NewKey,
        access: &KeyAccess,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u32> {
        let number = self.state.cscas.last().map(|c| c.number + 1).unwrap_or(1);
        let (signer, key) =
            self.new_key(&format!("csca-{number}"), self.algorithm()?, place, access)?;
        let request = self.csca_request(number, now);
        let cert = thabian_pki::cert::issue_csca(signer.as_ref(), &request)
            .map_err(|e| anyhow::anyhow!("issuing the CSCA: {e}"))?;
        let cert_name = format!("csca-{number}.crt.pem");
        self.write_cert(&cert_name, &cert)?;
        let link = match self.state.cscas.last() {
            Some(old) => {
                let old_cert = self.read_cert(&old.cert)?;
                let old_signer = self.signer(&old.key, access)?;
                let link = thabian_pki::cert::issue_link(
                    old_signer.as_ref(),
                    &old_cert,
                    signer.public_key(),
                    &request,
                )
                .map_err(|e| anyhow::anyhow!("issuing the link certificate: {e}"))?;
                let name = format!("link-{number}.crt.pem");
                self.write_cert(&name, &link)?;
                Some(name)
            }
            None => None,
        };
        self.state.cscas.push(CscaEntry {
            number,
            cert: cert_name,
            key,
            link,
        });
        self.save()?;
        Ok(number)
    }

    /// The master-list signer, under the current CSCA.
    pub fn issue_master_list_signer(
        &mut self,
        access: &KeyAccess,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let csca = self.current_csca()?.clone();
        let csca_cert = self.read_cert(&csca.cert)?;
        let csca_signer = self.signer(&csca.key, access)?;
        let name = format!("mls-{}", csca.number);
        let (signer, key) = self.new_key(&name, self.algorithm()?, &NewKey::File, access)?;
        let sign_until = now + months(12 * 3);
        let cert = thabian_pki::cert::issue_master_list_signer(
            csca_signer.as_ref(),
            &csca_cert,
            signer.public_key(),
            &MasterListSignerRequest {
                country: self.state.country.clone(),
                organization: self.state.organization.clone(),
                common_name: format!("Master List Signer {} {}", self.state.country, csca.number),
                serial: None,
                not_before: now,
                not_after: sign_until,
                private_key_usage_period: Some((now, sign_until)),
            },
        )
        .map_err(|e| anyhow::anyhow!("issuing the master-list signer: {e}"))?;
        let cert_name = format!("{name}.crt.pem");
        self.write_cert(&cert_name, &cert)?;
        self.state.master_list_signer = Some(SignerEntry {
            serial: serial_hex(&cert.tbs_certificate.serial_number),
            cert: cert_name,
            key,
            csca: csca.number,
            sign_until,
        });
        self.save()
    }

    /// A new Document Signer under the current CSCA: its key signs for `sign_months`, its
    /// certificate lives that long plus the longest card validity, so that every card it signed
    /// verifies to the end of its validity.
    pub fn issue_document_signer(
        &mut self,
        place: &NewKey,
        access: &KeyAccess,
        sign_months: u32,
        document_types: &[String],
        now: DateTime<Utc>,
    ) -> anyhow::Result<SignerEntry> {
        let csca = self.current_csca()?.clone();
        let csca_cert = self.read_cert(&csca.cert)?;
        let csca_signer = self.signer(&csca.key, access)?;
        let index = self.state.document_signers.len() + 1;
        let (signer, key) =
            self.new_key(&format!("ds-{index}"), self.algorithm()?, place, access)?;
        let sign_until = now + months(sign_months);
        let cert = thabian_pki::cert::issue_document_signer(
            csca_signer.as_ref(),
            &csca_cert,
            signer.public_key(),
            &DsRequest {
                country: self.state.country.clone(),
                organization: self.state.organization.clone(),
                common_name: format!("Document Signer {} {index}", self.state.country),
                serial: None,
                not_before: now,
                not_after: sign_until + months(12 * 20),
                private_key_usage_period: Some((now, sign_until)),
                document_types: document_types.to_vec(),
            },
        )
        .map_err(|e| anyhow::anyhow!("issuing the Document Signer: {e}"))?;
        let serial = serial_hex(&cert.tbs_certificate.serial_number);
        let cert_name = format!("ds-{index}.crt.pem");
        self.write_cert(&cert_name, &cert)?;
        let entry = SignerEntry {
            serial,
            cert: cert_name,
            key,
            csca: csca.number,
            sign_until,
        };
        self.state.document_signers.push(entry.clone());
        self.save()?;
        Ok(entry)
    }

    /// The Document Signer that signs today: the newest one whose key usage period covers
    /// `now` and that is not revoked.
    pub fn current_document_signer(&self, now: DateTime<Utc>) -> anyhow::Result<&SignerEntry> {
        self.state
            .document_signers
            .iter()
            .rev()
            .find(|d| {
                d.sign_until > now && !self.state.revoked.iter().any(|r| r.serial == d.serial)
            })
            .context("no Document Signer may sign today: issue one with `thabian pki issue-ds`")
    }

    /// Revokes a certificate the current CSCA issued (by serial, hex) and issues a new CRL.
    pub fn revoke(
        &mut self,
        serial: &str,
        reason: Option<&str>,
        access: &KeyAccess,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        // serial_hex writes upper-case hex.
        let serial = serial.to_ascii_uppercase();
        let known = self
            .state
            .document_signers
            .iter()
            .any(|d| d.serial == serial)
            || self
                .state
                .master_list_signer
                .as_ref()
                .is_some_and(|m| m.serial == serial);
        if !known {
            bail!("no Document Signer or master-list signer with serial {serial} in this PKI");
        }
        if reason.is_some_and(|r| crl_reason(r).is_none()) {
            bail!("reason {reason:?}: expected an RFC 5280 reason such as keyCompromise, superseded, cessationOfOperation");
        }
        if !self.state.revoked.iter().any(|r| r.serial == serial) {
            self.state.revoked.push(Revocation {
                serial,
                date: now,
                reason: reason.map(str::to_owned),
            });
        }
        self.save()?;
        self.issue_crl(access, now)
    }

    /// A new CRL from the current CSCA, valid 90 days (Doc 9303 Part 12's longest interval).
    pub fn issue_crl(&mut self, access: &KeyAccess, now: DateTime<Utc>) -> anyhow::Result<()> {
        let csca = self.current_csca()?.clone();
        let csca_cert = self.read_cert(&csca.cert)?;
        let csca_signer = self.signer(&csca.key, access)?;
        let revoked = self
            .state
            .revoked
            .iter()
            .map(|r| -> anyhow::Result<RevokedEntry> {
                let bytes = hex::decode(&r.serial).context("a revoked serial is not hex")?;
                Ok(RevokedEntry {
                    serial: x509_cert::serial_number::SerialNumber::new(&bytes)
                        .map_err(|e| anyhow::anyhow!("serial {}: {e}", r.serial))?,
                    revocation_date: r.date,
                    reason: r.reason.as_deref().and_then(crl_reason),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.state.crl_number += 1;
        let crl = issue_crl(
            csca_signer.as_ref(),
            &csca_cert,
            &revoked,
            now,
            now + Duration::days(90),
            self.state.crl_number,
        )
        .map_err(|e| anyhow::anyhow!("issuing the CRL: {e}"))?;
        std::fs::write(
            self.file("crl.der"),
            crl_to_der(&crl).map_err(|e| anyhow::anyhow!("{e}"))?,
        )?;
        self.save()
    }

    /// Every CSCA certificate, link certificates included (what the master list carries).
    pub fn csca_certificates(&self) -> anyhow::Result<Vec<Certificate>> {
        let mut certs = Vec::new();
        for c in &self.state.cscas {
            certs.push(self.read_cert(&c.cert)?);
            if let Some(link) = &c.link {
                certs.push(self.read_cert(link)?);
            }
        }
        Ok(certs)
    }

    /// A new CSCA master list, signed by the master-list signer.
    pub fn issue_master_list(
        &mut self,
        access: &KeyAccess,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let mls = self
            .state
            .master_list_signer
            .clone()
            .context("the PKI has no master-list signer")?;
        let cert = self.read_cert(&mls.cert)?;
        let signer = self.signer(&mls.key, access)?;
        let der = thabian_pki::masterlist::build_master_list(
            &self.csca_certificates()?,
            signer.as_ref(),
            &cert,
            now,
        )
        .map_err(|e| anyhow::anyhow!("building the master list: {e}"))?;
        std::fs::write(self.file("master-list.der"), der)?;
        Ok(())
    }

    /// The public documents to publish: `(name, media type, bytes)`.
    pub fn publications(&self) -> anyhow::Result<Vec<(String, String, Vec<u8>)>> {
        let mut out = Vec::new();
        for c in &self.state.cscas {
            let cert = self.read_cert(&c.cert)?;
            out.push((
                format!("csca-{}.crt", c.number),
                "application/pkix-cert".to_owned(),
                certificate_to_der(&cert).map_err(|e| anyhow::anyhow!("{e}"))?,
            ));
            if let Some(link) = &c.link {
                let cert = self.read_cert(link)?;
                out.push((
                    format!("csca-{}-link.crt", c.number),
                    "application/pkix-cert".to_owned(),
                    certificate_to_der(&cert).map_err(|e| anyhow::anyhow!("{e}"))?,
                ));
            }
        }
        for (name, media) in [
            ("crl.der", "application/pkix-crl"),
            ("master-list.der", "application/cms"),
        ] {
            let path = self.file(name);
            if path.exists() {
                out.push((name.to_owned(), media.to_owned(), std::fs::read(&path)?));
            }
        }
        Ok(out)
    }
}

/// An RFC 5280 CRLReason by its ASN.1 name.
pub fn crl_reason(name: &str) -> Option<CrlReason> {
    Some(match name {
        "unspecified" => CrlReason::Unspecified,
        "keyCompromise" => CrlReason::KeyCompromise,
        "cACompromise" => CrlReason::CaCompromise,
        "affiliationChanged" => CrlReason::AffiliationChanged,
        "superseded" => CrlReason::Superseded,
        "cessationOfOperation" => CrlReason::CessationOfOperation,
        "certificateHold" => CrlReason::CertificateHold,
        "privilegeWithdrawn" => CrlReason::PrivilegeWithdrawn,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// The command line

/// Where keys are unlocked from; shared by every `thabian pki` command.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// The PKI directory; default: <data-dir>/pki.
    #[arg(long, env = "THABIAN_PKI_DIR", global = true)]
    pub pki_dir: Option<PathBuf>,
    /// File whose first line is the passphrase of the directory's encrypted key files.
    #[arg(long, global = true)]
    pub passphrase_file: Option<PathBuf>,
    /// Environment variable holding that passphrase.
    #[arg(long, default_value = "THABIAN_PKI_PASSPHRASE", global = true)]
    pub passphrase_env: String,
    /// File whose first line is the PKCS#11 token's user PIN.
    #[arg(long, global = true)]
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Environment variable holding the token's user PIN.
    #[arg(long, global = true)]
    pub pkcs11_pin_env: Option<String>,
}

impl KeyArgs {
    pub fn access(&self) -> KeyAccess {
        KeyAccess {
            passphrase: match &self.passphrase_file {
                Some(f) => PassphraseSource::File(f.clone()),
                None => PassphraseSource::Env(self.passphrase_env.clone()),
            },
            pkcs11_pin: match (&self.pkcs11_pin_file, &self.pkcs11_pin_env) {
                (Some(f), _) => Some(PassphraseSource::File(f.clone())),
                (None, Some(v)) => Some(PassphraseSource::Env(v.clone())),
                (None, None) => None,
            },
        }
    }

    pub fn dir(&self, data_dir: &Path) -> PathBuf {
        self.pki_dir.clone().unwrap_or_else(|| data_dir.join("pki"))
    }
}

/// Where a new key is generated.
#[derive(Debug, Clone, clap::Args)]
pub struct NewKeyArgs {
    /// Generate the key inside this PKCS#11 module's token (e.g.
    /// /usr/lib/softhsm/libsofthsm2.so) instead of an encrypted file.
    #[arg(long, requires = "pkcs11_token")]
    pub pkcs11_module: Option<PathBuf>,
    /// The token's label.
    #[arg(long)]
    pub pkcs11_token: Option<String>,
}

impl NewKeyArgs {
    fn place(&self) -> NewKey {
        match (&self.pkcs11_module, &self.pkcs11_token) {
            (Some(module), Some(token)) => NewKey::Pkcs11 {
                module: module.clone(),
                token: token.clone(),
            },
            _ => NewKey::File,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum PkiCommand {
    /// Create the PKI: the first CSCA (self-signed), the master-list signer, a CRL and the
    /// master list.
    Init {
        /// ISO 3166-1 alpha-2 country code in the certificates (LA, VN).
        #[arg(long)]
        country: String,
        /// The organisation named in the certificates.
        #[arg(long)]
        organization: String,
        /// p256, p384 or rsa-pss.
        #[arg(long, default_value = "p256")]
        algorithm: String,
        #[command(flatten)]
        key: NewKeyArgs,
    },
    /// Issue a Document Signer under the current CSCA (its key signs for --months).
    IssueDs {
        #[arg(long, default_value_t = 3)]
        months: u32,
        /// Document Type List entries.
        #[arg(long, default_value = "ID", value_delimiter = ',')]
        document_types: Vec<String>,
        #[command(flatten)]
        key: NewKeyArgs,
    },
    /// CSCA key rollover: a new CSCA, a link certificate from the current one, a new
    /// master-list signer, CRL and master list.
    RolloverCsca {
        #[command(flatten)]
        key: NewKeyArgs,
    },
    /// Revoke a Document Signer or master-list signer certificate (serial in hex) and issue a
    /// new CRL.
    Revoke {
        serial: String,
        /// RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, ...
        #[arg(long)]
        reason: Option<String>,
    },
    /// Issue a new CRL (due at least every 90 days).
    Crl,
    /// Issue a new CSCA master list.
    MasterList,
    /// Publish the CSCA certificates, the CRL and the master list to the register, where
    /// `GET /v1/pki/...` serves them.
    Publish,
    /// What the PKI holds.
    Status,
}

#[derive(Debug, clap::Args)]
pub struct PkiArgs {
    #[command(subcommand)]
    pub command: PkiCommand,
    #[command(flatten)]
    pub keys: KeyArgs,
}

/// Runs a `thabian pki` command. Only `publish` opens the register.
pub async fn run(args: &PkiArgs, config: &crate::Config) -> anyhow::Result<()> {
    let dir = args.keys.dir(&config.data_dir);
    let access = args.keys.access();
    let now = Utc::now();
    match &args.command {
        PkiCommand::Init {
            country,
            organization,
            algorithm,
            key,
        } => {
            let pki = PkiDir::init(
                &dir,
                country,
                organization,
                algorithm,
                &key.place(),
                &access,
                now,
            )?;
            println!("created the PKI in {}", dir.display());
            print_status(&pki)?;
        }
        PkiCommand::IssueDs {
            months,
            document_types,
            key,
        } => {
            let mut pki = PkiDir::open(&dir)?;
            let ds =
                pki.issue_document_signer(&key.place(), &access, *months, document_types, now)?;
            println!(
                "issued Document Signer {} ({}), signing until {}",
                ds.serial, ds.cert, ds.sign_until
            );
        }
        PkiCommand::RolloverCsca { key } => {
            let mut pki = PkiDir::open(&dir)?;
            let number = pki.new_csca(&key.place(), &access, now)?;
            pki.issue_master_list_signer(&access, now)?;
            pki.issue_crl(&access, now)?;
            pki.issue_master_list(&access, now)?;
            println!("CSCA {number} created, with a link certificate from its predecessor");
        }
        PkiCommand::Revoke { serial, reason } => {
            let mut pki = PkiDir::open(&dir)?;
            pki.revoke(serial, reason.as_deref(), &access, now)?;
            println!("revoked {serial}; CRL {} issued", pki.state.crl_number);
        }
        PkiCommand::Crl => {
            let mut pki = PkiDir::open(&dir)?;
            pki.issue_crl(&access, now)?;
            println!("CRL {} issued", pki.state.crl_number);
        }
        PkiCommand::MasterList => {
            let mut pki = PkiDir::open(&dir)?;
            pki.issue_master_list(&access, now)?;
            println!("master list issued");
        }
        PkiCommand::Publish => {
            let pki = PkiDir::open(&dir)?;
            let platform = crate::open(config).await?;
            let at = thabian_store::format_time(now);
            for (name, media_type, body) in pki.publications()? {
                platform
                    .store
                    .publish(&thabian_store::PublishedDocument {
                        name: name.clone(),
                        media_type,
                        body,
                        updated_at: at.clone(),
                    })
                    .await?;
                println!("published {name}");
            }
        }
        PkiCommand::Status => print_status(&PkiDir::open(&dir)?)?,
    }
    Ok(())
}

fn print_status(pki: &PkiDir) -> anyhow::Result<()> {
    let s = &pki.state;
    println!(
        "country {} · {} · {}",
        s.country, s.organization, s.algorithm
    );
    for c in &s.cscas {
        let cert = pki.read_cert(&c.cert)?;
        let (from, to) = thabian_pki::cert::validity(&cert);
        println!(
            "CSCA {} serial {} valid {from} to {to}{} key {}",
            c.number,
            serial_hex(&cert.tbs_certificate.serial_number),
            if c.link.is_some() { ", linked" } else { "" },
            key_text(&c.key)
        );
    }
    for d in s
        .document_signers
        .iter()
        .chain(s.master_list_signer.as_ref())
    {
        let revoked = s.revoked.iter().any(|r| r.serial == d.serial);
        println!(
            "{} serial {} under CSCA {} signs until {}{} key {}",
            d.cert,
            d.serial,
            d.csca,
            d.sign_until,
            if revoked { " REVOKED" } else { "" },
            key_text(&d.key)
        );
    }
    println!("CRL number {}", s.crl_number);
    Ok(())
}

fn key_text(k: &KeyLocation) -> String {
    match k {
        KeyLocation::File { file } => format!("file {file}"),
        KeyLocation::Pkcs11 { token, label, .. } => {
            format!("PKCS#11 token {token:?} label {label:?}")
        }
    }
}
