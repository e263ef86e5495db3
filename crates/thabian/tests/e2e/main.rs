//! End-to-end tests: real servers, real databases (SQLite always; PostgreSQL when
//! THABIAN_TEST_POSTGRES_URL is set). One test binary for the whole platform.
mod flow;
mod harness;
mod multinode;
mod proofs;
