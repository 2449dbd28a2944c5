//! Cases: the seller's file on a problem parcel. The rules' findings open a case (or join the
//! open case of that shipment) with the scans that prove them; the case closes itself, with a
//! record, when the parcel moves on or is delivered; the seller's actions (notes, contacting the
//! customer, a carrier claim, reshipping, refunding, resolving) are written into it.
//!
//! A problem is identified by its kind and the instant it began, so a problem the seller already
//! saw (in an open or closed case) never opens a second case, while the same kind of trouble
//! starting again later (a second stall) does.

use crate::problems::{Finding, ProblemKind, Verdict};
use crate::tracking::{TrackingEvent, TrackingStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a case timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    ProblemFound,
    ProblemCleared,
    Closed,
    Note,
    ContactedCustomer,
    CarrierClaim,
    Reshipped,
    Refunded,
    Resolved,
}

impl EntryKind {
    /// Whether a person did this (as opposed to herald's rules).
    pub fn by_seller(self) -> bool {
        !matches!(
            self,
            Self::ProblemFound | Self::ProblemCleared | Self::Closed
        )
    }
}

/// One line of a case's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEntry {
    pub at: Timestamp,
    pub kind: EntryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<ProblemKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The carrier's reference for a search or claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The scans that prove a problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<TrackingEvent>,
}

/// A problem in a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseProblem {
    pub kind: ProblemKind,
    pub since: Timestamp,
    pub found_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<Timestamp>,
    pub evidence: Vec<TrackingEvent>,
}

/// What a case holds besides its row's columns: its problems and its timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaseFile {
    pub problems: Vec<CaseProblem>,
    pub entries: Vec<CaseEntry>,
}

/// Why a case closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Delivered,
    /// The parcel moved on and no problem is left.
    MovedOn,
    /// The seller resolved it.
    Resolved,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::MovedOn => "moved_on",
            Self::Resolved => "resolved",
        }
    }
}

/// What to do with a shipment's case after the rules ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Review {
    Nothing,
    Open(CaseFile),
    Update(CaseFile),
    Close(CaseFile, CloseReason),
}

/// A problem's identity: kind and start.
pub fn problem_key(kind: ProblemKind, since: Timestamp) -> String {
    format!("{}@{}", kind.as_str(), since.as_microsecond())
}

fn found(f: &Finding, now: Timestamp) -> (CaseProblem, CaseEntry) {
    (
        CaseProblem {
            kind: f.kind,
            since: f.since,
            found_at: now,
            cleared_at: None,
            evidence: f.evidence.clone(),
        },
        CaseEntry {
            at: now,
            kind: EntryKind::ProblemFound,
            problem: Some(f.kind),
            note: None,
            reference: None,
            evidence: f.evidence.clone(),
        },
    )
}

/// Decides what the rules' `verdict` means for the shipment's case. `open` is its open case, if
/// any; `seen` the keys of every problem already put in a case. Returns the decision and the
/// new set of seen keys.
pub fn review(
    open: Option<&CaseFile>,
    seen: &[String],
    verdict: &Verdict,
    status: TrackingStatus,
    now: Timestamp,
) -> (Review, Vec<String>) {
    let mut seen_out = seen.to_vec();
    for f in &verdict.findings {
        let k = problem_key(f.kind, f.since);
        if !seen_out.contains(&k) {
            seen_out.push(k);
        }
    }
    seen_out.sort();
    let Some(open) = open else {
        let new: Vec<&Finding> = verdict
            .findings
            .iter()
            .filter(|f| !seen.contains(&problem_key(f.kind, f.since)))
            .collect();
        if new.is_empty() {
            return (Review::Nothing, seen_out);
        }
        let mut file = CaseFile::default();
        for f in new {
            let (p, e) = found(f, now);
            file.problems.push(p);
            file.entries.push(e);
        }
        return (Review::Open(file), seen_out);
    };
    let mut file = open.clone();
    let mut changed = false;
    for p in file.problems.iter_mut().filter(|p| p.cleared_at.is_none()) {
        if !verdict
            .findings
            .iter()
            .any(|f| f.kind == p.kind && f.since == p.since)
        {
            p.cleared_at = Some(now);
            file.entries.push(CaseEntry {
                at: now,
                kind: EntryKind::ProblemCleared,
                problem: Some(p.kind),
                note: None,
                reference: None,
                evidence: vec![],
            });
            changed = true;
        }
    }
    for f in &verdict.findings {
        if !file
            .problems
            .iter()
            .any(|p| p.kind == f.kind && p.since == f.since)
        {
            let (p, e) = found(f, now);
            file.problems.push(p);
            file.entries.push(e);
            changed = true;
        }
    }
    if verdict.findings.is_empty() {
        let reason = if status == TrackingStatus::Delivered {
            CloseReason::Delivered
        } else {
            CloseReason::MovedOn
        };
        file.entries.push(CaseEntry {
            at: now,
            kind: EntryKind::Closed,
            problem: None,
            note: Some(match reason {
                CloseReason::Delivered => "The parcel was delivered.".into(),
                _ => format!("The parcel moved on (now {}).", status.as_str()),
            }),
            reference: None,
            evidence: vec![],
        });
        return (Review::Close(file, reason), seen_out);
    }
    (
        if changed {
            Review::Update(file)
        } else {
            Review::Nothing
        },
        seen_out,
    )
}

/// How bad a problem is for the customer, worst first; a case is filed under its worst open
/// problem.
pub fn severity(kind: ProblemKind) -> u8 {
    match kind {
        ProblemKind::ReturnedToSender => 0,
        ProblemKind::Misrouted => 1,
        ProblemKind::Exception => 2,
        ProblemKind::DeliveryFailed => 3,
        ProblemKind::Stalled => 4,
        ProblemKind::NotAccepted => 5,
        ProblemKind::Overdue => 6,
        ProblemKind::UncollectedPickup => 7,
    }
}

impl CaseFile {
    /// The worst problem still open, else the worst ever found.
    pub fn headline(&self) -> Option<ProblemKind> {
        let open = self
            .problems
            .iter()
            .filter(|p| p.cleared_at.is_none())
            .map(|p| p.kind)
            .min_by_key(|k| severity(*k));
        open.or_else(|| {
            self.problems
                .iter()
                .map(|p| p.kind)
                .min_by_key(|k| severity(*k))
        })
    }

    /// Every kind the case has held, for filtering.
    pub fn kinds(&self) -> Vec<ProblemKind> {
        let mut k: Vec<ProblemKind> = self.problems.iter().map(|p| p.kind).collect();
        k.sort();
        k.dedup();
        k
    }

    /// When a person first acted on the case.
    pub fn first_action_at(&self) -> Option<Timestamp> {
        self.entries
            .iter()
            .filter(|e| e.kind.by_seller())
            .map(|e| e.at)
            .min()
    }
}

/// What the seller did, as `POST /api/v1/cases/{id}/actions` takes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    /// note, contacted_customer, carrier_claim, reshipped, refunded or resolved.
    pub action: String,
    #[serde(default)]
    pub note: Option<String>,
    /// The carrier's reference for a search or claim (required for carrier_claim).
    #[serde(default)]
    pub reference: Option<String>,
}

impl ActionInput {
    pub fn validate(self, now: Timestamp) -> Result<CaseEntry, Vec<crate::FieldError>> {
        use crate::FieldError;
        let text = |v: Option<String>, max: usize| {
            v.map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .map(|s| (s.chars().count() <= max, s))
        };
        let mut errs = Vec::new();
        let kind = match self.action.trim() {
            "note" => Some(EntryKind::Note),
            "contacted_customer" => Some(EntryKind::ContactedCustomer),
            "carrier_claim" => Some(EntryKind::CarrierClaim),
            "reshipped" => Some(EntryKind::Reshipped),
            "refunded" => Some(EntryKind::Refunded),
            "resolved" => Some(EntryKind::Resolved),
            other => {
                errs.push(FieldError::new(
                    "action",
                    format!("{other:?} is not an action: use note, contacted_customer, carrier_claim, reshipped, refunded or resolved"),
                ));
                None
            }
        };
        let note = text(self.note, 4000);
        if let Some((false, _)) = note {
            errs.push(FieldError::new("note", "must be at most 4000 characters"));
        }
        let reference = text(self.reference, 200);
        if let Some((false, _)) = reference {
            errs.push(FieldError::new(
                "reference",
                "must be at most 200 characters",
            ));
        }
        if kind == Some(EntryKind::Note) && note.is_none() {
            errs.push(FieldError::new("note", "a note needs its text"));
        }
        if kind == Some(EntryKind::CarrierClaim) && reference.is_none() {
            errs.push(FieldError::new(
                "reference",
                "a carrier search or claim needs the carrier's reference (claim or case number)",
            ));
        }
        match kind {
            Some(kind) if errs.is_empty() => Ok(CaseEntry {
                at: now,
                kind,
                problem: None,
                note: note.map(|n| n.1),
                reference: reference.map(|r| r.1),
                evidence: vec![],
            }),
            _ => Err(errs),
        }
    }
}

/// The next step herald suggests for a case filed under `kind`, open for `open_days`.
pub fn next_step(kind: ProblemKind, open_days: i64, carrier: &str) -> String {
    let carrier = carrier.to_uppercase();
    match kind {
        ProblemKind::NotAccepted => format!(
            "{carrier} has no scan of this parcel yet. Check it was handed over or picked up; if it is still here, ship it today and tell the customer the new delivery date."
        ),
        ProblemKind::Stalled if open_days >= 7 => format!(
            "No scan for over a week: treat the parcel as lost. File a claim with {carrier}, reship or refund now, and tell the customer which."
        ),
        ProblemKind::Stalled => format!(
            "Ask {carrier} to search for the parcel (a trace request), and tell the customer it is delayed, that you are on it, and when they will hear from you next."
        ),
        ProblemKind::Misrouted => format!(
            "The parcel went the wrong way. Ask {carrier} to reroute it and tell the customer it will arrive later than promised, with the new estimate."
        ),
        ProblemKind::Overdue if open_days >= 5 => format!(
            "Long overdue: open a claim with {carrier} and offer the customer a replacement or a refund."
        ),
        ProblemKind::Overdue => {
            "Tell the customer the parcel is late, with an honest new estimate, and watch for the next scan.".to_string()
        }
        ProblemKind::Exception => format!(
            "Read {carrier}'s exception note and do what it asks (address, customs papers, damage report), then tell the customer what happens next."
        ),
        ProblemKind::DeliveryFailed => {
            "Ask the customer to confirm the address and a time someone can receive it, then arrange redelivery or pickup.".to_string()
        }
        ProblemKind::ReturnedToSender => {
            "Ask the customer to confirm the address before reshipping; refund if they no longer want it.".to_string()
        }
        ProblemKind::UncollectedPickup => {
            "Remind the customer where the parcel is waiting and until when, before it goes back.".to_string()
        }
    }
}

/// The goodwill gesture the seller's policy suggests for a kind of problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Compensation {
    None,
    /// A percentage coupon on the next order.
    Coupon {
        percent: u8,
    },
    /// A faster service for the reshipment or the next order.
    ShippingUpgrade {
        to: String,
    },
}

impl Compensation {
    /// Reads `none`, `coupon 10%` or `upgrade Priority Mail Express`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        if lower == "none" {
            return Ok(Self::None);
        }
        if let Some(p) = lower.strip_prefix("coupon") {
            let p = p.trim().trim_end_matches('%').trim();
            if let Ok(percent) = p.parse::<u8>()
                && (1..=100).contains(&percent)
            {
                return Ok(Self::Coupon { percent });
            }
        }
        if lower.starts_with("upgrade ") {
            let to = s["upgrade ".len()..].trim();
            if !to.is_empty() {
                return Ok(Self::ShippingUpgrade { to: to.into() });
            }
        }
        Err(format!(
            "{s:?} is not a compensation: write \"none\", \"coupon 10%\" or \"upgrade Priority Mail Express\""
        ))
    }
}

/// The compensation herald suggests when the seller's policy does not say.
pub fn default_compensation(kind: ProblemKind) -> Compensation {
    match kind {
        ProblemKind::Stalled
        | ProblemKind::Misrouted
        | ProblemKind::Overdue
        | ProblemKind::NotAccepted => Compensation::Coupon { percent: 10 },
        ProblemKind::ReturnedToSender => Compensation::ShippingUpgrade {
            to: "the fastest service for the reshipment".into(),
        },
        ProblemKind::Exception | ProblemKind::DeliveryFailed | ProblemKind::UncollectedPickup => {
            Compensation::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn finding(kind: ProblemKind, since: &str) -> Finding {
        Finding {
            kind,
            since: t(since),
            evidence: vec![],
        }
    }

    fn verdict(findings: Vec<Finding>) -> Verdict {
        Verdict {
            findings,
            next_check: None,
        }
    }

    #[test]
    fn a_problem_opens_a_case_joins_it_and_the_case_closes_when_the_parcel_moves_on() {
        let now = t("2025-12-06T10:00:00Z");
        let stall = finding(ProblemKind::Stalled, "2025-12-06T09:00:00Z");
        let (r, seen) = review(
            None,
            &[],
            &verdict(vec![stall.clone()]),
            TrackingStatus::InTransit,
            now,
        );
        let Review::Open(file) = r else {
            panic!("{r:?}")
        };
        assert_eq!(file.headline(), Some(ProblemKind::Stalled));
        // The next sweep sees it overdue too: the case gains a problem.
        let overdue = finding(ProblemKind::Overdue, "2025-12-06T05:00:00Z");
        let (r, seen) = review(
            Some(&file),
            &seen,
            &verdict(vec![stall, overdue.clone()]),
            TrackingStatus::InTransit,
            now,
        );
        let Review::Update(file) = r else {
            panic!("{r:?}")
        };
        assert_eq!(file.kinds(), [ProblemKind::Stalled, ProblemKind::Overdue]);
        // Delivered: closes with a record.
        let (r, _) = review(
            Some(&file),
            &seen,
            &verdict(vec![]),
            TrackingStatus::Delivered,
            now,
        );
        let Review::Close(file, CloseReason::Delivered) = r else {
            panic!("{r:?}")
        };
        assert_eq!(file.entries.last().unwrap().kind, EntryKind::Closed);
        assert!(file.problems.iter().all(|p| p.cleared_at.is_some()));
    }

    #[test]
    fn a_problem_already_seen_never_opens_a_second_case() {
        let now = t("2025-12-06T10:00:00Z");
        let returned = finding(ProblemKind::ReturnedToSender, "2025-12-05T09:00:00Z");
        let (_, seen) = review(
            None,
            &[],
            &verdict(vec![returned.clone()]),
            TrackingStatus::ReturnedToSender,
            now,
        );
        // The seller resolved that case; the parcel is still "returned".
        let (r, _) = review(
            None,
            &seen,
            &verdict(vec![returned]),
            TrackingStatus::ReturnedToSender,
            now,
        );
        assert_eq!(r, Review::Nothing);
        // A new stall (a later start) is a new problem.
        let (r, _) = review(
            None,
            &seen,
            &verdict(vec![finding(ProblemKind::Stalled, "2025-12-09T09:00:00Z")]),
            TrackingStatus::InTransit,
            now,
        );
        assert!(matches!(r, Review::Open(_)));
    }

    #[test]
    fn actions_are_checked() {
        let now = t("2025-12-06T10:00:00Z");
        let e = ActionInput {
            action: "carrier_claim".into(),
            ..Default::default()
        }
        .validate(now)
        .unwrap_err();
        assert_eq!(e[0].field, "reference");
        let e = ActionInput {
            action: "shrug".into(),
            ..Default::default()
        }
        .validate(now)
        .unwrap_err();
        assert_eq!(e[0].field, "action");
        let ok = ActionInput {
            action: "carrier_claim".into(),
            reference: Some(" USPS-SR-1234 ".into()),
            note: None,
        }
        .validate(now)
        .unwrap();
        assert_eq!(ok.reference.as_deref(), Some("USPS-SR-1234"));
        assert!(ok.kind.by_seller());
    }

    #[test]
    fn compensation_reads_the_three_forms() {
        assert_eq!(Compensation::parse("none").unwrap(), Compensation::None);
        assert_eq!(
            Compensation::parse("coupon 15%").unwrap(),
            Compensation::Coupon { percent: 15 }
        );
        assert_eq!(
            Compensation::parse("upgrade Priority Mail Express").unwrap(),
            Compensation::ShippingUpgrade {
                to: "Priority Mail Express".into()
            }
        );
        assert!(Compensation::parse("coupon 0%").is_err());
        assert!(
            Compensation::parse("a hug")
                .unwrap_err()
                .contains("coupon 10%")
        );
    }
}
