//! Proof planning and assembly: "plan, fetch, assemble".
//!
//! A proof is a list of MTHs of leaf ranges. Each range is decomposed into
//! stored perfect nodes ([`subtree_node_ids`]), so the store can fetch every
//! node a proof needs in a single query and the assembler only hashes.

use std::collections::HashSet;

use crate::error::TreeError;
use crate::hash::{empty_root, Hash};
use crate::node::{fold_subtree, subtree_node_ids, NodeId, NodeSource};

/// Largest power of two strictly smaller than `n` (`n >= 2`): RFC 9162's `k`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The leaf ranges of RFC 9162 `PATH(m, D[lo:hi])`, deepest first.
fn path_ranges(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < lo + k {
        path_ranges(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        path_ranges(m, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// The leaf ranges of RFC 9162 `SUBPROOF(m, D[lo:hi], b)` (`m` absolute).
fn subproof_ranges(m: u64, lo: u64, hi: u64, b: bool, out: &mut Vec<(u64, u64)>) {
    if m == hi {
        if !b {
            out.push((lo, hi));
        }
        return;
    }
    let k = split_point(hi - lo);
    if m <= lo + k {
        subproof_ranges(m, lo, lo + k, b, out);
        out.push((lo + k, hi));
    } else {
        subproof_ranges(m, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<(u64, u64)>, TreeError> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    path_ranges(index, 0, size, &mut out);
    Ok(out)
}

fn consistency_ranges(old: u64, new: u64) -> Result<Vec<(u64, u64)>, TreeError> {
    if old > new {
        return Err(TreeError::OldLargerThanNew { old, new });
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof_ranges(old, 0, new, true, &mut out);
    }
    Ok(out)
}

fn plan_of(ranges: &[(u64, u64)]) -> Vec<NodeId> {
    let mut seen = HashSet::new();
    ranges
        .iter()
        .flat_map(|&(a, b)| subtree_node_ids(a, b))
        .filter(|id| seen.insert(*id))
        .collect()
}

fn subtree_hash(start: u64, end: u64, src: &impl NodeSource) -> Result<Hash, TreeError> {
    let hashes = subtree_node_ids(start, end)
        .into_iter()
        .map(|id| src.node(id).ok_or(TreeError::MissingNode(id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(fold_subtree(&hashes).unwrap_or_else(empty_root))
}

fn assemble(ranges: &[(u64, u64)], src: &impl NodeSource) -> Result<Vec<Hash>, TreeError> {
    ranges
        .iter()
        .map(|&(a, b)| subtree_hash(a, b, src))
        .collect()
}

/// The stored nodes needed for the inclusion proof of leaf `index` in the
/// tree of `size` leaves (no duplicates, `O(log size)` of them).
pub fn inclusion_proof_plan(index: u64, size: u64) -> Result<Vec<NodeId>, TreeError> {
    Ok(plan_of(&inclusion_ranges(index, size)?))
}

/// The stored nodes needed for the consistency proof from `old` to `new`
/// leaves. Empty when `old == 0` or `old == new` (the proof is empty).
pub fn consistency_proof_plan(old: u64, new: u64) -> Result<Vec<NodeId>, TreeError> {
    Ok(plan_of(&consistency_ranges(old, new)?))
}

/// The stored nodes needed for the root of the tree at `size` leaves, so
/// historical checkpoints can be re-derived without replaying the log.
pub fn root_plan(size: u64) -> Vec<NodeId> {
    subtree_node_ids(0, size)
}

/// RFC 9162 section 2.1.3.1 `PATH(index, D[0:size])`, from the leaf's sibling
/// up to the root's child, built from the nodes of
/// [`inclusion_proof_plan`].
pub fn inclusion_proof(
    index: u64,
    size: u64,
    src: &impl NodeSource,
) -> Result<Vec<Hash>, TreeError> {
    assemble(&inclusion_ranges(index, size)?, src)
}

/// RFC 9162 section 2.1.4.1 `PROOF(old, D[0:new])`, built from the nodes of
/// [`consistency_proof_plan`]. Empty when `old == 0` or `old == new`,
/// which is what [`crate::verify_consistency`] expects in those cases.
pub fn consistency_proof(
    old: u64,
    new: u64,
    src: &impl NodeSource,
) -> Result<Vec<Hash>, TreeError> {
    assemble(&consistency_ranges(old, new)?, src)
}

/// MTH of the tree at `size` leaves (the empty-tree hash for 0), built from
/// the nodes of [`root_plan`].
pub fn root_at(size: u64, src: &impl NodeSource) -> Result<Hash, TreeError> {
    subtree_hash(0, size, src)
}
