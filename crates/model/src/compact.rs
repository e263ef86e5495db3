//! The compact stored form of a person's [`MatchRecord`]: what search and duplicate checks
//! score, kept beside the blocking keys (`person_match.record`) so that scoring a candidate
//! reads a small binary record instead of the whole person's JSON.
//!
//! Format, version 2 (all integers little-endian; `str` is a LEB128 length and UTF-8 bytes;
//! `tokens` a LEB128 count and, per token, its text and its phonetic key as two `str`):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version (`1`) |
//! | 1 | flags: bit 0 merged (retired PIN), bits 1–2 sex (0 male, 1 female, 2 unknown), bit 3 residence present |
//! | 2 + 1 + 1 | date of birth: year, month (0: unknown), day (0: unknown) |
//! | str | place of birth |
//! | str | residence (only when bit 3 is set) |
//! | tokens × 3 | given, family, middle |
//! | parent × 2 | father, mother: a tag (0 none, 1 PIN + str, 2 name + tokens) |
//! | LEB128 count, str × count | address tokens (version 2; version 1 ends before, no address) |
//!
//! The phonetic keys are stored, not recomputed: they are the ones the record's blocking keys
//! were made with, and both are rewritten together (`thabian rebuild` refreshes them).
//! A reader refuses a version it does not know. Version 1 records (written before the address
//! was compared) are still read, with no address; `thabian rebuild` rewrites them.
use crate::date::PartialDate;
use crate::linkage::{MatchRecord, NameToken, ParentKey};
use crate::sex::Sex;
use thiserror::Error;

/// The version [`encode`] writes.
pub const VERSION: u8 = 2;

const MERGED: u8 = 1;
const SEX_SHIFT: u8 = 1;
const SEX_MASK: u8 = 0b110;
const RESIDENCE: u8 = 1 << 3;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompactError {
    #[error("compact match record: unknown version {0}")]
    Version(u8),
    #[error("compact match record: {0}")]
    Malformed(&'static str),
}

/// A decoded record and whether its PIN is retired (merged into another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMatch {
    pub record: MatchRecord,
    pub merged: bool,
}

/// The compact form of `record`; `merged`: the person's PIN is retired.
pub fn encode(record: &MatchRecord, merged: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.push(VERSION);
    let sex = match record.sex {
        Sex::Male => 0u8,
        Sex::Female => 1,
        Sex::Unknown => 2,
    };
    let mut flags = sex << SEX_SHIFT;
    if merged {
        flags |= MERGED;
    }
    if record.residence.is_some() {
        flags |= RESIDENCE;
    }
    out.push(flags);
    let d = &record.date_of_birth;
    // PartialDate keeps the year in 1..=9999.
    out.extend_from_slice(&u16::try_from(d.year()).unwrap_or(0).to_le_bytes());
    out.push(d.month().unwrap_or(0));
    out.push(d.day().unwrap_or(0));
    put_str(&mut out, &record.place_of_birth);
    if let Some(r) = &record.residence {
        put_str(&mut out, r);
    }
    for tokens in [&record.given, &record.family, &record.middle] {
        put_tokens(&mut out, tokens);
    }
    for parent in [&record.father, &record.mother] {
        match parent {
            None => out.push(0),
            Some(ParentKey::Pin(pin)) => {
                out.push(1);
                put_str(&mut out, pin);
            }
            Some(ParentKey::Name(tokens)) => {
                out.push(2);
                put_tokens(&mut out, tokens);
            }
        }
    }
    put_len(&mut out, record.address.len());
    for t in &record.address {
        put_str(&mut out, t);
    }
    out
}

/// Reads a record [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<StoredMatch, CompactError> {
    let mut r = Reader { bytes, at: 0 };
    let version = r.byte()?;
    if version != 1 && version != VERSION {
        return Err(CompactError::Version(version));
    }
    let flags = r.byte()?;
    let sex = match (flags & SEX_MASK) >> SEX_SHIFT {
        0 => Sex::Male,
        1 => Sex::Female,
        2 => Sex::Unknown,
        _ => return Err(CompactError::Malformed("sex")),
    };
    let year = u16::from_le_bytes([r.byte()?, r.byte()?]);
    let nonzero = |v: u8| (v != 0).then_some(v);
    let (month, day) = (nonzero(r.byte()?), nonzero(r.byte()?));
    let date_of_birth = PartialDate::new(i32::from(year), month, day)
        .map_err(|_| CompactError::Malformed("date of birth"))?;
    let place_of_birth = r.string()?;
    let residence = if flags & RESIDENCE != 0 {
        Some(r.string()?)
    } else {
        None
    };
    let given = r.tokens()?;
    let family = r.tokens()?;
    let middle = r.tokens()?;
    let father = r.parent()?;
    let mother = r.parent()?;
    let mut address = Vec::new();
    if version >= 2 {
        let n = r.len()?;
        // Bounded by the bytes left (each token takes at least one), not by the claimed count.
        address.reserve(n.min(bytes.len() - r.at));
        for _ in 0..n {
            address.push(r.string()?);
        }
    }
    if r.at != bytes.len() {
        return Err(CompactError::Malformed("trailing bytes"));
    }
    Ok(StoredMatch {
        record: MatchRecord {
            given,
            family,
            middle,
            sex,
            date_of_birth,
            place_of_birth,
            residence,
            father,
            mother,
            address,
        },
        merged: flags & MERGED != 0,
    })
}

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_tokens(out: &mut Vec<u8>, tokens: &[NameToken]) {
    put_len(out, tokens.len());
    for t in tokens {
        put_str(out, t.text());
        put_str(out, t.phonetic());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, CompactError> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or(CompactError::Malformed("truncated"))?;
        self.at += 1;
        Ok(b)
    }

    fn len(&mut self) -> Result<usize, CompactError> {
        let mut n = 0usize;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(CompactError::Malformed("length"))
    }

    fn string(&mut self) -> Result<String, CompactError> {
        let n = self.len()?;
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or(CompactError::Malformed("truncated"))?;
        let s = std::str::from_utf8(&self.bytes[self.at..end])
            .map_err(|_| CompactError::Malformed("not UTF-8"))?;
        self.at = end;
        Ok(s.to_owned())
    }

    fn tokens(&mut self) -> Result<Vec<NameToken>, CompactError> {
        let n = self.len()?;
        // Each token takes two bytes at least: a count beyond the rest is corrupt.
        if n > self.bytes.len() - self.at {
            return Err(CompactError::Malformed("token count"));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let text = self.string()?;
            let phonetic = self.string()?;
            out.push(NameToken::from_stored(text, phonetic));
        }
        Ok(out)
    }

    fn parent(&mut self) -> Result<Option<ParentKey>, CompactError> {
        Ok(match self.byte()? {
            0 => None,
            1 => Some(ParentKey::Pin(self.string()?)),
            2 => Some(ParentKey::Name(self.tokens()?)),
            _ => return Err(CompactError::Malformed("parent")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linkage::name_tokens;
    use proptest::prelude::*;

    fn record() -> MatchRecord {
        MatchRecord {
            given: name_tokens(&["Văn An", "ສົມສັກ"]),
            family: name_tokens(&["Nguyễn"]),
            middle: Vec::new(),
            sex: Sex::Female,
            date_of_birth: PartialDate::from_ymd(1990, 2, 28).unwrap(),
            place_of_birth: "0101".into(),
            residence: Some("0203".into()),
            father: Some(ParentKey::Pin("1234567890".into())),
            mother: Some(ParentKey::Name(name_tokens(&["Trần Thị Bích"]))),
            address: crate::linkage::address_tokens(&["Ban Phonxay, house 12".into()]),
        }
    }

    #[test]
    fn round_trips_with_phonetic_keys_and_flags() {
        let r = record();
        for merged in [false, true] {
            let back = decode(&encode(&r, merged)).unwrap();
            assert_eq!(back.record, r);
            assert_eq!(back.merged, merged);
            for (a, b) in back.record.all_name_tokens().zip(r.all_name_tokens()) {
                assert_eq!(a.phonetic(), b.phonetic());
            }
        }
        let partial = MatchRecord {
            date_of_birth: PartialDate::from_year(1931).unwrap(),
            residence: None,
            father: None,
            mother: None,
            place_of_birth: String::new(),
            sex: Sex::Unknown,
            address: Vec::new(),
            ..record()
        };
        assert_eq!(decode(&encode(&partial, false)).unwrap().record, partial);
    }

    #[test]
    fn is_small() {
        // The person's JSON for the same fields is several times this.
        assert!(encode(&record(), false).len() < 140);
    }

    #[test]
    fn reads_version_1_records_without_an_address() {
        let r = MatchRecord {
            address: Vec::new(),
            ..record()
        };
        // Version 1 is version 2 without the trailing address count.
        let mut v1 = encode(&r, true);
        assert_eq!(v1.pop(), Some(0));
        v1[0] = 1;
        let back = decode(&v1).unwrap();
        assert_eq!(back.record, r);
        assert!(back.merged);
        assert!(
            decode(&encode(&record(), false))
                .unwrap()
                .record
                .address
                .len()
                == 4
        );
    }

    #[test]
    fn refuses_unknown_versions_and_corrupt_bytes() {
        let bytes = encode(&record(), false);
        let mut other = bytes.clone();
        other[0] = 3;
        assert_eq!(decode(&other), Err(CompactError::Version(3)));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn round_trips_arbitrary_names(given in "[a-zà-ỹ ]{0,30}", family in "\\PC{0,12}", y in 1u16..=9999, m in 0u8..=12) {
            let date = if m == 0 { PartialDate::from_year(i32::from(y)) } else { PartialDate::from_year_month(i32::from(y), m) }.unwrap();
            let r = MatchRecord {
                given: name_tokens(&[&given]),
                family: name_tokens(&[&family]),
                date_of_birth: date,
                ..record()
            };
            prop_assert_eq!(decode(&encode(&r, false)).unwrap().record, r);
        }
    }
}
