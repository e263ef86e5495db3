//! Error types. One per concern, so callers can tell "the store is missing
//! data" (a bug or corruption on our side) from "this proof is wrong" (bad
//! input from someone else).

use crate::node::NodeId;

/// Failures while planning or assembling proofs, or handling frontiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A leaf index at or past the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was requested for.
        size: u64,
    },
    /// A consistency proof asked to go backwards.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldLargerThanNew {
        /// The older tree size.
        old: u64,
        /// The newer tree size.
        new: u64,
    },
    /// The node source does not have a node the plan needs.
    #[error("missing {0} in the node source")]
    MissingNode(NodeId),
    /// A frontier's hash count does not match its size.
    #[error("a frontier of size {size} needs {expected} hashes (one per set bit), got {got}")]
    FrontierShape {
        /// The frontier's tree size.
        size: u64,
        /// `size.count_ones()`.
        expected: usize,
        /// How many hashes were given.
        got: usize,
    },
    /// A frontier blob that is not `8 + 32 * k` bytes.
    #[error("a frontier blob must be 8 + 32*k bytes, got {len} bytes")]
    FrontierBytes {
        /// The blob's length.
        len: usize,
    },
    /// The tree already has `u64::MAX` leaves.
    #[error("the tree is full: it already has u64::MAX leaves")]
    TreeFull,
}

/// Why a proof failed to verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is at or past the tree size.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// A consistency proof between sizes that go backwards.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldLargerThanNew {
        /// The older tree size.
        old: u64,
        /// The newer tree size.
        new: u64,
    },
    /// The proof has more hashes than the tree shape allows.
    #[error("the proof has too many hashes for these tree sizes")]
    ProofTooLong,
    /// The proof has fewer hashes than the tree shape needs.
    #[error("the proof has too few hashes for these tree sizes")]
    ProofTooShort,
    /// A case where the RFC requires an empty proof got hashes.
    #[error("the proof must be empty for these tree sizes, got {0} hashes")]
    ExpectedEmptyProof(usize),
    /// The recomputed root is not the claimed root.
    #[error("the proof does not lead to the claimed root hash")]
    RootMismatch,
    /// The recomputed old root is not the claimed old root.
    #[error("the proof does not lead to the claimed old root hash")]
    OldRootMismatch,
    /// The recomputed new root is not the claimed new root.
    #[error("the proof does not lead to the claimed new root hash")]
    NewRootMismatch,
}
