//! Life events: the source of truth of the register.
//!
//! An [`Event`] is what is stored (as canonical JSON, hashed into the Merkle tree). Its payload is
//! versioned by `schema`: a new shape gets a new version and old events stay readable.
use crate::date::PartialDate;
use crate::person::{Membership, Names, ParentRef, Relationship, Residence, Status};
use crate::pin::Pin;
use crate::sex::Sex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The payload schema version written by this code.
pub const EVENT_SCHEMA: u32 = 1;

/// The legal act and document under which an event is registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    /// The law or decree, e.g. "Civil Status Law 2014, art. 16".
    pub act: String,
    /// The reference of the supporting document (birth notification, court decision, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_ref: Option<String>,
}

/// A stored event. `seq` and `recorded_at` are assigned by the store's sequencer at commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub schema: u32,
    /// UUIDv7, unique.
    pub id: String,
    /// Commit position (0 before commit).
    #[serde(default)]
    pub seq: u64,
    /// Valid time: when it happened.
    pub effective: PartialDate,
    /// Transaction time: when the register recorded it (RFC 3339 UTC), set at commit.
    #[serde(default)]
    pub recorded_at: String,
    /// Registering office (admin-area code).
    pub office: String,
    /// The official who registered it.
    pub actor: String,
    pub legal_basis: LegalBasis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub payload: EventPayload,
}

/// The particulars fixed at birth (or brought by an imported record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonParticulars {
    pub names: Names,
    pub sex: Sex,
    pub date_of_birth: PartialDate,
    /// Admin-area code.
    pub place_of_birth: String,
    pub nationalities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethnicity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub religion: Option<String>,
    pub father: ParentRef,
    pub mother: ParentRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BirthRecord {
    pub pin: Pin,
    pub particulars: PersonParticulars,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence: Option<Residence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<Membership>,
}

/// An existing record brought in from a legacy register, with its current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedRecord {
    pub pin: Pin,
    pub particulars: PersonParticulars,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spouse: Option<Pin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permanent_residence: Option<Residence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_residence: Option<Residence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<Membership>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_death: Option<PartialDate>,
    /// The record's id in the source system (makes re-imports idempotent).
    pub source_id: String,
}

/// Fields a correction may set; absent fields are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Corrections {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Names>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<PartialDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place_of_birth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nationalities: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethnicity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub religion: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub father: Option<ParentRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mother: Option<ParentRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_death: Option<PartialDate>,
}

impl Corrections {
    pub fn is_empty(&self) -> bool {
        self == &Corrections::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventPayload {
    BirthRegistered(BirthRecord),
    RecordImported(ImportedRecord),
    DeathRecorded {
        pin: Pin,
        date_of_death: PartialDate,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        place_of_death: Option<String>,
    },
    MarriageRegistered {
        a: Pin,
        b: Pin,
    },
    DivorceRegistered {
        a: Pin,
        b: Pin,
    },
    PermanentResidenceChanged {
        pin: Pin,
        residence: Residence,
    },
    TemporaryResidenceStarted {
        pin: Pin,
        residence: Residence,
    },
    TemporaryResidenceEnded {
        pin: Pin,
    },
    HouseholdCreated {
        household: String,
        head: Pin,
        area: String,
        #[serde(default)]
        address_lines: Vec<String>,
    },
    HouseholdJoined {
        household: String,
        pin: Pin,
        relationship: Relationship,
    },
    HouseholdLeft {
        household: String,
        pin: Pin,
    },
    HouseholdHeadChanged {
        household: String,
        new_head: Pin,
        /// Every member's relationship to the new head.
        relationships: BTreeMap<Pin, Relationship>,
    },
    NameChanged {
        pin: Pin,
        names: Names,
    },
    ParticularsCorrected {
        pin: Pin,
        corrections: Corrections,
    },
    AdoptionRegistered {
        pin: Pin,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        father: Option<ParentRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mother: Option<ParentRef>,
    },
    NationalityAcquired {
        pin: Pin,
        nationality: String,
    },
    NationalityLost {
        pin: Pin,
        nationality: String,
    },
    /// Declared missing, emigrated, or back to living (returned, found).
    StatusChanged {
        pin: Pin,
        status: Status,
    },
    /// Two records found to be the same person: `retired` is retired and points to `survivor`
    /// forever; its events stay in the log and show in the survivor's history.
    RecordsMerged {
        survivor: Pin,
        retired: Pin,
    },
    /// A merge reversed: `retired` is a record of its own again.
    RecordsUnmerged {
        survivor: Pin,
        retired: Pin,
    },
    /// A registration held for review because it is likely a duplicate of registered persons.
    /// Concerns no person's record yet: the held person is registered only if a reviewer
    /// decides they are someone new.
    DuplicateHeld {
        case: String,
        registration: Box<HeldRegistration>,
        candidates: Vec<DuplicateCandidate>,
    },
    /// Two registered records found by the whole-register duplicate pass, queued for review.
    DuplicatePairFound {
        case: String,
        candidates: Vec<DuplicateCandidate>,
    },
    /// A reviewer's decision on a review case, with the reason.
    DuplicateReviewed {
        case: String,
        decision: ReviewDecision,
        reason: String,
    },
    /// A step in the life of an identity card ([`crate::card`]). Its kind is `card_<action>`.
    Card(crate::card::CardEvent),
}

/// What a held registration would have registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HeldRegistration {
    Birth {
        record: BirthRecord,
    },
    Import {
        source_id: String,
        record: ImportedRecord,
    },
}

impl HeldRegistration {
    pub fn pin(&self) -> &Pin {
        match self {
            HeldRegistration::Birth { record } => &record.pin,
            HeldRegistration::Import { record, .. } => &record.pin,
        }
    }
}

/// A registered person a record resembles, with the record-linkage score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateCandidate {
    pub pin: Pin,
    /// Posterior probability that both records are the same person.
    pub probability: f64,
    /// Fellegi–Sunter weight (sum of log2 m/u over the fields).
    pub weight: f64,
}

// Scores are finite numbers the register computed; equality on them is only used by tests.
impl Eq for DuplicateCandidate {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// The records are the same person (for a held registration: it is not registered).
    SamePerson,
    /// Different people (for a held registration: it is registered now).
    DifferentPeople,
}

impl EventPayload {
    /// The stable kind name (the `type` tag), used by the change feed's filter.
    pub fn kind(&self) -> &'static str {
        match self {
            EventPayload::BirthRegistered(_) => "birth_registered",
            EventPayload::RecordImported(_) => "record_imported",
            EventPayload::DeathRecorded { .. } => "death_recorded",
            EventPayload::MarriageRegistered { .. } => "marriage_registered",
            EventPayload::DivorceRegistered { .. } => "divorce_registered",
            EventPayload::PermanentResidenceChanged { .. } => "permanent_residence_changed",
            EventPayload::TemporaryResidenceStarted { .. } => "temporary_residence_started",
            EventPayload::TemporaryResidenceEnded { .. } => "temporary_residence_ended",
            EventPayload::HouseholdCreated { .. } => "household_created",
            EventPayload::HouseholdJoined { .. } => "household_joined",
            EventPayload::HouseholdLeft { .. } => "household_left",
            EventPayload::HouseholdHeadChanged { .. } => "household_head_changed",
            EventPayload::NameChanged { .. } => "name_changed",
            EventPayload::ParticularsCorrected { .. } => "particulars_corrected",
            EventPayload::AdoptionRegistered { .. } => "adoption_registered",
            EventPayload::NationalityAcquired { .. } => "nationality_acquired",
            EventPayload::NationalityLost { .. } => "nationality_lost",
            EventPayload::StatusChanged { .. } => "status_changed",
            EventPayload::RecordsMerged { .. } => "records_merged",
            EventPayload::RecordsUnmerged { .. } => "records_unmerged",
            EventPayload::DuplicateHeld { .. } => "duplicate_held",
            EventPayload::DuplicatePairFound { .. } => "duplicate_pair_found",
            EventPayload::DuplicateReviewed { .. } => "duplicate_reviewed",
            EventPayload::Card(c) => c.change.kind(),
        }
    }

    /// Every kind, for validating feed filters.
    pub const KINDS: &'static [&'static str] = &[
        "birth_registered",
        "record_imported",
        "death_recorded",
        "marriage_registered",
        "divorce_registered",
        "permanent_residence_changed",
        "temporary_residence_started",
        "temporary_residence_ended",
        "household_created",
        "household_joined",
        "household_left",
        "household_head_changed",
        "name_changed",
        "particulars_corrected",
        "adoption_registered",
        "nationality_acquired",
        "nationality_lost",
        "status_changed",
        "records_merged",
        "records_unmerged",
        "duplicate_held",
        "duplicate_pair_found",
        "duplicate_reviewed",
        "card_applied",
        "card_approved",
        "card_rejected",
        "card_batched",
        "card_personalised",
        "card_issued",
        "card_activated",
        "card_suspended",
        "card_reinstated",
        "card_reported_lost",
        "card_reported_stolen",
        "card_revoked",
        "card_expired",
    ];

    /// The persons whose records this event changes, primary subject first.
    pub fn subjects(&self) -> Vec<Pin> {
        match self {
            EventPayload::BirthRegistered(b) => vec![b.pin.clone()],
            EventPayload::RecordImported(r) => vec![r.pin.clone()],
            EventPayload::MarriageRegistered { a, b }
            | EventPayload::DivorceRegistered { a, b } => {
                vec![a.clone(), b.clone()]
            }
            EventPayload::HouseholdCreated { head, .. } => vec![head.clone()],
            EventPayload::HouseholdHeadChanged {
                new_head,
                relationships,
                ..
            } => {
                let mut v = vec![new_head.clone()];
                v.extend(relationships.keys().filter(|p| *p != new_head).cloned());
                v
            }
            EventPayload::DeathRecorded { pin, .. }
            | EventPayload::PermanentResidenceChanged { pin, .. }
            | EventPayload::TemporaryResidenceStarted { pin, .. }
            | EventPayload::TemporaryResidenceEnded { pin }
            | EventPayload::HouseholdJoined { pin, .. }
            | EventPayload::HouseholdLeft { pin, .. }
            | EventPayload::NameChanged { pin, .. }
            | EventPayload::ParticularsCorrected { pin, .. }
            | EventPayload::AdoptionRegistered { pin, .. }
            | EventPayload::NationalityAcquired { pin, .. }
            | EventPayload::NationalityLost { pin, .. }
            | EventPayload::StatusChanged { pin, .. } => vec![pin.clone()],
            EventPayload::Card(c) => vec![c.pin.clone()],
            EventPayload::RecordsMerged { survivor, retired }
            | EventPayload::RecordsUnmerged { survivor, retired } => {
                vec![survivor.clone(), retired.clone()]
            }
            EventPayload::DuplicateHeld { .. }
            | EventPayload::DuplicatePairFound { .. }
            | EventPayload::DuplicateReviewed { .. } => Vec::new(),
        }
    }

    /// The household this event changes, if any.
    pub fn household(&self) -> Option<&str> {
        match self {
            EventPayload::HouseholdCreated { household, .. }
            | EventPayload::HouseholdJoined { household, .. }
            | EventPayload::HouseholdLeft { household, .. }
            | EventPayload::HouseholdHeadChanged { household, .. } => Some(household),
            EventPayload::BirthRegistered(b) => b.household.as_ref().map(|m| m.household.as_str()),
            EventPayload::RecordImported(r) => r.household.as_ref().map(|m| m.household.as_str()),
            _ => None,
        }
    }

    /// Whether the event creates the record of its primary subject.
    pub fn creates_person(&self) -> bool {
        matches!(
            self,
            EventPayload::BirthRegistered(_) | EventPayload::RecordImported(_)
        )
    }
}
