//! The TD1 machine-readable zone (Doc 9303 Part 3 and Part 5): check digits, the three
//! 30-character lines, the name line with its truncation, transliteration of Latin names, and
//! a parser that reports every check digit.
//!
//! # Layout (Part 5, TD1 MRZ data structure), 1-based positions
//! ```text
//! line 1: 1-2 document code · 3-5 issuing state · 6-14 document number · 15 check digit
//!         · 16-30 optional data 1
//! line 2: 1-6 date of birth · 7 check · 8 sex · 9-14 date of expiry · 15 check
//!         · 16-18 nationality · 19-29 optional data 2 · 30 composite check digit
//! line 3: 1-30 name: primary identifier `<<` secondary identifier, parts joined by `<`
//! ```
//! The composite check digit covers line 1 positions 6–30, line 2 positions 1–7, 9–15 and 19–29.
//!
//! # Long document numbers (Part 5, notes to the TD1 data structure)
//! A document number of more than nine characters puts its first nine characters in positions
//! 6–14, `<` in position 15, and the remaining characters at the start of optional data 1,
//! followed by the check digit of the **whole** number and a `<`. Whatever optional data the
//! issuer adds follows that `<`. This crate accepts numbers of up to 22 characters, so that the
//! check digit and its terminating `<` always fit the 15 positions of optional data 1.
//!
//! # Dates
//! [`MrzDate`] keeps the six MRZ characters `YYMMDD`. Part 3 (representation of dates) lets an
//! unknown month or day be written as fillers (`<<`), which this type allows (`YY<<<<`,
//! `YYMM<<`). The date of expiry is an `Option`: Doc 9303 makes it mandatory, and an issuer of a
//! card valid for life should write a real far date. `None` is kept for reading and writing
//! documents that fill the field with `<<<<<<` anyway; its check digit is then `0` (the 7-3-1
//! value of six fillers), and `<` is also accepted when parsing.
//!
//! # Names: the procedure implemented
//! Doc 9303 Part 3 (representation of the name of the holder in the MRZ), Part 5 (30 positions):
//! 1. Each identifier is [`transliterate`]d; name parts are joined with one `<`, the primary and
//!    secondary identifiers with `<<`; the field is padded with `<`.
//! 2. If the result is longer than 30 characters, the secondary identifier's names are reduced
//!    to their initials, **starting from the last name** and moving towards the first, until it
//!    fits (`ANNA<MARIA<LOUISE` → `ANNA<MARIA<L` → `ANNA<M<L`).
//! 3. If it still does not fit, the field is cut at 30 characters (removing characters from the
//!    end of the secondary identifier, then of the primary identifier if the primary identifier
//!    alone is longer than 30 characters). A cut that would leave a trailing `<` is shortened
//!    to the last letter so that the last character written is a name character.
//!
//! Truncation is marked only implicitly: a truncated name fills the field completely and its
//! last position is a letter; no marker character is written.
//! [`ParsedTd1::name_possibly_truncated`] reports that condition. Caveat: the exact Part 3
//! truncation text could not be retrieved with the tools available when this was written; the
//! procedure above is the author's reading (secondary identifier before primary, initials before
//! cutting) and should be checked against the current edition of Part 3.

use chrono::{Datelike, NaiveDate};
use thiserror::Error;
use unicode_normalization::UnicodeNormalization;

/// Length of one TD1 line.
pub const TD1_LINE_LEN: usize = 30;
/// Longest document number accepted (9 in the field + 12 + check digit + `<` in optional data 1).
pub const MAX_DOCUMENT_NUMBER_LEN: usize = 22;

/// Errors building or reading an MRZ.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MrzError {
    /// A character outside `0-9`, `A-Z`, `<` in a check-digit computation or an MRZ text.
    #[error("invalid MRZ character {ch:?} at position {position}")]
    InvalidCharacter {
        /// The character.
        ch: char,
        /// 0-based position in the input handed over (for parsing: line*30 + column).
        position: usize,
    },
    /// The MRZ text does not have 3 lines of 30 characters.
    #[error("TD1 MRZ must be 3 lines of 30 characters: {0}")]
    WrongLength(String),
    /// A field value that cannot be written.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// Field name.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A field read from an MRZ that is syntactically wrong.
    #[error("invalid {field} at line {line}, column {column}: {reason}")]
    Malformed {
        /// Field name.
        field: &'static str,
        /// 1-based line.
        line: usize,
        /// 1-based column of the field's first character.
        column: usize,
        /// Why.
        reason: String,
    },
}

/// The numeric value of an MRZ character for check digits: digits as themselves, `A`=10 …
/// `Z`=35, `<`=0.
fn char_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='Z' => Some(c as u32 - 'A' as u32 + 10),
        '<' => Some(0),
        _ => None,
    }
}

/// The 7-3-1 check digit of `s` (Doc 9303 Part 3, check digits in the MRZ).
pub fn check_digit(s: &str) -> Result<u8, MrzError> {
    const WEIGHTS: [u32; 3] = [7, 3, 1];
    let mut sum = 0u32;
    for (i, ch) in s.chars().enumerate() {
        let v = char_value(ch).ok_or(MrzError::InvalidCharacter { ch, position: i })?;
        sum += v * WEIGHTS[i % 3];
    }
    // sum % 10 < 10: the cast cannot truncate.
    Ok((sum % 10) as u8)
}

fn digit_char(d: u8) -> char {
    char::from(b'0' + d % 10)
}

/// A six-character MRZ date `YYMMDD`; an unknown month or day may be written as `<<`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MrzDate(String);

impl MrzDate {
    /// Validates `YYMMDD`: the year two digits; month `01`–`12` or `<<`; day `01`–`31` or `<<`;
    /// an unknown month implies an unknown day.
    pub fn new(s: &str) -> Result<Self, MrzError> {
        let bad = |reason: &str| MrzError::InvalidField {
            field: "date",
            reason: format!("{s:?}: {reason}"),
        };
        let b = s.as_bytes();
        if b.len() != 6 {
            return Err(bad("must be 6 characters YYMMDD"));
        }
        if !b[..2].iter().all(u8::is_ascii_digit) {
            return Err(bad("the year must be two digits"));
        }
        let part = |p: &[u8], max: u8| -> Result<Option<u8>, MrzError> {
            if p == b"<<" {
                return Ok(None);
            }
            if !p.iter().all(u8::is_ascii_digit) {
                return Err(bad("month and day must be digits or `<<`"));
            }
            let v = (p[0] - b'0') * 10 + (p[1] - b'0');
            if v == 0 || v > max {
                return Err(bad("month or day out of range"));
            }
            Ok(Some(v))
        };
        let month = part(&b[2..4], 12)?;
        let day = part(&b[4..6], 31)?;
        if month.is_none() && day.is_some() {
            return Err(bad("a known day needs a known month"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The date written as `YYMMDD` (the century is dropped, as in every MRZ).
    pub fn from_naive_date(date: NaiveDate) -> Self {
        Self(format!(
            "{:02}{:02}{:02}",
            date.year().rem_euclid(100),
            date.month(),
            date.day()
        ))
    }

    /// The six MRZ characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when month or day is unknown (`<<`).
    pub fn is_partial(&self) -> bool {
        self.0.contains('<')
    }
}

impl std::fmt::Display for MrzDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sex as the MRZ writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// `M`.
    Male,
    /// `F`.
    Female,
    /// `<`: unspecified.
    Unspecified,
}

impl Sex {
    /// The MRZ character.
    pub fn as_char(self) -> char {
        match self {
            Sex::Male => 'M',
            Sex::Female => 'F',
            Sex::Unspecified => '<',
        }
    }

    /// From the MRZ character.
    pub fn from_char(c: char) -> Option<Self> {
        match c {
            'M' => Some(Sex::Male),
            'F' => Some(Sex::Female),
            '<' => Some(Sex::Unspecified),
            _ => None,
        }
    }
}

/// The fields of a TD1 MRZ.
///
/// Text fields hold MRZ characters without trailing fillers (`"I"`, `"D23145890"`), except
/// `issuing_state` and `nationality`, which are exactly three characters (`"UTO"`, `"D<<"`).
/// The two name identifiers may be given in MRZ form (`"ANNA<MARIA"`) or as ordinary text
/// (`"Anna María"`): [`Td1::to_lines`] transliterates them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Td1 {
    /// Document code, 1–2 letters (`I`, `ID`, `AC`…).
    pub document_code: String,
    /// Issuing state or organisation, three characters (`A-Z` or `<`).
    pub issuing_state: String,
    /// Document number, 1–22 characters `A-Z0-9`.
    pub document_number: String,
    /// Date of birth.
    pub date_of_birth: MrzDate,
    /// Sex.
    pub sex: Sex,
    /// Date of expiry; `None` writes `<<<<<<` (see the module documentation).
    pub date_of_expiry: Option<MrzDate>,
    /// Nationality, three characters (`A-Z` or `<`).
    pub nationality: String,
    /// Optional data 1: at most 15 characters, fewer for a long document number
    /// ([`Td1::optional_data_1_capacity`]).
    pub optional_data_1: String,
    /// Optional data 2: at most 11 characters.
    pub optional_data_2: String,
    /// Primary identifier (family name).
    pub primary_identifier: String,
    /// Secondary identifier (given names).
    pub secondary_identifier: String,
}

fn is_mrz_char(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '<'
}

fn check_chars(field: &'static str, s: &str, allowed: fn(char) -> bool) -> Result<(), MrzError> {
    if let Some(c) = s.chars().find(|c| !allowed(*c)) {
        return Err(MrzError::InvalidField {
            field,
            reason: format!("character {c:?} not allowed in {s:?}"),
        });
    }
    Ok(())
}

fn pad(s: &str, len: usize) -> String {
    let mut out = s.to_owned();
    while out.len() < len {
        out.push('<');
    }
    out
}

impl Td1 {
    /// How many characters of optional data 1 fit next to this document number.
    pub fn optional_data_1_capacity(&self) -> usize {
        let n = self.document_number.len();
        if n <= 9 {
            15
        } else {
            // Remaining number characters, their check digit and a terminating `<`.
            15usize.saturating_sub(n - 9 + 2)
        }
    }

    fn validate(&self) -> Result<(), MrzError> {
        let invalid = |field: &'static str, reason: &str| MrzError::InvalidField {
            field,
            reason: reason.to_owned(),
        };
        let dc = &self.document_code;
        if dc.is_empty() || dc.len() > 2 {
            return Err(invalid("document_code", "must be 1 or 2 letters"));
        }
        check_chars("document_code", dc, |c| c.is_ascii_uppercase())?;
        for (field, v) in [
            ("issuing_state", &self.issuing_state),
            ("nationality", &self.nationality),
        ] {
            if v.len() != 3 {
                return Err(invalid(field, "must be exactly 3 characters"));
            }
            check_chars(field, v, |c| c.is_ascii_uppercase() || c == '<')?;
        }
        let n = &self.document_number;
        if n.is_empty() || n.len() > MAX_DOCUMENT_NUMBER_LEN {
            return Err(invalid(
                "document_number",
                "must be 1 to 22 characters A-Z 0-9",
            ));
        }
        check_chars("document_number", n, |c| {
            c.is_ascii_uppercase() || c.is_ascii_digit()
        })?;
        check_chars("optional_data_1", &self.optional_data_1, is_mrz_char)?;
        check_chars("optional_data_2", &self.optional_data_2, is_mrz_char)?;
        if self.optional_data_1.len() > self.optional_data_1_capacity() {
            return Err(invalid(
                "optional_data_1",
                &format!(
                    "at most {} characters with this document number",
                    self.optional_data_1_capacity()
                ),
            ));
        }
        if self.optional_data_2.len() > 11 {
            return Err(invalid("optional_data_2", "at most 11 characters"));
        }
        Ok(())
    }

    /// The three 30-character lines, with every check digit.
    pub fn to_lines(&self) -> Result<[String; 3], MrzError> {
        self.validate()?;
        let number = &self.document_number;
        let mut line1 = pad(&self.document_code, 2);
        line1.push_str(&self.issuing_state);
        if number.len() <= 9 {
            let field = pad(number, 9);
            line1.push_str(&field);
            line1.push(digit_char(check_digit(&field)?));
            line1.push_str(&pad(&self.optional_data_1, 15));
        } else {
            line1.push_str(&number[..9]);
            line1.push('<');
            let mut opt = number[9..].to_owned();
            opt.push(digit_char(check_digit(number)?));
            opt.push('<');
            opt.push_str(&self.optional_data_1);
            line1.push_str(&pad(&opt, 15));
        }

        let mut line2 = String::with_capacity(30);
        let dob = self.date_of_birth.as_str();
        line2.push_str(dob);
        line2.push(digit_char(check_digit(dob)?));
        line2.push(self.sex.as_char());
        let doe = self
            .date_of_expiry
            .as_ref()
            .map_or("<<<<<<", MrzDate::as_str);
        line2.push_str(doe);
        line2.push(digit_char(check_digit(doe)?));
        line2.push_str(&self.nationality);
        line2.push_str(&pad(&self.optional_data_2, 11));
        let composite = composite_input(&line1, &line2);
        line2.push(digit_char(check_digit(&composite)?));

        let line3 = name_field(
            &self.primary_identifier,
            &self.secondary_identifier,
            TD1_LINE_LEN,
        )?;
        Ok([line1, line2, line3])
    }

    /// The MRZ as DG1 stores it: the three lines concatenated, 90 characters.
    pub fn to_mrz_string(&self) -> Result<String, MrzError> {
        Ok(self.to_lines()?.concat())
    }
}

/// Line 1 positions 6–30, line 2 positions 1–7, 9–15, 19–29 (1-based).
fn composite_input(line1: &str, line2: &str) -> String {
    let mut s = String::with_capacity(53);
    s.push_str(&line1[5..30]);
    s.push_str(&line2[0..7]);
    s.push_str(&line2[8..15]);
    s.push_str(&line2[18..29]);
    s
}

/// Transliterates a name (or one identifier) to MRZ characters, per Doc 9303 Part 3 §6
/// (transliterations recommended for use by States).
///
/// * Letters with diacritics decompose (NFD) and lose their combining marks: `Nguyễn` →
///   `NGUYEN`, `Trần` → `TRAN`, `José` → `JOSE`.
/// * The Part 3 table's letters that do not decompose, or whose recommended form is not the bare
///   letter, follow the table's **recommended** (first) column: `Ä`→`AE`, `Ö`→`OE`, `Ü`→`UE`,
///   `Å`→`AA`, `Æ`→`AE`, `Ø`→`OE`, `Œ`→`OE`, `ß`→`SS`, `Þ`→`TH`, `Ĳ`→`IJ`, `Đ`/`Ð`→`D`,
///   `Ħ`→`H`, `Ł`→`L`, `Ŀ`→`L`, `ı`→`I`, `Ŧ`→`T`, `Ŋ`→`N`, `ĸ`→`K`. `Ñ` becomes `N` (the
///   table's alternative `NXX` is not used).
/// * Spaces, hyphens and commas separate name parts and become one filler `<` (Part 3: "hyphen
///   … filler", spaces between names → filler); several separators in a row collapse to one;
///   leading and trailing separators are dropped. An MRZ filler `<` in the input is a separator
///   too, so MRZ-form input (`ANNA<MARIA`) passes through unchanged.
/// * Apostrophes and all other punctuation are omitted (`O'Connor` → `OCONNOR`).
/// * The result is upper case; any remaining character that is not `A`–`Z` (digits, scripts
///   other than Latin) is dropped.
///
/// Lao (or any non-Latin script) must be romanised by the caller first, with the profile's
/// romanisation; this function would otherwise drop every character.
pub fn transliterate(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_sep = false;
    let push = |out: &mut String, s: &str, pending: &mut bool| {
        if *pending && !out.is_empty() {
            out.push('<');
        }
        *pending = false;
        out.push_str(s);
    };
    for ch in name.chars() {
        let special: Option<&str> = match ch {
            'Ä' | 'ä' | 'Æ' | 'æ' | 'Ǽ' | 'ǽ' => Some("AE"),
            'Ö' | 'ö' | 'Ø' | 'ø' | 'Œ' | 'œ' | 'Ǿ' | 'ǿ' => Some("OE"),
            'Ü' | 'ü' => Some("UE"),
            'Å' | 'å' => Some("AA"),
            'ß' | 'ẞ' => Some("SS"),
            'Þ' | 'þ' => Some("TH"),
            'Ĳ' | 'ĳ' => Some("IJ"),
            'Đ' | 'đ' | 'Ð' | 'ð' => Some("D"),
            'Ħ' | 'ħ' => Some("H"),
            'Ł' | 'ł' | 'Ŀ' | 'ŀ' => Some("L"),
            'ı' => Some("I"),
            'Ŧ' | 'ŧ' => Some("T"),
            'Ŋ' | 'ŋ' => Some("N"),
            'ĸ' => Some("K"),
            _ => None,
        };
        if let Some(s) = special {
            push(&mut out, s, &mut pending_sep);
            continue;
        }
        if ch.is_whitespace() || matches!(ch, '-' | '‐' | '‑' | '–' | ',' | '<') {
            pending_sep = true;
            continue;
        }
        for d in std::iter::once(ch).nfd() {
            if unicode_normalization::char::is_combining_mark(d) {
                continue;
            }
            let up = d.to_ascii_uppercase();
            if up.is_ascii_uppercase() {
                let mut buf = [0u8; 4];
                push(&mut out, up.encode_utf8(&mut buf), &mut pending_sep);
            }
        }
    }
    out
}

/// Builds the name field of `width` characters (30 for TD1) by the procedure in the module doc.
pub fn name_field(primary: &str, secondary: &str, width: usize) -> Result<String, MrzError> {
    let primary = transliterate(primary);
    let secondary = transliterate(secondary);
    if primary.is_empty() && secondary.is_empty() {
        return Err(MrzError::InvalidField {
            field: "name",
            reason: "no MRZ characters left after transliteration".into(),
        });
    }
    let join = |sec: &[String]| {
        let s = sec.join("<");
        if s.is_empty() {
            primary.clone()
        } else {
            format!("{primary}<<{s}")
        }
    };
    let mut parts: Vec<String> = secondary
        .split('<')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let mut full = join(&parts);
    // Step 2: secondary names to initials, from the last one towards the first.
    let mut i = parts.len();
    while full.len() > width && i > 0 {
        i -= 1;
        if parts[i].len() > 1 {
            parts[i].truncate(1);
            full = join(&parts);
        }
    }
    if full.len() > width {
        // Step 3: cut, then make sure the last written character is a letter.
        full.truncate(width);
        while full.ends_with('<') {
            full.pop();
        }
    }
    Ok(pad(&full, width))
}

/// Which check digit a [`CheckResult`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckField {
    /// Document number (over the 9-character field, or the whole long number).
    DocumentNumber,
    /// Date of birth.
    DateOfBirth,
    /// Date of expiry.
    DateOfExpiry,
    /// Composite (line 1 6–30, line 2 1–7, 9–15, 19–29).
    Composite,
}

/// One check digit as read and as recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckResult {
    /// Which check.
    pub field: CheckField,
    /// The recomputed digit.
    pub expected: u8,
    /// The character found in the MRZ.
    pub found: char,
    /// Whether they agree.
    pub ok: bool,
}

/// A parsed TD1 MRZ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTd1 {
    /// The fields, names in MRZ form (`ANNA<MARIA`).
    pub td1: Td1,
    /// The three lines as read.
    pub lines: [String; 3],
    /// Every check digit, in MRZ order: document number, birth, expiry, composite.
    pub checks: Vec<CheckResult>,
    /// The name field is full and ends with a letter: the name may have been truncated.
    pub name_possibly_truncated: bool,
}

impl ParsedTd1 {
    /// True when every check digit agrees.
    pub fn all_checks_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

fn trim_fillers(s: &str) -> String {
    s.trim_end_matches('<').to_owned()
}

/// Splits the input into three lines of 30: accepts `\n`, `\r\n` or 90 characters in one piece
/// (leading and trailing whitespace around the whole text is ignored).
fn split_lines(text: &str) -> Result<[String; 3], MrzError> {
    let text = text.trim();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let lines: Vec<String> = if lines.len() == 1 {
        let chars: Vec<char> = lines[0].chars().collect();
        if chars.len() != 90 {
            return Err(MrzError::WrongLength(format!(
                "one line of {} characters, expected 90",
                chars.len()
            )));
        }
        chars.chunks(30).map(|c| c.iter().collect()).collect()
    } else if lines.len() == 3 {
        lines.iter().map(|l| (*l).to_owned()).collect()
    } else {
        return Err(MrzError::WrongLength(format!(
            "{} lines, expected 3",
            lines.len()
        )));
    };
    for (i, l) in lines.iter().enumerate() {
        let n = l.chars().count();
        if n != 30 {
            return Err(MrzError::WrongLength(format!(
                "line {} has {n} characters",
                i + 1
            )));
        }
        if let Some((col, ch)) = l.chars().enumerate().find(|(_, c)| !is_mrz_char(*c)) {
            return Err(MrzError::InvalidCharacter {
                ch,
                position: i * 30 + col,
            });
        }
    }
    match <[String; 3]>::try_from(lines) {
        Ok(a) => Ok(a),
        Err(_) => Err(MrzError::WrongLength("expected 3 lines".into())),
    }
}

fn check(field: CheckField, data: &str, found: char) -> Result<CheckResult, MrzError> {
    let expected = check_digit(data)?;
    Ok(CheckResult {
        field,
        expected,
        found,
        ok: found == digit_char(expected),
    })
}

/// Parses a TD1 MRZ (three lines of 30 with `\n` or `\r\n`, or 90 characters), reporting
/// every check digit rather than failing on a wrong one.
pub fn parse_td1(text: &str) -> Result<ParsedTd1, MrzError> {
    let lines = split_lines(text)?;
    // Every character is ASCII from here on: byte slicing is character slicing.
    let (l1, l2, l3) = (&lines[0], &lines[1], &lines[2]);
    let malformed =
        |field: &'static str, line: usize, column: usize, reason: &str| MrzError::Malformed {
            field,
            line,
            column,
            reason: reason.to_owned(),
        };
    let char_at = |s: &str, i: usize| char::from(s.as_bytes()[i]);

    let document_code = trim_fillers(&l1[0..2]);
    if document_code.is_empty() || !document_code.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(malformed("document code", 1, 1, "must be 1 or 2 letters"));
    }
    let issuing_state = l1[2..5].to_owned();
    if issuing_state.chars().any(|c| c.is_ascii_digit()) {
        return Err(malformed("issuing state", 1, 3, "digits not allowed"));
    }

    let mut checks = Vec::with_capacity(4);
    let number_field = &l1[5..14];
    let optional_raw = &l1[15..30];
    let (document_number, optional_data_1) = if char_at(l1, 14) == '<' {
        // Long document number: continuation, check digit, `<`, then optional data.
        if number_field.contains('<') {
            return Err(malformed(
                "document number",
                1,
                6,
                "long-number marker `<` after a number shorter than 9 characters",
            ));
        }
        let end = optional_raw.find('<').unwrap_or(optional_raw.len());
        if end < 2 {
            return Err(malformed(
                "document number",
                1,
                16,
                "long-number marker without continuation and check digit",
            ));
        }
        let continuation = &optional_raw[..end - 1];
        let found = char_at(optional_raw, end - 1);
        let number = format!("{number_field}{continuation}");
        checks.push(check(CheckField::DocumentNumber, &number, found)?);
        let rest = optional_raw.get(end + 1..).unwrap_or("");
        (number, trim_fillers(rest))
    } else {
        let number = trim_fillers(number_field);
        if number.is_empty() || number.contains('<') {
            return Err(malformed(
                "document number",
                1,
                6,
                "empty or with a filler inside",
            ));
        }
        checks.push(check(
            CheckField::DocumentNumber,
            number_field,
            char_at(l1, 14),
        )?);
        (number, trim_fillers(optional_raw))
    };

    let date_of_birth =
        MrzDate::new(&l2[0..6]).map_err(|e| malformed("date of birth", 2, 1, &e.to_string()))?;
    checks.push(check(CheckField::DateOfBirth, &l2[0..6], char_at(l2, 6))?);
    let sex = Sex::from_char(char_at(l2, 7))
        .ok_or_else(|| malformed("sex", 2, 8, "must be M, F or <"))?;
    let doe_raw = &l2[8..14];
    let date_of_expiry = if doe_raw == "<<<<<<" {
        let found = char_at(l2, 14);
        // Six fillers: the check digit is 0; a filler is accepted as well.
        checks.push(CheckResult {
            field: CheckField::DateOfExpiry,
            expected: 0,
            found,
            ok: found == '0' || found == '<',
        });
        None
    } else {
        let d =
            MrzDate::new(doe_raw).map_err(|e| malformed("date of expiry", 2, 9, &e.to_string()))?;
        checks.push(check(CheckField::DateOfExpiry, doe_raw, char_at(l2, 14))?);
        Some(d)
    };
    let nationality = l2[15..18].to_owned();
    if nationality.chars().any(|c| c.is_ascii_digit()) {
        return Err(malformed("nationality", 2, 16, "digits not allowed"));
    }
    let optional_data_2 = trim_fillers(&l2[18..29]);
    checks.push(check(
        CheckField::Composite,
        &composite_input(l1, l2),
        char_at(l2, 29),
    )?);

    let name = l3.trim_end_matches('<');
    let (primary, secondary) = match name.find("<<") {
        Some(i) => (&name[..i], name[i + 2..].trim_start_matches('<')),
        None => (name, ""),
    };
    if primary
        .chars()
        .chain(secondary.chars())
        .any(|c| c.is_ascii_digit())
    {
        return Err(malformed("name", 3, 1, "digits not allowed in the name"));
    }
    let name_possibly_truncated = char_at(l3, 29) != '<';

    Ok(ParsedTd1 {
        td1: Td1 {
            document_code,
            issuing_state,
            document_number,
            date_of_birth,
            sex,
            date_of_expiry,
            nationality,
            optional_data_1,
            optional_data_2,
            primary_identifier: primary.to_owned(),
            secondary_identifier: secondary.to_owned(),
        },
        lines: lines.clone(),
        checks,
        name_possibly_truncated,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn check_digits_of_known_values() {
        assert_eq!(check_digit("D23145890").unwrap(), 7);
        assert_eq!(check_digit("740812").unwrap(), 2);
        assert_eq!(check_digit("120415").unwrap(), 9);
        assert_eq!(check_digit("<<<<<<").unwrap(), 0);
        assert!(matches!(
            check_digit("AB c"),
            Err(MrzError::InvalidCharacter {
                ch: ' ',
                position: 2
            })
        ));
    }

    #[test]
    fn transliteration() {
        assert_eq!(transliterate("Nguyễn"), "NGUYEN");
        assert_eq!(transliterate("Trần Thị Ánh"), "TRAN<THI<ANH");
        assert_eq!(transliterate("Đặng Đức"), "DANG<DUC");
        assert_eq!(
            transliterate("Müller-Lüdenscheidt"),
            "MUELLER<LUEDENSCHEIDT"
        );
        assert_eq!(transliterate("Åse Øvergård"), "AASE<OEVERGAARD");
        assert_eq!(transliterate("O'Connor"), "OCONNOR");
        assert_eq!(transliterate("  Straße,  Þór "), "STRASSE<THOR");
        assert_eq!(transliterate("Peña"), "PENA");
        assert_eq!(transliterate("ANNA<MARIA"), "ANNA<MARIA");
        assert_eq!(transliterate("ສົມພອນ"), "");
    }

    #[test]
    fn name_truncation() {
        assert_eq!(
            name_field("Eriksson", "Anna Maria", 30).unwrap(),
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"
        );
        // 36 characters: the last given names go to initials first.
        let f = name_field("Nilavadhanananda", "Chayapa Dejthamrong Krasuang", 30).unwrap();
        assert_eq!(f, "NILAVADHANANANDA<<CHAYAPA<D<K<");
        // Primary alone too long: cut, no trailing filler.
        let f = name_field("Wolfeschlegelsteinhausenbergerdorff", "Hubert", 30).unwrap();
        assert_eq!(f, "WOLFESCHLEGELSTEINHAUSENBERGER");
        // A cut that would end on `<` ends on the last letter instead.
        let f = name_field("ABCDEFGHIJKLMNOPQRSTUVWXYZABC", "Q", 30).unwrap();
        assert_eq!(f, "ABCDEFGHIJKLMNOPQRSTUVWXYZABC<");
        assert!(name_field("ສົມ", "", 30).is_err());
    }
}
