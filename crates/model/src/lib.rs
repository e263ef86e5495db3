//! Thabian's domain model. Pure: no I/O, never reads the clock (time is a parameter).
//!
//! Serde derives here define the *stored* encoding of events and projections (versioned by
//! `event::EVENT_SCHEMA`); the HTTP wire types live in `thabian-api`.
pub mod card;
pub mod compact;
pub mod date;
pub mod event;
pub mod legacy;
pub mod linkage;
pub mod name;
pub mod person;
pub mod pin;
pub mod profile;
pub mod rules;
pub mod sex;
pub mod translit;
pub mod vocabulary;
