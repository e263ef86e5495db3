//! Deliberately broken lines: a valid record's JSON, edited so that the importer must refuse it
//! for one stated reason.
use rand::Rng;
use thabian_model::legacy::LegacyRecord;
use thabian_model::pin::{verhoeff_check_digit, Pin, PinScheme};

use crate::{BrokenReason, SynthError};

/// The JSON line of `record`, broken for `reason`. `unknown_area` is a code the area tree does
/// not have.
pub(crate) fn broken_line<R: Rng>(
    rng: &mut R,
    reason: BrokenReason,
    record: &LegacyRecord,
    pin: &PinScheme,
    unknown_area: &str,
) -> Result<String, SynthError> {
    let json = serde_json::to_string(record)?;
    // `"key":value` as the serializer wrote it. Keys are unique and a quote inside a string
    // value is escaped, so the pattern can only match the field itself.
    let field = |key: &str, value: &str| format!("\"{key}\":{value}");
    let replace = |key: &str, old: String, new: &str| -> Result<String, SynthError> {
        Ok(json.replacen(&field(key, &old), &field(key, new), 1))
    };
    Ok(match reason {
        BrokenReason::TruncatedJson => {
            // Any proper prefix of a JSON object is invalid JSON.
            let mut cut = json.len() * 3 / 5;
            while cut > 1 && !json.is_char_boundary(cut) {
                cut -= 1;
            }
            json[..cut.max(1)].to_owned()
        }
        BrokenReason::ImpossibleDate => {
            let year = record.date_of_birth.year();
            replace(
                "date_of_birth",
                serde_json::to_string(&record.date_of_birth)?,
                &format!("\"{year:04}-02-30\""),
            )?
        }
        BrokenReason::UnknownAdminArea => replace(
            "place_of_birth",
            serde_json::to_string(&record.place_of_birth)?,
            &serde_json::to_string(unknown_area)?,
        )?,
        BrokenReason::EmptyGivenName => replace(
            "given_name",
            serde_json::to_string(&record.given_name)?,
            "\"\"",
        )?,
        BrokenReason::UnknownField => {
            let nickname = serde_json::to_string(&record.given_name)?;
            match json.strip_suffix('}') {
                Some(body) => format!("{body},\"nickname\":{nickname}}}"),
                None => json,
            }
        }
        BrokenReason::InvalidPin => {
            let id = serde_json::to_string(&record.source_id)?;
            let pin = serde_json::to_string(&bad_pin(rng, pin))?;
            json.replacen(
                &format!("{},", field("source_id", &id)),
                &format!("{},{},", field("source_id", &id), field("pin", &pin)),
                1,
            )
        }
        BrokenReason::InvalidSex => replace("sex", serde_json::to_string(&record.sex)?, "\"x\"")?,
    })
}

/// Digits that look like a PIN of `scheme` but fail [`Pin::parse`]: a wrong Verhoeff check
/// digit for `random-verhoeff`, one digit too few otherwise.
fn bad_pin<R: Rng>(rng: &mut R, scheme: &PinScheme) -> String {
    let length = scheme.length().max(2);
    let mut digits = String::with_capacity(length);
    digits.push(char::from(b'0' + rng.gen_range(2..=9u8)));
    for _ in 2..length {
        digits.push(char::from(b'0' + rng.gen_range(0..=9u8)));
    }
    let candidate = match (scheme, verhoeff_check_digit(&digits)) {
        (PinScheme::RandomVerhoeff { .. }, Some(check)) => {
            let wrong = (check + rng.gen_range(1..=9u8)) % 10;
            digits.push(char::from(b'0' + wrong));
            digits
        }
        // vn-12 has no check digit: a number one digit short.
        _ => digits,
    };
    if Pin::parse(scheme, &candidate).is_err() {
        candidate
    } else {
        // Cannot happen for the schemes above; a wrong length always fails.
        "0".to_owned()
    }
}
