//! Thabian's use cases over the register: the one write path, queries, the change feed, the
//! access log, officials and tokens, and the tamper-evident log (checkpoints, proofs, verify).
//!
//! Authorization is decided here, not in the HTTP handlers: every public method takes a
//! [`RequestContext`] and checks the permission and jurisdiction it needs first.
pub mod access;
pub mod auth;
pub mod cards;
pub mod chip;
pub mod committer;
pub mod dedup;
pub mod import;
pub mod log;
mod service;

pub use auth::{Permission, Principal, RequestContext, Role, NATIONAL};
pub use service::*;

use thabian_model::rules::Violation;
use thabian_store::StoreError;

/// Every way a use case can fail. Each maps to one stable error code (see [`RegisterError::code`]).
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Rule(#[from] Violation),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    #[error("the record has changed: expected version {expected}, current version {current}")]
    VersionMismatch { expected: u64, current: u64 },
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("the idempotency key {0} was already used for a different request")]
    IdempotencyKeyReused(String),
    #[error("the request conflicted with concurrent changes too many times; retry")]
    Contention,
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    #[error("access log failure: {0}")]
    AccessLog(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl RegisterError {
    /// The stable, machine-readable code clients match on.
    pub fn code(&self) -> &str {
        match self {
            RegisterError::Invalid(_) => "invalid-request",
            RegisterError::Rule(v) => v.code,
            RegisterError::NotFound(_) => "not-found",
            RegisterError::Forbidden(_) => "forbidden",
            RegisterError::Unauthenticated(_) => "unauthenticated",
            RegisterError::VersionMismatch { .. } => "version-mismatch",
            RegisterError::PreconditionRequired(_) => "precondition-required",
            RegisterError::IdempotencyKeyReused(_) => "idempotency-key-reused",
            RegisterError::Contention => "contention",
            RegisterError::Store(_) => "storage-error",
            RegisterError::AccessLog(_) => "access-log-error",
            RegisterError::Internal(_) => "internal-error",
        }
    }
}

pub type Result<T, E = RegisterError> = std::result::Result<T, E>;
