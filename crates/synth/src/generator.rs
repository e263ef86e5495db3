//! The generator: households built one at a time from the model, turned into records.
use std::collections::VecDeque;

use chrono::{Datelike, Days, Months, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thabian_model::date::{age_in_completed_years, PartialDate};
use thabian_model::legacy::LegacyRecord;
use thabian_model::person::{Relationship, Status};
use thabian_model::pin::PinScheme;
use thabian_model::profile::{AdminTree, Profile};
use thabian_model::sex::Sex;

use crate::data::{Gap, Model, Place, MAX_AGE};
use crate::{broken, dup, BrokenReason, Config, Generated, SynthError};

/// A parent is at least this many completed years older than the child.
const PARENT_MIN_GAP: i64 = 16;
/// A mother is at most this old (completed years) at the birth.
const MOTHER_MAX_GAP: i64 = 47;
/// A father is at most this old (completed years) at the birth.
const FATHER_MAX_GAP: i64 = 50;
/// A sibling of the head is at least this far from the head's birth (no twins).
const SIBLING_MIN_DAYS: i64 = 300;
/// How far back a household may have moved in.
const MAX_RESIDENCE_YEARS: u32 = 45;
/// Carried-over draws for duplicates and broken lines are capped (keeps memory and the effect
/// of a rate above the share of eligible records bounded).
const MAX_PENDING: u32 = 64;

/// A person while their household is being built. Indices refer to the household's drafts.
#[derive(Debug, Clone)]
struct Draft {
    sex: Sex,
    dob: NaiveDate,
    given: u32,
    /// Current family name.
    family: u32,
    /// Family name at birth (differs for a married woman who took her husband's name).
    birth_family: u32,
    middle: Option<u32>,
    birth: Place,
    /// `None`: not a member of the household (a deceased father).
    rel: Option<Relationship>,
    father: Option<usize>,
    mother: Option<usize>,
    spouse: Option<usize>,
    father_name: Option<String>,
    mother_name: Option<String>,
    /// Whether the parents' names have been decided (shared by siblings).
    parent_names_done: bool,
    since: Option<NaiveDate>,
    death: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Full,
    YearMonth,
    Omitted,
}

/// The iterator returned by [`crate::generate`]: yields the lines in output order.
#[derive(Debug)]
pub struct Generator {
    m: Model,
    pin: PinScheme,
    unknown_area: String,
    config: Config,
    pop: ChaCha8Rng,
    dup: ChaCha8Rng,
    brk: ChaCha8Rng,
    produced: u64,
    households: u64,
    duplicates: u64,
    pending_breaks: u32,
    pending_dups: u32,
    queue: VecDeque<Generated>,
    drafts: Vec<Draft>,
    address: String,
}

impl Generator {
    pub(crate) fn new(
        profile: &Profile,
        areas: &AdminTree,
        config: &Config,
    ) -> Result<Generator, SynthError> {
        let m = Model::load(profile, areas)?;
        let mut unknown_area = "ZZ999".to_owned();
        while areas.contains(&unknown_area) {
            unknown_area.push('9');
        }
        let stream = |n: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(n);
            rng
        };
        Ok(Generator {
            m,
            pin: profile.pin.clone(),
            unknown_area,
            config: config.clone(),
            pop: stream(0),
            dup: stream(1),
            brk: stream(2),
            produced: 0,
            households: 0,
            duplicates: 0,
            pending_breaks: 0,
            pending_dups: 0,
            queue: VecDeque::new(),
            drafts: Vec::new(),
            address: String::new(),
        })
    }

    /// Builds the next household (and any deceased father it refers to) and queues its lines.
    fn next_unit(&mut self) -> Result<(), SynthError> {
        self.households += 1;
        let household_id = format!("HH-{:08}", self.households);
        let as_of = self.config.as_of;
        let (home, since_precision) = {
            let mut b = Builder {
                m: &self.m,
                rng: &mut self.pop,
                drafts: &mut self.drafts,
                as_of,
            };
            b.household(&mut self.address)
        };

        // Output order: a deceased father first (he is referred to, and not in the household
        // book), then the household book order.
        let n = self.drafts.len();
        let order: Vec<usize> = (0..n)
            .filter(|&i| self.drafts[i].rel.is_none())
            .chain((0..n).filter(|&i| self.drafts[i].rel.is_some()))
            .collect();
        let remaining = self.config.people - self.produced;
        let keep = order
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let order = &order[..keep];
        let mut position = vec![None; n];
        for (k, &i) in order.iter().enumerate() {
            position[i] = Some(k);
        }
        let ids: Vec<String> = (0..keep as u64)
            .map(|k| format!("{}-{:08}", self.m.id_prefix, self.produced + k + 1))
            .collect();
        self.produced += keep as u64;

        let home_code = self.m.places.code(home).to_owned();
        let mut records = Vec::with_capacity(keep);
        let mut parents = Vec::with_capacity(keep);
        let mut referenced = vec![false; keep];
        for &i in order {
            let d = &self.drafts[i];
            let pos = |r: Option<usize>| r.and_then(|r| position[r]);
            let (father, mother, spouse) = (pos(d.father), pos(d.mother), pos(d.spouse));
            for r in [father, mother, spouse].into_iter().flatten() {
                referenced[r] = true;
            }
            parents.push((father, mother));
            let household = d.rel.map(|rel| HouseholdRef {
                id: &household_id,
                rel,
                area: &home_code,
                address: &self.address,
                since: since_precision,
            });
            let refs = [father, mother, spouse].map(|r| r.map(|r| ids[r].clone()));
            records.push(to_record(
                &self.m,
                &mut self.pop,
                d,
                ids[records.len()].clone(),
                refs,
                household,
            ));
        }

        // Which originals are broken or duplicated. Draws are made for every original; one that
        // cannot be honoured (a broken draw on a record others refer to, a duplicate draw on a
        // broken record) is carried over to the next record that can take it.
        let mut fates = Vec::with_capacity(keep);
        for (k, record) in records.iter().enumerate() {
            if self.brk.gen::<f64>() < self.config.broken {
                self.pending_breaks = (self.pending_breaks + 1).min(MAX_PENDING);
            }
            let breakable = !referenced[k] && record.relationship != Some(Relationship::Head);
            let broken = if breakable && self.pending_breaks > 0 {
                self.pending_breaks -= 1;
                Some(BrokenReason::ALL[self.brk.gen_range(0..BrokenReason::ALL.len())])
            } else {
                None
            };
            if self.dup.gen::<f64>() < self.config.duplicates {
                self.pending_dups = (self.pending_dups + 1).min(MAX_PENDING);
            }
            let duplicate = broken.is_none() && self.pending_dups > 0;
            if duplicate {
                self.pending_dups -= 1;
            }
            fates.push((broken, duplicate));
        }

        let mut duplicates = Vec::new();
        let mut texts = Vec::with_capacity(keep);
        for (k, (record, &(broken, duplicate))) in records.iter().zip(&fates).enumerate() {
            if duplicate {
                self.duplicates += 1;
                let id = format!("{}-D{:08}", self.m.id_prefix, self.duplicates);
                let (father, mother) = parents[k];
                let name = |p: Option<usize>| p.map(|p| display_name(&self.m, &records[p]));
                let (line, errors) = dup::duplicate(
                    &self.m,
                    &mut self.dup,
                    record,
                    id,
                    (name(father), name(mother)),
                    as_of,
                );
                duplicates.push(Generated::Record {
                    line,
                    duplicate_of: Some(record.source_id.clone()),
                    errors,
                });
            }
            texts.push(match broken {
                Some(reason) => Some((
                    reason,
                    broken::broken_line(
                        &mut self.brk,
                        reason,
                        record,
                        &self.pin,
                        &self.unknown_area,
                    )?,
                )),
                None => None,
            });
        }
        for (record, text) in records.into_iter().zip(texts) {
            self.queue.push_back(match text {
                Some((reason, text)) => Generated::Broken {
                    text,
                    source_id: record.source_id,
                    reason,
                },
                None => Generated::Record {
                    line: record,
                    duplicate_of: None,
                    errors: Vec::new(),
                },
            });
        }
        // A household's duplicates follow it.
        self.queue.extend(duplicates);
        Ok(())
    }
}

impl Iterator for Generator {
    type Item = Generated;

    fn next(&mut self) -> Option<Generated> {
        loop {
            if let Some(g) = self.queue.pop_front() {
                return Some(g);
            }
            if self.produced >= self.config.people {
                return None;
            }
            // Broken lines are built from records the generator serialized itself: this
            // cannot fail; if it ever did, ending the output early is the only safe choice.
            if self.next_unit().is_err() {
                self.produced = self.config.people;
                return None;
            }
        }
    }
}

struct HouseholdRef<'a> {
    id: &'a str,
    rel: Relationship,
    area: &'a str,
    address: &'a str,
    since: Precision,
}

/// The full name in the national script, in display order (Laos: given family; Vietnam:
/// family middle given).
fn display_name(m: &Model, r: &LegacyRecord) -> String {
    let parts = if m.romanized {
        [Some(&r.given_name), r.family_name.as_ref(), None]
    } else {
        [
            r.family_name.as_ref(),
            r.middle_name.as_ref(),
            Some(&r.given_name),
        ]
    };
    let mut out = String::new();
    for p in parts.into_iter().flatten() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(p);
    }
    out
}

fn to_record(
    m: &Model,
    rng: &mut ChaCha8Rng,
    d: &Draft,
    source_id: String,
    [father, mother, spouse]: [Option<String>; 3],
    household: Option<HouseholdRef<'_>>,
) -> LegacyRecord {
    let given = m.given(d.sex).get(d.given);
    let family = m.family.get(d.family);
    let middle = d
        .middle
        .zip(m.middle_table(d.sex))
        .map(|(i, t)| t.names[i as usize % t.names.len()].clone());
    let date_of_birth = birth_date(m, rng, d.dob);
    let (household_id, relationship, area, address, since) = match household {
        Some(h) => {
            let since = d.since.filter(|s| *s != d.dob).and_then(|s| match h.since {
                Precision::Full => Some(PartialDate::from(s)),
                Precision::YearMonth => {
                    PartialDate::from_year_month(s.year(), s.month() as u8).ok()
                }
                Precision::Omitted => None,
            });
            (
                Some(h.id.to_owned()),
                Some(h.rel),
                Some(h.area.to_owned()),
                Some(h.address.to_owned()),
                since,
            )
        }
        None => (None, None, None, None, None),
    };
    LegacyRecord {
        source_id,
        pin: None,
        family_name: Some(family.national.clone()),
        middle_name: middle,
        given_name: given.national.clone(),
        family_name_latin: family.latin.clone(),
        middle_name_latin: None,
        given_name_latin: given.latin.clone(),
        sex: d.sex,
        date_of_birth,
        place_of_birth: m.places.code(d.birth).to_owned(),
        nationalities: Vec::new(),
        ethnicity: None,
        religion: None,
        father,
        mother,
        spouse,
        father_name: d.father_name.clone(),
        mother_name: d.mother_name.clone(),
        residence_area: area,
        residence_address: address,
        residence_since: since,
        household: household_id,
        relationship,
        status: d.death.map(|_| Status::Deceased),
        date_of_death: d.death.map(PartialDate::from),
    }
}

/// The date of birth as the source recorded it: sometimes only the year, or year and month.
fn birth_date(m: &Model, rng: &mut ChaCha8Rng, dob: NaiveDate) -> PartialDate {
    let full = PartialDate::from(dob);
    let Some(rule) = m
        .partial_birth_dates
        .iter()
        .find(|r| dob.year() < r.born_before)
    else {
        return full;
    };
    let u = rng.gen::<f64>();
    if u < rule.year_only {
        PartialDate::from_year(dob.year()).unwrap_or(full)
    } else if u < rule.year_only + rule.year_month {
        PartialDate::from_year_month(dob.year(), dob.month() as u8).unwrap_or(full)
    } else {
        full
    }
}

fn years_before(d: NaiveDate, years: u32) -> NaiveDate {
    d.checked_sub_months(Months::new(12 * years))
        .unwrap_or(NaiveDate::MIN)
}

fn years_after(d: NaiveDate, years: u32) -> NaiveDate {
    d.checked_add_months(Months::new(12 * years))
        .unwrap_or(NaiveDate::MAX)
}

/// `d` plus `years` (fractional) years, in days.
fn add_years(d: NaiveDate, years: f64) -> NaiveDate {
    let days = (years.max(0.0) * 365.25) as u64;
    d.checked_add_days(Days::new(days))
        .unwrap_or(NaiveDate::MAX)
}

fn gap_ok(parent: NaiveDate, child: NaiveDate, max: i64) -> bool {
    let gap = i64::from(age_in_completed_years(parent, child));
    (PARENT_MIN_GAP..=max).contains(&gap)
}

/// Builds one household into `drafts`.
struct Builder<'a> {
    m: &'a Model,
    rng: &'a mut ChaCha8Rng,
    drafts: &'a mut Vec<Draft>,
    as_of: NaiveDate,
}

/// Which parents a new child has: records (indices) or people who are not records (only
/// their dates of birth, for plausible ages).
#[derive(Clone, Copy, Default)]
struct Parents {
    father: Option<usize>,
    mother: Option<usize>,
    father_dob: Option<NaiveDate>,
    mother_dob: Option<NaiveDate>,
}

impl Builder<'_> {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen::<f64>() < p
    }

    fn opposite(sex: Sex) -> Sex {
        if sex == Sex::Male {
            Sex::Female
        } else {
            Sex::Male
        }
    }

    /// Approximately normal (Irwin–Hall with four terms): no transcendental functions, so the
    /// result is the same on every platform.
    fn normal(&mut self, g: Gap) -> f64 {
        let s: f64 = (0..4).map(|_| self.rng.gen::<f64>()).sum();
        g.mean + (s - 2.0) * 1.732_050_807_568_877_2 * g.sd
    }

    fn age(&self, dob: NaiveDate) -> u32 {
        u32::try_from(age_in_completed_years(dob, self.as_of)).unwrap_or(0)
    }

    /// A date of birth of someone `age` completed years old on `as_of`.
    fn dob_at_age(&mut self, age: u32) -> NaiveDate {
        let latest = years_before(self.as_of, age);
        let earliest = years_before(self.as_of, age + 1)
            .checked_add_days(Days::new(1))
            .unwrap_or(latest);
        let span = (latest - earliest).num_days().max(0);
        let offset = self.rng.gen_range(0..=span) as u64;
        earliest
            .checked_add_days(Days::new(offset))
            .unwrap_or(latest)
    }

    /// A uniform day in `from..=to` (`from` if the range is empty).
    fn day_between(&mut self, from: NaiveDate, to: NaiveDate) -> NaiveDate {
        let span = (to - from).num_days();
        if span <= 0 {
            return from;
        }
        let offset = self.rng.gen_range(0..=span) as u64;
        from.checked_add_days(Days::new(offset)).unwrap_or(from)
    }

    /// An age `gap` years (rounded) off `age`, within the ages a married person of `sex` can
    /// have.
    fn partner_age(&mut self, age: u32, older: bool, sex: Sex) -> u32 {
        let gap = self.normal(self.m.households.p.spouse_age_gap).round();
        let a = f64::from(age);
        let partner = if older { a + gap } else { a - gap };
        (partner.max(0.0) as u32).clamp(self.m.married_min(sex), MAX_AGE)
    }

    fn person(
        &mut self,
        sex: Sex,
        dob: NaiveDate,
        family: u32,
        rel: Option<Relationship>,
    ) -> usize {
        let given = self.m.given(sex).sample(self.rng);
        let middle = self
            .m
            .middle_table(sex)
            .map(|t| t.sample(self.rng, dob.year()));
        self.drafts.push(Draft {
            sex,
            dob,
            given,
            family,
            birth_family: family,
            middle,
            birth: Place {
                province: 0,
                leaf: 0,
            },
            rel,
            father: None,
            mother: None,
            spouse: None,
            father_name: None,
            mother_name: None,
            parent_names_done: false,
            since: None,
            death: None,
        });
        self.drafts.len() - 1
    }

    fn marry(&mut self, a: usize, b: usize) {
        self.drafts[a].spouse = Some(b);
        self.drafts[b].spouse = Some(a);
    }

    /// The children of `p` who live in the household: `count` children are born, the first
    /// when the mother is about `first_birth_age`, then one every `birth_interval` years (none
    /// after `as_of`, none when the mother is past [`MOTHER_MAX_GAP`], none while the father is
    /// under [`PARENT_MIN_GAP`] or past [`FATHER_MAX_GAP`]); a child of 18 or more still lives
    /// at home with a probability falling to zero at `max_child_age`. Eldest first (given
    /// names are made distinct for the whole household, see `distinct_given_names`).
    fn children(&mut self, count: usize, p: Parents, family: u32, rel: Relationship) -> Vec<usize> {
        let h = &self.m.households.p;
        let (first_birth, interval, max_age) =
            (h.first_birth_age, h.birth_interval, h.max_child_age);
        let mut out: Vec<usize> = Vec::with_capacity(count);
        let Some(mother_dob) = p.mother_dob else {
            return out;
        };
        let first = self
            .normal(first_birth)
            .clamp(PARENT_MIN_GAP as f64 + 0.1, MOTHER_MAX_GAP as f64 - 1.0);
        let mut born = add_years(mother_dob, first);
        for _ in 0..count {
            if born > self.as_of || !gap_ok(mother_dob, born, MOTHER_MAX_GAP) {
                break;
            }
            let father_ok = p.father_dob.is_none_or(|f| gap_ok(f, born, FATHER_MAX_GAP));
            let age = self.age(born);
            let at_home = age < 18
                || (age < max_age
                    && self.chance(f64::from(max_age - age) / f64::from(max_age - 17)));
            if father_ok && at_home {
                let sex = if self.chance(0.512) {
                    Sex::Male
                } else {
                    Sex::Female
                };
                let c = self.person(sex, born, family, Some(rel));
                self.drafts[c].father = p.father;
                self.drafts[c].mother = p.mother;
                out.push(c);
            }
            let gap = self.normal(interval).max(0.85);
            born = add_years(born, gap);
        }
        out
    }

    /// A full name in the national script for someone who is not a record.
    fn name_of(&mut self, sex: Sex, family: u32, birth_year: i32) -> String {
        let given = &self
            .m
            .given(sex)
            .get(self.m.given(sex).sample(self.rng))
            .national;
        let family = &self.m.family.get(family).national;
        match self.m.middle_table(sex) {
            Some(t) if !self.m.romanized => {
                let middle = &t.names[t.sample(self.rng, birth_year) as usize % t.names.len()];
                format!("{family} {middle} {given}")
            }
            _ if self.m.romanized => format!("{given} {family}"),
            _ => format!("{family} {given}"),
        }
    }

    /// Sometimes names the parents of `i` that are not records.
    fn parent_names(&mut self, i: usize) {
        if self.drafts[i].parent_names_done {
            return;
        }
        self.drafts[i].parent_names_done = true;
        let p = self.m.households.p.parent_names;
        let d = &self.drafts[i];
        let (family, year, no_father, no_mother) = (
            d.birth_family,
            d.dob.year() - 28,
            d.father.is_none(),
            d.mother.is_none(),
        );
        if no_father && self.chance(p) {
            self.drafts[i].father_name = Some(self.name_of(Sex::Male, family, year - 3));
        }
        if no_mother && self.chance(p) {
            let mother_family = if self.m.wife_takes_husband_family_name {
                family
            } else {
                self.m.family.sample(self.rng)
            };
            self.drafts[i].mother_name = Some(self.name_of(Sex::Female, mother_family, year));
        }
    }

    /// Builds a household: returns its home and how its `residence_since` dates are written;
    /// `address` receives its address line.
    fn household(&mut self, address: &mut String) -> (Place, Precision) {
        self.drafts.clear();
        let home = self.m.places.sample(self.rng);
        self.m.addresses.render(self.rng, address);
        let since = self.m.residence_since;
        let precision = match self.rng.gen::<f64>() {
            u if u < since.full => Precision::Full,
            u if u < since.full + since.year_month => Precision::YearMonth,
            _ => Precision::Omitted,
        };
        let h = &self.m.households.p;
        let u = self.rng.gen::<f64>();
        let alone = u < h.single_person;
        let head = if alone {
            self.single()
        } else if u < h.single_person + h.single_parent {
            self.single_parent()
        } else {
            self.couple()
        };
        if !alone {
            let (gf, gm) = self.grandparents(head);
            self.sibling(head, gf, gm);
        }
        self.distinct_given_names();
        for i in 0..self.drafts.len() {
            self.parent_names(i);
        }
        self.places_and_dates(head, home);
        (home, precision)
    }

    /// Members of one household of the same sex get distinct given names: parents in Laos and
    /// Vietnam do not give a child the given name of a parent, grandparent or sibling living
    /// with them. Drawn independently from a few dozen names, fathers and sons, and siblings,
    /// often shared one, which no register can tell from one person recorded twice with a
    /// wrong year (measured at 1M persons: two thirds of the false duplicate pairs).
    fn distinct_given_names(&mut self) {
        for i in 1..self.drafts.len() {
            for _ in 0..8 {
                let (sex, given) = (self.drafts[i].sex, self.drafts[i].given);
                if !self.drafts[..i]
                    .iter()
                    .any(|o| o.sex == sex && o.given == given)
                {
                    break;
                }
                self.drafts[i].given = self.m.given(sex).sample(self.rng);
            }
        }
    }

    fn single(&mut self) -> usize {
        let male = self.m.ages.male_head_share();
        let sex = if self.chance(male) {
            Sex::Male
        } else {
            Sex::Female
        };
        let age = self
            .m
            .ages
            .sample_head(self.rng, sex, 18, MAX_AGE)
            .unwrap_or(30);
        let dob = self.dob_at_age(age);
        let family = self.m.family.sample(self.rng);
        self.person(sex, dob, family, Some(Relationship::Head))
    }

    fn couple(&mut self) -> usize {
        let h = &self.m.households.p;
        let head_sex = if self.chance(h.male_head_of_couple) {
            Sex::Male
        } else {
            Sex::Female
        };
        let spouse_sex = Self::opposite(head_sex);
        let head_age = self
            .m
            .ages
            .sample_head(self.rng, head_sex, self.m.married_min(head_sex), MAX_AGE)
            .unwrap_or(35);
        // The husband is on average older.
        let spouse_age = self.partner_age(head_age, head_sex == Sex::Female, spouse_sex);
        let head_dob = self.dob_at_age(head_age);
        let spouse_dob = self.dob_at_age(spouse_age);
        let husband_family = self.m.family.sample(self.rng);
        let wife_birth_family = self.m.family.sample(self.rng);
        let wife_family = if self.m.wife_takes_husband_family_name {
            husband_family
        } else {
            wife_birth_family
        };
        let family_of = |sex: Sex| {
            if sex == Sex::Male {
                husband_family
            } else {
                wife_family
            }
        };
        let head = self.person(
            head_sex,
            head_dob,
            family_of(head_sex),
            Some(Relationship::Head),
        );
        let spouse = self.person(
            spouse_sex,
            spouse_dob,
            family_of(spouse_sex),
            Some(Relationship::Spouse),
        );
        let wife = if head_sex == Sex::Female {
            head
        } else {
            spouse
        };
        self.drafts[wife].birth_family = wife_birth_family;
        self.marry(head, spouse);
        let (father, mother) = if head_sex == Sex::Male {
            (head, spouse)
        } else {
            (spouse, head)
        };
        let count = self.m.households.couple_children.sample(self.rng);
        let parents = Parents {
            father: Some(father),
            mother: Some(mother),
            father_dob: Some(self.drafts[father].dob),
            mother_dob: Some(self.drafts[mother].dob),
        };
        let children = self.children(count, parents, husband_family, Relationship::Child);
        self.married_child(&children, parents, husband_family);
        head
    }

    fn single_parent(&mut self) -> usize {
        let h = &self.m.households.p;
        let head_sex = if self.chance(h.female_single_parent) {
            Sex::Female
        } else {
            Sex::Male
        };
        let other_sex = Self::opposite(head_sex);
        let head_age = self
            .m
            .ages
            .sample_head(self.rng, head_sex, 20, 75)
            .unwrap_or(35);
        let other_age = self.partner_age(head_age, head_sex == Sex::Female, other_sex);
        let head_dob = self.dob_at_age(head_age);
        let other_dob = self.dob_at_age(other_age);
        let head_family = self.m.family.sample(self.rng);
        let wife_takes = self.m.wife_takes_husband_family_name;
        // The absent parent's family name; the children's is the father's.
        let other_family = if wife_takes {
            head_family
        } else {
            self.m.family.sample(self.rng)
        };
        let head = self.person(head_sex, head_dob, head_family, Some(Relationship::Head));
        if head_sex == Sex::Female && wife_takes {
            self.drafts[head].birth_family = self.m.family.sample(self.rng);
        }
        let (children_family, parents) = if head_sex == Sex::Male {
            (
                head_family,
                Parents {
                    father: Some(head),
                    father_dob: Some(head_dob),
                    mother_dob: Some(other_dob),
                    ..Parents::default()
                },
            )
        } else {
            (
                other_family,
                Parents {
                    mother: Some(head),
                    mother_dob: Some(head_dob),
                    father_dob: Some(other_dob),
                    ..Parents::default()
                },
            )
        };
        let deceased_father = head_sex == Sex::Female && self.chance(h.deceased_father);
        let count = self.m.households.single_parent_children.sample(self.rng);
        let mut children = self.children(count, parents, children_family, Relationship::Child);
        if let Some(c) = self.married_child(&children, parents, children_family) {
            children.push(c);
        }
        let Some(youngest) = children.iter().map(|&c| self.drafts[c].dob).max() else {
            return head;
        };
        if deceased_father {
            let father = self.person(Sex::Male, other_dob, other_family, None);
            let death = self.day_between(youngest, self.as_of);
            self.drafts[father].death = Some(death);
            for &c in &children {
                self.drafts[c].father = Some(father);
            }
        } else {
            // The absent parent, named the same on every child's record, or on none.
            let name = if self.chance(h.parent_names) {
                Some(self.name_of(other_sex, other_family, other_dob.year()))
            } else {
                None
            };
            for &c in &children {
                let d = &mut self.drafts[c];
                if other_sex == Sex::Male {
                    d.father_name = name.clone();
                }
                if other_sex == Sex::Female {
                    d.mother_name = name.clone();
                }
                d.parent_names_done = true;
            }
        }
        head
    }

    /// Sometimes a married child lives in the household with their spouse and children: the
    /// eldest adult child at home of the preferred sex, else one who had left (an older
    /// child, generated here). Returns the child if it was generated here.
    fn married_child(&mut self, children: &[usize], p: Parents, family: u32) -> Option<usize> {
        let h = &self.m.households.p;
        if !self.chance(h.married_child) {
            return None;
        }
        let want = if self.chance(h.married_daughter) {
            Sex::Female
        } else {
            Sex::Male
        };
        let eligible = |b: &Self, c: usize| {
            let d = &b.drafts[c];
            d.sex == want && b.age(d.dob) >= b.m.married_min(d.sex)
        };
        let (child, created) = match children.iter().find(|&&c| eligible(self, c)) {
            Some(&c) => (c, None),
            None => {
                let c = self.adult_child(want, p, family)?;
                (c, Some(c))
            }
        };
        let child_sex = self.drafts[child].sex;
        let child_age = self.age(self.drafts[child].dob);
        let in_law_sex = Self::opposite(child_sex);
        let in_law_age = self.partner_age(child_age, child_sex == Sex::Female, in_law_sex);
        let in_law_dob = self.dob_at_age(in_law_age);
        let in_law_family = self.m.family.sample(self.rng);
        let in_law = self.person(
            in_law_sex,
            in_law_dob,
            in_law_family,
            Some(Relationship::OtherRelative),
        );
        if self.m.wife_takes_husband_family_name {
            if child_sex == Sex::Female {
                self.drafts[child].family = in_law_family;
            } else {
                self.drafts[in_law].family = self.drafts[child].family;
            }
        }
        self.marry(child, in_law);
        let (father, mother) = if child_sex == Sex::Male {
            (child, in_law)
        } else {
            (in_law, child)
        };
        let count = self.m.households.grandchildren.sample(self.rng);
        let parents = Parents {
            father: Some(father),
            mother: Some(mother),
            father_dob: Some(self.drafts[father].dob),
            mother_dob: Some(self.drafts[mother].dob),
        };
        let family = self.drafts[father].family;
        self.children(count, parents, family, Relationship::Grandchild);
        created
    }

    /// A child of `p` old enough to be married, of `sex`; `None` if the parents are too young.
    fn adult_child(&mut self, sex: Sex, p: Parents, family: u32) -> Option<usize> {
        let mother_dob = p.mother_dob?;
        let mother_age = i64::from(self.age(mother_dob));
        let mut lo = i64::from(self.m.married_min(sex)).max(mother_age - MOTHER_MAX_GAP);
        let mut hi = mother_age - 18;
        if let Some(f) = p.father_dob {
            let a = i64::from(self.age(f));
            lo = lo.max(a - FATHER_MAX_GAP);
            hi = hi.min(a - PARENT_MIN_GAP);
        }
        if lo > hi {
            return None;
        }
        for _ in 0..3 {
            let age = self.m.ages.sample(self.rng, sex, lo as u32, hi as u32)?;
            let dob = self.dob_at_age(age);
            let ok_m = gap_ok(mother_dob, dob, MOTHER_MAX_GAP);
            let ok_f = p.father_dob.is_none_or(|f| gap_ok(f, dob, FATHER_MAX_GAP));
            if ok_m && ok_f {
                let c = self.person(sex, dob, family, Some(Relationship::Child));
                self.drafts[c].father = p.father;
                self.drafts[c].mother = p.mother;
                return Some(c);
            }
        }
        None
    }

    /// Sometimes the head's father, mother or both live in the household.
    fn grandparents(&mut self, head: usize) -> (Option<usize>, Option<usize>) {
        let h = &self.m.households.p;
        if !self.chance(h.grandparents) {
            return (None, None);
        }
        let (want_father, want_mother) = if self.chance(h.grandparent_pair) {
            (true, true)
        } else if self.chance(0.3) {
            (true, false)
        } else {
            (false, true)
        };
        let head_dob = self.drafts[head].dob;
        let head_age = self.age(head_dob);
        let birth_family = self.drafts[head].birth_family;
        let parent = |b: &mut Self, sex: Sex, max_gap: i64| -> Option<NaiveDate> {
            let lo = head_age + PARENT_MIN_GAP as u32;
            let hi = head_age + max_gap as u32;
            for _ in 0..3 {
                let age = b.m.ages.sample(b.rng, sex, lo, hi)?;
                let dob = b.dob_at_age(age);
                if gap_ok(dob, head_dob, max_gap) {
                    return Some(dob);
                }
            }
            None
        };
        let father_dob = if want_father {
            parent(self, Sex::Male, FATHER_MAX_GAP)
        } else {
            None
        };
        let mother_dob = if want_mother {
            parent(self, Sex::Female, MOTHER_MAX_GAP)
        } else {
            None
        };
        let father = father_dob
            .map(|dob| self.person(Sex::Male, dob, birth_family, Some(Relationship::Parent)));
        let mother = mother_dob.map(|dob| {
            let (family, own) = if self.m.wife_takes_husband_family_name {
                (birth_family, self.m.family.sample(self.rng))
            } else {
                let own = self.m.family.sample(self.rng);
                (own, own)
            };
            let i = self.person(Sex::Female, dob, family, Some(Relationship::Parent));
            self.drafts[i].birth_family = own;
            i
        });
        if let (Some(f), Some(m)) = (father, mother) {
            self.marry(f, m);
        }
        self.drafts[head].father = father;
        self.drafts[head].mother = mother;
        (father, mother)
    }

    /// Sometimes a sibling of the head (unmarried) lives in the household.
    fn sibling(&mut self, head: usize, father: Option<usize>, mother: Option<usize>) {
        if !self.chance(self.m.households.p.sibling) {
            return;
        }
        let sex = if self.chance(0.5) {
            Sex::Male
        } else {
            Sex::Female
        };
        let head_age = self.age(self.drafts[head].dob);
        let lo = head_age.saturating_sub(12).max(12);
        let hi = (head_age + 12).min(MAX_AGE);
        let father_dob = father.map(|f| self.drafts[f].dob);
        let mother_dob = mother.map(|m| self.drafts[m].dob);
        let mut dob = None;
        for _ in 0..3 {
            let Some(age) = self.m.ages.sample(self.rng, sex, lo, hi) else {
                return;
            };
            let d = self.dob_at_age(age);
            let head_dob = self.drafts[head].dob;
            let apart = (d - head_dob).num_days().abs() >= SIBLING_MIN_DAYS;
            let ok_f = father_dob.is_none_or(|f| gap_ok(f, d, FATHER_MAX_GAP));
            let ok_m = mother_dob.is_none_or(|m| gap_ok(m, d, MOTHER_MAX_GAP));
            if apart && ok_f && ok_m {
                dob = Some(d);
                break;
            }
        }
        let Some(dob) = dob else {
            return;
        };
        // Same parents: the same names where they are not records.
        self.parent_names(head);
        let family = self.drafts[head].birth_family;
        let s = self.person(sex, dob, family, Some(Relationship::Sibling));
        let (father_name, mother_name) = (
            self.drafts[head].father_name.clone(),
            self.drafts[head].mother_name.clone(),
        );
        let d = &mut self.drafts[s];
        d.father = father;
        d.mother = mother;
        d.father_name = father_name;
        d.mother_name = mother_name;
        d.parent_names_done = true;
    }

    /// Places of birth and `residence_since` dates, given when the household moved in.
    fn places_and_dates(&mut self, head: usize, home: Place) {
        let as_of = self.as_of;
        let head_dob = self.drafts[head].dob;
        let from = years_after(head_dob, 18)
            .max(years_before(as_of, MAX_RESIDENCE_YEARS))
            .min(as_of);
        let moved_in = self.day_between(from, as_of);
        let elsewhere = self.m.places.born_elsewhere;
        for i in 0..self.drafts.len() {
            let (dob, rel) = (self.drafts[i].dob, self.drafts[i].rel);
            let born_here = matches!(
                rel,
                Some(Relationship::Child | Relationship::Grandchild | Relationship::Sibling)
            );
            let since = match rel {
                None => None,
                Some(Relationship::Head) => Some(moved_in),
                Some(Relationship::Parent) => Some(self.day_between(moved_in, as_of)),
                Some(_) if born_here => Some(moved_in.max(dob)),
                Some(_) => Some(moved_in.max(years_after(dob, 18)).min(as_of)),
            };
            let birth = if born_here && dob >= moved_in {
                if self.chance(0.7) {
                    home
                } else {
                    self.m.places.within(self.rng, home.province)
                }
            } else {
                let p = if born_here {
                    elsewhere / 2.0
                } else {
                    elsewhere
                };
                if self.chance(p) {
                    self.m.places.other_province(self.rng, home.province)
                } else {
                    self.m.places.within(self.rng, home.province)
                }
            };
            let d = &mut self.drafts[i];
            d.since = since.map(|s| s.max(dob).min(as_of));
            d.birth = birth;
        }
    }
}
