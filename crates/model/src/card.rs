//! Identity cards in the register: the lifecycle of each card a person holds, as events.
//!
//! A card is applied for, approved by a supervisor (another official than the one who took the
//! application), put in a production batch, personalised (its chip written and signed), issued
//! to the holder and activated. An issued card may be suspended and reinstated, reported lost or
//! stolen, revoked, or expire; a renewal or replacement is a new application that names the card
//! it replaces, which is superseded when the new card is issued. Every step is a
//! [`CardEvent`] in the holder's history, so the card's state is a fold of the log like the rest
//! of the record.
//!
//! Invariants the rules keep ([`check_card_event`]):
//! - at most one card of a person is *valid* (issued, active or suspended) at any time;
//! - at most one application of a person is in progress (applied to personalised);
//! - every transition follows [`CardStatus::allows`]; anything else is refused with a stable code;
//! - a deceased, merged or non-living person gets no new card.
//!
//! Biometric samples are not in the events: an application references them by id and SHA-256
//! digest ([`BiometricRef`]); the samples live encrypted outside the event log.
use crate::date::{age_in_completed_years, PartialDate};
use crate::person::{Person, Status};
use crate::profile::{CardNumberScheme, CardRules, CardValidity};
use crate::rules::Violation;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// A step in the life of one card of one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardEvent {
    /// The holder.
    pub pin: crate::pin::Pin,
    /// The card's id: assigned by the register at application, stable for the card's life.
    pub card: String,
    pub change: CardChange,
}

/// Why a card is applied for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationReason {
    /// The person's first card.
    First,
    /// The previous card expires or has expired (or the holder reaches a renewal age).
    Renewal,
    /// The previous card was lost, stolen or damaged.
    Replacement,
    /// The holder's particulars changed (name, for example).
    ChangeOfParticulars,
}

/// A biometric sample captured with an application, stored encrypted outside the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BiometricRef {
    /// The id of the encrypted sample.
    pub id: String,
    /// SHA-256 of the sample as captured (hex), binding the event to the bytes.
    pub sha256: String,
    /// Media type or ISO format: `image/jpeg`, `image/jp2`, `iso-19794-4`, `iso-19794-2`.
    pub format: String,
    /// For a fingerprint: the finger position (ISO/IEC 19794-4: 1 right thumb ... 10 left
    /// little finger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u8>,
}

/// What happened to the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum CardChange {
    Applied {
        /// The card number (printed and in the MRZ), drawn per the profile's scheme.
        number: String,
        reason: ApplicationReason,
        /// The card this one renews or replaces.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
        face: BiometricRef,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fingerprints: Vec<BiometricRef>,
    },
    Approved,
    Rejected {
        reason: String,
    },
    /// Put in a production batch.
    Batched {
        batch: String,
    },
    /// The chip written and signed. Recorded again for a card not yet issued whose package was
    /// lost or spoiled at the bureau (a new chip and print, the same card record and number),
    /// then with the `reason`; the latest EF.SOD is the card's.
    Personalised {
        date_of_issue: NaiveDate,
        /// `None`: valid for life.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        date_of_expiry: Option<NaiveDate>,
        /// The Document Signer certificate that signed the chip's EF.SOD (hex serial number).
        document_signer: String,
        /// SHA-256 of the EF.SOD (hex).
        sod_sha256: String,
        /// Why a personalised card is personalised again; none the first time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Handed to the holder.
    Issued,
    Activated,
    Suspended {
        reason: String,
    },
    Reinstated,
    ReportedLost,
    ReportedStolen,
    Revoked {
        reason: String,
    },
    Expired,
}

impl CardChange {
    /// The event kind: `card_<action>`.
    pub fn kind(&self) -> &'static str {
        match self {
            CardChange::Applied { .. } => "card_applied",
            CardChange::Approved => "card_approved",
            CardChange::Rejected { .. } => "card_rejected",
            CardChange::Batched { .. } => "card_batched",
            CardChange::Personalised { .. } => "card_personalised",
            CardChange::Issued => "card_issued",
            CardChange::Activated => "card_activated",
            CardChange::Suspended { .. } => "card_suspended",
            CardChange::Reinstated => "card_reinstated",
            CardChange::ReportedLost => "card_reported_lost",
            CardChange::ReportedStolen => "card_reported_stolen",
            CardChange::Revoked { .. } => "card_revoked",
            CardChange::Expired => "card_expired",
        }
    }

    /// The status a card has after this change (from `from`, for a reinstatement).
    fn target(&self) -> CardStatus {
        match self {
            CardChange::Applied { .. } => CardStatus::Applied,
            CardChange::Approved => CardStatus::Approved,
            CardChange::Rejected { .. } => CardStatus::Rejected,
            CardChange::Batched { .. } => CardStatus::InProduction,
            CardChange::Personalised { .. } => CardStatus::Personalised,
            CardChange::Issued => CardStatus::Issued,
            CardChange::Activated | CardChange::Reinstated => CardStatus::Active,
            CardChange::Suspended { .. } => CardStatus::Suspended,
            CardChange::ReportedLost => CardStatus::Lost,
            CardChange::ReportedStolen => CardStatus::Stolen,
            CardChange::Revoked { .. } => CardStatus::Revoked,
            CardChange::Expired => CardStatus::Expired,
        }
    }
}

/// Where a card is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    Applied,
    Approved,
    Rejected,
    InProduction,
    Personalised,
    Issued,
    Active,
    Suspended,
    Lost,
    Stolen,
    Revoked,
    Expired,
    /// Superseded by the renewal or replacement issued after it.
    Replaced,
}

impl CardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::Applied => "applied",
            CardStatus::Approved => "approved",
            CardStatus::Rejected => "rejected",
            CardStatus::InProduction => "in_production",
            CardStatus::Personalised => "personalised",
            CardStatus::Issued => "issued",
            CardStatus::Active => "active",
            CardStatus::Suspended => "suspended",
            CardStatus::Lost => "lost",
            CardStatus::Stolen => "stolen",
            CardStatus::Revoked => "revoked",
            CardStatus::Expired => "expired",
            CardStatus::Replaced => "replaced",
        }
    }

    /// In the holder's hands and usable as an identity document (a suspended card counts: it
    /// is still the person's one card, and may be reinstated).
    pub fn is_valid(self) -> bool {
        matches!(
            self,
            CardStatus::Issued | CardStatus::Active | CardStatus::Suspended
        )
    }

    /// Applied for and not yet issued, rejected or revoked.
    pub fn is_in_progress(self) -> bool {
        matches!(
            self,
            CardStatus::Applied
                | CardStatus::Approved
                | CardStatus::InProduction
                | CardStatus::Personalised
        )
    }

    /// Whether `change` may happen to a card in this status.
    pub fn allows(self, change: &CardChange) -> bool {
        use CardStatus as S;
        match change {
            CardChange::Applied { .. } => false,
            CardChange::Approved | CardChange::Rejected { .. } => self == S::Applied,
            CardChange::Batched { .. } => self == S::Approved,
            // Again, before issue, for a package lost or spoiled at the bureau (with a reason).
            CardChange::Personalised { .. } => matches!(self, S::InProduction | S::Personalised),
            CardChange::Issued => self == S::Personalised,
            CardChange::Activated => self == S::Issued,
            CardChange::Suspended { .. } => matches!(self, S::Issued | S::Active),
            CardChange::Reinstated => self == S::Suspended,
            CardChange::ReportedLost | CardChange::ReportedStolen => self.is_valid(),
            CardChange::Revoked { .. } => self.is_valid() || self.is_in_progress(),
            CardChange::Expired => self.is_valid(),
        }
    }
}

/// One card of a person, as folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    pub id: String,
    pub number: String,
    pub status: CardStatus,
    pub reason: ApplicationReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// The official who took the application (the approver must be someone else).
    pub applied_by: String,
    pub applied_on: PartialDate,
    pub face: BiometricRef,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprints: Vec<BiometricRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_issue: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_expiry: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_signer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sod_sha256: Option<String>,
    /// The reason given for the last rejection, suspension or revocation (or, until the card is
    /// issued, for its re-personalisation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
}

fn violation(code: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        code,
        message: message.into(),
    }
}

/// Checks a card event against the holder's current record. `actor` is the official
/// registering it; `today` the register's date (an expiry is recorded only once the card's
/// date of expiry has passed).
pub fn check_card_event(
    person: &Person,
    event: &CardEvent,
    actor: &str,
    rules: &CardRules,
    today: NaiveDate,
) -> Result<(), Violation> {
    let existing = person.cards.iter().find(|c| c.id == event.card);
    match &event.change {
        CardChange::Applied {
            number,
            reason,
            replaces,
            face,
            fingerprints,
        } => {
            if existing.is_some() {
                return Err(violation(
                    "card-exists",
                    format!("card {} already exists", event.card),
                ));
            }
            if person.status != Status::Living {
                return Err(violation(
                    "person-not-living",
                    format!(
                        "{} is recorded as {}: only a living person gets a card",
                        person.pin,
                        person.status.as_str()
                    ),
                ));
            }
            check_card_number(rules, number, &person.pin)?;
            if let Some(pending) = person.cards.iter().find(|c| c.status.is_in_progress()) {
                return Err(violation(
                    "card-application-pending",
                    format!(
                        "application {} for card {} is still in progress",
                        pending.id, pending.number
                    ),
                ));
            }
            check_biometric(face)?;
            if fingerprints.len() > 10 {
                return Err(violation("invalid-biometrics", "at most ten fingerprints"));
            }
            for f in fingerprints {
                check_biometric(f)?;
                if !matches!(f.position, Some(1..=10)) {
                    return Err(violation(
                        "invalid-biometrics",
                        "a fingerprint needs a finger position from 1 to 10",
                    ));
                }
            }
            let valid = person.cards.iter().find(|c| c.status.is_valid());
            match (reason, replaces) {
                (ApplicationReason::First, None) => {
                    if let Some(card) = person.cards.iter().find(|c| {
                        !matches!(c.status, CardStatus::Rejected | CardStatus::Revoked)
                            || c.date_of_issue.is_some()
                    }) {
                        return Err(violation(
                            "not-first-card",
                            format!(
                                "{} already had card {}: apply for a renewal or replacement",
                                person.pin, card.number
                            ),
                        ));
                    }
                }
                (ApplicationReason::First, Some(_)) => {
                    return Err(violation(
                        "invalid-card-application",
                        "a first card replaces no card",
                    ))
                }
                (_, None) => {
                    return Err(violation(
                        "invalid-card-application",
                        "a renewal or replacement names the card it replaces",
                    ))
                }
                (reason, Some(old_id)) => {
                    let Some(old) = person.cards.iter().find(|c| &c.id == old_id) else {
                        return Err(violation(
                            "card-not-found",
                            format!("{} has no card {old_id}", person.pin),
                        ));
                    };
                    if let Some(v) = valid {
                        if v.id != old.id {
                            return Err(violation(
                                "invalid-card-application",
                                format!(
                                    "card {} is the valid card: a new card replaces it",
                                    v.number
                                ),
                            ));
                        }
                    }
                    let replaceable = match reason {
                        ApplicationReason::Replacement => {
                            old.status.is_valid()
                                || matches!(old.status, CardStatus::Lost | CardStatus::Stolen)
                        }
                        _ => old.status.is_valid() || old.status == CardStatus::Expired,
                    };
                    if !replaceable {
                        return Err(violation(
                            "invalid-card-application",
                            format!(
                                "card {} is {}: it cannot be {}",
                                old.number,
                                old.status.as_str(),
                                if *reason == ApplicationReason::Replacement {
                                    "replaced"
                                } else {
                                    "renewed"
                                }
                            ),
                        ));
                    }
                }
            }
            Ok(())
        }
        change => {
            let Some(card) = existing else {
                return Err(violation(
                    "card-not-found",
                    format!("{} has no card {}", person.pin, event.card),
                ));
            };
            if !card.status.allows(change) {
                return Err(violation(
                    "invalid-card-transition",
                    format!(
                        "card {} is {}: it cannot be {}",
                        card.number,
                        card.status.as_str(),
                        change.kind().trim_start_matches("card_").replace('_', " ")
                    ),
                ));
            }
            match change {
                CardChange::Approved if card.applied_by == actor => Err(violation(
                    "four-eyes",
                    "the official who took the application cannot approve it",
                )),
                CardChange::Rejected { reason }
                | CardChange::Suspended { reason }
                | CardChange::Revoked { reason }
                    if reason.trim().is_empty() =>
                {
                    Err(violation("reason-required", "give the reason"))
                }
                CardChange::Batched { batch } if batch.trim().is_empty() => Err(violation(
                    "invalid-card-transition",
                    "a production batch needs an id",
                )),
                CardChange::Personalised {
                    date_of_issue,
                    date_of_expiry,
                    ..
                } if date_of_expiry.is_some_and(|e| e <= *date_of_issue) => Err(violation(
                    "invalid-card-transition",
                    "the date of expiry must be after the date of issue",
                )),
                // A second package replaces the first one, which then no longer verifies
                // online: that needs a stated reason.
                CardChange::Personalised { reason, .. }
                    if card.status == CardStatus::Personalised
                        && reason.as_deref().is_none_or(|r| r.trim().is_empty()) =>
                {
                    Err(violation(
                        "reason-required",
                        format!(
                            "card {} is personalised already: give the reason to personalise it again (package lost or spoiled)",
                            card.number
                        ),
                    ))
                }
                // The date of expiry is the card's last valid day, as `effective_status` reads it.
                CardChange::Expired if card.date_of_expiry.is_none_or(|e| today <= e) => {
                    Err(violation(
                        "card-not-expired",
                        format!(
                            "card {} is valid {}: its expiry is not recorded before then",
                            card.number,
                            match card.date_of_expiry {
                                Some(e) => format!("until {e}"),
                                None => "for life".to_owned(),
                            }
                        ),
                    ))
                }
                CardChange::Issued => {
                    if person.status != Status::Living {
                        return Err(violation(
                            "person-not-living",
                            format!("{} is not living: the card is not issued", person.pin),
                        ));
                    }
                    Ok(())
                }
                _ => Ok(()),
            }
        }
    }
}

fn check_biometric(b: &BiometricRef) -> Result<(), Violation> {
    let hex_ok = b.sha256.len() == 64
        && b.sha256
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    if b.id.is_empty() || !hex_ok {
        return Err(violation(
            "invalid-biometrics",
            "a biometric reference needs an id and a lowercase hex SHA-256",
        ));
    }
    Ok(())
}

/// Checks a card number against the profile's scheme.
pub fn check_card_number(
    rules: &CardRules,
    number: &str,
    pin: &crate::pin::Pin,
) -> Result<(), Violation> {
    let ok = match &rules.number {
        CardNumberScheme::Pin => number == pin.as_str(),
        CardNumberScheme::Series { prefix, length } => {
            number.len() == usize::from(*length)
                && number.starts_with(prefix.as_str())
                && number[prefix.len()..].bytes().all(|b| b.is_ascii_digit())
        }
    };
    if ok {
        Ok(())
    } else {
        Err(violation(
            "invalid-card-number",
            format!("{number:?} is not a card number of this profile's scheme"),
        ))
    }
}

/// Applies a card event to the holder's cards (the rules have been checked). `actor` and
/// `effective` come from the event.
pub fn apply_card_event(cards: &mut Vec<Card>, event: &CardEvent, actor: &str, on: PartialDate) {
    match &event.change {
        CardChange::Applied {
            number,
            reason,
            replaces,
            face,
            fingerprints,
        } => cards.push(Card {
            id: event.card.clone(),
            number: number.clone(),
            status: CardStatus::Applied,
            reason: *reason,
            replaces: replaces.clone(),
            applied_by: actor.to_owned(),
            applied_on: on,
            face: face.clone(),
            fingerprints: fingerprints.clone(),
            batch: None,
            date_of_issue: None,
            date_of_expiry: None,
            document_signer: None,
            sod_sha256: None,
            status_reason: None,
        }),
        change => {
            let replaced = cards
                .iter()
                .find(|c| c.id == event.card)
                .and_then(|c| c.replaces.clone());
            let Some(card) = cards.iter_mut().find(|c| c.id == event.card) else {
                return;
            };
            card.status = change.target();
            match change {
                CardChange::Rejected { reason }
                | CardChange::Suspended { reason }
                | CardChange::Revoked { reason } => card.status_reason = Some(reason.clone()),
                CardChange::Reinstated => card.status_reason = None,
                CardChange::Batched { batch } => card.batch = Some(batch.clone()),
                CardChange::Personalised {
                    date_of_issue,
                    date_of_expiry,
                    document_signer,
                    sod_sha256,
                    reason,
                } => {
                    card.date_of_issue = Some(*date_of_issue);
                    card.date_of_expiry = *date_of_expiry;
                    card.document_signer = Some(document_signer.clone());
                    card.sod_sha256 = Some(sod_sha256.clone());
                    if reason.is_some() {
                        card.status_reason = reason.clone();
                    }
                }
                // A re-personalisation's reason concerns the bureau, not the issued card.
                CardChange::Issued => card.status_reason = None,
                _ => {}
            }
            // The new card supersedes the one it renews or replaces when the holder gets it.
            if matches!(change, CardChange::Issued) {
                if let Some(old) = replaced {
                    if let Some(old) = cards
                        .iter_mut()
                        .find(|c| c.id == old && c.status.is_valid())
                    {
                        old.status = CardStatus::Replaced;
                    }
                }
            }
        }
    }
}

/// The date a card issued on `issued` expires under the profile's rules, `None` for a card
/// valid for life. `first` is whether it is the holder's first card. The holder's age is counted
/// from the earliest date the (possibly partial) date of birth allows, so an unknown day or
/// month never makes a card outlive its term.
pub fn card_expiry(
    validity: &CardValidity,
    date_of_birth: &PartialDate,
    issued: NaiveDate,
    first: bool,
) -> Option<NaiveDate> {
    let birth = date_of_birth.earliest();
    let age = age_in_completed_years(birth, issued);
    match validity {
        CardValidity::Term {
            first_term_years,
            renewal_term_years,
            lifetime_from_age,
            ..
        } => {
            if lifetime_from_age.is_some_and(|l| age >= i32::from(l)) {
                return None;
            }
            let term = if first {
                *first_term_years
            } else {
                *renewal_term_years
            };
            Some(add_years(issued, i32::from(term)))
        }
        CardValidity::AgeMilestones {
            renewal_ages,
            grace_years,
            lifetime_from_age,
            ..
        } => {
            if lifetime_from_age.is_some_and(|l| age >= i32::from(l)) {
                return None;
            }
            // The next milestone after the age at issue; one within the grace period is skipped.
            let milestone = renewal_ages
                .iter()
                .map(|a| i32::from(*a))
                .filter(|m| *m > age)
                .find(|m| m - age > i32::from(*grace_years))?;
            if lifetime_from_age.is_some_and(|l| milestone > i32::from(l)) {
                return None;
            }
            Some(add_years(birth, milestone))
        }
    }
}

/// The same day `years` later (29 February becomes 28 February in a common year).
fn add_years(date: NaiveDate, years: i32) -> NaiveDate {
    let year = date.year() + years;
    NaiveDate::from_ymd_opt(year, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), 28))
        .unwrap_or(date)
}

/// The status a card has on `today`: a valid card past its date of expiry counts as expired
/// even before the expiry is recorded.
pub fn effective_status(card: &Card, today: NaiveDate) -> CardStatus {
    match card.date_of_expiry {
        Some(expiry) if card.status.is_valid() && today > expiry => CardStatus::Expired,
        _ => card.status,
    }
}
