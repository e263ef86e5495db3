//! The person record and the household, as projections of the event log.
//!
//! A person's current record is the fold of the events they are a subject of, in valid-time
//! order (effective date, then commit position): a move recorded late but effective earlier does
//! not overwrite a later one. `thabian rebuild` runs the same fold, so it reproduces the stored
//! projection exactly.
use crate::date::PartialDate;
use crate::event::{Event, EventPayload, PersonParticulars};
use crate::pin::Pin;
use crate::sex::Sex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One name in one script. Which parts a country uses is in its profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle: Option<String>,
    pub given: String,
}

/// Names in the national script and, where the profile asks for it, in Latin script.
/// The originals are kept exactly as registered (NFC-normalised).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    pub national: PersonName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latin: Option<PersonName>,
}

/// A parent: a registered person, unknown, or described (someone not in the register).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ParentRef {
    Registered {
        pin: Pin,
    },
    Unknown,
    Described {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        date_of_birth: Option<PartialDate>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nationality: Option<String>,
    },
}

impl ParentRef {
    pub fn pin(&self) -> Option<&Pin> {
        match self {
            ParentRef::Registered { pin } => Some(pin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Residence {
    /// Admin-area code from the profile's tree (the lowest level known).
    pub area: String,
    #[serde(default)]
    pub address_lines: Vec<String>,
    pub since: PartialDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Head,
    Spouse,
    Child,
    Parent,
    Grandchild,
    Grandparent,
    Sibling,
    OtherRelative,
    NonRelative,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    pub household: String,
    /// Relationship to the head of the household.
    pub relationship: Relationship,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Living,
    Deceased,
    Missing,
    Emigrated,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Living => "living",
            Status::Deceased => "deceased",
            Status::Missing => "missing",
            Status::Emigrated => "emigrated",
        }
    }
}

/// The current record of one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub pin: Pin,
    pub names: Names,
    pub sex: Sex,
    pub date_of_birth: PartialDate,
    pub place_of_birth: String,
    pub nationalities: Vec<String>,
    pub ethnicity: Option<String>,
    pub religion: Option<String>,
    pub father: ParentRef,
    pub mother: ParentRef,
    pub spouse: Option<Pin>,
    pub permanent_residence: Option<Residence>,
    pub temporary_residence: Option<Residence>,
    pub household: Option<Membership>,
    pub status: Status,
    pub date_of_death: Option<PartialDate>,
    pub place_of_death: Option<String>,
    /// Set when this record was merged into another: the PIN is retired and points there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Pin>,
    /// The retired PINs merged into this record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<Pin>,
    /// Identity cards, in application order ([`crate::card`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cards: Vec<crate::card::Card>,
    /// How many events this record is the fold of: the optimistic-concurrency version.
    pub version: u64,
}

impl Person {
    fn from_particulars(pin: &Pin, p: &PersonParticulars) -> Person {
        Person {
            pin: pin.clone(),
            names: p.names.clone(),
            sex: p.sex,
            date_of_birth: p.date_of_birth,
            place_of_birth: p.place_of_birth.clone(),
            nationalities: p.nationalities.clone(),
            ethnicity: p.ethnicity.clone(),
            religion: p.religion.clone(),
            father: p.father.clone(),
            mother: p.mother.clone(),
            spouse: None,
            permanent_residence: None,
            temporary_residence: None,
            household: None,
            status: Status::Living,
            date_of_death: None,
            place_of_death: None,
            merged_into: None,
            merged_from: Vec::new(),
            cards: Vec::new(),
            version: 0,
        }
    }

    /// Folds a person's events (in any order: they are sorted here by valid time, then commit
    /// position). `None` when no event creates the person.
    pub fn fold<'a>(pin: &Pin, events: impl IntoIterator<Item = &'a Event>) -> Option<Person> {
        let mut events: Vec<&Event> = events.into_iter().collect();
        events.sort_by_key(|e| (e.effective.sort_key(), e.seq));
        let mut person: Option<Person> = None;
        for event in events {
            person = Person::apply(person, pin, event);
        }
        person
    }

    /// Applies one event to the record of `pin` (who must be one of its subjects).
    pub fn apply(current: Option<Person>, pin: &Pin, event: &Event) -> Option<Person> {
        let mut p = match (&event.payload, current) {
            (EventPayload::BirthRegistered(b), _) if &b.pin == pin => {
                let mut p = Person::from_particulars(pin, &b.particulars);
                p.permanent_residence = b.residence.clone();
                p.household = b.household.clone();
                p
            }
            (EventPayload::RecordImported(r), _) if &r.pin == pin => {
                let mut p = Person::from_particulars(pin, &r.particulars);
                p.spouse = r.spouse.clone();
                p.permanent_residence = r.permanent_residence.clone();
                p.temporary_residence = r.temporary_residence.clone();
                p.household = r.household.clone();
                p.status = r.status;
                p.date_of_death = r.date_of_death;
                p
            }
            (_, None) => return None,
            (EventPayload::Card(c), Some(mut p)) => {
                crate::card::apply_card_event(&mut p.cards, c, &event.actor, event.effective);
                p
            }
            (payload, Some(mut p)) => {
                apply_change(&mut p, pin, payload);
                p
            }
        };
        p.version += 1;
        Some(p)
    }

    /// Whether this person currently has a spouse who is alive (`spouse_status` says how the
    /// spouse's record stands).
    pub fn is_married(&self, spouse_status: Option<Status>) -> bool {
        self.spouse.is_some() && spouse_status != Some(Status::Deceased)
    }

    /// The admin area that decides jurisdiction over this person: permanent residence, else the
    /// place of birth.
    pub fn jurisdiction_area(&self) -> &str {
        self.permanent_residence
            .as_ref()
            .map(|r| r.area.as_str())
            .unwrap_or(&self.place_of_birth)
    }
}

fn apply_change(p: &mut Person, pin: &Pin, payload: &EventPayload) {
    match payload {
        EventPayload::BirthRegistered(_) | EventPayload::RecordImported(_) => {}
        EventPayload::DeathRecorded {
            date_of_death,
            place_of_death,
            ..
        } => {
            p.status = Status::Deceased;
            p.date_of_death = Some(*date_of_death);
            p.place_of_death = place_of_death.clone();
        }
        EventPayload::MarriageRegistered { a, b } => {
            p.spouse = Some(if a == pin { b.clone() } else { a.clone() });
        }
        EventPayload::DivorceRegistered { .. } => p.spouse = None,
        EventPayload::PermanentResidenceChanged { residence, .. } => {
            p.permanent_residence = Some(residence.clone())
        }
        EventPayload::TemporaryResidenceStarted { residence, .. } => {
            p.temporary_residence = Some(residence.clone())
        }
        EventPayload::TemporaryResidenceEnded { .. } => p.temporary_residence = None,
        EventPayload::HouseholdCreated { household, .. } => {
            p.household = Some(Membership {
                household: household.clone(),
                relationship: Relationship::Head,
            })
        }
        EventPayload::HouseholdJoined {
            household,
            relationship,
            ..
        } => {
            p.household = Some(Membership {
                household: household.clone(),
                relationship: *relationship,
            })
        }
        EventPayload::HouseholdLeft { .. } => p.household = None,
        EventPayload::HouseholdHeadChanged {
            household,
            relationships,
            ..
        } => {
            if let Some(rel) = relationships.get(pin) {
                p.household = Some(Membership {
                    household: household.clone(),
                    relationship: *rel,
                });
            }
        }
        EventPayload::NameChanged { names, .. } => p.names = names.clone(),
        EventPayload::ParticularsCorrected { corrections, .. } => {
            let c = corrections;
            if let Some(v) = &c.names {
                p.names = v.clone();
            }
            if let Some(v) = c.sex {
                p.sex = v;
            }
            if let Some(v) = c.date_of_birth {
                p.date_of_birth = v;
            }
            if let Some(v) = &c.place_of_birth {
                p.place_of_birth = v.clone();
            }
            if let Some(v) = &c.nationalities {
                p.nationalities = v.clone();
            }
            if let Some(v) = &c.ethnicity {
                p.ethnicity = Some(v.clone());
            }
            if let Some(v) = &c.religion {
                p.religion = Some(v.clone());
            }
            if let Some(v) = &c.father {
                p.father = v.clone();
            }
            if let Some(v) = &c.mother {
                p.mother = v.clone();
            }
            if let Some(v) = c.date_of_death {
                p.date_of_death = Some(v);
            }
        }
        EventPayload::AdoptionRegistered { father, mother, .. } => {
            if let Some(f) = father {
                p.father = f.clone();
            }
            if let Some(m) = mother {
                p.mother = m.clone();
            }
        }
        EventPayload::NationalityAcquired { nationality, .. } => {
            if !p.nationalities.contains(nationality) {
                p.nationalities.push(nationality.clone());
            }
        }
        EventPayload::NationalityLost { nationality, .. } => {
            p.nationalities.retain(|n| n != nationality)
        }
        EventPayload::StatusChanged { status, .. } => p.status = *status,
        EventPayload::RecordsMerged { survivor, retired } => {
            if pin == retired {
                p.merged_into = Some(survivor.clone());
            } else if !p.merged_from.contains(retired) {
                p.merged_from.push(retired.clone());
            }
        }
        EventPayload::RecordsUnmerged { survivor, retired } => {
            if pin == retired {
                if p.merged_into.as_ref() == Some(survivor) {
                    p.merged_into = None;
                }
            } else {
                p.merged_from.retain(|r| r != retired);
            }
        }
        EventPayload::DuplicateHeld { .. }
        | EventPayload::DuplicatePairFound { .. }
        | EventPayload::DuplicateReviewed { .. }
        | EventPayload::Card(_) => {}
    }
}

/// A household (the successor of the paper household registration book).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Household {
    pub id: String,
    pub head: Option<Pin>,
    pub area: String,
    pub address_lines: Vec<String>,
    pub members: BTreeMap<Pin, Relationship>,
    pub version: u64,
}

impl Household {
    /// Applies an event to a household, in commit order. Events that do not concern household
    /// `id` leave it unchanged (and return `None` when it does not exist).
    pub fn apply(current: Option<Household>, id: &str, event: &Event) -> Option<Household> {
        let mut h = match (&event.payload, current) {
            (
                EventPayload::HouseholdCreated {
                    household,
                    head,
                    area,
                    address_lines,
                },
                _,
            ) if household == id => {
                let mut members = BTreeMap::new();
                members.insert(head.clone(), Relationship::Head);
                Household {
                    id: id.to_owned(),
                    head: Some(head.clone()),
                    area: area.clone(),
                    address_lines: address_lines.clone(),
                    members,
                    version: 0,
                }
            }
            // A migrated household book has no creation event: its first imported member
            // brings it, in the area of that member's residence.
            (EventPayload::RecordImported(r), None) => match (&r.household, &r.permanent_residence)
            {
                (Some(m), Some(residence)) if m.household == id => {
                    let mut members = BTreeMap::new();
                    members.insert(r.pin.clone(), m.relationship);
                    Household {
                        id: id.to_owned(),
                        head: (m.relationship == Relationship::Head).then(|| r.pin.clone()),
                        area: residence.area.clone(),
                        address_lines: residence.address_lines.clone(),
                        members,
                        version: 0,
                    }
                }
                _ => return None,
            },
            (_, None) => return None,
            (payload, Some(mut h)) => {
                if !h.apply_change(payload) {
                    return Some(h);
                }
                h
            }
        };
        h.version += 1;
        Some(h)
    }

    /// Returns whether the event changed this household.
    fn apply_change(&mut self, payload: &EventPayload) -> bool {
        match payload {
            EventPayload::HouseholdJoined {
                household,
                pin,
                relationship,
            } if *household == self.id => {
                self.members.insert(pin.clone(), *relationship);
                true
            }
            EventPayload::BirthRegistered(b) => match &b.household {
                Some(m) if m.household == self.id => {
                    self.members.insert(b.pin.clone(), m.relationship);
                    true
                }
                _ => false,
            },
            EventPayload::RecordImported(r) => match &r.household {
                Some(m) if m.household == self.id => {
                    if m.relationship == Relationship::Head {
                        self.head = Some(r.pin.clone());
                    }
                    self.members.insert(r.pin.clone(), m.relationship);
                    true
                }
                _ => false,
            },
            EventPayload::HouseholdLeft { household, pin } if *household == self.id => {
                self.members.remove(pin);
                if self.head.as_ref() == Some(pin) {
                    self.head = None;
                }
                true
            }
            EventPayload::HouseholdHeadChanged {
                household,
                new_head,
                relationships,
            } if *household == self.id => {
                self.head = Some(new_head.clone());
                for (pin, rel) in relationships {
                    if let Some(slot) = self.members.get_mut(pin) {
                        *slot = *rel;
                    }
                }
                true
            }
            _ => false,
        }
    }
}
