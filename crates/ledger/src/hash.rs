//! RFC 9162 section 2.1 hashing with domain separation.
//!
//! The `0x00` / `0x01` prefixes make a leaf hash impossible to confuse with
//! an interior-node hash, which is what stops second-preimage attacks where
//! an interior node is passed off as a leaf.

use sha2::{Digest, Sha256};

/// A SHA-256 output: every leaf, interior node and root in the log.
pub type Hash = [u8; 32];

/// Hash of one leaf: `SHA-256(0x00 || data)`.
///
/// `data` is the canonical encoding of a register event; the log commits to
/// it byte for byte, so the encoding must never change once written.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// Hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// MTH of the empty tree: `SHA-256("")`, as RFC 9162 defines it, so a
/// checkpoint for a brand-new register is still well defined.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}
