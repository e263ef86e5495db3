//! The embedded country data (`data/<profile>.json`) and the sampling tables compiled from it.
//!
//! Everything country-specific (names, age pyramid, household shapes, province populations,
//! address formats, which duplicate errors occur) is in the data files; this module only checks
//! them against the profile and turns weights into cumulative tables.
use std::collections::BTreeMap;

use rand::Rng;
use serde::Deserialize;
use thabian_model::name::normalize_name;
use thabian_model::profile::{AdminTree, Profile};
use thabian_model::sex::Sex;

use crate::{DuplicateError, SynthError};

/// `(profile code, file name, JSON text)` of the embedded data files.
const FILES: &[(&str, &str, &str)] = &[
    ("la", "data/la.json", include_str!("../data/la.json")),
    ("vn", "data/vn.json", include_str!("../data/vn.json")),
];

/// Oldest age generated (the last 5-year band is 95-99).
pub(crate) const MAX_AGE: u32 = 99;

/// Profile codes the generator has data for.
pub fn supported_profiles() -> Vec<&'static str> {
    FILES.iter().map(|(code, _, _)| *code).collect()
}

// ---------------------------------------------------------------------------------------------
// File format
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountryData {
    profile: String,
    id_prefix: String,
    /// Where the figures come from (documentation only).
    #[serde(default)]
    #[allow(dead_code)]
    sources: Vec<String>,
    names: NamesData,
    age_bands: Vec<AgeBand>,
    households: HouseholdData,
    dates: DatesData,
    places: PlacesData,
    addresses: AddressData,
    duplicate_errors: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NamesData {
    /// Names are written in a non-Latin national script and carry a romanization
    /// (`[national, latin]` entries).
    romanized: bool,
    wife_takes_husband_family_name: bool,
    /// Middle names switch from the first to the second weight for people born in or after
    /// this year.
    #[serde(default)]
    middle_cohort_year: i32,
    given_male: Vec<NameEntry>,
    given_female: Vec<NameEntry>,
    family: Vec<NameEntry>,
    #[serde(default)]
    middle_male: Vec<(String, f64, f64)>,
    #[serde(default)]
    middle_female: Vec<(String, f64, f64)>,
    /// `[from, to]` spelling variants of the romanization ("ph" → "p").
    #[serde(default)]
    romanization_variants: Vec<(String, String)>,
}

/// `"Lan"`, `["Nguyễn", 38.4]`, `["ສົມສັກ", "Somsak"]` or `["ສົມສັກ", "Somsak", 2.0]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum NameEntry {
    Plain(String),
    Weighted(String, f64),
    Romanized(String, String),
    RomanizedWeighted(String, String, f64),
}

impl NameEntry {
    fn parts(&self) -> (&str, Option<&str>, f64) {
        match self {
            NameEntry::Plain(n) => (n, None, 1.0),
            NameEntry::Weighted(n, w) => (n, None, *w),
            NameEntry::Romanized(n, l) => (n, Some(l), 1.0),
            NameEntry::RomanizedWeighted(n, l, w) => (n, Some(l), *w),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgeBand {
    /// First age of the 5-year band.
    from: u32,
    /// Share of the population in this band (any unit; normalised).
    share: f64,
    /// Share of males in the band.
    male: f64,
    /// Relative propensity of a person of this age to head a household.
    headship: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HouseholdData {
    pub single_person: f64,
    pub single_parent: f64,
    pub male_head_of_couple: f64,
    pub female_single_parent: f64,
    /// Weights of 0, 1, 2, ... children ever born to a couple (those who left home are not
    /// generated).
    couple_children: Vec<f64>,
    /// Weights of 0, 1, 2, ... children ever born to a single parent.
    single_parent_children: Vec<f64>,
    /// A child of this age or more no longer lives with the parents.
    pub max_child_age: u32,
    /// The mother's age at her first child's birth, in years.
    pub first_birth_age: Gap,
    /// Years between two births.
    pub birth_interval: Gap,
    pub spouse_age_gap: Gap,
    pub grandparents: f64,
    pub grandparent_pair: f64,
    pub married_child: f64,
    pub married_daughter: f64,
    /// Weights of 0, 1, 2, ... grandchildren of a married child living in the household.
    grandchildren: Vec<f64>,
    pub sibling: f64,
    pub deceased_father: f64,
    pub parent_names: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Gap {
    pub mean: f64,
    pub sd: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatesData {
    partial_birth_dates: Vec<PartialRule>,
    residence_since: SinceRule,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartialRule {
    pub born_before: i32,
    pub year_only: f64,
    pub year_month: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinceRule {
    pub full: f64,
    pub year_month: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlacesData {
    born_elsewhere: f64,
    provinces: Vec<ProvinceData>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvinceData {
    code: String,
    population: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressData {
    formats: Vec<FormatData>,
    villages: Vec<String>,
    streets: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatData {
    weight: f64,
    template: String,
}

// ---------------------------------------------------------------------------------------------
// Sampling tables
// ---------------------------------------------------------------------------------------------

/// A discrete distribution: cumulative weights, sampled by binary search.
#[derive(Debug, Clone)]
pub(crate) struct Weighted {
    cum: Vec<f64>,
}

impl Weighted {
    /// `None` when there is no weight, a weight is negative or not finite, or all are zero.
    pub fn new(weights: impl IntoIterator<Item = f64>) -> Option<Weighted> {
        let mut cum = Vec::new();
        let mut total = 0.0;
        for w in weights {
            if !w.is_finite() || w < 0.0 {
                return None;
            }
            total += w;
            cum.push(total);
        }
        (total > 0.0).then_some(Weighted { cum })
    }

    /// An index, with probability proportional to its weight.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> usize {
        let total = self.cum.last().copied().unwrap_or(0.0);
        let u = rng.gen::<f64>() * total;
        let i = self.cum.partition_point(|&c| c <= u);
        i.min(self.cum.len().saturating_sub(1))
    }
}

/// A name in the national script and, where the profile keeps one, its romanization.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub national: String,
    pub latin: Option<String>,
}

#[derive(Debug)]
pub(crate) struct NameTable {
    pub names: Vec<Name>,
    weights: Weighted,
}

impl NameTable {
    pub fn sample<R: Rng>(&self, rng: &mut R) -> u32 {
        self.weights.sample(rng) as u32
    }

    pub fn get(&self, i: u32) -> &Name {
        // Indices come from `sample` on the same table.
        &self.names[i as usize % self.names.len()]
    }
}

/// Middle names of one sex, weighted by birth cohort.
#[derive(Debug)]
pub(crate) struct MiddleTable {
    pub names: Vec<String>,
    old: Weighted,
    young: Weighted,
    cohort_year: i32,
}

impl MiddleTable {
    pub fn sample<R: Rng>(&self, rng: &mut R, birth_year: i32) -> u32 {
        let table = if birth_year < self.cohort_year {
            &self.old
        } else {
            &self.young
        };
        table.sample(rng) as u32
    }
}

/// The age and sex structure: cumulative weights per single year of age, for the whole
/// population and for household heads, by sex (`[male, female]`).
#[derive(Debug)]
pub(crate) struct Ages {
    population: [Vec<f64>; 2],
    heads: [Vec<f64>; 2],
}

fn sex_index(sex: Sex) -> usize {
    usize::from(sex != Sex::Male)
}

impl Ages {
    /// An age in `lo..=hi` drawn from the population pyramid of `sex`; `None` if the range is
    /// empty or has no weight.
    pub fn sample<R: Rng>(&self, rng: &mut R, sex: Sex, lo: u32, hi: u32) -> Option<u32> {
        sample_range(&self.population[sex_index(sex)], rng, lo, hi)
    }

    /// The age of a household head of `sex` in `lo..=hi` (pyramid × headship).
    pub fn sample_head<R: Rng>(&self, rng: &mut R, sex: Sex, lo: u32, hi: u32) -> Option<u32> {
        sample_range(&self.heads[sex_index(sex)], rng, lo, hi)
    }

    /// Share of male heads among all (single-person) heads.
    pub fn male_head_share(&self) -> f64 {
        let m = self.heads[0].last().copied().unwrap_or(0.0);
        let f = self.heads[1].last().copied().unwrap_or(0.0);
        if m + f > 0.0 {
            m / (m + f)
        } else {
            0.5
        }
    }
}

fn sample_range<R: Rng>(cum: &[f64], rng: &mut R, lo: u32, hi: u32) -> Option<u32> {
    let hi = hi.min(MAX_AGE);
    if lo > hi {
        return None;
    }
    let (lo, hi) = (lo as usize, hi as usize);
    let base = if lo == 0 { 0.0 } else { cum[lo - 1] };
    let top = cum[hi];
    if top <= base {
        return None;
    }
    let u = base + rng.gen::<f64>() * (top - base);
    let i = cum.partition_point(|&c| c <= u).clamp(lo, hi);
    Some(i as u32)
}

/// A place: a province (index into [`Places::provinces`]) and one of its lowest-level areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub province: u32,
    pub leaf: u32,
}

#[derive(Debug)]
pub(crate) struct Province {
    /// The lowest-level areas of the tree below the province (the province itself if none).
    pub leaves: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Places {
    pub provinces: Vec<Province>,
    weights: Weighted,
    pub born_elsewhere: f64,
}

impl Places {
    pub fn code(&self, p: Place) -> &str {
        let prov = &self.provinces[p.province as usize % self.provinces.len()];
        &prov.leaves[p.leaf as usize % prov.leaves.len()]
    }

    /// A province in proportion to population, and a uniform area within it.
    pub fn sample<R: Rng>(&self, rng: &mut R) -> Place {
        let province = self.weights.sample(rng) as u32;
        self.within(rng, province)
    }

    /// A uniform area in `province`.
    pub fn within<R: Rng>(&self, rng: &mut R, province: u32) -> Place {
        let n = self.provinces[province as usize].leaves.len();
        Place {
            province,
            leaf: rng.gen_range(0..n) as u32,
        }
    }

    /// A province other than `not` (when there is another), in proportion to population.
    pub fn other_province<R: Rng>(&self, rng: &mut R, not: u32) -> Place {
        for _ in 0..8 {
            let p = self.sample(rng);
            if p.province != not {
                return p;
            }
        }
        self.within(rng, not)
    }
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    House,
    Lane,
    Unit,
    Hamlet,
    Village,
    Street,
}

#[derive(Debug)]
pub(crate) struct Addresses {
    formats: Vec<Vec<Piece>>,
    weights: Weighted,
    villages: Vec<String>,
    streets: Vec<String>,
}

impl Addresses {
    /// Writes a random address line into `out` (cleared first).
    pub fn render<R: Rng>(&self, rng: &mut R, out: &mut String) {
        use std::fmt::Write;
        out.clear();
        let format = &self.formats[self.weights.sample(rng)];
        for piece in format {
            // Writing to a String cannot fail.
            let _ = match piece {
                Piece::Text(t) => out.write_str(t),
                Piece::House => write!(out, "{}", rng.gen_range(1..=250)),
                Piece::Lane => write!(out, "{}", rng.gen_range(1..=180)),
                Piece::Unit => write!(out, "{}", rng.gen_range(1..=30)),
                Piece::Hamlet => write!(out, "{}", rng.gen_range(1..=20)),
                Piece::Village => {
                    out.write_str(&self.villages[rng.gen_range(0..self.villages.len())])
                }
                Piece::Street => out.write_str(&self.streets[rng.gen_range(0..self.streets.len())]),
            };
        }
    }
}

fn parse_template(t: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_owned()));
        }
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("address template {t:?}: unclosed {{"))?;
        let name = &rest[open + 1..open + close];
        pieces.push(match name {
            "house" => Piece::House,
            "lane" => Piece::Lane,
            "unit" => Piece::Unit,
            "hamlet" => Piece::Hamlet,
            "village" => Piece::Village,
            "street" => Piece::Street,
            other => return Err(format!("address template {t:?}: unknown field {{{other}}}")),
        });
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    Ok(pieces)
}

/// Household parameters with their count distributions compiled.
#[derive(Debug)]
pub(crate) struct Households {
    pub p: HouseholdData,
    pub couple_children: Weighted,
    pub single_parent_children: Weighted,
    pub grandchildren: Weighted,
}

/// Everything the generator samples from, checked against the profile and the area tree.
#[derive(Debug)]
pub(crate) struct Model {
    pub id_prefix: String,
    pub romanized: bool,
    pub wife_takes_husband_family_name: bool,
    pub given_male: NameTable,
    pub given_female: NameTable,
    pub family: NameTable,
    /// `[male, female]`; empty when the profile has no middle names.
    pub middle: Option<[MiddleTable; 2]>,
    pub romanization_variants: Vec<(String, String)>,
    pub ages: Ages,
    pub households: Households,
    pub partial_birth_dates: Vec<PartialRule>,
    pub residence_since: SinceRule,
    pub places: Places,
    pub addresses: Addresses,
    pub duplicate_errors: Vec<DuplicateError>,
    pub duplicate_weights: Weighted,
    /// Minimum age for a married person of each sex (`[male, female]`): the profile's
    /// marriage age plus one, so that even a year-only date of birth is old enough.
    pub married_min_age: [u32; 2],
}

impl Model {
    pub fn given(&self, sex: Sex) -> &NameTable {
        if sex == Sex::Male {
            &self.given_male
        } else {
            &self.given_female
        }
    }

    pub fn middle_table(&self, sex: Sex) -> Option<&MiddleTable> {
        self.middle.as_ref().map(|m| &m[sex_index(sex)])
    }

    pub fn married_min(&self, sex: Sex) -> u32 {
        self.married_min_age[sex_index(sex)]
    }

    /// Compiles the embedded data for `profile`, checked against the profile and `areas`.
    pub fn load(profile: &Profile, areas: &AdminTree) -> Result<Model, SynthError> {
        let (_, file, text) = FILES
            .iter()
            .find(|(code, _, _)| *code == profile.code)
            .ok_or_else(|| SynthError::UnsupportedProfile(profile.code.clone()))?;
        let data: CountryData = serde_json::from_str(text).map_err(|e| SynthError::Data {
            file,
            message: e.to_string(),
        })?;
        let bad = |message: String| SynthError::Data { file, message };
        if data.profile != profile.code {
            return Err(bad(format!(
                "written for profile {:?}, not {:?}",
                data.profile, profile.code
            )));
        }
        let names = &data.names;
        let table = |what: &str, entries: &[NameEntry]| -> Result<NameTable, SynthError> {
            let mut list = Vec::with_capacity(entries.len());
            let mut weights = Vec::with_capacity(entries.len());
            for e in entries {
                let (national, latin, w) = e.parts();
                check_name(national).map_err(|m| bad(format!("{what}: {m}")))?;
                match (names.romanized, latin) {
                    (true, Some(l)) => check_name(l).map_err(|m| bad(format!("{what}: {m}")))?,
                    (true, None) => {
                        return Err(bad(format!("{what}: {national:?} has no romanization")))
                    }
                    (false, Some(_)) => {
                        return Err(bad(format!(
                        "{what}: {national:?} has a romanization, but the names are not romanized"
                    )))
                    }
                    (false, None) => {}
                }
                list.push(Name {
                    national: national.to_owned(),
                    latin: latin.map(str::to_owned),
                });
                weights.push(w);
            }
            let weights =
                Weighted::new(weights).ok_or_else(|| bad(format!("{what}: no weight")))?;
            Ok(NameTable {
                names: list,
                weights,
            })
        };
        let given_male = table("given_male", &names.given_male)?;
        let given_female = table("given_female", &names.given_female)?;
        let family = table("family", &names.family)?;
        let middle_table = |what: &str, entries: &[(String, f64, f64)]| {
            for (n, _, _) in entries {
                check_name(n).map_err(|m| bad(format!("{what}: {m}")))?;
            }
            let old = Weighted::new(entries.iter().map(|e| e.1));
            let young = Weighted::new(entries.iter().map(|e| e.2));
            match (old, young) {
                (Some(old), Some(young)) => Ok(MiddleTable {
                    names: entries.iter().map(|e| e.0.clone()).collect(),
                    old,
                    young,
                    cohort_year: names.middle_cohort_year,
                }),
                _ => Err(bad(format!("{what}: no weight"))),
            }
        };
        let middle = match (names.middle_male.is_empty(), names.middle_female.is_empty()) {
            (true, true) => None,
            (false, false) => Some([
                middle_table("middle_male", &names.middle_male)?,
                middle_table("middle_female", &names.middle_female)?,
            ]),
            _ => return Err(bad("middle names for one sex only".to_owned())),
        };
        for (from, to) in &names.romanization_variants {
            if from.is_empty() || from == to || !from.is_ascii() || !to.is_ascii() {
                return Err(bad(format!("romanization variant {from:?} -> {to:?}")));
            }
        }

        let ages = compile_ages(&data.age_bands).map_err(bad)?;

        let h = data.households;
        for (what, p) in [
            ("single_person", h.single_person),
            ("single_parent", h.single_parent),
            ("male_head_of_couple", h.male_head_of_couple),
            ("female_single_parent", h.female_single_parent),
            ("grandparents", h.grandparents),
            ("grandparent_pair", h.grandparent_pair),
            ("married_child", h.married_child),
            ("married_daughter", h.married_daughter),
            ("sibling", h.sibling),
            ("deceased_father", h.deceased_father),
            ("parent_names", h.parent_names),
            ("born_elsewhere", data.places.born_elsewhere),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(bad(format!("{what} {p}: not a probability")));
            }
        }
        if h.max_child_age < 19 || h.max_child_age > MAX_AGE {
            return Err(bad(format!(
                "max_child_age {}: expected 19..={MAX_AGE}",
                h.max_child_age
            )));
        }
        if h.single_person + h.single_parent > 1.0 {
            return Err(bad("single_person + single_parent exceed 1".to_owned()));
        }
        let counts = |what: &str, w: &[f64]| {
            Weighted::new(w.iter().copied())
                .ok_or_else(|| bad(format!("households.{what}: no weight")))
        };
        let households = Households {
            couple_children: counts("couple_children", &h.couple_children)?,
            single_parent_children: counts("single_parent_children", &h.single_parent_children)?,
            grandchildren: counts("grandchildren", &h.grandchildren)?,
            p: h,
        };

        let places = compile_places(profile, areas, &data.places).map_err(bad)?;

        let a = &data.addresses;
        let mut formats = Vec::new();
        for f in &a.formats {
            let pieces = parse_template(&f.template).map_err(bad)?;
            let needs = |p: &dyn Fn(&Piece) -> bool| pieces.iter().any(p);
            if needs(&|p| matches!(p, Piece::Village)) && a.villages.is_empty() {
                return Err(bad(format!("{:?} needs villages", f.template)));
            }
            if needs(&|p| matches!(p, Piece::Street)) && a.streets.is_empty() {
                return Err(bad(format!("{:?} needs streets", f.template)));
            }
            formats.push(pieces);
        }
        let addresses = Addresses {
            weights: Weighted::new(a.formats.iter().map(|f| f.weight))
                .ok_or_else(|| bad("addresses.formats: no weight".to_owned()))?,
            formats,
            villages: a.villages.clone(),
            streets: a.streets.clone(),
        };

        let mut duplicate_errors = Vec::new();
        let mut weights = Vec::new();
        for (name, w) in &data.duplicate_errors {
            let kind = DuplicateError::from_name(name)
                .ok_or_else(|| bad(format!("unknown duplicate error {name:?}")))?;
            let fits = match kind {
                DuplicateError::Romanization => names.romanized,
                DuplicateError::DiacriticsDropped | DuplicateError::DiacriticsWrong => {
                    !names.romanized
                }
                _ => true,
            };
            if !fits {
                return Err(bad(format!(
                    "duplicate error {name:?} does not fit these names"
                )));
            }
            duplicate_errors.push(kind);
            weights.push(*w);
        }
        let duplicate_weights =
            Weighted::new(weights).ok_or_else(|| bad("duplicate_errors: no weight".to_owned()))?;

        let mut rules = data.dates.partial_birth_dates;
        rules.sort_by_key(|r| r.born_before);
        for r in &rules {
            if r.year_only < 0.0 || r.year_month < 0.0 || r.year_only + r.year_month > 1.0 {
                return Err(bad(format!(
                    "partial_birth_dates {}: bad shares",
                    r.born_before
                )));
            }
        }
        let since = data.dates.residence_since;
        if since.full < 0.0 || since.year_month < 0.0 || since.full + since.year_month > 1.0 {
            return Err(bad("residence_since: bad shares".to_owned()));
        }
        let min = &profile.rules.marriage_min_age;
        Ok(Model {
            id_prefix: data.id_prefix,
            romanized: names.romanized,
            wife_takes_husband_family_name: names.wife_takes_husband_family_name,
            given_male,
            given_female,
            family,
            middle,
            romanization_variants: names.romanization_variants.clone(),
            ages,
            households,
            partial_birth_dates: rules,
            residence_since: since,
            places,
            addresses,
            duplicate_errors,
            duplicate_weights,
            married_min_age: [u32::from(min.male) + 1, u32::from(min.female) + 1],
        })
    }
}

fn check_name(s: &str) -> Result<(), String> {
    match normalize_name(s) {
        Ok(n) if n == s => Ok(()),
        Ok(_) => Err(format!("{s:?} is not normalised (NFC, single spaces)")),
        Err(e) => Err(format!("{s:?}: {e}")),
    }
}

fn compile_ages(bands: &[AgeBand]) -> Result<Ages, String> {
    let mut population = [Vec::new(), Vec::new()];
    let mut heads = [Vec::new(), Vec::new()];
    let mut totals = [0.0f64; 4];
    for age in 0..=MAX_AGE {
        let band = bands
            .iter()
            .rev()
            .find(|b| b.from <= age)
            .ok_or_else(|| format!("age_bands: no band for age {age}"))?;
        let width = bands
            .iter()
            .map(|b| b.from)
            .filter(|&f| f > band.from)
            .min()
            .unwrap_or(MAX_AGE + 1)
            - band.from;
        if !(0.0..=1.0).contains(&band.male) || band.share < 0.0 || band.headship < 0.0 {
            return Err(format!("age_bands {}: bad values", band.from));
        }
        let per_year = band.share / f64::from(width);
        let shares = [per_year * band.male, per_year * (1.0 - band.male)];
        for s in 0..2 {
            totals[s] += shares[s];
            totals[2 + s] += shares[s] * band.headship;
            population[s].push(totals[s]);
            heads[s].push(totals[2 + s]);
        }
    }
    if totals.iter().any(|t| *t <= 0.0) {
        return Err("age_bands: no weight for one sex, or no household heads".to_owned());
    }
    Ok(Ages { population, heads })
}

fn compile_places(
    profile: &Profile,
    areas: &AdminTree,
    data: &PlacesData,
) -> Result<Places, String> {
    let mut provinces = Vec::new();
    let mut weights = Vec::new();
    for area in profile.provinces() {
        let p = data
            .provinces
            .iter()
            .find(|p| p.code == area.code)
            .ok_or_else(|| format!("no population for province {}", area.code))?;
        if !areas.contains(&area.code) {
            return Err(format!("the area tree has no province {}", area.code));
        }
        provinces.push(Province {
            leaves: leaves(areas, &area.code),
        });
        weights.push(p.population as f64);
    }
    for p in &data.provinces {
        if !profile.provinces().any(|a| a.code == p.code) {
            return Err(format!("province {} is not in the profile", p.code));
        }
    }
    Ok(Places {
        provinces,
        weights: Weighted::new(weights).ok_or_else(|| "provinces: no population".to_owned())?,
        born_elsewhere: data.born_elsewhere,
    })
}

/// The lowest-level areas below `code` (areas without children), in tree order; `[code]` if
/// it has no children. The walk is bounded by the number of areas.
fn leaves(areas: &AdminTree, code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![code.to_owned()];
    let mut budget = areas.len() + 1;
    while let Some(c) = stack.pop() {
        if budget == 0 {
            break;
        }
        budget -= 1;
        let children = areas.children(&c);
        if children.is_empty() {
            out.push(c);
        } else {
            stack.extend(children.iter().rev().map(|a| a.code.clone()));
        }
    }
    if out.is_empty() {
        out.push(code.to_owned());
    }
    out
}
