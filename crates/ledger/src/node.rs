//! Addresses of stored Merkle nodes, and the trait the store implements to
//! hand them back.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::hash::{node_hash, Hash};

/// The position of a *perfect, aligned* subtree: `2^level` leaves starting at
/// leaf `index << level`.
///
/// Only these nodes are ever stored. They never change once complete (the
/// tree is append-only), so the store can write each one exactly once and
/// every proof or historical root can be rebuilt from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves; 0 means a leaf hash.
    pub level: u8,
    /// Position among the nodes of the same level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// Builds a node address.
    pub const fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }

    /// The address of the hash of leaf `index`.
    pub const fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }

    /// First leaf covered (saturating for addresses beyond any real tree).
    pub fn start(&self) -> u64 {
        shl_saturating(self.index, self.level)
    }

    /// One past the last leaf covered (saturating for addresses beyond any
    /// real tree).
    pub fn end(&self) -> u64 {
        shl_saturating(self.index.saturating_add(1), self.level)
    }
}

fn shl_saturating(x: u64, level: u8) -> u64 {
    if level >= 64 {
        return if x == 0 { 0 } else { u64::MAX };
    }
    if x > (u64::MAX >> level) {
        u64::MAX
    } else {
        x << level
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node (level {}, index {}) covering leaves [{}, {})",
            self.level,
            self.index,
            self.start(),
            self.end()
        )
    }
}

/// Where the assemblers get node hashes from.
///
/// The intended flow is: plan (`*_plan` functions give the [`NodeId`]s),
/// fetch them all from the database in one query into a map, then assemble
/// from that map. Implemented for `HashMap` and `BTreeMap` so the fetched
/// rows can be used directly.
pub trait NodeSource {
    /// The stored hash of `id`, or `None` if the source does not have it.
    fn node(&self, id: NodeId) -> Option<Hash>;
}

impl<S: std::hash::BuildHasher> NodeSource for HashMap<NodeId, Hash, S> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

impl NodeSource for BTreeMap<NodeId, Hash> {
    fn node(&self, id: NodeId) -> Option<Hash> {
        self.get(&id).copied()
    }
}

impl<T: NodeSource + ?Sized> NodeSource for &T {
    fn node(&self, id: NodeId) -> Option<Hash> {
        (**self).node(id)
    }
}

/// Decomposes the leaf range `[start, end)` into perfect aligned nodes, left
/// to right.
///
/// For every range that occurs in RFC 9162's MTH recursion (a subtree
/// `D[a:b]` where `a` is a multiple of the smallest power of two `>= b - a`)
/// the nodes are exactly the left-perfect splits of that recursion, largest
/// first, so folding them right to left (see [`fold_subtree`]) gives
/// `MTH(D[start:end])`. For other ranges the result is still an exact
/// cover by aligned nodes (the compact range), but folding it has no RFC
/// meaning. An empty range gives no nodes.
pub fn subtree_node_ids(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let align = if pos == 0 { 63 } else { pos.trailing_zeros() };
        let fit = 63 - (end - pos).leading_zeros();
        let level = align.min(fit);
        // level <= 63, so the cast and the shift are exact.
        out.push(NodeId::new(level as u8, pos >> level));
        pos += 1u64 << level;
    }
    out
}

/// Combines the hashes of the nodes returned by [`subtree_node_ids`] (same
/// order) into the MTH of the range they cover; `None` for an empty list.
///
/// Right to left because MTH splits off the largest perfect subtree on the
/// left and recurses on the right.
pub fn fold_subtree(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}
