//! The score of a simulation: for every problem the world injected, when it became
//! detectable, when herald flagged it and when the customer was told; and in total, what
//! herald missed, raised for nothing, told late, never told or told twice. Read from what
//! herald stored (cases, the outbox, the status page) and the Maildir it delivered to, against
//! the world's truth.

use super::world::World;
use herald_store::{CaseFilter, MessageFilter, Store};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// A customer told later than this after the problem became detectable was told late.
pub const TOLD_LATE_AFTER: SignedDuration = SignedDuration::from_hours(1);

/// One injected problem and what herald made of it.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemOutcome {
    pub order: String,
    pub channel: String,
    pub carrier: String,
    pub tracking_number: String,
    pub injected: &'static str,
    pub detectable_at: Timestamp,
    pub flagged_at: Option<Timestamp>,
    /// The kinds of problem herald's case named.
    pub flagged_as: Vec<&'static str>,
    pub customer_told_at: Option<Timestamp>,
    /// email, or marketplace (queued for Amazon's buyer messaging).
    pub told_via: Option<String>,
    pub minutes_detectable_to_flagged: Option<i64>,
    pub minutes_detectable_to_customer: Option<i64>,
}

/// Which of the simulation's targets held.
#[derive(Debug, Clone, Serialize)]
pub struct Targets {
    pub every_problem_flagged: bool,
    pub no_false_alarms: bool,
    pub median_under_an_hour: bool,
    pub no_duplicate_messages: bool,
    pub every_customer_told: bool,
}

impl Targets {
    pub fn all(&self) -> bool {
        self.every_problem_flagged
            && self.no_false_alarms
            && self.median_under_an_hour
            && self.no_duplicate_messages
            && self.every_customer_told
    }

    /// The targets missed, in words.
    pub fn missed(&self) -> Vec<&'static str> {
        [
            (self.every_problem_flagged, "a problem was not flagged"),
            (self.no_false_alarms, "a healthy parcel was flagged"),
            (
                self.median_under_an_hour,
                "the median time from detectable to customer told is an hour or more",
            ),
            (self.no_duplicate_messages, "a message went out twice"),
            (self.every_customer_told, "a customer was never told"),
        ]
        .into_iter()
        .filter(|t| !t.0)
        .map(|t| t.1)
        .collect()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub seed: u64,
    pub days: u32,
    pub orders_per_day: u32,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub orders: usize,
    pub parcels: usize,
    /// When the seller's label service was down (the status page incident's cause).
    pub label_service_down: (Timestamp, Timestamp),
    pub problems_injected: usize,
    pub problems_flagged: usize,
    pub problems_missed: usize,
    /// Cases opened on parcels nothing was wrong with.
    pub false_alarms: usize,
    /// Told more than an hour after the problem became detectable.
    pub customers_told_late: usize,
    pub customers_never_told: usize,
    /// The same message delivered twice (by Message-ID in the Maildir), or two messages about
    /// the same thing to one customer.
    pub duplicate_messages: usize,
    pub median_minutes_detectable_to_customer: Option<f64>,
    pub p90_minutes_detectable_to_customer: Option<f64>,
    /// Orders that shipped after their ship-by deadline, as herald counts them.
    pub late_shipments: u64,
    pub late_shipment_rate: f64,
    /// Customers warned their order was at risk of shipping late whose order then shipped in
    /// time (`notify.delayed_when = "at_risk"` warns early; `"late"` only once it is late).
    pub delay_warnings_then_on_time: usize,
    /// Status page updates posted by the time the one before promised, and not.
    pub promises_kept: usize,
    pub promises_broken: usize,
    /// Messages delivered, by kind (e-mail and marketplace).
    pub messages: BTreeMap<String, usize>,
    pub targets: Targets,
    pub targets_met: bool,
    pub problems: Vec<ProblemOutcome>,
}

fn minutes(from: Timestamp, to: Timestamp) -> i64 {
    to.duration_since(from).as_secs().div_euclid(60)
}

fn percentile(sorted: &[i64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] as f64 + (sorted[hi] - sorted[lo]) as f64 * (rank - lo as f64))
}

/// Everything the score needs that the simulation knows beside the store.
pub struct Run<'a> {
    pub world: &'a World,
    pub shipment_ids: &'a [Option<i64>],
    pub incident: Option<&'a serde_json::Value>,
    pub maildir: &'a std::path::Path,
    pub ended_at: Timestamp,
}

pub async fn score(store: &dyn Store, run: Run<'_>) -> anyhow::Result<Report> {
    let world = run.world;
    // Cases by shipment: when first opened and the kinds named.
    let mut cases: HashMap<i64, (Timestamp, Vec<&'static str>)> = HashMap::new();
    let mut after_id = None;
    loop {
        let page = store
            .list_cases(&CaseFilter {
                after_id,
                limit: 500,
                ..CaseFilter::default()
            })
            .await?;
        for c in &page.items {
            let e = cases.entry(c.shipment_id).or_insert((c.opened_at, vec![]));
            e.0 = e.0.min(c.opened_at);
            for k in &c.kinds {
                if !e.1.contains(&k.as_str()) {
                    e.1.push(k.as_str());
                }
            }
        }
        match page.next_cursor.and_then(|c| c.parse().ok()) {
            Some(next) => after_id = Some(next),
            None => break,
        }
    }
    // Messages delivered: problem notices by shipment, duplicates by what they are about.
    let mut told: HashMap<i64, (Timestamp, String)> = HashMap::new();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut about: HashMap<String, usize> = HashMap::new();
    let (mut warned, mut late) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    let mut before_id = None;
    loop {
        let page = store
            .list_messages(&MessageFilter {
                before_id,
                limit: 1000,
                ..MessageFilter::default()
            })
            .await?;
        for m in &page.items {
            if !matches!(m.status.as_str(), "sent" | "marketplace") {
                continue;
            }
            *by_kind.entry(m.kind.to_string()).or_default() += 1;
            // One customer told the same thing about the same parcel twice. (Seller alerts
            // are each about a different alert; the Maildir check below covers them.)
            let for_customer = !m.kind.for_seller() && !m.kind.for_subscriber();
            let key = format!(
                "{:?}|{}|{}|{}|{}|{}",
                m.order_id,
                m.kind,
                m.facts["shipment_id"],
                m.facts["problem"],
                // A delay notice when the order is at risk, and another when it is late.
                m.facts["missed"],
                m.recipient.as_deref().unwrap_or("")
            );
            if for_customer {
                *about.entry(key).or_default() += 1;
            }
            if m.kind == herald_core::notify::MessageKind::Delayed {
                if m.facts["missed"] == true {
                    late.insert(m.order_id);
                } else {
                    warned.insert(m.order_id);
                }
            }
            if m.kind == herald_core::notify::MessageKind::ParcelProblem
                && let Some(s) = m.facts["shipment_id"].as_i64()
            {
                let at = m.sent_at.unwrap_or(m.updated_at);
                let e = told
                    .entry(s)
                    .or_insert((at, m.channel.clone().unwrap_or_default()));
                if at < e.0 {
                    *e = (at, m.channel.clone().unwrap_or_default());
                }
            }
        }
        match page.items.last() {
            Some(last) if page.next_cursor.is_some() => before_id = Some(last.id),
            _ => break,
        }
    }
    let repeated = about.values().map(|n| n - 1).sum::<usize>() + repeated_message_ids(run.maildir);
    let mut problems = Vec::new();
    let mut false_alarms = 0;
    for (p, parcel) in world.parcels.iter().enumerate() {
        let case = run.shipment_ids[p].and_then(|id| cases.get(&id));
        let (Some(fault), Some(detectable)) = (parcel.fault, parcel.detectable_at) else {
            false_alarms += usize::from(case.is_some());
            continue;
        };
        let order = &world.orders[parcel.order];
        let told = run.shipment_ids[p].and_then(|id| told.get(&id));
        problems.push(ProblemOutcome {
            order: order.input.number.clone().unwrap_or_default(),
            channel: order.input.channel.clone(),
            carrier: parcel.shipment.carrier.clone(),
            tracking_number: parcel.shipment.tracking_number.clone(),
            injected: fault.kind().as_str(),
            detectable_at: detectable,
            flagged_at: case.map(|c| c.0),
            flagged_as: case.map(|c| c.1.clone()).unwrap_or_default(),
            customer_told_at: told.map(|t| t.0),
            told_via: told.map(|t| t.1.clone()),
            minutes_detectable_to_flagged: case.map(|c| minutes(detectable, c.0)),
            minutes_detectable_to_customer: told.map(|t| minutes(detectable, t.0)),
        });
    }
    let mut waits: Vec<i64> = problems
        .iter()
        .filter_map(|p| p.minutes_detectable_to_customer)
        .collect();
    waits.sort_unstable();
    let flagged = problems.iter().filter(|p| p.flagged_at.is_some()).count();
    let never_told = problems
        .iter()
        .filter(|p| p.customer_told_at.is_none())
        .count();
    let told_late = problems
        .iter()
        .filter(|p| {
            p.customer_told_at
                .is_some_and(|t| t.duration_since(p.detectable_at) > TOLD_LATE_AFTER)
        })
        .count();
    let span_days = run
        .ended_at
        .duration_since(world.spec.start)
        .as_hours()
        .div_euclid(24) as u32
        + 1;
    let shipping = store.shipping_window(span_days, run.ended_at).await?;
    let (kept, broken) = run.incident.map_or((0, 0), promises);
    let median = percentile(&waits, 0.5);
    let targets = Targets {
        every_problem_flagged: flagged == problems.len(),
        no_false_alarms: false_alarms == 0,
        median_under_an_hour: median.is_none_or(|m| m < 60.0),
        no_duplicate_messages: repeated == 0,
        every_customer_told: never_told == 0,
    };
    Ok(Report {
        seed: world.spec.seed,
        days: world.spec.days,
        orders_per_day: world.spec.orders_per_day,
        started_at: world.spec.start,
        ended_at: run.ended_at,
        orders: world.orders.len(),
        label_service_down: world.outage,
        parcels: world.parcels.len(),
        problems_injected: problems.len(),
        problems_flagged: flagged,
        problems_missed: problems.len() - flagged,
        false_alarms,
        customers_told_late: told_late,
        customers_never_told: never_told,
        duplicate_messages: repeated,
        median_minutes_detectable_to_customer: median,
        p90_minutes_detectable_to_customer: percentile(&waits, 0.9),
        late_shipments: shipping.shipped_late,
        late_shipment_rate: shipping.late_shipment_rate,
        delay_warnings_then_on_time: warned.difference(&late).count(),
        promises_kept: kept,
        promises_broken: broken,
        messages: by_kind,
        targets_met: targets.all(),
        targets,
        problems,
    })
}

/// Kept and broken promises of an incident (as the admin API shows it, updates newest
/// first): each update's promised next update against when the next one came.
fn promises(incident: &serde_json::Value) -> (usize, usize) {
    let updates: Vec<&serde_json::Value> = incident["updates"]
        .as_array()
        .map(|u| u.iter().rev().collect())
        .unwrap_or_default();
    let at =
        |v: &serde_json::Value, k: &str| v[k].as_str().and_then(|s| s.parse::<Timestamp>().ok());
    let (mut kept, mut broken) = (0, 0);
    for pair in updates.windows(2) {
        let (Some(by), Some(next)) = (at(pair[0], "next_update_by"), at(pair[1], "created_at"))
        else {
            continue;
        };
        if next <= by {
            kept += 1;
        } else {
            broken += 1;
        }
    }
    (kept, broken)
}

/// Messages in the Maildir whose Message-ID another message there already has.
fn repeated_message_ids(maildir: &std::path::Path) -> usize {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for sub in ["new", "cur"] {
        let Ok(dir) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for f in dir.flatten() {
            let Ok(text) = std::fs::read_to_string(f.path()) else {
                continue;
            };
            if let Some(id) = text
                .lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix("Message-ID:"))
            {
                *seen.entry(id.trim().to_string()).or_default() += 1;
            }
        }
    }
    seen.values().map(|n| n - 1).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_promise_is_kept_when_the_next_update_comes_by_its_time() {
        // Newest first, as the admin API lists them.
        let incident = json!({ "updates": [
            { "created_at": "2026-11-17T18:20:00Z", "next_update_by": null },
            { "created_at": "2026-11-17T17:55:00Z", "next_update_by": "2026-11-17T18:25:00Z" },
            { "created_at": "2026-11-17T17:20:00Z", "next_update_by": "2026-11-17T17:50:00Z" },
            { "created_at": "2026-11-17T16:50:00Z", "next_update_by": "2026-11-17T17:20:00Z" },
        ]});
        // 17:20 by 17:20 kept, 17:55 after 17:50 broken, 18:20 by 18:25 kept.
        assert_eq!(promises(&incident), (2, 1));
        assert_eq!(promises(&json!({})), (0, 0));
    }

    #[test]
    fn percentiles_interpolate_between_ranks() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[4], 0.9), Some(4.0));
        assert_eq!(percentile(&[0, 1, 2, 10], 0.5), Some(1.5));
        assert_eq!(percentile(&[0, 10], 0.9), Some(9.0));
    }

    #[test]
    fn the_same_message_id_twice_in_the_maildir_is_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("new")).unwrap();
        std::fs::create_dir_all(dir.path().join("cur")).unwrap();
        let mail = |id: &str| {
            format!(
                "Subject: Shipped\r\nMessage-ID: <{id}>\r\n\r\nBody\r\nMessage-ID: <not-a-header>\r\n"
            )
        };
        std::fs::write(
            dir.path().join("new/1"),
            mail("herald.outbox.1@canyonclay.shop"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("new/2"),
            mail("herald.outbox.2@canyonclay.shop"),
        )
        .unwrap();
        assert_eq!(repeated_message_ids(dir.path()), 0);
        std::fs::write(
            dir.path().join("cur/3"),
            mail("herald.outbox.1@canyonclay.shop"),
        )
        .unwrap();
        assert_eq!(repeated_message_ids(dir.path()), 1);
    }
}
