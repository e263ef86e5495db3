//! Country profiles: everything country-specific is data, never code.
//!
//! A [`Profile`] is deserialized from JSON (`profiles/<code>.json`), validated, and then used by
//! the rest of the register: PIN scheme, name layout, civil-status rules, card rules and the
//! administrative tree. Adding a country means adding a JSON file (and, for a built-in profile,
//! one `include_str!` line in [`BUILTIN`]).
//!
//! The administrative tree ([`AdminTree`]) holds the profile's areas plus lower levels loaded from
//! CSV or JSON text by the caller ([`AdminTree::load_lower_levels`]). Hierarchy is carried by
//! explicit `parent` links, never by code prefixes: Vietnam's commune codes (`00070`) do not start
//! with their province code (`01`).
//!
//! Pure: no I/O. The caller reads files and passes their text in.
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::pin::{PinFilters, PinScheme};

/// Built-in profiles: `(code, JSON text)`. Embedded at compile time.
const BUILTIN: &[(&str, &str)] = &[
    ("la", include_str!("../../../profiles/la.json")),
    ("vn", include_str!("../../../profiles/vn.json")),
];

const BUILTIN_CODES: &[&str] = &["la", "vn"];

/// Codes of the built-in profiles, in a stable order.
pub fn builtin_codes() -> &'static [&'static str] {
    BUILTIN_CODES
}

/// Parses and validates a built-in profile. `None` if there is no built-in profile with this code.
pub fn builtin(code: &str) -> Option<Result<Profile, ProfileError>> {
    BUILTIN
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, text)| Profile::from_json(text))
}

// ---------------------------------------------------------------------------------------------
// Profile
// ---------------------------------------------------------------------------------------------

/// A country profile. JSON shape: see `profiles/la.json` and `profiles/vn.json`.
///
/// Profiles returned by [`Profile::from_json`] and [`builtin`] are validated. The fields are public
/// for reading; if you change them, call [`Profile::validate`] again before using the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short lowercase slug, e.g. `"la"`, `"vn"`.
    pub code: String,
    /// Country name (English), e.g. "Lao People's Democratic Republic".
    pub name: String,
    /// ISO 3166-1 alpha-2, e.g. `"LA"`.
    pub iso3166_alpha2: String,
    /// ISO 3166-1 alpha-3, e.g. `"LAO"`.
    pub iso3166_alpha3: String,
    /// BCP 47 language tags, most important first, e.g. `["lo"]`.
    pub languages: Vec<String>,
    /// ISO 15924 script codes used in the register, e.g. `["Laoo", "Latn"]`.
    pub scripts: Vec<String>,
    /// Issuing-state code written in the MRZ (ICAO Doc 9303), e.g. `"LAO"`.
    pub mrz_issuing_state: String,
    /// Nationality code (ICAO/ISO alpha-3) recorded for the register's own nationals.
    pub nationality_code: String,
    /// Which name parts exist and how they are displayed.
    pub name_parts: NameParts,
    /// PIN scheme and its parameters (see [`crate::pin`]).
    pub pin: PinScheme,
    /// Civil-status rules.
    pub rules: Rules,
    /// Identity-card rules.
    pub card: CardRules,
    /// Names of the administrative levels, top-down, e.g. `["province", "district", "village"]`.
    pub admin_levels: Vec<String>,
    /// Administrative areas shipped with the profile: at least the whole top level.
    pub admin_areas: Vec<AdminArea>,
    /// Former top-level codes still meaningful in identifiers (Vietnam: the 63 pre-2025 province
    /// codes, which stay valid inside PINs). Empty for most countries.
    #[serde(default)]
    pub former_province_codes: Vec<FormerArea>,
}

/// One name part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NamePart {
    Family,
    Middle,
    Given,
}

/// Name layout. Laos: `parts` `["given","family"]`, displayed given first. Vietnam:
/// `["family","middle","given"]`, displayed in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameParts {
    /// The parts a name record has, in data-entry order.
    pub parts: Vec<NamePart>,
    /// The order in which the parts are displayed; a permutation of `parts`.
    pub display_order: Vec<NamePart>,
    /// ISO 15924 script of names in the national script (`"Laoo"`, `"Latn"`); one of `scripts`.
    pub national_script: String,
    /// Whether a Latin-script form of each name is required in addition to the national form
    /// (needed when the national script is not Latin, e.g. for the MRZ).
    pub latin_required: bool,
}

/// Civil-status rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// A parent must be at least this old at the child's birth (plausibility check).
    pub min_parent_age_years: u8,
    /// Minimum age at marriage.
    pub marriage_min_age: MarriageMinAge,
    /// Whether a person may have more than one spouse at a time.
    pub allow_multiple_spouses: bool,
}

/// Minimum marriage age by sex, in completed years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarriageMinAge {
    pub male: u8,
    pub female: u8,
}

/// Identity-card rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardRules {
    /// ICAO document code of the card (TD1), e.g. `"ID"`.
    pub document_code: String,
    /// How card numbers are formed.
    pub number: CardNumberScheme,
    /// How the card number goes into the MRZ document-number field.
    pub mrz_document_number: MrzDocumentNumber,
    /// How long a card is valid.
    pub validity: CardValidity,
}

/// How card numbers are formed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CardNumberScheme {
    /// The card number is the holder's PIN (Vietnam).
    Pin,
    /// A serial number per card: `prefix` followed by digits, `length` characters in total.
    Series { prefix: String, length: u8 },
}

/// Placement of the card number in the MRZ document-number field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MrzDocumentNumber {
    /// Doc 9303 rule: the whole number; numbers longer than 9 characters overflow into optional
    /// data 1.
    Full,
    /// Vietnam's chip card: the last 9 characters in the document-number field and the full number
    /// at the start of optional data 1.
    #[serde(rename = "last-9-full-in-optional-data")]
    Last9FullInOptionalData,
}

/// Card validity rules, as data. Ages and terms are in whole years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CardValidity {
    /// Fixed terms (Laos): the first card is valid `first_term_years`, renewals
    /// `renewal_term_years`; a card issued at or after `lifetime_from_age` does not expire.
    Term {
        /// Age from which holding a card is mandatory.
        mandatory_from_age: u8,
        first_term_years: u8,
        renewal_term_years: u8,
        #[serde(default)]
        lifetime_from_age: Option<u8>,
    },
    /// Age milestones (Vietnam): a card expires when the holder reaches the next age in
    /// `renewal_ages`; a card issued within `grace_years` before a milestone stays valid until the
    /// milestone after it; a card issued at or after `lifetime_from_age` does not expire.
    AgeMilestones {
        /// Age from which holding a card is mandatory.
        mandatory_from_age: u8,
        /// Strictly increasing.
        renewal_ages: Vec<u8>,
        #[serde(default)]
        grace_years: u8,
        #[serde(default)]
        lifetime_from_age: Option<u8>,
    },
}

/// A former top-level area whose code can still appear in identifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormerArea {
    pub code: String,
    pub name: String,
    pub name_latin: String,
    /// Code of the current top-level area that took it over.
    pub successor: String,
}

/// An administrative area.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminArea {
    /// Official code, unique in the whole tree. ASCII letters, digits, `-` and `_` only (so that
    /// [`AdminTree::path`] is unambiguous).
    pub code: String,
    /// Name in the national script (NFC).
    pub name: String,
    /// Name in Latin script.
    pub name_latin: String,
    /// One of the profile's `admin_levels`.
    pub level: String,
    /// Code of the parent area; `None` exactly for the top level.
    #[serde(default)]
    pub parent: Option<String>,
    /// ISO 3166-2 code, where one exists (top level only in practice).
    #[serde(default)]
    pub iso3166_2: Option<String>,
}

/// Errors loading a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The text is not valid JSON for a profile (syntax, unknown or missing field, bad value).
    #[error("profile JSON: {0}")]
    Json(String),
    /// The profile parsed but is inconsistent; every problem found is listed.
    #[error("invalid profile: {}", .0.join("; "))]
    Invalid(Vec<String>),
}

impl Profile {
    /// Parses and validates a profile.
    pub fn from_json(text: &str) -> Result<Profile, ProfileError> {
        let mut profile: Profile =
            serde_json::from_str(text).map_err(|e| ProfileError::Json(e.to_string()))?;
        for area in &mut profile.admin_areas {
            area.name = area.name.nfc().collect();
            area.name_latin = area.name_latin.nfc().collect();
        }
        for area in &mut profile.former_province_codes {
            area.name = area.name.nfc().collect();
        }
        profile.validate()?;
        Ok(profile)
    }

    /// Checks the profile's consistency; lists every problem found.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let mut p = Vec::new();
        if !is_slug(&self.code) {
            p.push(format!("code {:?}: expected a lowercase slug", self.code));
        }
        if self.name.trim().is_empty() {
            p.push("name is empty".to_owned());
        }
        if !is_upper_alpha(&self.iso3166_alpha2, 2) {
            p.push(format!(
                "iso3166_alpha2 {:?}: expected 2 letters A-Z",
                self.iso3166_alpha2
            ));
        }
        if !is_upper_alpha(&self.iso3166_alpha3, 3) {
            p.push(format!(
                "iso3166_alpha3 {:?}: expected 3 letters A-Z",
                self.iso3166_alpha3
            ));
        }
        for (field, value) in [
            ("mrz_issuing_state", &self.mrz_issuing_state),
            ("nationality_code", &self.nationality_code),
        ] {
            if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_uppercase() || b == b'<') {
                p.push(format!(
                    "{field} {value:?}: expected 3 MRZ characters A-Z or <"
                ));
            }
        }
        if self.languages.is_empty() {
            p.push("languages is empty".to_owned());
        }
        for tag in &self.languages {
            if !is_language_tag(tag) {
                p.push(format!("languages: {tag:?} is not a BCP 47 tag"));
            }
        }
        if self.scripts.is_empty() {
            p.push("scripts is empty".to_owned());
        }
        for script in &self.scripts {
            if !is_script_code(script) {
                p.push(format!(
                    "scripts: {script:?} is not an ISO 15924 code (e.g. Latn)"
                ));
            }
        }
        self.validate_name_parts(&mut p);
        self.validate_pin(&mut p);
        self.validate_rules(&mut p);
        self.validate_card(&mut p);
        self.validate_areas(&mut p);
        if p.is_empty() {
            Ok(())
        } else {
            Err(ProfileError::Invalid(p))
        }
    }

    fn validate_name_parts(&self, p: &mut Vec<String>) {
        let np = &self.name_parts;
        if np.parts.is_empty() {
            p.push("name_parts.parts is empty".to_owned());
        }
        if has_duplicates(&np.parts) {
            p.push("name_parts.parts has duplicates".to_owned());
        }
        let parts: HashSet<_> = np.parts.iter().collect();
        let display: HashSet<_> = np.display_order.iter().collect();
        if has_duplicates(&np.display_order) || parts != display {
            p.push("name_parts.display_order must be a permutation of name_parts.parts".to_owned());
        }
        if !self.scripts.contains(&np.national_script) {
            p.push(format!(
                "name_parts.national_script {:?} is not in scripts",
                np.national_script
            ));
        }
        if np.latin_required && !self.scripts.iter().any(|s| s == "Latn") {
            p.push("name_parts.latin_required needs \"Latn\" in scripts".to_owned());
        }
    }

    fn validate_pin(&self, p: &mut Vec<String>) {
        match &self.pin {
            PinScheme::RandomVerhoeff { length, filters } => {
                if !(10..=12).contains(length) {
                    p.push(format!(
                        "pin.length {length}: random-verhoeff needs 10..=12"
                    ));
                }
                validate_filters(filters, p);
            }
            PinScheme::Vn12 => {
                for area in self.admin_areas.iter().filter(|a| a.parent.is_none()) {
                    if !is_digits(&area.code, 2) {
                        p.push(format!(
                            "admin_areas {:?}: vn-12 needs two-digit top-level codes",
                            area.code
                        ));
                    }
                }
                for area in &self.former_province_codes {
                    if !is_digits(&area.code, 2) {
                        p.push(format!(
                            "former_province_codes {:?}: vn-12 needs two-digit codes",
                            area.code
                        ));
                    }
                }
            }
        }
    }

    fn validate_rules(&self, p: &mut Vec<String>) {
        let r = &self.rules;
        if !(1..=100).contains(&r.min_parent_age_years) {
            p.push(format!(
                "rules.min_parent_age_years {}: expected 1..=100",
                r.min_parent_age_years
            ));
        }
        for (sex, age) in [
            ("male", r.marriage_min_age.male),
            ("female", r.marriage_min_age.female),
        ] {
            if !(1..=100).contains(&age) {
                p.push(format!(
                    "rules.marriage_min_age.{sex} {age}: expected 1..=100"
                ));
            }
        }
    }

    fn validate_card(&self, p: &mut Vec<String>) {
        let c = &self.card;
        let dc = c.document_code.as_bytes();
        let dc_ok = dc.len() == 2
            && matches!(dc[0], b'I' | b'A' | b'C')
            && (dc[1].is_ascii_uppercase() || dc[1] == b'<');
        if !dc_ok {
            p.push(format!(
                "card.document_code {:?}: expected a TD1 code (I, A or C, then A-Z or <)",
                c.document_code
            ));
        }
        if let CardNumberScheme::Series { prefix, length } = &c.number {
            if !prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                p.push(format!("card.number.prefix {prefix:?}: only A-Z and 0-9"));
            }
            if usize::from(*length) <= prefix.len() || *length > 20 {
                p.push(format!(
                    "card.number.length {length}: must exceed the prefix length and be at most 20"
                ));
            }
        }
        match &c.validity {
            CardValidity::Term {
                mandatory_from_age,
                first_term_years,
                renewal_term_years,
                lifetime_from_age,
            } => {
                if *first_term_years == 0 || *renewal_term_years == 0 {
                    p.push("card.validity: terms must be at least one year".to_owned());
                }
                if lifetime_from_age.is_some_and(|l| l < *mandatory_from_age) {
                    p.push(
                        "card.validity.lifetime_from_age is below mandatory_from_age".to_owned(),
                    );
                }
            }
            CardValidity::AgeMilestones {
                mandatory_from_age: _,
                renewal_ages,
                grace_years: _,
                lifetime_from_age,
            } => {
                if renewal_ages.is_empty() || renewal_ages.windows(2).any(|w| w[0] >= w[1]) {
                    p.push(
                        "card.validity.renewal_ages must be non-empty and strictly increasing"
                            .to_owned(),
                    );
                }
                if let (Some(l), Some(last)) = (lifetime_from_age, renewal_ages.last()) {
                    if l < last {
                        p.push(
                            "card.validity.lifetime_from_age is below the last renewal age"
                                .to_owned(),
                        );
                    }
                }
            }
        }
    }

    fn validate_areas(&self, p: &mut Vec<String>) {
        if self.admin_levels.is_empty() {
            p.push("admin_levels is empty".to_owned());
        }
        if has_duplicates(&self.admin_levels) {
            p.push("admin_levels has duplicates".to_owned());
        }
        for level in &self.admin_levels {
            if !is_slug(level) {
                p.push(format!("admin_levels: {level:?} is not a lowercase slug"));
            }
        }
        let top = self.admin_levels.first();
        if !self.admin_areas.iter().any(|a| Some(&a.level) == top) {
            p.push("admin_areas has no top-level area".to_owned());
        }
        let mut tree = AdminTree::empty(self.admin_levels.clone());
        let records = self
            .admin_areas
            .iter()
            .enumerate()
            .map(|(i, a)| (Location::Element(i + 1), a.clone()))
            .collect();
        if let Err(e) = tree.insert_batch(records) {
            p.extend(e.errors.iter().map(|e| format!("admin_areas {e}")));
        }
        let prefix = format!("{}-", self.iso3166_alpha2);
        for area in &self.admin_areas {
            if let Some(iso) = &area.iso3166_2 {
                if !iso.starts_with(&prefix) || iso.len() <= prefix.len() {
                    p.push(format!(
                        "admin_areas {:?}: iso3166_2 {iso:?} must start with {prefix:?}",
                        area.code
                    ));
                }
            }
        }
        let mut seen = HashSet::new();
        for former in &self.former_province_codes {
            if !seen.insert(former.code.as_str()) {
                p.push(format!(
                    "former_province_codes: duplicate code {:?}",
                    former.code
                ));
            }
            let successor_ok = tree
                .get(&former.successor)
                .is_some_and(|a| a.parent.is_none());
            if !successor_ok {
                p.push(format!(
                    "former_province_codes {:?}: successor {:?} is not a current top-level area",
                    former.code, former.successor
                ));
            }
        }
    }

    /// The administrative tree of the profile's own areas (add lower levels with
    /// [`AdminTree::load_lower_levels`]).
    pub fn admin_tree(&self) -> AdminTree {
        let mut tree = AdminTree::empty(self.admin_levels.clone());
        for area in &self.admin_areas {
            tree.push(area.clone());
        }
        tree
    }

    /// The top-level areas, in profile order.
    pub fn provinces(&self) -> impl Iterator<Item = &AdminArea> {
        self.admin_areas.iter().filter(|a| a.parent.is_none())
    }
}

fn validate_filters(f: &PinFilters, p: &mut Vec<String>) {
    if f.forbidden_first_digits.iter().any(|d| *d > 9) {
        p.push("pin.filters.forbidden_first_digits: digits are 0..=9".to_owned());
    }
    let forbidden: HashSet<u8> = f.forbidden_first_digits.iter().copied().collect();
    if (0..=9).all(|d| forbidden.contains(&d)) {
        p.push("pin.filters.forbidden_first_digits forbids every digit".to_owned());
    }
    for (field, list) in [
        ("restricted_numbers", &f.restricted_numbers),
        ("cyclic_numbers", &f.cyclic_numbers),
    ] {
        for n in list {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                p.push(format!("pin.filters.{field}: {n:?} is not a digit string"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Administrative tree
// ---------------------------------------------------------------------------------------------

/// Where a rejected record was in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    /// Physical line in a CSV text, 1-based (the header is a line too).
    Line(usize),
    /// Element of a JSON array (or of a profile's `admin_areas`), 1-based.
    Element(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Element(n) => write!(f, "element {n}"),
        }
    }
}

/// What is wrong with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AreaErrorKind {
    /// The CSV header is not `code,name,name_latin,level,parent`.
    BadHeader(String),
    /// The text has no header line.
    MissingHeader,
    /// A CSV row has the wrong number of fields.
    BadFieldCount { expected: usize, found: usize },
    /// A quoted CSV field is not closed, or a quote appears inside an unquoted field.
    BadQuoting,
    /// JSON syntax or shape error.
    Json(String),
    /// A required field is empty.
    EmptyField(&'static str),
    /// The code has characters other than ASCII letters, digits, `-`, `_`.
    InvalidCode,
    /// The code already exists in the tree or earlier in the same input.
    DuplicateCode,
    /// The level is not one of the profile's levels.
    UnknownLevel(String),
    /// The parent code exists neither in the tree nor in the input.
    UnknownParent(String),
    /// A non-top-level area without a parent.
    MissingParent,
    /// A top-level area with a parent.
    UnexpectedParent,
    /// The area's level is not the level directly below its parent's.
    LevelMismatch { level: String, parent_level: String },
}

impl fmt::Display for AreaErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AreaErrorKind::BadHeader(h) => {
                write!(
                    f,
                    "header {h:?}: expected \"code,name,name_latin,level,parent\""
                )
            }
            AreaErrorKind::MissingHeader => write!(f, "no header line"),
            AreaErrorKind::BadFieldCount { expected, found } => {
                write!(f, "{found} fields, expected {expected}")
            }
            AreaErrorKind::BadQuoting => write!(f, "bad quoting"),
            AreaErrorKind::Json(e) => write!(f, "JSON: {e}"),
            AreaErrorKind::EmptyField(name) => write!(f, "field {name} is empty"),
            AreaErrorKind::InvalidCode => {
                write!(f, "code may only contain ASCII letters, digits, - and _")
            }
            AreaErrorKind::DuplicateCode => write!(f, "duplicate code"),
            AreaErrorKind::UnknownLevel(l) => write!(f, "unknown level {l:?}"),
            AreaErrorKind::UnknownParent(p) => write!(f, "unknown parent {p:?}"),
            AreaErrorKind::MissingParent => write!(f, "parent missing for a lower-level area"),
            AreaErrorKind::UnexpectedParent => write!(f, "top-level area must not have a parent"),
            AreaErrorKind::LevelMismatch {
                level,
                parent_level,
            } => write!(
                f,
                "level {level:?} is not directly below parent level {parent_level:?}"
            ),
        }
    }
}

/// One rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaError {
    pub location: Location,
    /// The record's code, when it could be read.
    pub code: Option<String>,
    pub kind: AreaErrorKind,
}

impl fmt::Display for AreaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} (code {code:?}): {}", self.location, self.kind),
            None => write!(f, "{}: {}", self.location, self.kind),
        }
    }
}

/// All records rejected by [`AdminTree::load_lower_levels`]; nothing was added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} rejected record(s): {}", .errors.len(), join_errors(.errors))]
pub struct LoadError {
    pub errors: Vec<AreaError>,
}

fn join_errors(errors: &[AreaError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Input format for [`AdminTree::load_lower_levels`].
///
/// **CSV**: UTF-8; the first line that is not blank and does not start with `#` must be the header
/// `code,name,name_latin,level,parent`. One record per line (`\n` or `\r\n`); blank lines and lines
/// starting with `#` are ignored. A field may be enclosed in double quotes, and then may contain
/// commas and `""` for a literal quote; quoted fields cannot span lines. Fields are not trimmed.
/// An empty `parent` means no parent (top level).
///
/// **JSON**: an array of objects `{"code", "name", "name_latin", "level", "parent",
/// "iso3166_2"?}`, unknown fields rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaFormat {
    Csv,
    Json,
}

const CSV_HEADER: [&str; 5] = ["code", "name", "name_latin", "level", "parent"];

/// The administrative hierarchy: areas linked to their parents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTree {
    levels: Vec<String>,
    areas: Vec<AdminArea>,
    index: HashMap<String, usize>,
}

impl AdminTree {
    fn empty(levels: Vec<String>) -> AdminTree {
        AdminTree {
            levels,
            areas: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn push(&mut self, area: AdminArea) {
        self.index.insert(area.code.clone(), self.areas.len());
        self.areas.push(area);
    }

    /// The level names, top-down.
    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    /// Number of areas.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// Whether the tree has no area.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// All areas, in insertion order (parents are not necessarily before children).
    pub fn iter(&self) -> impl Iterator<Item = &AdminArea> {
        self.areas.iter()
    }

    /// The area with this code.
    pub fn get(&self, code: &str) -> Option<&AdminArea> {
        self.index.get(code).and_then(|i| self.areas.get(*i))
    }

    /// Whether an area with this code exists.
    pub fn contains(&self, code: &str) -> bool {
        self.index.contains_key(code)
    }

    /// Direct children of an area, in insertion order.
    pub fn children(&self, code: &str) -> Vec<&AdminArea> {
        self.areas
            .iter()
            .filter(|a| a.parent.as_deref() == Some(code))
            .collect()
    }

    /// The area's ancestors, nearest first (parent, grandparent, ..., top level), excluding the
    /// area itself. `None` if the code is unknown.
    pub fn ancestors(&self, code: &str) -> Option<Vec<&AdminArea>> {
        let mut chain = self.chain(code)?;
        chain.remove(0);
        Some(chain)
    }

    /// The chain from the area itself up to its top-level ancestor. The walk is bounded by the
    /// number of levels, so a corrupted tree cannot loop.
    fn chain(&self, code: &str) -> Option<Vec<&AdminArea>> {
        let mut chain = vec![self.get(code)?];
        while let Some(parent) = chain.last().and_then(|a| a.parent.as_deref()) {
            if chain.len() > self.levels.len() {
                return None;
            }
            chain.push(self.get(parent)?);
        }
        Some(chain)
    }

    /// The top-level area containing this one (itself if it is top-level).
    pub fn province_of(&self, code: &str) -> Option<&AdminArea> {
        self.chain(code)?.last().copied()
    }

    /// Materialized ancestry path: codes from the top level down to the area itself, each
    /// followed by `/`, with a leading `/`: `"/01/0101/010105/"`. Codes cannot contain `/`, so
    /// `path(x).starts_with(path(a))` exactly when `x` is `a` or below it; in SQL,
    /// `path LIKE '/01/%'` selects province 01 and everything below it.
    pub fn path(&self, code: &str) -> Option<String> {
        let chain = self.chain(code)?;
        let mut path = String::from("/");
        for area in chain.iter().rev() {
            path.push_str(&area.code);
            path.push('/');
        }
        Some(path)
    }

    /// Whether `code` is `ancestor` or lies below it (inclusive, like the `LIKE` query above).
    /// False if either code is unknown.
    pub fn is_within(&self, code: &str, ancestor: &str) -> bool {
        self.contains(ancestor)
            && self
                .chain(code)
                .is_some_and(|chain| chain.iter().any(|a| a.code == ancestor))
    }

    /// Loads lower-level areas (or any areas) from CSV or JSON text; see [`AreaFormat`].
    ///
    /// Atomic: every record is checked (field count, quoting, empty fields, code characters,
    /// duplicates against the tree and within the input, known level, parent known in the tree or
    /// in the input, level directly below the parent's); if any record is bad, all errors are
    /// returned with their line (CSV) or element (JSON) number and nothing is added. Records may
    /// come in any order. Names are NFC-normalized. Returns the number of areas added.
    pub fn load_lower_levels(
        &mut self,
        text: &str,
        format: AreaFormat,
    ) -> Result<usize, LoadError> {
        let Parsed {
            records,
            mut errors,
            broken_codes,
        } = match format {
            AreaFormat::Csv => parse_csv(text),
            AreaFormat::Json => parse_json(text),
        };
        errors.extend(self.check_batch(&records, &broken_codes));
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.location);
            return Err(LoadError { errors });
        }
        Ok(self.add_all(records))
    }

    fn add_all(&mut self, records: Vec<(Location, AdminArea)>) -> usize {
        let added = records.len();
        for (_, area) in records {
            self.push(area);
        }
        added
    }

    /// Validates a batch against the tree and itself, then adds it; all or nothing.
    fn insert_batch(&mut self, records: Vec<(Location, AdminArea)>) -> Result<usize, LoadError> {
        let errors = self.check_batch(&records, &HashSet::new());
        if errors.is_empty() {
            Ok(self.add_all(records))
        } else {
            Err(LoadError { errors })
        }
    }

    /// Checks a batch against the tree and against itself. Parents in `broken` (rows that failed
    /// to parse, already reported) are not reported again as unknown.
    fn check_batch(
        &self,
        records: &[(Location, AdminArea)],
        broken: &HashSet<String>,
    ) -> Vec<AreaError> {
        let mut errors = Vec::new();
        // First occurrence of each new code, to resolve parents defined in the same batch.
        let mut batch: HashMap<&str, &AdminArea> = HashMap::new();
        let mut duplicate = vec![false; records.len()];
        for (i, (_, area)) in records.iter().enumerate() {
            if self.contains(&area.code) || batch.contains_key(area.code.as_str()) {
                duplicate[i] = true;
            } else {
                batch.insert(area.code.as_str(), area);
            }
        }
        let level_index = |level: &str| self.levels.iter().position(|l| l == level);
        for (i, (location, area)) in records.iter().enumerate() {
            let mut err = |kind| {
                errors.push(AreaError {
                    location: *location,
                    code: Some(area.code.clone()).filter(|c| !c.is_empty()),
                    kind,
                })
            };
            for (field, value) in [
                ("code", &area.code),
                ("name", &area.name),
                ("name_latin", &area.name_latin),
                ("level", &area.level),
            ] {
                if value.trim().is_empty() {
                    err(AreaErrorKind::EmptyField(field));
                }
            }
            if !area.code.is_empty() && !is_area_code(&area.code) {
                err(AreaErrorKind::InvalidCode);
            }
            if duplicate[i] && !area.code.is_empty() {
                err(AreaErrorKind::DuplicateCode);
            }
            let Some(level) = level_index(&area.level) else {
                if !area.level.trim().is_empty() {
                    err(AreaErrorKind::UnknownLevel(area.level.clone()));
                }
                continue;
            };
            match (level, area.parent.as_deref()) {
                (0, None) => {}
                (0, Some(_)) => err(AreaErrorKind::UnexpectedParent),
                (_, None) => err(AreaErrorKind::MissingParent),
                (_, Some(parent)) => {
                    let parent_area = self.get(parent).or_else(|| batch.get(parent).copied());
                    match parent_area {
                        None if broken.contains(parent) => {}
                        None => err(AreaErrorKind::UnknownParent(parent.to_owned())),
                        Some(p) => {
                            if level_index(&p.level).map(|l| l + 1) != Some(level) {
                                err(AreaErrorKind::LevelMismatch {
                                    level: area.level.clone(),
                                    parent_level: p.level.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
        errors
    }
}

/// A lower-level record in JSON input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonAreaRecord {
    code: String,
    name: String,
    name_latin: String,
    level: String,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    iso3166_2: Option<String>,
}

fn normalized(
    code: String,
    name: &str,
    name_latin: &str,
    level: String,
    parent: Option<String>,
    iso3166_2: Option<String>,
) -> AdminArea {
    AdminArea {
        code,
        name: name.nfc().collect(),
        name_latin: name_latin.nfc().collect(),
        level,
        parent: parent.filter(|p| !p.is_empty()),
        iso3166_2: iso3166_2.filter(|p| !p.is_empty()),
    }
}

/// Parser output: good records, errors, and the codes of rows that could not be parsed (so that
/// rows naming them as parent are not reported a second time as "unknown parent").
#[derive(Default)]
struct Parsed {
    records: Vec<(Location, AdminArea)>,
    errors: Vec<AreaError>,
    broken_codes: HashSet<String>,
}

impl Parsed {
    fn error(&mut self, location: Location, code: Option<String>, kind: AreaErrorKind) {
        if let Some(code) = &code {
            self.broken_codes.insert(code.clone());
        }
        self.errors.push(AreaError {
            location,
            code,
            kind,
        });
    }
}

fn parse_json(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let values: Vec<serde_json::Value> = match serde_json::from_str(text) {
        Ok(values) => values,
        Err(e) => {
            out.error(
                Location::Line(e.line()),
                None,
                AreaErrorKind::Json(e.to_string()),
            );
            return out;
        }
    };
    for (i, value) in values.into_iter().enumerate() {
        let location = Location::Element(i + 1);
        let code = value
            .get("code")
            .and_then(|c| c.as_str())
            .filter(|c| !c.is_empty())
            .map(ToOwned::to_owned);
        match serde_json::from_value::<JsonAreaRecord>(value) {
            Ok(r) => out.records.push((
                location,
                normalized(
                    r.code,
                    &r.name,
                    &r.name_latin,
                    r.level,
                    r.parent,
                    r.iso3166_2,
                ),
            )),
            Err(e) => out.error(location, code, AreaErrorKind::Json(e.to_string())),
        }
    }
    out
}

fn parse_csv(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut header_seen = false;
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let location = Location::Line(i + 1);
        let Some(fields) = split_csv_line(line) else {
            let code = line
                .split(',')
                .next()
                .filter(|c| !c.is_empty() && !c.contains('"'));
            out.error(
                location,
                code.map(ToOwned::to_owned),
                AreaErrorKind::BadQuoting,
            );
            if !header_seen {
                // Without a header nothing else can be read reliably.
                return out;
            }
            continue;
        };
        if !header_seen {
            header_seen = true;
            if fields != CSV_HEADER {
                out.error(location, None, AreaErrorKind::BadHeader(line.to_owned()));
                return out;
            }
            continue;
        }
        let found = fields.len();
        let code = fields.first().cloned().filter(|c| !c.is_empty());
        match <[String; 5]>::try_from(fields) {
            Ok([code, name, name_latin, level, parent]) => out.records.push((
                location,
                normalized(code, &name, &name_latin, level, Some(parent), None),
            )),
            Err(_) => out.error(
                location,
                code,
                AreaErrorKind::BadFieldCount {
                    expected: CSV_HEADER.len(),
                    found,
                },
            ),
        }
    }
    if !header_seen {
        out.error(Location::Line(1), None, AreaErrorKind::MissingHeader);
    }
    out
}

/// Splits one CSV line into fields; `None` on bad quoting (unterminated quote, a quote inside an
/// unquoted field, or text after a closing quote).
fn split_csv_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Some(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return None,
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Some(fields);
                    }
                    Some(',') => {
                        fields.push(field);
                        break;
                    }
                    Some('"') => return None,
                    Some(c) => field.push(c),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small syntax checks
// ---------------------------------------------------------------------------------------------

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_area_code(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_upper_alpha(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// Loose BCP 47 shape check: subtags of 1..=8 ASCII alphanumerics separated by `-`, the first
/// of 2..=8 letters.
fn is_language_tag(s: &str) -> bool {
    let mut subtags = s.split('-');
    let first_ok = subtags
        .next()
        .is_some_and(|t| (2..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && subtags
            .all(|t| (1..=8).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// ISO 15924 shape: four letters, the first uppercase, the others lowercase (`Latn`, `Laoo`).
fn is_script_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 4 && b[0].is_ascii_uppercase() && b[1..].iter().all(|c| c.is_ascii_lowercase())
}

fn has_duplicates<T: Eq + std::hash::Hash>(items: &[T]) -> bool {
    let mut seen = HashSet::new();
    !items.iter().all(|i| seen.insert(i))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const LA_DISTRICTS: &str = include_str!("../../../profiles/la-districts-vientiane-capital.csv");
    const VN_COMMUNES: &str = include_str!("../../../profiles/vn-communes-sample.csv");

    fn la() -> Profile {
        builtin("la").expect("built-in la").expect("la is valid")
    }

    fn vn() -> Profile {
        builtin("vn").expect("built-in vn").expect("vn is valid")
    }

    fn codes(p: &Profile) -> Vec<&str> {
        p.provinces().map(|a| a.code.as_str()).collect()
    }

    #[test]
    fn builtin_profiles_load_and_validate() {
        assert_eq!(builtin_codes(), &["la", "vn"]);
        for code in builtin_codes() {
            let p = builtin(code).unwrap().unwrap();
            assert_eq!(&p.code, code);
            p.validate().unwrap();
        }
        assert!(builtin("xx").is_none());
    }

    #[test]
    fn laos_has_the_18_lsb_provinces() {
        let p = la();
        let expected: Vec<String> = (1..=18).map(|n| format!("{n:02}")).collect();
        assert_eq!(codes(&p), expected);
        let iso: Vec<&str> = p
            .provinces()
            .map(|a| a.iso3166_2.as_deref().unwrap())
            .collect();
        assert_eq!(
            iso,
            [
                "LA-VT", "LA-PH", "LA-LM", "LA-OU", "LA-BK", "LA-LP", "LA-HO", "LA-XA", "LA-XI",
                "LA-VI", "LA-BL", "LA-KH", "LA-SV", "LA-SL", "LA-XE", "LA-CH", "LA-AT", "LA-XS"
            ]
        );
        let capital = p.admin_tree().get("01").cloned().unwrap();
        assert_eq!(capital.name_latin, "Vientiane Capital");
        assert_eq!(capital.name, "ນະຄອນຫຼວງວຽງຈັນ");
        // National-script names really are in Lao script.
        for a in p.provinces() {
            assert!(
                a.name
                    .chars()
                    .all(|c| ('\u{0E80}'..='\u{0EFF}').contains(&c)),
                "{}",
                a.name
            );
        }
        assert_eq!(p.admin_levels, ["province", "district", "village"]);
        assert_eq!(
            p.pin,
            PinScheme::RandomVerhoeff {
                length: 10,
                filters: PinFilters::default()
            }
        );
        assert_eq!(
            p.name_parts.display_order,
            [NamePart::Given, NamePart::Family]
        );
    }

    #[test]
    fn vietnam_has_the_34_provincial_units() {
        let p = vn();
        assert_eq!(
            codes(&p),
            [
                "01", "04", "08", "11", "12", "14", "15", "19", "20", "22", "24", "25", "31", "33",
                "37", "38", "40", "42", "44", "46", "48", "51", "52", "56", "66", "68", "75", "79",
                "80", "82", "86", "91", "92", "96"
            ]
        );
        let tree = p.admin_tree();
        assert_eq!(tree.len(), 34);
        assert_eq!(tree.get("79").unwrap().name, "TP. Hồ Chí Minh");
        assert_eq!(tree.get("01").unwrap().name_latin, "Ha Noi");
        assert_eq!(p.pin, PinScheme::Vn12);
        assert_eq!(
            p.rules.marriage_min_age,
            MarriageMinAge {
                male: 20,
                female: 18
            }
        );
        assert_eq!(
            p.name_parts.display_order,
            [NamePart::Family, NamePart::Middle, NamePart::Given]
        );
        assert_eq!(p.admin_levels, ["province", "commune"]);
    }

    #[test]
    fn vietnam_former_codes_cover_63_provinces_and_map_to_current_ones() {
        let p = vn();
        assert_eq!(p.former_province_codes.len(), 63);
        let former: HashSet<&str> = p
            .former_province_codes
            .iter()
            .map(|f| f.code.as_str())
            .collect();
        assert_eq!(former.len(), 63);
        // Every current code is one of the former codes (merged provinces kept one code).
        for code in codes(&p) {
            assert!(former.contains(code), "{code}");
        }
        let successor = |c: &str| {
            p.former_province_codes
                .iter()
                .find(|f| f.code == c)
                .map(|f| f.successor.as_str())
        };
        assert_eq!(successor("02"), Some("08")); // Hà Giang -> Tuyên Quang
        assert_eq!(successor("10"), Some("15")); // Lào Cai (old) -> Lào Cai (new code 15)
        assert_eq!(successor("77"), Some("79")); // Bà Rịa - Vũng Tàu -> TP. Hồ Chí Minh
    }

    #[test]
    fn path_ancestors_and_is_within() {
        let mut tree = la().admin_tree();
        tree.load_lower_levels(LA_DISTRICTS, AreaFormat::Csv)
            .unwrap();
        let villages = "code,name,name_latin,level,parent\n010105,ບ້ານ,Ban Test,village,0101\n";
        assert_eq!(
            tree.load_lower_levels(villages, AreaFormat::Csv).unwrap(),
            1
        );

        assert_eq!(tree.path("01").as_deref(), Some("/01/"));
        assert_eq!(tree.path("0101").as_deref(), Some("/01/0101/"));
        assert_eq!(tree.path("010105").as_deref(), Some("/01/0101/010105/"));
        assert_eq!(tree.path("nope"), None);

        let anc: Vec<&str> = tree
            .ancestors("010105")
            .unwrap()
            .iter()
            .map(|a| a.code.as_str())
            .collect();
        assert_eq!(anc, ["0101", "01"]);
        assert!(tree.ancestors("01").unwrap().is_empty());
        assert!(tree.ancestors("nope").is_none());

        assert!(tree.is_within("010105", "01"));
        assert!(tree.is_within("010105", "0101"));
        assert!(tree.is_within("0101", "0101"));
        assert!(!tree.is_within("01", "0101"));
        assert!(!tree.is_within("0102", "0101"));
        assert!(!tree.is_within("0101", "10"));
        assert!(!tree.is_within("nope", "01"));
        assert!(!tree.is_within("01", "nope"));

        assert_eq!(tree.province_of("010105").unwrap().code, "01");
        assert_eq!(tree.province_of("13").unwrap().code, "13");
        assert!(tree.province_of("nope").is_none());
        assert_eq!(tree.children("01").len(), 9);

        // Paths are prefix-unambiguous: "/1/" is not a prefix of "/10/...".
        let p10 = tree.path("10").unwrap();
        assert!(!p10.starts_with(&tree.path("01").unwrap()));
    }

    #[test]
    fn sample_files_load() {
        let mut la_tree = la().admin_tree();
        assert_eq!(
            la_tree
                .load_lower_levels(LA_DISTRICTS, AreaFormat::Csv)
                .unwrap(),
            9
        );
        assert_eq!(la_tree.len(), 18 + 9);
        let d = la_tree.get("0109").unwrap();
        assert_eq!(
            (d.name.as_str(), d.name_latin.as_str()),
            ("ປາກງື່ມ", "Pakngum")
        );
        assert_eq!(d.parent.as_deref(), Some("01"));

        let mut vn_tree = vn().admin_tree();
        let added = vn_tree
            .load_lower_levels(VN_COMMUNES, AreaFormat::Csv)
            .unwrap();
        assert!(added >= 5);
        // Commune codes are not prefixed by the province code; the tree still knows the province.
        assert_eq!(vn_tree.province_of("00070").unwrap().code, "01");
        assert_eq!(vn_tree.path("00070").as_deref(), Some("/01/00070/"));
        assert!(vn_tree.is_within("00070", "01"));
        // Quoted field with an embedded " - ".
        assert_eq!(
            vn_tree.get("00226").unwrap().name,
            "Phường Văn Miếu - Quốc Tử Giám"
        );
    }

    #[test]
    fn bad_rows_are_all_reported_with_line_numbers_and_nothing_is_added() {
        let mut tree = la().admin_tree();
        let before = tree.clone();
        let text = "\
# comment line
code,name,name_latin,level,parent
0101,ຈັນທະບູລີ,Chanthabuly,district,01
0101,ຊ້ຳ,Duplicate,district,01
0199,ບໍ່ມີ,Orphan,district,99
0198,ຜິດ,Bad level,county,01
0197,too,few
0196,ບ້ານ,Village under province,village,01
01 95,x,y,district,01
0194,\"unterminated,x,district,01
0193,,NoName,district,01
";
        let err = tree.load_lower_levels(text, AreaFormat::Csv).unwrap_err();
        let got: Vec<(Location, AreaErrorKind)> = err
            .errors
            .iter()
            .map(|e| (e.location, e.kind.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (Location::Line(4), AreaErrorKind::DuplicateCode),
                (Location::Line(5), AreaErrorKind::UnknownParent("99".into())),
                (
                    Location::Line(6),
                    AreaErrorKind::UnknownLevel("county".into())
                ),
                (
                    Location::Line(7),
                    AreaErrorKind::BadFieldCount {
                        expected: 5,
                        found: 3
                    }
                ),
                (
                    Location::Line(8),
                    AreaErrorKind::LevelMismatch {
                        level: "village".into(),
                        parent_level: "province".into()
                    }
                ),
                (Location::Line(9), AreaErrorKind::InvalidCode),
                (Location::Line(10), AreaErrorKind::BadQuoting),
                (Location::Line(11), AreaErrorKind::EmptyField("name")),
            ]
        );
        assert!(err
            .to_string()
            .contains("line 5 (code \"0199\"): unknown parent \"99\""));
        assert_eq!(tree, before, "nothing added");
        assert!(!tree.contains("0101"));
    }

    #[test]
    fn parse_errors_also_leave_the_tree_unchanged() {
        // Only a field-count error: the syntactically good rows must not be added either.
        let mut tree = la().admin_tree();
        let text = "code,name,name_latin,level,parent\n0101,a,b,district,01\n0102,a,b,district\n";
        let err = tree.load_lower_levels(text, AreaFormat::Csv).unwrap_err();
        assert_eq!(err.errors.len(), 1);
        assert_eq!(err.errors[0].location, Location::Line(3));
        assert_eq!(err.errors[0].code.as_deref(), Some("0102"));
        assert_eq!(tree.len(), 18);
    }

    #[test]
    fn child_of_an_unparseable_row_is_not_reported_twice() {
        let mut tree = la().admin_tree();
        let text =
            "code,name,name_latin,level,parent\n0101,a,b,district\n010101,c,d,village,0101\n";
        let err = tree.load_lower_levels(text, AreaFormat::Csv).unwrap_err();
        assert_eq!(err.errors.len(), 1, "{err}");
        assert_eq!(err.errors[0].location, Location::Line(2));
        assert_eq!(tree.len(), 18);
    }

    #[test]
    fn header_is_checked() {
        let mut tree = la().admin_tree();
        let err = tree
            .load_lower_levels(
                "code,name,level,parent\n0101,a,district,01\n",
                AreaFormat::Csv,
            )
            .unwrap_err();
        assert!(matches!(err.errors[0].kind, AreaErrorKind::BadHeader(_)));
        let err = tree
            .load_lower_levels("# only a comment\n", AreaFormat::Csv)
            .unwrap_err();
        assert_eq!(err.errors[0].kind, AreaErrorKind::MissingHeader);
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(
            split_csv_line(r#"a,"b,c","d""e",,"""#).unwrap(),
            ["a", "b,c", "d\"e", "", ""]
        );
        assert!(split_csv_line(r#"a,"b"x,c"#).is_none());
        assert!(split_csv_line(r#"a,b"c"#).is_none());
        assert!(split_csv_line(r#"a,"bc"#).is_none());
    }

    #[test]
    fn parents_may_come_later_in_the_same_input_and_crlf_works() {
        let mut tree = la().admin_tree();
        let text = "\u{feff}code,name,name_latin,level,parent\r\n010101,ບ້ານ,Ban A,village,0101\r\n0101,ຈັນທະບູລີ,Chanthabuly,district,01\r\n";
        assert_eq!(tree.load_lower_levels(text, AreaFormat::Csv).unwrap(), 2);
        assert_eq!(tree.path("010101").as_deref(), Some("/01/0101/010101/"));
    }

    #[test]
    fn json_lower_levels() {
        let mut tree = vn().admin_tree();
        let good = r#"[
            {"code": "00070", "name": "Phường Hoàn Kiếm", "name_latin": "Phuong Hoan Kiem", "level": "commune", "parent": "01"},
            {"code": "00082", "name": "Phường Cửa Nam", "name_latin": "Phuong Cua Nam", "level": "commune", "parent": "01"}
        ]"#;
        assert_eq!(tree.load_lower_levels(good, AreaFormat::Json).unwrap(), 2);

        let bad = r#"[
            {"code": "00004", "name": "Phường Ba Đình", "name_latin": "Phuong Ba Dinh", "level": "commune", "parent": "01"},
            {"code": "00008", "name": "Phường Ngọc Hà", "name_latin": "Phuong Ngoc Ha", "level": "commune", "parent": "01", "parnet": "x"},
            {"code": "00070", "name": "Dup", "name_latin": "Dup", "level": "commune", "parent": "01"}
        ]"#;
        let err = tree.load_lower_levels(bad, AreaFormat::Json).unwrap_err();
        assert_eq!(err.errors.len(), 2, "{err}");
        assert_eq!(err.errors[0].location, Location::Element(2));
        assert!(matches!(err.errors[0].kind, AreaErrorKind::Json(_)));
        assert_eq!(err.errors[1].location, Location::Element(3));
        assert_eq!(err.errors[1].kind, AreaErrorKind::DuplicateCode);
        assert!(!tree.contains("00004"));

        let dup = r#"[{"code": "00070", "name": "Dup", "name_latin": "Dup", "level": "commune", "parent": "01"}]"#;
        let err = tree.load_lower_levels(dup, AreaFormat::Json).unwrap_err();
        assert_eq!(err.errors[0].kind, AreaErrorKind::DuplicateCode);
        assert_eq!(err.errors[0].location, Location::Element(1));

        let err = tree.load_lower_levels("[{", AreaFormat::Json).unwrap_err();
        assert!(matches!(err.errors[0].kind, AreaErrorKind::Json(_)));
        assert_eq!(tree.len(), 36);
    }

    fn la_json() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../profiles/la.json")).unwrap()
    }

    fn invalid(v: serde_json::Value) -> Vec<String> {
        match Profile::from_json(&v.to_string()) {
            Err(ProfileError::Invalid(problems)) => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut v = la_json();
        v["languges"] = serde_json::json!(["lo"]);
        let err = Profile::from_json(&v.to_string()).unwrap_err();
        assert!(
            matches!(&err, ProfileError::Json(m) if m.contains("languges")),
            "{err}"
        );

        let mut v = la_json();
        v["rules"]["allow_multiple_spouse"] = serde_json::json!(false);
        assert!(matches!(
            Profile::from_json(&v.to_string()),
            Err(ProfileError::Json(_))
        ));

        let mut v = la_json();
        v["admin_areas"][0]["iso3166"] = serde_json::json!("LA-VT");
        assert!(matches!(
            Profile::from_json(&v.to_string()),
            Err(ProfileError::Json(_))
        ));

        let mut v = la_json();
        v["pin"] = serde_json::json!({"scheme": "random-verhoeff", "length": 10, "filters": {"max_sequence": 2}});
        assert!(matches!(
            Profile::from_json(&v.to_string()),
            Err(ProfileError::Json(_))
        ));
    }

    #[test]
    fn validation_catches_bad_pin_parameters() {
        let mut v = la_json();
        v["pin"]["length"] = serde_json::json!(9);
        assert!(invalid(v).iter().any(|p| p.contains("pin.length 9")));

        let mut v = la_json();
        v["pin"]["length"] = serde_json::json!(13);
        assert!(invalid(v).iter().any(|p| p.contains("pin.length 13")));

        // vn-12 needs two-digit province codes.
        let mut v = la_json();
        v["pin"] = serde_json::json!({"scheme": "vn-12"});
        v["admin_areas"][0]["code"] = serde_json::json!("001");
        let problems = invalid(v);
        assert!(
            problems.iter().any(|p| p.contains("two-digit")),
            "{problems:?}"
        );
    }

    #[test]
    fn validation_catches_bad_areas_and_reports_all_problems() {
        let mut v = la_json();
        v["admin_areas"][1]["code"] = serde_json::json!("01");
        v["admin_areas"][2]["parent"] = serde_json::json!("01");
        v["admin_areas"][3]["level"] = serde_json::json!("region");
        v["admin_areas"][4]["iso3166_2"] = serde_json::json!("VN-BK");
        v["iso3166_alpha2"] = serde_json::json!("la");
        let problems = invalid(v);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("element 2") && p.contains("duplicate")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("element 3") && p.contains("must not have a parent")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("unknown level \"region\"")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("iso3166_2")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("iso3166_alpha2")),
            "{problems:?}"
        );
    }

    #[test]
    fn validation_catches_bad_name_parts_and_card_rules() {
        let mut v = la_json();
        v["name_parts"]["display_order"] = serde_json::json!(["given", "given"]);
        v["name_parts"]["national_script"] = serde_json::json!("Thai");
        v["card"]["number"] = serde_json::json!({"scheme": "series", "prefix": "l", "length": 1});
        v["card"]["document_code"] = serde_json::json!("XX");
        let problems = invalid(v);
        assert_eq!(problems.len(), 5, "{problems:?}");

        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../../profiles/vn.json")).unwrap();
        v["card"]["validity"]["renewal_ages"] = serde_json::json!([25, 14]);
        v["former_province_codes"][0]["successor"] = serde_json::json!("02");
        let problems = invalid(v);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn profile_json_roundtrips() {
        for code in builtin_codes() {
            let p = builtin(code).unwrap().unwrap();
            let text = serde_json::to_string(&p).unwrap();
            assert_eq!(Profile::from_json(&text).unwrap(), p);
        }
    }
}
