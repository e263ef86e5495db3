//! A deterministic, streaming synthetic population for a country profile: legacy-register
//! records ([`LegacyRecord`], the import format of `thabian import`, one JSON object per line)
//! of households of plausible people, optionally with duplicates (with realistic errors) and
//! deliberately broken lines, for import tests, deduplication tests and benchmarks.
//!
//! ```text
//! let profile = thabian_model::profile::builtin("la").unwrap()?;
//! let areas = profile.admin_tree();
//! let people = thabian_synth::generate(&profile, &areas, &Config::new(1_000_000, 42))?;
//! thabian_synth::write_ndjson(people, &mut out, None, None)?;
//! ```
//!
//! # Output
//!
//! Exactly [`Config::people`] original persons are produced, in household order (a household's
//! members one after another, head first). Duplicates (of originals) are *extra* lines, written
//! after the household of their original; a broken line *replaces* an original record, so it
//! counts towards `people`. Source ids are `<PREFIX>-00000001`, … in the original order
//! (`LA-`, `VN-`), duplicates `<PREFIX>-D00000001`, …, households `HH-00000001`, ….
//!
//! References (`father`, `mother`, `spouse`) only point to records in the same output, either
//! earlier in the file or in the same household (a head may name a parent listed after them in
//! the household book, which the importer allows). Every valid record passes
//! [`LegacyRecord::check`] with `today = as_of + 1 day`.
//!
//! # Determinism and memory
//!
//! The same profile, area tree, seed and configuration give byte-identical output on every run
//! and platform: all randomness comes from ChaCha8 streams seeded with [`Config::seed`] (one
//! stream for the population, one for duplicates, one for broken lines, so the rates do not
//! change the population itself), the data files are embedded and iterated in file order, no
//! hash map is iterated, no clock is read (`as_of` is a parameter) and no transcendental
//! floating-point function is used. Generation streams household by household: memory is
//! constant in `people` (one household and its pending duplicates are buffered).
//!
//! # The model: what is realistic
//!
//! * **Names** (data files `data/la.json`, `data/vn.json`): Laos — real Lao given names by sex
//!   and family names, in Lao script with their usual romanization (both are written; Lao names
//!   have no middle name); married women take their husband's family name. Vietnam — family
//!   names with frequencies close to reality (Nguyễn ≈ 38 %, Trần ≈ 11 %, Lê ≈ 9.5 %, …, then a
//!   long tail), middle names by sex weighted by birth cohort (Văn and Thị dominate before 1990),
//!   given names by sex; wives keep their family name. Children take their father's family name.
//! * **Age and sex** follow the country's pyramid (UN WPP 2024, 5-year bands with the share of
//!   males per band): a head's age is drawn from the pyramid weighted by a headship curve, a
//!   spouse's from the head's and a normal age gap, a grandparent's and a sibling's from the
//!   pyramid restricted to the ages the relation allows. Children come from fertility instead:
//!   a number of children ever born, the first when the mother is about 21 (Laos) or 24
//!   (Vietnam), then every 2.8 years or so; adult children leave home more and more with age.
//!   The result (seeded test populations of 20,000): Laos median age 24, 0–14 30 %, 65+ 5 %
//!   (WPP 2025: 25.6, 30 %, 4.7 %); Vietnam median 33, 0–14 21 %, 65+ 9 % (33–34, 22 %, 9 %).
//! * **Households**: single persons, single parents, couples (opposite sex, husband on average
//!   three years older, both above the marriage age), their children (mother 16–47 and father
//!   16–50 years older than the child, at least ten months apart), sometimes a married child
//!   with spouse (relationship `other_relative`) and grandchildren (Laos: more often a
//!   daughter, Vietnam: a son), the head's parent or parents (relationship `parent`, and the
//!   head's `father`/`mother` refer to them) and a sibling of the head. Mean sizes come out
//!   close to the censuses (Laos 5.2 for 5.3, Vietnam 3.6 for 3.5–3.6). Some single mothers'
//!   late husbands are records too (status `deceased`, no household), referred to by the
//!   children.
//! * **Places**: the household's province is drawn in proportion to population (2015 census for
//!   Laos, the 34 post-2025 provinces for Vietnam), then uniformly one of the lowest-level areas
//!   the tree has below it (the province itself when there are none). Members share area and
//!   address (`Ban Phonxay, unit 5, house 12`, `Số 12, ngõ 34, đường Trần Phú`); children born
//!   after the move are mostly born in the residence area, most adults in the residence
//!   province, some elsewhere. `residence_since` is the household's move-in date (a joining
//!   spouse: once adult), left out where it equals the date of birth.
//! * **Dates of birth** are full dates, with a share of `YYYY` and `YYYY-MM` dates, higher for the
//!   old (data: e.g. 15 % year-only before 1960, 3 % after).
//! * **Parents who are not records** are sometimes named (`father_name`, `mother_name`).
//!
//! # What is simplified
//!
//! No ethnicity, religion or nationality (the importer uses the profile's nationality), no PINs
//! on valid records (the importer draws them), no temporary residences, no polygamy, no
//! same-sex couples, no adoption, no non-relatives; migration is independent of distance; given
//! names do not follow fashions (except Vietnamese middle names); fertility does not change with
//! the mother's cohort; mortality shows only through the pyramid and the few deceased fathers;
//! areas within a province are uniform; the Lao romanization is one spelling per name (variants
//! only appear in duplicates).
//!
//! # Duplicates
//!
//! With probability [`Config::duplicates`] an original record gets a duplicate: the same person
//! as another legacy source describes them — new source id, no household and no references (but
//! maybe the parents' names) — with one to three [`DuplicateError`]s: a typo, another
//! romanization (Laos) or dropped or wrong diacritics (Vietnam), given and family name swapped,
//! day and month swapped, the year off by one, another residence, the date reduced to its year,
//! the residence left out. Duplicates pass [`LegacyRecord::check`] too.
//!
//! # Broken lines
//!
//! With probability [`Config::broken`] an original record is replaced by a line that the
//! importer must refuse, for one [`BrokenReason`]. Only records that no other record refers to
//! and that do not head a household are broken (in practice children and grandchildren without
//! children of their own in the file, and siblings; never a parent, a spouse or a head), so the
//! rest of the file stays importable. A draw that falls on another record is carried over to the
//! next breakable one, which keeps the rate close to `broken` as long as it is below the share of
//! breakable records (about half in Laos, a third in Vietnam). A broken record gets no duplicate.
use std::io::Write;

use chrono::NaiveDate;
use thabian_model::legacy::LegacyRecord;
use thabian_model::profile::{AdminTree, Profile};

mod broken;
mod data;
mod dup;
mod generator;
mod text;

pub use data::supported_profiles;
pub use generator::Generator;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Number of original persons (broken lines included, duplicates not).
    pub people: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Probability that an original record gets a duplicate, 0.0–1.0.
    pub duplicates: f64,
    /// Probability that an original record is replaced by a broken line, 0.0–1.0.
    pub broken: f64,
    /// The day the data describes: ages are computed on it, nothing happens after it.
    pub as_of: NaiveDate,
}

/// The default `as_of`: 2026-01-01.
pub fn default_as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or(NaiveDate::MIN)
}

impl Config {
    /// `people` persons from `seed`, without duplicates or broken lines, as of
    /// [`default_as_of`].
    pub fn new(people: u64, seed: u64) -> Config {
        Config {
            people,
            seed,
            duplicates: 0.0,
            broken: 0.0,
            as_of: default_as_of(),
        }
    }

    fn validate(&self) -> Result<(), SynthError> {
        for (what, rate) in [("duplicates", self.duplicates), ("broken", self.broken)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SynthError::Config(format!(
                    "{what} rate {rate} is not between 0 and 1"
                )));
            }
        }
        let year = chrono::Datelike::year(&self.as_of);
        if !(1900..=9000).contains(&year) {
            return Err(SynthError::Config(format!(
                "as_of {} is out of range (years 1900 to 9000)",
                self.as_of
            )));
        }
        Ok(())
    }
}

/// Why the generator cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("no synthetic-population data for profile {0:?} (available: {list})", list = supported_profiles().join(", "))]
    UnsupportedProfile(String),
    #[error("{file}: {message}")]
    Data { file: &'static str, message: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("writing the output: {0}")]
    Io(#[from] std::io::Error),
    #[error("serializing a record: {0}")]
    Json(#[from] serde_json::Error),
}

/// The errors a duplicate may carry (the `errors` column of the truth file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DuplicateError {
    /// One keyboard error in a name (romanized name for Laos).
    Typo,
    /// Another usual romanization of a Lao name (`Somsak` → `Somsack`).
    Romanization,
    /// All diacritics left out (`Nguyễn` → `Nguyen`).
    DiacriticsDropped,
    /// One tone mark replaced by another (`Nguyễn` → `Nguyển`).
    DiacriticsWrong,
    /// Given and family name swapped.
    NamesSwapped,
    /// Day and month of birth swapped (only when that is another valid date).
    DayMonthSwapped,
    /// Year of birth one off.
    YearShifted,
    /// Another residence.
    OtherResidence,
    /// A full date of birth reduced to its year (or year and month).
    DateReduced,
    /// No residence.
    ResidenceDropped,
}

impl DuplicateError {
    pub const ALL: [DuplicateError; 10] = [
        DuplicateError::Typo,
        DuplicateError::Romanization,
        DuplicateError::DiacriticsDropped,
        DuplicateError::DiacriticsWrong,
        DuplicateError::NamesSwapped,
        DuplicateError::DayMonthSwapped,
        DuplicateError::YearShifted,
        DuplicateError::OtherResidence,
        DuplicateError::DateReduced,
        DuplicateError::ResidenceDropped,
    ];

    /// Stable name (kebab-case).
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateError::Typo => "typo",
            DuplicateError::Romanization => "romanization",
            DuplicateError::DiacriticsDropped => "diacritics-dropped",
            DuplicateError::DiacriticsWrong => "diacritics-wrong",
            DuplicateError::NamesSwapped => "names-swapped",
            DuplicateError::DayMonthSwapped => "day-month-swapped",
            DuplicateError::YearShifted => "year-shifted",
            DuplicateError::OtherResidence => "other-residence",
            DuplicateError::DateReduced => "date-reduced",
            DuplicateError::ResidenceDropped => "residence-dropped",
        }
    }

    pub fn from_name(name: &str) -> Option<DuplicateError> {
        DuplicateError::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// Why a broken line cannot be imported (the `reason` column of the broken list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BrokenReason {
    /// The line ends in the middle of the JSON object.
    TruncatedJson,
    /// `date_of_birth` is a day that does not exist (`1990-02-30`).
    ImpossibleDate,
    /// `place_of_birth` is not an area of the profile.
    UnknownAdminArea,
    /// `given_name` is empty.
    EmptyGivenName,
    /// A field the format does not have.
    UnknownField,
    /// A `pin` that fails the profile's PIN check (bad check digit, or wrong length).
    InvalidPin,
    /// `sex` is `"x"`.
    InvalidSex,
}

impl BrokenReason {
    pub const ALL: [BrokenReason; 7] = [
        BrokenReason::TruncatedJson,
        BrokenReason::ImpossibleDate,
        BrokenReason::UnknownAdminArea,
        BrokenReason::EmptyGivenName,
        BrokenReason::UnknownField,
        BrokenReason::InvalidPin,
        BrokenReason::InvalidSex,
    ];

    /// Stable name (kebab-case).
    pub fn as_str(self) -> &'static str {
        match self {
            BrokenReason::TruncatedJson => "truncated-json",
            BrokenReason::ImpossibleDate => "impossible-date",
            BrokenReason::UnknownAdminArea => "unknown-admin-area",
            BrokenReason::EmptyGivenName => "empty-given-name",
            BrokenReason::UnknownField => "unknown-field",
            BrokenReason::InvalidPin => "invalid-pin",
            BrokenReason::InvalidSex => "invalid-sex",
        }
    }

    pub fn from_name(name: &str) -> Option<BrokenReason> {
        BrokenReason::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// The [`thabian_model::legacy::LegacyError`] code the importer reports for such a line:
    /// from [`LegacyRecord::from_json_line`] for the first, from [`LegacyRecord::check`] for the
    /// others.
    pub fn import_code(self) -> &'static str {
        match self {
            BrokenReason::TruncatedJson
            | BrokenReason::ImpossibleDate
            | BrokenReason::UnknownField
            | BrokenReason::InvalidSex => "malformed-record",
            BrokenReason::UnknownAdminArea => "unknown-admin-area",
            BrokenReason::EmptyGivenName => "missing-field",
            BrokenReason::InvalidPin => "invalid-pin",
        }
    }
}

/// One output line.
// `Record` is nearly every line; boxing it would cost an allocation per record.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Generated {
    /// A valid record: an original person (`duplicate_of` is `None`) or a duplicate of the
    /// original with source id `duplicate_of`, carrying `errors`.
    Record {
        line: LegacyRecord,
        duplicate_of: Option<String>,
        errors: Vec<DuplicateError>,
    },
    /// A deliberately broken line standing for the original person `source_id`.
    Broken {
        text: String,
        source_id: String,
        reason: BrokenReason,
    },
}

/// Generates the population of `profile`, spread over the lowest-level areas `areas` has (the
/// profile's own tree, or one with lower levels loaded). Lazy: nothing is generated before the
/// iterator is advanced.
pub fn generate(
    profile: &Profile,
    areas: &AdminTree,
    config: &Config,
) -> Result<Generator, SynthError> {
    config.validate()?;
    Generator::new(profile, areas, config)
}

/// Header of the truth file ([`write_ndjson`]'s `truth`).
pub const TRUTH_HEADER: &str = "duplicate_source_id,original_source_id,errors";
/// Header of the broken-line list ([`write_ndjson`]'s `broken_list`).
pub const BROKEN_LIST_HEADER: &str = "line,source_id,reason";

/// What [`write_ndjson`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines written to the output.
    pub lines: u64,
    /// Original persons, broken lines included.
    pub originals: u64,
    pub duplicates: u64,
    pub broken: u64,
}

/// Writes the lines as NDJSON to `out`; each duplicate as a row of `truth` (CSV
/// [`TRUTH_HEADER`], `errors` `;`-separated) and each broken line as a row of `broken_list` (CSV
/// [`BROKEN_LIST_HEADER`], 1-based line numbers of `out`). Does not flush.
pub fn write_ndjson<W: Write>(
    lines: impl IntoIterator<Item = Generated>,
    out: &mut W,
    mut truth: Option<&mut dyn Write>,
    mut broken_list: Option<&mut dyn Write>,
) -> Result<Summary, SynthError> {
    if let Some(t) = truth.as_mut() {
        writeln!(t, "{TRUTH_HEADER}")?;
    }
    if let Some(b) = broken_list.as_mut() {
        writeln!(b, "{BROKEN_LIST_HEADER}")?;
    }
    let mut s = Summary::default();
    // One write per line, whatever the writer.
    let mut buf = Vec::with_capacity(1024);
    for item in lines {
        s.lines += 1;
        match item {
            Generated::Record {
                line,
                duplicate_of,
                errors,
            } => {
                buf.clear();
                serde_json::to_writer(&mut buf, &line)?;
                buf.push(b'\n');
                out.write_all(&buf)?;
                match duplicate_of {
                    None => s.originals += 1,
                    Some(original) => {
                        s.duplicates += 1;
                        if let Some(t) = truth.as_mut() {
                            write!(t, "{},{},", csv_cell(&line.source_id), csv_cell(&original))?;
                            for (i, e) in errors.iter().enumerate() {
                                if i > 0 {
                                    t.write_all(b";")?;
                                }
                                t.write_all(e.as_str().as_bytes())?;
                            }
                            t.write_all(b"\n")?;
                        }
                    }
                }
            }
            Generated::Broken {
                text,
                source_id,
                reason,
            } => {
                s.originals += 1;
                s.broken += 1;
                out.write_all(text.as_bytes())?;
                out.write_all(b"\n")?;
                if let Some(b) = broken_list.as_mut() {
                    writeln!(
                        b,
                        "{},{},{}",
                        s.lines,
                        csv_cell(&source_id),
                        reason.as_str()
                    )?;
                }
            }
        }
    }
    Ok(s)
}

/// A CSV cell, quoted when needed (generated ids never need it; a custom prefix might).
fn csv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}
