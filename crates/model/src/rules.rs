//! The rules an event must satisfy before it is appended.
//!
//! Pure: the caller loads every person and household the event refers to and passes today's
//! date (the register's clock is read at the edge, never here).
use crate::date::PartialDate;
use crate::event::{Event, EventPayload, PersonParticulars};
use crate::person::{Household, ParentRef, Person, Relationship, Residence, Status};
use crate::pin::Pin;
use crate::profile::{AdminTree, Profile};
use crate::sex::Sex;
use chrono::NaiveDate;
use std::collections::HashMap;

/// Why an event was refused. `code` is stable (clients match on it); `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Violation {
    pub code: &'static str,
    pub message: String,
}

fn violation(code: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        code,
        message: message.into(),
    }
}

pub struct RuleContext<'a> {
    pub today: NaiveDate,
    pub profile: &'a Profile,
    pub areas: &'a AdminTree,
    /// Current records of every registered person the event refers to (see [`referenced_pins`]).
    pub persons: &'a HashMap<Pin, Person>,
    /// Current state of the household the event refers to, if any.
    pub households: &'a HashMap<String, Household>,
}

impl RuleContext<'_> {
    fn person(&self, pin: &Pin) -> Result<&Person, Violation> {
        self.persons.get(pin).ok_or_else(|| {
            violation(
                "person-not-found",
                format!("no person with PIN {pin} in the register"),
            )
        })
    }

    fn area(&self, code: &str, what: &str) -> Result<(), Violation> {
        if self.areas.contains(code) {
            Ok(())
        } else {
            Err(violation(
                "unknown-admin-area",
                format!("{what}: unknown admin area {code:?}"),
            ))
        }
    }

    fn household(&self, id: &str) -> Result<&Household, Violation> {
        self.households
            .get(id)
            .ok_or_else(|| violation("household-not-found", format!("no household {id}")))
    }
}

/// Every registered person whose record the rules need to see for this event.
pub fn referenced_pins(payload: &EventPayload) -> Vec<Pin> {
    let mut pins = payload.subjects();
    let parents = |p: &PersonParticulars| -> Vec<Pin> {
        [p.father.pin(), p.mother.pin()]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    };
    match payload {
        EventPayload::BirthRegistered(b) => pins.extend(parents(&b.particulars)),
        EventPayload::RecordImported(r) => {
            pins.extend(parents(&r.particulars));
            pins.extend(r.spouse.clone());
        }
        EventPayload::AdoptionRegistered { father, mother, .. } => pins.extend(
            [father, mother]
                .into_iter()
                .flatten()
                .filter_map(|p| p.pin())
                .cloned(),
        ),
        EventPayload::ParticularsCorrected { corrections, .. } => pins.extend(
            [&corrections.father, &corrections.mother]
                .into_iter()
                .flatten()
                .filter_map(|p| p.pin())
                .cloned(),
        ),
        _ => {}
    }
    // The spouses of the people marrying: "already married" depends on whether they are alive.
    pins.sort();
    pins.dedup();
    pins
}

/// The registered persons beyond [`referenced_pins`] whose status the rules need (spouses of
/// the people marrying), given the referenced records.
pub fn second_degree_pins(payload: &EventPayload, persons: &HashMap<Pin, Person>) -> Vec<Pin> {
    match payload {
        EventPayload::MarriageRegistered { a, b } => [a, b]
            .into_iter()
            .filter_map(|p| persons.get(p).and_then(|p| p.spouse.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

/// Checks an event against the register's rules and the current state.
pub fn check(event: &Event, ctx: &RuleContext<'_>) -> Result<(), Violation> {
    if event.effective.earliest() > ctx.today {
        return Err(violation(
            "effective-date-in-future",
            format!(
                "the effective date {} is after today ({})",
                event.effective, ctx.today
            ),
        ));
    }
    if event.legal_basis.act.trim().is_empty() {
        return Err(violation(
            "legal-basis-required",
            "the legal basis (act) must not be empty",
        ));
    }
    ctx.area(&event.office, "registering office")?;

    let payload = &event.payload;
    if !payload.creates_person() {
        for pin in payload.subjects() {
            let person = ctx.person(&pin)?;
            if let Some(into) = &person.merged_into {
                let unmerging = matches!(payload, EventPayload::RecordsUnmerged { retired, .. } if *retired == pin);
                if !unmerging {
                    return Err(violation(
                        "pin-retired",
                        format!("{pin} was merged into {into}: register changes on {into}"),
                    ));
                }
            }
            if matches!(
                payload,
                EventPayload::RecordsMerged { .. } | EventPayload::RecordsUnmerged { .. }
            ) {
                continue;
            }
            let is_correction = matches!(payload, EventPayload::ParticularsCorrected { .. });
            // A dead person's card is still revoked or reported; the card rules refuse new ones.
            let is_card = matches!(payload, EventPayload::Card(_));
            if person.status == Status::Deceased && !is_correction && !is_card {
                return Err(violation(
                    "person-deceased",
                    format!(
                        "{pin} is recorded as deceased; only a correction can change the record"
                    ),
                ));
            }
            let is_death = matches!(payload, EventPayload::DeathRecorded { .. });
            if !is_correction
                && !is_death
                && event.effective.definitely_before(&person.date_of_birth)
            {
                return Err(violation(
                    "event-before-birth",
                    format!(
                        "the effective date {} is before {pin}'s birth ({})",
                        event.effective, person.date_of_birth
                    ),
                ));
            }
        }
    }

    match payload {
        EventPayload::RecordsMerged { survivor, retired } => {
            if survivor == retired {
                return Err(violation(
                    "invalid-merge",
                    "a record cannot be merged into itself",
                ));
            }
        }
        EventPayload::RecordsUnmerged { survivor, retired } => {
            if ctx.person(retired)?.merged_into.as_ref() != Some(survivor) {
                return Err(violation(
                    "not-merged",
                    format!("{retired} is not merged into {survivor}"),
                ));
            }
        }
        EventPayload::DuplicateHeld { .. }
        | EventPayload::DuplicatePairFound { .. }
        | EventPayload::DuplicateReviewed { .. } => {
            return Err(violation(
                "invalid-event",
                "review-queue events are recorded by the register itself",
            ));
        }
        EventPayload::Card(card) => {
            // Card events happen on the day they are recorded, so that the fold (by valid time)
            // applies them in the order the rules checked them.
            if event.effective.to_full() != Some(ctx.today) {
                return Err(violation(
                    "effective-date-mismatch",
                    "a card event's effective date is the day it is recorded",
                ));
            }
            crate::card::check_card_event(
                ctx.person(&card.pin)?,
                card,
                &event.actor,
                &ctx.profile.card,
                ctx.today,
            )?;
        }
        EventPayload::BirthRegistered(b) => {
            check_particulars(&b.pin, &b.particulars, ctx)?;
            if b.particulars.date_of_birth != event.effective {
                return Err(violation(
                    "effective-date-mismatch",
                    "a birth's effective date is the date of birth",
                ));
            }
            if let Some(r) = &b.residence {
                check_residence(r, &b.particulars.date_of_birth, ctx, "residence")?;
            }
            if let Some(m) = &b.household {
                ctx.household(&m.household)?;
                if m.relationship == Relationship::Head {
                    return Err(violation(
                        "invalid-household-change",
                        "a newborn cannot be the head of a household",
                    ));
                }
            }
            if ctx.persons.contains_key(&b.pin) {
                return Err(violation(
                    "pin-taken",
                    format!("PIN {} is already issued", b.pin),
                ));
            }
        }
        EventPayload::RecordImported(r) => {
            check_particulars(&r.pin, &r.particulars, ctx)?;
            for res in [&r.permanent_residence, &r.temporary_residence]
                .into_iter()
                .flatten()
            {
                check_residence(res, &r.particulars.date_of_birth, ctx, "residence")?;
            }
            if let Some(d) = &r.date_of_death {
                if d.definitely_before(&r.particulars.date_of_birth) {
                    return Err(violation(
                        "death-before-birth",
                        "the date of death is before the date of birth",
                    ));
                }
            }
            if r.status == Status::Deceased && r.date_of_death.is_none() {
                return Err(violation(
                    "date-of-death-required",
                    "a deceased person's record needs a date of death",
                ));
            }
            if ctx.persons.contains_key(&r.pin) {
                return Err(violation(
                    "pin-taken",
                    format!("PIN {} is already issued", r.pin),
                ));
            }
        }
        EventPayload::DeathRecorded {
            pin,
            date_of_death,
            place_of_death,
        } => {
            let p = ctx.person(pin)?;
            if date_of_death.definitely_before(&p.date_of_birth) {
                return Err(violation(
                    "death-before-birth",
                    format!(
                        "the date of death {date_of_death} is before the date of birth {}",
                        p.date_of_birth
                    ),
                ));
            }
            if *date_of_death != event.effective {
                return Err(violation(
                    "effective-date-mismatch",
                    "a death's effective date is the date of death",
                ));
            }
            if let Some(place) = place_of_death {
                ctx.area(place, "place of death")?;
            }
        }
        EventPayload::MarriageRegistered { a, b } => {
            if a == b {
                return Err(violation(
                    "invalid-marriage",
                    "a person cannot marry themselves",
                ));
            }
            let (pa, pb) = (ctx.person(a)?, ctx.person(b)?);
            for p in [pa, pb] {
                let spouse_status = p
                    .spouse
                    .as_ref()
                    .and_then(|s| ctx.persons.get(s))
                    .map(|s| s.status);
                if p.is_married(spouse_status) && !ctx.profile.rules.allow_multiple_spouses {
                    return Err(violation(
                        "already-married",
                        format!("{} is already married", p.pin),
                    ));
                }
                let min = match p.sex {
                    Sex::Male => ctx.profile.rules.marriage_min_age.male,
                    Sex::Female => ctx.profile.rules.marriage_min_age.female,
                    Sex::Unknown => ctx
                        .profile
                        .rules
                        .marriage_min_age
                        .male
                        .max(ctx.profile.rules.marriage_min_age.female),
                };
                if p.date_of_birth.max_age_at(event.effective.latest()) < i32::from(min) {
                    return Err(violation(
                        "under-marriage-age",
                        format!("{} is under the minimum marriage age of {min}", p.pin),
                    ));
                }
            }
        }
        EventPayload::DivorceRegistered { a, b } => {
            let pa = ctx.person(a)?;
            ctx.person(b)?;
            if pa.spouse.as_ref() != Some(b) {
                return Err(violation(
                    "not-married",
                    format!("{a} and {b} are not married to each other"),
                ));
            }
        }
        EventPayload::PermanentResidenceChanged { pin, residence }
        | EventPayload::TemporaryResidenceStarted { pin, residence } => {
            let p = ctx.person(pin)?;
            check_residence(residence, &p.date_of_birth, ctx, "residence")?;
            if residence.since != event.effective {
                return Err(violation(
                    "effective-date-mismatch",
                    "a residence change is effective from its since-date",
                ));
            }
        }
        EventPayload::TemporaryResidenceEnded { pin } => {
            if ctx.person(pin)?.temporary_residence.is_none() {
                return Err(violation(
                    "no-temporary-residence",
                    format!("{pin} has no temporary residence"),
                ));
            }
        }
        EventPayload::HouseholdCreated {
            household,
            head,
            area,
            ..
        } => {
            ctx.area(area, "household area")?;
            if ctx.households.contains_key(household) {
                return Err(violation(
                    "household-exists",
                    format!("household {household} already exists"),
                ));
            }
            if let Some(m) = &ctx.person(head)?.household {
                return Err(violation(
                    "already-in-household",
                    format!(
                        "{head} already belongs to household {}; leave it first",
                        m.household
                    ),
                ));
            }
        }
        EventPayload::HouseholdJoined {
            household,
            pin,
            relationship,
        } => {
            let h = ctx.household(household)?;
            if *relationship == Relationship::Head {
                return Err(violation(
                    "invalid-household-change",
                    "use a change of head to make someone the head",
                ));
            }
            if h.head.is_none() {
                return Err(violation(
                    "invalid-household-change",
                    "the household has no head",
                ));
            }
            if let Some(m) = &ctx.person(pin)?.household {
                return Err(violation(
                    "already-in-household",
                    format!(
                        "{pin} already belongs to household {}; leave it first",
                        m.household
                    ),
                ));
            }
        }
        EventPayload::HouseholdLeft { household, pin } => {
            let h = ctx.household(household)?;
            if !h.members.contains_key(pin) {
                return Err(violation(
                    "not-in-household",
                    format!("{pin} is not a member of household {household}"),
                ));
            }
            if h.head.as_ref() == Some(pin) && h.members.len() > 1 {
                return Err(violation(
                    "invalid-household-change",
                    "the head cannot leave while other members remain: change the head first",
                ));
            }
        }
        EventPayload::HouseholdHeadChanged {
            household,
            new_head,
            relationships,
        } => {
            let h = ctx.household(household)?;
            if !h.members.contains_key(new_head) {
                return Err(violation(
                    "not-in-household",
                    format!("{new_head} is not a member of household {household}"),
                ));
            }
            if relationships.get(new_head) != Some(&Relationship::Head) {
                return Err(violation(
                    "invalid-household-change",
                    "the new head's relationship must be head",
                ));
            }
            for pin in h.members.keys() {
                if !relationships.contains_key(pin) {
                    return Err(violation(
                        "invalid-household-change",
                        format!("the new relationship of member {pin} to the new head is missing"),
                    ));
                }
            }
            for (pin, rel) in relationships {
                if !h.members.contains_key(pin) {
                    return Err(violation(
                        "not-in-household",
                        format!("{pin} is not a member of household {household}"),
                    ));
                }
                if pin != new_head && *rel == Relationship::Head {
                    return Err(violation(
                        "invalid-household-change",
                        "a household has exactly one head",
                    ));
                }
            }
        }
        EventPayload::NameChanged { names, .. } => check_names(names, ctx)?,
        EventPayload::ParticularsCorrected { pin, corrections } => {
            if corrections.is_empty() {
                return Err(violation(
                    "empty-correction",
                    "a correction must change at least one particular",
                ));
            }
            let p = ctx.person(pin)?;
            if let Some(names) = &corrections.names {
                check_names(names, ctx)?;
            }
            if let Some(place) = &corrections.place_of_birth {
                ctx.area(place, "place of birth")?;
            }
            let dob = corrections.date_of_birth.unwrap_or(p.date_of_birth);
            if let Some(d) = corrections.date_of_death.or(p.date_of_death) {
                if d.definitely_before(&dob) {
                    return Err(violation(
                        "death-before-birth",
                        "the date of death would be before the date of birth",
                    ));
                }
            }
            if corrections.date_of_death.is_some() && p.status != Status::Deceased {
                return Err(violation(
                    "person-not-deceased",
                    "only a deceased person's date of death can be corrected",
                ));
            }
            if dob.earliest() > ctx.today {
                return Err(violation(
                    "date-of-birth-in-future",
                    "the date of birth is in the future",
                ));
            }
            for (parent, role) in [
                (&corrections.father, ParentRole::Father),
                (&corrections.mother, ParentRole::Mother),
            ] {
                if let Some(parent) = parent {
                    check_parent(parent, role, &dob, pin, ctx)?;
                }
            }
        }
        EventPayload::AdoptionRegistered {
            pin,
            father,
            mother,
        } => {
            if father.is_none() && mother.is_none() {
                return Err(violation(
                    "invalid-adoption",
                    "an adoption names at least one adoptive parent",
                ));
            }
            let child = ctx.person(pin)?;
            for (parent, role) in [(father, ParentRole::Father), (mother, ParentRole::Mother)] {
                if let Some(parent) = parent {
                    check_parent(parent, role, &child.date_of_birth, pin, ctx)?;
                    if let Some(ppin) = parent.pin() {
                        if ctx.person(ppin)?.status == Status::Deceased {
                            return Err(violation(
                                "person-deceased",
                                format!("adoptive parent {ppin} is deceased"),
                            ));
                        }
                    }
                }
            }
        }
        EventPayload::NationalityAcquired { pin, nationality } => {
            check_nationality(nationality)?;
            if ctx.person(pin)?.nationalities.contains(nationality) {
                return Err(violation(
                    "nationality-held",
                    format!("{pin} already holds nationality {nationality}"),
                ));
            }
        }
        EventPayload::NationalityLost { pin, nationality } => {
            if !ctx.person(pin)?.nationalities.contains(nationality) {
                return Err(violation(
                    "nationality-not-held",
                    format!("{pin} does not hold nationality {nationality}"),
                ));
            }
        }
        EventPayload::StatusChanged { pin, status } => {
            let p = ctx.person(pin)?;
            if *status == Status::Deceased {
                return Err(violation(
                    "invalid-status-change",
                    "record a death with a death event",
                ));
            }
            if p.status == *status {
                return Err(violation(
                    "invalid-status-change",
                    format!("{pin} is already {}", status.as_str()),
                ));
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum ParentRole {
    Father,
    Mother,
}

fn check_particulars(
    pin: &Pin,
    p: &PersonParticulars,
    ctx: &RuleContext<'_>,
) -> Result<(), Violation> {
    check_names(&p.names, ctx)?;
    ctx.area(&p.place_of_birth, "place of birth")?;
    if p.date_of_birth.earliest() > ctx.today {
        return Err(violation(
            "date-of-birth-in-future",
            "the date of birth is in the future",
        ));
    }
    if p.nationalities.is_empty() {
        return Err(violation(
            "nationality-required",
            "at least one nationality is required",
        ));
    }
    for n in &p.nationalities {
        check_nationality(n)?;
    }
    check_parent(&p.father, ParentRole::Father, &p.date_of_birth, pin, ctx)?;
    check_parent(&p.mother, ParentRole::Mother, &p.date_of_birth, pin, ctx)?;
    if let (Some(f), Some(m)) = (p.father.pin(), p.mother.pin()) {
        if f == m {
            return Err(violation(
                "invalid-parent",
                "the father and the mother are the same person",
            ));
        }
    }
    Ok(())
}

fn check_parent(
    parent: &ParentRef,
    role: ParentRole,
    child_dob: &PartialDate,
    child: &Pin,
    ctx: &RuleContext<'_>,
) -> Result<(), Violation> {
    let ParentRef::Registered { pin } = parent else {
        if let ParentRef::Described { name, .. } = parent {
            if name.trim().is_empty() {
                return Err(violation(
                    "invalid-parent",
                    "a described parent needs a name",
                ));
            }
        }
        return Ok(());
    };
    if pin == child {
        return Err(violation(
            "invalid-parent",
            "a person cannot be their own parent",
        ));
    }
    let p = ctx.person(pin)?;
    let (role_name, wrong_sex) = match role {
        ParentRole::Father => ("father", Sex::Female),
        ParentRole::Mother => ("mother", Sex::Male),
    };
    if p.sex == wrong_sex {
        return Err(violation(
            "invalid-parent",
            format!(
                "{pin} is recorded as {} and cannot be the {role_name}",
                if wrong_sex == Sex::Male {
                    "male"
                } else {
                    "female"
                }
            ),
        ));
    }
    let min_age = i32::from(ctx.profile.rules.min_parent_age_years);
    if p.date_of_birth.max_age_at(child_dob.latest()) < min_age {
        return Err(violation(
            "parent-too-young",
            format!("the {role_name} {pin} was under {min_age} at the child's birth"),
        ));
    }
    if let (ParentRole::Mother, Some(death)) = (role, p.date_of_death) {
        if death.definitely_before(child_dob) {
            return Err(violation(
                "parent-deceased",
                format!("the mother {pin} died before the child's birth"),
            ));
        }
    }
    Ok(())
}

fn check_names(names: &crate::person::Names, ctx: &RuleContext<'_>) -> Result<(), Violation> {
    for name in std::iter::once(&names.national).chain(names.latin.as_ref()) {
        for part in [&name.family, &name.middle]
            .into_iter()
            .flatten()
            .chain(std::iter::once(&name.given))
        {
            let normalised = crate::name::normalize_name(part)
                .map_err(|e| violation("invalid-name", format!("{part:?}: {e}")))?;
            if &normalised != part {
                return Err(violation(
                    "invalid-name",
                    format!("{part:?} is not normalised (NFC, trimmed)"),
                ));
            }
        }
    }
    if ctx.profile.name_parts.latin_required && names.latin.is_none() {
        return Err(violation(
            "latin-name-required",
            "this profile requires the name in Latin script too",
        ));
    }
    Ok(())
}

fn check_residence(
    r: &Residence,
    dob: &PartialDate,
    ctx: &RuleContext<'_>,
    what: &str,
) -> Result<(), Violation> {
    ctx.area(&r.area, what)?;
    if r.since.definitely_before(dob) {
        return Err(violation(
            "event-before-birth",
            format!("{what} since {} is before the date of birth", r.since),
        ));
    }
    if r.since.earliest() > ctx.today {
        return Err(violation(
            "effective-date-in-future",
            format!("{what} since {} is in the future", r.since),
        ));
    }
    Ok(())
}

fn check_nationality(code: &str) -> Result<(), Violation> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(violation(
            "invalid-nationality",
            format!("{code:?} is not an ISO 3166-1 alpha-3 code"),
        ))
    }
}
