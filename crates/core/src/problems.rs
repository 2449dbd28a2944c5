//! The parcel problem rules: from a parcel's facts and events, which problems it has now and
//! the next instant at which a rule could fire for it.
//!
//! The sweep stores that instant with each shipment and reads only shipments that are due, so
//! its cost follows the parcels due, not the parcels watched. Rules read the set of events (see
//! `tracking`), so arrival order never changes a finding.
//!
//! `misrouted` places scans with the offline gazetteer in `geo`.

use crate::calendar::BusinessCalendar;
use crate::geo::{self, Coord};
use crate::tracking::{TrackingEvent, TrackingStatus, current_of, history_of};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// What can be wrong with a parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Labelled or marked shipped, but no carrier scan within the allowed business days.
    NotAccepted,
    /// Moving, but no new scan for the allowed calendar days.
    Stalled,
    /// Last scanned far off the route from origin to destination.
    Misrouted,
    /// Not delivered by the carrier's estimate or the service standard.
    Overdue,
    Exception,
    DeliveryFailed,
    ReturnedToSender,
    /// Waiting at a pickup point for longer than the allowed days.
    UncollectedPickup,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 8] = [
        Self::NotAccepted,
        Self::Stalled,
        Self::Misrouted,
        Self::Overdue,
        Self::Exception,
        Self::DeliveryFailed,
        Self::ReturnedToSender,
        Self::UncollectedPickup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAccepted => "not_accepted",
            Self::Stalled => "stalled",
            Self::Misrouted => "misrouted",
            Self::Overdue => "overdue",
            Self::Exception => "exception",
            Self::DeliveryFailed => "delivery_failed",
            Self::ReturnedToSender => "returned_to_sender",
            Self::UncollectedPickup => "uncollected_pickup",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Thresholds; configurable per carrier and service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub not_accepted_business_days: u32,
    pub stalled_days: i64,
    pub pickup_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            not_accepted_business_days: 1,
            stalled_days: 3,
            pickup_days: 5,
        }
    }
}

/// What the rules know of one parcel.
#[derive(Debug, Clone)]
pub struct Parcel<'a> {
    pub label_created_at: Option<Timestamp>,
    pub shipped_at: Option<Timestamp>,
    pub estimated_delivery: Option<Timestamp>,
    /// The service standard's slowest transit, in business days from acceptance (e.g. 3 for
    /// USPS Priority Mail), when no carrier estimate is given.
    pub standard_business_days: Option<u32>,
    pub events: &'a [TrackingEvent],
    /// Origin and destination, when both are known places.
    pub route: Option<Route>,
}

/// The line a parcel should follow and how far from it a scan may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route {
    pub from: Coord,
    pub to: Coord,
    /// The great-circle path from `from` to `to`.
    pub path: geo::Segment,
    /// A scan further than this from the route (km) means the parcel went astray.
    pub tolerance_km: f64,
}

impl Route {
    /// The default tolerance: more than max(300 km, 25% of the route's length) off the
    /// great-circle path from origin to destination.
    pub fn new(from: Coord, to: Coord, min_km: f64, share_of_route: f64) -> Self {
        let path = geo::Segment::new(from, to);
        Self {
            from,
            to,
            path,
            tolerance_km: min_km.max(path.length_km * share_of_route),
        }
    }
}

/// One problem, since when, and the scans that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: ProblemKind,
    pub since: Timestamp,
    pub evidence: Vec<TrackingEvent>,
}

/// The rules' verdict at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    /// The next instant a rule could fire; `None` when the parcel's story is over.
    pub next_check: Option<Timestamp>,
}

/// The same local time `n` business days later (or the next business day's start when that
/// time does not exist), in the carrier's calendar.
pub fn business_days_after(
    t: Timestamp,
    n: u32,
    cal: &BusinessCalendar,
    tz: &TimeZone,
) -> Timestamp {
    // Civil times straight from the zone, without a `Zoned` (and the zone's copy) each way:
    // the rules work these out for every parcel they judge.
    let local = tz.to_datetime(t);
    let day = cal.add_business_days(cal.on_or_after(local.date()), n);
    tz.to_timestamp(day.to_datetime(local.time())).unwrap_or(t)
}

/// The end (23:59:59 local) of the day `n` business days after `t`'s day.
pub fn end_of_business_day_after(
    t: Timestamp,
    n: u32,
    cal: &BusinessCalendar,
    tz: &TimeZone,
) -> Timestamp {
    let day = cal.add_business_days(cal.on_or_after(tz.to_datetime(t).date()), n);
    tz.to_timestamp(day.at(23, 59, 59, 0)).unwrap_or(t)
}

/// Applies every rule to `parcel` at `now`, in the carrier's calendar and time zone.
pub fn evaluate(
    parcel: &Parcel<'_>,
    limits: Thresholds,
    cal: &BusinessCalendar,
    tz: &TimeZone,
    now: Timestamp,
) -> Verdict {
    // Borrowed: the rules copy only the events they cite.
    let events = history_of(parcel.events.iter().collect());
    let mut findings = Vec::new();
    let mut next: Option<Timestamp> = None;
    let due = |t: Timestamp, next: &mut Option<Timestamp>| {
        *next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
    };
    let Some((status, status_at)) = current_of(events.iter().copied()) else {
        // No scans at all: only "not accepted" can apply.
        if let Some(start) = parcel
            .label_created_at
            .into_iter()
            .chain(parcel.shipped_at)
            .min()
        {
            let deadline = business_days_after(start, limits.not_accepted_business_days, cal, tz);
            if now >= deadline {
                findings.push(Finding {
                    kind: ProblemKind::NotAccepted,
                    since: deadline,
                    evidence: vec![],
                });
            } else {
                due(deadline, &mut next);
            }
        }
        return Verdict {
            findings,
            next_check: next,
        };
    };
    // The latest scan that says where the parcel is ("no news" events do not count as scans).
    let last = events
        .iter()
        .rev()
        .find(|e| e.status != TrackingStatus::Unknown)
        .or(events.last())
        .copied()
        .expect("a current status means events");
    let accepted_at = events
        .iter()
        .find(|e| e.status.carrier_has_it())
        .map(|e| e.occurred_at);
    match status {
        TrackingStatus::Delivered | TrackingStatus::Cancelled => {
            return Verdict {
                findings,
                next_check: None,
            };
        }
        TrackingStatus::Exception => findings.push(Finding {
            kind: ProblemKind::Exception,
            since: status_at,
            evidence: vec![last.clone()],
        }),
        TrackingStatus::DeliveryFailed => findings.push(Finding {
            kind: ProblemKind::DeliveryFailed,
            since: status_at,
            evidence: vec![last.clone()],
        }),
        TrackingStatus::ReturnedToSender => findings.push(Finding {
            kind: ProblemKind::ReturnedToSender,
            since: status_at,
            evidence: vec![last.clone()],
        }),
        TrackingStatus::AvailableForPickup => {
            let since = status_at + SignedDuration::from_hours(24 * limits.pickup_days);
            if now >= since {
                findings.push(Finding {
                    kind: ProblemKind::UncollectedPickup,
                    since,
                    evidence: vec![last.clone()],
                });
            } else {
                due(since, &mut next);
            }
        }
        TrackingStatus::Unknown | TrackingStatus::PreTransit => {
            let start = parcel
                .label_created_at
                .into_iter()
                .chain(parcel.shipped_at)
                .chain([status_at])
                .min()
                .expect("status_at is there");
            let deadline = business_days_after(start, limits.not_accepted_business_days, cal, tz);
            if now >= deadline {
                findings.push(Finding {
                    kind: ProblemKind::NotAccepted,
                    since: deadline,
                    evidence: events.iter().map(|&e| e.clone()).collect(),
                });
            } else {
                due(deadline, &mut next);
            }
        }
        TrackingStatus::Accepted | TrackingStatus::InTransit | TrackingStatus::OutForDelivery => {
            let since = last.occurred_at + SignedDuration::from_hours(24 * limits.stalled_days);
            if now >= since {
                findings.push(Finding {
                    kind: ProblemKind::Stalled,
                    since,
                    evidence: vec![last.clone()],
                });
            } else {
                due(since, &mut next);
            }
        }
    }
    // Misrouted: the latest scan that can be placed lies far off the route.
    if let Some(route) = parcel.route
        && let Some(scan) = events
            .iter()
            .rev()
            .find_map(|e| Some((e, geo::locate(e.location.as_ref()?)?)))
        && route.path.off_km(scan.1) > route.tolerance_km
    {
        findings.push(Finding {
            kind: ProblemKind::Misrouted,
            since: scan.0.occurred_at,
            evidence: vec![(*scan.0).clone()],
        });
    }
    // Overdue: against the carrier's estimate, else the service standard from acceptance.
    let expected = parcel.estimated_delivery.or_else(|| {
        Some(end_of_business_day_after(
            accepted_at?,
            parcel.standard_business_days?,
            cal,
            tz,
        ))
    });
    if let Some(expected) = expected {
        if now > expected {
            findings.push(Finding {
                kind: ProblemKind::Overdue,
                since: expected,
                evidence: vec![last.clone()],
            });
        } else {
            due(expected + SignedDuration::from_secs(1), &mut next);
        }
    }
    // A parcel with a problem stays due daily, so the seller hears of it until it moves.
    if !findings.is_empty() {
        due(now + SignedDuration::from_hours(24), &mut next);
    }
    findings.sort_by_key(|f| f.kind);
    Verdict {
        findings,
        next_check: next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::ScanLocation;
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn scan(status: TrackingStatus, at: &str, city: &str) -> TrackingEvent {
        TrackingEvent {
            carrier: "usps".into(),
            tracking_number: "9400".into(),
            status,
            occurred_at: t(at),
            description: None,
            location: Some(ScanLocation {
                city: Some(city.into()),
                ..Default::default()
            }),
        }
    }

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    fn run(p: &Parcel<'_>, now: &str) -> Verdict {
        evaluate(
            p,
            Thresholds::default(),
            &BusinessCalendar::default(),
            &ny(),
            t(now),
        )
    }

    fn kinds(v: &Verdict) -> Vec<ProblemKind> {
        v.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn shipped_but_never_scanned_is_not_accepted_after_one_business_day() {
        // Label Friday 15:00 EST: the next business day is Monday.
        let p = Parcel {
            label_created_at: Some(t("2025-12-05T20:00:00Z")),
            shipped_at: None,
            estimated_delivery: None,
            standard_business_days: None,
            events: &[],
            route: None,
        };
        let before = run(&p, "2025-12-08T19:00:00Z");
        assert!(before.findings.is_empty());
        assert_eq!(before.next_check, Some(t("2025-12-08T20:00:00Z")));
        assert_eq!(
            kinds(&run(&p, "2025-12-08T20:00:00Z")),
            [ProblemKind::NotAccepted]
        );
    }

    #[test]
    fn a_parcel_with_no_new_scan_for_three_days_is_stalled() {
        let evs = [
            scan(TrackingStatus::Accepted, "2025-12-02T14:00:00Z", "Orlando"),
            scan(TrackingStatus::InTransit, "2025-12-03T09:00:00Z", "Kenly"),
        ];
        let p = Parcel {
            label_created_at: None,
            shipped_at: None,
            estimated_delivery: None,
            standard_business_days: None,
            events: &evs,
            route: None,
        };
        let v = run(&p, "2025-12-05T09:00:00Z");
        assert!(v.findings.is_empty());
        assert_eq!(v.next_check, Some(t("2025-12-06T09:00:00Z")));
        let v = run(&p, "2025-12-06T09:00:00Z");
        assert_eq!(kinds(&v), [ProblemKind::Stalled]);
        assert_eq!(
            v.findings[0].evidence[0]
                .location
                .as_ref()
                .unwrap()
                .city
                .as_deref(),
            Some("Kenly")
        );
    }

    #[test]
    fn overdue_against_the_service_standard_and_the_carrier_estimate() {
        // Accepted Tuesday; Priority Mail's 3 business days end Friday 23:59:59 EST.
        let evs = [
            scan(TrackingStatus::Accepted, "2025-12-02T14:00:00Z", "Orlando"),
            scan(TrackingStatus::InTransit, "2025-12-05T20:00:00Z", "Edison"),
        ];
        let p = Parcel {
            label_created_at: None,
            shipped_at: None,
            estimated_delivery: None,
            standard_business_days: Some(3),
            events: &evs,
            route: None,
        };
        assert!(run(&p, "2025-12-06T04:00:00Z").findings.is_empty());
        assert_eq!(
            kinds(&run(&p, "2025-12-06T05:00:00Z")),
            [ProblemKind::Overdue]
        );
        let p = Parcel {
            estimated_delivery: Some(t("2025-12-04T23:00:00Z")),
            ..p
        };
        assert_eq!(
            kinds(&run(&p, "2025-12-05T00:00:00Z")),
            [ProblemKind::Overdue]
        );
    }

    #[test]
    fn delivered_parcels_are_done_and_exceptions_are_problems_at_once() {
        let evs = [
            scan(TrackingStatus::Accepted, "2025-12-02T14:00:00Z", "Orlando"),
            scan(
                TrackingStatus::Delivered,
                "2025-12-04T18:00:00Z",
                "Brooklyn",
            ),
        ];
        let p = Parcel {
            label_created_at: None,
            shipped_at: None,
            estimated_delivery: None,
            standard_business_days: Some(1),
            events: &evs,
            route: None,
        };
        assert_eq!(
            run(&p, "2026-01-01T00:00:00Z"),
            Verdict {
                findings: vec![],
                next_check: None
            }
        );
        let evs = [scan(
            TrackingStatus::ReturnedToSender,
            "2025-12-04T18:00:00Z",
            "Brooklyn",
        )];
        let p = Parcel { events: &evs, ..p };
        let v = run(&p, "2025-12-04T19:00:00Z");
        assert_eq!(kinds(&v), [ProblemKind::ReturnedToSender]);
        assert_eq!(v.next_check, Some(t("2025-12-05T19:00:00Z")));
    }

    #[test]
    fn uncollected_pickup_after_five_days() {
        let evs = [scan(
            TrackingStatus::AvailableForPickup,
            "2025-12-04T18:00:00Z",
            "Sedona",
        )];
        let p = Parcel {
            label_created_at: None,
            shipped_at: None,
            estimated_delivery: None,
            standard_business_days: None,
            events: &evs,
            route: None,
        };
        assert!(run(&p, "2025-12-09T17:00:00Z").findings.is_empty());
        assert_eq!(
            kinds(&run(&p, "2025-12-09T18:00:00Z")),
            [ProblemKind::UncollectedPickup]
        );
    }

    fn journey() -> impl Strategy<Value = Vec<TrackingEvent>> {
        prop::collection::vec(
            (
                prop::sample::select(TrackingStatus::ALL.to_vec()),
                0i64..200,
                prop::sample::select(vec!["Orlando", "Kenly", "Edison"]),
            ),
            0..8,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(s, h, c)| TrackingEvent {
                    carrier: "ups".into(),
                    tracking_number: "1Z".into(),
                    status: s,
                    occurred_at: Timestamp::from_second(1_764_600_000 + h * 3600).unwrap(),
                    description: None,
                    location: Some(ScanLocation {
                        city: Some(c.into()),
                        ..Default::default()
                    }),
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn findings_do_not_depend_on_arrival_order_and_next_check_is_honest(
            events in journey(),
            seed in any::<u64>(),
            at in 0i64..400,
            standard in prop::option::of(1u32..6),
        ) {
            let mut shuffled = events.clone();
            shuffled.reverse();
            if !shuffled.is_empty() {
                let k = (seed as usize) % shuffled.len();
                shuffled.push(shuffled[k].clone());
                shuffled.rotate_left(k);
            }
            let now = Timestamp::from_second(1_764_600_000 + at * 3600).unwrap();
            let label = Some(Timestamp::from_second(1_764_590_000).unwrap());
            let p1 = Parcel { label_created_at: label, shipped_at: None, estimated_delivery: None, standard_business_days: standard, events: &events, route: None };
            let p2 = Parcel { events: &shuffled, ..p1.clone() };
            let cal = BusinessCalendar::default();
            let v1 = evaluate(&p1, Thresholds::default(), &cal, &ny(), now);
            let v2 = evaluate(&p2, Thresholds::default(), &cal, &ny(), now);
            prop_assert_eq!(&v1, &v2);
            // Nothing new fires before next_check: a sweep that waits until then misses nothing.
            if let Some(next) = v1.next_check {
                prop_assert!(next > now);
                let just_before = next - SignedDuration::from_secs(1);
                if just_before > now {
                    let later = evaluate(&p1, Thresholds::default(), &cal, &ny(), just_before);
                    prop_assert_eq!(kinds(&later), kinds(&v1));
                }
            } else {
                let much_later = evaluate(&p1, Thresholds::default(), &cal, &ny(), now + SignedDuration::from_hours(24 * 60));
                prop_assert_eq!(kinds(&much_later), kinds(&v1));
            }
        }
    }
}
