//! RFC 9162 Merkle tree hashing and proofs, and signed checkpoints.
//!
//! Every register event's canonical bytes are a leaf of one append-only
//! Merkle tree in commit order. This crate is the pure, I/O-free core of
//! that: hashing ([`leaf_hash`], [`node_hash`]), the committer's
//! [`Frontier`], proof planning and assembly from stored perfect nodes
//! ([`inclusion_proof_plan`] then [`inclusion_proof`], and so on),
//! verification ([`verify_inclusion`], [`verify_consistency`]) and C2SP
//! signed checkpoints ([`Checkpoint`], [`CheckpointSigner`],
//! [`CheckpointVerifier`]).
//!
//! The store persists every perfect aligned subtree ([`NodeId`]) returned by
//! [`Frontier::append`]; to serve a proof it asks for the plan, fetches those
//! nodes in one query into a map (a [`NodeSource`]) and assembles.

mod checkpoint;
mod error;
mod frontier;
mod hash;
mod node;
mod note;
mod proof;
mod verify;

pub use checkpoint::{format_rfc3339_utc, parse_rfc3339_utc, Checkpoint, CheckpointError};
pub use error::{ProofError, TreeError};
pub use frontier::{frontier_node_ids, Frontier};
pub use hash::{empty_root, leaf_hash, node_hash, Hash};
pub use node::{fold_subtree, subtree_node_ids, NodeId, NodeSource};
pub use note::{
    generate_signing_key, key_id, signing_key_from_pkcs8_pem, signing_key_to_pkcs8_pem,
    CheckpointSigner, CheckpointVerifier,
};
pub use proof::{
    consistency_proof, consistency_proof_plan, inclusion_proof, inclusion_proof_plan, root_at,
    root_plan,
};
pub use verify::{verify_consistency, verify_inclusion};

/// Re-exported so callers can name the key types without depending on
/// `ed25519-dalek` themselves.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
/// The zeroize-on-drop wrapper returned by [`signing_key_to_pkcs8_pem`].
pub use zeroize::Zeroizing;
