//! Personal names: normalisation for storage, folding for search, script detection.
//!
//! Stored names keep their letters and case exactly (only Unicode NFC and whitespace are
//! normalised). Search keys fold case and Vietnamese diacritics, but never touch Lao: Lao vowel
//! signs and tone marks are combining marks that carry meaning.
use serde::{Deserialize, Serialize};
use thiserror::Error;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use unicode_normalization::UnicodeNormalization;

/// Longest accepted name, in Unicode scalar values after normalisation.
pub const MAX_NAME_CHARS: usize = 200;

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name contains a control character (U+{codepoint:04X})")]
    ControlCharacter { codepoint: u32 },
    #[error("the name is too long: {found} characters, at most {max} are allowed")]
    TooLong { max: usize, found: usize },
}

/// The writing system a name is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    Latin,
    Lao,
    /// Letters from more than one script.
    Mixed,
    /// Another script, or no letters at all.
    Other,
}

/// Normalises a name for storage: Unicode NFC, leading and trailing whitespace removed, every
/// internal run of whitespace (spaces, tabs, newlines, no-break spaces, ...) replaced by one
/// ASCII space. Letters and case are otherwise kept exactly.
///
/// Rejects an empty result, any other control character (e.g. NUL, ESC, DEL, C1 controls), and
/// names longer than [`MAX_NAME_CHARS`] characters. Idempotent.
pub fn normalize_name(input: &str) -> Result<String, NameError> {
    let nfc: String = input.nfc().collect();
    let out = collapse_whitespace(&nfc);
    if let Some(c) = out.chars().find(|c| c.is_control()) {
        return Err(NameError::ControlCharacter {
            codepoint: u32::from(c),
        });
    }
    if out.is_empty() {
        return Err(NameError::Empty);
    }
    let found = out.chars().count();
    if found > MAX_NAME_CHARS {
        return Err(NameError::TooLong {
            max: MAX_NAME_CHARS,
            found,
        });
    }
    Ok(out)
}

/// `s` in NFC, copied only when the quick check cannot say it already is: names are almost
/// always stored in NFC, and normalising them again dominated folding.
fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    match unicode_normalization::is_nfc_quick(s.chars()) {
        unicode_normalization::IsNormalized::Yes => s.into(),
        _ => s.nfc().collect::<String>().into(),
    }
}

/// A search key for a name: NFC, lowercase, Vietnamese (and other Latin) diacritics removed,
/// `đ`/`Đ` mapped to `d`, whitespace trimmed and collapsed to single spaces.
///
/// Only combining marks on Latin letters are removed. Lao text (U+0E80–U+0EFF) is kept exactly
/// as in NFC, and other scripts keep their marks too. `"Nguyễn Văn An"` → `"nguyen van an"`.
pub fn fold_for_search(s: &str) -> String {
    let lowered = nfc(s).to_lowercase();
    let lower = nfc(&lowered);
    let mut out = String::with_capacity(lower.len());
    // Whether the last base character emitted was a Latin letter, so that following combining
    // marks (those NFC could not compose) belong to it and are dropped.
    let mut after_latin = false;
    for c in lower.chars() {
        if is_lao(c) {
            out.push(c);
            after_latin = false;
        } else if c == 'đ' {
            out.push('d');
            after_latin = true;
        } else if is_combining_mark(c) {
            if !after_latin {
                out.push(c);
            }
        } else {
            let mut base = None;
            decompose_canonical(c, |d| {
                if base.is_none() {
                    base = Some(d);
                }
            });
            match base {
                Some(b) if is_latin(b) => {
                    out.push(b);
                    after_latin = true;
                }
                _ => {
                    out.push(c);
                    after_latin = false;
                }
            }
        }
    }
    let collapsed = collapse_whitespace(&out);
    collapsed.nfc().collect()
}

/// The script of a name's letters. Digits, punctuation, whitespace and combining marks outside
/// the Lao block are ignored; Lao vowel signs and tone marks count as Lao. A string without
/// letters is [`Script::Other`].
pub fn script_of(s: &str) -> Script {
    let mut latin = false;
    let mut lao = false;
    let mut other = false;
    for c in s.nfc() {
        if is_lao(c) {
            lao = true;
        } else if is_latin(c) {
            latin = true;
        } else if c.is_alphabetic() && !is_combining_mark(c) {
            other = true;
        }
    }
    match (latin, lao, other) {
        (true, false, false) => Script::Latin,
        (false, true, false) => Script::Lao,
        (false, false, _) => Script::Other,
        _ => Script::Mixed,
    }
}

/// Trims and replaces every run of whitespace by one ASCII space.
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn is_lao(c: char) -> bool {
    ('\u{0E80}'..='\u{0EFF}').contains(&c)
}

/// A letter of the Latin script (the Latin blocks of Unicode; letters only).
fn is_latin(c: char) -> bool {
    if !c.is_alphabetic() {
        return false;
    }
    matches!(
        u32::from(c),
        0x0041..=0x005A
            | 0x0061..=0x007A
            | 0x00AA
            | 0x00BA
            | 0x00C0..=0x00FF
            | 0x0100..=0x024F
            | 0x0250..=0x02AF
            | 0x1D00..=0x1D7F
            | 0x1E00..=0x1EFF
            | 0x2C60..=0x2C7F
            | 0xA720..=0xA7FF
            | 0xAB30..=0xAB6F
            | 0xFB00..=0xFB06
            | 0xFF21..=0xFF3A
            | 0xFF41..=0xFF5A
    )
}
