//! Duplicates: the same person as another legacy source recorded them, with a few errors.
use chrono::NaiveDate;
use rand::Rng;
use thabian_model::date::PartialDate;
use thabian_model::legacy::LegacyRecord;

use crate::data::Model;
use crate::text;
use crate::DuplicateError;

/// A duplicate of `original` with source id `id` and one to three errors (listed in the order
/// applied). `father_name`/`mother_name`: the parents' names, when the original refers to them
/// (the duplicate cannot refer to records of another source).
pub(crate) fn duplicate<R: Rng>(
    m: &Model,
    rng: &mut R,
    original: &LegacyRecord,
    id: String,
    parents: (Option<String>, Option<String>),
    as_of: NaiveDate,
) -> (LegacyRecord, Vec<DuplicateError>) {
    let keep = |rng: &mut R, v: &Option<String>, p: f64| {
        if rng.gen::<f64>() < p {
            v.clone()
        } else {
            None
        }
    };
    let father_name = match parents.0 {
        Some(name) if rng.gen::<f64>() < 0.6 => Some(name),
        Some(_) => None,
        None => keep(rng, &original.father_name, 0.7),
    };
    let mother_name = match parents.1 {
        Some(name) if rng.gen::<f64>() < 0.6 => Some(name),
        Some(_) => None,
        None => keep(rng, &original.mother_name, 0.7),
    };
    let residence_since = if rng.gen::<f64>() < 0.5 {
        original.residence_since
    } else {
        None
    };
    let mut d = LegacyRecord {
        source_id: id,
        pin: None,
        family_name: original.family_name.clone(),
        middle_name: original.middle_name.clone(),
        given_name: original.given_name.clone(),
        family_name_latin: original.family_name_latin.clone(),
        middle_name_latin: original.middle_name_latin.clone(),
        given_name_latin: original.given_name_latin.clone(),
        sex: original.sex,
        date_of_birth: original.date_of_birth,
        place_of_birth: original.place_of_birth.clone(),
        nationalities: Vec::new(),
        ethnicity: None,
        religion: None,
        father: None,
        mother: None,
        spouse: None,
        father_name,
        mother_name,
        residence_area: original.residence_area.clone(),
        residence_address: original.residence_address.clone(),
        residence_since,
        household: None,
        relationship: None,
        status: original.status,
        date_of_death: original.date_of_death,
    };
    let wanted = match rng.gen::<f64>() {
        u if u < 0.6 => 1,
        u if u < 0.9 => 2,
        _ => 3,
    };
    let mut applied = Vec::with_capacity(3);
    for _ in 0..24 {
        if applied.len() == wanted {
            break;
        }
        let kind = m.duplicate_errors[m.duplicate_weights.sample(rng)];
        if applied.contains(&kind)
            || (kind == DuplicateError::ResidenceDropped
                && applied.contains(&DuplicateError::OtherResidence))
        {
            continue;
        }
        if apply(m, rng, &mut d, kind, as_of) {
            applied.push(kind);
        }
    }
    if applied.is_empty() && shift_year(&mut d, -1, as_of) {
        applied.push(DuplicateError::YearShifted);
    }
    // A date of birth moved later must not leave the person living somewhere before birth.
    if d.residence_since
        .is_some_and(|s| s.definitely_before(&d.date_of_birth))
    {
        d.residence_since = None;
    }
    (d, applied)
}

/// Applies one error; false when it does not apply to this record (nothing changed).
fn apply<R: Rng>(
    m: &Model,
    rng: &mut R,
    d: &mut LegacyRecord,
    kind: DuplicateError,
    as_of: NaiveDate,
) -> bool {
    match kind {
        DuplicateError::Typo => {
            if m.romanized {
                mutate_one(
                    rng,
                    [&mut d.given_name_latin, &mut d.family_name_latin],
                    |r, s| text::typo(r, s),
                )
            } else {
                // The required given name, as an optional part like the others.
                let mut given = Some(std::mem::take(&mut d.given_name));
                let changed = mutate_one(
                    rng,
                    [&mut given, &mut d.family_name, &mut d.middle_name],
                    |r, s| text::typo(r, s),
                );
                d.given_name = given.unwrap_or_default();
                changed
            }
        }
        DuplicateError::Romanization => {
            let rules = &m.romanization_variants;
            mutate_one(
                rng,
                [&mut d.given_name_latin, &mut d.family_name_latin],
                |r, s| text::romanization_variant(r, s, rules),
            )
        }
        DuplicateError::DiacriticsDropped => {
            let mut changed = false;
            let plain = text::drop_diacritics(&d.given_name);
            if plain != d.given_name && !plain.is_empty() {
                d.given_name = plain;
                changed = true;
            }
            for part in [&mut d.family_name, &mut d.middle_name]
                .into_iter()
                .flatten()
            {
                let plain = text::drop_diacritics(part);
                if plain != *part && !plain.is_empty() {
                    *part = plain;
                    changed = true;
                }
            }
            changed
        }
        DuplicateError::DiacriticsWrong => {
            let mut given = Some(std::mem::take(&mut d.given_name));
            let changed = mutate_one(
                rng,
                [&mut given, &mut d.family_name, &mut d.middle_name],
                |r, s| text::wrong_tone(r, s),
            );
            d.given_name = given.unwrap_or_default();
            changed
        }
        DuplicateError::NamesSwapped => {
            let Some(family) = d.family_name.take() else {
                return false;
            };
            if family == d.given_name {
                d.family_name = Some(family);
                return false;
            }
            d.family_name = Some(std::mem::replace(&mut d.given_name, family));
            if let (Some(g), Some(f)) = (&mut d.given_name_latin, &mut d.family_name_latin) {
                std::mem::swap(g, f);
            }
            true
        }
        DuplicateError::DayMonthSwapped => {
            let dob = d.date_of_birth;
            let (Some(month), Some(day)) = (dob.month(), dob.day()) else {
                return false;
            };
            if day > 12 || day == month {
                return false;
            }
            match PartialDate::from_ymd(dob.year(), day, month) {
                Ok(swapped) if swapped.earliest() <= as_of && !death_before(d, &swapped) => {
                    d.date_of_birth = swapped;
                    true
                }
                _ => false,
            }
        }
        DuplicateError::YearShifted => {
            let delta = if rng.gen::<bool>() { 1 } else { -1 };
            shift_year(d, delta, as_of) || shift_year(d, -delta, as_of)
        }
        DuplicateError::OtherResidence => {
            if d.residence_area.is_none() {
                return false;
            }
            for _ in 0..8 {
                let place = m.places.sample(rng);
                let code = m.places.code(place);
                if Some(code) != d.residence_area.as_deref() {
                    d.residence_area = Some(code.to_owned());
                    let mut address = String::new();
                    m.addresses.render(rng, &mut address);
                    d.residence_address = Some(address);
                    return true;
                }
            }
            false
        }
        DuplicateError::DateReduced => {
            let dob = d.date_of_birth;
            let reduced = match (dob.month(), dob.day()) {
                (Some(month), Some(_)) if rng.gen::<f64>() < 0.3 => {
                    PartialDate::from_year_month(dob.year(), month)
                }
                (Some(_), _) => PartialDate::from_year(dob.year()),
                (None, _) => return false,
            };
            match reduced {
                Ok(r) => {
                    d.date_of_birth = r;
                    true
                }
                Err(_) => false,
            }
        }
        DuplicateError::ResidenceDropped => {
            if d.residence_area.is_none() {
                return false;
            }
            d.residence_area = None;
            d.residence_address = None;
            d.residence_since = None;
            true
        }
    }
}

/// Applies `f` to one of the present parts, tried in random order; false if it changed none.
fn mutate_one<R: Rng, const N: usize>(
    rng: &mut R,
    parts: [&mut Option<String>; N],
    f: impl Fn(&mut R, &str) -> Option<String>,
) -> bool {
    let mut parts: Vec<&mut Option<String>> = parts.into_iter().filter(|p| p.is_some()).collect();
    while !parts.is_empty() {
        let i = rng.gen_range(0..parts.len());
        let part = parts.swap_remove(i);
        if let Some(new) = part.as_deref().and_then(|s| f(rng, s)) {
            *part = Some(new);
            return true;
        }
    }
    false
}

fn death_before(d: &LegacyRecord, dob: &PartialDate) -> bool {
    d.date_of_death
        .is_some_and(|death| death.definitely_before(dob))
}

/// The year of birth moved by `delta` (29 February becomes the 28th); false if that would put
/// it after `as_of` or after the death.
fn shift_year(d: &mut LegacyRecord, delta: i32, as_of: NaiveDate) -> bool {
    let dob = d.date_of_birth;
    let year = dob.year() + delta;
    let shifted = match (dob.month(), dob.day()) {
        (Some(m), Some(day)) => PartialDate::from_ymd(year, m, day)
            .or_else(|_| PartialDate::from_ymd(year, m, day.saturating_sub(1))),
        (Some(m), None) => PartialDate::from_year_month(year, m),
        _ => PartialDate::from_year(year),
    };
    match shifted {
        Ok(s) if s.earliest() <= as_of && !death_before(d, &s) => {
            d.date_of_birth = s;
            true
        }
        _ => false,
    }
}
