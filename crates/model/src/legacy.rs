//! The legacy-register record that `thabian import` reads and `thabian generate` writes.
//!
//! One record per person, flat, with references to other records of the same source by their
//! source ids (a household book lists its members together; a child's line names its parents'
//! lines). NDJSON carries it as one object per line; CSV as one row whose columns are mapped to
//! these field names. Pure: the importer resolves source ids to PINs and household numbers and
//! hands them to [`LegacyRecord::to_imported`].
use crate::date::PartialDate;
use crate::event::{ImportedRecord, PersonParticulars};
use crate::name::normalize_name;
use crate::person::{Membership, Names, ParentRef, PersonName, Relationship, Residence, Status};
use crate::pin::Pin;
use crate::profile::{AdminTree, Profile};
use crate::sex::Sex;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyRecord {
    /// The record's id in the source system: unique within the source, never reused.
    pub source_id: String,
    /// A PIN already issued to this person (kept after validation); absent: one is drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// Name in the national script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    pub given_name: String,
    /// Romanized name, where the profile keeps one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name_latin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name_latin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name_latin: Option<String>,
    pub sex: Sex,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.
    pub date_of_birth: PartialDate,
    /// Admin-area code.
    pub place_of_birth: String,
    /// ISO 3166-1 alpha-3 codes; absent or empty: the profile's nationality.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nationalities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ethnicity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub religion: Option<String>,
    /// Source ids of the parents and spouse when they are records of the same source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub father: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mother: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spouse: Option<String>,
    /// Names of parents who are not records of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub father_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mother_name: Option<String>,
    /// Permanent residence: admin-area code, address, since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence_area: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residence_since: Option<PartialDate>,
    /// The source's household (book) id and this person's relationship to its head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub household: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<Relationship>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_death: Option<PartialDate>,
}

/// Why a legacy record cannot be imported. `code` is stable (it goes to the error file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct LegacyError {
    pub code: &'static str,
    pub message: String,
}

fn bad(code: &'static str, message: impl Into<String>) -> LegacyError {
    LegacyError {
        code,
        message: message.into(),
    }
}

/// The names of the record's references to other records of the same source.
pub const REFERENCE_FIELDS: [&str; 3] = ["father", "mother", "spouse"];

/// The PINs and household number the importer assigned to the record and its references.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub pin: Option<Pin>,
    pub father: Option<Pin>,
    pub mother: Option<Pin>,
    pub spouse: Option<Pin>,
    pub household: Option<String>,
}

impl LegacyRecord {
    /// Parses one NDJSON line.
    pub fn from_json_line(line: &str) -> Result<LegacyRecord, LegacyError> {
        serde_json::from_str(line).map_err(|e| bad("malformed-record", e.to_string()))
    }

    /// The source ids this record refers to, with the field that holds each.
    pub fn references(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [&self.father, &self.mother, &self.spouse]
            .into_iter()
            .zip(REFERENCE_FIELDS)
            .filter_map(|(v, f)| v.as_deref().map(|v| (f, v)))
    }

    /// Checks everything that does not depend on other records or on the register's state:
    /// required fields, names, dates, areas, the PIN's form. `today` bounds dates.
    pub fn check(
        &self,
        profile: &Profile,
        areas: &AdminTree,
        today: NaiveDate,
    ) -> Result<(), LegacyError> {
        let id = self.source_id.trim();
        if id.is_empty() || id.len() > 100 || id != self.source_id {
            return Err(bad(
                "invalid-source-id",
                "source_id must be 1 to 100 characters without surrounding spaces",
            ));
        }
        if let Some(pin) = &self.pin {
            Pin::parse(&profile.pin, pin).map_err(|e| bad("invalid-pin", format!("{pin}: {e}")))?;
        }
        self.names(profile)?;
        if self.date_of_birth.earliest() > today {
            return Err(bad(
                "date-of-birth-in-future",
                format!("date of birth {} is in the future", self.date_of_birth),
            ));
        }
        for (field, code) in [
            ("place_of_birth", Some(&self.place_of_birth)),
            ("residence_area", self.residence_area.as_ref()),
        ] {
            if let Some(code) = code {
                if !areas.contains(code) {
                    return Err(bad(
                        "unknown-admin-area",
                        format!(
                            "{field}: no admin area {code:?} in profile {}",
                            profile.code
                        ),
                    ));
                }
            }
        }
        if self.residence_area.is_none()
            && (self.residence_address.is_some() || self.residence_since.is_some())
        {
            return Err(bad(
                "missing-field",
                "residence_address or residence_since without residence_area",
            ));
        }
        match (&self.household, self.relationship) {
            (Some(h), Some(_)) if h.trim().is_empty() => {
                return Err(bad("missing-field", "household is empty"))
            }
            (Some(_), None) => {
                return Err(bad(
                    "missing-field",
                    "a household member needs a relationship to the head",
                ))
            }
            (None, Some(_)) => return Err(bad("missing-field", "relationship without household")),
            _ => {}
        }
        if self.household.is_some() && self.residence_area.is_none() {
            return Err(bad(
                "missing-field",
                "a household member needs a residence_area (the household's area)",
            ));
        }
        for (field, target) in self.references() {
            if target == self.source_id {
                return Err(bad(
                    "invalid-reference",
                    format!("{field} refers to the record itself"),
                ));
            }
        }
        match (self.status.unwrap_or(Status::Living), &self.date_of_death) {
            (Status::Deceased, None) => {
                return Err(bad(
                    "date-of-death-required",
                    "a deceased person's record needs a date of death",
                ))
            }
            (Status::Deceased, Some(_)) => {}
            (_, Some(_)) => {
                return Err(bad(
                    "invalid-status",
                    "a date of death on a record whose status is not deceased",
                ))
            }
            _ => {}
        }
        if let Some(d) = &self.date_of_death {
            if d.definitely_before(&self.date_of_birth) {
                return Err(bad(
                    "death-before-birth",
                    "the date of death is before the date of birth",
                ));
            }
        }
        Ok(())
    }

    fn names(&self, profile: &Profile) -> Result<Names, LegacyError> {
        fn part(field: &str, v: &Option<String>) -> Result<Option<String>, LegacyError> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => normalize_name(s)
                    .map(Some)
                    .map_err(|e| bad("invalid-name", format!("{field}: {e}"))),
            }
        }
        let given = part("given_name", &Some(self.given_name.clone()))?
            .ok_or_else(|| bad("missing-field", "given_name is empty"))?;
        let national = PersonName {
            family: part("family_name", &self.family_name)?,
            middle: part("middle_name", &self.middle_name)?,
            given,
        };
        let latin_given = part("given_name_latin", &self.given_name_latin)?;
        let latin_family = part("family_name_latin", &self.family_name_latin)?;
        let latin_middle = part("middle_name_latin", &self.middle_name_latin)?;
        let latin = match latin_given {
            Some(given) => Some(PersonName {
                family: latin_family,
                middle: latin_middle,
                given,
            }),
            None if latin_family.is_some() || latin_middle.is_some() => {
                return Err(bad(
                    "missing-field",
                    "a romanized name needs given_name_latin",
                ))
            }
            None => None,
        };
        if profile.name_parts.latin_required && latin.is_none() {
            return Err(bad(
                "missing-field",
                format!(
                    "profile {} keeps a romanized name: given_name_latin is required",
                    profile.code
                ),
            ));
        }
        Ok(Names { national, latin })
    }

    /// The import event's payload, once the importer has assigned the PIN and resolved the
    /// references. Runs [`LegacyRecord::check`]'s name normalisation again (it is cheap and keeps
    /// this function total).
    pub fn to_imported(
        &self,
        profile: &Profile,
        resolved: &Resolved,
    ) -> Result<ImportedRecord, LegacyError> {
        let pin = resolved
            .pin
            .clone()
            .ok_or_else(|| bad("internal", "no PIN assigned"))?;
        let parent = |pin: &Option<Pin>, name: &Option<String>, field: &str| match (pin, name) {
            (Some(p), _) => Ok(ParentRef::Registered { pin: p.clone() }),
            (None, Some(n)) if !n.trim().is_empty() => Ok(ParentRef::Described {
                name: normalize_name(n.trim())
                    .map_err(|e| bad("invalid-name", format!("{field}_name: {e}")))?,
                date_of_birth: None,
                nationality: None,
            }),
            _ => Ok(ParentRef::Unknown),
        };
        let nationalities = if self.nationalities.is_empty() {
            vec![profile.nationality_code.clone()]
        } else {
            self.nationalities.clone()
        };
        let permanent_residence = self.residence_area.as_ref().map(|area| Residence {
            area: area.clone(),
            address_lines: self
                .residence_address
                .iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect(),
            since: self.residence_since.unwrap_or(self.date_of_birth),
        });
        let household = match (&resolved.household, self.relationship) {
            (Some(h), Some(relationship)) => Some(Membership {
                household: h.clone(),
                relationship,
            }),
            _ => None,
        };
        Ok(ImportedRecord {
            pin,
            particulars: PersonParticulars {
                names: self.names(profile)?,
                sex: self.sex,
                date_of_birth: self.date_of_birth,
                place_of_birth: self.place_of_birth.clone(),
                nationalities,
                ethnicity: self.ethnicity.clone(),
                religion: self.religion.clone(),
                father: parent(&resolved.father, &self.father_name, "father")?,
                mother: parent(&resolved.mother, &self.mother_name, "mother")?,
            },
            spouse: resolved.spouse.clone(),
            permanent_residence,
            temporary_residence: None,
            household,
            status: self.status.unwrap_or(Status::Living),
            date_of_death: self.date_of_death,
            source_id: self.source_id.clone(),
        })
    }
}

/// Fields a CSV column can be mapped to (the [`LegacyRecord`] field names).
pub const FIELDS: [&str; 27] = [
    "source_id",
    "pin",
    "family_name",
    "middle_name",
    "given_name",
    "family_name_latin",
    "middle_name_latin",
    "given_name_latin",
    "sex",
    "date_of_birth",
    "place_of_birth",
    "nationalities",
    "ethnicity",
    "religion",
    "father",
    "mother",
    "spouse",
    "father_name",
    "mother_name",
    "residence_area",
    "residence_address",
    "residence_since",
    "household",
    "relationship",
    "status",
    "date_of_death",
    // Ignored on purpose: lets a mapping name a column it does not want.
    "-",
];

/// Builds a record from CSV cells already mapped to field names. Empty cells are absent
/// fields; `nationalities` is a space- or semicolon-separated list.
pub fn from_fields<'a>(
    cells: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<LegacyRecord, LegacyError> {
    let mut map = serde_json::Map::new();
    for (field, value) in cells {
        let value = value.trim();
        if field == "-" || value.is_empty() {
            continue;
        }
        let v = if field == "nationalities" {
            serde_json::Value::Array(
                value
                    .split([' ', ';', ','])
                    .filter(|s| !s.is_empty())
                    .map(|s| serde_json::Value::from(s.to_owned()))
                    .collect(),
            )
        } else {
            serde_json::Value::from(value.to_owned())
        };
        if map.insert(field.to_owned(), v).is_some() {
            return Err(bad(
                "malformed-record",
                format!("two columns are mapped to {field}"),
            ));
        }
    }
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| bad("malformed-record", e.to_string()))
}
