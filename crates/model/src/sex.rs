//! Sex as recorded in the register.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
    /// Not known or not stated; some PIN schemes (vn-12) cannot number such a record.
    Unknown,
}
