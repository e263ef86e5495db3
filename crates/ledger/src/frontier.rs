//! The compact range of a growing tree: enough state to append leaves and
//! compute the current root without reading any stored node.

use crate::error::TreeError;
use crate::hash::{empty_root, node_hash, Hash};
use crate::node::{fold_subtree, NodeId};

/// The perfect subtrees of `size`'s binary decomposition, left to right
/// (largest first): at most 64 hashes.
///
/// The committer keeps this in memory (and persists it with
/// [`Frontier::to_bytes`]) so that appending an event costs
/// `O(log n)` hashing and no reads, and so that [`Frontier::append`] can
/// tell the store exactly which nodes became final.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

/// The node addresses making up the frontier of a tree of `size` leaves,
/// left to right; empty for size 0.
///
/// Identical to `subtree_node_ids(0, size)` and to [`crate::root_plan`]:
/// a frontier can be rebuilt from the store with one fetch of these.
pub fn frontier_node_ids(size: u64) -> Vec<NodeId> {
    let mut out = Vec::with_capacity(size.count_ones() as usize);
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        let bit = 1u64 << level;
        if size & bit != 0 {
            out.push(NodeId::new(level, start >> level));
            start += bit;
        }
    }
    out
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Rebuilds a frontier from a size and its hashes (in
    /// [`frontier_node_ids`] order), e.g. as fetched from the store.
    ///
    /// Fails if the number of hashes is not `size.count_ones()`; the hashes
    /// themselves cannot be checked here.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, TreeError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(TreeError::FrontierShape {
                size,
                expected,
                got: hashes.len(),
            });
        }
        Ok(Frontier { size, hashes })
    }

    /// The size and hashes, the inverse of [`Frontier::from_parts`].
    pub fn to_parts(&self) -> (u64, Vec<Hash>) {
        (self.size, self.hashes.clone())
    }

    /// Blob encoding for persistence: the size as a big-endian `u64`, then
    /// the `size.count_ones()` hashes of 32 bytes each, left to right. No
    /// version byte: the layout is fixed by the RFC 9162 tree shape.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.hashes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        out
    }

    /// Decodes [`Frontier::to_bytes`]; rejects any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TreeError> {
        let bad = || TreeError::FrontierBytes { len: bytes.len() };
        let (size_bytes, rest) = bytes.split_first_chunk::<8>().ok_or_else(bad)?;
        if rest.len() % 32 != 0 {
            return Err(bad());
        }
        let hashes = rest
            .chunks_exact(32)
            .map(|c| {
                let mut h = [0u8; 32];
                h.copy_from_slice(c);
                h
            })
            .collect();
        Frontier::from_parts(u64::from_be_bytes(*size_bytes), hashes)
    }

    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier hashes, in [`frontier_node_ids`] order.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The addresses of [`Frontier::hashes`].
    pub fn node_ids(&self) -> Vec<NodeId> {
        frontier_node_ids(self.size)
    }

    /// MTH of the whole tree (the empty-tree hash for size 0): what a
    /// checkpoint signs.
    pub fn root(&self) -> Hash {
        fold_subtree(&self.hashes).unwrap_or_else(empty_root)
    }

    /// Appends one leaf hash (see [`crate::leaf_hash`]) and returns every
    /// node that this append completed, from the leaf itself (level 0)
    /// upward, for the store to persist.
    ///
    /// Every perfect node is returned exactly once over the life of the
    /// tree, so after each append the store holds all perfect nodes of the
    /// tree and can serve any proof. Fails only when the tree already has
    /// `u64::MAX` leaves.
    pub fn append(&mut self, leaf: Hash) -> Result<Vec<(NodeId, Hash)>, TreeError> {
        let position = self.size;
        let new_size = position.checked_add(1).ok_or(TreeError::TreeFull)?;
        let mut completed = vec![(NodeId::leaf(position), leaf)];
        let mut carry = leaf;
        let mut level: u8 = 0;
        // Each set low bit of the old size is a perfect subtree that now has
        // an equal-sized right sibling: merge them.
        while position & (1u64 << level) != 0 {
            let Some(left) = self.hashes.pop() else {
                // Unreachable by construction (hashes.len() == count_ones).
                return Err(TreeError::FrontierShape {
                    size: self.size,
                    expected: self.size.count_ones() as usize,
                    got: self.hashes.len(),
                });
            };
            carry = node_hash(&left, &carry);
            level += 1;
            completed.push((NodeId::new(level, position >> level), carry));
        }
        self.hashes.push(carry);
        self.size = new_size;
        Ok(completed)
    }
}
