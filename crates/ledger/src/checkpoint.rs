//! C2SP `tlog-checkpoint` bodies (<https://c2sp.org/tlog-checkpoint>) with
//! one extension line carrying the commit time.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::hash::Hash;

/// Errors from checkpoints, signed notes and key handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// An origin or key name breaks the signed-note name rules.
    #[error(
        "invalid name {0:?}: it must be non-empty and contain no spaces, '+' or control characters"
    )]
    InvalidName(String),
    /// A time outside what RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` can express.
    #[error("time {0} (unix seconds) is past 9999-12-31T23:59:59Z")]
    TimeOutOfRange(u64),
    /// A time line that is not `YYYY-MM-DDTHH:MM:SSZ`.
    #[error("invalid time {0:?}: expected RFC 3339 UTC as YYYY-MM-DDTHH:MM:SSZ")]
    InvalidTime(String),
    /// A checkpoint body that does not follow the format.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(String),
    /// A signed note that does not follow the format.
    #[error("malformed signed note: {0}")]
    MalformedNote(String),
    /// Text that cannot be signed as a note.
    #[error("cannot sign this text as a note: {0}")]
    InvalidNoteText(String),
    /// A verifier key string that does not follow the vkey format.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(String),
    /// No signature line from the expected key.
    #[error("the note has no signature from key {name} (key id {key_id})")]
    NoSignatureFromKey {
        /// The expected key name.
        name: String,
        /// The expected key id, as 8 hex digits.
        key_id: String,
    },
    /// A signature line from the expected key that does not verify.
    #[error("the signature from key {0} does not verify: the note was altered or forged")]
    BadSignature(String),
    /// A PKCS#8 key file that cannot be read or written.
    #[error("PKCS#8 Ed25519 key error: {0}")]
    KeyFile(String),
}

/// Largest unix time that still fits `YYYY-MM-DDTHH:MM:SSZ`.
const MAX_UNIX: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z

/// Checks the signed-note key-name rules (also applied to origins, since a
/// checkpoint is signed under its origin): non-empty, no Unicode
/// whitespace, no `+`, no control characters.
pub(crate) fn check_name(name: &str) -> Result<(), CheckpointError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(CheckpointError::InvalidName(name.to_owned()));
    }
    Ok(())
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    // Howard Hinnant's algorithm (proleptic Gregorian calendar).
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats unix seconds as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ` (no
/// fractional seconds), the form used on the checkpoint `time` line.
///
/// Done by hand so the ledger needs no date library and no clock.
pub fn format_rfc3339_utc(unix_seconds: u64) -> Result<String, CheckpointError> {
    if unix_seconds > MAX_UNIX {
        return Err(CheckpointError::TimeOutOfRange(unix_seconds));
    }
    // Fits in i64: checked against MAX_UNIX above.
    let secs = unix_seconds as i64;
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    Ok(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Parses exactly the form [`format_rfc3339_utc`] produces back into unix
/// seconds. Anything else (offsets, fractions, leap seconds, pre-1970) is
/// rejected, so a time line has one spelling and signatures stay canonical.
pub fn parse_rfc3339_utc(s: &str) -> Result<u64, CheckpointError> {
    let bad = || CheckpointError::InvalidTime(s.to_owned());
    let b = s.as_bytes();
    if b.len() != 20 {
        return Err(bad());
    }
    let num = |from: usize, to: usize| -> Result<i64, CheckpointError> {
        let part = b.get(from..to).ok_or_else(bad)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0')))
    };
    let seps = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'Z'),
    ];
    if seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return Err(bad());
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, se) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || se > 59 {
        return Err(bad());
    }
    let days = days_from_civil(y, mo, d);
    // Reject days past the end of the month (e.g. Feb 30) by round trip.
    if civil_from_days(days) != (y, mo, d) {
        return Err(bad());
    }
    let total = days * 86_400 + h * 3600 + mi * 60 + se;
    u64::try_from(total).map_err(|_| bad())
}

/// A log tree head: what the register signs and publishes so that anyone
/// can later demand inclusion and consistency proofs against it.
///
/// Fields are private so that every `Checkpoint` is valid by construction
/// and [`Checkpoint::body`] can never produce text that parses differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    time: Option<u64>,
}

impl Checkpoint {
    /// Builds a checkpoint. `time_unix` is the commit time in unix seconds
    /// (the library has no clock); it becomes the extension line
    /// `time <RFC 3339 UTC>`. `None` gives a plain three-line C2SP body
    /// (e.g. for witnesses that refuse extension lines).
    ///
    /// The origin must satisfy the signed-note key-name rules (non-empty,
    /// no spaces, no `+`), because the checkpoint is signed under it.
    pub fn new(
        origin: impl Into<String>,
        size: u64,
        root: Hash,
        time_unix: Option<u64>,
    ) -> Result<Self, CheckpointError> {
        let origin = origin.into();
        check_name(&origin)?;
        if let Some(t) = time_unix {
            format_rfc3339_utc(t)?;
        }
        Ok(Checkpoint {
            origin,
            size,
            root,
            time: time_unix,
        })
    }

    /// The log identity (first line).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size (second line).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The MTH at that size (third line).
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The commit time in unix seconds, if the checkpoint has a time line.
    pub fn time_unix(&self) -> Option<u64> {
        self.time
    }

    /// The time line's value, e.g. `2024-05-01T12:00:00Z`.
    pub fn time_rfc3339(&self) -> Option<String> {
        self.time.and_then(|t| format_rfc3339_utc(t).ok())
    }

    /// The note text: `origin\nsize\nbase64(root)\n` then, if there is a
    /// time, `time YYYY-MM-DDTHH:MM:SSZ\n`. This is exactly what gets signed.
    pub fn body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        if let Some(t) = self.time_rfc3339() {
            out.push_str("time ");
            out.push_str(&t);
            out.push('\n');
        }
        out
    }

    /// Parses a body produced by [`Checkpoint::body`], strictly: decimal
    /// size without leading zeros or sign, canonical padded standard base64
    /// of exactly 32 bytes, and at most one extension line, which must be
    /// the `time` line. Anything else is rejected rather than ignored,
    /// since only this register's own checkpoints are expected here.
    pub fn parse(body: &str) -> Result<Self, CheckpointError> {
        let bad = |m: &str| CheckpointError::MalformedCheckpoint(m.to_owned());
        let text = body
            .strip_suffix('\n')
            .ok_or_else(|| bad("the body must end with a newline"))?;
        let lines: Vec<&str> = text.split('\n').collect();
        let (origin, size, root, ext) = match lines.as_slice() {
            [o, s, r] => (*o, *s, *r, None),
            [o, s, r, e] => (*o, *s, *r, Some(*e)),
            _ => {
                return Err(bad(
                    "expected origin, size and root lines and at most one time line",
                ))
            }
        };
        check_name(origin)
            .map_err(|_| bad("the origin line is empty or contains spaces or '+'"))?;
        let size_ok = !size.is_empty()
            && size.bytes().all(|c| c.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        if !size_ok {
            return Err(bad("the size line must be decimal with no leading zeros"));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| bad("the size line does not fit in 64 bits"))?;
        let root_line: &str = root;
        let root_bytes = STANDARD
            .decode(root_line)
            .map_err(|_| bad("the root line is not standard padded base64"))?;
        let root: Hash = root_bytes
            .try_into()
            .map_err(|_| bad("the root line does not decode to 32 bytes"))?;
        if STANDARD.encode(root) != *root_line {
            return Err(bad("the root line is not canonical base64"));
        }
        let time = match ext {
            None => None,
            Some(line) => {
                let value = line
                    .strip_prefix("time ")
                    .ok_or_else(|| bad("the only extension line allowed is `time <RFC 3339>`"))?;
                Some(parse_rfc3339_utc(value)?)
            }
        };
        Checkpoint::new(origin, size, root, time)
    }
}
