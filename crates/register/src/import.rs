//! Migration from legacy registers, in bulk, through the same write path as every other change.
//!
//! An import runs in two passes over the source (the caller streams it; nothing here holds more
//! than one batch):
//! 1. [`Register::reserve_import_keys`] assigns each valid record its PIN (a kept one, checked,
//!    or a fresh draw) and each source household its number, and records them by source id.
//!    Records can then refer to records further down the file, and a re-run finds the same keys.
//! 2. [`Register::import_batch`] turns each record into one `record_imported` event, checked by
//!    the same rules as a single registration, and commits the batch in one transaction: events,
//!    Merkle nodes, projections and access records together, or nothing. A record whose parent is
//!    not imported yet is handed back as deferred; the caller offers it again later.
//!
//! A record already imported (a re-run after a crash) is skipped, so an import is idempotent and
//! resumable. Each refused record comes back with a stable code and a reason.
use crate::auth::{Permission, RequestContext};
use crate::dedup::{ScoredCandidate, IMPORT_CHECKED, INITIAL_MODEL};
use crate::service::{decode_household, json, Register, MAX_ATTEMPTS};
use crate::{RegisterError, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};
use thabian_model::event::{Event, EventPayload, HeldRegistration, LegalBasis, EVENT_SCHEMA};
use thabian_model::legacy::{LegacyError, LegacyRecord, Resolved};
use thabian_model::linkage::{MatchRecord, Verdict};
use thabian_model::person::{Household, Person};
use thabian_model::pin::Pin;
use thabian_model::rules::{self, RuleContext};
use thabian_store::{
    AccessRecord, ImportKey, Versioned, WriteBatch, IMPORT_HOUSEHOLD, IMPORT_PERSON,
};

/// One record of the source, with where it came from.
#[derive(Debug, Clone)]
pub struct SourceLine {
    /// 1-based line (NDJSON) or row (CSV) number, for the error report.
    pub number: u64,
    pub record: LegacyRecord,
}

/// A record that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub source_id: String,
    /// Stable code (a legacy-format code, a rule's code, or an import code).
    pub code: String,
    pub message: String,
}

/// What became of one batch.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub imported: u64,
    /// Already in the register from an earlier run.
    pub already_imported: u64,
    /// Line numbers of records waiting for a parent that is not imported yet.
    pub deferred: Vec<u64>,
    pub rejected: Vec<Rejection>,
    /// Line numbers skipped because pass 1 already reported them.
    pub skipped: u64,
    /// Records held as likely duplicates of registered persons: not registered, each waiting
    /// in its review case.
    pub held: Vec<HeldRecord>,
    /// Records held by an earlier run (their case exists already).
    pub already_held: u64,
}

/// A record held for duplicate review instead of imported.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldRecord {
    pub line: u64,
    pub source_id: String,
    pub case: String,
    /// The best candidate's probability of being the same person.
    pub probability: f64,
}

/// The review case of a held import record: one per source id, so a re-run finds it.
pub fn held_case_id(source_id: &str) -> String {
    format!(
        "held-import-{}",
        &hex::encode(Sha256::digest(source_id.as_bytes()))[..32]
    )
}

/// What a prepared batch creates, handed to the preparation of the next batch so that it can
/// run while this one commits (the register does not have these rows yet).
#[derive(Debug, Default)]
pub struct Carry {
    persons: HashMap<Pin, Person>,
    households: HashMap<String, Household>,
}

/// A batch checked and turned into its write batch, not committed yet.
pub struct PreparedImport {
    pub report: BatchReport,
    pub commit: PendingCommit,
    pub carry: Carry,
}

/// The write of one prepared batch: owns what it needs, so it can run on another task.
pub struct PendingCommit {
    store: thabian_store::DynStore,
    feed_notify: std::sync::Arc<tokio::sync::Notify>,
    batch: Option<WriteBatch>,
}

impl PendingCommit {
    /// Commits the batch in one transaction (events, Merkle nodes, projections, access records).
    pub async fn commit(self) -> Result<()> {
        if let Some(batch) = self.batch {
            let started = std::time::Instant::now();
            let events = batch.events.len();
            self.store.commit(batch).await?;
            self.feed_notify.notify_waiters();
            tracing::debug!(
                events,
                ms = started.elapsed().as_millis() as u64,
                "import batch committed"
            );
        }
        Ok(())
    }
}

/// The legal basis and office of a whole import.
#[derive(Debug, Clone)]
pub struct ImportSettings {
    pub legal_basis: LegalBasis,
    /// The registering office; the official's office when absent.
    pub office: Option<String>,
    /// In the last round, a record still waiting for a parent is refused instead of deferred.
    pub settle: bool,
    /// Check each record against the register before it gets its PIN, and hold likely
    /// duplicates for review (only once a linkage model has been estimated: EM's starting
    /// values are not calibrated on this register).
    pub check_duplicates: bool,
}

/// A source record (or household) waiting for a freshly drawn key.
struct Fresh<'a> {
    source_id: String,
    digest: String,
    /// The record, for persons (its PIN draw depends on it and it is refused if that fails).
    line: Option<&'a SourceLine>,
}

fn digest(record: &LegacyRecord) -> Result<String> {
    Ok(hex::encode(Sha256::digest(json(record)?.as_bytes())))
}

fn reject(line: &SourceLine, code: &str, message: impl Into<String>) -> Rejection {
    Rejection {
        line: line.number,
        source_id: line.record.source_id.clone(),
        code: code.to_owned(),
        message: message.into(),
    }
}

fn from_legacy(line: &SourceLine, e: LegacyError) -> Rejection {
    reject(line, e.code, e.message)
}

impl Register {
    /// Checks a record on its own (form, names, dates, areas): what pass 1 reports.
    pub fn check_legacy(&self, record: &LegacyRecord) -> std::result::Result<(), LegacyError> {
        record.check(&self.profile, &self.areas, self.now().date_naive())
    }

    /// Pass 1: reserves a PIN for every record in `lines` that passes [`Register::check_legacy`]
    /// and a number for every source household they name. Returns the records refused (each
    /// once: pass 2 skips them silently).
    pub async fn reserve_import_keys(
        &self,
        ctx: &RequestContext,
        lines: &[SourceLine],
    ) -> Result<Vec<Rejection>> {
        ctx.principal.require(Permission::RegisterSensitiveEvent)?;
        let started = std::time::Instant::now();
        let mut rejected = Vec::new();
        let mut valid = Vec::with_capacity(lines.len());
        for line in lines {
            match self.check_legacy(&line.record) {
                Ok(()) => valid.push((line, digest(&line.record)?)),
                Err(e) => rejected.push(from_legacy(line, e)),
            }
        }
        let ids: Vec<String> = valid
            .iter()
            .map(|(l, _)| l.record.source_id.clone())
            .collect();
        let known: HashMap<String, ImportKey> = self
            .store
            .import_keys(IMPORT_PERSON, &ids)
            .await?
            .into_iter()
            .map(|k| (k.source_id.clone(), k))
            .collect();

        // Records with a kept PIN: it must be free, or already theirs.
        let mut wanted: Vec<(&SourceLine, String)> = Vec::new();
        let mut fresh: Vec<(&SourceLine, String)> = Vec::new();
        let mut in_batch: HashSet<&str> = HashSet::new();
        for (line, d) in valid {
            if let Some(k) = known.get(&line.record.source_id) {
                if k.digest != d {
                    rejected.push(reject(
                        line,
                        "source-id-reused",
                        format!(
                            "source id {} was already imported for a different record (PIN {})",
                            line.record.source_id, k.value
                        ),
                    ));
                }
                continue;
            }
            if !in_batch.insert(line.record.source_id.as_str()) {
                // Same source id twice in one batch: the first one wins, as across batches.
                continue;
            }
            match &line.record.pin {
                Some(_) => wanted.push((line, d)),
                None => fresh.push((line, d)),
            }
        }
        let kept: Vec<String> = wanted
            .iter()
            .filter_map(|(l, _)| l.record.pin.clone())
            .collect();
        let taken: HashSet<String> = self
            .store
            .taken(IMPORT_PERSON, &kept)
            .await?
            .into_iter()
            .collect();
        let mut keys = Vec::new();
        let mut seen_pins = HashSet::new();
        for (line, d) in &wanted {
            let Some(pin) = &line.record.pin else {
                continue;
            };
            if taken.contains(pin) || !seen_pins.insert(pin.clone()) {
                rejected.push(reject(
                    line,
                    "pin-taken",
                    format!("PIN {pin} is already issued to another person"),
                ));
            } else {
                keys.push(ImportKey {
                    source_id: line.record.source_id.clone(),
                    value: pin.clone(),
                    digest: d.clone(),
                });
            }
        }
        self.store.reserve_import_keys(IMPORT_PERSON, &keys).await?;
        self.check_reserved(&keys, &mut rejected, &wanted).await?;

        // Fresh PINs.
        let fresh: Vec<Fresh> = fresh
            .into_iter()
            .map(|(line, digest)| Fresh {
                source_id: line.record.source_id.clone(),
                digest,
                line: Some(line),
            })
            .collect();
        self.reserve_fresh(IMPORT_PERSON, fresh, &mut rejected, |f| {
            let Some(line) = f.line else {
                return Err(None);
            };
            let r = &line.record;
            self.draw_pin(&r.place_of_birth, r.sex, r.date_of_birth.year())
                .map(Pin::into_string)
                .map_err(|e| Some(reject(line, e.code(), e.to_string())))
        })
        .await?;

        // Households: one number per source household, shared by its members.
        let households: BTreeSet<String> = lines
            .iter()
            .filter_map(|l| l.record.household.clone())
            .collect();
        let households: Vec<String> = households.into_iter().collect();
        let known = self.known_source_ids(IMPORT_HOUSEHOLD, &households).await?;
        let missing: Vec<Fresh> = households
            .into_iter()
            .filter(|h| !known.contains(h))
            .map(|source_id| Fresh {
                source_id,
                digest: String::new(),
                line: None,
            })
            .collect();
        self.reserve_fresh(IMPORT_HOUSEHOLD, missing, &mut rejected, |_| {
            Ok(Self::new_household_id())
        })
        .await?;
        rejected.sort_by_key(|r| r.line);
        tracing::debug!(
            records = lines.len(),
            ms = started.elapsed().as_millis() as u64,
            "import keys reserved"
        );
        Ok(rejected)
    }

    /// The source ids among `ids` that hold a key of `kind`.
    async fn known_source_ids(&self, kind: &str, ids: &[String]) -> Result<HashSet<String>> {
        Ok(self
            .store
            .import_keys(kind, ids)
            .await?
            .into_iter()
            .map(|k| k.source_id)
            .collect())
    }

    /// Gives each pending source id a freshly drawn key: draws, drops the draws already issued
    /// or reserved, reserves the rest, reads back which source ids hold a key now (a concurrent
    /// import may have won a race for a value) and draws again for the others. A draw that
    /// fails refuses its record (`Err(Some(..))`) or is skipped (`Err(None)`).
    async fn reserve_fresh<'a>(
        &self,
        kind: &str,
        mut pending: Vec<Fresh<'a>>,
        rejected: &mut Vec<Rejection>,
        mut draw: impl FnMut(&Fresh<'a>) -> std::result::Result<String, Option<Rejection>>,
    ) -> Result<()> {
        for _ in 0..MAX_ATTEMPTS {
            if pending.is_empty() {
                return Ok(());
            }
            let mut draws = Vec::with_capacity(pending.len());
            let mut kept = Vec::with_capacity(pending.len());
            for f in pending {
                match draw(&f) {
                    Ok(value) => {
                        draws.push(value);
                        kept.push(f);
                    }
                    Err(refusal) => rejected.extend(refusal),
                }
            }
            pending = kept;
            let taken: HashSet<String> =
                self.store.taken(kind, &draws).await?.into_iter().collect();
            let mut unique = HashSet::new();
            let keys: Vec<ImportKey> = pending
                .iter()
                .zip(&draws)
                .filter(|(_, value)| !taken.contains(*value) && unique.insert(value.as_str()))
                .map(|(f, value)| ImportKey {
                    source_id: f.source_id.clone(),
                    value: value.clone(),
                    digest: f.digest.clone(),
                })
                .collect();
            self.store.reserve_import_keys(kind, &keys).await?;
            let ids: Vec<String> = pending.iter().map(|f| f.source_id.clone()).collect();
            let known = self.known_source_ids(kind, &ids).await?;
            pending.retain(|f| !known.contains(&f.source_id));
        }
        if pending.is_empty() {
            Ok(())
        } else {
            Err(RegisterError::Contention)
        }
    }

    /// A kept PIN can lose a race with a birth or another import between the check and the
    /// reservation: such a record is refused rather than given someone else's PIN.
    async fn check_reserved(
        &self,
        keys: &[ImportKey],
        rejected: &mut Vec<Rejection>,
        wanted: &[(&SourceLine, String)],
    ) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = keys.iter().map(|k| k.source_id.clone()).collect();
        let got: HashMap<String, String> = self
            .store
            .import_keys(IMPORT_PERSON, &ids)
            .await?
            .into_iter()
            .map(|k| (k.source_id, k.value))
            .collect();
        for k in keys {
            if got.get(&k.source_id) != Some(&k.value) {
                if let Some((line, _)) = wanted
                    .iter()
                    .find(|(l, _)| l.record.source_id == k.source_id)
                {
                    rejected.push(reject(
                        line,
                        "pin-taken",
                        format!("PIN {} is already issued to another person", k.value),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Pass 2: imports a batch of records (in order) in one transaction.
    pub async fn import_batch(
        &self,
        ctx: &RequestContext,
        settings: &ImportSettings,
        lines: &[SourceLine],
    ) -> Result<BatchReport> {
        let prepared = self
            .prepare_import(ctx, settings, lines, Carry::default())
            .await?;
        prepared.commit.commit().await?;
        Ok(prepared.report)
    }

    /// Pass 2 in two steps: checks a batch and builds its write batch without committing it.
    /// `carry` is what the previous batch created, when that batch is still being committed;
    /// commit that batch before this one's [`PendingCommit::commit`].
    pub async fn prepare_import(
        &self,
        ctx: &RequestContext,
        settings: &ImportSettings,
        lines: &[SourceLine],
        carry: Carry,
    ) -> Result<PreparedImport> {
        ctx.principal.require(Permission::RegisterSensitiveEvent)?;
        let started = std::time::Instant::now();
        let now = self.now();
        let today = now.date_naive();
        let mut report = BatchReport::default();

        let mut checked = Vec::with_capacity(lines.len());
        for line in lines {
            if line
                .record
                .check(&self.profile, &self.areas, today)
                .is_err()
            {
                report.skipped += 1;
            } else {
                checked.push((line, digest(&line.record)?));
            }
        }
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for (line, _) in &checked {
            ids.insert(line.record.source_id.clone());
            ids.extend(line.record.references().map(|(_, id)| id.to_owned()));
        }
        let ids: Vec<String> = ids.into_iter().collect();
        let keys: HashMap<String, ImportKey> = self
            .store
            .import_keys(IMPORT_PERSON, &ids)
            .await?
            .into_iter()
            .map(|k| (k.source_id.clone(), k))
            .collect();
        let household_ids: Vec<String> = checked
            .iter()
            .filter_map(|(l, _)| l.record.household.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let household_keys: HashMap<String, String> = self
            .store
            .import_keys(IMPORT_HOUSEHOLD, &household_ids)
            .await?
            .into_iter()
            .map(|k| (k.source_id, k.value))
            .collect();

        // Everyone the batch creates or refers to, as the register has them now.
        let pins: Vec<Pin> = keys
            .values()
            .map(|k| Pin::from_trusted(k.value.clone()))
            .collect();
        let mut persons: HashMap<Pin, Person> = self.load_persons(&pins).await?;
        persons.extend(carry.persons);
        let existing: HashSet<Pin> = persons.keys().cloned().collect();
        let mut households: HashMap<String, Household> = HashMap::new();
        let mut household_versions: HashMap<String, u64> = HashMap::new();
        let numbers: Vec<String> = household_keys.values().cloned().collect();
        for row in self.store.households(&numbers).await? {
            let h = decode_household(&row)?;
            household_versions.insert(row.id.clone(), h.version);
            households.insert(row.id, h);
        }
        for (number, h) in carry.households {
            household_versions.insert(number.clone(), h.version);
            households.insert(number, h);
        }

        let office = settings
            .office
            .clone()
            .unwrap_or_else(|| ctx.principal.office.clone());
        let (to_hold, already_held) = self
            .import_duplicates(settings, &checked, &keys, &existing)
            .await?;
        let mut cases = Vec::new();
        let mut events = Vec::new();
        let mut person_writes = Vec::new();
        let mut access = Vec::new();
        let mut touched_households: BTreeSet<String> = BTreeSet::new();
        let mut created: Vec<Pin> = Vec::new();

        // Records whose parent comes later in the same batch are offered again once it is in,
        // sweep after sweep; only what waits for a later batch is handed back.
        let mut pending = checked;
        let mut waiting_for_parent: Vec<(&SourceLine, String, String)> = Vec::new();
        loop {
            let imported_before = report.imported;
            for (line, d) in pending {
                let r = &line.record;
                let Some(own) = keys.get(&r.source_id).filter(|k| k.digest == d) else {
                    // Refused in pass 1 (or never reserved): reported there.
                    report.skipped += 1;
                    continue;
                };
                let pin = Pin::from_trusted(own.value.clone());
                if existing.contains(&pin) {
                    report.already_imported += 1;
                    continue;
                }
                if persons.contains_key(&pin) {
                    // The same source id twice in this batch.
                    report.already_imported += 1;
                    continue;
                }
                if already_held.contains(&r.source_id) {
                    report.already_held += 1;
                    continue;
                }
                let mut resolved = Resolved {
                    pin: Some(pin.clone()),
                    ..Resolved::default()
                };
                let mut waiting = None;
                let mut unresolved = None;
                for (field, target) in r.references() {
                    let Some(k) = keys.get(target) else {
                        unresolved = Some(format!(
                        "{field}: no record with source id {target} was accepted in this import"
                    ));
                        break;
                    };
                    let target_pin = Pin::from_trusted(k.value.clone());
                    if field != "spouse" && !persons.contains_key(&target_pin) {
                        waiting = Some(format!(
                            "{field}: the record with source id {target} was not imported"
                        ));
                        if settings.settle {
                            let case = held_case_id(target);
                            if self.store.review_case(&case).await?.is_some() {
                                waiting = Some(format!(
                                    "{field}: the record with source id {target} is held for \
                                     duplicate review in case {case}"
                                ));
                            }
                        }
                    }
                    match field {
                        "father" => resolved.father = Some(target_pin),
                        "mother" => resolved.mother = Some(target_pin),
                        _ => resolved.spouse = Some(target_pin),
                    }
                }
                if let Some(message) = unresolved {
                    report
                        .rejected
                        .push(reject(line, "unresolved-reference", message));
                    continue;
                }
                if let Some(message) = waiting {
                    waiting_for_parent.push((line, d, message));
                    continue;
                }
                if let Some(h) = &r.household {
                    match household_keys.get(h) {
                        Some(number) => resolved.household = Some(number.clone()),
                        None => {
                            report.rejected.push(reject(
                                line,
                                "unresolved-reference",
                                format!("household {h} has no number reserved"),
                            ));
                            continue;
                        }
                    }
                }
                let record = match r.to_imported(&self.profile, &resolved) {
                    Ok(record) => record,
                    Err(e) => {
                        report.rejected.push(from_legacy(line, e));
                        continue;
                    }
                };
                let event = Event {
                    schema: EVENT_SCHEMA,
                    id: uuid::Uuid::now_v7().to_string(),
                    seq: u64::MAX,
                    // The record describes the person since birth: later events fold after it.
                    effective: record.particulars.date_of_birth,
                    recorded_at: String::new(),
                    office: office.clone(),
                    actor: ctx.principal.official_id.clone(),
                    legal_basis: settings.legal_basis.clone(),
                    idempotency_key: None,
                    payload: EventPayload::RecordImported(record),
                };
                if let Err(e) = self.authorize_change(&ctx.principal, &event, &persons, &households)
                {
                    report.rejected.push(reject(line, e.code(), e.to_string()));
                    continue;
                }
                let rule_context = RuleContext {
                    today,
                    profile: &self.profile,
                    areas: &self.areas,
                    persons: &persons,
                    households: &households,
                };
                if let Err(v) = rules::check(&event, &rule_context) {
                    report
                        .rejected
                        .push(reject(line, v.code, v.message.clone()));
                    continue;
                }
                if let Some(found) = to_hold.get(&r.source_id) {
                    let EventPayload::RecordImported(record) = event.payload else {
                        return Err(RegisterError::Internal("an import event changed".into()));
                    };
                    let held = self.held_case(
                        ctx,
                        HeldRegistration::Import {
                            source_id: r.source_id.clone(),
                            record,
                        },
                        found,
                        &office,
                        &settings.legal_basis,
                        held_case_id(&r.source_id),
                        now,
                    )?;
                    access.push(AccessRecord {
                        event_seq: Some(events.len() as u64),
                        ..self.access_record(
                            ctx,
                            None,
                            "change",
                            Some(format!("duplicate_held {}", held.case.id)),
                        )
                    });
                    events.push(self.new_event(&held.event, Vec::new(), held.area_path.clone())?);
                    cases.push(Versioned {
                        row: self.case_row(&held.case, &held.area_path)?,
                        expected_version: None,
                    });
                    report.held.push(HeldRecord {
                        line: line.number,
                        source_id: r.source_id.clone(),
                        case: held.case.id,
                        probability: found.first().map_or(0.0, |c| c.probability),
                    });
                    continue;
                }
                let Some(person) = Person::fold(&pin, std::iter::once(&event)) else {
                    return Err(RegisterError::Internal(format!(
                        "an import event does not create {pin}"
                    )));
                };
                let mut areas: BTreeSet<String> = self.person_paths(&person).into_iter().collect();
                if let Some(number) = event.payload.household() {
                    let current = households.remove(number);
                    if let Some(h) = Household::apply(current, number, &event) {
                        areas.insert(self.area_path(&h.area));
                        touched_households.insert(number.to_owned());
                        households.insert(number.to_owned(), h);
                    }
                }
                access.push(AccessRecord {
                    event_seq: Some(events.len() as u64),
                    ..self.access_record(
                        ctx,
                        Some(pin.as_str()),
                        "change",
                        Some("record_imported".into()),
                    )
                });
                events.push(self.new_event(
                    &event,
                    vec![pin.to_string()],
                    areas.into_iter().collect::<Vec<_>>().join(" "),
                )?);
                person_writes.push(Versioned {
                    row: self.person_row(&person)?,
                    expected_version: None,
                });
                created.push(pin.clone());
                persons.insert(pin, person);
                report.imported += 1;
            }
            let waiting = std::mem::take(&mut waiting_for_parent);
            if waiting.is_empty() || report.imported == imported_before {
                for (line, _, message) in waiting {
                    if settings.settle {
                        report
                            .rejected
                            .push(reject(line, "unresolved-reference", message));
                    } else {
                        report.deferred.push(line.number);
                    }
                }
                break;
            }
            pending = waiting.into_iter().map(|(line, d, _)| (line, d)).collect();
        }
        let mut next = Carry::default();
        let mut household_writes = Vec::new();
        for number in touched_households {
            if let Some(h) = households.remove(&number) {
                household_writes.push(Versioned {
                    row: self.household_row(&h)?,
                    expected_version: household_versions.get(&number).copied(),
                });
                next.households.insert(number, h);
            }
        }
        for pin in created {
            if let Some(p) = persons.remove(&pin) {
                next.persons.insert(pin, p);
            }
        }
        tracing::debug!(
            records = lines.len(),
            ms = started.elapsed().as_millis() as u64,
            "import batch prepared"
        );
        let batch = (!events.is_empty()).then_some(WriteBatch {
            now,
            events,
            persons: person_writes,
            households: household_writes,
            cases,
            access,
            idempotency: None,
            biometrics: Vec::new(),
        });
        Ok(PreparedImport {
            report,
            commit: PendingCommit {
                store: self.store.clone(),
                feed_notify: self.feed_notify.clone(),
                batch,
            },
            carry: next,
        })
    }

    /// The batch's records held by an earlier run (whatever the model says now: a held record
    /// waits for its decision), and, when checks are on, those that are likely duplicates of
    /// registered persons, with their candidates. Nothing is checked before a linkage model
    /// has been estimated: EM's starting values are not calibrated on this register.
    async fn import_duplicates(
        &self,
        settings: &ImportSettings,
        checked: &[(&SourceLine, String)],
        keys: &HashMap<String, ImportKey>,
        existing: &HashSet<Pin>,
    ) -> Result<(HashMap<String, Vec<ScoredCandidate>>, HashSet<String>)> {
        let mut to_hold = HashMap::new();
        let new: Vec<(&SourceLine, Pin)> = checked
            .iter()
            .filter_map(|(line, d)| {
                let own = keys
                    .get(&line.record.source_id)
                    .filter(|k| &k.digest == d)?;
                let pin = Pin::from_trusted(own.value.clone());
                (!existing.contains(&pin)).then_some((*line, pin))
            })
            .collect();
        let case_ids: HashMap<String, &str> = new
            .iter()
            .map(|(l, _)| {
                (
                    held_case_id(&l.record.source_id),
                    l.record.source_id.as_str(),
                )
            })
            .collect();
        let wanted: Vec<String> = case_ids.keys().cloned().collect();
        let already: HashSet<String> = self
            .store
            .existing_review_cases(&wanted)
            .await?
            .iter()
            .filter_map(|id| case_ids.get(id).map(|s| (*s).to_owned()))
            .collect();
        if !settings.check_duplicates || self.linkage_model().await?.id == INITIAL_MODEL {
            return Ok((to_hold, already));
        }
        let mut ids = Vec::new();
        let mut records = Vec::new();
        for (line, pin) in new {
            let r = &line.record;
            if already.contains(&r.source_id) {
                continue;
            }
            let mut resolved = Resolved {
                pin: Some(pin),
                ..Resolved::default()
            };
            for (field, target) in r.references() {
                let target = keys.get(target).map(|k| Pin::from_trusted(k.value.clone()));
                match field {
                    "father" => resolved.father = target,
                    "mother" => resolved.mother = target,
                    _ => {}
                }
            }
            // A record that does not convert is refused by the import itself.
            if let Ok(record) = r.to_imported(&self.profile, &resolved) {
                records.push(MatchRecord::from_particulars(
                    &record.particulars,
                    record.permanent_residence.as_ref(),
                ));
                ids.push(r.source_id.clone());
            }
        }
        let found = self
            .duplicate_candidates_many(&records, IMPORT_CHECKED)
            .await?;
        for (id, found) in ids.into_iter().zip(found) {
            if found.iter().any(|c| c.verdict == Verdict::Likely) {
                to_hold.insert(id, found);
            }
        }
        Ok((to_hold, already))
    }
}
