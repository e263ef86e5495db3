//! Personal identification numbers (PIN): schemes, validation and issuance.
//!
//! Type shapes below are the contract with the rest of the workspace (profiles deserialize
//! `PinScheme` from JSON); the implementation is filled in behind them.
//!
//! Two schemes exist (see `shared/reference/identifiers.md`):
//!
//! * `random-verhoeff` (MOSIP-style): random digits followed by a [Verhoeff](verhoeff_check_digit)
//!   check digit, 10 to 12 digits in total. Candidates are drawn from the caller's RNG and
//!   rejected until they pass the [`PinFilters`] (applied to the whole PIN, check digit included,
//!   as MOSIP does).
//! * `vn-12` (Vietnam): province of birth registration (3 digits), century/sex digit, last two
//!   digits of the birth year, 6 random digits; no check digit.
//!
//! This module never guarantees uniqueness: it only produces well-formed candidates. Uniqueness
//! (never issuing a number twice, never reusing one after death or merge) is the database's job;
//! the caller inserts the candidate under a unique constraint and calls [`generate_pin`] again on
//! a collision.
use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::sex::Sex;

/// The PIN scheme a country profile uses, with its parameters.
/// JSON: `{"scheme": "random-verhoeff", "length": 10, "filters": {...}}` or `{"scheme": "vn-12"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case")]
pub enum PinScheme {
    RandomVerhoeff {
        /// Total length including the check digit, 10..=12.
        length: u8,
        #[serde(default)]
        filters: PinFilters,
    },
    #[serde(rename = "vn-12")]
    Vn12,
}

/// MOSIP-style filters applied to random candidates; every limit configurable. Defaults are MOSIP's.
///
/// Semantics follow MOSIP's kernel UIN generator (`UinFilterUtil`). A candidate is rejected as
/// soon as one filter matches; [`passes_filters`] applies them all. A limit of `0` disables the
/// corresponding filter (MOSIP has no such case; it would build an invalid regex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PinFilters {
    /// Digits a PIN may not start with (MOSIP: 0 and 1).
    pub forbidden_first_digits: Vec<u8>,
    /// Longest allowed ascending or descending run (MOSIP: 2, so `123` is rejected).
    ///
    /// Like MOSIP, runs wrap around: `890`, `901` are ascending and `109`, `098` descending
    /// (MOSIP looks the window up in `01234567890123456789` / `98765432109876543210`).
    pub max_sequence_length: u8,
    /// A digit may not repeat within this many positions (MOSIP: 2, rejects `11` and `1x1`).
    ///
    /// MOSIP regex `(\d)\d{0,limit-1}\1`: digits at positions `i < j` with `j - i <= limit`
    /// must differ.
    pub repeating_limit: u8,
    /// Blocks of this many digits or more may not repeat (MOSIP: 2, rejects `48xx48`).
    ///
    /// MOSIP regex `(\d{limit,}).*?\1`: a block of `limit` digits may not occur twice without
    /// overlapping, anywhere in the PIN (`4848` and `48xx48` are rejected, `484` is not rejected
    /// by this filter).
    pub repeating_block_limit: u8,
    /// Reject when the first N digits equal the last N reversed (MOSIP: 5).
    ///
    /// E.g. `4345665434`: first five `43456`, last five reversed `43456`. Disabled when N is
    /// longer than the PIN.
    pub reverse_digits_limit: u8,
    /// Reject a repeated group of this many digits (MOSIP: 5).
    ///
    /// As in MOSIP, the group compared is the first N digits against the last N digits
    /// (`4345643456` is rejected). Disabled when N is not shorter than the PIN (it would reject
    /// every PIN).
    pub digits_group_limit: u8,
    /// Longest allowed run of adjacent even digits (MOSIP: 2, so 3 adjacent even digits are rejected).
    ///
    /// As in MOSIP (regex `[2468]{n}`), only 2, 4, 6 and 8 count: `0` does not count as an even
    /// digit for this filter (`240` passes it, `246` does not).
    pub max_adjacent_even_digits: u8,
    /// Numbers that may not appear anywhere in a PIN (MOSIP: 786, 666).
    pub restricted_numbers: Vec<String>,
    /// Known cyclic numbers that may not appear in a PIN.
    ///
    /// Checked as substrings, so only those not longer than the PIN can ever match (MOSIP: 142857
    /// and the repetends of 1/17, 1/19, 1/23, 1/29, 1/47, 1/59, 1/61).
    pub cyclic_numbers: Vec<String>,
}

impl Default for PinFilters {
    /// MOSIP's defaults.
    fn default() -> Self {
        PinFilters {
            forbidden_first_digits: vec![0, 1],
            max_sequence_length: 2,
            repeating_limit: 2,
            repeating_block_limit: 2,
            reverse_digits_limit: 5,
            digits_group_limit: 5,
            max_adjacent_even_digits: 2,
            restricted_numbers: vec!["786".to_owned(), "666".to_owned()],
            cyclic_numbers: [
                "142857",
                "0588235294117647",
                "052631578947368421",
                "0434782608695652173913",
                "0344827586206896551724137931",
                "0212765957446808510638297872340425531914893617",
                "0169491525423728813559322033898305084745762711864406779661",
                "016393442622950819672131147540983606557377049180327868852459",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        }
    }
}

/// Smallest and largest total length of a `random-verhoeff` PIN.
pub const RANDOM_VERHOEFF_LENGTHS: std::ops::RangeInclusive<u8> = 10..=12;

/// Length of a `vn-12` PIN.
pub const VN12_LENGTH: usize = 12;

/// How many random candidates [`generate_pin`] draws for `random-verhoeff` before giving up.
/// With MOSIP's default filters about 1 candidate in 17 (length 10) to 1 in 36 (length 12)
/// passes, so this is never reached with sane filters; it only stops configurations that reject
/// (almost) everything. (So about 5.7 × 10^7 ten-digit PINs exist under the defaults.)
pub const MAX_GENERATION_ATTEMPTS: u32 = 100_000;

/// Errors from PIN validation and issuance.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PinError {
    #[error("a PIN must have {expected} digits, this one has {found} characters")]
    WrongLength { expected: usize, found: usize },
    #[error("a PIN may contain only the digits 0-9 (no spaces, letters or separators)")]
    NotDigits,
    #[error("the check digit (last digit) of this PIN is wrong; it was probably mistyped")]
    BadCheckDigit,
    #[error("PIN scheme configuration error: a random-verhoeff PIN length must be 10 to 12, got {length}")]
    InvalidSchemeLength { length: u8 },
    #[error("this record cannot be given a {scheme} PIN: {reason}")]
    NotNumberable {
        scheme: &'static str,
        reason: String,
    },
    #[error("no PIN candidate passed the filters after {attempts} attempts; the PIN filters are too strict for this length")]
    FiltersExhausted { attempts: u32 },
}

impl PinScheme {
    /// The scheme's name as written in profiles (`random-verhoeff`, `vn-12`).
    pub fn name(&self) -> &'static str {
        match self {
            PinScheme::RandomVerhoeff { .. } => "random-verhoeff",
            PinScheme::Vn12 => "vn-12",
        }
    }

    /// Total number of digits of a PIN in this scheme (check digit included).
    pub fn length(&self) -> usize {
        match self {
            PinScheme::RandomVerhoeff { length, .. } => usize::from(*length),
            PinScheme::Vn12 => VN12_LENGTH,
        }
    }

    /// Checks the scheme's parameters (a `random-verhoeff` length must be 10..=12).
    pub fn validate(&self) -> Result<(), PinError> {
        match self {
            PinScheme::RandomVerhoeff { length, .. }
                if !RANDOM_VERHOEFF_LENGTHS.contains(length) =>
            {
                Err(PinError::InvalidSchemeLength { length: *length })
            }
            _ => Ok(()),
        }
    }
}

/// A personal identification number: a non-empty string of ASCII digits, well-formed for the
/// scheme it was parsed or generated with.
///
/// Serialized as a JSON string. Deserializing only checks that the value is 10 to 12 ASCII
/// digits (serde does not know the scheme); use [`Pin::parse`] for input from people.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pin(String);

impl Pin {
    /// Validates a PIN typed or scanned by someone against `scheme`.
    ///
    /// Nothing is trimmed or removed: whitespace and separators are rejected. Checks the length,
    /// that every character is an ASCII digit, and for `random-verhoeff` the Verhoeff check digit.
    /// For `vn-12` every century/sex digit (0–9) is defined and the province code is not checked
    /// against a list (codes of former provinces stay valid), so only length and digits are
    /// checked. The [`PinFilters`] are *not* applied: they govern issuance only.
    pub fn parse(scheme: &PinScheme, s: &str) -> Result<Pin, PinError> {
        scheme.validate()?;
        let expected = scheme.length();
        let found = s.chars().count();
        if found != expected {
            return Err(PinError::WrongLength { expected, found });
        }
        if !is_ascii_digits(s) {
            return Err(PinError::NotDigits);
        }
        if let PinScheme::RandomVerhoeff { .. } = scheme {
            if !verhoeff_is_valid(s) {
                return Err(PinError::BadCheckDigit);
            }
        }
        Ok(Pin(s.to_owned()))
    }

    /// Wraps a value read back from the register's own database, without validation.
    ///
    /// Only for values that were validated or generated when they were stored (the scheme may
    /// have changed since, and old numbers must stay readable). Never use it for input from
    /// people or other systems: use [`Pin::parse`].
    pub fn from_trusted(value: String) -> Pin {
        Pin(value)
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits, consuming the PIN.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Pin {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<Pin> for String {
    fn from(pin: Pin) -> String {
        pin.0
    }
}

impl TryFrom<String> for Pin {
    type Error = PinError;

    /// Scheme-agnostic check used by deserialization: 10 to 12 ASCII digits.
    fn try_from(value: String) -> Result<Pin, PinError> {
        let found = value.chars().count();
        if !(10..=12).contains(&found) {
            return Err(PinError::WrongLength {
                expected: if found < 10 { 10 } else { 12 },
                found,
            });
        }
        if !is_ascii_digits(&value) {
            return Err(PinError::NotDigits);
        }
        Ok(Pin(value))
    }
}

fn is_ascii_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------
// Verhoeff
// ---------------------------------------------------------------------------------------------

/// Multiplication table of the dihedral group D5.
const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

/// Permutation table: row `i` is `σ^i` (σ = row 1), applied at position `i mod 8` from the right.
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Inverses in D5.
const VERHOEFF_INV: [u8; 10] = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9];

/// Runs the Verhoeff accumulator over `digits` (right to left), with position offset `offset`
/// (1 when computing a check digit still to be appended, 0 when validating). `None` when a
/// character is not an ASCII digit.
fn verhoeff_accumulate(digits: &str, offset: usize) -> Option<u8> {
    let mut c = 0u8;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let digit = usize::from(b - b'0');
        let p = VERHOEFF_P[(i + offset) % 8][digit];
        c = VERHOEFF_D[usize::from(c)][usize::from(p)];
    }
    Some(c)
}

/// The Verhoeff check digit to append to `digits`, or `None` if `digits` contains anything but
/// ASCII digits. The check digit of the empty string is 0.
///
/// Verhoeff detects every single-digit substitution and every transposition of two adjacent
/// digits.
pub fn verhoeff_check_digit(digits: &str) -> Option<u8> {
    verhoeff_accumulate(digits, 1).map(|c| VERHOEFF_INV[usize::from(c)])
}

/// Whether `digits_with_check` is a non-empty string of ASCII digits whose last digit is the
/// correct Verhoeff check digit for the others.
pub fn verhoeff_is_valid(digits_with_check: &str) -> bool {
    !digits_with_check.is_empty() && verhoeff_accumulate(digits_with_check, 0) == Some(0)
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

/// Whether `digits` (a whole PIN, check digit included, as MOSIP applies them) passes every
/// filter. Anything that is not a non-empty string of ASCII digits fails.
pub fn passes_filters(filters: &PinFilters, digits: &str) -> bool {
    if !is_ascii_digits(digits) {
        return false;
    }
    let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    !(starts_with_forbidden(filters, &d)
        || has_sequence(&d, filters.max_sequence_length)
        || has_repeating_digit(&d, filters.repeating_limit)
        || has_repeating_block(&d, filters.repeating_block_limit)
        || first_equals_last_reversed(&d, filters.reverse_digits_limit)
        || first_equals_last(&d, filters.digits_group_limit)
        || has_even_run(&d, filters.max_adjacent_even_digits)
        || contains_any(digits, &filters.restricted_numbers)
        || contains_any(digits, &filters.cyclic_numbers))
}

fn starts_with_forbidden(filters: &PinFilters, d: &[u8]) -> bool {
    d.first()
        .is_some_and(|first| filters.forbidden_first_digits.contains(first))
}

/// A window of `max + 1` digits that ascends or descends by one at each step (mod 10).
fn has_sequence(d: &[u8], max: u8) -> bool {
    if max == 0 {
        return false;
    }
    let window = usize::from(max) + 1;
    d.windows(window).any(|w| {
        let asc = w.windows(2).all(|p| (p[0] + 1) % 10 == p[1]);
        let desc = w.windows(2).all(|p| (p[1] + 1) % 10 == p[0]);
        asc || desc
    })
}

/// Two equal digits at most `limit` positions apart.
fn has_repeating_digit(d: &[u8], limit: u8) -> bool {
    if limit == 0 {
        return false;
    }
    let limit = usize::from(limit);
    (0..d.len()).any(|i| (i + 1..=(i + limit).min(d.len().saturating_sub(1))).any(|j| d[i] == d[j]))
}

/// A block of `limit` digits occurring twice without overlap. (A repeated longer block always
/// contains a repeated block of exactly `limit` digits, so checking that length suffices.)
fn has_repeating_block(d: &[u8], limit: u8) -> bool {
    if limit == 0 {
        return false;
    }
    let n = usize::from(limit);
    if d.len() < 2 * n {
        return false;
    }
    (0..=d.len() - 2 * n).any(|i| (i + n..=d.len() - n).any(|j| d[i..i + n] == d[j..j + n]))
}

fn first_equals_last_reversed(d: &[u8], limit: u8) -> bool {
    let n = usize::from(limit);
    if n == 0 || n > d.len() {
        return false;
    }
    d[..n].iter().eq(d[d.len() - n..].iter().rev())
}

fn first_equals_last(d: &[u8], limit: u8) -> bool {
    let n = usize::from(limit);
    if n == 0 || n >= d.len() {
        return false;
    }
    d[..n] == d[d.len() - n..]
}

/// More than `max` adjacent digits from {2, 4, 6, 8}.
fn has_even_run(d: &[u8], max: u8) -> bool {
    if max == 0 {
        return false;
    }
    let mut run = 0usize;
    for &x in d {
        if matches!(x, 2 | 4 | 6 | 8) {
            run += 1;
            if run > usize::from(max) {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

fn contains_any(digits: &str, needles: &[String]) -> bool {
    needles
        .iter()
        .any(|n| !n.is_empty() && digits.contains(n.as_str()))
}

// ---------------------------------------------------------------------------------------------
// Issuance
// ---------------------------------------------------------------------------------------------

/// What a scheme may need to know about the person being numbered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinContext {
    /// The profile's province code of the place where the birth was registered, 2 digits, e.g.
    /// `"01"` or `"79"`; `vn-12` writes it as 3 digits with a leading 0 (`001`, `079`). A 3-digit
    /// code (e.g. a country code for births registered abroad) is used as is.
    pub birth_registration_province: Option<String>,
    pub sex: Option<Sex>,
    pub birth_year: Option<i32>,
}

/// Draws a new PIN candidate for `scheme`.
///
/// * `random-verhoeff`: `length - 1` uniformly random digits plus the Verhoeff check digit,
///   redrawn until the candidate passes the scheme's [`PinFilters`] (at most
///   [`MAX_GENERATION_ATTEMPTS`] draws, then [`PinError::FiltersExhausted`]). `ctx` is ignored.
/// * `vn-12`: province (3 digits) + century/sex digit + last two digits of the birth year + 6
///   random digits. Needs the province, a known sex and a birth year in 1900..=2399, else
///   [`PinError::NotNumberable`].
///
/// The result is only a candidate: uniqueness is the database's job. The caller stores it under
/// a unique constraint and calls this again on a collision (for `vn-12` there are 10^6 numbers
/// per province, year and sex).
pub fn generate_pin<R: RngCore + ?Sized>(
    scheme: &PinScheme,
    ctx: &PinContext,
    rng: &mut R,
) -> Result<Pin, PinError> {
    scheme.validate()?;
    match scheme {
        PinScheme::RandomVerhoeff { length, filters } => {
            generate_random_verhoeff(usize::from(*length), filters, rng)
        }
        PinScheme::Vn12 => generate_vn12(ctx, rng),
    }
}

/// A uniformly random ASCII digit (rejection sampling on a byte, no modulo bias).
fn random_digit<R: RngCore + ?Sized>(rng: &mut R) -> char {
    loop {
        let mut b = [0u8; 1];
        rng.fill_bytes(&mut b);
        if b[0] < 250 {
            return char::from(b'0' + b[0] % 10);
        }
    }
}

fn generate_random_verhoeff<R: RngCore + ?Sized>(
    length: usize,
    filters: &PinFilters,
    rng: &mut R,
) -> Result<Pin, PinError> {
    let mut candidate = String::with_capacity(length);
    for _ in 0..MAX_GENERATION_ATTEMPTS {
        candidate.clear();
        for _ in 0..length - 1 {
            candidate.push(random_digit(rng));
        }
        let Some(check) = verhoeff_check_digit(&candidate) else {
            continue;
        };
        candidate.push(char::from(b'0' + check));
        if passes_filters(filters, &candidate) {
            return Ok(Pin(candidate));
        }
    }
    Err(PinError::FiltersExhausted {
        attempts: MAX_GENERATION_ATTEMPTS,
    })
}

/// The `vn-12` century/sex digit for a birth year and sex, if the year is in 1900..=2399 and the
/// sex is known: 20th century (1900–1999) male 0 / female 1, 21st 2/3, 22nd 4/5, 23rd 6/7,
/// 24th 8/9.
pub fn vn12_century_sex_digit(birth_year: i32, sex: Sex) -> Option<u8> {
    if !(1900..=2399).contains(&birth_year) {
        return None;
    }
    let century = u8::try_from((birth_year - 1900) / 100).ok()?;
    let sex_bit = match sex {
        Sex::Male => 0,
        Sex::Female => 1,
        Sex::Unknown => return None,
    };
    Some(century * 2 + sex_bit)
}

fn generate_vn12<R: RngCore + ?Sized>(ctx: &PinContext, rng: &mut R) -> Result<Pin, PinError> {
    let not_numberable = |reason: String| PinError::NotNumberable {
        scheme: "vn-12",
        reason,
    };
    let province = match ctx.birth_registration_province.as_deref() {
        None => {
            return Err(not_numberable(
                "the province where the birth was registered is not known".to_owned(),
            ))
        }
        Some(p) if is_ascii_digits(p) && p.len() == 2 => format!("0{p}"),
        Some(p) if is_ascii_digits(p) && p.len() == 3 => p.to_owned(),
        Some(p) => {
            return Err(not_numberable(format!(
                "the birth registration province code {p:?} is not a 2- or 3-digit code"
            )))
        }
    };
    let sex = match ctx.sex {
        Some(Sex::Male) => Sex::Male,
        Some(Sex::Female) => Sex::Female,
        Some(Sex::Unknown) | None => {
            return Err(not_numberable(
                "the sex is not known, and the number encodes it".to_owned(),
            ))
        }
    };
    let year = ctx.birth_year.ok_or_else(|| {
        not_numberable("the year of birth is not known, and the number encodes it".to_owned())
    })?;
    let century_sex = vn12_century_sex_digit(year, sex).ok_or_else(|| {
        not_numberable(format!(
            "the year of birth {year} is outside 1900–2399, which the number can encode"
        ))
    })?;
    let mut pin = String::with_capacity(VN12_LENGTH);
    pin.push_str(&province);
    pin.push(char::from(b'0' + century_sex));
    pin.push_str(&format!("{:02}", year.rem_euclid(100)));
    for _ in 0..6 {
        pin.push(random_digit(rng));
    }
    Ok(Pin(pin))
}
