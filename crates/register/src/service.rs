use crate::access::AccessLog;
use crate::auth::{new_token, token_hash, Permission, Principal, RequestContext, Role, NATIONAL};
use crate::{RegisterError, Result};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use thabian_model::date::PartialDate;
use thabian_model::event::{
    BirthRecord, Event, EventPayload, ImportedRecord, LegalBasis, EVENT_SCHEMA,
};
use thabian_model::person::{Household, Membership, Person, Residence};
use thabian_model::pin::{generate_pin, Pin, PinContext};
use thabian_model::profile::{AdminTree, Profile};
use thabian_model::rules::{self, RuleContext};
use thabian_store::{
    format_time, AccessRecord, DynStore, FeedFilter, HouseholdRow, IdempotencyRecord, NewEvent,
    OfficialRow, PersonRow, StoreError, StoredEvent, TokenRow, Versioned, WriteBatch,
};
use tokio::sync::Notify;

/// The register's clock. Domain code never reads it; use cases read it once per request and
/// pass the time down.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What an official asks the register to record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A birth: the register issues the PIN.
    Birth {
        particulars: thabian_model::event::PersonParticulars,
        residence: Option<Residence>,
        household: Option<Membership>,
    },
    /// An existing record from a legacy register; keeps its PIN when it has a valid one.
    Import {
        pin: Option<Pin>,
        record: Box<ImportedRecord>,
    },
    /// A new household: the register issues its number.
    CreateHousehold {
        head: Pin,
        area: String,
        address_lines: Vec<String>,
    },
    /// Any other event, fully specified.
    Event(EventPayload),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    pub change: Change,
    pub effective: PartialDate,
    pub legal_basis: LegalBasis,
    /// Registering office; defaults to the official's office.
    pub office: Option<String>,
    pub idempotency_key: Option<String>,
    /// The person the request is addressed to (`/v1/persons/{pin}/events`).
    pub target: Option<Pin>,
    /// The target's version the client based its request on (`If-Match`).
    pub if_match: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedEvent {
    pub seq: u64,
    pub id: String,
    pub kind: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub events: Vec<CommittedEvent>,
    /// The primary subject.
    pub pin: Option<Pin>,
    /// The primary subject's version after the change.
    pub version: Option<u64>,
    pub household: Option<String>,
    /// True when this is the stored answer to an earlier submission with the same idempotency key.
    #[serde(default)]
    pub replayed: bool,
    /// Set when the registration was held for review as a likely duplicate: nothing was
    /// registered, and `pin` is `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_case: Option<String>,
    /// Registered persons the new record may duplicate (below the "likely" threshold): the
    /// registration went ahead, with this warning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub possible_duplicates: Vec<crate::dedup::ScoredCandidate>,
}

/// What a submission carries besides its main event (a review decision registering a held
/// record): a fixed PIN, events without person subjects, review cases; one transaction.
#[derive(Default)]
pub(crate) struct Attached {
    pub pin: Option<Pin>,
    pub events: Vec<EventPayload>,
    pub cases: Vec<Versioned<thabian_store::CaseRow>>,
    /// Encrypted biometric samples the event references (a card application).
    pub biometrics: Vec<thabian_store::BiometricRow>,
}

/// Which state of a record to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct View {
    /// Valid time: the record as it was on this date.
    pub as_of: Option<NaiveDate>,
    /// Transaction time: the record as the register knew it at this moment.
    pub known_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct Relative {
    pub pin: Pin,
    /// `None` when the relative is outside the reader's jurisdiction.
    pub person: Option<Person>,
}

#[derive(Debug, Clone, Default)]
pub struct Relatives {
    pub father: Option<Relative>,
    pub mother: Option<Relative>,
    pub spouse: Option<Relative>,
    pub children: Vec<Relative>,
}

#[derive(Debug, Clone)]
pub struct HouseholdView {
    pub household: Household,
    pub members: Vec<Person>,
}

#[derive(Debug, Clone)]
pub struct FeedPage {
    pub events: Vec<(StoredEvent, Event)>,
    /// Pass as `after` to get the next page.
    pub next: u64,
}

#[derive(Debug, Clone)]
pub struct NewOfficial {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub jurisdiction: String,
    pub office: String,
}

/// A token shown once at issue; only its hash is stored.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub id: String,
    pub token: String,
    pub official_id: String,
    pub expires_at: String,
}

pub struct Register {
    pub(crate) store: DynStore,
    pub(crate) profile: Arc<Profile>,
    pub(crate) areas: Arc<AdminTree>,
    access: AccessLog,
    committer: crate::committer::Committer,
    clock: Arc<dyn Clock>,
    pub(crate) feed_notify: Arc<Notify>,
    /// Where PINs are drawn from: a CSPRNG seeded by the OS, unless a test replays a seeded
    /// sequence.
    pin_rng: std::sync::Mutex<Box<dyn rand::RngCore + Send>>,
    pub(crate) linkage: crate::dedup::ModelCache,
    pub(crate) vocabulary: crate::dedup::VocabularyCache,
    pub(crate) thresholds: thabian_model::linkage::Thresholds,
    /// Encrypts card applications' biometric samples; `None`: this node takes no applications.
    pub(crate) biometric_key: Option<Arc<crate::cards::BiometricKey>>,
    /// Validated Document Signer paths over the published PKI documents (see
    /// `Register::verify_card`), with the fingerprint of the documents they were built from.
    #[allow(clippy::type_complexity)]
    pub(crate) pki_cache:
        tokio::sync::Mutex<Option<([u8; 32], Arc<thabian_icao9303::pa::PathCache>)>>,
}

/// Attempts at one submission: optimistic-concurrency conflicts and PIN collisions are retried.
pub(crate) const MAX_ATTEMPTS: usize = 16;

pub(crate) fn decode_person(row: &PersonRow) -> Result<Person> {
    serde_json::from_str(&row.record)
        .map_err(|e| RegisterError::Store(StoreError::Corrupt(format!("person {}: {e}", row.pin))))
}

pub(crate) fn decode_household(row: &HouseholdRow) -> Result<Household> {
    serde_json::from_str(&row.record).map_err(|e| {
        RegisterError::Store(StoreError::Corrupt(format!("household {}: {e}", row.id)))
    })
}

pub fn decode_event(stored: &StoredEvent) -> Result<Event> {
    serde_json::from_str(&stored.body).map_err(|e| {
        RegisterError::Store(StoreError::Corrupt(format!("event {}: {e}", stored.seq)))
    })
}

pub(crate) fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| RegisterError::Internal(e.to_string()))
}

impl Register {
    pub fn new(
        store: DynStore,
        profile: Arc<Profile>,
        areas: Arc<AdminTree>,
        clock: Arc<dyn Clock>,
    ) -> Register {
        let access = AccessLog::start(store.clone());
        let committer = crate::committer::Committer::start(store.clone());
        Register {
            store,
            profile,
            areas,
            access,
            committer,
            clock,
            feed_notify: Arc::new(Notify::new()),
            // A CSPRNG seeded from the OS: PINs stay unpredictable without a system call for
            // every digit drawn (which dominated bulk imports).
            pin_rng: std::sync::Mutex::new(Box::new(
                <rand::rngs::StdRng as rand::SeedableRng>::from_entropy(),
            )),
            linkage: crate::dedup::ModelCache::new(),
            vocabulary: crate::dedup::VocabularyCache::new(),
            thresholds: thabian_model::linkage::Thresholds::DEFAULT,
            biometric_key: None,
            pki_cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The key that encrypts biometric samples at rest (see [`crate::cards::BiometricKey`]).
    pub fn with_biometric_key(self, key: crate::cards::BiometricKey) -> Register {
        Register {
            biometric_key: Some(Arc::new(key)),
            ..self
        }
    }

    /// Commits a batch through the group committer and wakes the change feed.
    pub(crate) async fn commit_batch(&self, batch: WriteBatch) -> Result<Vec<StoredEvent>> {
        let committed = self.committer.commit(batch).await?;
        self.feed_notify.notify_waiters();
        Ok(committed)
    }

    /// Draws PINs from `rng` instead of the OS CSPRNG. For tests that need a known sequence
    /// (for example, to make two registers draw the same PIN); never for production.
    pub fn with_pin_rng(self, rng: Box<dyn rand::RngCore + Send>) -> Register {
        Register {
            pin_rng: std::sync::Mutex::new(rng),
            ..self
        }
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn areas(&self) -> &AdminTree {
        &self.areas
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Wakes change-feed long polls after a commit.
    pub(crate) fn area_path(&self, code: &str) -> String {
        self.areas.path(code).unwrap_or_else(|| "/".to_owned())
    }

    /// The areas a person's events are news to: where they live permanently (or were born)
    /// and where they are temporarily registered.
    pub(crate) fn person_paths(&self, p: &Person) -> Vec<String> {
        std::iter::once(p.jurisdiction_area())
            .chain(p.temporary_residence.as_ref().map(|r| r.area.as_str()))
            .map(|a| self.area_path(a))
            .collect()
    }

    pub fn person_row(&self, p: &Person) -> Result<PersonRow> {
        let merged = p.merged_into.is_some();
        let record = thabian_model::linkage::MatchRecord::from_person(p);
        Ok(PersonRow {
            pin: p.pin.to_string(),
            version: p.version,
            status: p.status.as_str().to_owned(),
            residence_path: self.area_path(p.jurisdiction_area()),
            household: p.household.as_ref().map(|m| m.household.clone()),
            father: p.father.pin().map(|p| p.to_string()),
            mother: p.mother.pin().map(|p| p.to_string()),
            spouse: p.spouse.as_ref().map(|p| p.to_string()),
            record: json(p)?,
            // A retired (merged-away) PIN is found through its survivor only.
            search_keys: if merged {
                Vec::new()
            } else {
                let mut keys = record.blocking_keys();
                // Card numbers find their holder for verifiers' online status checks.
                keys.extend(p.cards.iter().map(|c| crate::cards::card_key(&c.number)));
                // A production batch finds the cards still waiting in it.
                keys.extend(
                    p.cards
                        .iter()
                        .filter(|c| c.status == thabian_model::card::CardStatus::InProduction)
                        .filter_map(|c| c.batch.as_deref())
                        .map(crate::cards::batch_key),
                );
                // A card that can expire is found by its date of expiry (the expiry sweep).
                keys.extend(
                    p.cards
                        .iter()
                        .filter(|c| c.status.is_valid())
                        .filter_map(|c| {
                            c.date_of_expiry
                                .map(|date| crate::cards::expiry_key(date, &c.id))
                        }),
                );
                keys
            },
            match_record: thabian_model::compact::encode(&record, merged),
        })
    }

    pub fn household_row(&self, h: &Household) -> Result<HouseholdRow> {
        Ok(HouseholdRow {
            id: h.id.clone(),
            version: h.version,
            head: h.head.as_ref().map(|p| p.to_string()),
            area_path: self.area_path(&h.area),
            record: json(h)?,
        })
    }

    pub(crate) fn access_record(
        &self,
        ctx: &RequestContext,
        pin: Option<&str>,
        action: &str,
        detail: Option<String>,
    ) -> AccessRecord {
        AccessRecord {
            id: uuid::Uuid::now_v7().to_string(),
            at: format_time(self.clock.now()),
            official_id: ctx.principal.official_id.clone(),
            pin: pin.map(str::to_owned),
            action: action.to_owned(),
            purpose: ctx.purpose.clone(),
            client: ctx.client.clone(),
            detail,
            event_seq: None,
        }
    }

    pub(crate) async fn log_reads(&self, records: Vec<AccessRecord>) -> Result<()> {
        self.access
            .record(records)
            .await
            .map_err(RegisterError::AccessLog)
    }

    // ------------------------------------------------------------------ authentication

    /// Resolves an API token to the official it was issued to.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let unauthenticated =
            || RegisterError::Unauthenticated("unknown, expired or revoked token".into());
        let (row, official) = self
            .store
            .credential(&token_hash(token))
            .await?
            .ok_or_else(unauthenticated)?;
        let now = format_time(self.clock.now());
        if row.revoked_at.is_some() || row.expires_at <= now || official.disabled_at.is_some() {
            return Err(unauthenticated());
        }
        self.principal_of(&official)
    }

    fn principal_of(&self, o: &OfficialRow) -> Result<Principal> {
        let role = Role::parse(&o.role).ok_or_else(|| {
            RegisterError::Store(StoreError::Corrupt(format!(
                "official {} has role {}",
                o.id, o.role
            )))
        })?;
        let jurisdiction_path = if o.jurisdiction == NATIONAL {
            "/".to_owned()
        } else {
            self.area_path(&o.jurisdiction)
        };
        Ok(Principal {
            official_id: o.id.clone(),
            name: o.name.clone(),
            role,
            jurisdiction: o.jurisdiction.clone(),
            jurisdiction_path,
            office: o.office.clone(),
        })
    }

    // ------------------------------------------------------------------ officials and tokens

    /// On first start: creates the administrator and returns a one-time token, or `None` when
    /// officials exist already.
    pub async fn bootstrap(&self) -> Result<Option<IssuedToken>> {
        if !self.store.officials().await?.is_empty() {
            return Ok(None);
        }
        let office = self
            .profile
            .admin_areas
            .first()
            .map(|a| a.code.clone())
            .ok_or_else(|| RegisterError::Internal("the profile has no admin areas".into()))?;
        let admin = OfficialRow {
            id: "admin".into(),
            name: "Administrator".into(),
            role: Role::Administrator.as_str().into(),
            jurisdiction: NATIONAL.into(),
            office,
            created_at: format_time(self.clock.now()),
            disabled_at: None,
        };
        let ctx = RequestContext {
            principal: self.principal_of(&admin)?,
            purpose: Some("bootstrap".into()),
            client: None,
        };
        let audit = self.access_record(
            &ctx,
            None,
            "admin",
            Some("created official admin (first start)".into()),
        );
        self.store.insert_official(&admin, &audit).await?;
        Ok(Some(
            self.issue_token_unchecked(&ctx, "admin", "first-start", Duration::days(30))
                .await?,
        ))
    }

    pub async fn create_official(
        &self,
        ctx: &RequestContext,
        new: NewOfficial,
    ) -> Result<OfficialRow> {
        ctx.principal.require(Permission::ManageOfficials)?;
        let id_ok = !new.id.is_empty()
            && new.id.len() <= 64
            && new
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !id_ok {
            return Err(RegisterError::Invalid(
                "an official id is 1 to 64 of A-Z a-z 0-9 - _ .".into(),
            ));
        }
        if new.name.trim().is_empty() {
            return Err(RegisterError::Invalid(
                "the official's name must not be empty".into(),
            ));
        }
        if new.jurisdiction != NATIONAL && !self.areas.contains(&new.jurisdiction) {
            return Err(RegisterError::Invalid(format!(
                "unknown jurisdiction area {:?}",
                new.jurisdiction
            )));
        }
        if !self.areas.contains(&new.office) {
            return Err(RegisterError::Invalid(format!(
                "unknown office area {:?}",
                new.office
            )));
        }
        if new.jurisdiction != NATIONAL && !self.areas.is_within(&new.office, &new.jurisdiction) {
            return Err(RegisterError::Invalid(
                "the office must lie inside the jurisdiction".into(),
            ));
        }
        let row = OfficialRow {
            id: new.id.clone(),
            name: new.name,
            role: new.role.as_str().into(),
            jurisdiction: new.jurisdiction,
            office: new.office,
            created_at: format_time(self.clock.now()),
            disabled_at: None,
        };
        let audit = self.access_record(
            ctx,
            None,
            "admin",
            Some(format!("created official {} ({})", row.id, row.role)),
        );
        match self.store.insert_official(&row, &audit).await {
            Err(StoreError::Duplicate { .. }) => {
                Err(RegisterError::Rule(thabian_model::rules::Violation {
                    code: "official-exists",
                    message: format!("an official with id {} already exists", row.id),
                }))
            }
            other => Ok(other.map(|_| row)?),
        }
    }

    pub async fn officials(&self, ctx: &RequestContext) -> Result<Vec<OfficialRow>> {
        ctx.principal.require(Permission::ManageOfficials)?;
        Ok(self.store.officials().await?)
    }

    pub async fn disable_official(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        ctx.principal.require(Permission::ManageOfficials)?;
        let audit = self.access_record(ctx, None, "admin", Some(format!("disabled official {id}")));
        if self
            .store
            .disable_official(id, &format_time(self.clock.now()), &audit)
            .await?
        {
            Ok(())
        } else {
            Err(RegisterError::NotFound(format!("no active official {id}")))
        }
    }

    pub async fn issue_token(
        &self,
        ctx: &RequestContext,
        official_id: &str,
        label: &str,
        ttl: Duration,
    ) -> Result<IssuedToken> {
        ctx.principal.require(Permission::ManageOfficials)?;
        if ttl <= Duration::zero() || ttl > Duration::days(366) {
            return Err(RegisterError::Invalid(
                "a token lives between 1 second and 366 days".into(),
            ));
        }
        let official = self
            .store
            .official(official_id)
            .await?
            .ok_or_else(|| RegisterError::NotFound(format!("no official {official_id}")))?;
        if official.disabled_at.is_some() {
            return Err(RegisterError::Invalid(format!(
                "official {official_id} is disabled"
            )));
        }
        self.issue_token_unchecked(ctx, official_id, label, ttl)
            .await
    }

    async fn issue_token_unchecked(
        &self,
        ctx: &RequestContext,
        official_id: &str,
        label: &str,
        ttl: Duration,
    ) -> Result<IssuedToken> {
        let token = new_token(&mut rand::rngs::OsRng);
        let now = self.clock.now();
        let row = TokenRow {
            id: uuid::Uuid::now_v7().to_string(),
            hash: token_hash(&token),
            official_id: official_id.to_owned(),
            label: label.to_owned(),
            created_at: format_time(now),
            expires_at: format_time(now + ttl),
            revoked_at: None,
        };
        let audit = self.access_record(
            ctx,
            None,
            "admin",
            Some(format!("issued token {} to {official_id}", row.id)),
        );
        self.store.insert_token(&row, &audit).await?;
        Ok(IssuedToken {
            id: row.id,
            token,
            official_id: row.official_id,
            expires_at: row.expires_at,
        })
    }

    pub async fn tokens(&self, ctx: &RequestContext, official_id: &str) -> Result<Vec<TokenRow>> {
        ctx.principal.require(Permission::ManageOfficials)?;
        Ok(self.store.tokens(official_id).await?)
    }

    pub async fn revoke_token(&self, ctx: &RequestContext, token_id: &str) -> Result<()> {
        ctx.principal.require(Permission::ManageOfficials)?;
        let audit = self.access_record(
            ctx,
            None,
            "admin",
            Some(format!("revoked token {token_id}")),
        );
        if self
            .store
            .revoke_token(token_id, &format_time(self.clock.now()), &audit)
            .await?
        {
            Ok(())
        } else {
            Err(RegisterError::NotFound(format!(
                "no active token {token_id}"
            )))
        }
    }

    // ------------------------------------------------------------------ the write path

    /// Records a change: validates it against the rules and the current state, then appends the
    /// event, its access record and the projection updates in one transaction.
    pub async fn submit(&self, ctx: &RequestContext, submission: Submission) -> Result<Outcome> {
        let sensitive = match &submission.change {
            Change::Import { .. } => true,
            Change::Event(p) => matches!(
                p,
                EventPayload::ParticularsCorrected { .. }
                    | EventPayload::AdoptionRegistered { .. }
                    | EventPayload::NationalityAcquired { .. }
                    | EventPayload::NationalityLost { .. }
                    | EventPayload::StatusChanged { .. }
                    | EventPayload::RecordImported(_)
                    | EventPayload::BirthRegistered(_)
                    | EventPayload::RecordsMerged { .. }
                    | EventPayload::RecordsUnmerged { .. }
            ),
            _ => false,
        };
        if let Change::Event(EventPayload::Card(_)) = &submission.change {
            return Err(RegisterError::Invalid(
                "card changes are recorded through the card use cases, which check who may make each".into(),
            ));
        }
        if let Change::Event(EventPayload::BirthRegistered(_) | EventPayload::RecordImported(_)) =
            &submission.change
        {
            return Err(RegisterError::Invalid(
                "births and imports are submitted as such, not as raw events".into(),
            ));
        }
        ctx.principal.require(if sensitive {
            Permission::RegisterSensitiveEvent
        } else {
            Permission::RegisterEvent
        })?;
        if let Some(key) = &submission.idempotency_key {
            if key.is_empty() || key.len() > 200 {
                return Err(RegisterError::Invalid(
                    "an idempotency key is 1 to 200 characters".into(),
                ));
            }
        }
        let request_hash = self.request_hash(ctx, &submission)?;
        if let Some(replay) = self.replay(&submission, &request_hash).await? {
            return Ok(replay);
        }
        let now = self.clock.now();
        let mut possible_duplicates = Vec::new();
        let new_record = match &submission.change {
            Change::Birth {
                particulars,
                residence,
                ..
            } => Some((particulars, residence.as_ref())),
            Change::Import { record, .. } => {
                Some((&record.particulars, record.permanent_residence.as_ref()))
            }
            _ => None,
        };
        if let Some((particulars, residence)) = new_record {
            let record =
                thabian_model::linkage::MatchRecord::from_particulars(particulars, residence);
            let found = self.duplicate_candidates(&record, &[]).await?;
            if found
                .iter()
                .any(|c| c.verdict == thabian_model::linkage::Verdict::Likely)
            {
                return self
                    .hold_new_record(ctx, &submission, &found, &request_hash)
                    .await;
            }
            possible_duplicates = found;
        }
        self.submit_attempts(ctx, &submission, now, &request_hash, Attached::default())
            .await
            .map(|mut outcome| {
                outcome.possible_duplicates = possible_duplicates;
                outcome
            })
    }

    /// Holds a birth or an imported record that is likely a duplicate: its PIN is reserved
    /// (so no one else draws it) and a review case opened; nothing is registered. Idempotent
    /// by idempotency key, and an imported record by its source id (as a batch import is).
    async fn hold_new_record(
        &self,
        ctx: &RequestContext,
        submission: &Submission,
        found: &[crate::dedup::ScoredCandidate],
        request_hash: &str,
    ) -> Result<Outcome> {
        use thabian_model::event::HeldRegistration;
        let office = submission
            .office
            .clone()
            .unwrap_or_else(|| ctx.principal.office.clone());
        let case_id = match (&submission.idempotency_key, &submission.change) {
            (Some(key), _) => format!(
                "held-{}",
                &hex::encode(Sha256::digest(key.as_bytes()))[..32]
            ),
            (None, Change::Import { record, .. }) => crate::import::held_case_id(&record.source_id),
            (None, _) => format!("held-{}", uuid::Uuid::now_v7()),
        };
        let held_outcome = |case: &str, replayed: bool| Outcome {
            events: Vec::new(),
            pin: None,
            version: None,
            household: None,
            replayed,
            review_case: Some(case.to_owned()),
            possible_duplicates: found.to_vec(),
        };
        if let Some(existing) = self.store.review_case(&case_id).await? {
            return Ok(held_outcome(&existing.id, true));
        }
        let registration = match &submission.change {
            Change::Birth {
                particulars,
                residence,
                household,
            } => HeldRegistration::Birth {
                record: BirthRecord {
                    pin: self.draw_free_pin(&office, particulars).await?,
                    particulars: particulars.clone(),
                    residence: residence.clone(),
                    household: household.clone(),
                },
            },
            Change::Import { pin, record } => {
                let mut record = (**record).clone();
                record.pin = match pin {
                    Some(p) => {
                        let kept = self.kept_pin(p)?;
                        if self.store.person(kept.as_str()).await?.is_some() {
                            return Err(RegisterError::Store(StoreError::Duplicate {
                                what: "person",
                                key: kept.to_string(),
                            }));
                        }
                        kept
                    }
                    None => {
                        self.draw_free_pin(&record.particulars.place_of_birth, &record.particulars)
                            .await?
                    }
                };
                HeldRegistration::Import {
                    source_id: record.source_id.clone(),
                    record,
                }
            }
            _ => {
                return Err(RegisterError::Internal(
                    "only births and imports are held".into(),
                ))
            }
        };
        // Reserved as a migration reserves its PINs: nobody draws it while the case is open.
        self.store
            .reserve_import_keys(
                thabian_store::IMPORT_PERSON,
                &[thabian_store::ImportKey {
                    source_id: case_id.clone(),
                    value: registration.pin().to_string(),
                    digest: request_hash.to_owned(),
                }],
            )
            .await?;
        let case = self
            .hold_registration(
                ctx,
                registration,
                found,
                &office,
                &submission.legal_basis,
                case_id,
            )
            .await?;
        Ok(held_outcome(&case.id, false))
    }

    /// The legacy PIN an imported record keeps, checked against the profile's format.
    fn kept_pin(&self, p: &Pin) -> Result<Pin> {
        thabian_model::pin::Pin::parse(&self.profile.pin, p.as_str())
            .map_err(|e| RegisterError::Invalid(format!("PIN {p}: {e}")))
    }

    /// A PIN neither issued nor reserved.
    async fn draw_free_pin(
        &self,
        office: &str,
        particulars: &thabian_model::event::PersonParticulars,
    ) -> Result<Pin> {
        for _ in 0..MAX_ATTEMPTS {
            let pin = self.new_pin(office, particulars)?;
            if self
                .store
                .taken(thabian_store::IMPORT_PERSON, &[pin.to_string()])
                .await?
                .is_empty()
            {
                return Ok(pin);
            }
        }
        Err(RegisterError::Contention)
    }

    /// Registers a held registration under its reserved PIN, with the review decision and the
    /// decided case, in one transaction.
    pub(crate) async fn register_held(
        &self,
        ctx: &RequestContext,
        reg: &thabian_model::event::HeldRegistration,
        legal_basis: &LegalBasis,
        decision: EventPayload,
        case: Versioned<thabian_store::CaseRow>,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        use thabian_model::event::HeldRegistration;
        let (change, effective) = match reg {
            HeldRegistration::Birth { record } => (
                Change::Birth {
                    particulars: record.particulars.clone(),
                    residence: record.residence.clone(),
                    household: record.household.clone(),
                },
                record.particulars.date_of_birth,
            ),
            HeldRegistration::Import { record, .. } => (
                Change::Import {
                    pin: Some(record.pin.clone()),
                    record: Box::new(record.clone()),
                },
                record.particulars.date_of_birth,
            ),
        };
        let submission = Submission {
            change,
            effective,
            legal_basis: legal_basis.clone(),
            office: None,
            idempotency_key: None,
            target: None,
            if_match: None,
        };
        let request_hash = hex::encode(Sha256::digest(json(&submission)?.as_bytes()));
        let attached = Attached {
            pin: Some(reg.pin().clone()),
            events: vec![decision],
            cases: vec![case],
            biometrics: Vec::new(),
        };
        self.submit_attempts(ctx, &submission, now, &request_hash, attached)
            .await
    }

    pub(crate) async fn submit_attempts(
        &self,
        ctx: &RequestContext,
        submission: &Submission,
        now: DateTime<Utc>,
        request_hash: &str,
        attached: Attached,
    ) -> Result<Outcome> {
        for _ in 0..MAX_ATTEMPTS {
            match self
                .try_submit(ctx, submission, now, request_hash, &attached)
                .await
            {
                Err(RegisterError::Store(StoreError::Conflict { .. })) => continue,
                Err(RegisterError::Store(StoreError::Duplicate {
                    what: "idempotency key",
                    ..
                })) => {
                    if let Some(replay) = self.replay(submission, request_hash).await? {
                        return Ok(replay);
                    }
                }
                // A random PIN, household number or event id collided: draw again.
                Err(RegisterError::Store(StoreError::Duplicate { .. })) => continue,
                other => {
                    if other.is_ok() {
                        self.feed_notify.notify_waiters();
                    }
                    return other;
                }
            }
        }
        Err(RegisterError::Contention)
    }

    /// What an idempotency key is bound to: the official and the request.
    pub(crate) fn request_hash(
        &self,
        ctx: &RequestContext,
        submission: &Submission,
    ) -> Result<String> {
        let text = json(&(&ctx.principal.official_id, submission))?;
        Ok(hex::encode(Sha256::digest(text.as_bytes())))
    }

    pub(crate) async fn replay(
        &self,
        submission: &Submission,
        request_hash: &str,
    ) -> Result<Option<Outcome>> {
        let Some(key) = &submission.idempotency_key else {
            return Ok(None);
        };
        self.replay_key(key, request_hash).await
    }

    /// The stored answer to the request an idempotency key was first used for; an error when
    /// the key was used for another request.
    pub(crate) async fn replay_key(
        &self,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<Outcome>> {
        let Some(found) = self.store.find_idempotency(key).await? else {
            return Ok(None);
        };
        if found.request_hash != request_hash {
            return Err(RegisterError::IdempotencyKeyReused(key.to_owned()));
        }
        let mut outcome: Outcome = serde_json::from_str(&found.result).map_err(|e| {
            RegisterError::Store(StoreError::Corrupt(format!(
                "idempotency record {key}: {e}"
            )))
        })?;
        for (event, seq) in outcome.events.iter_mut().zip(&found.seqs) {
            event.seq = *seq;
            if let Some(stored) = self.store.event(*seq).await? {
                event.recorded_at = stored.recorded_at;
            }
        }
        outcome.replayed = true;
        Ok(Some(outcome))
    }

    fn new_pin(
        &self,
        province_of: &str,
        p: &thabian_model::event::PersonParticulars,
    ) -> Result<Pin> {
        self.draw_pin(province_of, p.sex, p.date_of_birth.year())
    }

    /// Draws a PIN for a person born in the province of `province_of` (the vn-12 scheme
    /// encodes it, with the century, sex and year of birth).
    pub(crate) fn draw_pin(
        &self,
        province_of: &str,
        sex: thabian_model::sex::Sex,
        birth_year: i32,
    ) -> Result<Pin> {
        let province = self.areas.province_of(province_of).map(|a| a.code.clone());
        let ctx = PinContext {
            birth_registration_province: province,
            sex: Some(sex),
            birth_year: Some(birth_year),
        };
        let mut rng = self
            .pin_rng
            .lock()
            .map_err(|_| RegisterError::Internal("the PIN generator's lock is poisoned".into()))?;
        generate_pin(&self.profile.pin, &ctx, &mut **rng).map_err(|e| {
            RegisterError::Rule(thabian_model::rules::Violation {
                code: "pin-not-issuable",
                message: e.to_string(),
            })
        })
    }

    pub(crate) fn new_household_id() -> String {
        // Opaque and random: household numbers leave the system on certificates.
        use rand::Rng;
        let mut rng = rand::rngs::OsRng;
        (0..12)
            .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
            .collect::<String>()
    }

    /// The events a person is a subject of, decoded, in commit order (up to `max_seq`).
    async fn events_of(&self, pin: &Pin, max_seq: Option<u64>) -> Result<Vec<Event>> {
        self.store
            .person_events(pin.as_str(), max_seq)
            .await?
            .iter()
            .map(decode_event)
            .collect()
    }

    pub(crate) async fn load_persons(&self, pins: &[Pin]) -> Result<HashMap<Pin, Person>> {
        let keys: Vec<String> = pins.iter().map(|p| p.to_string()).collect();
        let mut out = HashMap::new();
        for row in self.store.persons(&keys).await? {
            let p = decode_person(&row)?;
            out.insert(p.pin.clone(), p);
        }
        Ok(out)
    }

    async fn try_submit(
        &self,
        ctx: &RequestContext,
        sub: &Submission,
        now: DateTime<Utc>,
        request_hash: &str,
        attached: &Attached,
    ) -> Result<Outcome> {
        let office = sub
            .office
            .clone()
            .unwrap_or_else(|| ctx.principal.office.clone());
        let payload = match &sub.change {
            Change::Birth {
                particulars,
                residence,
                household,
            } => EventPayload::BirthRegistered(BirthRecord {
                pin: match &attached.pin {
                    Some(pin) => pin.clone(),
                    None => self.new_pin(&office, particulars)?,
                },
                particulars: particulars.clone(),
                residence: residence.clone(),
                household: household.clone(),
            }),
            Change::Import { pin, record } => {
                let mut record = (**record).clone();
                record.pin = match pin {
                    Some(p) => self.kept_pin(p)?,
                    None => {
                        self.new_pin(&record.particulars.place_of_birth, &record.particulars)?
                    }
                };
                EventPayload::RecordImported(record)
            }
            Change::CreateHousehold {
                head,
                area,
                address_lines,
            } => EventPayload::HouseholdCreated {
                household: Self::new_household_id(),
                head: head.clone(),
                area: area.clone(),
                address_lines: address_lines.clone(),
            },
            Change::Event(p) => p.clone(),
        };
        let subjects = payload.subjects();
        if let Some(target) = &sub.target {
            if !subjects.contains(target) {
                return Err(RegisterError::Invalid(format!(
                    "this event does not concern {target}"
                )));
            }
        }
        let event = Event {
            schema: EVENT_SCHEMA,
            id: uuid::Uuid::now_v7().to_string(),
            // Pending: sorts after every committed event with the same effective date.
            seq: u64::MAX,
            effective: sub.effective,
            recorded_at: String::new(),
            office,
            actor: ctx.principal.official_id.clone(),
            legal_basis: sub.legal_basis.clone(),
            idempotency_key: sub.idempotency_key.clone(),
            payload,
        };

        let mut persons = self
            .load_persons(&rules::referenced_pins(&event.payload))
            .await?;
        let more = rules::second_degree_pins(&event.payload, &persons);
        persons.extend(self.load_persons(&more).await?);
        let mut households = HashMap::new();
        if let Some(id) = event.payload.household() {
            if let Some(row) = self.store.household(id).await? {
                households.insert(id.to_owned(), decode_household(&row)?);
            }
        }

        // A freshly drawn PIN that is already issued is a collision, not an error: draw again.
        let drew_pin = attached.pin.is_none()
            && matches!(
                sub.change,
                Change::Birth { .. } | Change::Import { pin: None, .. }
            );
        if drew_pin {
            if let Some(pin) = subjects.first() {
                // Issued, or reserved by a migration in progress.
                let taken = persons.contains_key(pin)
                    || !self
                        .store
                        .taken(thabian_store::IMPORT_PERSON, &[pin.to_string()])
                        .await?
                        .is_empty();
                if taken {
                    return Err(RegisterError::Store(StoreError::Duplicate {
                        what: "person",
                        key: pin.to_string(),
                    }));
                }
            }
        }
        if let (Some(expected), Some(target)) = (sub.if_match, &sub.target) {
            let current = persons.get(target).map(|p| p.version).unwrap_or(0);
            if current != expected {
                return Err(RegisterError::VersionMismatch { expected, current });
            }
        }
        self.authorize_change(&ctx.principal, &event, &persons, &households)?;
        rules::check(
            &event,
            &RuleContext {
                today: now.date_naive(),
                profile: &self.profile,
                areas: &self.areas,
                persons: &persons,
                households: &households,
            },
        )?;

        // New projections: each subject's record is the fold of all their events plus this one.
        let mut person_writes = Vec::new();
        let mut folded: Vec<Person> = Vec::new();
        for pin in &subjects {
            let mut events = if persons.contains_key(pin) {
                self.events_of(pin, None).await?
            } else {
                Vec::new()
            };
            events.push(event.clone());
            let person = Person::fold(pin, events.iter()).ok_or_else(|| {
                RegisterError::Internal(format!("event does not create or change {pin}"))
            })?;
            person_writes.push(Versioned {
                row: self.person_row(&person)?,
                expected_version: persons.get(pin).map(|p| p.version),
            });
            folded.push(person);
        }
        let primary = folded.first();
        let mut household_writes = Vec::new();
        let mut household_area = None;
        if let Some(id) = event.payload.household() {
            let current = households.get(id).cloned();
            let expected = current.as_ref().map(|h| h.version);
            if let Some(h) = Household::apply(current, id, &event) {
                household_area = Some(h.area.clone());
                if Some(h.version) != expected {
                    household_writes.push(Versioned {
                        row: self.household_row(&h)?,
                        expected_version: expected,
                    });
                }
            }
        }

        // The event concerns every area its subjects lived in before or after it (a move is
        // news to the province of departure and to that of arrival), and the household's area.
        let mut areas: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for before in subjects.iter().filter_map(|pin| persons.get(pin)) {
            areas.extend(self.person_paths(before));
        }
        for after in &folded {
            areas.extend(self.person_paths(after));
        }
        if let Some(area) = &household_area {
            areas.insert(self.area_path(area));
        }
        if areas.is_empty() {
            areas.insert(self.area_path(&event.office));
        }
        let area_path = areas.into_iter().collect::<Vec<_>>().join(" ");
        let mut body = match serde_json::to_value(&event) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => {
                return Err(RegisterError::Internal(
                    "an event must serialize to an object".into(),
                ))
            }
            Err(e) => return Err(RegisterError::Internal(e.to_string())),
        };
        body.remove("seq");
        body.remove("recorded_at");
        let kind = event.payload.kind().to_owned();
        let subject_keys: Vec<String> = subjects.iter().map(|p| p.to_string()).collect();
        let access = subject_keys
            .iter()
            .map(|pin| AccessRecord {
                event_seq: Some(0),
                ..self.access_record(ctx, Some(pin), "change", Some(kind.clone()))
            })
            .collect();
        let mut outcome = Outcome {
            events: vec![CommittedEvent {
                seq: 0,
                id: event.id.clone(),
                kind: kind.clone(),
                recorded_at: String::new(),
            }],
            pin: subjects.first().cloned(),
            version: primary.map(|p| p.version),
            household: event.payload.household().map(str::to_owned),
            replayed: false,
            review_case: None,
            possible_duplicates: Vec::new(),
        };
        let idempotency = match &sub.idempotency_key {
            Some(key) => Some(IdempotencyRecord {
                key: key.clone(),
                request_hash: request_hash.to_owned(),
                result: json(&outcome)?,
            }),
            None => None,
        };
        let mut events = vec![NewEvent {
            id: event.id.clone(),
            kind,
            subjects: subject_keys,
            area_path: area_path.clone(),
            effective: event.effective.to_string(),
            actor: event.actor.clone(),
            office: event.office.clone(),
            idempotency_key: event.idempotency_key.clone(),
            body,
        }];
        for payload in &attached.events {
            let extra = Event {
                id: uuid::Uuid::now_v7().to_string(),
                idempotency_key: None,
                payload: payload.clone(),
                ..event.clone()
            };
            events.push(self.new_event(&extra, Vec::new(), area_path.clone())?);
        }
        let committed = self
            .committer
            .commit(WriteBatch {
                now,
                events,
                persons: person_writes,
                households: household_writes,
                cases: attached.cases.clone(),
                access,
                idempotency,
                biometrics: attached.biometrics.clone(),
            })
            .await?;
        for (out, stored) in outcome.events.iter_mut().zip(&committed) {
            out.seq = stored.seq;
            out.recorded_at = stored.recorded_at.clone();
        }
        Ok(outcome)
    }

    pub(crate) fn authorize_change(
        &self,
        principal: &Principal,
        event: &Event,
        persons: &HashMap<Pin, Person>,
        households: &HashMap<String, Household>,
    ) -> Result<()> {
        let covers = |area: &str| principal.covers_path(&self.area_path(area));
        let outside = |what: String| {
            Err(RegisterError::Forbidden(format!(
                "{what} is outside your jurisdiction"
            )))
        };
        if !covers(&event.office) {
            return outside(format!("office {}", event.office));
        }
        let current_area = |pin: &Pin| persons.get(pin).map(|p| p.jurisdiction_area().to_owned());
        match &event.payload {
            // A new record belongs to its residence, or to its place of birth when it has none.
            EventPayload::BirthRegistered(BirthRecord {
                residence,
                particulars,
                ..
            })
            | EventPayload::RecordImported(ImportedRecord {
                permanent_residence: residence,
                particulars,
                ..
            }) => {
                let area = residence
                    .as_ref()
                    .map(|r| r.area.as_str())
                    .unwrap_or(&particulars.place_of_birth);
                if !covers(area) {
                    return outside(format!("area {area}"));
                }
            }
            // A move is registered by the office of departure or of arrival.
            EventPayload::PermanentResidenceChanged { pin, residence } => {
                let from = current_area(pin).map(|a| covers(&a)).unwrap_or(false);
                if !from && !covers(&residence.area) {
                    return outside(format!("the residence of {pin}"));
                }
            }
            // A marriage or divorce is registered where one of the spouses lives.
            EventPayload::MarriageRegistered { a, b }
            | EventPayload::DivorceRegistered { a, b } => {
                let any = [a, b]
                    .into_iter()
                    .any(|p| current_area(p).map(|a| covers(&a)).unwrap_or(false));
                if !any {
                    return outside("the residence of both spouses".into());
                }
            }
            EventPayload::HouseholdCreated { area, .. } => {
                if !covers(area) {
                    return outside(format!("area {area}"));
                }
            }
            payload => {
                for pin in payload.subjects() {
                    if let Some(area) = current_area(&pin) {
                        if !covers(&area) {
                            return outside(format!("the residence of {pin}"));
                        }
                    }
                }
                if let Some(h) = payload.household().and_then(|id| households.get(id)) {
                    if !covers(&h.area) {
                        return outside(format!("household {}", h.id));
                    }
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ queries

    pub(crate) async fn readable_person(&self, ctx: &RequestContext, pin: &Pin) -> Result<Person> {
        ctx.principal.require(Permission::ReadPerson)?;
        self.person_in_jurisdiction(ctx, pin).await
    }

    /// The stored record of `pin`, when the official's jurisdiction covers the person (no
    /// permission checked: the caller does).
    pub(crate) async fn person_in_jurisdiction(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
    ) -> Result<Person> {
        let row = self
            .store
            .person(pin.as_str())
            .await?
            .ok_or_else(|| RegisterError::NotFound(format!("no person with PIN {pin}")))?;
        if !ctx.principal.covers_path(&row.residence_path) {
            return Err(RegisterError::Forbidden(format!(
                "{pin} is outside your jurisdiction"
            )));
        }
        decode_person(&row)
    }

    /// A person's record: current, as it was on a date, or as the register knew it at a moment.
    pub async fn person(&self, ctx: &RequestContext, pin: &Pin, view: View) -> Result<Person> {
        let current = self.readable_person(ctx, pin).await?;
        let person = if view.as_of.is_none() && view.known_at.is_none() {
            current
        } else {
            let max_seq = match view.known_at {
                Some(t) => Some(self.store.seq_known_at(&format_time(t)).await?),
                None => None,
            };
            let events = self.events_of(pin, max_seq).await?;
            let visible = events.iter().filter(|e| {
                view.as_of
                    .map(|d| e.effective.earliest() <= d)
                    .unwrap_or(true)
            });
            Person::fold(pin, visible).ok_or_else(|| {
                RegisterError::NotFound(format!("{pin} was not in the register at that time"))
            })?
        };
        let detail = match (view.as_of, view.known_at) {
            (None, None) => None,
            (a, k) => Some(format!(
                "as_of={} known_at={}",
                a.map(|d| d.to_string()).unwrap_or_default(),
                k.map(format_time).unwrap_or_default()
            )),
        };
        self.log_reads(vec![self.access_record(
            ctx,
            Some(pin.as_str()),
            "read",
            detail,
        )])
        .await?;
        Ok(person)
    }

    /// Every event about a person, in commit order.
    pub async fn history(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
    ) -> Result<Vec<(StoredEvent, Event)>> {
        let person = self.readable_person(ctx, pin).await?;
        // A survivor's history includes the events of the records merged into it.
        let mut stored_events = self.store.person_events(pin.as_str(), None).await?;
        for retired in &person.merged_from {
            stored_events.extend(self.store.person_events(retired.as_str(), None).await?);
        }
        stored_events.sort_by_key(|e| e.seq);
        stored_events.dedup_by_key(|e| e.seq);
        let mut out = Vec::new();
        for stored in stored_events {
            let mut event = decode_event(&stored)?;
            event.seq = stored.seq;
            event.recorded_at = stored.recorded_at.clone();
            out.push((stored, event));
        }
        self.log_reads(vec![self.access_record(
            ctx,
            Some(pin.as_str()),
            "read",
            Some("history".into()),
        )])
        .await?;
        Ok(out)
    }

    /// Parents, spouse and children. Relatives outside the reader's jurisdiction are named by PIN only.
    pub async fn relatives(&self, ctx: &RequestContext, pin: &Pin) -> Result<Relatives> {
        let person = self.readable_person(ctx, pin).await?;
        let mut wanted: Vec<String> = [
            person.father.pin(),
            person.mother.pin(),
            person.spouse.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|p| p.to_string())
        .collect();
        let children = self.store.children(pin.as_str()).await?;
        let mut rows: HashMap<String, PersonRow> = self
            .store
            .persons(&wanted)
            .await?
            .into_iter()
            .map(|r| (r.pin.clone(), r))
            .collect();
        for c in children.iter() {
            wanted.push(c.pin.clone());
            rows.insert(c.pin.clone(), c.clone());
        }
        let mut reads =
            vec![self.access_record(ctx, Some(pin.as_str()), "read", Some("relatives".into()))];
        let mut relative = |p: &Pin| -> Result<Relative> {
            let visible = match rows.get(p.as_str()) {
                Some(row) if ctx.principal.covers_path(&row.residence_path) => {
                    reads.push(self.access_record(
                        ctx,
                        Some(p.as_str()),
                        "read",
                        Some(format!("relative of {pin}")),
                    ));
                    Some(decode_person(row)?)
                }
                _ => None,
            };
            Ok(Relative {
                pin: p.clone(),
                person: visible,
            })
        };
        let mut out = Relatives {
            father: person.father.pin().map(&mut relative).transpose()?,
            mother: person.mother.pin().map(&mut relative).transpose()?,
            spouse: person.spouse.as_ref().map(&mut relative).transpose()?,
            children: Vec::new(),
        };
        for c in &children {
            out.children
                .push(relative(&Pin::from_trusted(c.pin.clone()))?);
        }
        self.log_reads(reads).await?;
        Ok(out)
    }

    pub async fn household(&self, ctx: &RequestContext, id: &str) -> Result<HouseholdView> {
        ctx.principal.require(Permission::ReadPerson)?;
        let row = self
            .store
            .household(id)
            .await?
            .ok_or_else(|| RegisterError::NotFound(format!("no household {id}")))?;
        if !ctx.principal.covers_path(&row.area_path) {
            return Err(RegisterError::Forbidden(format!(
                "household {id} is outside your jurisdiction"
            )));
        }
        let household = decode_household(&row)?;
        let members: Vec<Person> = self
            .store
            .household_members(id)
            .await?
            .iter()
            .map(decode_person)
            .collect::<Result<_>>()?;
        let reads = members
            .iter()
            .map(|m| {
                self.access_record(
                    ctx,
                    Some(m.pin.as_str()),
                    "read",
                    Some(format!("household {id}")),
                )
            })
            .collect();
        self.log_reads(reads).await?;
        Ok(HouseholdView { household, members })
    }

    /// Who read or changed a person's data.
    pub async fn access_for_person(
        &self,
        ctx: &RequestContext,
        pin: &Pin,
        limit: u32,
    ) -> Result<Vec<AccessRecord>> {
        ctx.principal.require(Permission::ReadAccessLog)?;
        Ok(self
            .store
            .access_for_person(pin.as_str(), limit.clamp(1, 10_000))
            .await?)
    }

    // ------------------------------------------------------------------ the change feed

    /// Events after a cursor, in commit order; waits up to `wait` for the first one.
    pub async fn feed(
        &self,
        ctx: &RequestContext,
        after: u64,
        kinds: Vec<String>,
        area: Option<String>,
        limit: u32,
        wait: std::time::Duration,
    ) -> Result<FeedPage> {
        ctx.principal.require(Permission::ReadFeed)?;
        for kind in &kinds {
            if !EventPayload::KINDS.contains(&kind.as_str()) {
                return Err(RegisterError::Invalid(format!(
                    "unknown event kind {kind:?}"
                )));
            }
        }
        let area_prefix = match &area {
            Some(code) => {
                let path = self.areas.path(code).ok_or_else(|| {
                    RegisterError::Invalid(format!("unknown admin area {code:?}"))
                })?;
                if !ctx.principal.covers_path(&path) {
                    return Err(RegisterError::Forbidden(format!(
                        "area {code} is outside your jurisdiction"
                    )));
                }
                Some(path)
            }
            None if ctx.principal.jurisdiction_path != "/" => {
                Some(ctx.principal.jurisdiction_path.clone())
            }
            None => None,
        };
        let filter = FeedFilter { kinds, area_prefix };
        let limit = limit.clamp(1, 1000);
        let deadline = tokio::time::Instant::now() + wait.min(std::time::Duration::from_secs(60));
        let events = loop {
            // Register interest before querying so a commit in between is not missed.
            let notified = self.feed_notify.notified();
            let events = self.store.events_after(after, limit, &filter).await?;
            if !events.is_empty() || tokio::time::Instant::now() >= deadline {
                break events;
            }
            // Other nodes' commits do not notify this one: poll as well.
            let poll = tokio::time::Instant::now() + std::time::Duration::from_millis(200);
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(poll.min(deadline)) => {}
            }
        };
        let next = events.last().map(|e| e.seq).unwrap_or(after);
        let mut out = Vec::with_capacity(events.len());
        let mut reads = Vec::new();
        for stored in events {
            let mut event = decode_event(&stored)?;
            event.seq = stored.seq;
            event.recorded_at = stored.recorded_at.clone();
            for pin in &stored.subjects {
                reads.push(self.access_record(
                    ctx,
                    Some(pin),
                    "feed",
                    Some(format!("event {}", stored.seq)),
                ));
            }
            out.push((stored, event));
        }
        self.log_reads(reads).await?;
        Ok(FeedPage { events: out, next })
    }
}

/// What `rebuild` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub persons: u64,
    pub households: u64,
    pub review_cases: u64,
}

impl Register {
    /// Drops the projections and recomputes them from the event log, with the same fold the
    /// write path uses, so the result is identical to what was there.
    pub async fn rebuild(&self) -> Result<RebuildReport> {
        self.store.clear_projections().await?;
        let mut report = RebuildReport::default();
        let mut after = String::new();
        loop {
            let pins = self.store.subjects_after(&after, 500).await?;
            let Some(last) = pins.last() else { break };
            after = last.clone();
            let mut rows = Vec::with_capacity(pins.len());
            for pin in pins {
                let pin = Pin::from_trusted(pin);
                let events = self.events_of(&pin, None).await?;
                if let Some(person) = Person::fold(&pin, events.iter()) {
                    rows.push(self.person_row(&person)?);
                }
            }
            report.persons += rows.len() as u64;
            self.store.put_projections(&rows, &[]).await?;
        }
        self.store.index_staged_keys().await?;
        let mut households: std::collections::BTreeMap<String, Household> = Default::default();
        let mut cases = crate::dedup::CaseFold::default();
        let mut cursor = 0;
        loop {
            let events = self
                .store
                .events_after(cursor, 2000, &FeedFilter::default())
                .await?;
            let Some(last) = events.last() else { break };
            cursor = last.seq;
            for stored in &events {
                let mut event = decode_event(stored)?;
                event.seq = stored.seq;
                cases.apply(&event, stored);
                if let Some(id) = event.payload.household().map(str::to_owned) {
                    let current = households.remove(&id);
                    if let Some(h) = Household::apply(current, &id, &event) {
                        households.insert(id, h);
                    }
                }
            }
        }
        let rows: Vec<HouseholdRow> = households
            .values()
            .map(|h| self.household_row(h))
            .collect::<Result<_>>()?;
        report.households = rows.len() as u64;
        for chunk in rows.chunks(500) {
            self.store.put_projections(&[], chunk).await?;
        }
        let rows = cases.rows(self)?;
        report.review_cases = rows.len() as u64;
        for chunk in rows.chunks(500) {
            self.store.put_review_cases(chunk).await?;
        }
        Ok(report)
    }
}
