//! The PKI's integration tests, in one test binary: keys, signing and verification
//! (`keys`), and the certificate authority end to end (`ca`).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod ca;
mod keys;
