//! Identity cards: applications with their biometric samples, and every later step of a card's
//! life, through the one write path.
//!
//! A card event is an event of its holder ([`thabian_model::card`]): it goes through
//! [`Register::submit_attempts`] like any change, so it is checked by the rules, appended with
//! its access record, folded into the holder's record and published on the change feed, in one
//! transaction. The biometric samples of an application are encrypted here (AES-256-GCM under a
//! key kept outside the database, [`BiometricKey`]) and written in that same transaction; the
//! event carries only their ids and SHA-256 digests.
use crate::auth::{Permission, RequestContext};
use crate::service::{Attached, Change, Outcome, Register, Submission};
use crate::{RegisterError, Result};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use thabian_model::card::{ApplicationReason, BiometricRef, Card, CardChange, CardEvent};
use thabian_model::date::PartialDate;
use thabian_model::event::{EventPayload, LegalBasis};
use thabian_model::pin::Pin;
use thabian_model::profile::CardNumberScheme;
use thabian_store::{format_time, BiometricRow, ImportKey};
use zeroize::Zeroizing;

/// [`thabian_store::Store::reserve_import_keys`] kind under which card numbers of a series are
/// reserved, so that no number is drawn twice, even by nodes racing.
pub const CARD_NUMBER: &str = "card-number";

/// The search-index key that maps a card number to its holder.
pub fn card_key(number: &str) -> String {
    format!("card:{number}")
}

/// The prefix of the search-index keys of the cards that can expire (see [`expiry_key`]).
pub const EXPIRY_PREFIX: &str = "card-expiry:";

/// The search-index key of a valid card with a date of expiry: `card-expiry:<date>:<card id>`.
/// The date comes first so that the keys sort by it (ISO dates sort as text): the cards past
/// a date are one range of the key index, read without a scan of the register
/// ([`Register::expire_cards`]). The key is written with the holder's row while the card is
/// valid and leaves it with the event that ends its validity, in the same transaction.
pub fn expiry_key(date_of_expiry: chrono::NaiveDate, card: &str) -> String {
    format!("{EXPIRY_PREFIX}{date_of_expiry}:{card}")
}

/// The largest biometric sample accepted (a face image of an ID card is tens of kilobytes; a
/// full set of finger images a few hundred).
pub const MAX_SAMPLE_BYTES: usize = 2 * 1024 * 1024;

/// The key that encrypts biometric samples at rest. Kept outside the database: whoever holds a
/// copy of the database without it reads no face or fingerprint.
pub struct BiometricKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

impl BiometricKey {
    /// A key from its 32 bytes. Its id, stored with each sample, is derived from it (so a
    /// sample names the key that opens it without revealing it).
    pub fn from_bytes(bytes: [u8; 32]) -> BiometricKey {
        let mut h = Sha256::new();
        h.update(b"thabian biometric key id\0");
        h.update(bytes);
        BiometricKey {
            id: hex::encode(&h.finalize()[..8]),
            key: Zeroizing::new(bytes),
        }
    }

    /// A fresh random key.
    pub fn generate() -> BiometricKey {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        BiometricKey::from_bytes(bytes)
    }

    /// The key as 64 hex digits (what the key file holds).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(*self.key))
    }

    /// Parses a key file's text: 64 hex digits, surrounding whitespace ignored.
    pub fn from_hex(text: &str) -> Result<BiometricKey> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| {
            RegisterError::Invalid("the biometric key is not 64 hex digits".into())
        })?);
        let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            RegisterError::Invalid("the biometric key is not 32 bytes (64 hex digits)".into())
        })?;
        Ok(BiometricKey::from_bytes(array))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Result<Aes256Gcm> {
        Aes256Gcm::new_from_slice(self.key.as_slice())
            .map_err(|_| RegisterError::Internal("biometric key length".into()))
    }

    /// The associated data binding a ciphertext to its row: moving a sample to another person
    /// or card makes it undecryptable.
    fn aad(row_id: &str, pin: &str, card: &str, format: &str) -> Vec<u8> {
        [row_id, pin, card, format].join("\0").into_bytes()
    }

    fn seal(
        &self,
        id: &str,
        pin: &str,
        card: &str,
        format: &str,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = Self::aad(id, pin, card, format);
        let ciphertext = self
            .cipher()?
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| RegisterError::Internal("encrypting a biometric sample".into()))?;
        Ok((nonce.to_vec(), ciphertext))
    }

    fn open(&self, row: &BiometricRow) -> Result<Vec<u8>> {
        if row.key_id != self.id {
            return Err(RegisterError::Internal(format!(
                "biometric sample {} is encrypted under key {}, not the configured key {}",
                row.id, row.key_id, self.id
            )));
        }
        if row.nonce.len() != 12 {
            return Err(RegisterError::Internal(format!(
                "biometric sample {}: bad nonce",
                row.id
            )));
        }
        let aad = Self::aad(&row.id, &row.pin, &row.card, &row.format);
        self.cipher()?
            .decrypt(
                Nonce::from_slice(&row.nonce),
                Payload {
                    msg: &row.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                RegisterError::Internal(format!(
                    "biometric sample {} does not decrypt: altered, or moved to another record",
                    row.id
                ))
            })
    }
}

/// A biometric sample as captured.
#[derive(Debug, Clone)]
pub struct BiometricSample {
    /// `image/jpeg`, `image/jp2` (faces), `iso-19794-4`, `iso-19794-2` (fingerprints).
    pub format: String,
    /// Finger position for a fingerprint (1–10, ISO/IEC 19794-4).
    pub position: Option<u8>,
    pub data: Vec<u8>,
}

/// An application for a card.
#[derive(Debug, Clone)]
pub struct CardApplication {
    pub reason: ApplicationReason,
    pub replaces: Option<String>,
    pub face: BiometricSample,
    pub fingerprints: Vec<BiometricSample>,
    pub legal_basis: LegalBasis,
    pub idempotency_key: Option<String>,
}

/// An accepted application.
#[derive(Debug, Clone)]
pub struct CardApplied {
    pub card: String,
    pub number: String,
    pub outcome: Outcome,
}

const FACE_FORMATS: &[&str] = &["image/jpeg", "image/jp2"];
const FINGER_FORMATS: &[&str] = &["iso-19794-4", "iso-19794-2"];

/// Recognises the image by its magic bytes, so that a mislabelled sample is refused at capture
/// rather than on the card.
fn check_sample(sample: &BiometricSample, face: bool) -> Result<()> {
    let formats = if face { FACE_FORMATS } else { FINGER_FORMATS };
    if !formats.contains(&sample.format.as_str()) {
        return Err(RegisterError::Invalid(format!(
            "a {} sample is one of {formats:?}, not {:?}",
            if face { "face" } else { "fingerprint" },
            sample.format
        )));
    }
    if sample.data.is_empty() || sample.data.len() > MAX_SAMPLE_BYTES {
        return Err(RegisterError::Invalid(format!(
            "a biometric sample is 1 byte to {MAX_SAMPLE_BYTES} bytes"
        )));
    }
    let d = &sample.data;
    let looks_right = match sample.format.as_str() {
        "image/jpeg" => d.starts_with(&[0xFF, 0xD8, 0xFF]),
        // A JPEG 2000 file (JP2 signature box) or a bare codestream.
        "image/jp2" => {
            d.starts_with(&[0, 0, 0, 0x0C, b'j', b'P', b' ', b' '])
                || d.starts_with(&[0xFF, 0x4F, 0xFF, 0x51])
        }
        "iso-19794-4" => d.starts_with(b"FIR\0"),
        "iso-19794-2" => d.starts_with(b"FMR\0"),
        _ => false,
    };
    if !looks_right {
        return Err(RegisterError::Invalid(format!(
            "the sample's bytes are not {}",
            sample.format
        )));
    }
    Ok(())
}

impl Register {
    /// Takes an application for a card: draws the card number, encrypts the samples and records
    /// `card_applied` with them, in one transaction.
    pub async fn apply_for_card(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
        application: CardApplication,
    ) -> Result<CardApplied> {
        ctx.principal.require(Permission::ApplyCard)?;
        let key = self.biometric_key()?;
        check_sample(&application.face, true)?;
        for f in &application.fingerprints {
            check_sample(f, false)?;
        }
        // The card id, its number and the samples' ids are drawn afresh on each attempt, so an
        // idempotency key is bound to what the client sent, not to the event.
        let request_hash = {
            let mut h = Sha256::new();
            h.update(ctx.principal.official_id.as_bytes());
            h.update([0]);
            h.update(pin.as_str().as_bytes());
            h.update([0]);
            let sent = serde_json::json!([
                application.reason,
                application.replaces,
                application.legal_basis,
                std::iter::once(&application.face)
                    .chain(&application.fingerprints)
                    .map(|s| (
                        s.format.as_str(),
                        s.position,
                        hex::encode(Sha256::digest(&s.data))
                    ))
                    .collect::<Vec<_>>(),
            ]);
            h.update(sent.to_string().as_bytes());
            hex::encode(h.finalize())
        };
        if let Some(key) = &application.idempotency_key {
            if let Some(applied) = self.replayed_application(key, &request_hash).await? {
                return Ok(applied);
            }
        }
        let card = uuid::Uuid::now_v7().to_string();
        let refs = |number: String| -> CardChange {
            let reference = |s: &BiometricSample| BiometricRef {
                id: "not-yet-sealed".to_owned(),
                sha256: hex::encode(Sha256::digest(&s.data)),
                format: s.format.clone(),
                position: s.position,
            };
            CardChange::Applied {
                number,
                reason: application.reason,
                replaces: application.replaces.clone(),
                face: reference(&application.face),
                fingerprints: application.fingerprints.iter().map(reference).collect(),
            }
        };
        let number = match &self.profile.card.number {
            CardNumberScheme::Pin => pin.to_string(),
            CardNumberScheme::Series { prefix, length } => {
                // A reserved number is never released (another node may already have seen
                // it), so an application the rules refuse must not take one: check first,
                // with a placeholder of the series' form. The write path checks again.
                let placeholder = format!(
                    "{prefix}{}",
                    "0".repeat(usize::from(*length).saturating_sub(prefix.len()))
                );
                self.precheck_card_event(ctx, pin, &card, refs(placeholder))
                    .await?;
                self.reserve_card_number(&card, pin, prefix, *length)
                    .await?
            }
        };
        let now = self.now();
        let mut rows = Vec::new();
        let mut seal = |sample: &BiometricSample| -> Result<BiometricRef> {
            let id = uuid::Uuid::now_v7().to_string();
            let (nonce, ciphertext) =
                key.seal(&id, pin.as_str(), &card, &sample.format, &sample.data)?;
            let sha256 = hex::encode(Sha256::digest(&sample.data));
            rows.push(BiometricRow {
                id: id.clone(),
                pin: pin.to_string(),
                card: card.clone(),
                format: sample.format.clone(),
                sha256: sha256.clone(),
                key_id: key.id().to_owned(),
                nonce,
                ciphertext,
                created_at: format_time(now),
            });
            Ok(BiometricRef {
                id,
                sha256,
                format: sample.format.clone(),
                position: sample.position,
            })
        };
        let face = seal(&application.face)?;
        let fingerprints = application
            .fingerprints
            .iter()
            .map(&mut seal)
            .collect::<Result<Vec<_>>>()?;
        let change = CardChange::Applied {
            number: number.clone(),
            reason: application.reason,
            replaces: application.replaces,
            face,
            fingerprints,
        };
        let submission = self.card_submission(
            pin,
            &card,
            change,
            application.legal_basis,
            application.idempotency_key,
        )?;
        let attached = Attached {
            biometrics: rows,
            ..Attached::default()
        };
        let outcome = self
            .submit_attempts(ctx, &submission, now, &request_hash, attached)
            .await?;
        if outcome.replayed {
            // A concurrent retry with the same key committed first.
            if let Some(key) = &submission.idempotency_key {
                if let Some(applied) = self.replayed_application(key, &request_hash).await? {
                    return Ok(applied);
                }
            }
        }
        Ok(CardApplied {
            card,
            number,
            outcome,
        })
    }

    /// The answer to an application already taken under this idempotency key: its card and
    /// number come from the recorded event.
    async fn replayed_application(
        &self,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<CardApplied>> {
        let Some(outcome) = self.replay_key(key, request_hash).await? else {
            return Ok(None);
        };
        let event = match outcome.events.first() {
            Some(e) => self.store.event(e.seq).await?,
            None => None,
        };
        let event = event
            .as_ref()
            .map(crate::service::decode_event)
            .transpose()?;
        match event.map(|e| e.payload) {
            Some(EventPayload::Card(CardEvent {
                card,
                change: CardChange::Applied { number, .. },
                ..
            })) => Ok(Some(CardApplied {
                card,
                number,
                outcome,
            })),
            _ => Err(RegisterError::IdempotencyKeyReused(key.to_owned())),
        }
    }

    /// Records a later step of a card's life. Who may record it depends on the step: a
    /// supervisor approves, rejects, suspends, reinstates, revokes and records expiry; a card
    /// officer (or the card bureau's account) produces, personalises, issues and activates; a
    /// registrar or card officer reports a card lost or stolen.
    pub async fn change_card(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
        card: &str,
        change: CardChange,
        legal_basis: LegalBasis,
        idempotency_key: Option<String>,
    ) -> Result<Outcome> {
        let permission = match &change {
            CardChange::Applied { .. } => {
                return Err(RegisterError::Invalid(
                    "an application is taken with its biometric samples (apply_for_card)".into(),
                ))
            }
            CardChange::Approved
            | CardChange::Rejected { .. }
            | CardChange::Suspended { .. }
            | CardChange::Reinstated
            | CardChange::Revoked { .. }
            | CardChange::Expired => Permission::DecideCard,
            CardChange::Batched { .. }
            | CardChange::Personalised { .. }
            | CardChange::Issued
            | CardChange::Activated => Permission::ProduceCard,
            CardChange::ReportedLost | CardChange::ReportedStolen => Permission::ReportCard,
        };
        ctx.principal.require(permission)?;
        self.record_card_event(ctx, pin, card, change, legal_basis, idempotency_key)
            .await
    }

    async fn record_card_event(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
        card: &str,
        change: CardChange,
        legal_basis: LegalBasis,
        idempotency_key: Option<String>,
    ) -> Result<Outcome> {
        let now = self.now();
        let submission = self.card_submission(pin, card, change, legal_basis, idempotency_key)?;
        let request_hash = self.request_hash(ctx, &submission)?;
        if let Some(replay) = self.replay(&submission, &request_hash).await? {
            return Ok(replay);
        }
        self.submit_attempts(ctx, &submission, now, &request_hash, Attached::default())
            .await
    }

    /// A card event as a submission: effective today, addressed to the holder.
    fn card_submission(
        &self,
        pin: &Pin,
        card: &str,
        change: CardChange,
        legal_basis: LegalBasis,
        idempotency_key: Option<String>,
    ) -> Result<Submission> {
        let now = self.now();
        Ok(Submission {
            change: Change::Event(EventPayload::Card(CardEvent {
                pin: pin.clone(),
                card: card.to_owned(),
                change,
            })),
            effective: PartialDate::try_from_date(now.date_naive())
                .map_err(|e| RegisterError::Internal(e.to_string()))?,
            legal_basis,
            office: None,
            idempotency_key,
            target: Some(pin.clone()),
            if_match: None,
        })
    }

    /// The card rules on the person as stored now, without writing anything.
    async fn precheck_card_event(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
        card: &str,
        change: CardChange,
    ) -> Result<()> {
        // The rules' answer says something about the person: only to an official whose
        // jurisdiction covers them, as the write path would.
        let person = self.person_in_jurisdiction(ctx, pin).await?;
        let event = CardEvent {
            pin: pin.clone(),
            card: card.to_owned(),
            change,
        };
        thabian_model::card::check_card_event(
            &person,
            &event,
            &ctx.principal.official_id,
            &self.profile.card,
            self.now().date_naive(),
        )?;
        Ok(())
    }

    /// Reserves a fresh number of the profile's series for `card`: random digits from the OS
    /// CSPRNG (numbers leave the system on the card: they must not be guessable), reserved in
    /// the store's unique index so no two cards get the same number.
    async fn reserve_card_number(
        &self,
        card: &str,
        pin: &Pin,
        prefix: &str,
        length: u8,
    ) -> Result<String> {
        let digits = usize::from(length).saturating_sub(prefix.len());
        if digits == 0 {
            return Err(RegisterError::Internal(
                "the profile's card number series has no digits".into(),
            ));
        }
        use rand::Rng;
        for _ in 0..crate::service::MAX_ATTEMPTS {
            let number: String =
                std::iter::once(prefix.to_owned())
                    .chain((0..digits).map(|_| {
                        char::from(b'0' + rand::rngs::OsRng.gen_range(0..10u8)).to_string()
                    }))
                    .collect();
            self.store
                .reserve_import_keys(
                    CARD_NUMBER,
                    &[ImportKey {
                        source_id: card.to_owned(),
                        value: number.clone(),
                        digest: pin.to_string(),
                    }],
                )
                .await?;
            let kept = self
                .store
                .import_keys(CARD_NUMBER, &[card.to_owned()])
                .await?;
            if kept.iter().any(|k| k.value == number) {
                return Ok(number);
            }
        }
        Err(RegisterError::Contention)
    }

    fn biometric_key(&self) -> Result<&BiometricKey> {
        self.biometric_key.as_deref().ok_or_else(|| {
            RegisterError::Invalid(
                "this node has no biometric key: card applications cannot be taken".into(),
            )
        })
    }

    /// A person's cards, as the register knows them now (a logged read of the record).
    pub async fn cards(&self, ctx: &RequestContext, pin: &Pin) -> Result<Vec<Card>> {
        ctx.principal.require(Permission::ReadPerson)?;
        let person = self
            .person(ctx, pin, crate::service::View::default())
            .await?;
        Ok(person.cards)
    }

    /// A biometric sample, decrypted. Only card officers read them, and each read is logged
    /// before the bytes leave.
    pub async fn biometric_sample(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
        id: &str,
    ) -> Result<(String, Vec<u8>)> {
        ctx.principal.require(Permission::ReadBiometrics)?;
        // Reading the record checks the jurisdiction (and logs that read).
        self.readable_person(ctx, pin).await?;
        let row = self
            .store
            .biometric(id)
            .await?
            .filter(|r| r.pin == pin.as_str())
            .ok_or_else(|| {
                RegisterError::NotFound(format!("{pin} has no biometric sample {id}"))
            })?;
        let plaintext = self.biometric_key()?.open(&row)?;
        if hex::encode(Sha256::digest(&plaintext)) != row.sha256 {
            return Err(RegisterError::Internal(format!(
                "biometric sample {id} does not match its recorded digest"
            )));
        }
        self.log_reads(vec![self.access_record(
            ctx,
            Some(pin.as_str()),
            "read-biometric",
            Some(format!(
                "sample={id} card={} format={}",
                row.card, row.format
            )),
        )])
        .await?;
        Ok((row.format, plaintext))
    }

    /// The holder and card a card number names (the online status a verifier asks for). A
    /// number reused across a holder's cards (Vietnam's cards carry the PIN) names the latest.
    /// The read is logged.
    pub async fn card_by_number(
        &self,
        ctx: &RequestContext,
        number: &str,
    ) -> Result<Option<(Pin, Card)>> {
        ctx.principal.require(Permission::CheckCardStatus)?;
        let persons = self.holders_of(&card_key(number), 10).await?;
        let found = persons.into_values().find_map(|p| {
            p.cards
                .iter()
                .rev()
                .find(|c| c.number == number)
                .cloned()
                .map(|c| (p.pin.clone(), c))
        });
        if let Some((pin, card)) = &found {
            self.log_reads(vec![self.access_record(
                ctx,
                Some(pin.as_str()),
                "card-status",
                Some(format!("card={} number={number}", card.id)),
            )])
            .await?;
        }
        Ok(found)
    }
}

/// Signs a card's data groups: the Document Signer's side of personalisation.
pub trait DocumentSigning: Send + Sync {
    /// EF.SOD over these whole data-group files, and the Document Signer certificate's serial
    /// number (hex).
    fn sign(&self, data_groups: &[(u8, Vec<u8>)], at: DateTime<Utc>) -> Result<(Vec<u8>, String)>;
}

/// One card's personalisation package: what the card bureau writes to the chip and prints.
#[derive(Debug, Clone)]
pub struct CardPackage {
    pub card: String,
    pub number: String,
    pub pin: Pin,
    /// `(file name, bytes)`: `EF.COM`, `DG1` ..., `EF.SOD`.
    pub files: Vec<(String, Vec<u8>)>,
    pub mrz: [String; 3],
    pub printed: crate::chip::PrintedFields,
    pub document_signer: String,
}

impl CardPackage {
    /// The LDS file name of a data group.
    pub fn dg_file_name(number: u8) -> String {
        format!("DG{number}")
    }
}

/// A personalised card.
#[derive(Debug, Clone)]
pub struct Personalised {
    pub package: CardPackage,
    pub outcome: Outcome,
}

/// A card waiting in a production batch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchCard {
    pub pin: Pin,
    /// The card id.
    pub card: String,
    /// The card number.
    pub number: String,
}

/// The search-index key of the cards waiting in a production batch.
pub fn batch_key(batch: &str) -> String {
    format!("card-batch:{batch}")
}

impl Register {
    /// Personalises a card in production: computes its chip files and printed fields from the
    /// register, has them signed, and records `card_personalised` with the dates, the Document
    /// Signer and the SOD's digest. The samples are decrypted for it (a logged read). `chip`
    /// holds the public keys the chip generated (read back by the personalisation machine):
    /// they become DG14 and DG15, signed with the rest; a bad key refuses the card before
    /// anything is recorded. `ChipSecurity::default()` for a chip without them.
    pub async fn personalise_card(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
        card: &str,
        signing: &dyn DocumentSigning,
        chip: &thabian_icao9303::lds::ChipSecurity,
    ) -> Result<Personalised> {
        self.personalise(ctx, pin, card, None, signing, chip).await
    }

    /// Personalises again a card that is personalised but not yet issued, because its package
    /// was lost or spoiled at the bureau: a new chip and print for the same card record and
    /// number (the profile numbers cards, not chips), signed by the current Document Signer,
    /// recorded as a second `card_personalised` with the `reason` and the new SOD's digest.
    /// The old package then fails the online check (`sod_current`). Dates of issue and expiry
    /// are those of the new print.
    pub async fn repersonalise_card(
        &self,
        ctx: &RequestContext,
        number: &str,
        reason: &str,
        signing: &dyn DocumentSigning,
        chip: &thabian_icao9303::lds::ChipSecurity,
    ) -> Result<Personalised> {
        ctx.principal.require(Permission::ProduceCard)?;
        if reason.trim().is_empty() {
            return Err(RegisterError::Rule(thabian_model::rules::Violation {
                code: "reason-required",
                message: format!(
                    "give the reason to personalise card {number} again (package lost or spoiled)"
                ),
            }));
        }
        let holders = self.holders_of(&card_key(number), 10).await?;
        let Some((pin, card)) = holders.into_values().find_map(|p| {
            p.cards
                .iter()
                .rev()
                .find(|c| c.number == number)
                .map(|c| (p.pin.clone(), c.id.clone()))
        }) else {
            return Err(RegisterError::NotFound(format!("no card {number}")));
        };
        self.personalise(ctx, &pin, &card, Some(reason), signing, chip)
            .await
    }

    async fn personalise(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
        card: &str,
        reason: Option<&str>,
        signing: &dyn DocumentSigning,
        chip: &thabian_icao9303::lds::ChipSecurity,
    ) -> Result<Personalised> {
        use thabian_model::card::CardStatus;
        ctx.principal.require(Permission::ProduceCard)?;
        let person = self.readable_person(ctx, pin).await?;
        let Some(current) = person.cards.iter().find(|c| c.id == card).cloned() else {
            return Err(RegisterError::NotFound(format!("{pin} has no card {card}")));
        };
        // Checked before anything is decrypted or signed; the rules check again at commit.
        let (expected, what) = match reason {
            None => (
                CardStatus::InProduction,
                "only a card in production is personalised",
            ),
            Some(_) => (
                CardStatus::Personalised,
                "only a personalised card not yet issued is personalised again",
            ),
        };
        if current.status != expected {
            return Err(RegisterError::Rule(thabian_model::rules::Violation {
                code: "invalid-card-transition",
                message: format!(
                    "card {} is {}: {what}",
                    current.number,
                    current.status.as_str()
                ),
            }));
        }
        let now = self.now();
        let today = now.date_naive();
        let mut chip_card = current.clone();
        chip_card.date_of_issue = Some(today);
        chip_card.date_of_expiry = thabian_model::card::card_expiry(
            &self.profile.card.validity,
            &person.date_of_birth,
            today,
            current.reason == ApplicationReason::First,
        );

        let key = self.biometric_key()?;
        let mut samples = Vec::new();
        for r in std::iter::once(&current.face).chain(&current.fingerprints) {
            let row = self
                .store
                .biometric(&r.id)
                .await?
                .filter(|row| row.pin == pin.as_str())
                .ok_or_else(|| {
                    RegisterError::Internal(format!("biometric sample {} is missing", r.id))
                })?;
            let data = key.open(&row)?;
            if hex::encode(Sha256::digest(&data)) != r.sha256 {
                return Err(RegisterError::Internal(format!(
                    "biometric sample {} does not match its recorded digest",
                    r.id
                )));
            }
            samples.push(crate::chip::Sample {
                format: row.format,
                position: r.position,
                data,
            });
        }
        let face = samples.remove(0);

        // The names of the relatives DG13 carries (their records are read: logged).
        let relative_pins: Vec<Pin> = [
            person.father.pin(),
            person.mother.pin(),
            person.spouse.as_ref(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        let relatives_found = self.load_persons(&relative_pins).await?;
        let name_of = |parent: &thabian_model::person::ParentRef| -> Option<String> {
            match parent {
                thabian_model::person::ParentRef::Registered { pin } => relatives_found
                    .get(pin)
                    .map(|p| crate::chip::full_name(&p.names.national, &self.profile)),
                thabian_model::person::ParentRef::Described { name, .. } => Some(name.clone()),
                thabian_model::person::ParentRef::Unknown => None,
            }
        };
        let relatives = crate::chip::Relatives {
            father: name_of(&person.father),
            mother: name_of(&person.mother),
            spouse: person
                .spouse
                .as_ref()
                .and_then(|s| relatives_found.get(s))
                .map(|p| crate::chip::full_name(&p.names.national, &self.profile)),
        };
        let mut reads = vec![self.access_record(
            ctx,
            Some(pin.as_str()),
            "read-biometric",
            Some(format!("card personalisation: card={card}")),
        )];
        for p in relatives_found.keys() {
            reads.push(self.access_record(
                ctx,
                Some(p.as_str()),
                "read",
                Some(format!("name for the card of {pin}")),
            ));
        }
        self.log_reads(reads).await?;

        let content = crate::chip::ChipContent::build(
            &self.profile,
            &self.areas,
            &person,
            &chip_card,
            &face,
            &samples,
            &relatives,
            &ctx.principal.office,
            now,
        )
        .and_then(|content| content.with_security(chip))
        .map_err(|e| RegisterError::Invalid(format!("card {}: {e}", current.number)))?;
        let (ef_sod, document_signer) = signing.sign(&content.data_groups, now)?;
        let sod_sha256 = hex::encode(Sha256::digest(&ef_sod));

        let outcome = self
            .record_card_event(
                ctx,
                pin,
                card,
                CardChange::Personalised {
                    date_of_issue: today,
                    date_of_expiry: chip_card.date_of_expiry,
                    document_signer: document_signer.clone(),
                    sod_sha256,
                    reason: reason.map(str::to_owned),
                },
                LegalBasis {
                    act: "Card personalisation".into(),
                    document_ref: current.batch.clone(),
                },
                None,
            )
            .await?;
        let mut files = vec![("EF.COM".to_owned(), content.ef_com)];
        files.extend(
            content
                .data_groups
                .into_iter()
                .map(|(n, bytes)| (CardPackage::dg_file_name(n), bytes)),
        );
        files.push(("EF.SOD".to_owned(), ef_sod));
        Ok(Personalised {
            package: CardPackage {
                card: card.to_owned(),
                number: current.number,
                pin: pin.clone(),
                files,
                mrz: content.mrz,
                printed: content.printed,
                document_signer,
            },
            outcome,
        })
    }

    /// The persons the key index lists under `key` (a `card:` or `card-batch:` key), at most
    /// `limit`, read whole (the callers log what they reveal).
    async fn holders_of(
        &self,
        key: &str,
        limit: u32,
    ) -> Result<std::collections::HashMap<Pin, thabian_model::person::Person>> {
        let pins: Vec<Pin> = self
            .store
            .search_candidates(&[key.to_owned()], limit)
            .await?
            .into_iter()
            .map(|(_, pin)| Pin::from_trusted(pin))
            .collect();
        self.load_persons(&pins).await
    }

    /// The cards waiting in a production batch, in PIN order.
    pub async fn batch_cards(&self, ctx: &RequestContext, batch: &str) -> Result<Vec<BatchCard>> {
        ctx.principal.require(Permission::ProduceCard)?;
        let persons = self.holders_of(&batch_key(batch), 1_000_000).await?;
        let mut out: Vec<BatchCard> = persons
            .values()
            .flat_map(|p| {
                p.cards
                    .iter()
                    .filter(|c| {
                        c.status == thabian_model::card::CardStatus::InProduction
                            && c.batch.as_deref() == Some(batch)
                    })
                    .map(|c| BatchCard {
                        pin: p.pin.clone(),
                        card: c.id.clone(),
                        number: c.number.clone(),
                    })
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

impl Register {
    /// The public documents of the national PKI (CSCA and link certificates, CRL, master
    /// list), as `thabian pki publish` stored them. Public: no personal data.
    pub async fn pki_documents(&self) -> Result<Vec<thabian_store::PublishedDocument>> {
        Ok(self.store.all_published().await?)
    }

    pub async fn pki_document(&self, name: &str) -> Result<thabian_store::PublishedDocument> {
        self.store
            .published(name)
            .await?
            .ok_or_else(|| RegisterError::NotFound(format!("no published document {name:?}")))
    }
}

/// What a verifier sent: the files read from a card's chip and the MRZ read from its face.
#[derive(Debug, Clone, Default)]
pub struct ChipFiles {
    pub ef_sod: Vec<u8>,
    pub ef_com: Option<Vec<u8>>,
    pub data_groups: Vec<(u8, Vec<u8>)>,
    pub printed_mrz: Option<String>,
}

impl ChipFiles {
    /// The files as passive authentication reads them.
    pub fn document(&self) -> thabian_icao9303::pa::Document<'_> {
        thabian_icao9303::pa::Document {
            ef_sod: &self.ef_sod,
            data_groups: self
                .data_groups
                .iter()
                .map(|(n, b)| (*n, b.as_slice()))
                .collect(),
            ef_com: self.ef_com.as_deref(),
            printed_mrz: self.printed_mrz.as_deref(),
        }
    }
}

/// The result of [`Register::verify_card`].
#[derive(Debug, Clone)]
pub struct CardVerification {
    pub report: thabian_icao9303::pa::Report,
    /// The register's record of the card named in DG1, when asked for and found.
    pub online: Option<Card>,
    /// With the online record: whether the EF.SOD presented is the one recorded at the card's
    /// latest personalisation (`false`: a package superseded by a re-personalisation, or one
    /// the register never signed). `None` when the record holds no SOD digest.
    pub sod_current: Option<bool>,
}

impl Register {
    /// The verifier's trust: the CSCA (and link) certificates and the CRL the register
    /// publishes.
    pub async fn published_trust(&self) -> Result<thabian_icao9303::pa::TrustStore> {
        self.trust_from(&self.store.all_published().await?)
    }

    fn trust_from(
        &self,
        docs: &[thabian_store::PublishedDocument],
    ) -> Result<thabian_icao9303::pa::TrustStore> {
        let mut trust = thabian_icao9303::pa::TrustStore::new();
        for doc in docs {
            let added = match doc.media_type.as_str() {
                "application/pkix-cert" => trust.add_certificates(&doc.body).map(|_| ()),
                "application/pkix-crl" => trust.add_crls(&doc.body).map(|_| ()),
                _ => Ok(()),
            };
            added.map_err(|e| {
                RegisterError::Internal(format!("published document {}: {e}", doc.name))
            })?;
        }
        Ok(trust)
    }

    /// The path cache over what the register publishes now. The documents are read on every
    /// call (a node must see another node's `pki publish` at once); the cache, and the parsed
    /// trust store, are kept while they are unchanged.
    async fn published_path_cache(&self) -> Result<Arc<thabian_icao9303::pa::PathCache>> {
        let docs = self.store.all_published().await?;
        let mut h = Sha256::new();
        for d in &docs {
            for part in [
                d.name.as_bytes(),
                d.updated_at.as_bytes(),
                d.body.as_slice(),
            ] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part);
            }
        }
        let fingerprint: [u8; 32] = h.finalize().into();
        let mut cached = self.pki_cache.lock().await;
        if let Some((f, cache)) = cached.as_ref() {
            if *f == fingerprint {
                return Ok(cache.clone());
            }
        }
        let cache = Arc::new(thabian_icao9303::pa::PathCache::new(
            self.trust_from(&docs)?,
        ));
        *cached = Some((fingerprint, cache.clone()));
        Ok(cache)
    }

    /// Passive authentication of a card's chip data against the national PKI the register
    /// publishes, and, when `online`, the card's status in the register (a logged read of the
    /// holder's card).
    pub async fn verify_card(
        &self,
        ctx: &RequestContext,
        files: ChipFiles,
        at: Option<DateTime<Utc>>,
        online: bool,
    ) -> Result<CardVerification> {
        ctx.principal.require(Permission::CheckCardStatus)?;
        let cache = self.published_path_cache().await?;
        let at = at.unwrap_or_else(|| self.now());
        let sod_sha256 = hex::encode(Sha256::digest(&files.ef_sod));
        let report = tokio::task::spawn_blocking(move || {
            let doc = files.document();
            let options = thabian_icao9303::pa::PaOptions {
                path_cache: Some(cache.clone()),
                ..thabian_icao9303::pa::PaOptions::default()
            };
            thabian_icao9303::pa::passive_authentication(&doc, cache.trust_store(), at, &options)
        })
        .await
        .map_err(|e| RegisterError::Internal(format!("passive authentication: {e}")))?;
        let number = report
            .document
            .as_ref()
            .and_then(|d| d.mrz.as_ref())
            .map(|m| match self.profile.card.mrz_document_number {
                thabian_model::profile::MrzDocumentNumber::Full => m.document_number.clone(),
                // The full card number is at the start of optional data 1.
                thabian_model::profile::MrzDocumentNumber::Last9FullInOptionalData => m
                    .optional_data_1
                    .split('<')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            });
        let online = match (online, number) {
            (true, Some(number)) => self.card_by_number(ctx, &number).await?.map(|(_, c)| c),
            _ => None,
        };
        let sod_current = online
            .as_ref()
            .and_then(|c| c.sod_sha256.as_ref())
            .map(|recorded| *recorded == sod_sha256);
        Ok(CardVerification {
            report,
            online,
            sod_current,
        })
    }
}

/// A card the expiry sweep found past its date of expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringCard {
    pub pin: Pin,
    /// The card id.
    pub card: String,
    pub number: String,
    pub date_of_expiry: chrono::NaiveDate,
    /// Its status before the sweep (issued, active or suspended).
    pub status: thabian_model::card::CardStatus,
}

/// What [`Register::expire_cards`] did.
#[derive(Debug)]
pub struct ExpirySweep {
    /// The register's date the sweep ran on: cards whose date of expiry is before it expire.
    pub today: chrono::NaiveDate,
    /// `card_expired` recorded now (with `dry_run`: would be recorded).
    pub expired: Vec<ExpiringCard>,
    /// Cards whose expiry another sweep (another node, a concurrent run) recorded first.
    pub already_recorded: Vec<ExpiringCard>,
    /// Cards whose expiry could not be recorded, with the error; the others went on.
    pub failed: Vec<(ExpiringCard, RegisterError)>,
}

/// How many index entries the sweep reads, and holders it loads, at a time.
const EXPIRY_PAGE: u32 = 500;

impl Register {
    /// Records `card_expired` for every card past its date of expiry that is still issued,
    /// active or suspended (the statuses [`CardStatus::allows`] lets expire: a card reported
    /// lost or stolen, or revoked, keeps that status, which says more to a verifier; a card
    /// not yet issued has not started its term). One event per card, through the one write
    /// path (rules, log, audit record, feed), under the legal basis `act`, with the date of
    /// expiry as its document reference. A card whose date of expiry is today is still valid.
    ///
    /// The cards are found through the key index ([`expiry_key`]): one range read per page, so
    /// the cost is the number of expiring cards, not the size of the register. Idempotent:
    /// an expired card leaves the index with its event, and each event carries the idempotency
    /// key `card-expired:<card id>`, so a sweep racing another one (several nodes, an
    /// overlapping timer) records each expiry once. A failure on one card is reported in
    /// [`ExpirySweep::failed`] and the sweep goes on. With `dry_run` nothing is recorded; the
    /// cards that would expire are listed (each holder's listing is a logged read).
    ///
    /// [`CardStatus::allows`]: thabian_model::card::CardStatus::allows
    pub async fn expire_cards(
        &self,
        ctx: &RequestContext,
        act: &str,
        dry_run: bool,
    ) -> Result<ExpirySweep> {
        ctx.principal.require(Permission::DecideCard)?;
        if act.trim().is_empty() {
            return Err(RegisterError::Invalid(
                "the legal basis of the expiries (act) must not be empty".into(),
            ));
        }
        // One date for the whole sweep: a run across midnight does not widen its range.
        let today = self.now().date_naive();
        let before = format!("{EXPIRY_PREFIX}{today}");
        let mut sweep = ExpirySweep {
            today,
            expired: Vec::new(),
            already_recorded: Vec::new(),
            failed: Vec::new(),
        };
        let mut after = EXPIRY_PREFIX.to_owned();
        loop {
            let page = self
                .store
                .keys_between(&after, &before, EXPIRY_PAGE)
                .await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            // Entries already handled (or refused) stay behind the cursor.
            after = last.clone();
            let full = page.len() == EXPIRY_PAGE as usize;
            let pins: Vec<Pin> = page
                .iter()
                .map(|(_, pin)| Pin::from_trusted(pin.clone()))
                .collect();
            let holders = self.load_persons(&pins).await?;
            let mut due = Vec::new();
            for (key, pin) in &page {
                let Some(card_id) = key
                    .strip_prefix(EXPIRY_PREFIX)
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(_, card)| card)
                else {
                    continue;
                };
                // The index is written with the row; the row is the authority.
                let card = holders
                    .get(&Pin::from_trusted(pin.clone()))
                    .and_then(|p| p.cards.iter().find(|c| c.id == card_id));
                if let Some(c) = card {
                    if let Some(date_of_expiry) = c.date_of_expiry {
                        if c.status.is_valid() && today > date_of_expiry {
                            due.push(ExpiringCard {
                                pin: Pin::from_trusted(pin.clone()),
                                card: c.id.clone(),
                                number: c.number.clone(),
                                date_of_expiry,
                                status: c.status,
                            });
                        }
                    }
                }
            }
            if dry_run {
                let reads = due
                    .iter()
                    .map(|c| {
                        self.access_record(
                            ctx,
                            Some(c.pin.as_str()),
                            "card-status",
                            Some(format!("expiry sweep (dry run): card={}", c.card)),
                        )
                    })
                    .collect();
                self.log_reads(reads).await?;
                sweep.expired.extend(due);
            } else {
                for c in due {
                    let recorded = self
                        .record_card_event(
                            ctx,
                            &c.pin,
                            &c.card,
                            CardChange::Expired,
                            LegalBasis {
                                act: act.to_owned(),
                                document_ref: Some(format!("date of expiry {}", c.date_of_expiry)),
                            },
                            Some(format!("card-expired:{}", c.card)),
                        )
                        .await;
                    match recorded {
                        Ok(outcome) if outcome.replayed => sweep.already_recorded.push(c),
                        Ok(_) => sweep.expired.push(c),
                        Err(e) => {
                            // Refused because the card is no longer valid: another sweep (or a
                            // report of loss) came first, which is not a failure.
                            let status_now = match self.store.person(c.pin.as_str()).await {
                                Ok(Some(row)) => {
                                    crate::service::decode_person(&row).ok().and_then(|p| {
                                        p.cards.iter().find(|x| x.id == c.card).map(|x| x.status)
                                    })
                                }
                                _ => Some(c.status),
                            };
                            match status_now {
                                Some(thabian_model::card::CardStatus::Expired) => {
                                    sweep.already_recorded.push(c)
                                }
                                _ => sweep.failed.push((c, e)),
                            }
                        }
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(sweep)
    }
}
