//! Wire types: the only shapes clients see. Domain types are converted at this edge, so the
//! stored encoding can evolve without breaking clients (and the other way round).
//!
//! Sub-records whose JSON shape is identical to the domain's (names, parents, residences,
//! corrections) are converted through `serde_json::Value`; the API tests pin those shapes.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A name in one script.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 200)]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 200)]
    pub middle: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub given: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Names {
    /// In the national script (Lao script for Laos, Vietnamese for Vietnam).
    pub national: PersonName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latin: Option<PersonName>,
}

/// A parent: registered (by PIN), unknown, or described.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ParentRef {
    Registered {
        pin: String,
    },
    Unknown,
    Described {
        name: String,
        /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        date_of_birth: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nationality: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Residence {
    /// Admin-area code.
    pub area: String,
    #[serde(default)]
    pub address_lines: Vec<String>,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub since: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Head,
    Spouse,
    Child,
    Parent,
    Grandchild,
    Grandparent,
    Sibling,
    OtherRelative,
    NonRelative,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    pub household: String,
    pub relationship: Relationship,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
    Unknown,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Living,
    Deceased,
    Missing,
    Emigrated,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    /// The law or decree.
    pub act: String,
    /// The supporting document's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_ref: Option<String>,
}

/// Fields common to every registration request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Particulars {
    pub names: Names,
    pub sex: Sex,
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// Admin-area code.
    pub place_of_birth: String,
    /// ISO 3166-1 alpha-3 codes; defaults to the profile's nationality.
    #[serde(default)]
    pub nationalities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethnicity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub religion: Option<String>,
    pub father: ParentRef,
    pub mother: ParentRef,
}

/// `POST /v1/births`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BirthRequest {
    #[serde(flatten)]
    pub particulars: Particulars,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence: Option<Residence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<Membership>,
    pub legal_basis: LegalBasis,
    /// Registering office; defaults to the official's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
}

/// `POST /v1/imports`: an existing record from a legacy register.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportRequest {
    /// Keep this PIN (validated); omitted: the register issues one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    pub source_id: String,
    #[serde(flatten)]
    pub particulars: Particulars,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spouse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permanent_residence: Option<Residence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temporary_residence: Option<Residence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<Membership>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_death: Option<String>,
    /// When the record is taken to start (valid time); `YYYY-MM-DD`.
    pub effective: String,
    pub legal_basis: LegalBasis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
}

/// `POST /v1/households`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HouseholdRequest {
    pub head: String,
    pub area: String,
    #[serde(default)]
    pub address_lines: Vec<String>,
    /// `YYYY-MM-DD`
    pub effective: String,
    pub legal_basis: LegalBasis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Corrections {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Names>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
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
    pub date_of_death: Option<String>,
}

/// The change, for the person named in the URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventRequest {
    /// The record `retired` is the same person as this one: its PIN is retired and points here
    /// forever; its events show in this person's history. Supervisors only.
    RecordsMerged {
        retired: String,
    },
    /// Reverses a merge of `retired` into this record.
    RecordsUnmerged {
        retired: String,
    },
    /// The date of death is the effective date.
    DeathRecorded {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        place_of_death: Option<String>,
    },
    MarriageRegistered {
        spouse: String,
    },
    DivorceRegistered {
        spouse: String,
    },
    /// Effective from the effective date.
    PermanentResidenceChanged {
        area: String,
        #[serde(default)]
        address_lines: Vec<String>,
    },
    TemporaryResidenceStarted {
        area: String,
        #[serde(default)]
        address_lines: Vec<String>,
    },
    TemporaryResidenceEnded {},
    HouseholdJoined {
        household: String,
        relationship: Relationship,
    },
    HouseholdLeft {
        household: String,
    },
    /// The person in the URL becomes the head; every member's new relationship to them.
    HouseholdHeadChanged {
        household: String,
        relationships: BTreeMap<String, Relationship>,
    },
    NameChanged {
        names: Names,
    },
    ParticularsCorrected {
        corrections: Box<Corrections>,
    },
    AdoptionRegistered {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        father: Option<ParentRef>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mother: Option<ParentRef>,
    },
    NationalityAcquired {
        nationality: String,
    },
    NationalityLost {
        nationality: String,
    },
    StatusChanged {
        status: Status,
    },
}

/// `POST /v1/persons/{pin}/events` (send `If-Match` with the person's ETag).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSubmission {
    /// Valid time: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    pub effective: String,
    pub legal_basis: LegalBasis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<String>,
    pub event: EventRequest,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommittedEvent {
    /// Commit position in the log (the change-feed cursor).
    pub seq: u64,
    pub id: String,
    pub kind: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChangeResult {
    pub events: Vec<CommittedEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<String>,
    /// True when this answers a repeated submission (same `Idempotency-Key`).
    pub replayed: bool,
    /// Set (with status 202) when the registration is held for review as a likely duplicate:
    /// nothing was registered yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_case: Option<String>,
    /// Registered persons the record resembles (held: the likely duplicates; registered: a
    /// warning about possible ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub possible_duplicates: Vec<DuplicateCandidate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DuplicateCandidate {
    pub pin: String,
    /// Posterior probability (Fellegi–Sunter) that both records are the same person.
    pub probability: f64,
    /// Fellegi–Sunter weight: sum over the fields of log2(m/u).
    pub weight: f64,
    /// `likely` or `possible`.
    pub verdict: String,
}

/// `GET /v1/persons/search` query parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Any script, any part order, with or without diacritics.
    pub name: Option<String>,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub date_of_birth: Option<String>,
    /// ± years around the year of birth (0 to 10).
    pub year_window: Option<u8>,
    /// `male`, `female` or `unknown`.
    pub sex: Option<String>,
    /// Admin-area code.
    pub place_of_birth: Option<String>,
    /// Admin-area code of the residence.
    pub residence: Option<String>,
    pub father_name: Option<String>,
    pub mother_name: Option<String>,
    pub offset: Option<u32>,
    /// 1 to 100 (default 20).
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FieldMatch {
    /// `given`, `family`, `middle`, `date_of_birth`, `sex`, `place_of_birth`, `residence`, `father`, `mother`, `name`.
    pub field: String,
    /// `exact`, `phonetic`, `similar`, `close`, `disagree`, `missing`, ...
    pub level: String,
    pub weight: f64,
    /// In words.
    pub how: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub pin: String,
    pub score: f64,
    pub fields: Vec<FieldMatch>,
    /// Absent when the person lives outside the searcher's jurisdiction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    pub hits: Vec<SearchHit>,
    /// Hits ranked in all.
    pub total: usize,
    pub offset: u32,
    /// More persons may match than were ranked: the candidates were cut at a limit (a
    /// narrower query finds more), or the page was filled by full-name matches before the
    /// partial ones were read (a later page reads them).
    pub truncated: bool,
    /// The record-linkage model that scored the hits (`initial` before any training).
    pub model: String,
}

/// `POST /v1/review-cases/{id}/decision`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `same_person` or `different_people`.
    pub decision: String,
    pub reason: String,
    pub legal_basis: LegalBasis,
}

/// `GET /v1/review-cases` query parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseListParams {
    /// `open` (default), `decided` or `all`.
    pub status: Option<String>,
    /// The last case id of the previous page.
    pub after: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub pin: String,
    pub names: Names,
    pub sex: Sex,
    pub date_of_birth: String,
    pub place_of_birth: String,
    pub nationalities: Vec<String>,
    pub ethnicity: Option<String>,
    pub religion: Option<String>,
    pub father: ParentRef,
    pub mother: ParentRef,
    pub spouse: Option<String>,
    pub permanent_residence: Option<Residence>,
    pub temporary_residence: Option<Residence>,
    pub household: Option<Membership>,
    pub status: Status,
    pub date_of_death: Option<String>,
    pub place_of_death: Option<String>,
    /// Set when this PIN was retired by a merge: the record to use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// PINs merged into this record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// Also sent as the `ETag`; send it back in `If-Match`.
    pub version: u64,
}

/// One event, as stored and hashed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EventRecord {
    pub seq: u64,
    pub id: String,
    pub kind: String,
    pub subjects: Vec<String>,
    pub effective: String,
    pub recorded_at: String,
    pub office: String,
    pub actor: String,
    /// The canonical JSON hashed into the log: `leaf_hash = SHA-256(0x00 || canonical)`.
    pub canonical: String,
    /// Hex.
    pub leaf_hash: String,
    /// The parsed event (schema version 1).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct History {
    pub pin: String,
    pub events: Vec<EventRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Relative {
    pub pin: String,
    /// Absent when the relative is outside your jurisdiction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Person>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Relatives {
    pub father: Option<Relative>,
    pub mother: Option<Relative>,
    pub spouse: Option<Relative>,
    pub children: Vec<Relative>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HouseholdMember {
    pub pin: String,
    pub relationship: Relationship,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Household {
    pub id: String,
    pub head: Option<String>,
    pub area: String,
    pub address_lines: Vec<String>,
    pub members: Vec<HouseholdMember>,
    pub version: u64,
    /// The members' records.
    pub persons: Vec<Person>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedPage {
    pub events: Vec<EventRecord>,
    /// Pass as `after` for the next page.
    pub next: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccessEntry {
    pub id: String,
    pub at: String,
    pub official_id: String,
    pub pin: Option<String>,
    pub action: String,
    pub purpose: Option<String>,
    pub client: Option<String>,
    pub detail: Option<String>,
    pub event_seq: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Checkpoint {
    pub size: u64,
    /// Base64 (standard), as in the note.
    pub root: String,
    pub time: String,
    /// The C2SP signed note (tlog-checkpoint).
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Base64.
    pub leaf_hash: String,
    /// Base64, RFC 9162 section 2.1.3 order.
    pub hashes: Vec<String>,
    /// Base64.
    pub root: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    /// Base64, RFC 9162 section 2.1.4 order.
    pub hashes: Vec<String>,
    pub old_root: String,
    pub new_root: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogKey {
    /// The signed-note verifier key: `<name>+<key id hex>+<base64 key>`.
    pub vkey: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Registrar,
    Supervisor,
    CardOfficer,
    Auditor,
    Administrator,
    ServiceAccount,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOfficial {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// An admin-area code, or `*` for the whole country.
    pub jurisdiction: String,
    /// The office's admin-area code.
    pub office: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Official {
    pub id: String,
    pub name: String,
    pub role: String,
    pub jurisdiction: String,
    pub office: String,
    pub created_at: String,
    pub disabled_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub label: String,
    /// Lifetime in days (1 to 366).
    pub days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IssuedToken {
    pub id: String,
    /// Shown once; only its hash is stored.
    pub token: String,
    pub official_id: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub official_id: String,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:thabian:problem:<code>`
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
}

/// A biometric sample captured with a card application.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BiometricSampleIn {
    /// `image/jpeg` or `image/jp2` for the face; `iso-19794-4` (finger image) or `iso-19794-2`
    /// (minutiae) for a fingerprint.
    pub format: String,
    /// Finger position, 1 (right thumb) to 10 (left little finger), for a fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u8>,
    /// The sample's bytes, base64 (standard alphabet, padded).
    pub data: String,
}

/// `POST /v1/persons/{pin}/cards`: an application for an identity card.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardApplicationRequest {
    /// `first`, `renewal`, `replacement` or `change_of_particulars`.
    pub reason: String,
    /// The id of the card a renewal or replacement replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    pub face: BiometricSampleIn,
    #[serde(default)]
    pub fingerprints: Vec<BiometricSampleIn>,
    pub legal_basis: LegalBasis,
}

/// `POST /v1/persons/{pin}/cards/{card}/events`: a step in a card's life.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardChangeRequest {
    /// `approved`, `rejected`, `batched`, `issued`, `activated`, `suspended`, `reinstated`,
    /// `reported_lost`, `reported_stolen`, `revoked` or `expired`. (Personalisation is done by
    /// the register itself, which writes and signs the chip data.)
    pub action: String,
    /// Required for `rejected`, `suspended` and `revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Required for `batched`: the production batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    pub legal_basis: LegalBasis,
}

/// A reference to a stored biometric sample.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BiometricRefOut {
    pub id: String,
    /// SHA-256 of the sample (hex).
    pub sha256: String,
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u8>,
}

/// One card of a person.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardOut {
    pub id: String,
    pub number: String,
    /// As recorded: `applied`, `approved`, `rejected`, `in_production`, `personalised`,
    /// `issued`, `active`, `suspended`, `lost`, `stolen`, `revoked`, `expired`, `replaced`.
    pub status: String,
    /// The status today: a valid card past its date of expiry is `expired`.
    pub effective_status: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    pub applied_by: String,
    pub applied_on: String,
    pub face: BiometricRefOut,
    pub fingerprints: Vec<BiometricRefOut>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_issue: Option<String>,
    /// Absent on a card valid for life (or not yet personalised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_expiry: Option<String>,
    /// Serial number (hex) of the Document Signer certificate that signed the chip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_signer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sod_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
}

/// An accepted card application.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardApplied {
    pub card: String,
    pub number: String,
    pub result: ChangeResult,
}

/// `GET /v1/cards/{number}/status`: what a verifier's online check learns.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardStatusOut {
    pub number: String,
    /// The status today (see [`CardOut::effective_status`]).
    pub status: String,
    /// Whether a verifier may accept the card today: issued or active, and not expired (a
    /// suspended, lost, stolen or revoked card is not).
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_expiry: Option<String>,
}

/// A public document of the national PKI.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PkiDocument {
    /// `csca-<n>.crt`, `csca-<n>-link.crt`, `crl.der`, `master-list.der`; fetch it at
    /// `/v1/pki/{name}`.
    pub name: String,
    pub media_type: String,
    /// SHA-256 of the document (hex).
    pub sha256: String,
    pub updated_at: String,
}

/// `POST /v1/cards/verify`: what a verifier read from a card.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardVerifyRequest {
    /// The chip's files, base64: `EF.SOD` (required), `EF.COM`, `DG1` ... `DG16`.
    pub files: std::collections::BTreeMap<String, String>,
    /// The MRZ read from the card's face (three lines), compared with DG1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed_mrz: Option<String>,
    /// Verification time (RFC 3339); default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Also return the card's status in the register (revoked, lost, suspended ...).
    #[serde(default)]
    pub online: bool,
}

/// The result of passive authentication, check by check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardVerifyResult {
    /// No check failed (and, with `online`, the register holds the card as valid).
    pub verified: bool,
    /// Passive authentication (ICAO Doc 9303 Part 11): `checks` (each `id`, `outcome`
    /// passed / failed / warning / skipped, `detail`) and `document` (what was read).
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
    /// The register's view of the card, with `online`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_status: Option<CardStatusOut>,
    /// With `online`: whether the EF.SOD is the one the register recorded at the card's latest
    /// personalisation. `false` (and `verified` false): a package the card was personalised
    /// again after (lost or spoiled at the bureau), or one the register never recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sod_current: Option<bool>,
}
