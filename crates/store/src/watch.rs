//! The parcel watchdog's SQL and planning, shared by both databases: which shipments are due,
//! what the problem rules and the case review make of each, and the rows that result.
//!
//! New events are judged at once, in the ingest's own transaction, against the parcel's
//! digest (`herald_core::digest`: the few events the rules read, stored with the shipment):
//! a parcel with no problem, now or before, gets its status and its next check there and then.
//! Any other parcel is marked due now, and the sweep reviews it against the whole set of its
//! events (the evidence a case cites), so the order events arrived in never changes the cases
//! that result.

use crate::{Case, CaseFilter, Page, StoreError};
use herald_core::cases::{self, CaseEntry, CaseFile, EntryKind, Review};
use herald_core::digest::Digest;
use herald_core::problems::ProblemKind;
use herald_core::time::{from_micros, to_micros};
use herald_core::tracking::{TrackingEvent, TrackingStatus};
use herald_core::watch::{ShipmentFacts, WatchPolicy};
use jiff::Timestamp;

/// Due shipments ($1 now, $2 limit): a shipment's columns (`sql::SHIPMENT_COLUMNS`), then its
/// problem keys.
pub(crate) fn due_shipments_sql() -> String {
    format!(
        "SELECT {}, problem_keys, status FROM {} WHERE next_check_at <= $1 ORDER BY next_check_at LIMIT $2",
        crate::sql::SHIPMENT_COLUMNS,
        crate::sql::SHIPMENTS_WITH_STATES
    )
}

/// Where the problem keys and the status before the review sit in a due-shipments row.
pub(crate) const DUE_PROBLEM_KEYS_COLUMN: usize = 11;
pub(crate) const DUE_STATUS_COLUMN: usize = 12;

/// The open case of a shipment ($1).
pub(crate) const OPEN_CASE_SQL: &str =
    "SELECT id, file FROM cases WHERE shipment_id = $1 AND closed_at IS NULL";

/// $1 next check, $2 problem keys JSON, $3 shipment id; then its status with
/// [`SET_STATUS_SQL`].
pub(crate) const SET_REVIEWED_SQL: &str =
    "UPDATE shipments SET next_check_at = $1, problem_keys = $2 WHERE id = $3";

/// A parcel's status: $1 status, $2 status since, $3 now, $4 shipment id. Its `changed_at`
/// moves only when the status or its time does.
pub(crate) const SET_STATUS_SQL: &str = "UPDATE parcel_states SET status = $1, status_at = $2, changed_at = CASE WHEN status <> $1 OR status_at IS NULL OR status_at <> $2 THEN $3 ELSE changed_at END WHERE shipment_id = $4";

/// $1 shipment, $2 order, $3 kind, $4 kinds, $5 file, $6 opened at, $7 first action due.
pub(crate) const INSERT_CASE_SQL: &str = "INSERT INTO cases (shipment_id, order_id, kind, kinds, file, opened_at, first_action_due, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $6) RETURNING id";

/// $1 kind, $2 kinds, $3 file, $4 closed at, $5 close reason (a closed case stays closed as it
/// was), $6 first action at, $7 now, $8 id.
pub(crate) const UPDATE_CASE_SQL: &str = "UPDATE cases SET kind = $1, kinds = $2, file = $3, closed_at = COALESCE(closed_at, $4), close_reason = COALESCE(close_reason, $5), first_action_at = $6, updated_at = $7 WHERE id = $8";

/// $1 dedupe key, $2 kind, $3 order, $4 message, $5 due at, $6 raised at, $7 case.
pub(crate) const INSERT_CASE_ALERT_SQL: &str = "INSERT INTO alerts (dedupe_key, kind, order_id, message, due_at, raised_at, case_id) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING";

/// Open cases nobody acted on by their deadline ($1 now, $2 limit).
pub(crate) const OVERDUE_CASES_SQL: &str = "SELECT c.id, c.order_id, c.kind, c.first_action_due, s.carrier, s.tracking_number FROM cases c JOIN shipments s ON s.id = c.shipment_id \
     WHERE c.first_action_at IS NULL AND c.closed_at IS NULL AND c.overdue_alerted = 0 AND c.first_action_due <= $1 ORDER BY c.first_action_due LIMIT $2";

pub(crate) const MARK_OVERDUE_ALERTED_SQL: &str =
    "UPDATE cases SET overdue_alerted = 1 WHERE id = $1";

/// Columns of a case with its parcel, in [`CaseRow`]'s order.
pub(crate) const CASE_COLUMNS: &str = "c.id, c.shipment_id, c.order_id, s.carrier, s.tracking_number, c.kind, c.file, c.opened_at, c.closed_at, c.close_reason, c.first_action_due, c.first_action_at";

/// What is read of a parcel touched by new events, from [`crate::sql::SHIPMENTS_WITH_STATES`]:
/// a shipment's columns, then its problem keys, status, next check, digest and status time
/// (`ArrivalRow`).
pub(crate) fn arrival_columns() -> String {
    format!(
        "{}, problem_keys, status, next_check_at, digest, status_at",
        crate::sql::SHIPMENT_COLUMNS
    )
}

/// A parcel's state once new events are judged: $1 digest, $2 status, $3 status since, $4 now,
/// $5 shipment id (`changed_at` as in [`SET_STATUS_SQL`]). Only the short parcel state is
/// rewritten; the shipment's own row is written only when its next check moves
/// ([`SET_NEXT_CHECK_SQL`]).
pub(crate) const SET_ARRIVED_SQL: &str = "UPDATE parcel_states SET digest = $1, status = $2, status_at = $3, changed_at = CASE WHEN status <> $2 OR status_at IS NULL OR status_at <> $3 THEN $4 ELSE changed_at END WHERE shipment_id = $5";

/// Checks that a write of a parcel's state found it: every shipment has one.
pub(crate) fn one_state_written(rows: u64, shipment_id: i64) -> crate::Result<()> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "shipment {shipment_id} has no parcel state"
        )))
    }
}

/// $1 next check, $2 shipment id: rewrites the shipment's entry in the due index
/// (`shipments_due`), so it is written only when the next check moves.
pub(crate) const SET_NEXT_CHECK_SQL: &str = "UPDATE shipments SET next_check_at = $1 WHERE id = $2";

/// How much earlier than the rules' own next check a parcel's stored one may stay.
pub(crate) const NEXT_CHECK_SLACK_US: i64 = 24 * 60 * 60 * 1_000_000;

/// The next check to store for a parcel with no problem once new events are judged, from the
/// one stored and the rules' own (`None`: no rule can fire any more). The stored one stays when
/// it is no later than the rules' own and at most [`NEXT_CHECK_SLACK_US`] earlier: a parcel in
/// transit moves its next check a little with every scan (three days after the last one, for
/// `stalled`), and moving it rewrites the shipment's entry in the due index: 6.8 M of the 81.5 M
/// instructions of a batch of 1,000 scans (docs/benchmarks.md). The sweep may then
/// review a parcel up to a day before a rule can fire; it finds nothing and stores the rules'
/// own time. A next check is never later than the rules' own, so no problem is found late.
pub(crate) fn next_check_after_scan(stored: Option<i64>, rules: Option<i64>) -> Option<i64> {
    match (stored, rules) {
        (Some(stored), Some(rules)) if stored <= rules && rules - stored <= NEXT_CHECK_SLACK_US => {
            Some(stored)
        }
        _ => rules,
    }
}

/// A parcel touched by new events, as read.
#[derive(Debug, PartialEq)]
pub(crate) struct ArrivalRow {
    pub shipment: crate::sql::ShipmentRow,
    pub problem_keys: String,
    pub status: String,
    pub next_check_at: Option<i64>,
    /// `None` for a shipment stored before digests were kept.
    pub digest: Option<String>,
    pub status_at: Option<i64>,
}

impl ArrivalRow {
    /// Makes the row what [`SET_ARRIVED_SQL`] (and [`SET_NEXT_CHECK_SQL`]) leave when they
    /// write `plan`.
    pub(crate) fn arrive(&mut self, plan: ArrivalPlan) {
        plan.status.clone_into(&mut self.status);
        self.status_at = plan.status_at;
        self.next_check_at = plan.next_check_at;
        self.digest = Some(plan.digest);
    }
}

/// What new events mean for a parcel, decided in the ingest's transaction.
pub(crate) struct ArrivalPlan {
    pub digest: String,
    pub status: &'static str,
    pub status_at: Option<i64>,
    pub next_check_at: Option<i64>,
    /// Whether the sweep must review the parcel now (a problem, now or before).
    pub due_now: bool,
    /// The delivered notice, when the parcel has just arrived.
    pub messages: Vec<crate::NewMessage>,
}

/// The stored digest of a parcel with the new events added; `None` when none is stored yet
/// (the caller then builds it from every event).
pub(crate) fn digest_after(
    row: &ArrivalRow,
    new: &[&TrackingEvent],
) -> crate::Result<Option<Digest>> {
    let Some(json) = row.digest.as_deref() else {
        return Ok(None);
    };
    let sh = &row.shipment;
    let mut d = Digest::from_stored(json, &sh.carrier, &sh.tracking_number)
        .map_err(|e| corrupt(&format!("shipment {} digest", sh.id), e))?;
    d.add(new.iter().copied());
    Ok(Some(d))
}

/// Judges a parcel on its digest: with no problem now and none before, the review would change
/// nothing but the status and the next check, so they are written here; otherwise the parcel
/// is due now.
pub(crate) fn plan_arrival(
    row: &ArrivalRow,
    digest: &Digest,
    policy: &WatchPolicy,
    now: Timestamp,
) -> ArrivalPlan {
    let sh = &row.shipment;
    let facts = facts(sh);
    let (status, status_at) =
        herald_core::tracking::parcel_status(digest.events(), facts.label_created_at);
    let verdict = policy.verdict(&facts, digest.events(), now);
    let due_now = !verdict.findings.is_empty() || row.problem_keys != "[]";
    let now_us = to_micros(now);
    let next_check_at = if due_now {
        Some(row.next_check_at.map_or(now_us, |t| t.min(now_us)))
    } else {
        next_check_after_scan(row.next_check_at, verdict.next_check.map(to_micros))
    };
    let messages = delivered_notice(sh, status, status_at, &row.status, now_us)
        .into_iter()
        .collect();
    ArrivalPlan {
        digest: digest.to_stored(),
        status: status.as_str(),
        status_at: status_at.map(to_micros),
        next_check_at,
        due_now,
        messages,
    }
}

/// The delivered notice, owed once when a parcel's status becomes delivered.
fn delivered_notice(
    sh: &crate::sql::ShipmentRow,
    status: TrackingStatus,
    status_at: Option<Timestamp>,
    before: &str,
    now_us: i64,
) -> Option<crate::NewMessage> {
    (status == TrackingStatus::Delivered && before != TrackingStatus::Delivered.as_str()).then(
        || {
            crate::outbox::delivered_message(
                sh.order_id,
                sh.id,
                status_at.map_or(now_us, to_micros),
            )
        },
    )
}

/// What the rules know of a stored shipment.
fn facts(row: &crate::sql::ShipmentRow) -> ShipmentFacts<'_> {
    ShipmentFacts {
        carrier: &row.carrier,
        service: row.service.as_deref(),
        label_created_at: row.label_created_at.map(from_micros),
        recorded_at: Some(from_micros(row.created_at)),
        estimated_delivery: row.estimated_delivery.map(from_micros),
        origin_postal_code: row.origin_postal_code.as_deref(),
        destination_postal_code: row.destination_postal_code.as_deref(),
    }
}

/// A due shipment as read.
pub(crate) struct DueRow {
    pub shipment: crate::sql::ShipmentRow,
    pub problem_keys: String,
    /// The parcel's status as of the last review.
    pub status: String,
}

/// A case the sweep writes.
pub(crate) enum CaseWrite {
    None,
    Insert {
        kind: &'static str,
        kinds: String,
        file: String,
        first_action_due: i64,
        alert_message: String,
    },
    Update(CaseUpdate),
}

/// The new values of an existing case.
pub(crate) struct CaseUpdate {
    pub id: i64,
    pub kind: &'static str,
    pub kinds: String,
    pub file: String,
    pub closed_at: Option<i64>,
    pub close_reason: Option<&'static str>,
    pub first_action_at: Option<i64>,
}

/// What the sweep writes for one shipment.
pub(crate) struct ReviewPlan {
    pub next_check_at: Option<i64>,
    /// The parcel's status from all its events, and since when.
    pub status: &'static str,
    pub status_at: Option<i64>,
    pub problem_keys: String,
    pub case: CaseWrite,
    /// What the review owes the customer: a notice per newly found problem, and the delivered
    /// notice when the parcel arrives.
    pub messages: Vec<crate::NewMessage>,
}

/// `,stalled,overdue,`: every kind, comma-fenced so one kind can be matched with LIKE.
pub(crate) fn kinds_column(file: &CaseFile) -> String {
    let mut s = String::from(",");
    for k in file.kinds() {
        s.push_str(k.as_str());
        s.push(',');
    }
    s
}

fn headline(file: &CaseFile) -> &'static str {
    file.headline().map_or("unknown", ProblemKind::as_str)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Runs the rules and the case review for one due shipment.
pub(crate) fn plan_review(
    due: &DueRow,
    events: &[TrackingEvent],
    open_case: Option<(i64, &str)>,
    policy: &WatchPolicy,
    now: Timestamp,
) -> crate::Result<ReviewPlan> {
    let row = &due.shipment;
    let facts = facts(row);
    let (status, status_at) = herald_core::tracking::parcel_status(events, facts.label_created_at);
    let verdict = policy.verdict(&facts, events, now);
    let seen: Vec<String> = serde_json::from_str(&due.problem_keys)
        .map_err(|e| corrupt(&format!("shipment {} problem keys", row.id), e))?;
    let open = match open_case {
        Some((id, file)) => Some((
            id,
            serde_json::from_str::<CaseFile>(file)
                .map_err(|e| corrupt(&format!("case {id}"), e))?,
        )),
        None => None,
    };
    let (review, seen_after) =
        cases::review(open.as_ref().map(|o| &o.1), &seen, &verdict, status, now);
    let now_us = to_micros(now);
    let mut messages = Vec::new();
    // Lateness (not accepted, stalled, overdue) is one piece of news: a case that already
    // told the customer their parcel is late does not tell them again in other words.
    let lateness = |k: ProblemKind| {
        matches!(
            k,
            ProblemKind::NotAccepted | ProblemKind::Stalled | ProblemKind::Overdue
        )
    };
    let mut told_late = open
        .as_ref()
        .is_some_and(|(_, f)| f.problems.iter().any(|p| lateness(p.kind)));
    for key in seen_after.iter().filter(|k| !seen.contains(k)) {
        let kind = key.split('@').next().and_then(ProblemKind::parse);
        if let Some(kind) = kind {
            if lateness(kind) {
                if told_late {
                    continue;
                }
                told_late = true;
            }
            messages.push(crate::NewMessage::for_order(
                row.order_id,
                herald_core::notify::MessageKind::ParcelProblem,
                format!("{}:{key}", row.id),
                now_us,
                serde_json::json!({
                    "shipment_id": row.id,
                    "problem": kind.as_str(),
                    "next_update": to_micros(policy.first_action_due(now)),
                }),
            ));
        }
    }
    messages.extend(delivered_notice(
        row,
        status,
        status_at,
        &due.status,
        now_us,
    ));
    let seen = seen_after;
    let update = |id: i64, file: CaseFile, closed: Option<cases::CloseReason>| {
        CaseWrite::Update(CaseUpdate {
            id,
            kind: headline(&file),
            kinds: kinds_column(&file),
            closed_at: closed.map(|_| now_us),
            close_reason: closed.map(cases::CloseReason::as_str),
            first_action_at: file.first_action_at().map(to_micros),
            file: serde_json::to_string(&file).expect("case files serialise"),
        })
    };
    let case = match review {
        Review::Nothing => CaseWrite::None,
        Review::Open(file) => CaseWrite::Insert {
            kind: headline(&file),
            kinds: kinds_column(&file),
            first_action_due: to_micros(policy.first_action_due(now)),
            alert_message: format!(
                "{} parcel {} {}: a case is open and needs a first action by {}",
                row.carrier.to_uppercase(),
                row.tracking_number,
                describe(file.headline()),
                crate::sql::deadline_text(to_micros(policy.first_action_due(now)))
            ),
            file: serde_json::to_string(&file).expect("case files serialise"),
        },
        Review::Update(file) => update(open.as_ref().map_or(0, |o| o.0), file, None),
        Review::Close(file, reason) => update(open.as_ref().map_or(0, |o| o.0), file, Some(reason)),
    };
    Ok(ReviewPlan {
        next_check_at: verdict.next_check.map(to_micros),
        status: status.as_str(),
        status_at: status_at.map(to_micros),
        problem_keys: serde_json::to_string(&seen).expect("keys serialise"),
        case,
        messages,
    })
}

/// A problem in the seller's words.
pub(crate) fn describe(kind: Option<ProblemKind>) -> &'static str {
    match kind {
        Some(ProblemKind::NotAccepted) => "was never scanned by the carrier",
        Some(ProblemKind::Stalled) => "has stopped moving",
        Some(ProblemKind::Misrouted) => "was scanned far off its route",
        Some(ProblemKind::Overdue) => "is past its expected delivery",
        Some(ProblemKind::Exception) => "has a carrier exception",
        Some(ProblemKind::DeliveryFailed) => "could not be delivered",
        Some(ProblemKind::ReturnedToSender) => "is being returned to you",
        Some(ProblemKind::UncollectedPickup) => "is waiting uncollected at a pickup point",
        None => "has a problem",
    }
}

/// A seller alert about a case.
pub(crate) struct CaseAlert {
    /// Unique per case and kind, so an alert is raised once.
    pub key: String,
    pub kind: &'static str,
    pub message: String,
}

/// The alert for a newly opened case.
pub(crate) fn opened_alert(case_id: i64, message: &str) -> CaseAlert {
    CaseAlert {
        key: format!("case:{case_id}:opened"),
        kind: "case_opened",
        message: format!("case {case_id}: {message}"),
    }
}

/// The alert for a case nobody acted on in time.
pub(crate) fn overdue_alert(
    id: i64,
    kind: &str,
    due: i64,
    carrier: &str,
    tracking: &str,
) -> CaseAlert {
    CaseAlert {
        key: format!("case:{id}:first_action_overdue"),
        kind: "case_first_action_overdue",
        message: format!(
            "case {id}: nobody has acted on the {} parcel {tracking} ({}) since the deadline {}",
            carrier.to_uppercase(),
            describe(ProblemKind::parse(kind)),
            crate::sql::deadline_text(due)
        ),
    }
}

/// A case row as read by either database.
pub(crate) struct CaseRow {
    pub id: i64,
    pub shipment_id: i64,
    pub order_id: i64,
    pub carrier: String,
    pub tracking_number: String,
    pub kind: String,
    pub file: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub close_reason: Option<String>,
    pub first_action_due: i64,
    pub first_action_at: Option<i64>,
}

pub(crate) fn case_from(r: CaseRow) -> crate::Result<Case> {
    let file: CaseFile =
        serde_json::from_str(&r.file).map_err(|e| corrupt(&format!("case {}", r.id), e))?;
    Ok(Case {
        kind: ProblemKind::parse(&r.kind)
            .ok_or_else(|| corrupt(&format!("case {}", r.id), &r.kind))?,
        kinds: file.kinds(),
        id: r.id,
        shipment_id: r.shipment_id,
        order_id: r.order_id,
        carrier: r.carrier,
        tracking_number: r.tracking_number,
        open: r.closed_at.is_none(),
        opened_at: from_micros(r.opened_at),
        closed_at: r.closed_at.map(from_micros),
        close_reason: r.close_reason,
        first_action_due: from_micros(r.first_action_due),
        first_action_at: r.first_action_at.map(from_micros),
        problems: file.problems,
        entries: file.entries,
    })
}

/// The list query for cases (newest first) and its parameters.
pub(crate) fn case_list_sql(f: &CaseFilter) -> (String, Vec<crate::sql::Bind>) {
    use crate::sql::Bind;
    let mut sql = format!(
        "SELECT {CASE_COLUMNS} FROM cases c JOIN shipments s ON s.id = c.shipment_id WHERE 1 = 1"
    );
    let mut binds = Vec::new();
    let next = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        binds.len()
    };
    match f.open {
        Some(true) => sql.push_str(" AND c.closed_at IS NULL"),
        Some(false) => sql.push_str(" AND c.closed_at IS NOT NULL"),
        None => {}
    }
    if let Some(k) = f.kind {
        let n = next(Bind::Text(format!("%,{},%", k.as_str())), &mut binds);
        sql.push_str(&format!(" AND c.kinds LIKE ${n}"));
    }
    if let Some(t) = f.opened_before {
        let n = next(Bind::I64(to_micros(t)), &mut binds);
        sql.push_str(&format!(" AND c.opened_at <= ${n}"));
    }
    if let Some(t) = f.opened_after {
        let n = next(Bind::I64(to_micros(t)), &mut binds);
        sql.push_str(&format!(" AND c.opened_at >= ${n}"));
    }
    if let Some(after) = f.after_id {
        let n = next(Bind::I64(after), &mut binds);
        sql.push_str(&format!(" AND c.id < ${n}"));
    }
    let n = next(Bind::I64(i64::from(f.limit.clamp(1, 500)) + 1), &mut binds);
    sql.push_str(&format!(" ORDER BY c.id DESC LIMIT ${n}"));
    (sql, binds)
}

/// Cuts the one extra row off a list and makes the next cursor.
pub(crate) fn case_page(mut items: Vec<Case>, limit: u32) -> Page<Case> {
    let limit = limit.clamp(1, 500) as usize;
    let more = items.len() > limit;
    items.truncate(limit);
    Page {
        next_cursor: more
            .then(|| items.last().map(|c| c.id.to_string()))
            .flatten(),
        items,
    }
}

/// Applies a seller's action to a case file: the new update values.
pub(crate) fn plan_action(
    id: i64,
    file: &str,
    closed: bool,
    entry: CaseEntry,
    now: Timestamp,
) -> crate::Result<CaseUpdate> {
    let mut file: CaseFile =
        serde_json::from_str(file).map_err(|e| corrupt(&format!("case {id}"), e))?;
    if closed && entry.kind != EntryKind::Note {
        return Err(StoreError::Conflict(format!(
            "case {id} is closed: only notes can be added to it"
        )));
    }
    let resolves = entry.kind == EntryKind::Resolved;
    file.entries.push(entry);
    if resolves {
        for p in file.problems.iter_mut().filter(|p| p.cleared_at.is_none()) {
            p.cleared_at = Some(now);
        }
    }
    Ok(CaseUpdate {
        id,
        kind: headline(&file),
        kinds: kinds_column(&file),
        closed_at: resolves.then(|| to_micros(now)),
        close_reason: resolves.then_some(cases::CloseReason::Resolved.as_str()),
        first_action_at: file.first_action_at().map(to_micros),
        file: serde_json::to_string(&file).expect("case files serialise"),
    })
}

/// What storing a batch of tracking events did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Per event, whether it was new.
    pub fresh: Vec<bool>,
    /// Parcels the sweep must now review (a problem, now or before).
    pub due_now: u64,
    /// Customer messages written (delivered notices).
    pub messages: u64,
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub reviewed: u64,
    pub opened: u64,
    pub updated: u64,
    pub closed: u64,
    pub alerts: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The stored next check is never later than the rules' own, at most a day earlier,
        /// kept whenever it may be, and gone when no rule can fire.
        #[test]
        fn a_next_check_is_never_late_and_at_most_a_day_early(
            stored in proptest::option::of(-5 * NEXT_CHECK_SLACK_US..5 * NEXT_CHECK_SLACK_US),
            rules in proptest::option::of(-5 * NEXT_CHECK_SLACK_US..5 * NEXT_CHECK_SLACK_US),
        ) {
            let next = next_check_after_scan(stored, rules);
            match (stored, rules) {
                (_, None) => prop_assert_eq!(next, None),
                (Some(s), Some(r)) if s <= r && r - s <= NEXT_CHECK_SLACK_US => {
                    prop_assert_eq!(next, Some(s));
                }
                (_, Some(r)) => prop_assert_eq!(next, Some(r)),
            }
            if let (Some(n), Some(r)) = (next, rules) {
                prop_assert!(n <= r && r - n <= NEXT_CHECK_SLACK_US);
            }
        }
    }
}
