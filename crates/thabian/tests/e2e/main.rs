//! End-to-end tests: real servers, real databases (SQLite always; PostgreSQL when
//! THABIAN_TEST_POSTGRES_URL is set). One test binary for the whole platform.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod cards;
mod flow;
mod harness;
mod import;
mod multinode;
mod pki;
mod proofs;
mod search;
