//! Officials, roles, permissions and jurisdiction. Deny by default: every use case names the
//! permission it needs, and a role has only the permissions listed here.
use crate::RegisterError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Registrar,
    Supervisor,
    CardOfficer,
    Auditor,
    Administrator,
    ServiceAccount,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Registrar => "registrar",
            Role::Supervisor => "supervisor",
            Role::CardOfficer => "card_officer",
            Role::Auditor => "auditor",
            Role::Administrator => "administrator",
            Role::ServiceAccount => "service_account",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "registrar" => Role::Registrar,
            "supervisor" => Role::Supervisor,
            "card_officer" => Role::CardOfficer,
            "auditor" => Role::Auditor,
            "administrator" => Role::Administrator,
            "service_account" => Role::ServiceAccount,
            _ => return None,
        })
    }

    pub const ALL: [Role; 6] = [
        Role::Registrar,
        Role::Supervisor,
        Role::CardOfficer,
        Role::Auditor,
        Role::Administrator,
        Role::ServiceAccount,
    ];

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Registrar => matches!(
                permission,
                ReadPerson | RegisterEvent | SearchPersons | ReportCard
            ),
            Role::Supervisor => matches!(
                permission,
                ReadPerson
                    | RegisterEvent
                    | RegisterSensitiveEvent
                    | ReadAccessLog
                    | SearchPersons
                    | SearchNationwide
                    | ReviewDuplicates
                    | DecideCard
                    | ReportCard
                    | CheckCardStatus
            ),
            Role::CardOfficer => matches!(
                permission,
                ReadPerson
                    | SearchPersons
                    | ApplyCard
                    | ProduceCard
                    | ReportCard
                    | ReadBiometrics
                    | CheckCardStatus
            ),
            Role::Auditor => matches!(permission, ReadAccessLog | ReadLog),
            Role::Administrator => matches!(permission, ManageOfficials | ReadLog),
            Role::ServiceAccount => matches!(permission, ReadPerson | ReadFeed | CheckCardStatus),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read a person's record, history, relatives, household.
    ReadPerson,
    /// Register ordinary life events (birth, death, marriage, moves, households, name change).
    RegisterEvent,
    /// Corrections of particulars, adoption, nationality, status changes, imports: supervisor only.
    RegisterSensitiveEvent,
    /// Follow the change feed.
    ReadFeed,
    /// Read the access log.
    ReadAccessLog,
    /// Read log checkpoints and proofs (they carry no personal data).
    ReadLog,
    /// Create officials, issue and revoke tokens.
    ManageOfficials,
    /// Fuzzy demographic search (within the jurisdiction).
    SearchPersons,
    /// Search hits outside the jurisdiction too (shown by PIN and score only).
    SearchNationwide,
    /// The duplicate review queue, decisions, and the whole-register duplicate pass.
    ReviewDuplicates,
    /// Take a card application with its biometric samples.
    ApplyCard,
    /// Approve or reject an application; suspend, reinstate or revoke a card; record expiry.
    DecideCard,
    /// Batch, personalise, issue and activate cards.
    ProduceCard,
    /// Report a card lost or stolen.
    ReportCard,
    /// Read the biometric samples captured with applications.
    ReadBiometrics,
    /// Ask for a card's status by its number (verifiers' online check).
    CheckCardStatus,
}

/// The jurisdiction value that means the whole country.
pub const NATIONAL: &str = "*";

/// An authenticated official, as the use cases see them.
#[derive(Debug, Clone)]
pub struct Principal {
    pub official_id: String,
    pub name: String,
    pub role: Role,
    /// An admin-area code or [`NATIONAL`].
    pub jurisdiction: String,
    /// The path of the jurisdiction's area (`/` for national), for subtree checks.
    pub jurisdiction_path: String,
    /// The office the official registers from (admin-area code).
    pub office: String,
}

impl Principal {
    pub fn require(&self, permission: Permission) -> Result<(), RegisterError> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(RegisterError::Forbidden(format!(
                "role {} does not allow this action",
                self.role.as_str()
            )))
        }
    }

    /// Whether an admin-area path lies inside this official's jurisdiction.
    pub fn covers_path(&self, path: &str) -> bool {
        path.starts_with(&self.jurisdiction_path)
    }
}

/// Who is asking, from where and why: written into every access record.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub principal: Principal,
    /// The `Purpose` header: why the data is needed.
    pub purpose: Option<String>,
    /// Client address.
    pub client: Option<String>,
}

/// API tokens are 256-bit random values, so a fast hash is enough to make the stored value
/// useless to a thief (unlike passwords, they cannot be guessed); SHA-256 keeps the lookup an
/// indexed equality match on every request.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random API token: `thb_` + 43 base64url characters (256 bits).
pub fn new_token(rng: &mut impl rand::RngCore) -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    format!(
        "thb_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}
