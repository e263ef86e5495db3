//! Finding people: ranked fuzzy search, duplicate checks on new records, the review queue,
//! merges, and the whole-register duplicate pass.
//!
//! Candidates come from the blocking-key index (`person_keys`, written with every person row in
//! the commit transaction, so every node sees the index the register itself sees). They are
//! scored by the Fellegi–Sunter model of `thabian_model::linkage`, whose m and u probabilities
//! are estimated from the register by EM ([`Register::train_linkage`]) and stored in the database.
use crate::auth::{Permission, RequestContext};
use crate::service::{decode_person, json, Register};
use crate::{RegisterError, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thabian_model::event::{
    DuplicateCandidate, Event, EventPayload, HeldRegistration, LegalBasis, ReviewDecision,
    EVENT_SCHEMA,
};
use thabian_model::linkage::{
    compare, Comparison, Coverage, FieldExplanation, LinkageModel, MatchRecord, SearchQuery,
    Thresholds, Verdict, VOCABULARY_KEYS,
};
use thabian_model::person::Person;
use thabian_model::pin::Pin;
use thabian_model::vocabulary::NameVocabulary;
use thabian_store::{
    format_time, AccessRecord, CaseRow, LinkageModelRow, NewEvent, PersonRow, RankedCandidates,
    Versioned, WriteBatch,
};

/// Postings read per specific key (a pair of name tokens and a year) and candidates scored
/// from them at most: a search reads the specific keys first and the broad ones only when
/// those do not fill its page (see [`thabian_model::linkage::SearchQuery::search_plan`]).
pub const SPECIFIC_PER_KEY: u32 = 500;
pub const MAX_SPECIFIC_KEYS: usize = 96;
pub const MAX_SPECIFIC_CANDIDATES: u32 = 200;
/// How long a node keeps its name vocabulary before reading it again (in the background:
/// searches go on with the one it has). A name registered since is found as spelt, and its
/// misspellings through the broad keys, until then.
const VOCABULARY_REFRESH: Duration = Duration::from_secs(300);
/// Tokens read per kind of key at most.
const VOCABULARY_MAX: u32 = 2_000_000;
/// Postings one search reads at most, shared among its keys: a query with few keys reads
/// deeper into each ([`SEARCH_PER_KEY`] at most), one with many keys less deep
/// ([`SEARCH_MIN_PER_KEY`] at least). Bounds the work of a search whatever its keys' frequency.
pub const SEARCH_POSTINGS: u32 = 6_000;
pub const SEARCH_PER_KEY: u32 = 1_000;
pub const SEARCH_MIN_PER_KEY: u32 = 100;
/// Keys one search looks up at most (the query's year first, the farthest years of a wide
/// window last): a window of ±10 years times many name tokens would make hundreds.
pub const MAX_SEARCH_KEYS: usize = 64;
/// Postings read per key and keys looked up by a duplicate check.
pub const CHECK_PER_KEY: u32 = 300;
pub const MAX_CHECK_KEYS: usize = 32;
/// Candidates a search scores from its broad keys at most: those with the most specific
/// evidence first (see [`thabian_store::Store::ranked_candidates`]). Only their compact match
/// records are read; each is a B-tree descent, what a search costs most (measured at 1M
/// persons: from 500 to 150 candidates, about twice the searches per second; the original of
/// a duplicate searched by its full date as written in the top 10 for 97.8 % instead of 99.1 %).
pub const MAX_CANDIDATES: u32 = 150;
/// Candidates scored per duplicate check at most.
pub const MAX_CHECKED: u32 = 500;
/// Candidates scored per record of an import batch: a duplicate shares several specific keys
/// with its original, so it ranks among the first; the batch's candidates are read together.
pub const IMPORT_CHECKED: usize = 100;
/// Results per page at most.
pub const MAX_PAGE: u32 = 100;
/// EM needs enough pairs to separate matches from non-matches: a smaller register keeps the
/// model it has (EM's starting values at first).
pub const MIN_TRAINING_PERSONS: usize = 1_000;
/// The id of EM's starting values, in use before any model is estimated or stored.
pub const INITIAL_MODEL: &str = "initial";
/// How long a node keeps the linkage model before it looks for a newer one.
const MODEL_REFRESH: Duration = Duration::from_secs(30);

/// The model in use and where it came from.
#[derive(Debug, Clone)]
pub struct ActiveModel {
    pub model: Arc<LinkageModel>,
    /// The stored model's id, or `initial` (EM's starting values) before any training.
    pub id: String,
}

/// A vocabulary and when it was read.
type HeldVocabulary = Option<(Instant, Arc<NameVocabulary>)>;

/// The name vocabulary a node corrects search tokens against (see
/// [`thabian_model::vocabulary`]), with when it was read.
pub(crate) struct VocabularyCache {
    inner: Arc<std::sync::RwLock<HeldVocabulary>>,
    refreshing: Arc<std::sync::atomic::AtomicBool>,
}

impl VocabularyCache {
    pub(crate) fn new() -> VocabularyCache {
        VocabularyCache {
            inner: Arc::new(std::sync::RwLock::new(None)),
            refreshing: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }
}

async fn read_vocabulary(store: &thabian_store::DynStore) -> Result<NameVocabulary> {
    let mut tokens = Vec::new();
    for (prefix, suffix) in VOCABULARY_KEYS {
        tokens.extend(store.key_tokens(prefix, suffix, VOCABULARY_MAX).await?);
    }
    Ok(NameVocabulary::new(tokens))
}

pub(crate) struct ModelCache {
    inner: tokio::sync::RwLock<Option<(Instant, ActiveModel)>>,
}

impl ModelCache {
    pub(crate) fn new() -> ModelCache {
        ModelCache {
            inner: tokio::sync::RwLock::new(None),
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResultHit {
    pub pin: Pin,
    pub score: f64,
    pub fields: Vec<FieldExplanation>,
    /// `None` when the person lives outside the searcher's jurisdiction (only roles that may
    /// search nationwide see such hits, by PIN and score only).
    pub person: Option<Person>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchPage {
    pub hits: Vec<SearchResultHit>,
    /// Hits ranked in all (up to [`MAX_SPECIFIC_CANDIDATES`] + [`MAX_CANDIDATES`]; within the
    /// searcher's jurisdiction unless the role searches nationwide).
    pub total: usize,
    pub offset: u32,
    /// More persons may match than were ranked: the candidates were cut at a limit (a
    /// narrower query finds more), or the page was filled through the specific keys before
    /// the broad ones were read (a later page reads them).
    pub truncated: bool,
    pub model: String,
}

/// A registered person a new record resembles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredCandidate {
    pub pin: Pin,
    pub probability: f64,
    pub weight: f64,
    pub verdict: Verdict,
}

// Scores are finite numbers computed by the register; equality is only compared in tests.
impl Eq for ScoredCandidate {}

/// The review-queue case as stored (the `review_cases.record` JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewCase {
    pub id: String,
    /// `held_registration` or `pair`.
    pub kind: String,
    /// `open` or `decided`.
    pub status: String,
    pub opened_at: String,
    pub opened_by: String,
    pub office: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<HeldRegistration>,
    pub candidates: Vec<DuplicateCandidate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<CaseDecision>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseDecision {
    pub decision: ReviewDecision,
    pub reason: String,
    pub by: String,
    pub at: String,
    /// The PIN the held registration was registered under (different people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered: Option<Pin>,
}

/// The review queue as its events left it, for `rebuild`: the case events carry everything a
/// case row holds, and a case's times are the recorded times of its events.
#[derive(Default)]
pub(crate) struct CaseFold {
    cases: std::collections::BTreeMap<String, (ReviewCase, String)>,
}

impl CaseFold {
    pub(crate) fn apply(&mut self, event: &Event, stored: &thabian_store::StoredEvent) {
        let opened =
            |id: &str, kind: &str, registration, candidates: &[DuplicateCandidate]| ReviewCase {
                id: id.to_owned(),
                kind: kind.to_owned(),
                status: "open".into(),
                opened_at: stored.recorded_at.clone(),
                opened_by: event.actor.clone(),
                office: event.office.clone(),
                registration,
                candidates: candidates.to_vec(),
                decision: None,
                version: 1,
            };
        match &event.payload {
            EventPayload::DuplicateHeld {
                case,
                registration,
                candidates,
            } => {
                let c = opened(
                    case,
                    "held_registration",
                    Some((**registration).clone()),
                    candidates,
                );
                self.cases
                    .insert(case.clone(), (c, stored.area_path.clone()));
            }
            EventPayload::DuplicatePairFound { case, candidates } => {
                let c = opened(case, "pair", None, candidates);
                self.cases
                    .insert(case.clone(), (c, stored.area_path.clone()));
            }
            EventPayload::DuplicateReviewed {
                case,
                decision,
                reason,
            } => {
                if let Some((c, _)) = self.cases.get_mut(case) {
                    c.status = "decided".into();
                    c.version += 1;
                    c.decision = Some(CaseDecision {
                        decision: *decision,
                        reason: reason.clone(),
                        by: event.actor.clone(),
                        at: stored.recorded_at.clone(),
                        registered: match (&c.registration, decision) {
                            (Some(reg), ReviewDecision::DifferentPeople) => Some(reg.pin().clone()),
                            _ => None,
                        },
                    });
                }
            }
            _ => {}
        }
    }

    pub(crate) fn rows(&self, register: &Register) -> Result<Vec<CaseRow>> {
        self.cases
            .values()
            .map(|(case, area_path)| register.case_row(case, area_path))
            .collect()
    }
}

/// A held registration's case and event, before they are written.
pub(crate) struct HeldCase {
    pub case: ReviewCase,
    pub event: Event,
    pub area_path: String,
}

/// Two records side by side, field by field.
#[derive(Debug, Clone, Serialize)]
pub struct SideBySide {
    pub left: Person,
    pub right: Person,
    pub probability: f64,
    pub weight: f64,
    pub fields: Vec<FieldExplanation>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseView {
    pub case: ReviewCase,
    pub comparisons: Vec<SideBySide>,
}

/// Settings of the whole-register pass.
#[derive(Debug, Clone)]
pub struct DedupSettings {
    /// Blocks (persons sharing a key) larger than this are skipped (counted in the report):
    /// their pairs are found through the person's other, more selective keys.
    pub max_block: usize,
    /// Random pairs for the u probabilities.
    pub random_pairs: usize,
    /// EM iterations per session at most. An iteration passes over the distinct agreement
    /// patterns (a few thousand), not the pairs, so this costs milliseconds; the three-class
    /// session converges slowly.
    pub max_iterations: usize,
    pub thresholds: Thresholds,
    /// Pairs at or above this probability are reported (default: the "possible" threshold).
    pub report_from: f64,
    /// Estimate the model from the register (when it has enough persons); otherwise score with
    /// the model in use.
    pub train: bool,
    /// Store the trained model for the register's checks.
    pub save_model: bool,
}

impl Default for DedupSettings {
    fn default() -> Self {
        DedupSettings {
            max_block: 200,
            random_pairs: 200_000,
            max_iterations: 2_000,
            thresholds: Thresholds::DEFAULT,
            report_from: Thresholds::DEFAULT.possible,
            train: true,
            save_model: true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FoundPair {
    pub a: Pin,
    pub b: Pin,
    pub probability: f64,
    pub weight: f64,
    pub verdict: Verdict,
    /// The pair's agreement levels (for diagnostics; not serialized).
    #[serde(skip)]
    pub comparison: Comparison,
}

#[derive(Debug, Clone, Serialize)]
pub struct DedupReport {
    pub persons: usize,
    pub keys: u64,
    pub blocks: u64,
    pub blocks_skipped: u64,
    /// Pairs within the blocks (a pair sharing several keys is in several blocks; it is
    /// scored once, in the first block the two share).
    pub comparisons: u64,
    pub distinct_pairs: usize,
    /// The model that scored the pairs: newly estimated and stored, or (below
    /// [`MIN_TRAINING_PERSONS`]) the one in use.
    pub model_id: Option<String>,
    pub trained: bool,
    pub model: LinkageModel,
    /// Pairs at or above `report_from`, most probable first.
    pub pairs: Vec<FoundPair>,
    pub load_seconds: f64,
    pub block_seconds: f64,
    pub train_seconds: f64,
    pub score_seconds: f64,
}

/// Every person's comparison fields, as the whole-register pass holds them.
pub struct Population {
    pub pins: Vec<Pin>,
    pub records: Vec<MatchRecord>,
    index: HashMap<String, u32>,
}

impl Population {
    pub fn len(&self) -> usize {
        self.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    pub fn position(&self, pin: &str) -> Option<u32> {
        self.index.get(pin).copied()
    }
}

/// The blocks of the whole-register pass as they are read in key order: the members of every
/// block of two to `max_block` persons, one after another.
#[derive(Default)]
struct Blocks {
    members: Vec<u32>,
    /// Where each block starts in `members` (and one past the last block).
    starts: Vec<u32>,
    /// The EM session of each block's key kind (see [`session_of`]).
    sessions: Vec<Option<u8>>,
    /// Per EM session: pairs in its kept blocks, postings in kept blocks, all postings.
    session_totals: [SessionTotals; 2],
}

/// What a session's blocks hold, for recovering the prior (see [`Coverage`]).
#[derive(Debug, Default, Clone, Copy)]
struct SessionTotals {
    pairs: u64,
    kept_postings: u64,
    postings: u64,
}

impl Blocks {
    fn push(
        &mut self,
        block: &mut Vec<u32>,
        key: &str,
        max_block: usize,
        report: &mut DedupReport,
    ) {
        let session = session_of(key);
        if let Some(t) = session.and_then(|k| self.session_totals.get_mut(k)) {
            let n = block.len() as u64;
            t.postings += n;
            if block.len() <= max_block {
                t.kept_postings += n;
                t.pairs += n * n.saturating_sub(1) / 2;
            }
        }
        if block.len() > max_block {
            report.blocks_skipped += 1;
        } else if block.len() > 1 {
            report.blocks += 1;
            let n = block.len() as u64;
            report.comparisons += n * (n - 1) / 2;
            if self.starts.is_empty() {
                self.starts.push(0);
            }
            self.members.extend_from_slice(block);
            self.starts
                .push(u32::try_from(self.members.len()).unwrap_or(u32::MAX));
            self.sessions
                .push(session.and_then(|k| u8::try_from(k).ok()));
        }
        block.clear();
    }

    /// The blocks with, for every person, the blocks they are in (ascending).
    fn index(self, persons: usize) -> IndexedBlocks {
        let mut starts = vec![0u32; persons + 1];
        for &m in &self.members {
            starts[m as usize + 1] += 1;
        }
        for i in 0..persons {
            starts[i + 1] += starts[i];
        }
        let mut fill = starts.clone();
        let mut of_person = vec![0u32; self.members.len()];
        for b in 0..self.sessions.len() {
            for &m in self.block(b) {
                let at = &mut fill[m as usize];
                of_person[*at as usize] = b as u32;
                *at += 1;
            }
        }
        IndexedBlocks {
            blocks: self,
            person_starts: starts,
            of_person,
        }
    }

    fn len(&self) -> usize {
        self.sessions.len()
    }

    fn block(&self, b: usize) -> &[u32] {
        &self.members[self.starts[b] as usize..self.starts[b + 1] as usize]
    }
}

struct IndexedBlocks {
    blocks: Blocks,
    person_starts: Vec<u32>,
    /// Each person's blocks, ascending, at `person_starts[p]..person_starts[p + 1]`.
    of_person: Vec<u32>,
}

/// What the scoring of the pass gives back: pairs at or above the reporting threshold (by
/// position in the population) with their comparison and weight.
struct ScoredPairs {
    distinct_pairs: usize,
    found: Vec<FoundByPosition>,
}

/// Two persons by position in the population, their comparison and weight.
type FoundByPosition = (u32, u32, Comparison, f64);

impl IndexedBlocks {
    /// The pairs of the blocks of each EM session: all of them, or a uniform sample of about
    /// [`MAX_SESSION_PAIRS`] (a fixed seed: the same register gives the same sample). Not the
    /// first pairs in key order: those are the oldest dates of birth, or names in A.
    fn session_pairs(&self) -> [Vec<(u32, u32)>; 2] {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7365_7373);
        let totals = &self.blocks.session_totals;
        let rate = |k: usize| -> f64 {
            let total = totals.get(k).map_or(0, |t| t.pairs);
            if total as f64 <= MAX_SESSION_PAIRS as f64 {
                1.0
            } else {
                MAX_SESSION_PAIRS as f64 / total as f64
            }
        };
        let rates = [rate(0), rate(1)];
        let mut sessions: [Vec<(u32, u32)>; 2] = [Vec::new(), Vec::new()];
        for b in 0..self.blocks.len() {
            let Some(k) = self.blocks.sessions[b] else {
                continue;
            };
            let k = usize::from(k);
            let (Some(out), Some(&rate)) = (sessions.get_mut(k), rates.get(k)) else {
                continue;
            };
            let block = self.blocks.block(b);
            for (i, x) in block.iter().enumerate() {
                for y in &block[i + 1..] {
                    if rate >= 1.0 || rng.gen::<f64>() < rate {
                        out.push(((*x).min(*y), (*x).max(*y)));
                    }
                }
            }
        }
        sessions
    }

    /// Each session's [`Coverage`] of a register of `persons`.
    fn coverage(&self, persons: usize) -> [Option<Coverage>; 2] {
        let n = persons as f64;
        let all_pairs = n * (n - 1.0) / 2.0;
        self.blocks.session_totals.map(|t| {
            (all_pairs > 0.0 && t.postings > 0).then(|| Coverage {
                pair_share: t.pairs as f64 / all_pairs,
                kept_share: t.kept_postings as f64 / t.postings as f64,
            })
        })
    }

    fn of_person(&self, p: u32) -> &[u32] {
        let p = p as usize;
        &self.of_person[self.person_starts[p] as usize..self.person_starts[p + 1] as usize]
    }

    /// Whether `block` is the first block persons `a` and `b` share: a pair sharing several
    /// keys is scored once, without a set of the pairs seen (at 1M persons, 10⁸ pairs).
    fn first_shared(&self, a: u32, b: u32, block: u32) -> bool {
        let (x, y) = (self.of_person(a), self.of_person(b));
        let (mut i, mut j) = (0, 0);
        while i < x.len() && j < y.len() {
            match x[i].cmp(&y[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => return x[i] == block,
            }
        }
        false
    }

    /// Scores every distinct pair once, on every core: blocks are handed out in chunks.
    fn score(
        &self,
        population: &Population,
        model: &LinkageModel,
        report_from: f64,
    ) -> Result<ScoredPairs> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const CHUNK: usize = 512;
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let work = || {
            let mut found = Vec::new();
            let mut distinct = 0usize;
            loop {
                let from = next.fetch_add(CHUNK, Ordering::Relaxed);
                if from >= self.blocks.len() {
                    break;
                }
                for b in from..(from + CHUNK).min(self.blocks.len()) {
                    let block = self.blocks.block(b);
                    for (i, x) in block.iter().enumerate() {
                        for y in &block[i + 1..] {
                            let (x, y) = ((*x).min(*y), (*x).max(*y));
                            if !self.first_shared(x, y, b as u32) {
                                continue;
                            }
                            distinct += 1;
                            let (comparison, weight) = model.score_weight(
                                &population.records[x as usize],
                                &population.records[y as usize],
                            );
                            if model.posterior(weight) >= report_from {
                                found.push((x, y, comparison, weight));
                            }
                        }
                    }
                }
            }
            (distinct, found)
        };
        let results: Vec<(usize, Vec<FoundByPosition>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| h.join())
                .collect::<std::result::Result<_, _>>()
        })
        .map_err(|_| {
            RegisterError::Internal("a scoring thread of the duplicate pass failed".into())
        })?;
        let mut out = ScoredPairs {
            distinct_pairs: 0,
            found: Vec::new(),
        };
        for (distinct, found) in results {
            out.distinct_pairs += distinct;
            out.found.extend(found);
        }
        Ok(out)
    }
}

/// The keys to look up, at most `max`: by distance of the key's year from `year` (keys without
/// a year first), then one key of each kind in turn (`d:`, `ny:`, `nb:`, `m:`, `fm:`, `n:`,
/// `fy:`, `y:`), so that a cut drops the far years of the window and spreads over the kinds.
fn select_keys(mut keys: Vec<String>, year: Option<i32>, max: usize) -> Vec<String> {
    if keys.len() <= max {
        return keys;
    }
    const KINDS: [&str; 8] = ["d:", "ny:", "nb:", "m:", "fm:", "n:", "fy:", "y:"];
    let kind = |k: &str| {
        KINDS
            .iter()
            .position(|p| k.starts_with(p))
            .unwrap_or(KINDS.len())
    };
    // The year of `d:YYYYMMDD`, `y:…:YYYY`, `ny:…:YYYY` and `fy:…:YYYY` keys.
    let key_year = |k: &str| -> Option<i32> {
        if let Some(d) = k.strip_prefix("d:") {
            d.get(..4)?.parse().ok()
        } else if k.starts_with("y:") || k.starts_with("fy:") || k.starts_with("ny:") {
            k.rsplit(':').next()?.parse().ok()
        } else {
            None
        }
    };
    let distance = |k: &str| match (key_year(k), year) {
        (Some(y), Some(center)) => (y - center).unsigned_abs(),
        _ => 0,
    };
    keys.sort_by(|a, b| {
        (distance(a), kind(a), a.as_str()).cmp(&(distance(b), kind(b), b.as_str()))
    });
    // The n-th key of its (distance, kind) group: groups are visited in turn.
    let mut turn: Vec<(u32, usize, usize, String)> = Vec::with_capacity(keys.len());
    let mut group = (u32::MAX, usize::MAX);
    let mut n = 0;
    for k in keys {
        let g = (distance(&k), kind(&k));
        if g != group {
            group = g;
            n = 0;
        }
        turn.push((g.0, n, g.1, k));
        n += 1;
    }
    turn.sort();
    turn.into_iter().take(max).map(|(_, _, _, k)| k).collect()
}

/// A key's weight in a candidate's rank, as the store computes it in
/// [`thabian_store::Store::ranked_candidates`]: `1 + ⌊log2(limit / postings)⌋`, from 1 (a key
/// cut at the limit) to 10.
fn key_specificity(postings: usize, limit: u32) -> u32 {
    let c = u64::try_from(postings.max(1)).unwrap_or(u64::MAX);
    (2..=10u32)
        .rev()
        .find(|level| c.saturating_mul(1u64 << (level - 1)) <= u64::from(limit.max(1)))
        .unwrap_or(1)
}

/// A candidate as scored: its compact match record and where it lives.
struct Candidate {
    pin: Pin,
    residence_path: String,
    record: MatchRecord,
}

impl Register {
    // ------------------------------------------------------------------ the model

    /// The name vocabulary of this node: read from the key index on first use, then again in
    /// the background every [`VOCABULARY_REFRESH`] (searches meanwhile use the one in hand).
    pub async fn name_vocabulary(&self) -> Result<Arc<NameVocabulary>> {
        use std::sync::atomic::Ordering;
        let cache = &self.vocabulary;
        let held = cache
            .inner
            .read()
            .map_err(|_| RegisterError::Internal("vocabulary cache poisoned".into()))?
            .clone();
        match held {
            Some((at, v)) => {
                if at.elapsed() >= VOCABULARY_REFRESH
                    && !cache.refreshing.swap(true, Ordering::AcqRel)
                {
                    let (store, inner, refreshing) = (
                        self.store.clone(),
                        cache.inner.clone(),
                        cache.refreshing.clone(),
                    );
                    tokio::spawn(async move {
                        match read_vocabulary(&store).await {
                            Ok(fresh) => {
                                if let Ok(mut slot) = inner.write() {
                                    *slot = Some((Instant::now(), Arc::new(fresh)));
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "reading the name vocabulary"),
                        }
                        refreshing.store(false, Ordering::Release);
                    });
                }
                Ok(v)
            }
            None => {
                let fresh = Arc::new(read_vocabulary(&self.store).await?);
                if let Ok(mut slot) = cache.inner.write() {
                    *slot = Some((Instant::now(), fresh.clone()));
                }
                Ok(fresh)
            }
        }
    }

    /// The linkage model in use: the newest stored one (refreshed every 30 s, so a model
    /// trained on one node reaches the others), or EM's starting values before any training.
    pub async fn linkage_model(&self) -> Result<ActiveModel> {
        if let Some((at, m)) = self.linkage.inner.read().await.as_ref() {
            if at.elapsed() < MODEL_REFRESH {
                return Ok(m.clone());
            }
        }
        let cached = self
            .linkage
            .inner
            .read()
            .await
            .as_ref()
            .map(|(_, m)| m.clone());
        let active = match (self.store.latest_linkage_model().await?, cached) {
            // Unchanged: not parsed again (a model with its term frequencies is ~1 MB of JSON).
            (Some(row), Some(cached)) if cached.id == row.id => cached,
            (Some(row), cached) => match serde_json::from_str(&row.model) {
                Ok(model) => ActiveModel {
                    model: Arc::new(model),
                    id: row.id,
                },
                // During a rolling upgrade an upgraded node may store a model this version
                // cannot read: keep scoring with the one in use rather than failing every
                // search and registration.
                Err(e) => match cached {
                    Some(cached) => {
                        tracing::warn!(
                            newest = %row.id, in_use = %cached.id, error = %e,
                            "cannot read the newest linkage model; keeping the one in use"
                        );
                        cached
                    }
                    None => {
                        return Err(RegisterError::Internal(format!(
                            "stored linkage model {}: {e}",
                            row.id
                        )))
                    }
                },
            },
            (None, _) => ActiveModel {
                model: Arc::new(LinkageModel::initial()),
                id: INITIAL_MODEL.into(),
            },
        };
        *self.linkage.inner.write().await = Some((Instant::now(), active.clone()));
        Ok(active)
    }

    /// Stores `model` as the register's newest linkage model (this node uses it at once, the
    /// others within the refresh interval); returns its id.
    pub async fn store_linkage_model(&self, model: &LinkageModel) -> Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        self.store
            .put_linkage_model(&LinkageModelRow {
                id: id.clone(),
                created_at: format_time(self.now()),
                model: json(model)?,
            })
            .await?;
        *self.linkage.inner.write().await = None;
        Ok(id)
    }

    // ------------------------------------------------------------------ search

    /// Ranked fuzzy search. Registrars search their jurisdiction; roles that may search
    /// nationwide also see hits elsewhere, by PIN and score only. The search and every person
    /// shown are recorded in the access log.
    pub async fn search(
        &self,
        ctx: &RequestContext,
        query: &SearchQuery,
        offset: u32,
        limit: u32,
    ) -> Result<SearchPage> {
        ctx.principal.require(Permission::SearchPersons)?;
        let nationwide = ctx.principal.role.allows(Permission::SearchNationwide);
        let limit = limit.clamp(1, MAX_PAGE);
        let vocabulary = self.name_vocabulary().await?;
        let plan = query.search_plan(&vocabulary);
        if plan.specific.is_empty() && plan.broad.is_empty() {
            return Err(RegisterError::Invalid(
                "a search needs a name or a full date of birth".into(),
            ));
        }
        let active = self.linkage_model().await?;
        let prepared = query.prepare();
        let year = query.date_of_birth.map(|d| d.year());
        // (score, candidate, inside the searcher's jurisdiction)
        let mut scored: Vec<(f64, Candidate, bool)> = Vec::new();
        let mut truncated = false;
        let wanted = offset as usize + limit as usize;
        let mut read_broad = true;
        // Scores the candidates of `keys` the searcher may see, but those scored already;
        // whether the candidates were cut at a limit.
        let score_tier =
            |keys: Vec<String>, per_key: u32, max: u32, scored: Vec<(f64, Candidate, bool)>| {
                let (prepared, model) = (&prepared, active.model.clone());
                async move {
                    let ranked = self.store.ranked_candidates(&keys, per_key, max).await?;
                    let cut = ranked.deepest >= u64::from(per_key) || ranked.found > u64::from(max);
                    let seen: std::collections::HashSet<String> =
                        scored.iter().map(|(_, c, _)| c.pin.to_string()).collect();
                    let mut scored = scored;
                    for c in self.candidates(ranked).await? {
                        let inside = ctx.principal.covers_path(&c.residence_path);
                        if (inside || nationwide) && !seen.contains(c.pin.as_str()) {
                            scored.push((prepared.score_value(&model, &c.record), c, inside));
                        }
                    }
                    Ok::<_, RegisterError>((scored, cut))
                }
            };
        if !plan.specific.is_empty() {
            let keys = select_keys(plan.specific.clone(), year, MAX_SPECIFIC_KEYS);
            let years_cut = keys.len() < plan.specific.len();
            let (found, cut) =
                score_tier(keys, SPECIFIC_PER_KEY, MAX_SPECIFIC_CANDIDATES, scored).await?;
            scored = found;
            truncated |= cut;
            // Enough candidates above what any candidate found only through the broad keys
            // could score: those cannot reach the page (a cut of the specific keys' years
            // would void that).
            let bound = prepared.broad_bound(&active.model);
            let above = scored.iter().filter(|(s, _, _)| *s >= bound).count();
            if !years_cut && above >= wanted {
                read_broad = false;
                truncated |= !plan.broad.is_empty();
            }
        }
        if read_broad {
            let mut keys = plan.specific;
            keys.extend(plan.broad);
            let keys = select_keys(keys, year, MAX_SEARCH_KEYS);
            let per_key = (SEARCH_POSTINGS / u32::try_from(keys.len()).unwrap_or(u32::MAX).max(1))
                .clamp(SEARCH_MIN_PER_KEY, SEARCH_PER_KEY);
            let (found, cut) = score_tier(keys, per_key, MAX_CANDIDATES, scored).await?;
            scored = found;
            truncated |= cut;
        }
        scored.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.pin.as_str().cmp(b.1.pin.as_str()))
        });
        let total = scored.len();
        let given: Vec<&str> = [
            query.name.as_ref().map(|_| "name"),
            query.date_of_birth.as_ref().map(|_| "date_of_birth"),
            query.sex.as_ref().map(|_| "sex"),
            query.place_of_birth.as_ref().map(|_| "place_of_birth"),
            query.residence.as_ref().map(|_| "residence"),
            query.father_name.as_ref().map(|_| "father_name"),
            query.mother_name.as_ref().map(|_| "mother_name"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut reads = vec![self.access_record(
            ctx,
            None,
            "search",
            Some(format!(
                "fields: {}; year window ±{}; {total} ranked; offset {offset}",
                given.join(", "),
                query.year_window
            )),
        )];
        // Only the page is read whole. Its rows are checked again: a person merged away or
        // moved out of the jurisdiction since the match record was read is not shown.
        let page: Vec<_> = scored
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect();
        let wanted: Vec<String> = page
            .iter()
            .filter(|(_, _, inside)| *inside)
            .map(|(_, c, _)| c.pin.to_string())
            .collect();
        let mut rows: HashMap<String, PersonRow> = self
            .store
            .persons(&wanted)
            .await?
            .into_iter()
            .map(|r| (r.pin.clone(), r))
            .collect();
        let mut hits = Vec::with_capacity(page.len());
        for (score, candidate, inside) in page {
            let pin = candidate.pin.clone();
            let hit = prepared.score(&active.model, &candidate.record);
            debug_assert!((hit.score - score).abs() < 1e-9);
            let person = if inside {
                let Some(row) = rows.remove(pin.as_str()) else {
                    continue;
                };
                let inside_now = ctx.principal.covers_path(&row.residence_path);
                if !inside_now && !nationwide {
                    continue;
                }
                let person = decode_person(&row)?;
                if person.merged_into.is_some() {
                    continue;
                }
                inside_now.then_some(person)
            } else {
                None
            };
            reads.push(self.access_record(
                ctx,
                Some(pin.as_str()),
                "search-hit",
                Some(format!("score {:.2}", hit.score)),
            ));
            hits.push(SearchResultHit {
                pin,
                score: hit.score,
                fields: hit.fields,
                person,
            });
        }
        self.log_reads(reads).await?;
        Ok(SearchPage {
            hits,
            total,
            offset,
            truncated,
            model: active.id,
        })
    }

    // ------------------------------------------------------------------ duplicate checks

    /// Registered persons `record` may duplicate, at or above the "possible" threshold, most
    /// probable first. Reads no personal data out of the register (only scores leave it).
    pub async fn duplicate_candidates(
        &self,
        record: &MatchRecord,
        exclude: &[Pin],
    ) -> Result<Vec<ScoredCandidate>> {
        let active = self.linkage_model().await?;
        let keys = record.blocking_keys();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = select_keys(keys, Some(record.date_of_birth.year()), MAX_CHECK_KEYS);
        let ranked = self
            .store
            .ranked_candidates(&keys, CHECK_PER_KEY, MAX_CHECKED)
            .await?;
        let candidates = self.candidates(ranked).await?;
        let mut found = score_candidates(
            &active.model,
            &self.thresholds,
            record,
            candidates
                .iter()
                .filter(|c| !exclude.contains(&c.pin))
                .map(|c| (&c.pin, &c.record)),
        );
        // EM's starting values are not calibrated on this register: they may warn, never hold.
        if active.id == INITIAL_MODEL {
            for c in &mut found {
                if c.verdict == Verdict::Likely {
                    c.verdict = Verdict::Possible;
                }
            }
        }
        Ok(found)
    }

    /// [`Register::duplicate_candidates`] for many records at once (an import batch): one read
    /// of the key index and one of the match records for all of them, at most `per_record`
    /// candidates scored for each, ranked as [`thabian_store::Store::ranked_candidates`] ranks
    /// them. The result is in the order of `records`.
    pub async fn duplicate_candidates_many(
        &self,
        records: &[MatchRecord],
        per_record: usize,
    ) -> Result<Vec<Vec<ScoredCandidate>>> {
        let active = self.linkage_model().await?;
        let keys: Vec<Vec<String>> = records
            .iter()
            .map(|r| {
                select_keys(
                    r.blocking_keys(),
                    Some(r.date_of_birth.year()),
                    MAX_CHECK_KEYS,
                )
            })
            .collect();
        let mut all: Vec<String> = keys.iter().flatten().cloned().collect();
        all.sort();
        all.dedup();
        if all.is_empty() {
            return Ok(vec![Vec::new(); records.len()]);
        }
        let mut postings: HashMap<String, Vec<String>> = HashMap::new();
        for (key, pin) in self.store.search_candidates(&all, CHECK_PER_KEY).await? {
            postings.entry(key).or_default().push(pin);
        }
        let ranked: Vec<Vec<String>> = keys
            .iter()
            .map(|keys| {
                let mut rank: HashMap<&str, u32> = HashMap::new();
                for pins in keys.iter().filter_map(|k| postings.get(k)) {
                    let w = key_specificity(pins.len(), CHECK_PER_KEY);
                    for p in pins {
                        *rank.entry(p.as_str()).or_default() += w;
                    }
                }
                let mut ranked: Vec<(&str, u32)> = rank.into_iter().collect();
                ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                ranked.truncate(per_record);
                ranked.into_iter().map(|(p, _)| p.to_owned()).collect()
            })
            .collect();
        let mut wanted: Vec<String> = ranked.iter().flatten().cloned().collect();
        wanted.sort();
        wanted.dedup();
        let mut rows: HashMap<String, thabian_store::MatchRow> = self
            .store
            .match_records(&wanted)
            .await?
            .into_iter()
            .map(|r| (r.pin.clone(), r))
            .collect();
        let all_ranked = RankedCandidates {
            candidates: wanted
                .into_iter()
                .map(|pin| thabian_store::RankedCandidate {
                    matched: rows.remove(&pin),
                    pin,
                    rank: 0,
                })
                .collect(),
            found: 0,
            deepest: 0,
        };
        let candidates: HashMap<String, Candidate> = self
            .candidates(all_ranked)
            .await?
            .into_iter()
            .map(|c| (c.pin.to_string(), c))
            .collect();
        Ok(records
            .iter()
            .zip(&ranked)
            .map(|(record, pins)| {
                let mut found = score_candidates(
                    &active.model,
                    &self.thresholds,
                    record,
                    pins.iter()
                        .filter_map(|p| candidates.get(p))
                        .map(|c| (&c.pin, &c.record)),
                );
                // EM's starting values are not calibrated on this register: they may warn,
                // never hold.
                if active.id == INITIAL_MODEL {
                    for c in &mut found {
                        if c.verdict == Verdict::Likely {
                            c.verdict = Verdict::Possible;
                        }
                    }
                }
                found
            })
            .collect())
    }

    /// The ranked candidates' match records decoded, merged-away persons left out, in rank
    /// order. A person without one (a register from before `person_match`, not rebuilt yet) is
    /// read whole instead.
    async fn candidates(&self, ranked: RankedCandidates) -> Result<Vec<Candidate>> {
        let mut out = Vec::with_capacity(ranked.candidates.len());
        let mut missing = Vec::new();
        for c in ranked.candidates {
            let Some(row) = c.matched else {
                missing.push(c.pin);
                continue;
            };
            let stored = thabian_model::compact::decode(&row.record).map_err(|e| {
                RegisterError::Store(thabian_store::StoreError::Corrupt(format!(
                    "person {}: {e}",
                    row.pin
                )))
            })?;
            if !stored.merged {
                out.push(Candidate {
                    pin: Pin::from_trusted(row.pin),
                    residence_path: row.residence_path,
                    record: stored.record,
                });
            }
        }
        for row in self.store.persons(&missing).await? {
            let p = decode_person(&row)?;
            if p.merged_into.is_none() {
                out.push(Candidate {
                    record: MatchRecord::from_person(&p),
                    pin: p.pin,
                    residence_path: row.residence_path,
                });
            }
        }
        Ok(out)
    }

    /// Opens a review case holding `registration` (which is not registered): one event with
    /// the held record and its candidates, and the case, in one transaction.
    pub(crate) async fn hold_registration(
        &self,
        ctx: &RequestContext,
        registration: HeldRegistration,
        candidates: &[ScoredCandidate],
        office: &str,
        legal_basis: &LegalBasis,
        case_id: String,
    ) -> Result<ReviewCase> {
        let now = self.now();
        let held = self.held_case(
            ctx,
            registration,
            candidates,
            office,
            legal_basis,
            case_id,
            now,
        )?;
        self.commit_case_event(ctx, &held.event, &held.case, None, held.area_path, now)
            .await?;
        Ok(held.case)
    }

    /// The case and the `duplicate_held` event that hold `registration`, not written yet.
    /// `now`: the time of the write batch (the case's times are its events' times, so that
    /// a rebuild from the log reproduces them).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn held_case(
        &self,
        ctx: &RequestContext,
        registration: HeldRegistration,
        candidates: &[ScoredCandidate],
        office: &str,
        legal_basis: &LegalBasis,
        case_id: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<HeldCase> {
        let candidates: Vec<DuplicateCandidate> = candidates
            .iter()
            .map(|c| DuplicateCandidate {
                pin: c.pin.clone(),
                probability: c.probability,
                weight: c.weight,
            })
            .collect();
        let (area, effective) = match &registration {
            HeldRegistration::Birth { record } => (
                record.residence.as_ref().map(|r| r.area.clone()),
                record.particulars.clone(),
            ),
            HeldRegistration::Import { record, .. } => (
                record.permanent_residence.as_ref().map(|r| r.area.clone()),
                record.particulars.clone(),
            ),
        };
        let area = area.unwrap_or_else(|| effective.place_of_birth.clone());
        let case = ReviewCase {
            id: case_id.clone(),
            kind: "held_registration".into(),
            status: "open".into(),
            opened_at: format_time(now),
            opened_by: ctx.principal.official_id.clone(),
            office: office.to_owned(),
            registration: Some(registration.clone()),
            candidates: candidates.clone(),
            decision: None,
            version: 1,
        };
        let event = self.case_event(
            ctx,
            EventPayload::DuplicateHeld {
                case: case_id,
                registration: Box::new(registration),
                candidates,
            },
            effective.date_of_birth,
            office,
            legal_basis,
        );
        Ok(HeldCase {
            case,
            event,
            area_path: self.area_path(&area),
        })
    }

    /// A review-queue event (no person subjects), not written yet.
    fn case_event(
        &self,
        ctx: &RequestContext,
        payload: EventPayload,
        effective: thabian_model::date::PartialDate,
        office: &str,
        legal_basis: &LegalBasis,
    ) -> Event {
        Event {
            schema: EVENT_SCHEMA,
            id: uuid::Uuid::now_v7().to_string(),
            seq: u64::MAX,
            effective,
            recorded_at: String::new(),
            office: office.to_owned(),
            actor: ctx.principal.official_id.clone(),
            legal_basis: legal_basis.clone(),
            idempotency_key: None,
            payload,
        }
    }

    /// Appends a review-queue event with the case row and an access record, in one
    /// transaction.
    async fn commit_case_event(
        &self,
        ctx: &RequestContext,
        event: &Event,
        case: &ReviewCase,
        expected_version: Option<u64>,
        area_path: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        let kind = event.payload.kind().to_owned();
        let batch = WriteBatch {
            now,
            events: vec![self.new_event(event, Vec::new(), area_path.clone())?],
            persons: Vec::new(),
            households: Vec::new(),
            cases: vec![Versioned {
                row: self.case_row(case, &area_path)?,
                expected_version,
            }],
            access: vec![AccessRecord {
                event_seq: Some(0),
                ..self.access_record(ctx, None, "change", Some(format!("{kind} {}", case.id)))
            }],
            idempotency: None,
            biometrics: Vec::new(),
        };
        self.commit_batch(batch).await?;
        Ok(())
    }

    pub(crate) fn case_row(&self, case: &ReviewCase, area_path: &str) -> Result<CaseRow> {
        Ok(CaseRow {
            id: case.id.clone(),
            version: case.version,
            status: case.status.clone(),
            area_path: area_path.to_owned(),
            created_at: case.opened_at.clone(),
            record: json(case)?,
        })
    }

    // ------------------------------------------------------------------ the review queue

    fn decode_case(row: &CaseRow) -> Result<ReviewCase> {
        serde_json::from_str(&row.record).map_err(|e| {
            RegisterError::Internal(format!(
                "review case {}: stored record is corrupt: {e}",
                row.id
            ))
        })
    }

    /// Cases in the official's jurisdiction, by status, in id (time) order.
    pub async fn review_cases(
        &self,
        ctx: &RequestContext,
        status: Option<&str>,
        after: &str,
        limit: u32,
    ) -> Result<Vec<ReviewCase>> {
        ctx.principal.require(Permission::ReviewDuplicates)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let mut out = Vec::new();
        let mut after = after.to_owned();
        // Pages of the whole queue filtered by jurisdiction, until `limit` cases are found.
        loop {
            let rows = self.store.review_cases(status, &after, 500).await?;
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            for row in &rows {
                if row
                    .area_path
                    .split(' ')
                    .any(|p| ctx.principal.covers_path(p))
                {
                    out.push(Self::decode_case(row)?);
                    if out.len() == limit as usize {
                        break;
                    }
                }
            }
            if out.len() == limit as usize || rows.len() < 500 {
                break;
            }
        }
        let reads = out
            .iter()
            .map(|c| self.access_record(ctx, None, "read", Some(format!("review case {}", c.id))))
            .collect();
        self.log_reads(reads).await?;
        Ok(out)
    }

    async fn readable_case(&self, ctx: &RequestContext, id: &str) -> Result<(CaseRow, ReviewCase)> {
        ctx.principal.require(Permission::ReviewDuplicates)?;
        let row = self
            .store
            .review_case(id)
            .await?
            .ok_or_else(|| RegisterError::NotFound(format!("no review case {id}")))?;
        if !row
            .area_path
            .split(' ')
            .any(|p| ctx.principal.covers_path(p))
        {
            return Err(RegisterError::Forbidden(format!(
                "review case {id} is outside your jurisdiction"
            )));
        }
        let case = Self::decode_case(&row)?;
        Ok((row, case))
    }

    /// A case with its records side by side, field by field.
    pub async fn review_case(&self, ctx: &RequestContext, id: &str) -> Result<CaseView> {
        let (_, case) = self.readable_case(ctx, id).await?;
        let active = self.linkage_model().await?;
        let pins: Vec<Pin> = case.candidates.iter().map(|c| c.pin.clone()).collect();
        let persons = self.load_persons(&pins).await?;
        let mut reads = Vec::new();
        let mut comparisons = Vec::new();
        let left_of_pairs = match &case.registration {
            Some(reg) => vec![held_person(reg)?],
            None => Vec::new(),
        };
        let pair = |l: &Person, r: &Person| {
            let s = active
                .model
                .score_pair(&MatchRecord::from_person(l), &MatchRecord::from_person(r));
            SideBySide {
                left: l.clone(),
                right: r.clone(),
                probability: s.probability,
                weight: s.weight,
                fields: active.model.explain_pair(&s),
            }
        };
        match left_of_pairs.first() {
            Some(held) => {
                for pin in &pins {
                    if let Some(p) = persons.get(pin) {
                        comparisons.push(pair(held, p));
                    }
                }
            }
            None => {
                if let (Some(a), Some(b)) = (
                    pins.first().and_then(|p| persons.get(p)),
                    pins.get(1).and_then(|p| persons.get(p)),
                ) {
                    comparisons.push(pair(a, b));
                }
            }
        }
        for pin in persons.keys() {
            reads.push(self.access_record(
                ctx,
                Some(pin.as_str()),
                "read",
                Some(format!("review case {id}")),
            ));
        }
        self.log_reads(reads).await?;
        Ok(CaseView { case, comparisons })
    }

    /// Decides a case. For a held registration, "different people" registers it now, in the
    /// same transaction as the decision; "same person" leaves it unregistered. For a pair,
    /// the decision is recorded; merging is its own change ([`Register::merge`]).
    pub async fn decide_case(
        &self,
        ctx: &RequestContext,
        id: &str,
        decision: ReviewDecision,
        reason: &str,
        legal_basis: &LegalBasis,
    ) -> Result<ReviewCase> {
        let (row, case) = self.readable_case(ctx, id).await?;
        if reason.trim().is_empty() {
            return Err(RegisterError::Invalid("a decision needs a reason".into()));
        }
        if case.status != "open" {
            return Err(RegisterError::Rule(thabian_model::rules::Violation {
                code: "case-decided",
                message: format!("review case {id} is already decided"),
            }));
        }
        let now = self.now();
        let mut decided = case.clone();
        decided.status = "decided".into();
        decided.version = case.version + 1;
        let decision_payload = EventPayload::DuplicateReviewed {
            case: id.to_owned(),
            decision,
            reason: reason.to_owned(),
        };
        let mut record = CaseDecision {
            decision,
            reason: reason.to_owned(),
            by: ctx.principal.official_id.clone(),
            at: format_time(now),
            registered: None,
        };
        match (&case.registration, decision) {
            (Some(reg), ReviewDecision::DifferentPeople) => {
                record.registered = Some(reg.pin().clone());
                decided.decision = Some(record);
                let case_write = Versioned {
                    row: self.case_row(&decided, &row.area_path)?,
                    expected_version: Some(case.version),
                };
                self.register_held(ctx, reg, legal_basis, decision_payload, case_write, now)
                    .await?;
            }
            _ => {
                decided.decision = Some(record);
                let effective = thabian_model::date::PartialDate::from_ymd(
                    chrono::Datelike::year(&now.date_naive()),
                    u8::try_from(chrono::Datelike::month(&now.date_naive())).unwrap_or(1),
                    u8::try_from(chrono::Datelike::day(&now.date_naive())).unwrap_or(1),
                )
                .map_err(|e| RegisterError::Internal(e.to_string()))?;
                let event = self.case_event(
                    ctx,
                    decision_payload,
                    effective,
                    &ctx.principal.office,
                    legal_basis,
                );
                self.commit_case_event(
                    ctx,
                    &event,
                    &decided,
                    Some(case.version),
                    row.area_path.clone(),
                    now,
                )
                .await?;
            }
        }
        Ok(decided)
    }

    /// Merges `retired` into `survivor`: the retired PIN points to the survivor forever and its
    /// events show in the survivor's history. Supervisors only, with a legal basis.
    pub async fn merge(
        &self,
        ctx: &RequestContext,
        survivor: &Pin,
        retired: &Pin,
        legal_basis: LegalBasis,
        effective: thabian_model::date::PartialDate,
        idempotency_key: Option<String>,
    ) -> Result<crate::Outcome> {
        let payload = EventPayload::RecordsMerged {
            survivor: survivor.clone(),
            retired: retired.clone(),
        };
        self.submit_on_survivor(
            ctx,
            payload,
            survivor,
            legal_basis,
            effective,
            idempotency_key,
        )
        .await
    }

    /// Reverses a merge.
    pub async fn unmerge(
        &self,
        ctx: &RequestContext,
        survivor: &Pin,
        retired: &Pin,
        legal_basis: LegalBasis,
        effective: thabian_model::date::PartialDate,
        idempotency_key: Option<String>,
    ) -> Result<crate::Outcome> {
        let payload = EventPayload::RecordsUnmerged {
            survivor: survivor.clone(),
            retired: retired.clone(),
        };
        self.submit_on_survivor(
            ctx,
            payload,
            survivor,
            legal_basis,
            effective,
            idempotency_key,
        )
        .await
    }

    async fn submit_on_survivor(
        &self,
        ctx: &RequestContext,
        payload: EventPayload,
        survivor: &Pin,
        legal_basis: LegalBasis,
        effective: thabian_model::date::PartialDate,
        idempotency_key: Option<String>,
    ) -> Result<crate::Outcome> {
        self.submit(
            ctx,
            crate::Submission {
                change: crate::Change::Event(payload),
                effective,
                legal_basis,
                office: None,
                idempotency_key,
                target: Some(survivor.clone()),
                if_match: None,
            },
        )
        .await
    }

    // ------------------------------------------------------------------ the whole register

    /// Every person's comparison fields (merged-away records left out).
    pub async fn load_population(&self) -> Result<Population> {
        let mut pins = Vec::new();
        let mut records = Vec::new();
        let mut index = HashMap::new();
        let mut after = String::new();
        loop {
            let rows = self.store.match_records_after(&after, 20_000).await?;
            let Some((last, _)) = rows.last() else { break };
            after = last.clone();
            // Persons without a current compact record (written before there were any, or
            // before the address was in them) are read whole.
            let current = |b: &Vec<u8>| b.first() == Some(&thabian_model::compact::VERSION);
            let missing: Vec<String> = rows
                .iter()
                .filter(|(_, r)| !r.as_ref().is_some_and(current))
                .map(|(pin, _)| pin.clone())
                .collect();
            let mut whole: HashMap<String, Person> = HashMap::new();
            for row in self.store.persons(&missing).await? {
                let p = decode_person(&row)?;
                whole.insert(row.pin, p);
            }
            for (pin, record) in rows {
                let record = match record.filter(current) {
                    Some(bytes) => {
                        let stored = thabian_model::compact::decode(&bytes).map_err(|e| {
                            RegisterError::Store(thabian_store::StoreError::Corrupt(format!(
                                "person {pin}: {e}"
                            )))
                        })?;
                        if stored.merged {
                            continue;
                        }
                        stored.record
                    }
                    None => match whole.get(&pin) {
                        Some(p) if p.merged_into.is_none() => MatchRecord::from_person(p),
                        _ => continue,
                    },
                };
                index.insert(
                    pin.clone(),
                    u32::try_from(records.len()).unwrap_or(u32::MAX),
                );
                records.push(record);
                pins.push(Pin::from_trusted(pin));
            }
        }
        Ok(Population {
            pins,
            records,
            index,
        })
    }

    /// The whole-register duplicate pass: blocks by the key index, estimates the model by EM
    /// from the blocked pairs (u from random pairs), stores it, and reports every pair at or
    /// above `report_from`. Reads every record: the caller's role must allow it.
    pub async fn dedup(
        &self,
        ctx: &RequestContext,
        settings: &DedupSettings,
    ) -> Result<DedupReport> {
        ctx.principal.require(Permission::ReviewDuplicates)?;
        if !ctx.principal.covers_path("/") {
            return Err(RegisterError::Forbidden(
                "the whole-register duplicate pass needs a national jurisdiction".into(),
            ));
        }
        let started = Instant::now();
        let population = self.load_population().await?;
        let load_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut report = DedupReport {
            persons: population.len(),
            keys: 0,
            blocks: 0,
            blocks_skipped: 0,
            comparisons: 0,
            distinct_pairs: 0,
            model_id: None,
            trained: settings.train && population.len() >= MIN_TRAINING_PERSONS,
            model: LinkageModel::initial(),
            pairs: Vec::new(),
            load_seconds,
            block_seconds: 0.0,
            train_seconds: 0.0,
            score_seconds: 0.0,
        };
        let mut blocks = Blocks::default();
        let mut after = (String::new(), String::new());
        let mut block: Vec<u32> = Vec::new();
        let mut block_key = String::new();
        loop {
            let page = self.store.key_postings(&after, 20_000).await?;
            let Some(last) = page.last() else { break };
            after = last.clone();
            for (key, pin) in page {
                report.keys += 1;
                if key != block_key {
                    blocks.push(&mut block, &block_key, settings.max_block, &mut report);
                    block_key = key;
                }
                if let Some(i) = population.position(&pin) {
                    block.push(i);
                }
            }
        }
        blocks.push(&mut block, &block_key, settings.max_block, &mut report);
        let blocks = blocks.index(population.len());
        // Pairs by the kind of key that blocked them: EM runs per kind (see `train`).
        let sessions = blocks.session_pairs();
        let coverage = blocks.coverage(population.len());
        report.block_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let model = if report.trained {
            let model = train(&population, &sessions, coverage, settings);
            if settings.save_model {
                report.model_id = Some(self.store_linkage_model(&model).await?);
            }
            model
        } else {
            let active = self.linkage_model().await?;
            report.model_id = Some(active.id);
            (*active.model).clone()
        };
        report.train_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let report_from = settings.report_from;
        let (population, model, scored) = tokio::task::spawn_blocking(move || {
            let scored = blocks.score(&population, &model, report_from);
            (population, model, scored)
        })
        .await
        .map_err(|e| RegisterError::Internal(format!("the duplicate pass stopped: {e}")))?;
        let scored = scored?;
        report.distinct_pairs = scored.distinct_pairs;
        let mut found: Vec<FoundPair> = scored
            .found
            .into_iter()
            .map(|(a, b, comparison, weight)| {
                let probability = model.posterior(weight);
                FoundPair {
                    a: population.pins[a as usize].clone(),
                    b: population.pins[b as usize].clone(),
                    probability,
                    weight,
                    verdict: settings.thresholds.verdict(probability),
                    comparison,
                }
            })
            .collect();
        found.sort_by(|x, y| {
            y.weight
                .total_cmp(&x.weight)
                .then_with(|| x.a.as_str().cmp(y.a.as_str()))
                .then_with(|| x.b.as_str().cmp(y.b.as_str()))
        });
        report.score_seconds = started.elapsed().as_secs_f64();
        report.pairs = found;
        report.model = model;
        self.log_reads(vec![self.access_record(
            ctx,
            None,
            "dedup",
            Some(format!(
                "whole-register pass: {} persons, {} pairs compared, {} reported",
                report.persons,
                report.distinct_pairs,
                report.pairs.len()
            )),
        )])
        .await?;
        Ok(report)
    }

    /// Queues the likely pairs of a dedup report for review (cases already open for the same
    /// pair are not opened twice: the case id is derived from the two PINs).
    pub async fn queue_pairs(&self, ctx: &RequestContext, pairs: &[FoundPair]) -> Result<usize> {
        ctx.principal.require(Permission::ReviewDuplicates)?;
        let mut opened = 0;
        let legal_basis = LegalBasis {
            act: "duplicate review".into(),
            document_ref: None,
        };
        for pair in pairs.iter().filter(|p| p.verdict == Verdict::Likely) {
            let now = self.now();
            let id = format!("pair-{}-{}", pair.a, pair.b);
            if self.store.review_case(&id).await?.is_some() {
                continue;
            }
            let persons = self.load_persons(&[pair.a.clone(), pair.b.clone()]).await?;
            let mut paths: Vec<String> = persons
                .values()
                .map(|p| self.area_path(p.jurisdiction_area()))
                .collect();
            paths.sort();
            paths.dedup();
            let candidates = vec![
                DuplicateCandidate {
                    pin: pair.a.clone(),
                    probability: pair.probability,
                    weight: pair.weight,
                },
                DuplicateCandidate {
                    pin: pair.b.clone(),
                    probability: pair.probability,
                    weight: pair.weight,
                },
            ];
            let case = ReviewCase {
                id: id.clone(),
                kind: "pair".into(),
                status: "open".into(),
                opened_at: format_time(now),
                opened_by: ctx.principal.official_id.clone(),
                office: ctx.principal.office.clone(),
                registration: None,
                candidates: candidates.clone(),
                decision: None,
                version: 1,
            };
            let effective = persons
                .values()
                .map(|p| p.date_of_birth)
                .max_by_key(|d| d.sort_key())
                .ok_or_else(|| {
                    RegisterError::NotFound(format!("{} or {} is gone", pair.a, pair.b))
                })?;
            let event = self.case_event(
                ctx,
                EventPayload::DuplicatePairFound {
                    case: id,
                    candidates,
                },
                effective,
                &ctx.principal.office,
                &legal_basis,
            );
            match self
                .commit_case_event(ctx, &event, &case, None, paths.join(" "), now)
                .await
            {
                Ok(()) => opened += 1,
                // Another node queued it first.
                Err(RegisterError::Store(thabian_store::StoreError::Duplicate { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(opened)
    }

    pub(crate) fn new_event(
        &self,
        event: &Event,
        subjects: Vec<String>,
        area_path: String,
    ) -> Result<NewEvent> {
        let mut body = match serde_json::to_value(event) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => {
                return Err(RegisterError::Internal(
                    "an event must serialize to an object".into(),
                ))
            }
            Err(e) => return Err(RegisterError::Internal(e.to_string())),
        };
        body.remove("seq");
        body.remove("recorded_at");
        Ok(NewEvent {
            id: event.id.clone(),
            kind: event.payload.kind().to_owned(),
            subjects,
            area_path,
            effective: event.effective.to_string(),
            actor: event.actor.clone(),
            office: event.office.clone(),
            idempotency_key: event.idempotency_key.clone(),
            body,
        })
    }
}

/// Scores `candidates` (PIN and comparison fields) against `record`; those at or above
/// "possible", most probable first.
pub fn score_candidates<'a>(
    model: &LinkageModel,
    thresholds: &Thresholds,
    record: &MatchRecord,
    candidates: impl Iterator<Item = (&'a Pin, &'a MatchRecord)>,
) -> Vec<ScoredCandidate> {
    let mut out: Vec<ScoredCandidate> = candidates
        .filter_map(|(pin, theirs)| {
            let s = model.score_pair(record, theirs);
            let probability = s.probability;
            let verdict = thresholds.verdict(probability);
            (verdict != Verdict::Unlikely).then(|| ScoredCandidate {
                pin: pin.clone(),
                probability,
                weight: s.weight,
                verdict,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.pin.as_str().cmp(b.pin.as_str()))
    });
    out
}

/// Name tokens per field whose frequency the model keeps for term-frequency adjustment; rarer
/// ones count as the tail. A few thousand cover the names most of a population has (the
/// adjustment matters most for them: a common name's agreement counts for less) and keep the
/// stored model small (≈ 100 kB).
const TF_TOKENS: usize = 3_000;

/// Addresses (area and line) whose frequency the model keeps. Only addresses held by many
/// weaken an agreement (see `LinkageModel::score_weight`), and a country's hamlet-wide lines
/// per area are a few thousand; the list is cut where the counts are down to a household's.
const TF_ADDRESSES: usize = 20_000;

/// Pairs collected per EM session at most.
const MAX_SESSION_PAIRS: usize = 3_000_000;

/// The EM session of a blocking key: 0 for a full date of birth (`d:`), 1 for a family and
/// given name pair (`n:`); other keys only find candidates.
fn session_of(key: &str) -> Option<usize> {
    if key.starts_with("d:") {
        Some(0)
    } else if key.starts_with("n:") {
        Some(1)
    } else {
        None
    }
}

/// The model estimated from the register: u from random pairs; m by EM in three sessions (pairs
/// with the same date of birth for the names' m, pairs with the same names for the date's m,
/// the date pairs again for sex and the middle name); the prior from the sessions' coverage;
/// the register's name-token and address frequencies for term-frequency adjustment.
pub fn train(
    population: &Population,
    sessions: &[Vec<(u32, u32)>; 2],
    coverage: [Option<Coverage>; 2],
    settings: &DedupSettings,
) -> LinkageModel {
    use rand::{Rng, SeedableRng};
    use thabian_model::linkage::{estimate_by_sessions, Field, Session, TermFrequencies};
    let compare_all = |pairs: &[(u32, u32)]| -> Vec<_> {
        pairs
            .iter()
            .map(|(a, b)| {
                compare(
                    &population.records[*a as usize],
                    &population.records[*b as usize],
                )
            })
            .collect()
    };
    let by_date = compare_all(&sessions[0]);
    let by_name = compare_all(&sessions[1]);
    // A fixed seed: the same register gives the same model.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7468_6162);
    let n = population.len();
    let mut random = Vec::with_capacity(settings.random_pairs);
    if n > 1 {
        for _ in 0..settings.random_pairs {
            let a = rng.gen_range(0..n);
            let b = rng.gen_range(0..n);
            if a != b {
                random.push(compare(&population.records[a], &population.records[b]));
            }
        }
    }
    let model = estimate_by_sessions(
        &[
            // Sex and a middle name that marks it (Văn, Thị) agree together: two dependent
            // fields give EM a split as strong as the matches (measured at 1M vn persons: the
            // match class became "same sex and middle name", F1 0.04). They are left to the
            // third session, once the names anchor the match class.
            Session {
                pairs: &by_date,
                blocked_on: &[Field::DateOfBirth, Field::Sex, Field::Middle],
                keyed_on: &[Field::DateOfBirth],
                lookalikes_differ_on: &[],
                coverage: coverage[0],
            },
            // Namesakes mostly share their sex and middle name, unlike random pairs: with u
            // from random pairs those fields would pass for evidence of a match.
            Session {
                pairs: &by_name,
                blocked_on: &[Field::Given, Field::Family, Field::Middle, Field::Sex],
                keyed_on: &[Field::Given, Field::Family],
                // Namesakes of one village: everything a match agrees on but the date.
                lookalikes_differ_on: &[Field::DateOfBirth],
                coverage: coverage[1],
            },
            // The date pairs again, every other field now fixed: sex's and the middle name's m.
            Session {
                pairs: &by_date,
                blocked_on: &[Field::DateOfBirth],
                keyed_on: &[],
                lookalikes_differ_on: &[],
                coverage: None,
            },
        ],
        &random,
        &LinkageModel::initial(),
        settings.max_iterations,
    );
    model.with_term_frequencies(TermFrequencies::count(
        population.records.iter(),
        TF_TOKENS,
        TF_ADDRESSES,
    ))
}

/// The person a held registration would create.
pub fn held_person(reg: &HeldRegistration) -> Result<Person> {
    let payload = match reg {
        HeldRegistration::Birth { record } => EventPayload::BirthRegistered(record.clone()),
        HeldRegistration::Import { record, .. } => EventPayload::RecordImported(record.clone()),
    };
    let event = Event {
        schema: EVENT_SCHEMA,
        id: String::new(),
        seq: 0,
        effective: match reg {
            HeldRegistration::Birth { record } => record.particulars.date_of_birth,
            HeldRegistration::Import { record, .. } => record.particulars.date_of_birth,
        },
        recorded_at: String::new(),
        office: String::new(),
        actor: String::new(),
        legal_basis: LegalBasis {
            act: String::new(),
            document_ref: None,
        },
        idempotency_key: None,
        payload,
    };
    Person::fold(reg.pin(), std::iter::once(&event))
        .ok_or_else(|| RegisterError::Internal("a held registration creates no person".into()))
}
