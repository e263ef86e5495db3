//! Probabilistic record linkage (Fellegi–Sunter) for finding duplicate person records, and
//! ranked fuzzy search over the register.
//!
//! The pieces, in the order a deduplication run uses them:
//!
//! 1. [`MatchRecord`]: the compact comparison fields of a person (name tokens with precomputed
//!    phonetic keys, sex, date and place of birth, residence area, parents).
//! 2. [`MatchRecord::blocking_keys`]: short keys for an inverted index (`key → pin`). Records
//!    sharing a key are candidate pairs; a [`SearchQuery`] computes the keys a matching record
//!    could have.
//! 3. [`compare`]: the agreement [`Level`] of every [`Field`] of a pair, as a small `Copy`
//!    [`Comparison`] (no allocation).
//! 4. [`LinkageModel`]: per-field, per-level m and u probabilities and the prior match
//!    proportion; [`LinkageModel::weight`] is the Fellegi–Sunter weight (sum of
//!    `log2(m/u)`), [`LinkageModel::probability`] the posterior, [`LinkageModel::score_pair`]
//!    both with term-frequency-adjusted name weights. [`estimate`] and
//!    [`estimate_by_sessions`] fit a model by expectation–maximisation.
//! 5. [`Thresholds`] turn a posterior into a [`Verdict`]; [`precision_recall_curve`] and
//!    [`at_threshold`] evaluate a scored benchmark.
//!
//! Pure: no I/O, no clock, no randomness.
use crate::date::PartialDate;
use crate::event::PersonParticulars;
use crate::person::{Names, ParentRef, Person, Residence};
use crate::sex::Sex;
use crate::translit::{latin_tokens, phonetic};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// How many fields a [`Comparison`] has (the length of [`Field::ALL`]).
pub const FIELD_COUNT: usize = 10;

/// Agreement levels that carry a probability (every [`Level`] but [`Level::Missing`]).
const LEVEL_SLOTS: usize = 4;

/// Two name tokens whose Jaro–Winkler similarity is at least this are [`Level::Similar`]
/// (the usual cut-off for personal names; "somsack"/"somsak" ≈ 0.97, "nguyen"/"nguyn" ≈ 0.96,
/// "linh"/"minh" ≈ 0.83 is not similar).
pub const SIMILAR_THRESHOLD: f64 = 0.88;

/// Folded tokens that never form a blocking key: the Vietnamese middle-name particles "Văn"
/// (most men) and "Thị" (most women) would make blocks of millions. They are still compared.
const PARTICLES: &[&str] = &["van", "thi"];

/// Longest key component (a phonetic key) used in a blocking key, in bytes.
const MAX_KEY_COMPONENT: usize = 24;

// ----- Fields and levels ------------------------------------------------------------------------

/// A compared field of a person record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Given,
    Family,
    Middle,
    DateOfBirth,
    Sex,
    PlaceOfBirth,
    Residence,
    Father,
    Mother,
    /// The residence's address lines (village, street, house), compared as folded tokens.
    Address,
}

impl Field {
    /// Every field, in the order of [`Field::index`].
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::Given,
        Field::Family,
        Field::Middle,
        Field::DateOfBirth,
        Field::Sex,
        Field::PlaceOfBirth,
        Field::Residence,
        Field::Father,
        Field::Mother,
        Field::Address,
    ];

    /// Position in [`Field::ALL`] and in a [`Comparison`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The stable snake_case name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Given => "given",
            Field::Family => "family",
            Field::Middle => "middle",
            Field::DateOfBirth => "date_of_birth",
            Field::Sex => "sex",
            Field::PlaceOfBirth => "place_of_birth",
            Field::Residence => "residence",
            Field::Father => "father",
            Field::Mother => "mother",
            Field::Address => "address",
        }
    }

    /// Whether the field is scored. The residence area is compared and shown but carries no
    /// weight: a household's members share it, and where areas are coarse (a province) it
    /// mostly repeats the place of birth, counting one piece of evidence twice. Parents and
    /// the address are scored (EM gives an address that people change often a small weight).
    pub fn is_scored(self) -> bool {
        !matches!(self, Field::Residence)
    }

    /// A short human label ("given name").
    pub fn label(self) -> &'static str {
        match self {
            Field::Given => "given name",
            Field::Family => "family name",
            Field::Middle => "middle name",
            Field::DateOfBirth => "date of birth",
            Field::Sex => "sex",
            Field::PlaceOfBirth => "place of birth",
            Field::Residence => "residence",
            Field::Father => "father",
            Field::Mother => "mother",
            Field::Address => "address",
        }
    }

    /// The levels [`compare`] can give this field, besides [`Level::Missing`] (which every
    /// field can have). The model has an m and a u probability for exactly these.
    pub fn levels(self) -> &'static [Level] {
        match self {
            Field::Sex => &[Level::Exact, Level::Disagree],
            Field::PlaceOfBirth | Field::Residence => {
                &[Level::Exact, Level::Close, Level::Disagree]
            }
            Field::Address => &[Level::Exact, Level::Close, Level::Disagree],
            _ => &[Level::Exact, Level::Close, Level::Similar, Level::Disagree],
        }
    }

    /// Whether `level` is one this field can have (including [`Level::Missing`]).
    pub fn has_level(self, level: Level) -> bool {
        level == Level::Missing || self.levels().contains(&level)
    }

    /// What `level` means for this field, in words.
    pub fn describe(self, level: Level) -> &'static str {
        match (self, level) {
            (_, Level::Missing) => "missing on one side (no evidence)",
            (Field::Given | Field::Family | Field::Middle, l) => match l {
                Level::Exact => "same name",
                Level::Close => "phonetically equal",
                Level::Similar => "similar spelling",
                _ => "different",
            },
            (Field::Father | Field::Mother, l) => match l {
                Level::Exact => "same registered parent or same name",
                Level::Close => "phonetically equal names",
                Level::Similar => "similar names",
                _ => "different parent",
            },
            (Field::DateOfBirth, l) => match l {
                Level::Exact => "same date",
                Level::Close => {
                    "one component off (year ±1, day and month swapped, or month differs), \
                     or a partial date compatible with the other"
                }
                Level::Similar => {
                    "same year only, or a partial date compatible with the other but the year ±1"
                }
                _ => "different",
            },
            (Field::Sex, Level::Exact) => "same",
            (Field::Sex, _) => "different",
            (Field::PlaceOfBirth | Field::Residence, l) => match l {
                Level::Exact => "same area",
                Level::Close => "same province",
                _ => "different province",
            },
            (Field::Address, l) => match l {
                Level::Exact => "same address",
                Level::Close => "one detail differs or is left out (e.g. the house number)",
                _ => "different address, or not compared as a parent agrees",
            },
        }
    }
}

/// How well one field of two records agrees. Field-specific meanings are in
/// [`Field::describe`]; names: exact / phonetic / similar (Jaro–Winkler ≥
/// [`SIMILAR_THRESHOLD`]) / different; date of birth: exact / one component off / same year /
/// different; places: same / same province / different.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Exact,
    Close,
    Similar,
    Disagree,
    /// One side (or both) lacks the field, or the two cannot be compared. Contributes 0 to the
    /// weight (missing at random).
    Missing,
}

impl Level {
    /// The stable snake_case name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Exact => "exact",
            Level::Close => "close",
            Level::Similar => "similar",
            Level::Disagree => "disagree",
            Level::Missing => "missing",
        }
    }

    /// One letter: E(xact), C(lose), S(imilar), D(isagree), M(issing).
    pub fn letter(self) -> char {
        match self {
            Level::Exact => 'E',
            Level::Close => 'C',
            Level::Similar => 'S',
            Level::Disagree => 'D',
            Level::Missing => 'M',
        }
    }

    /// Total order of "how good": exact > close > similar > missing > disagree.
    fn rank(self) -> u8 {
        match self {
            Level::Exact => 4,
            Level::Close => 3,
            Level::Similar => 2,
            Level::Missing => 1,
            Level::Disagree => 0,
        }
    }

    /// Index into the per-level probability arrays.
    fn slot(self) -> Option<usize> {
        match self {
            Level::Exact => Some(0),
            Level::Close => Some(1),
            Level::Similar => Some(2),
            Level::Disagree => Some(3),
            Level::Missing => None,
        }
    }

    fn better(self, other: Level) -> Level {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

// ----- Match records ----------------------------------------------------------------------------

/// One folded Latin name token and its phonetic key (computed once, on construction).
///
/// Serialized as the token text alone; the phonetic key is recomputed on deserialization, so
/// stored records follow improvements of [`crate::translit::phonetic`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct NameToken {
    text: String,
    phonetic: String,
}

impl NameToken {
    /// A token from an already folded token (an element of [`latin_tokens`]); use
    /// [`name_tokens`] for whole names.
    pub fn new(token: &str) -> NameToken {
        NameToken {
            text: token.to_owned(),
            phonetic: phonetic(token),
        }
    }

    /// A token with its phonetic key as computed when it was stored (the compact match record,
    /// [`crate::compact`], keeps both so that reading it computes nothing; the key index was
    /// written with the same phonetic keys).
    pub fn from_stored(text: String, phonetic: String) -> NameToken {
        NameToken { text, phonetic }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn phonetic(&self) -> &str {
        &self.phonetic
    }
}

impl From<String> for NameToken {
    fn from(text: String) -> NameToken {
        let phonetic = phonetic(&text);
        NameToken { text, phonetic }
    }
}

impl From<NameToken> for String {
    fn from(t: NameToken) -> String {
        t.text
    }
}

/// The folded Latin tokens of the given name forms (any script), sorted and deduplicated.
pub fn name_tokens(forms: &[&str]) -> Vec<NameToken> {
    let mut texts: Vec<String> = forms.iter().flat_map(|f| latin_tokens(f)).collect();
    texts.sort();
    texts.dedup();
    texts.into_iter().map(NameToken::from).collect()
}

/// A parent, as far as linkage can compare it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentKey {
    /// A registered parent: compared by PIN.
    Pin(String),
    /// A described parent: compared by name tokens (serialized as a list of token strings).
    Name(Vec<NameToken>),
}

impl ParentKey {
    /// `Registered` → PIN, `Described` → its name tokens (`None` when the name has no
    /// letters), `Unknown` → `None`.
    pub fn from_ref(parent: &ParentRef) -> Option<ParentKey> {
        match parent {
            ParentRef::Registered { pin } => Some(ParentKey::Pin(pin.as_str().to_owned())),
            ParentRef::Described { name, .. } => {
                let tokens = name_tokens(&[name]);
                (!tokens.is_empty()).then_some(ParentKey::Name(tokens))
            }
            ParentRef::Unknown => None,
        }
    }
}

/// The comparison fields of one person.
///
/// Name tokens are the union of the national-script and Latin forms, each folded to Latin by
/// [`latin_tokens`] (Lao romanized, Vietnamese diacritics removed), sorted and deduplicated.
///
/// Places are admin-area codes; two codes with the same first two characters are in the same
/// province (`"0101"` is a district of province `"01"`), which [`compare`] uses for
/// [`Level::Close`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRecord {
    pub given: Vec<NameToken>,
    #[serde(default)]
    pub family: Vec<NameToken>,
    #[serde(default)]
    pub middle: Vec<NameToken>,
    pub sex: Sex,
    pub date_of_birth: PartialDate,
    /// Admin-area code (may be empty when unknown).
    pub place_of_birth: String,
    /// Admin-area code of the residence.
    #[serde(default)]
    pub residence: Option<String>,
    #[serde(default)]
    pub father: Option<ParentKey>,
    #[serde(default)]
    pub mother: Option<ParentKey>,
    /// The residence's address as folded tokens ([`address_tokens`]); empty when unknown.
    #[serde(default)]
    pub address: Vec<String>,
}

impl MatchRecord {
    /// The comparison fields of a current person record. The residence is the permanent one,
    /// else the temporary one.
    pub fn from_person(p: &Person) -> MatchRecord {
        let residence = p
            .permanent_residence
            .as_ref()
            .or(p.temporary_residence.as_ref());
        MatchRecord::build(
            &p.names,
            p.sex,
            p.date_of_birth,
            &p.place_of_birth,
            residence,
            &p.father,
            &p.mother,
        )
    }

    /// The comparison fields of particulars (a birth or import not yet committed), with the
    /// residence if known.
    pub fn from_particulars(p: &PersonParticulars, residence: Option<&Residence>) -> MatchRecord {
        MatchRecord::build(
            &p.names,
            p.sex,
            p.date_of_birth,
            &p.place_of_birth,
            residence,
            &p.father,
            &p.mother,
        )
    }

    fn build(
        names: &Names,
        sex: Sex,
        date_of_birth: PartialDate,
        place_of_birth: &str,
        residence: Option<&Residence>,
        father: &ParentRef,
        mother: &ParentRef,
    ) -> MatchRecord {
        let latin = names.latin.as_ref();
        let forms = |national: Option<&str>, latin: Option<&str>| -> Vec<NameToken> {
            let v: Vec<&str> = national.into_iter().chain(latin).collect();
            name_tokens(&v)
        };
        MatchRecord {
            given: forms(
                Some(names.national.given.as_str()),
                latin.map(|l| l.given.as_str()),
            ),
            family: forms(
                names.national.family.as_deref(),
                latin.and_then(|l| l.family.as_deref()),
            ),
            middle: forms(
                names.national.middle.as_deref(),
                latin.and_then(|l| l.middle.as_deref()),
            ),
            sex,
            date_of_birth,
            place_of_birth: place_of_birth.trim().to_owned(),
            residence: residence
                .map(|r| r.area.trim())
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            father: ParentKey::from_ref(father),
            mother: ParentKey::from_ref(mother),
            address: residence
                .map(|r| address_tokens(&r.address_lines))
                .unwrap_or_default(),
        }
    }

    /// Every name token (given, family, middle).
    pub fn all_name_tokens(&self) -> impl Iterator<Item = &NameToken> {
        self.given.iter().chain(&self.family).chain(&self.middle)
    }

    /// The keys of this record in the blocking index (sorted, deduplicated, ASCII).
    ///
    /// `<g>` is a given-name token's phonetic key, `<f>` a family-name token's, both reduced to
    /// ASCII letters and digits. Middle names and the particles "van"/"thi" never form a key.
    ///
    /// | key | when | catches duplicates with | block at 10 M persons |
    /// |---|---|---|---|
    /// | `d:YYYYMMDD` | full date of birth | any name error: typos, swapped or missing parts, other script | ≈ 10 M / 29 000 days of birth ≈ 350 |
    /// | `y:<g>:YYYY` | each given token | day or month wrong or swapped, partial dates, other residence | common given name (≈ 3 %) / 80 years ≈ 4 000 |
    /// | `m:<g>:MMDD` | each given token, full date | year wrong (±1 or a typo) | ≈ 3 % / 366 ≈ 800 |
    /// | `n:<a>:<b>` | each family × given token pair, ordered so `a ≤ b` | swapped family/given with a date error, missing date | rare names: tens; "Nguyễn" + a common given name: ≈ 10⁴–10⁵ |
    /// | `ny:<a>:<b>:YYYY` | the same pair and the year of birth | day and month wrong, swapped or left out, where the name is too common for `y:` and `n:` | "Nguyễn" + a common given name: ≈ 38 % × 3 % × 10 M / 80 ≈ 1 400 (at 1 M: ≈ 140) |
    /// | `nb:<a>:<b>:<sex>:<p><YYYY/2>` | the same pair, the sex and a two-year bucket, in two offset series `<p>` (`a`: ⌊Y/2⌋, `b`: ⌊(Y+1)/2⌋) so any two years one apart share a key | a year off by one together with the day and month wrong or left out, where the name is too common for `y:` and `n:` | ≈ 2 × `ny:` / 2 sexes ≈ 1 400 (at 1 M: ≈ 140) |
    /// | `fy:<f>:<i>:YYYY` | each family token × given initial `<i>` | given-name typo with a day or month error | "Nguyễn" (38 %) / ≈ 15 initials / 80 years ≈ 3 000 |
    /// | `fm:<f>:<i>:MMDD` | the same, full date | given-name typo with a year error | 38 % / 15 / 366 ≈ 700 |
    ///
    /// No key is built from the family name alone, nor from the family name and the year: with
    /// ≈ 38 % of Vietnamese named Nguyễn such blocks would hold millions (or ≈ 50 000 per year).
    /// A duplicate with one or two errors keeps at least one key in nearly all cases: a name
    /// typo that changes the phonetic key leaves `d:` (and `fy:`/`fm:` for a given-name typo
    /// after the first letter); a date error leaves `y:`, `m:`, `n:`, `ny:` or `nb:`; a swap
    /// leaves `d:` and `n:`. Lost are mainly combinations such as a typo in the given name's first letter
    /// with a date error, a swap with a name typo and a date error, or a date wrong in two
    /// components (year ±1 and day and month swapped) with a given-name typo. Typically 7
    /// keys for a Vietnamese name with a full date.
    ///
    /// Deduplication jobs should skip keys whose posting list exceeds a cap (a few thousand):
    /// the `n:` keys of very common name pairs, and the `y:` keys a swapped record makes from
    /// its family name, only add cost there; their duplicates are found through the other keys.
    pub fn blocking_keys(&self) -> Vec<String> {
        let given = key_components(&self.given);
        let family = key_components(&self.family);
        let dob = &self.date_of_birth;
        let mut keys = Vec::with_capacity(2 + 2 * given.len() + 4 * given.len() * family.len());
        let sex = match self.sex {
            Sex::Male => "m",
            Sex::Female => "f",
            Sex::Unknown => "u",
        };
        let year = dob.year();
        let mmdd = match (dob.month(), dob.day()) {
            (Some(m), Some(d)) => Some(format!("{m:02}{d:02}")),
            _ => None,
        };
        if let Some(md) = &mmdd {
            keys.push(format!("d:{:04}{md}", dob.year()));
        }
        for g in &given {
            keys.push(format!("y:{g}:{:04}", dob.year()));
            if let Some(md) = &mmdd {
                keys.push(format!("m:{g}:{md}"));
            }
            for f in &family {
                let pair = pair_key(f, g);
                keys.push(format!("ny{}:{:04}", &pair[1..], year));
                let (even, odd) = (year.div_euclid(2), (year + 1).div_euclid(2));
                keys.push(format!("nb{}:{sex}:a{even:04}", &pair[1..]));
                keys.push(format!("nb{}:{sex}:b{odd:04}", &pair[1..]));
                keys.push(pair);
            }
        }
        // Family name + given initial: survives a typo in the rest of the given name.
        let initials = initials(&given);
        for f in &family {
            for i in &initials {
                keys.push(format!("fy:{f}:{i}:{:04}", dob.year()));
                if let Some(md) = &mmdd {
                    keys.push(format!("fm:{f}:{i}:{md}"));
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }
}

/// The keys whose tokens make the register's name vocabulary (see
/// [`crate::vocabulary::NameVocabulary`]): `(prefix, length of the suffix after the token)`.
/// Every given-name component has a `y:<g>:YYYY` key, every family-name component an
/// `fy:<f>:<i>:YYYY` key.
pub const VOCABULARY_KEYS: [(&str, u32); 2] = [("y:", 5), ("fy:", 7)];

/// The key components of some tokens: phonetic keys reduced to ASCII alphanumerics, without
/// the particles, sorted and deduplicated.
fn key_components(tokens: &[NameToken]) -> Vec<String> {
    let mut out: Vec<String> = tokens
        .iter()
        .filter(|t| !PARTICLES.contains(&t.text.as_str()))
        .filter_map(key_component)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn key_component(t: &NameToken) -> Option<String> {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .take(MAX_KEY_COMPONENT)
            .collect()
    };
    let p = clean(&t.phonetic);
    let p = if p.is_empty() { clean(&t.text) } else { p };
    (!p.is_empty()).then_some(p)
}

/// The first characters of key components, deduplicated.
fn initials(components: &[String]) -> Vec<char> {
    let mut out: Vec<char> = components.iter().filter_map(|c| c.chars().next()).collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn pair_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("n:{a}:{b}")
    } else {
        format!("n:{b}:{a}")
    }
}

// ----- Comparison -------------------------------------------------------------------------------

/// The agreement level of every field of a pair, indexed by [`Field::index`]. `Copy`, 10 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Comparison([Level; FIELD_COUNT]);

impl Comparison {
    /// A comparison from explicit levels; `None` if a field is given a level it cannot have
    /// (see [`Field::levels`]).
    pub fn new(levels: [Level; FIELD_COUNT]) -> Option<Comparison> {
        Field::ALL
            .iter()
            .zip(levels.iter())
            .all(|(f, l)| f.has_level(*l))
            .then_some(Comparison(levels))
    }

    /// Every field missing.
    pub fn missing() -> Comparison {
        Comparison([Level::Missing; FIELD_COUNT])
    }

    pub fn level(&self, field: Field) -> Level {
        self.0[field.index()]
    }

    /// The comparison with the unscored fields ([`Field::is_scored`]) set to missing.
    pub fn scored(&self) -> Comparison {
        let mut out = *self;
        for f in Field::ALL {
            if !f.is_scored() {
                out.0[f.index()] = Level::Missing;
            }
        }
        out
    }

    pub fn levels(&self) -> [Level; FIELD_COUNT] {
        self.0
    }

    /// The levels as [`Level::letter`]s in [`Field::ALL`] order ("EEMCEEEMME"): a compact
    /// agreement pattern for reports.
    pub fn pattern(&self) -> String {
        self.0.iter().map(|l| l.letter()).collect()
    }
}

/// Compares two records field by field. Symmetric (`compare(a, b) == compare(b, a)`), and
/// allocation-free.
///
/// Names are bags of tokens: a field's level is the best of the two directions, where a
/// direction's level is the worst, over the tokens of one side, of that token's best match in
/// the other side (exact text, equal phonetic key, Jaro–Winkler ≥ [`SIMILAR_THRESHOLD`]). So
/// "van an" vs "an" (a middle name merged into the given name) is exact.
///
/// Family and given names are also compared crosswise; when that agrees better (the parts were
/// swapped), the crosswise levels are used, the better one on the family name and the worse on
/// the given name (a canonical order, which keeps `compare` symmetric).
pub fn compare(a: &MatchRecord, b: &MatchRecord) -> Comparison {
    let gg = compare_tokens(&a.given, &b.given);
    let ff = compare_tokens(&a.family, &b.family);
    let straight = gg.rank() + ff.rank();
    let (given, family) = if straight < 2 * Level::Exact.rank() {
        let gf = compare_tokens(&a.given, &b.family);
        let fg = compare_tokens(&a.family, &b.given);
        if gf.rank() + fg.rank() > straight {
            if gf.rank() >= fg.rank() {
                (fg, gf)
            } else {
                (gf, fg)
            }
        } else {
            (gg, ff)
        }
    } else {
        (gg, ff)
    };
    let mut levels = [Level::Missing; FIELD_COUNT];
    levels[Field::Given.index()] = given;
    levels[Field::Family.index()] = family;
    levels[Field::Middle.index()] = compare_tokens(&a.middle, &b.middle);
    levels[Field::DateOfBirth.index()] = compare_dates(&a.date_of_birth, &b.date_of_birth);
    levels[Field::Sex.index()] = compare_sex(a.sex, b.sex);
    levels[Field::PlaceOfBirth.index()] = compare_places(&a.place_of_birth, &b.place_of_birth);
    levels[Field::Residence.index()] = match (&a.residence, &b.residence) {
        (Some(x), Some(y)) => compare_places(x, y),
        _ => Level::Missing,
    };
    levels[Field::Father.index()] = compare_parents(a.father.as_ref(), b.father.as_ref());
    levels[Field::Mother.index()] = compare_parents(a.mother.as_ref(), b.mother.as_ref());
    // Parents and the address are both evidence of one household: siblings share them. Counted
    // as independent (Fellegi–Sunter's assumption) they would add up for every pair of
    // relatives, so the address counts only when no parent agrees.
    let parent_agrees = [Field::Father, Field::Mother]
        .iter()
        .any(|f| matches!(levels[f.index()], Level::Exact | Level::Close));
    // An address line names a place only within its area: "Thôn 5" or "Ban Phonxay, unit 3"
    // exists in many areas, so lines that agree in two different areas are two places.
    levels[Field::Address.index()] = if parent_agrees {
        Level::Missing
    } else if areas_differ(a.residence.as_deref(), b.residence.as_deref()) {
        if a.address.is_empty() || b.address.is_empty() {
            Level::Missing
        } else {
            Level::Disagree
        }
    } else {
        compare_addresses(&a.address, &b.address)
    };
    Comparison(levels)
}

/// Two known residence areas, neither within the other (codes are hierarchical prefixes).
fn areas_differ(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => !(x.starts_with(y) || y.starts_with(x)),
        _ => false,
    }
}

/// The key an address is counted under for term frequencies: the residence area and the
/// address tokens (an address line is a place only within its area). Written into `out`, so
/// that the whole-register pass can reuse one buffer.
pub fn address_key(area: Option<&str>, tokens: &[String], out: &mut String) {
    out.clear();
    out.push_str(area.unwrap_or(""));
    out.push('|');
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(t);
    }
}

thread_local! {
    /// The buffer [`LinkageModel::score_weight`] builds address keys in (it allocates nothing
    /// per pair once warm).
    static ADDRESS_KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The tokens of address lines as [`compare_addresses`] compares them: folded to Latin
/// (any script, as names are) and sorted, repeated tokens kept ("unit 9, house 9").
pub fn address_tokens(lines: &[String]) -> Vec<String> {
    let mut out: Vec<String> = lines.iter().flat_map(|l| latin_tokens(l)).collect();
    out.sort_unstable();
    out
}

/// Addresses as sorted token multisets: the same tokens → exact; one side's tokens all in
/// the other (a detail left out) or one token replaced (another house number) → close; else
/// disagree. Either empty → missing. Token order is ignored: sources write the parts of an
/// address in either order. There is no "half in common" level: addresses written to one
/// pattern ("Ban …, unit …, house …") share half their tokens whoever they belong to.
pub fn compare_addresses(a: &[String], b: &[String]) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    if a == b {
        return Level::Exact;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    // One token in common says nothing ("Thôn 5" and "Thôn 6", "Xóm 5" and "Thôn 5"): each
    // line's pattern supplies it.
    let (shorter, longer) = (a.len().min(b.len()), a.len().max(b.len()));
    if common < 2 {
        Level::Disagree
    } else if common == shorter || (a.len() == b.len() && common + 1 == longer) {
        Level::Close
    } else {
        Level::Disagree
    }
}

/// The level of two name-token bags (see [`compare`]); [`Level::Missing`] if either is empty.
pub fn compare_tokens(a: &[NameToken], b: &[NameToken]) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    const N: usize = 8;
    if a.len() <= N && b.len() <= N {
        // Each pair once, on the stack.
        let mut m = [[Level::Disagree; N]; N];
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                m[i][j] = token_level(x, y);
            }
        }
        let mut ab = Level::Exact;
        for row in m.iter().take(a.len()) {
            let best = row
                .iter()
                .take(b.len())
                .fold(Level::Disagree, |acc, l| acc.better(*l));
            ab = worse(ab, best);
        }
        let mut ba = Level::Exact;
        for j in 0..b.len() {
            let best = m
                .iter()
                .take(a.len())
                .fold(Level::Disagree, |acc, row| acc.better(row[j]));
            ba = worse(ba, best);
        }
        ab.better(ba)
    } else {
        directed(a, b).better(directed(b, a))
    }
}

fn worse(a: Level, b: Level) -> Level {
    if b.rank() < a.rank() {
        b
    } else {
        a
    }
}

fn directed(a: &[NameToken], b: &[NameToken]) -> Level {
    let mut worst = Level::Exact;
    for x in a {
        let best = b
            .iter()
            .fold(Level::Disagree, |acc, y| acc.better(token_level(x, y)));
        worst = worse(worst, best);
    }
    worst
}

/// Exact text, else equal (non-empty) phonetic keys, else Jaro–Winkler ≥ threshold.
fn token_level(x: &NameToken, y: &NameToken) -> Level {
    if x.text == y.text {
        Level::Exact
    } else if !x.phonetic.is_empty() && x.phonetic == y.phonetic {
        Level::Close
    } else if jaro_winkler(&x.text, &y.text) >= SIMILAR_THRESHOLD {
        Level::Similar
    } else {
        Level::Disagree
    }
}

/// Jaro–Winkler similarity, equal to `strsim::jaro_winkler`, without allocating for ASCII
/// tokens of up to 64 bytes. Arguments are put in a canonical order first, so the result is
/// symmetric.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    const CAP: usize = 64;
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if !a.is_ascii() || !b.is_ascii() || x.len() > CAP || y.len() > CAP {
        return strsim::jaro_winkler(a, b);
    }
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let range = (x.len().max(y.len()) / 2).saturating_sub(1);
    let mut xf = [false; CAP];
    let mut yf = [false; CAP];
    let mut matches = 0usize;
    for (i, xc) in x.iter().enumerate() {
        let lo = i.saturating_sub(range);
        let hi = (i + range + 1).min(y.len());
        for j in lo..hi {
            if !yf[j] && y[j] == *xc {
                xf[i] = true;
                yf[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut k = 0usize;
    for (i, xc) in x.iter().enumerate() {
        if xf[i] {
            while k < y.len() && !yf[k] {
                k += 1;
            }
            if k < y.len() && y[k] != *xc {
                transpositions += 1;
            }
            k += 1;
        }
    }
    transpositions /= 2;
    let m = matches as f64;
    let jaro =
        (m / x.len() as f64 + m / y.len() as f64 + (matches - transpositions) as f64 / m) / 3.0;
    if jaro > 0.7 {
        let prefix = x.iter().take(4).zip(y).take_while(|(p, q)| p == q).count();
        jaro + 0.1 * prefix as f64 * (1.0 - jaro)
    } else {
        jaro
    }
}

/// Dates of birth.
///
/// Both full: equal → exact; one component off → close (same day and month with year ±1;
/// same year with day and month swapped; same year and day, other month); otherwise same year
/// (same month and another day included) → similar; else disagree.
/// Otherwise (a part unknown on one side) the parts both sides know are compared: same year
/// and no contradicting month → close; same year → similar; year ±1 and no contradicting month
/// → similar; else disagree. Exact needs two full dates.
pub fn compare_dates(a: &PartialDate, b: &PartialDate) -> Level {
    let same_year = a.year() == b.year();
    let year_off_by_one = (a.year() - b.year()).abs() == 1;
    match (a.month(), a.day(), b.month(), b.day()) {
        (Some(am), Some(ad), Some(bm), Some(bd)) => {
            if same_year && am == bm && ad == bd {
                Level::Exact
            } else if (year_off_by_one && am == bm && ad == bd)
                || (same_year && am == bd && ad == bm)
                || (same_year && ad == bd)
            {
                Level::Close
            } else if same_year {
                Level::Similar
            } else {
                Level::Disagree
            }
        }
        // One date partial: compatible (every component both give agrees) is what a record
        // written with less precision looks like.
        (Some(am), ad, Some(bm), bd) if same_year && am == bm && (ad.is_none() || bd.is_none()) => {
            Level::Close
        }
        (None, _, _, _) | (_, _, None, _) if same_year => Level::Close,
        _ if same_year => Level::Similar,
        // A partial date one year off (a common error of age-based estimates), the months
        // not contradicting each other where both give one.
        (am, None, bm, _) | (am, _, bm, None)
            if year_off_by_one && (am.is_none() || bm.is_none() || am == bm) =>
        {
            Level::Similar
        }
        _ => Level::Disagree,
    }
}

/// Sex: unknown on either side → missing.
pub fn compare_sex(a: Sex, b: Sex) -> Level {
    match (a, b) {
        (Sex::Unknown, _) | (_, Sex::Unknown) => Level::Missing,
        _ if a == b => Level::Exact,
        _ => Level::Disagree,
    }
}

/// Admin-area codes: same code → exact; same first two characters (the province) → close;
/// else disagree. An empty code is missing.
pub fn compare_places(a: &str, b: &str) -> Level {
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() || b.is_empty() {
        Level::Missing
    } else if a == b {
        Level::Exact
    } else {
        match (a.get(..2), b.get(..2)) {
            (Some(x), Some(y)) if x == y => Level::Close,
            _ => Level::Disagree,
        }
    }
}

/// Parents: two PINs are exact or disagree; two names are compared as name tokens; a PIN and
/// a name cannot be compared here (missing).
pub fn compare_parents(a: Option<&ParentKey>, b: Option<&ParentKey>) -> Level {
    match (a, b) {
        (Some(ParentKey::Pin(x)), Some(ParentKey::Pin(y))) => {
            if x == y {
                Level::Exact
            } else {
                Level::Disagree
            }
        }
        (Some(ParentKey::Name(x)), Some(ParentKey::Name(y))) => compare_tokens(x, y),
        _ => Level::Missing,
    }
}

// ----- The model --------------------------------------------------------------------------------

/// Why a model was rejected.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LinkageError {
    #[error("the prior match proportion {0} is not strictly between 0 and 1")]
    BadPrior(f64),
    #[error("{field:?}/{level:?}: probability {value} is not strictly between 0 and 1")]
    BadProbability {
        field: Field,
        level: Level,
        value: f64,
    },
    #[error("{field:?}: the {which} probabilities sum to {sum}, not 1")]
    NotNormalised {
        field: Field,
        which: &'static str,
        sum: f64,
    },
    #[error("{field:?}: no probabilities for level {level:?}")]
    MissingLevel { field: Field, level: Level },
}

/// How a model was estimated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Training {
    /// Candidate pairs EM ran over.
    pub pairs: u64,
    /// Distinct comparison vectors among them.
    pub distinct_patterns: u64,
    /// Random pairs the u probabilities were initialised from.
    pub random_pairs: u64,
    pub iterations: u64,
    /// Whether EM stopped because no parameter changed by more than 1e-7.
    pub converged: bool,
}

/// The m and u probability of one level of one field.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LevelProbabilities {
    /// P(level | the pair is a match).
    pub m: f64,
    /// P(level | the pair is not a match).
    pub u: f64,
}

/// A Fellegi–Sunter model: m and u probabilities for every level of every field, and the prior
/// proportion of matches among candidate pairs.
///
/// Stored as JSON: `{"prior": .., "fields": {"given": {"exact": {"m": .., "u": ..}, ..}, ..},
/// "training": {..}}`; deserialization validates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ModelRepr", into = "ModelRepr")]
pub struct LinkageModel {
    prior: f64,
    m: [[f64; LEVEL_SLOTS]; FIELD_COUNT],
    u: [[f64; LEVEL_SLOTS]; FIELD_COUNT],
    /// `log2(m/u)`, 0 for levels a field cannot have.
    weights: [[f64; LEVEL_SLOTS]; FIELD_COUNT],
    training: Training,
    /// Name-token frequencies of the register the model was estimated on, for
    /// term-frequency-adjusted weights ([`LinkageModel::score_pair`]); `None`: no adjustment.
    term_frequencies: Option<TermFrequencies>,
}

/// Unknown fields are ignored, not refused: in a rolling upgrade, nodes still on the previous
/// release must go on loading a model that a newer node stored with more in it (they score
/// without what they do not know).
#[derive(Serialize, Deserialize)]
struct ModelRepr {
    prior: f64,
    fields: BTreeMap<Field, BTreeMap<Level, LevelProbabilities>>,
    #[serde(default)]
    training: Training,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    term_frequencies: Option<TermFrequencies>,
}

impl From<LinkageModel> for ModelRepr {
    fn from(model: LinkageModel) -> ModelRepr {
        let fields = Field::ALL
            .iter()
            .map(|f| {
                let levels = f
                    .levels()
                    .iter()
                    .filter_map(|l| {
                        let s = l.slot()?;
                        Some((
                            *l,
                            LevelProbabilities {
                                m: model.m[f.index()][s],
                                u: model.u[f.index()][s],
                            },
                        ))
                    })
                    .collect();
                (*f, levels)
            })
            .collect();
        ModelRepr {
            prior: model.prior,
            fields,
            training: model.training,
            term_frequencies: model.term_frequencies,
        }
    }
}

impl TryFrom<ModelRepr> for LinkageModel {
    type Error = LinkageError;

    fn try_from(r: ModelRepr) -> Result<LinkageModel, LinkageError> {
        let mut missing = None;
        let model = LinkageModel::new(r.prior, |field, level| {
            match r.fields.get(&field).and_then(|l| l.get(&level)) {
                Some(p) => (p.m, p.u),
                // A model stored before the address was compared: the address weighs nothing
                // until the model is estimated again.
                None if field == Field::Address && !r.fields.contains_key(&field) => {
                    let even = 1.0 / field.levels().len() as f64;
                    (even, even)
                }
                None => {
                    missing.get_or_insert((field, level));
                    (0.5, 0.5)
                }
            }
        });
        if let Some((field, level)) = missing {
            return Err(LinkageError::MissingLevel { field, level });
        }
        let mut model = model?;
        model.training = r.training;
        model.term_frequencies = r.term_frequencies;
        Ok(model)
    }
}

/// Smallest and largest probability a parameter may take.
const P_MIN: f64 = 1e-9;
const P_MAX: f64 = 1.0 - 1e-9;

impl LinkageModel {
    /// A model from explicit parameters: `probabilities(field, level)` returns `(m, u)` for
    /// every level of [`Field::levels`]. Each must be strictly between 0 and 1, and the m (and
    /// the u) of a field must sum to 1 (within 1e-6).
    pub fn new(
        prior: f64,
        mut probabilities: impl FnMut(Field, Level) -> (f64, f64),
    ) -> Result<LinkageModel, LinkageError> {
        if !(prior > 0.0 && prior < 1.0) {
            return Err(LinkageError::BadPrior(prior));
        }
        let mut m = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
        let mut u = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
        for field in Field::ALL {
            let (mut sm, mut su) = (0.0, 0.0);
            for level in field.levels() {
                let (pm, pu) = probabilities(field, *level);
                for value in [pm, pu] {
                    if !(value > 0.0 && value < 1.0) {
                        return Err(LinkageError::BadProbability {
                            field,
                            level: *level,
                            value,
                        });
                    }
                }
                if let Some(s) = level.slot() {
                    m[field.index()][s] = pm;
                    u[field.index()][s] = pu;
                }
                sm += pm;
                su += pu;
            }
            for (which, sum) in [("m", sm), ("u", su)] {
                if (sum - 1.0).abs() > 1e-6 {
                    return Err(LinkageError::NotNormalised { field, which, sum });
                }
            }
        }
        Ok(LinkageModel::from_arrays(prior, m, u, Training::default()))
    }

    fn from_arrays(
        prior: f64,
        m: [[f64; LEVEL_SLOTS]; FIELD_COUNT],
        u: [[f64; LEVEL_SLOTS]; FIELD_COUNT],
        training: Training,
    ) -> LinkageModel {
        let mut weights = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
        for field in Field::ALL {
            let i = field.index();
            for level in field.levels() {
                if let Some(s) = level.slot() {
                    weights[i][s] = (m[i][s] / u[i][s]).log2();
                }
            }
        }
        LinkageModel {
            prior,
            m,
            u,
            weights,
            training,
            term_frequencies: None,
        }
    }

    /// Generic starting values for [`estimate`]: agreement is likely among matches and
    /// unlikely among non-matches, prior 1 %. They are *starting values* for EM (which only
    /// needs them on the right side of the match/non-match split), not a calibrated decision
    /// rule: estimate a model on the register's own data before trusting its probabilities.
    pub fn initial() -> LinkageModel {
        let name_m = [0.85, 0.06, 0.04, 0.05];
        let name_u = [0.02, 0.01, 0.02, 0.95];
        let parent_m = [0.85, 0.05, 0.03, 0.07];
        let parent_u = [0.005, 0.005, 0.01, 0.98];
        let dob_m = [0.85, 0.08, 0.04, 0.03];
        let dob_u = [0.0005, 0.002, 0.0125, 0.985];
        let sex_m = [0.97, 0.0, 0.0, 0.03];
        let sex_u = [0.5, 0.0, 0.0, 0.5];
        let place_m = [0.80, 0.10, 0.0, 0.10];
        let place_u = [0.01, 0.05, 0.0, 0.94];
        let res_m = [0.60, 0.20, 0.0, 0.20];
        let res_u = [0.005, 0.05, 0.0, 0.945];
        let address_m = [0.60, 0.15, 0.0, 0.25];
        let address_u = [0.001, 0.005, 0.0, 0.994];
        let mut m = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
        let mut u = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
        for field in Field::ALL {
            let (pm, pu) = match field {
                Field::Given | Field::Family | Field::Middle => (name_m, name_u),
                Field::Father | Field::Mother => (parent_m, parent_u),
                Field::DateOfBirth => (dob_m, dob_u),
                Field::Sex => (sex_m, sex_u),
                Field::PlaceOfBirth => (place_m, place_u),
                Field::Residence => (res_m, res_u),
                Field::Address => (address_m, address_u),
            };
            m[field.index()] = pm;
            u[field.index()] = pu;
        }
        LinkageModel::from_arrays(0.01, m, u, Training::default())
    }

    /// The prior proportion of matches among candidate pairs.
    pub fn prior(&self) -> f64 {
        self.prior
    }

    pub fn training(&self) -> &Training {
        &self.training
    }

    /// m and u of a level (`None` for [`Level::Missing`] and levels the field cannot have).
    pub fn probabilities(&self, field: Field, level: Level) -> Option<LevelProbabilities> {
        let s = level.slot()?;
        field.levels().contains(&level).then(|| LevelProbabilities {
            m: self.m[field.index()][s],
            u: self.u[field.index()][s],
        })
    }

    /// `log2(m/u)` of one level; 0 for [`Level::Missing`].
    pub fn level_weight(&self, field: Field, level: Level) -> f64 {
        match level.slot() {
            Some(s) => self.weights[field.index()][s],
            None => 0.0,
        }
    }

    /// The Fellegi–Sunter weight: the sum over fields of `log2(m/u)` of their level; missing
    /// fields contribute 0.
    pub fn weight(&self, c: &Comparison) -> f64 {
        let mut w = 0.0;
        for (i, level) in c.scored().0.iter().enumerate() {
            if let Some(s) = level.slot() {
                w += self.weights[i][s];
            }
        }
        w
    }

    /// The posterior probability that the pair is a match: `1 / (1 + 2^-(w + log2(p/(1-p))))`.
    pub fn probability(&self, c: &Comparison) -> f64 {
        posterior(self.weight(c), self.prior)
    }

    /// One explanation per field, in [`Field::ALL`] order.
    pub fn explain(&self, c: &Comparison) -> Vec<FieldExplanation> {
        Field::ALL
            .iter()
            .map(|f| {
                let level = c.level(*f);
                let (weight, note) = if f.is_scored() {
                    (self.level_weight(*f, level), String::new())
                } else {
                    (0.0, "; not scored: relatives share it".to_owned())
                };
                FieldExplanation {
                    field: *f,
                    level,
                    weight,
                    how: format!("{}: {} ({weight:+.2}{note})", f.label(), f.describe(level)),
                }
            })
            .collect()
    }
}

impl LinkageModel {
    /// The model with name-token frequencies for term-frequency-adjusted weights (see
    /// [`LinkageModel::score_pair`]).
    pub fn with_term_frequencies(mut self, frequencies: TermFrequencies) -> LinkageModel {
        self.term_frequencies = Some(frequencies);
        self
    }

    pub fn term_frequencies(&self) -> Option<&TermFrequencies> {
        self.term_frequencies.as_ref()
    }

    /// Compares two records and weighs the comparison with term-frequency adjustment: the
    /// weight of an exact name agreement is `log2(m / f)`, where `f` is the share of records
    /// holding the agreeing name, instead of `log2(m / u)` with `u` the average over all names
    /// (Winkler's frequency-based matching, as Splink does it). Agreeing on a name one person in
    /// a thousand has is stronger evidence than agreeing on one a third of the population has;
    /// the average weight hides that. Only exact agreement is adjusted (the frequency of the
    /// value two spellings share is not defined), and only when the model has frequencies.
    pub fn score_pair(&self, a: &MatchRecord, b: &MatchRecord) -> PairScore {
        let comparison = compare(a, b);
        let mut adjustments = Vec::new();
        let bits = self.tf_each(a, b, &comparison, |field, token, count, records, bits| {
            adjustments.push(TfAdjustment {
                field,
                token: token.to_owned(),
                count,
                records,
                bits,
            })
        });
        let weight = self.weight(&comparison) + bits;
        PairScore {
            comparison,
            weight,
            probability: posterior(weight, self.prior),
            adjustments,
        }
    }

    /// The comparison and weight of [`LinkageModel::score_pair`] without the adjustments'
    /// details: nothing is allocated (the whole-register pass scores hundreds of millions).
    pub fn score_weight(&self, a: &MatchRecord, b: &MatchRecord) -> (Comparison, f64) {
        let comparison = compare(a, b);
        let bits = self.tf_each(a, b, &comparison, |_, _, _, _, _| {});
        (comparison, self.weight(&comparison) + bits)
    }

    /// The posterior probability of a weight under this model's prior.
    pub fn posterior(&self, weight: f64) -> f64 {
        posterior(weight, self.prior)
    }

    /// [`LinkageModel::explain`] for a pair scored by [`LinkageModel::score_pair`]: an exact
    /// name's weight includes its term-frequency adjustment, which the text states.
    pub fn explain_pair(&self, score: &PairScore) -> Vec<FieldExplanation> {
        let mut out = self.explain(&score.comparison);
        for t in &score.adjustments {
            if let Some(e) = out.iter_mut().find(|e| e.field == t.field) {
                let base = e.weight;
                e.weight += t.bits;
                e.how = format!(
                    "{}: {} ({:+.2}: {base:+.2} for the level, {:+.2} as '{}' is held by {} of {} \
                     records)",
                    t.field.label(),
                    t.field.describe(e.level),
                    e.weight,
                    t.bits,
                    t.token,
                    t.count,
                    t.records
                );
            }
        }
        out
    }

    /// Calls `each(field, value, count, records, bits)` for the adjustment of every exactly
    /// agreeing name field and of an exactly agreeing address (none without frequencies) and
    /// returns the sum of their bits.
    fn tf_each(
        &self,
        a: &MatchRecord,
        b: &MatchRecord,
        c: &Comparison,
        mut each: impl FnMut(Field, &str, u64, u64, f64),
    ) -> f64 {
        let Some(tf) = &self.term_frequencies else {
            return 0.0;
        };
        let mut sum = 0.0;
        let straight = |f: Field| -> Option<&[NameToken]> {
            match f {
                Field::Given => subset_side(&a.given, &b.given),
                Field::Family => subset_side(&a.family, &b.family),
                _ => subset_side(&a.middle, &b.middle),
            }
        };
        for field in [Field::Given, Field::Family, Field::Middle] {
            if c.level(field) != Level::Exact {
                continue;
            }
            // The agreeing tokens, and how often a token is held in the field(s) it agrees in:
            // given and family names agreeing crosswise (swapped) are counted as either.
            let (tokens, crosswise) = match straight(field) {
                Some(t) => (t, false),
                None if field == Field::Middle => continue,
                None => {
                    let (x, y) = (
                        subset_side(&a.given, &b.family),
                        subset_side(&a.family, &b.given),
                    );
                    match (field, x, y) {
                        (Field::Given, Some(t), _) | (Field::Family, _, Some(t)) => (t, true),
                        (_, Some(t), None) | (_, None, Some(t)) => (t, true),
                        _ => continue,
                    }
                }
            };
            let counts = |t: &str| -> (u64, u64) {
                let here = tf.field(field);
                if crosswise {
                    let (g, f) = (&tf.given, &tf.family);
                    let share = |c: &TokenCounts| c.share(t);
                    if share(g) >= share(f) {
                        (g.count(t), g.records)
                    } else {
                        (f.count(t), f.records)
                    }
                } else {
                    (here.count(t), here.records)
                }
            };
            // The rarest agreeing token: a random record holds all of them at most that often.
            let rarest = tokens
                .iter()
                .map(|t| (t, counts(&t.text)))
                .filter(|(_, (_, records))| *records > 0)
                .min_by(|x, y| {
                    let share = |(n, r): (u64, u64)| n as f64 / r as f64;
                    share(x.1).total_cmp(&share(y.1)).then(x.0.cmp(y.0))
                });
            let Some((token, (count, records))) = rarest else {
                continue;
            };
            let Some(p) = self.probabilities(field, Level::Exact) else {
                continue;
            };
            let share = (count.max(1) as f64 / records as f64).min(1.0);
            let bits = (p.u / share).log2();
            sum += bits;
            each(field, &token.text, count.max(1), records, bits);
        }
        sum + self.address_tf(tf, a, b, c, &mut each)
    }

    /// The adjustment of an exactly agreeing address: `log2(u / f)` with `f` the share of
    /// records at that address in that area, when that is negative. A hamlet-wide address
    /// ("Thôn 5", the whole hamlet's line) held by hundreds is weak evidence, and the average
    /// `u` hides it. A rare address is not made stronger than the level's weight: a household's
    /// members all share theirs, so its rarity does not single out one person as a rare name
    /// does.
    fn address_tf(
        &self,
        tf: &TermFrequencies,
        a: &MatchRecord,
        b: &MatchRecord,
        c: &Comparison,
        each: &mut impl FnMut(Field, &str, u64, u64, f64),
    ) -> f64 {
        let counts = &tf.address;
        if c.level(Field::Address) != Level::Exact || counts.records == 0 {
            return 0.0;
        }
        let Some(p) = self.probabilities(Field::Address, Level::Exact) else {
            return 0.0;
        };
        let area = a.residence.as_deref().or(b.residence.as_deref());
        ADDRESS_KEY.with(|key| {
            let Ok(mut key) = key.try_borrow_mut() else {
                return 0.0;
            };
            address_key(area, &a.address, &mut key);
            let count = counts.count(&key).max(1);
            let share = (count as f64 / counts.records as f64).min(1.0);
            let bits = (p.u / share).log2().min(0.0);
            if bits < 0.0 {
                let shown = key.split_once('|').map_or(key.as_str(), |(_, t)| t);
                each(Field::Address, shown, count, counts.records, bits);
            }
            bits
        })
    }
}

/// The smaller of two token bags when its every token (by text) is in the other: the tokens
/// two exactly agreeing name fields share.
fn subset_side<'a>(a: &'a [NameToken], b: &'a [NameToken]) -> Option<&'a [NameToken]> {
    let within = |x: &[NameToken], y: &[NameToken]| {
        !x.is_empty() && x.iter().all(|t| y.iter().any(|u| u.text == t.text))
    };
    if a.len() <= b.len() && within(a, b) {
        Some(a)
    } else if within(b, a) {
        Some(b)
    } else {
        None
    }
}

/// A pair's comparison and its weight and posterior with term-frequency adjustment.
#[derive(Debug, Clone, PartialEq)]
pub struct PairScore {
    pub comparison: Comparison,
    /// [`LinkageModel::weight`] plus the adjustments.
    pub weight: f64,
    pub probability: f64,
    pub adjustments: Vec<TfAdjustment>,
}

/// The term-frequency adjustment of one exactly agreeing name field.
#[derive(Debug, Clone, PartialEq)]
pub struct TfAdjustment {
    pub field: Field,
    /// The agreeing token the adjustment is computed from (the rarest).
    pub token: String,
    /// Records holding it (for a token beyond the stored list: the tail count).
    pub count: u64,
    /// Records with the field.
    pub records: u64,
    /// `log2(u / (count / records))`, added to the level's weight.
    pub bits: f64,
}

/// How many records hold each name token, per name field, counted over the register when the
/// model is estimated and stored with it, so every node adjusts with the same numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermFrequencies {
    pub given: TokenCounts,
    pub family: TokenCounts,
    pub middle: TokenCounts,
    /// Records at each address, keyed by [`address_key`] (a model stored before addresses
    /// were counted has none, and its addresses are not adjusted).
    #[serde(default)]
    pub address: TokenCounts,
}

/// Token counts of one name field: the most frequent tokens only (the list is bounded), the
/// others counted as the tail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenCounts {
    /// Records with at least one token in the field.
    pub records: u64,
    /// The count taken for a token not listed: the largest count left out when the list was
    /// cut (no unlisted token is more frequent), else 1 (a token not seen in training).
    pub tail: u64,
    /// Records holding each listed token.
    pub tokens: BTreeMap<String, u64>,
}

impl TokenCounts {
    /// Counts of `keep` tokens at most, from each record's tokens of the field.
    fn tally<'a>(bags: impl Iterator<Item = &'a [NameToken]>, keep: usize) -> TokenCounts {
        // Tokens are deduplicated within a bag (see `name_tokens`).
        TokenCounts::tally_values(
            bags.filter(|b| !b.is_empty())
                .map(|b| b.iter().map(|t| t.text.as_str())),
            keep,
        )
    }

    /// Counts of `keep` values at most; each item is one record's distinct values.
    fn tally_values<S: AsRef<str>, V: IntoIterator<Item = S>>(
        records_values: impl Iterator<Item = V>,
        keep: usize,
    ) -> TokenCounts {
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut records = 0u64;
        for values in records_values {
            records += 1;
            for v in values {
                let v = v.as_ref();
                match counts.get_mut(v) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(v.to_owned(), 1);
                    }
                }
            }
        }
        let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
        sorted.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        let tail = sorted.get(keep).map_or(1, |(_, n)| *n);
        TokenCounts {
            records,
            tail,
            tokens: sorted.into_iter().take(keep).collect(),
        }
    }

    /// Records holding `token` (the tail count if it is not listed).
    pub fn count(&self, token: &str) -> u64 {
        self.tokens.get(token).copied().unwrap_or(self.tail)
    }

    /// The share of records holding `token` (0 without records).
    pub fn share(&self, token: &str) -> f64 {
        if self.records == 0 {
            0.0
        } else {
            self.count(token) as f64 / self.records as f64
        }
    }
}

impl TermFrequencies {
    /// Counts over `records`, keeping the `keep` most frequent tokens per name field and the
    /// `keep_addresses` most frequent addresses.
    pub fn count<'a>(
        records: impl Iterator<Item = &'a MatchRecord> + Clone,
        keep: usize,
        keep_addresses: usize,
    ) -> TermFrequencies {
        TermFrequencies {
            given: TokenCounts::tally(records.clone().map(|r| r.given.as_slice()), keep),
            family: TokenCounts::tally(records.clone().map(|r| r.family.as_slice()), keep),
            middle: TokenCounts::tally(records.clone().map(|r| r.middle.as_slice()), keep),
            address: TokenCounts::tally_values(
                records.filter(|r| !r.address.is_empty()).map(|r| {
                    let mut key = String::new();
                    address_key(r.residence.as_deref(), &r.address, &mut key);
                    std::iter::once(key)
                }),
                keep_addresses,
            ),
        }
    }

    fn field(&self, field: Field) -> &TokenCounts {
        match field {
            Field::Family => &self.family,
            Field::Middle => &self.middle,
            _ => &self.given,
        }
    }
}

fn posterior(weight: f64, prior: f64) -> f64 {
    let logit = weight + (prior / (1.0 - prior)).log2();
    let p = 1.0 / (1.0 + (-logit).exp2());
    if p.is_nan() {
        0.0
    } else {
        p
    }
}

/// Laplace pseudo-count added to every level in every count.
const PSEUDO_COUNT: f64 = 1.0;
/// EM stops when no parameter moves by more than this.
const TOLERANCE: f64 = 1e-7;

/// Estimates a model.
///
/// * u: initialised from `random_pairs` (pairs of random records, almost all non-matches), as
///   level frequencies among non-missing values with Laplace smoothing (+1 per level). Without
///   random pairs the u of `start` are used.
/// * m, u and the prior are then fitted by expectation–maximisation over the candidate `pairs`
///   (latent class model with conditional independence of fields given match status; missing
///   levels are ignored, i.e. missing at random), starting from the m and prior of `start`.
///
/// u is fixed at the random-pair estimate when random pairs are given (EM moving u split the
/// blocked pairs by which key blocked them rather than into matches and non-matches). Blocked
/// pairs agree on their blocking fields by construction, which EM with fixed u credits to
/// matches: use [`estimate_by_sessions`], which leaves each session's blocking fields out.
///
/// Every count gets a pseudo-count of 1 per level, so no probability is 0 or 1. Identical
/// comparison vectors are aggregated first, so an iteration costs the number of distinct
/// patterns (a few thousand at most), not the number of pairs. Stops after `max_iterations` or
/// when no parameter changes by more than 1e-7 (`training.converged`). If EM, estimating u
/// too (no random pairs), ends with the classes switched (agreement more likely among
/// "non-matches"), they are swapped back; a u fixed from random pairs is never swapped.
pub fn estimate(
    pairs: &[Comparison],
    random_pairs: &[Comparison],
    start: &LinkageModel,
    max_iterations: usize,
) -> LinkageModel {
    let scored = |v: &[Comparison]| v.iter().map(Comparison::scored).collect::<Vec<_>>();
    let (pairs, random_pairs) = (&scored(pairs)[..], &scored(random_pairs)[..]);
    let mut u = start.u;
    // u is what agreement looks like among non-matches: random pairs measure it directly
    // (almost none of them match), so EM keeps it and estimates only m and the prior. Letting
    // EM move u too made it split the blocked pairs by which key blocked them (one class
    // agreeing on the date of birth, the other on the name) instead of match / non-match.
    let u_fixed = !random_pairs.is_empty();
    if u_fixed {
        let ones: Vec<(Comparison, f64)> = aggregate(random_pairs);
        u = fit_levels(ones.iter().map(|(c, n)| (c, *n)));
    }
    let m_start = start.m;
    let patterns = aggregate(pairs);
    let total: f64 = patterns.iter().map(|(_, n)| n).sum();
    let mut m = m_start;
    let mut prior = start.prior.clamp(P_MIN, P_MAX);
    let mut iterations = 0u64;
    let mut converged = false;
    if total > 0.0 {
        for _ in 0..max_iterations {
            iterations += 1;
            let (ln_m, ln_u) = (ln_table(&m), ln_table(&u));
            let ln_odds = (prior / (1.0 - prior)).ln();
            let mut cm = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
            let mut cu = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
            let mut matched = 0.0;
            for (c, n) in &patterns {
                let mut logit = ln_odds;
                for (i, level) in c.0.iter().enumerate() {
                    if let Some(s) = level.slot() {
                        logit += ln_m[i][s] - ln_u[i][s];
                    }
                }
                let g = 1.0 / (1.0 + (-logit).exp());
                let g = if g.is_nan() { 0.0 } else { g };
                matched += n * g;
                for (i, level) in c.0.iter().enumerate() {
                    if let Some(s) = level.slot() {
                        cm[i][s] += n * g;
                        cu[i][s] += n * (1.0 - g);
                    }
                }
            }
            let new_prior = (matched / total).clamp(P_MIN, P_MAX);
            let new_m = normalise(&cm);
            let new_u = normalise(&cu);
            let delta = max_change(&m, &new_m)
                .max(if u_fixed { 0.0 } else { max_change(&u, &new_u) })
                .max((prior - new_prior).abs());
            m = new_m;
            if !u_fixed {
                u = new_u;
            }
            prior = new_prior;
            if delta < TOLERANCE {
                converged = true;
                break;
            }
        }
    }
    // Keep the "match" class the one that agrees more. With u fixed there is nothing to swap:
    // u is measured on random pairs, not a class EM may have mislabelled, and swapping would
    // replace it by m.
    let lean: f64 = (0..FIELD_COUNT).map(|i| m[i][0] - u[i][0]).sum();
    if lean < 0.0 && !u_fixed {
        std::mem::swap(&mut m, &mut u);
        prior = 1.0 - prior;
    }
    LinkageModel::from_arrays(
        prior,
        m,
        u,
        Training {
            pairs: pairs.len() as u64,
            distinct_patterns: patterns.len() as u64,
            random_pairs: random_pairs.len() as u64,
            iterations,
            converged,
        },
    )
}

/// Candidate pairs found by one kind of blocking key, and the fields that key makes agree.
pub struct Session<'a> {
    pub pairs: &'a [Comparison],
    /// Fields left out of this session: those the key is built from (they agree in every pair,
    /// so EM cannot learn their m here, and counting them would make every pair look like a
    /// match), and those that agree among the session's non-matches far more often than among
    /// random pairs.
    pub blocked_on: &'a [Field],
    /// The fields the key is built from, for recovering the prior. A full date of birth
    /// agrees with its key only when exact; names when exact or phonetically equal. Empty for
    /// a session over an earlier session's pairs: it recovers no prior of its own.
    pub keyed_on: &'a [Field],
    /// Fields on which a third class, *lookalikes*, is distributed as non-matches are. Pairs
    /// blocked on names include namesakes of one village or household: they agree on the name,
    /// sex, place of birth and address as matches do, and two classes cannot tell them from
    /// matches, so their unrelated dates of birth are counted as matches' errors (measured at 1M
    /// vn persons: the date's m of disagreement 0.28). A third class whose date is distributed
    /// as non-matches' takes them. Empty: two classes.
    pub lookalikes_differ_on: &'a [Field],
    /// How much of the register the session's pairs are, when known: then the prior is
    /// recovered from it rather than from the key's agreement probabilities, which assume
    /// that the session holds every pair sharing a key (it does not when large blocks are
    /// skipped).
    pub coverage: Option<Coverage>,
}

/// The share of all pairs of the register that a session's blocks hold, and the share of the
/// key's postings that are in blocks kept (not skipped as too large).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coverage {
    /// Pairs in the session's blocks / all pairs of the register: P(in the session).
    pub pair_share: f64,
    /// Postings in kept blocks / all postings of the key kind: the chance that a match's
    /// shared key is in a kept block, P(in the session | match) = mₖ · this.
    pub kept_share: f64,
}

/// Fellegi–Sunter parameters estimated the way the linkage literature does for blocked data
/// (as in Splink): u from random pairs; m by EM separately within each blocking session, with
/// that session's blocking fields left out (and the session's own u, see
/// `estimate_in_session`), each field's m taken from the sessions where it was free; the prior — the probability that two *random* records match — recovered from each
/// session's estimated match share P(match | blocking fields agree) by Bayes' rule, so that a
/// pair's posterior counts every field once against the whole population.
pub fn estimate_by_sessions(
    sessions: &[Session<'_>],
    random_pairs: &[Comparison],
    start: &LinkageModel,
    max_iterations: usize,
) -> LinkageModel {
    let scored: Vec<Comparison> = random_pairs.iter().map(Comparison::scored).collect();
    let u = if scored.is_empty() {
        start.u
    } else {
        fit_levels(aggregate(&scored).iter().map(|(c, n)| (c, *n)))
    };
    // Sessions run in order; a field's m comes from the first session where it is free, and
    // later sessions hold it fixed. With a tiny share of matches, an unconstrained EM finds
    // whatever split is strongest (measured: pairs blocked on names split by sex), so each
    // session only estimates what the earlier ones could not see.
    let mut m = start.m;
    let mut known = [false; FIELD_COUNT];
    let mut fits = Vec::new();
    let mut training = Training {
        random_pairs: scored.len() as u64,
        converged: true,
        ..Training::default()
    };
    for session in sessions {
        let masked: Vec<Comparison> = session
            .pairs
            .iter()
            .map(|c| {
                let mut c = c.scored();
                for f in session.blocked_on {
                    c.0[f.index()] = Level::Missing;
                }
                c
            })
            .collect();
        if masked.is_empty() {
            continue;
        }
        let mut free = [false; FIELD_COUNT];
        for f in Field::ALL {
            free[f.index()] =
                f.is_scored() && !session.blocked_on.contains(&f) && !known[f.index()];
        }
        let start_here = LinkageModel::from_arrays(start.prior, m, u, Training::default());
        let mut differ = [false; FIELD_COUNT];
        for f in session.lookalikes_differ_on {
            differ[f.index()] = !session.blocked_on.contains(f);
        }
        let fit = estimate_in_session(&masked, &start_here, max_iterations, &free, &differ);
        training.pairs += masked.len() as u64;
        training.distinct_patterns += fit.training.distinct_patterns;
        training.iterations += fit.training.iterations;
        training.converged &= fit.training.converged;
        for f in Field::ALL {
            if free[f.index()] {
                m[f.index()] = fit.m[f.index()];
                known[f.index()] = true;
            }
        }
        if !session.keyed_on.is_empty() {
            fits.push((fit.prior, session.keyed_on.to_vec(), session.coverage));
        }
    }
    // P(M | key agrees) = λ·mₖ / (λ·mₖ + (1-λ)·uₖ), solved for λ; mₖ, uₖ: probabilities that
    // the blocking fields agree as the key needs (see `key_agreement`) among matches and
    // non-matches.
    let mut log_priors = Vec::new();
    for (share, fields, coverage) in &fits {
        let (mut mk, mut uk) = (1.0, 1.0);
        for f in fields {
            let i = f.index();
            let agree = |t: &[[f64; LEVEL_SLOTS]; FIELD_COUNT]| {
                key_agreement(*f)
                    .iter()
                    .filter_map(|l| l.slot())
                    .map(|s| t[i][s])
                    .sum::<f64>()
            };
            mk *= agree(&m);
            uk *= agree(&u);
        }
        let share = share.clamp(P_MIN, P_MAX);
        // P(M) = P(M | S) · P(S) / P(S | M), with P(S) counted and P(S | M) = mₖ · kept.
        let lambda = match coverage {
            Some(c) if c.pair_share > 0.0 && c.kept_share > 0.0 && mk > 0.0 => {
                share * c.pair_share / (mk * c.kept_share)
            }
            _ => share * uk / (mk * (1.0 - share) + share * uk),
        };
        if lambda.is_finite() && lambda > 0.0 {
            log_priors.push(lambda.ln());
        }
    }
    let prior = if log_priors.is_empty() {
        start.prior
    } else {
        (log_priors.iter().sum::<f64>() / log_priors.len() as f64).exp()
    };
    LinkageModel::from_arrays(prior.clamp(P_MIN, P_MAX), m, u, training)
}

/// The levels at which a field agrees the way a blocking key built from it needs: a key holds
/// a name's phonetic key, so equal text or an equal phonetic key; it holds the full date of
/// birth, so only an exact date (a close date has another `d:` key). Counting the close date
/// too made mₖ/uₖ several times too small and the recovered prior about 3× too large.
fn key_agreement(field: Field) -> &'static [Level] {
    match field {
        Field::DateOfBirth
        | Field::Sex
        | Field::PlaceOfBirth
        | Field::Residence
        | Field::Address => &[Level::Exact],
        Field::Given | Field::Family | Field::Middle | Field::Father | Field::Mother => {
            &[Level::Exact, Level::Close]
        }
    }
}

/// EM for the `free` fields' m and the session's match share, over already-masked
/// comparisons of one session.
///
/// u starts from the random pairs' and is re-estimated from the session's non-match class: what
/// non-matches look like *among pairs that share this key* (conditional on the key's fields
/// agreeing), which is what EM within the session must compare against. The random-pair u
/// carries sampling error that, over millions of blocked pairs, is hundreds of pairs — as many
/// as the matches — and EM credited that excess to the matches' m (measured: the date of
/// birth's m of disagreement 0.18 on name-blocked pairs). Only the session's m are kept; the
/// model's u stays the random-pair estimate, the non-match distribution of the population.
fn estimate_in_session(
    pairs: &[Comparison],
    start: &LinkageModel,
    max_iterations: usize,
    free: &[bool; FIELD_COUNT],
    lookalikes_differ: &[bool; FIELD_COUNT],
) -> LinkageModel {
    let patterns = aggregate(pairs);
    let total: f64 = patterns.iter().map(|(_, n)| n).sum();
    let mut u = start.u;
    let mut m = start.m;
    let mut prior = start.prior.clamp(P_MIN, P_MAX);
    // The lookalike class (see `Session::lookalikes_differ_on`): it starts as matches on the
    // fields where it agrees, as non-matches where it differs, as often as matches.
    let three = lookalikes_differ.iter().any(|d| *d);
    let mut look = m;
    let mut look_share = if three { prior } else { 0.0 };
    for (i, differ) in lookalikes_differ.iter().enumerate() {
        if *differ {
            look[i] = u[i];
        }
    }
    let mut iterations = 0u64;
    let mut converged = false;
    for _ in 0..max_iterations {
        iterations += 1;
        let (ln_m, ln_u, ln_l) = (ln_table(&m), ln_table(&u), ln_table(&look));
        let other = (1.0 - prior - look_share).max(P_MIN);
        let (ln_pm, ln_pu) = (prior.ln(), other.ln());
        let ln_pl = if three {
            look_share.max(P_MIN).ln()
        } else {
            f64::NEG_INFINITY
        };
        let mut cm = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
        let mut cu = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
        let mut cl = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
        let (mut matched, mut lookalike) = (0.0, 0.0);
        for (c, n) in &patterns {
            let (mut lm, mut lu, mut ll) = (ln_pm, ln_pu, ln_pl);
            for (i, level) in c.0.iter().enumerate() {
                if let Some(s) = level.slot() {
                    lm += ln_m[i][s];
                    lu += ln_u[i][s];
                    ll += ln_l[i][s];
                }
            }
            // Posterior shares of the classes, by log-sum-exp.
            let top = lm.max(lu).max(ll);
            let (em, eu, el) = ((lm - top).exp(), (lu - top).exp(), (ll - top).exp());
            let sum = em + eu + el;
            let (gm, gl) = if sum.is_finite() && sum > 0.0 {
                (em / sum, el / sum)
            } else {
                (0.0, 0.0)
            };
            let gu = (1.0 - gm - gl).max(0.0);
            matched += n * gm;
            lookalike += n * gl;
            for (i, level) in c.0.iter().enumerate() {
                if let Some(s) = level.slot() {
                    cm[i][s] += n * gm;
                    cu[i][s] += n * gu;
                    cl[i][s] += n * gl;
                }
            }
        }
        // Where lookalikes are distributed as non-matches, both classes estimate it together.
        for (i, differ) in lookalikes_differ.iter().enumerate() {
            if *differ {
                for s in 0..LEVEL_SLOTS {
                    cu[i][s] += cl[i][s];
                }
            }
        }
        let new_prior = (matched / total.max(1.0)).clamp(P_MIN, P_MAX);
        let new_look_share = if three {
            (lookalike / total.max(1.0)).clamp(P_MIN, P_MAX)
        } else {
            0.0
        };
        let mut new_m = normalise(&cm);
        let mut new_u = normalise(&cu);
        let mut new_look = normalise(&cl);
        // Fields held fixed, and those with no observation here, keep their m (and u).
        for f in Field::ALL {
            let i = f.index();
            if !free[i] || cm[i].iter().sum::<f64>() == 0.0 {
                new_m[i] = m[i];
            }
            if cu[i].iter().sum::<f64>() == 0.0 {
                new_u[i] = u[i];
            }
            if lookalikes_differ[i] {
                new_look[i] = new_u[i];
            } else if cl[i].iter().sum::<f64>() == 0.0 {
                new_look[i] = look[i];
            }
        }
        let delta = max_change(&m, &new_m)
            .max(max_change(&u, &new_u))
            .max(if three {
                max_change(&look, &new_look)
            } else {
                0.0
            })
            .max((prior - new_prior).abs())
            .max((look_share - new_look_share).abs());
        m = new_m;
        u = new_u;
        look = new_look;
        prior = new_prior;
        look_share = new_look_share;
        if delta < TOLERANCE {
            converged = true;
            break;
        }
    }
    LinkageModel::from_arrays(
        prior,
        m,
        u,
        Training {
            pairs: pairs.len() as u64,
            distinct_patterns: patterns.len() as u64,
            random_pairs: 0,
            iterations,
            converged,
        },
    )
}

/// Distinct comparison vectors and their counts, in a deterministic order.
fn aggregate(pairs: &[Comparison]) -> Vec<(Comparison, f64)> {
    let mut counts: HashMap<Comparison, u64> = HashMap::new();
    for c in pairs {
        *counts.entry(*c).or_insert(0) += 1;
    }
    let mut v: Vec<(Comparison, f64)> = counts.into_iter().map(|(c, n)| (c, n as f64)).collect();
    v.sort_by_key(|a| a.0);
    v
}

/// Smoothed level frequencies of weighted comparisons.
fn fit_levels<'a>(
    items: impl Iterator<Item = (&'a Comparison, f64)>,
) -> [[f64; LEVEL_SLOTS]; FIELD_COUNT] {
    let mut counts = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
    for (c, n) in items {
        for (i, level) in c.0.iter().enumerate() {
            if let Some(s) = level.slot() {
                counts[i][s] += n;
            }
        }
    }
    normalise(&counts)
}

/// Per field: (count + pseudo-count) / (total + pseudo-count × levels), over the field's levels.
fn normalise(counts: &[[f64; LEVEL_SLOTS]; FIELD_COUNT]) -> [[f64; LEVEL_SLOTS]; FIELD_COUNT] {
    let mut out = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
    for field in Field::ALL {
        let i = field.index();
        let slots: Vec<usize> = field.levels().iter().filter_map(|l| l.slot()).collect();
        let total: f64 =
            slots.iter().map(|s| counts[i][*s]).sum::<f64>() + PSEUDO_COUNT * slots.len() as f64;
        for s in &slots {
            out[i][*s] = ((counts[i][*s] + PSEUDO_COUNT) / total).clamp(P_MIN, P_MAX);
        }
    }
    out
}

fn ln_table(p: &[[f64; LEVEL_SLOTS]; FIELD_COUNT]) -> [[f64; LEVEL_SLOTS]; FIELD_COUNT] {
    let mut out = [[0.0; LEVEL_SLOTS]; FIELD_COUNT];
    for (o, row) in out.iter_mut().zip(p) {
        for (x, v) in o.iter_mut().zip(row) {
            *x = if *v > 0.0 { v.ln() } else { 0.0 };
        }
    }
    out
}

fn max_change(a: &[[f64; LEVEL_SLOTS]; FIELD_COUNT], b: &[[f64; LEVEL_SLOTS]; FIELD_COUNT]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

// ----- Decision ---------------------------------------------------------------------------------

/// Posterior-probability cut-offs for reviewing candidate duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or above: a likely duplicate (default 0.9).
    pub likely: f64,
    /// At or above (and below `likely`): a possible duplicate for clerical review (default 0.5).
    pub possible: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds::DEFAULT
    }
}

/// What a posterior probability means for a candidate pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Likely,
    Possible,
    Unlikely,
}

impl Thresholds {
    /// 0.9 and 0.5: a pair is "likely" when at most one in ten such pairs is expected not to be
    /// a duplicate, "possible" when a duplicate is at least as probable as not.
    pub const DEFAULT: Thresholds = Thresholds {
        likely: 0.9,
        possible: 0.5,
    };

    /// The verdict for posterior `p` (NaN is unlikely).
    pub fn verdict(&self, p: f64) -> Verdict {
        if p >= self.likely {
            Verdict::Likely
        } else if p >= self.possible {
            Verdict::Possible
        } else {
            Verdict::Unlikely
        }
    }
}

// ----- Evaluation -------------------------------------------------------------------------------

/// Precision and recall of "score ≥ threshold".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f64,
    /// True positives / predicted positives (1 when nothing is predicted).
    pub precision: f64,
    /// True positives / `total_true_pairs` (0 when there are none).
    pub recall: f64,
    pub f1: f64,
    pub true_positives: usize,
    pub false_positives: usize,
}

/// How many thresholds [`precision_recall_curve`] reports at most.
pub const CURVE_POINTS: usize = 40;

/// Precision and recall at up to [`CURVE_POINTS`] thresholds taken from the scores themselves
/// (evenly spaced by rank among the distinct scores, always including the highest and the
/// lowest), sorted by descending threshold.
///
/// `scored` holds (probability or weight, whether the pair is a true match) for the pairs a
/// method found; `total_true_pairs` counts every true match, found or not, so recall includes
/// what blocking missed. NaN scores are never predicted positive.
pub fn precision_recall_curve(scored: &[(f64, bool)], total_true_pairs: usize) -> Vec<CurvePoint> {
    let mut sorted: Vec<(f64, bool)> = scored.iter().copied().filter(|s| !s.0.is_nan()).collect();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    // (threshold, tp, fp) at the end of each group of equal scores.
    let mut steps: Vec<(f64, usize, usize)> = Vec::new();
    let (mut tp, mut fp) = (0usize, 0usize);
    for (i, (score, truth)) in sorted.iter().enumerate() {
        if *truth {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_group = sorted.get(i + 1).is_none_or(|next| next.0 != *score);
        if last_of_group {
            steps.push((*score, tp, fp));
        }
    }
    let picked: Vec<usize> = if steps.len() <= CURVE_POINTS {
        (0..steps.len()).collect()
    } else {
        let last = steps.len() - 1;
        let mut v: Vec<usize> = (0..CURVE_POINTS)
            .map(|k| k * last / (CURVE_POINTS - 1))
            .collect();
        v.dedup();
        v
    };
    picked
        .into_iter()
        .filter_map(|i| steps.get(i))
        .map(|(t, tp, fp)| point(*t, *tp, *fp, total_true_pairs))
        .collect()
}

/// Precision and recall of "score ≥ `threshold`".
pub fn at_threshold(scored: &[(f64, bool)], total_true_pairs: usize, threshold: f64) -> CurvePoint {
    let (mut tp, mut fp) = (0, 0);
    for (score, truth) in scored {
        if *score >= threshold {
            if *truth {
                tp += 1;
            } else {
                fp += 1;
            }
        }
    }
    point(threshold, tp, fp, total_true_pairs)
}

fn point(threshold: f64, tp: usize, fp: usize, total_true: usize) -> CurvePoint {
    let precision = if tp + fp == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let recall = if total_true == 0 {
        0.0
    } else {
        tp as f64 / total_true as f64
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    CurvePoint {
        threshold,
        precision,
        recall,
        f1,
        true_positives: tp,
        false_positives: fp,
    }
}

// ----- Search -----------------------------------------------------------------------------------

/// A fuzzy search of the register. Every field is optional; names may be in any script and any
/// part order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub date_of_birth: Option<PartialDate>,
    /// ± years around the year of `date_of_birth` (0: that year only).
    #[serde(default)]
    pub year_window: u8,
    #[serde(default)]
    pub sex: Option<Sex>,
    #[serde(default)]
    pub place_of_birth: Option<String>,
    #[serde(default)]
    pub residence: Option<String>,
    #[serde(default)]
    pub father_name: Option<String>,
    #[serde(default)]
    pub mother_name: Option<String>,
}

/// A scored search candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Sum of the model's weights (`log2(m/u)`) for the fields the query gives.
    pub score: f64,
    pub fields: Vec<FieldExplanation>,
}

/// How one field contributed to a weight or score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldExplanation {
    pub field: Field,
    /// Serialized as its stable snake_case name ([`Level::as_str`]).
    pub level: Level,
    pub weight: f64,
    /// In words, e.g. "given name 'somsack' ~ 'somsak' (close)".
    pub how: String,
}

impl SearchQuery {
    fn name_tokens(&self) -> Vec<NameToken> {
        self.name
            .as_deref()
            .map(|n| latin_tokens(n).into_iter().map(NameToken::from).collect())
            .unwrap_or_default()
    }

    /// The blocking keys a record matching this query could have (see
    /// [`MatchRecord::blocking_keys`]); look them up and score the union. Since the query does
    /// not say which name is the given one, every token is tried as a given name, and every
    /// pair of tokens as a family/given pair:
    ///
    /// * `d:` for every year of the window, when the date is full;
    /// * `y:<t>:<year>` for every token and every year of the window;
    /// * `m:<t>:<MMDD>` for every token, when the date is full (finds a record whose year is
    ///   wrong beyond the window);
    /// * `n:<a>:<b>` for every pair of tokens (also without a date), and `ny:<a>:<b>:<year>`
    ///   for every pair and every year of the window;
    /// * `fy:<f>:<i>:<year>` and (full date) `fm:<f>:<i>:<MMDD>` for every ordered pair of
    ///   tokens, one taken as the family name and the other's initial as the given initial.
    ///
    /// Empty when the query has nothing the index can find: no name and no full date, or a
    /// single name token (without particles) and no date.
    pub fn blocking_keys(&self) -> Vec<String> {
        let tokens = self.name_tokens();
        let mut comps: Vec<String> = tokens
            .iter()
            .filter(|t| !PARTICLES.contains(&t.text.as_str()))
            .filter_map(key_component)
            .collect();
        comps.sort();
        let mut keys = Vec::new();
        for i in 0..comps.len() {
            for j in (i + 1)..comps.len() {
                keys.push(pair_key(&comps[i], &comps[j]));
            }
        }
        let pairs = keys.clone();
        comps.dedup();
        if let Some(d) = &self.date_of_birth {
            let w = i32::from(self.year_window);
            let years = (d.year() - w).max(1)..=(d.year() + w).min(9999);
            for pair in &pairs {
                for y in years.clone() {
                    keys.push(format!("ny{}:{y:04}", &pair[1..]));
                }
            }
            // Every ordered pair (family, given initial).
            for f in &comps {
                for g in comps.iter().filter(|g| *g != f) {
                    let Some(i) = g.chars().next() else { continue };
                    for y in years.clone() {
                        keys.push(format!("fy:{f}:{i}:{y:04}"));
                    }
                    if let (Some(m), Some(day)) = (d.month(), d.day()) {
                        keys.push(format!("fm:{f}:{i}:{m:02}{day:02}"));
                    }
                }
            }
            if let (Some(m), Some(day)) = (d.month(), d.day()) {
                for y in years.clone() {
                    if PartialDate::from_ymd(y, m, day).is_ok() {
                        keys.push(format!("d:{y:04}{m:02}{day:02}"));
                    }
                }
                for c in &comps {
                    keys.push(format!("m:{c}:{m:02}{day:02}"));
                }
            }
            for c in &comps {
                for y in years.clone() {
                    keys.push(format!("y:{c}:{y:04}"));
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Scores a candidate: the sum of the model's weights for the fields the query gives
    /// (fields it does not give contribute nothing), with an explanation per compared item.
    ///
    /// The name is a bag of tokens: each query token's best level (exact, phonetic, similar,
    /// none) against the candidate's given, family and middle names is found, and tokens are
    /// assigned to name parts one to one, highest weight first, so that "An Nguyen" scores like
    /// "Nguyen An". Query tokens left over (more tokens than the candidate has name parts) add
    /// nothing; name parts no token was assigned to are not compared.
    ///
    /// The date of birth is compared as in [`compare_dates`], except that a year within
    /// `year_window` counts as the query's year (an otherwise exact date then is close).
    /// Parents are compared by name; a candidate's registered (PIN) parent is not compared.
    pub fn score(&self, model: &LinkageModel, candidate: &MatchRecord) -> SearchHit {
        self.prepare().score(model, candidate)
    }

    /// The query with its names folded once, to score many candidates.
    pub fn prepare(&self) -> PreparedQuery<'_> {
        PreparedQuery {
            query: self,
            name: self.name_tokens(),
            father: self.father_name.as_deref().map(|n| name_tokens(&[n])),
            mother: self.mother_name.as_deref().map(|n| name_tokens(&[n])),
        }
    }
}

/// A [`SearchQuery`] with its name tokens computed (what [`SearchQuery::score`] would compute
/// for every candidate).
#[derive(Debug, Clone)]
pub struct PreparedQuery<'a> {
    query: &'a SearchQuery,
    name: Vec<NameToken>,
    father: Option<Vec<NameToken>>,
    mother: Option<Vec<NameToken>>,
}

impl PreparedQuery<'_> {
    /// [`SearchQuery::score`].
    pub fn score(&self, model: &LinkageModel, candidate: &MatchRecord) -> SearchHit {
        let mut fields = Vec::new();
        let score = self.score_into(model, candidate, Some(&mut fields));
        SearchHit { score, fields }
    }

    /// The score of [`PreparedQuery::score`] without its explanations (nothing is formatted
    /// or allocated): what a search ranks its candidates by before it explains the page.
    pub fn score_value(&self, model: &LinkageModel, candidate: &MatchRecord) -> f64 {
        self.score_into(model, candidate, None)
    }

    fn score_into(
        &self,
        model: &LinkageModel,
        candidate: &MatchRecord,
        mut fields: Option<&mut Vec<FieldExplanation>>,
    ) -> f64 {
        let query = self.query;
        let mut total = 0.0;
        if !self.name.is_empty() {
            total += score_name(model, &self.name, candidate, fields.as_deref_mut());
        }
        if let Some(d) = &query.date_of_birth {
            let level = query.date_level(d, &candidate.date_of_birth);
            total += push(
                fields.as_deref_mut(),
                model,
                Field::DateOfBirth,
                level,
                || {
                    format!(
                        "date of birth {d} vs {} ({})",
                        candidate.date_of_birth,
                        Field::DateOfBirth.describe(level)
                    )
                },
            );
        }
        if let Some(sex) = query.sex {
            let level = compare_sex(sex, candidate.sex);
            total += push(fields.as_deref_mut(), model, Field::Sex, level, || {
                format!(
                    "sex {} vs {} ({})",
                    sex_str(sex),
                    sex_str(candidate.sex),
                    Field::Sex.describe(level)
                )
            });
        }
        if let Some(place) = &query.place_of_birth {
            let level = compare_places(place, &candidate.place_of_birth);
            total += push(
                fields.as_deref_mut(),
                model,
                Field::PlaceOfBirth,
                level,
                || {
                    format!(
                        "place of birth {place} vs {} ({})",
                        candidate.place_of_birth,
                        Field::PlaceOfBirth.describe(level)
                    )
                },
            );
        }
        if let Some(area) = &query.residence {
            let theirs = candidate.residence.as_deref().unwrap_or("");
            let level = compare_places(area, theirs);
            total += push(
                fields.as_deref_mut(),
                model,
                Field::Residence,
                level,
                || {
                    format!(
                        "residence {area} vs {} ({})",
                        if theirs.is_empty() { "none" } else { theirs },
                        Field::Residence.describe(level)
                    )
                },
            );
        }
        for (field, query, theirs) in [
            (Field::Father, &self.father, &candidate.father),
            (Field::Mother, &self.mother, &candidate.mother),
        ] {
            if let Some(q) = query {
                let level = match theirs {
                    Some(ParentKey::Name(t)) => compare_tokens(q, t),
                    Some(ParentKey::Pin(_)) | None => Level::Missing,
                };
                total += push(
                    fields.as_deref_mut(),
                    model,
                    field,
                    level,
                    || match theirs {
                        Some(ParentKey::Name(t)) => format!(
                            "{} '{}' vs '{}' ({})",
                            field.label(),
                            join(q),
                            join(t),
                            field.describe(level)
                        ),
                        Some(ParentKey::Pin(_)) => {
                            format!("{}: registered parent, names not compared", field.label())
                        }
                        None => format!("{}: not recorded for the candidate", field.label()),
                    },
                );
            }
        }
        total
    }

    /// The highest score a candidate can reach that shares none of the `specific` keys of
    /// [`SearchQuery::search_plan`] (whatever the vocabulary gave the plan): a search that has
    /// found enough candidates scoring at least this through the specific keys alone has its
    /// page, since no candidate found only through the broad keys could rank above them.
    ///
    /// Why it holds: a candidate born in the window whose family part and given part both
    /// agree with two of the query's tokens phonetically (or exactly) has the `ny:` key of that
    /// pair and year, and one born on the query's full date (in a year of the window) its `d:`
    /// key. So a candidate without any specific key either has its family or its given part at
    /// most similar (or unassigned) and another birth date, or was born outside the window. The bound is
    /// the larger of the two cases, every other field at its best weight. Two approximations,
    /// both about names the keys do not cover: name particles (Văn, Thị) are counted as middle
    /// names (a person whose family or given name is itself a particle has no name keys at all
    /// and is found only through the date keys), and a query of two tokens is taken as a family
    /// and a given name (middle names form no keys: a candidate whose middle name agrees with one
    /// of its two tokens phonetically, and another part with the other, may rank below a page
    /// of full-name matches without being read).
    /// `f64::INFINITY` when the plan has no specific keys.
    pub fn broad_bound(&self, model: &LinkageModel) -> f64 {
        let query = self.query;
        let comps = self
            .name
            .iter()
            .filter(|t| !PARTICLES.contains(&t.text.as_str()))
            .filter_map(key_component)
            .count();
        if comps < 2 {
            return f64::INFINITY;
        }
        let best = |field: Field, levels: &[Level]| -> f64 {
            levels
                .iter()
                .map(|l| model.level_weight(field, *l))
                .fold(0.0, f64::max)
        };
        const ALL: [Level; 4] = [Level::Exact, Level::Close, Level::Similar, Level::Disagree];
        const UNMATCHED: [Level; 2] = [Level::Similar, Level::Disagree];
        // A name: the query's tokens assigned one to one to the parts, each part at most its
        // best weight (a part left unassigned weighs 0). A query of two tokens is taken as a
        // family and a given name: its middle name is taken not to agree phonetically (see the
        // doc comment).
        let middle_agrees = self.name.len() > 2;
        let name = |crippled: Option<Field>| -> f64 {
            let mut caps: Vec<f64> = [Field::Given, Field::Family, Field::Middle]
                .into_iter()
                .map(|f| {
                    if Some(f) == crippled || (f == Field::Middle && !middle_agrees) {
                        best(f, &UNMATCHED)
                    } else {
                        best(f, &ALL)
                    }
                })
                .collect();
            caps.sort_by(|a, b| b.total_cmp(a));
            caps.iter().take(self.name.len()).sum()
        };
        let mut rest = 0.0;
        if query.sex.is_some() {
            rest += best(Field::Sex, &ALL);
        }
        if query.place_of_birth.is_some() {
            rest += best(Field::PlaceOfBirth, &ALL);
        }
        if self.father.is_some() {
            rest += best(Field::Father, &ALL);
        }
        if self.mother.is_some() {
            rest += best(Field::Mother, &ALL);
        }
        let crippled = name(Some(Field::Given)).max(name(Some(Field::Family)));
        match &query.date_of_birth {
            None => rest + crippled,
            Some(d) => {
                let w = i32::from(query.year_window);
                // A full date's `d:` keys are specific: a candidate without one was not born on
                // the query's day and month in a year of the window.
                let has_day_key = |theirs: &PartialDate| {
                    d.day().is_some()
                        && theirs.month() == d.month()
                        && theirs.day() == d.day()
                        && (theirs.year() - d.year()).abs() <= w
                };
                let date_best = |years: &[i32]| {
                    query
                        .dates_in_years(d, years)
                        .iter()
                        .filter(|theirs| !has_day_key(theirs))
                        .map(|theirs| {
                            model.level_weight(Field::DateOfBirth, query.date_level(d, theirs))
                        })
                        .fold(f64::NEG_INFINITY, f64::max)
                };
                let inside = date_best(&[d.year() - w, d.year(), d.year() + w]);
                // Just outside (a year off by one from the window's edge can still agree)
                // and farther.
                let outside = date_best(&[
                    d.year() - w - 2,
                    d.year() - w - 1,
                    d.year() + w + 1,
                    d.year() + w + 2,
                ]);
                rest + (crippled + inside.max(outside)).max(name(None) + outside)
            }
        }
    }
}

/// The keys of a search in two tiers (see [`SearchQuery::search_plan`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPlan {
    /// Pairs of name tokens with a year (`ny:`), or without one (`n:`) when the query gives no
    /// date; with the registered spelling variants of each token.
    pub specific: Vec<String>,
    /// Every other key of [`SearchQuery::blocking_keys`].
    pub broad: Vec<String>,
}

/// Spelling variants used per query token at most.
pub const MAX_VARIANTS: usize = 6;

impl SearchQuery {
    /// Dates of every shape (full, year and month, year) in each of `years`, with the query's
    /// month and day and with others: [`PreparedQuery::broad_bound`] takes the best level they
    /// reach, which is the best any date in those years reaches, since the comparison looks
    /// only at which components agree, whether the years are equal or one apart, and whether
    /// they are in the window (its centre and edges stand for all of it; the two years on each
    /// side of it for all years outside).
    fn dates_in_years(&self, d: &PartialDate, years: &[i32]) -> Vec<PartialDate> {
        let mut out = Vec::new();
        for &year in years {
            let (m, day) = (d.month().unwrap_or(6), d.day().unwrap_or(15));
            let other_month = if m == 1 { 2 } else { 1 };
            for date in [
                PartialDate::from_ymd(year, m, day),
                PartialDate::from_ymd(year, m, if day == 1 { 2 } else { 1 }),
                PartialDate::from_ymd(year, other_month, day.min(28)),
                PartialDate::from_ymd(year, day.min(12), m),
                PartialDate::from_year_month(year, m),
                PartialDate::from_year_month(year, other_month),
                PartialDate::from_year(year),
            ]
            .into_iter()
            .flatten()
            {
                out.push(date);
            }
        }
        out
    }

    /// The keys of [`SearchQuery::blocking_keys`] in two tiers. `specific`: every pair of the
    /// query's name tokens, each token also replaced by its spelling variants registered in
    /// `vocabulary` (one token of a pair at a time), with every year of the window (`ny:`), or
    /// alone (`n:`) without a date; and the full date in every year of the window (`d:`),
    /// when the query gives one and a pair. A person whose name the query gives, spelt as registered
    /// or one edit away, is found through them; they are few and small. `broad`: the rest,
    /// which a search reads only when the specific keys do not fill its page with candidates
    /// above [`PreparedQuery::broad_bound`].
    pub fn search_plan(&self, vocabulary: &crate::vocabulary::NameVocabulary) -> SearchPlan {
        let all = self.blocking_keys();
        let mut comps: Vec<String> = self
            .name_tokens()
            .iter()
            .filter(|t| !PARTICLES.contains(&t.text.as_str()))
            .filter_map(key_component)
            .collect();
        comps.sort();
        let spellings: Vec<Vec<&str>> = comps
            .iter()
            .map(|c| {
                let mut v = vec![c.as_str()];
                v.extend(vocabulary.variants(c, MAX_VARIANTS));
                v
            })
            .collect();
        let mut pairs = Vec::new();
        for i in 0..comps.len() {
            for j in (i + 1)..comps.len() {
                for (x, a) in spellings[i].iter().enumerate() {
                    for (y, b) in spellings[j].iter().enumerate() {
                        // One token of a pair misspelt at a time.
                        if x == 0 || y == 0 {
                            pairs.push(pair_key(a, b));
                        }
                    }
                }
            }
        }
        let mut specific = Vec::new();
        match &self.date_of_birth {
            Some(d) => {
                let w = i32::from(self.year_window);
                let years = (d.year() - w).max(1)..=(d.year() + w).min(9999);
                // The query's own year first: a window cut by the search's key limit loses
                // its far years.
                let mut years: Vec<i32> = years.collect();
                years.sort_by_key(|y| (y - d.year()).abs());
                for y in years {
                    // The full date (a few hundred persons a day at 10 M): with it, namesakes
                    // born on other days of the year rank above anyone the broad keys could
                    // add, so a common name's page is filled here.
                    if let (Some(m), Some(day)) = (d.month(), d.day()) {
                        if !pairs.is_empty() && PartialDate::from_ymd(y, m, day).is_ok() {
                            specific.push(format!("d:{y:04}{m:02}{day:02}"));
                        }
                    }
                    for pair in &pairs {
                        specific.push(format!("ny{}:{y:04}", &pair[1..]));
                    }
                }
            }
            None => specific = pairs,
        }
        let mut seen = std::collections::HashSet::new();
        specific.retain(|k| seen.insert(k.clone()));
        let broad = all.into_iter().filter(|k| !seen.contains(k)).collect();
        SearchPlan { specific, broad }
    }

    fn date_level(&self, query: &PartialDate, theirs: &PartialDate) -> Level {
        let within = (query.year() - theirs.year()).abs() <= i32::from(self.year_window);
        if within && query.year() != theirs.year() {
            let shifted = PartialDate::new(theirs.year(), query.month(), query.day());
            if let Ok(shifted) = shifted {
                return match compare_dates(&shifted, theirs) {
                    Level::Exact => Level::Close,
                    other => other,
                };
            }
        }
        compare_dates(query, theirs)
    }

    /// Scores candidates and returns them best first, as (index into `candidates`, hit); ties
    /// keep the candidates' order.
    pub fn rank(
        &self,
        model: &LinkageModel,
        candidates: &[MatchRecord],
    ) -> Vec<(usize, SearchHit)> {
        let prepared = self.prepare();
        let mut hits: Vec<(usize, SearchHit)> = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (i, prepared.score(model, c)))
            .collect();
        hits.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
        hits
    }
}

fn push(
    fields: Option<&mut Vec<FieldExplanation>>,
    model: &LinkageModel,
    field: Field,
    level: Level,
    how: impl FnOnce() -> String,
) -> f64 {
    // Unscored fields (residence) are shown, as the pass's explanations show them, but weigh
    // nothing here either: a search must rank as the duplicate check scores.
    let weight = if field.is_scored() {
        model.level_weight(field, level)
    } else {
        0.0
    };
    if let Some(fields) = fields {
        let how = if field.is_scored() {
            how()
        } else {
            format!("{}; not scored: relatives share it", how())
        };
        fields.push(FieldExplanation {
            field,
            level,
            weight,
            how,
        });
    }
    weight
}

fn sex_str(s: Sex) -> &'static str {
    match s {
        Sex::Male => "male",
        Sex::Female => "female",
        Sex::Unknown => "unknown",
    }
}

fn join(tokens: &[NameToken]) -> String {
    tokens
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Name part of [`SearchQuery::score`]: one-to-one assignment of query tokens to the
/// candidate's name parts, highest weight first.
fn score_name(
    model: &LinkageModel,
    query: &[NameToken],
    candidate: &MatchRecord,
    mut out: Option<&mut Vec<FieldExplanation>>,
) -> f64 {
    let parts = [
        (Field::Given, &candidate.given),
        (Field::Family, &candidate.family),
        (Field::Middle, &candidate.middle),
    ];
    // (weight, query index, part index, level, best candidate token)
    let mut cells: Vec<(f64, usize, usize, Level, &str)> = Vec::new();
    for (qi, q) in query.iter().enumerate() {
        for (pi, (field, tokens)) in parts.iter().enumerate() {
            let mut best: Option<(Level, &str)> = None;
            for t in tokens.iter() {
                let level = token_level(q, t);
                if best.is_none_or(|(b, _)| level.rank() > b.rank()) {
                    best = Some((level, t.text.as_str()));
                }
            }
            if let Some((level, text)) = best {
                cells.push((model.level_weight(*field, level), qi, pi, level, text));
            }
        }
    }
    cells.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut query_used = vec![false; query.len()];
    let mut part_used = [false; 3];
    let mut total = 0.0;
    for (weight, qi, pi, level, text) in cells {
        if query_used[qi] || part_used[pi] {
            continue;
        }
        query_used[qi] = true;
        part_used[pi] = true;
        total += weight;
        let Some(out) = out.as_deref_mut() else {
            continue;
        };
        let field = parts[pi].0;
        let q = &query[qi].text;
        let how = match level {
            Level::Exact => format!("{} '{q}' = '{text}' (exact)", field.label()),
            Level::Close => format!("{} '{q}' ~ '{text}' (phonetic)", field.label()),
            Level::Similar => format!("{} '{q}' ~ '{text}' (similar)", field.label()),
            _ => format!("{} '{q}' ≠ '{text}' (different)", field.label()),
        };
        out.push(FieldExplanation {
            field,
            level,
            weight,
            how,
        });
    }
    let Some(out) = out else {
        return total;
    };
    for (qi, used) in query_used.iter().enumerate() {
        if !used {
            out.push(FieldExplanation {
                field: Field::Given,
                level: Level::Missing,
                weight: 0.0,
                how: format!(
                    "name '{}': no name part of the candidate left to compare",
                    query[qi].text
                ),
            });
        }
    }
    total
}
