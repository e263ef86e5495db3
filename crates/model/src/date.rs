//! Dates that may be known only partly: a year, a year and month, or a full date.
//!
//! Written as `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (strict, zero-padded), in text and in JSON.
//! Comparisons are honest about the uncertainty: [`PartialDate::definitely_before`] is true only
//! when every possible day of `self` precedes every possible day of `other`.
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A date of which the month, or the month and day, may be unknown.
///
/// Invariants: year in 1..=9999; month in 1..=12; a day only with a month, and only a day that
/// exists in that month of that year.
///
/// `Ord` is the order of [`PartialDate::sort_key`] (missing parts sort first: `2020` <
/// `2020-01` < `2020-01-01` < `2020-02`). It is a deterministic ordering for lists, not a
/// chronological claim; use [`PartialDate::definitely_before`] for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartialDate {
    // Field order matters: the derived `Ord` (None < Some) equals the order of `sort_key`.
    year: i32,
    month: Option<u8>,
    day: Option<u8>,
}

/// Why a partial date was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DateError {
    #[error("year {0} is out of range (1 to 9999)")]
    YearOutOfRange(i32),
    #[error("month {0} is out of range (1 to 12)")]
    MonthOutOfRange(u8),
    #[error("a day cannot be given without a month")]
    DayWithoutMonth,
    #[error("{year:04}-{month:02} has no day {day}")]
    NoSuchDay { year: i32, month: u8, day: u8 },
    #[error("{0:?} is not a date: expected YYYY, YYYY-MM or YYYY-MM-DD")]
    BadFormat(String),
}

impl PartialDate {
    /// Builds a partial date, validating every part.
    pub fn new(year: i32, month: Option<u8>, day: Option<u8>) -> Result<PartialDate, DateError> {
        if !(1..=9999).contains(&year) {
            return Err(DateError::YearOutOfRange(year));
        }
        if let Some(m) = month {
            if !(1..=12).contains(&m) {
                return Err(DateError::MonthOutOfRange(m));
            }
        }
        match (month, day) {
            (None, Some(_)) => return Err(DateError::DayWithoutMonth),
            (Some(m), Some(d)) if d == 0 || d > days_in_month(year, m) => {
                return Err(DateError::NoSuchDay {
                    year,
                    month: m,
                    day: d,
                });
            }
            _ => {}
        }
        Ok(PartialDate { year, month, day })
    }

    /// Only the year is known.
    pub fn from_year(year: i32) -> Result<PartialDate, DateError> {
        PartialDate::new(year, None, None)
    }

    /// The year and month are known.
    pub fn from_year_month(year: i32, month: u8) -> Result<PartialDate, DateError> {
        PartialDate::new(year, Some(month), None)
    }

    /// The full date is known.
    pub fn from_ymd(year: i32, month: u8, day: u8) -> Result<PartialDate, DateError> {
        PartialDate::new(year, Some(month), Some(day))
    }

    /// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (strict: zero-padded, nothing else around).
    pub fn parse(s: &str) -> Result<PartialDate, DateError> {
        let bad = || DateError::BadFormat(s.to_owned());
        let mut parts = s.split('-');
        let year = parts.next().ok_or_else(bad)?;
        let month = parts.next();
        let day = parts.next();
        if parts.next().is_some() {
            return Err(bad());
        }
        let year = parse_fixed(year, 4).ok_or_else(bad)?;
        let month = match month {
            Some(m) => Some(parse_fixed(m, 2).ok_or_else(bad)?),
            None => None,
        };
        let day = match day {
            Some(d) => Some(parse_fixed(d, 2).ok_or_else(bad)?),
            None => None,
        };
        let month = month.map(u8::try_from).transpose().map_err(|_| bad())?;
        let day = day.map(u8::try_from).transpose().map_err(|_| bad())?;
        PartialDate::new(year, month, day)
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn month(&self) -> Option<u8> {
        self.month
    }

    pub fn day(&self) -> Option<u8> {
        self.day
    }

    /// Whether year, month and day are all known.
    pub fn is_full(&self) -> bool {
        self.day.is_some()
    }

    /// The full date, if it is fully known.
    pub fn to_full(&self) -> Option<NaiveDate> {
        match (self.month, self.day) {
            (Some(m), Some(d)) => NaiveDate::from_ymd_opt(self.year, u32::from(m), u32::from(d)),
            _ => None,
        }
    }

    /// The first day this date may be.
    pub fn earliest(&self) -> NaiveDate {
        let m = self.month.unwrap_or(1);
        let d = self.day.unwrap_or(1);
        ymd(self.year, m, d)
    }

    /// The last day this date may be.
    pub fn latest(&self) -> NaiveDate {
        let m = self.month.unwrap_or(12);
        let d = self.day.unwrap_or_else(|| days_in_month(self.year, m));
        ymd(self.year, m, d)
    }

    /// Whether `date` is one of the days this date may be.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.earliest() <= date && date <= self.latest()
    }

    /// True when every possible day of `self` is before every possible day of `other`
    /// (`self.latest() < other.earliest()`). `2019` is definitely before `2020-01`; `2020` is
    /// not definitely before `2020-06` (nor definitely after it).
    pub fn definitely_before(&self, other: &PartialDate) -> bool {
        self.latest() < other.earliest()
    }

    /// True when every possible day of `self` is after every possible day of `other`
    /// (`self.earliest() > other.latest()`).
    pub fn definitely_after(&self, other: &PartialDate) -> bool {
        self.earliest() > other.latest()
    }

    /// True when some possible day of `self` is after `date` (`self.latest() > date`).
    pub fn may_be_after(&self, date: NaiveDate) -> bool {
        self.latest() > date
    }

    /// True when some possible day of `self` is before `date` (`self.earliest() < date`).
    pub fn may_be_before(&self, date: NaiveDate) -> bool {
        self.earliest() < date
    }

    /// `(year, month, day)` with missing parts as 0; `Ord` follows this key.
    pub fn sort_key(&self) -> (i32, u8, u8) {
        (self.year, self.month.unwrap_or(0), self.day.unwrap_or(0))
    }

    /// The smallest possible age in completed years on `on` of someone born on `self`: the age
    /// if born on [`latest`](Self::latest). Negative when that latest possible birth is after
    /// `on` (the person may not have been born yet).
    ///
    /// A birthday on 29 February is reached on 1 March in common years.
    pub fn min_age_at(&self, on: NaiveDate) -> i32 {
        age_in_completed_years(self.latest(), on)
    }

    /// The largest possible age in completed years on `on`: the age if born on
    /// [`earliest`](Self::earliest). Negative when even the earliest possible birth is after `on`.
    pub fn max_age_at(&self, on: NaiveDate) -> i32 {
        age_in_completed_years(self.earliest(), on)
    }
}

/// Age in completed years on `on` of someone born on `birth` (negative if born after `on`).
/// Someone born on 29 February becomes a year older on 1 March in common years.
pub fn age_in_completed_years(birth: NaiveDate, on: NaiveDate) -> i32 {
    let years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years - 1
    } else {
        years
    }
}

/// Parses exactly `width` ASCII digits.
fn parse_fixed(s: &str, width: usize) -> Option<i32> {
    if s.len() != width || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`.
fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// A date from parts the invariants guarantee are valid. Falls back to `NaiveDate::MIN`, which
/// cannot happen for a validated `PartialDate` (year 1..=9999 is within chrono's range).
fn ymd(year: i32, month: u8, day: u8) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day)).unwrap_or(NaiveDate::MIN)
}

impl PartialDate {
    /// A fully known date, failing for years outside 1..=9999 (which chrono can represent).
    pub fn try_from_date(date: NaiveDate) -> Result<PartialDate, DateError> {
        let month =
            u8::try_from(date.month()).map_err(|_| DateError::BadFormat(date.to_string()))?;
        let day = u8::try_from(date.day()).map_err(|_| DateError::BadFormat(date.to_string()))?;
        PartialDate::new(date.year(), Some(month), Some(day))
    }
}

impl From<NaiveDate> for PartialDate {
    /// A fully known date. Infallible for convenience (e.g. `PartialDate::from(today)`): a date
    /// before 0001-01-01 or after 9999-12-31 is clamped to that bound, which keeps every
    /// comparison with in-range dates correct. Use [`PartialDate::try_from_date`] to reject
    /// such dates instead.
    fn from(date: NaiveDate) -> PartialDate {
        match PartialDate::try_from_date(date) {
            Ok(d) => d,
            Err(_) if date.year() < 1 => PartialDate {
                year: 1,
                month: Some(1),
                day: Some(1),
            },
            Err(_) => PartialDate {
                year: 9999,
                month: Some(12),
                day: Some(31),
            },
        }
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
        }
        if let Some(d) = self.day {
            write!(f, "-{d:02}")?;
        }
        Ok(())
    }
}

impl FromStr for PartialDate {
    type Err = DateError;

    fn from_str(s: &str) -> Result<PartialDate, DateError> {
        PartialDate::parse(s)
    }
}

impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PartialDate, D::Error> {
        let s = String::deserialize(deserializer)?;
        PartialDate::parse(&s).map_err(serde::de::Error::custom)
    }
}
