//! The tamper-evident log: signed checkpoints, inclusion and consistency proofs, and
//! `verify-log`, which recomputes everything from the events and names the first one that was
//! edited, removed or reordered.
use crate::{RegisterError, Result};
use std::sync::Arc;
use thabian_ledger::{
    consistency_proof, consistency_proof_plan, inclusion_proof, inclusion_proof_plan, leaf_hash,
    root_at, root_plan, Checkpoint, CheckpointSigner, CheckpointVerifier, Frontier, Hash, NodeId,
};
use thabian_store::{format_time, CheckpointRow, DynStore, FeedFilter, StoreError};

/// Checkpoint at least this often while events arrive...
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);
/// ...and at least every this many events.
pub const CHECKPOINT_EVENTS: u64 = 10_000;

fn ledger_err(e: impl std::fmt::Display) -> RegisterError {
    RegisterError::Store(StoreError::Corrupt(e.to_string()))
}

pub struct LogService {
    store: DynStore,
    signer: Arc<CheckpointSigner>,
}

#[derive(Debug, Clone)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub hashes: Vec<Hash>,
    pub root: Hash,
}

#[derive(Debug, Clone)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub hashes: Vec<Hash>,
    pub old_root: Hash,
    pub new_root: Hash,
}

impl LogService {
    /// The log's origin (the first line of every checkpoint), e.g. `thabian.la/register`.
    pub fn new(store: DynStore, signer: Arc<CheckpointSigner>) -> LogService {
        LogService { store, signer }
    }

    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    pub async fn publish_key(&self, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
        let key_id = hex::encode(self.signer.key_id());
        self.store
            .add_log_key(&key_id, &self.signer.verifier_key(), &format_time(now))
            .await?;
        Ok(())
    }

    async fn nodes(&self, ids: Vec<NodeId>) -> Result<std::collections::HashMap<NodeId, Hash>> {
        Ok(self.store.merkle_nodes(&ids).await?)
    }

    pub async fn root_at(&self, size: u64) -> Result<Hash> {
        let nodes = self.nodes(root_plan(size)).await?;
        root_at(size, &nodes).map_err(ledger_err)
    }

    /// Signs and stores a checkpoint of the current log if it is due (or `force`d and the log
    /// grew). Returns the new checkpoint.
    pub async fn checkpoint_if_due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        force: bool,
    ) -> Result<Option<CheckpointRow>> {
        let size = self.store.log_size().await?;
        let latest = self.store.latest_checkpoint().await?;
        let (last_size, last_time) = match &latest {
            Some(c) => (
                c.size,
                chrono::DateTime::parse_from_rfc3339(&c.time)
                    .ok()
                    .map(|t| t.with_timezone(&chrono::Utc)),
            ),
            None => (0, None),
        };
        if size <= last_size {
            return Ok(None);
        }
        let interval = chrono::Duration::from_std(CHECKPOINT_INTERVAL)
            .unwrap_or_else(|_| chrono::Duration::seconds(10));
        let due = force
            || size - last_size >= CHECKPOINT_EVENTS
            || last_time.map(|t| now - t >= interval).unwrap_or(true);
        if !due {
            return Ok(None);
        }
        // Every multiple of CHECKPOINT_EVENTS passed since the last checkpoint gets its own
        // checkpoint (roots of past sizes are computable from the stored nodes), so no stretch
        // of more than CHECKPOINT_EVENTS events is ever left without one, however fast they came.
        let mut boundary = (last_size / CHECKPOINT_EVENTS + 1) * CHECKPOINT_EVENTS;
        while boundary < size {
            self.sign_and_store(boundary, now).await?;
            boundary += CHECKPOINT_EVENTS;
        }
        Ok(Some(self.sign_and_store(size, now).await?))
    }

    async fn sign_and_store(
        &self,
        size: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<CheckpointRow> {
        let root = self.root_at(size).await?;
        let unix = u64::try_from(now.timestamp()).map_err(ledger_err)?;
        let checkpoint =
            Checkpoint::new(self.signer.name(), size, root, Some(unix)).map_err(ledger_err)?;
        let row = CheckpointRow {
            size,
            root,
            time: checkpoint.time_rfc3339().unwrap_or_default(),
            key_id: hex::encode(self.signer.key_id()),
            note: self.signer.sign(&checkpoint),
        };
        self.store.add_checkpoint(&row).await?;
        Ok(row)
    }

    /// Runs until `stop` resolves, checkpointing when due; a last checkpoint at the end.
    pub async fn run_checkpointer(
        self: Arc<Self>,
        clock: Arc<dyn crate::Clock>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut stop = stop;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.checkpoint_if_due(clock.now(), false).await {
                        tracing::warn!(error = %e, "checkpoint failed");
                    }
                }
                _ = stop.changed() => break,
            }
        }
        if let Err(e) = self.checkpoint_if_due(clock.now(), true).await {
            tracing::warn!(error = %e, "final checkpoint failed");
        }
    }

    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointRow>> {
        Ok(self.store.latest_checkpoint().await?)
    }

    pub async fn checkpoint(&self, size: u64) -> Result<Option<CheckpointRow>> {
        Ok(self.store.checkpoint(size).await?)
    }

    /// Inclusion proof of the event with commit position `seq` (leaf index `seq - 1`) in the tree
    /// of `tree_size` events (default: the latest checkpoint).
    pub async fn inclusion(&self, seq: u64, tree_size: Option<u64>) -> Result<InclusionProof> {
        let size = match tree_size {
            Some(s) => s,
            None => self
                .store
                .latest_checkpoint()
                .await?
                .map(|c| c.size)
                .ok_or_else(|| RegisterError::NotFound("no checkpoint yet".into()))?,
        };
        let log_size = self.store.log_size().await?;
        if seq == 0 || seq > size || size > log_size {
            return Err(RegisterError::Invalid(format!(
                "event {seq} is not in a tree of size {size} (the log holds {log_size} events)"
            )));
        }
        let index = seq - 1;
        let mut plan =
            inclusion_proof_plan(index, size).map_err(|e| RegisterError::Invalid(e.to_string()))?;
        plan.push(NodeId::leaf(index));
        plan.extend(root_plan(size));
        let nodes = self.nodes(plan).await?;
        let hashes = inclusion_proof(index, size, &nodes).map_err(ledger_err)?;
        let leaf = nodes
            .get(&NodeId::leaf(index))
            .copied()
            .ok_or_else(|| ledger_err("missing leaf"))?;
        let root = root_at(size, &nodes).map_err(ledger_err)?;
        Ok(InclusionProof {
            leaf_index: index,
            tree_size: size,
            leaf_hash: leaf,
            hashes,
            root,
        })
    }

    pub async fn consistency(&self, old_size: u64, new_size: u64) -> Result<ConsistencyProof> {
        let log_size = self.store.log_size().await?;
        if old_size > new_size || new_size > log_size {
            return Err(RegisterError::Invalid(format!(
                "no consistency proof from {old_size} to {new_size} (the log holds {log_size} events)"
            )));
        }
        let mut plan = consistency_proof_plan(old_size, new_size)
            .map_err(|e| RegisterError::Invalid(e.to_string()))?;
        plan.extend(root_plan(old_size));
        plan.extend(root_plan(new_size));
        let nodes = self.nodes(plan).await?;
        Ok(ConsistencyProof {
            old_size,
            new_size,
            hashes: consistency_proof(old_size, new_size, &nodes).map_err(ledger_err)?,
            old_root: root_at(old_size, &nodes).map_err(ledger_err)?,
            new_root: root_at(new_size, &nodes).map_err(ledger_err)?,
        })
    }
}

/// What `verify-log` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events_checked: u64,
    pub checkpoints_checked: u64,
    /// The first problem, naming the event (commit position) where it is.
    pub first_problem: Option<(u64, String)>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// Recomputes the Merkle tree from the stored events and checks every stored leaf and node,
/// the log head and every checkpoint (its signature by a trusted key and its root).
pub async fn verify_log(store: &DynStore, trusted: &[CheckpointVerifier]) -> Result<VerifyReport> {
    let checkpoints = store.checkpoints().await?;
    let log_size = store.log_size().await?;
    let mut next_checkpoint = checkpoints.iter().peekable();
    let mut report = VerifyReport {
        events_checked: 0,
        checkpoints_checked: 0,
        first_problem: None,
    };
    let mut frontier = Frontier::new();
    let mut after = 0u64;
    let fail = |report: &mut VerifyReport, seq: u64, why: String| {
        if report.first_problem.is_none() {
            report.first_problem = Some((seq, why));
        }
    };
    'outer: loop {
        let events = store
            .events_after(after, 2000, &FeedFilter::default())
            .await?;
        if events.is_empty() {
            break;
        }
        let ids: Vec<NodeId> = events
            .iter()
            .map(|e| NodeId::leaf(e.seq.saturating_sub(1)))
            .collect();
        let stored_leaves = store.merkle_nodes(&ids).await?;
        for e in &events {
            let expected = after + 1;
            if e.seq != expected {
                fail(
                    &mut report,
                    expected,
                    format!("event {expected} is missing: removed from the log"),
                );
                break 'outer;
            }
            let recomputed = leaf_hash(e.body.as_bytes());
            let body: serde_json::Value = match serde_json::from_str(&e.body) {
                Ok(v) => v,
                Err(err) => {
                    fail(
                        &mut report,
                        e.seq,
                        format!("event {} is not valid JSON: {err}", e.seq),
                    );
                    break 'outer;
                }
            };
            if body.get("seq").and_then(|s| s.as_u64()) != Some(e.seq) {
                fail(
                    &mut report,
                    e.seq,
                    format!("event {} carries another position: reordered", e.seq),
                );
                break 'outer;
            }
            let body_kind = body
                .get("payload")
                .and_then(|p| p.get("type"))
                .and_then(|k| k.as_str());
            let consistent = body_kind == Some(e.kind.as_str())
                && body.get("recorded_at").and_then(|v| v.as_str()) == Some(e.recorded_at.as_str())
                && body.get("id").and_then(|v| v.as_str()) == Some(e.id.as_str())
                && body.get("effective").and_then(|v| v.as_str()) == Some(e.effective.as_str());
            if !consistent {
                fail(
                    &mut report,
                    e.seq,
                    format!(
                        "event {}: its columns do not match its hashed body: edited",
                        e.seq
                    ),
                );
                break 'outer;
            }
            if recomputed != e.leaf_hash
                || stored_leaves.get(&NodeId::leaf(e.seq - 1)) != Some(&recomputed)
            {
                fail(
                    &mut report,
                    e.seq,
                    format!(
                        "event {} does not match the hash committed to the log: edited",
                        e.seq
                    ),
                );
                break 'outer;
            }
            if let Err(err) = frontier.append(recomputed) {
                fail(&mut report, e.seq, err.to_string());
                break 'outer;
            }
            report.events_checked += 1;
            after = e.seq;
            while let Some(c) = next_checkpoint.peek() {
                if c.size != frontier.size() {
                    break;
                }
                if let Err(why) = check_checkpoint(c, &frontier.root(), trusted) {
                    fail(
                        &mut report,
                        c.size,
                        format!("checkpoint at size {}: {why}", c.size),
                    );
                    break 'outer;
                }
                report.checkpoints_checked += 1;
                next_checkpoint.next();
            }
        }
    }
    if report.first_problem.is_none() {
        if after != log_size {
            fail(
                &mut report,
                after + 1,
                format!("the log head says {log_size} events but {after} were found: removed"),
            );
        } else if let Some(c) = next_checkpoint.next() {
            fail(
                &mut report,
                after + 1,
                format!(
                    "a checkpoint covers {} events but the log holds {after}: events removed",
                    c.size
                ),
            );
        } else if let Some(root) = (after > 0).then(|| frontier.root()) {
            let nodes = store.merkle_nodes(&root_plan(after)).await?;
            if root_at(after, &nodes).ok() != Some(root) {
                fail(
                    &mut report,
                    after,
                    "the stored Merkle nodes do not match the events".into(),
                );
            }
        }
    }
    Ok(report)
}

fn check_checkpoint(
    c: &CheckpointRow,
    root: &Hash,
    trusted: &[CheckpointVerifier],
) -> std::result::Result<(), String> {
    if &c.root != root {
        return Err("its root does not match the events: an event up to here was rewritten".into());
    }
    if trusted.is_empty() {
        return Ok(());
    }
    let mut last_error = String::from("no trusted key matches its signature");
    for v in trusted {
        match v.verify_note(&c.note) {
            Ok(cp) if cp.size() == c.size && cp.root() == root => return Ok(()),
            Ok(_) => return Err("its signed note names another size or root".into()),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(format!("signature not valid: {last_error}"))
}
