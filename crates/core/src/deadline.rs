//! Ship-by deadlines and the ship-by state of an order.
//!
//! An order counts as received on the day it was placed when that is a business day and it came
//! in before the store's cutoff time; otherwise on the next business day. It must ship by the end
//! of the business day `N` business days after that (`N` is the channel's handling time), unless
//! the channel gave its own latest ship date, which wins. It is *at risk* once fewer than a set
//! number of business hours (the store's opening hours on business days) are left.

use crate::calendar::BusinessCalendar;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};
use serde::Serialize;
use std::collections::BTreeMap;

/// Everything needed to compute a store's ship-by deadlines.
#[derive(Debug, Clone)]
pub struct ShipByPolicy {
    pub time_zone: TimeZone,
    pub calendar: BusinessCalendar,
    /// Orders placed at or after this local time count from the next business day.
    pub cutoff: Time,
    /// Opening hours: only these hours of business days count as business hours.
    pub opening: Time,
    pub closing: Time,
    /// Handling time for channels without an entry in `handling_days`.
    pub default_handling_days: u32,
    /// Handling time per channel name (`amazon`, `shopify`, ...).
    pub handling_days: BTreeMap<String, u32>,
    /// An unshipped order is at risk once fewer business hours than this are left.
    pub at_risk_business_hours: u32,
}

impl Default for ShipByPolicy {
    fn default() -> Self {
        Self {
            time_zone: TimeZone::UTC,
            calendar: BusinessCalendar::default(),
            cutoff: Time::constant(14, 0, 0, 0),
            opening: Time::constant(9, 0, 0, 0),
            closing: Time::constant(17, 0, 0, 0),
            default_handling_days: 2,
            handling_days: BTreeMap::new(),
            at_risk_business_hours: 4,
        }
    }
}

/// The deadline facts herald stores with an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipBy {
    pub deadline: Timestamp,
    /// The first instant at which the order counts as at risk while unshipped.
    pub at_risk_from: Timestamp,
}

fn end_of_day(day: Date, tz: &TimeZone) -> Zoned {
    day.at(23, 59, 59, 0)
        .to_zoned(tz.clone())
        .expect("23:59:59 exists on every day in every zone")
}

impl ShipByPolicy {
    /// Handling time in business days for a channel.
    pub fn handling_days_for(&self, channel: &str) -> u32 {
        self.handling_days
            .get(channel)
            .copied()
            .unwrap_or(self.default_handling_days)
    }

    /// The business day an order placed at `placed` counts as received.
    pub fn received_day(&self, placed: Timestamp) -> Date {
        let local = placed.to_zoned(self.time_zone.clone());
        let day = local.date();
        if self.calendar.is_business_day(day) && local.time() < self.cutoff {
            day
        } else {
            self.calendar.next_after(day)
        }
    }

    /// The deadline for an order placed at `placed` with `handling_days` of handling time:
    /// the end (23:59:59 local) of the business day that many business days after receipt.
    pub fn deadline_after(&self, placed: Timestamp, handling_days: u32) -> Zoned {
        let received = self.received_day(placed);
        let day = self.calendar.add_business_days(received, handling_days);
        end_of_day(day, &self.time_zone)
    }

    /// The ship-by deadline and at-risk instant for an order of `channel`.
    pub fn ship_by(
        &self,
        channel: &str,
        placed: Timestamp,
        latest_ship_date: Option<Timestamp>,
    ) -> ShipBy {
        let deadline = latest_ship_date.unwrap_or_else(|| {
            self.deadline_after(placed, self.handling_days_for(channel))
                .timestamp()
        });
        ShipBy {
            deadline,
            at_risk_from: self.at_risk_from(deadline),
        }
    }

    /// The instant at which exactly `at_risk_business_hours` business hours remain before
    /// `deadline`, counting only opening hours on business days.
    pub fn at_risk_from(&self, deadline: Timestamp) -> Timestamp {
        let mut remaining = SignedDuration::from_hours(self.at_risk_business_hours as i64);
        if remaining.is_zero() {
            return deadline;
        }
        let mut until = deadline.to_zoned(self.time_zone.clone());
        // Ten years of days is far more than any configured threshold needs.
        for _ in 0..3660 {
            let day = until.date();
            if self.calendar.is_business_day(day) {
                let open = day
                    .to_datetime(self.opening)
                    .to_zoned(self.time_zone.clone())
                    .expect("opening time resolves")
                    .timestamp();
                let close = day
                    .to_datetime(self.closing)
                    .to_zoned(self.time_zone.clone())
                    .expect("closing time resolves")
                    .timestamp();
                let end = close.min(until.timestamp());
                if end > open {
                    let available = end.duration_since(open);
                    if available >= remaining {
                        return end - remaining;
                    }
                    remaining -= available;
                }
            }
            let prev = day.yesterday().expect("date in range");
            until = end_of_day(prev, &self.time_zone);
        }
        deadline
    }
}

/// Where an order stands against its ship-by deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipByState {
    OnTrack,
    AtRisk,
    Late,
    ShippedOnTime,
    ShippedLate,
}

impl ShipByState {
    pub const ALL: [ShipByState; 5] = [
        Self::OnTrack,
        Self::AtRisk,
        Self::Late,
        Self::ShippedOnTime,
        Self::ShippedLate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnTrack => "on_track",
            Self::AtRisk => "at_risk",
            Self::Late => "late",
            Self::ShippedOnTime => "shipped_on_time",
            Self::ShippedLate => "shipped_late",
        }
    }

    /// The state at `now`. `None` for an order closed before it shipped (cancelled or refunded):
    /// it has no deadline to meet any more.
    pub fn at(
        now: Timestamp,
        ship_by: ShipBy,
        shipped_at: Option<Timestamp>,
        closed_unshipped: bool,
    ) -> Option<Self> {
        if let Some(shipped) = shipped_at {
            return Some(if shipped <= ship_by.deadline {
                Self::ShippedOnTime
            } else {
                Self::ShippedLate
            });
        }
        if closed_unshipped {
            return None;
        }
        Some(if now >= ship_by.deadline {
            Self::Late
        } else if now >= ship_by.at_risk_from {
            Self::AtRisk
        } else {
            Self::OnTrack
        })
    }
}

impl std::str::FromStr for ShipByState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown ship-by state {s:?}: expected one of on_track, at_risk, late, shipped_on_time, shipped_late"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::HolidaySet;
    use jiff::civil::{Weekday, date};
    use proptest::prelude::*;

    fn ny() -> ShipByPolicy {
        ShipByPolicy {
            time_zone: TimeZone::get("America/New_York").unwrap(),
            ..ShipByPolicy::default()
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn local(p: &ShipByPolicy, t: Timestamp) -> String {
        crate::time::rfc3339_zoned(&t.to_zoned(p.time_zone.clone()))
    }

    #[test]
    fn before_cutoff_counts_today() {
        let p = ny();
        // Tuesday 2025-12-02 10:00 EST, 2 handling days -> Thursday end of day.
        let d = p.deadline_after(ts("2025-12-02T15:00:00Z"), 2);
        assert_eq!(crate::time::rfc3339_zoned(&d), "2025-12-04T23:59:59-05:00");
    }

    #[test]
    fn after_cutoff_counts_from_next_business_day() {
        let p = ny();
        // Tuesday 14:30 EST -> received Wednesday -> Friday.
        let d = p.deadline_after(ts("2025-12-02T19:30:00Z"), 2);
        assert_eq!(crate::time::rfc3339_zoned(&d), "2025-12-05T23:59:59-05:00");
    }

    #[test]
    fn weekend_and_thanksgiving_are_skipped() {
        let p = ny();
        // Wednesday 2025-11-26 15:00 EST (after cutoff): Thanksgiving Thu closed, received Fri
        // 11-28, +2 business days -> Tue 12-02.
        let d = p.deadline_after(ts("2025-11-26T20:00:00Z"), 2);
        assert_eq!(crate::time::rfc3339_zoned(&d), "2025-12-02T23:59:59-05:00");
        // Saturday order counts from Monday.
        let d = p.deadline_after(ts("2025-12-06T15:37:33Z"), 1);
        assert_eq!(crate::time::rfc3339_zoned(&d), "2025-12-09T23:59:59-05:00");
    }

    #[test]
    fn channel_latest_ship_date_wins() {
        let p = ny();
        let lsd = ts("2025-12-03T07:59:59Z");
        let sb = p.ship_by("amazon", ts("2025-12-01T12:00:00Z"), Some(lsd));
        assert_eq!(sb.deadline, lsd);
    }

    #[test]
    fn at_risk_counts_opening_hours_only() {
        let p = ny();
        // Deadline Thursday 23:59:59: 4 business hours before is Thursday 13:00 local.
        let sb = p.ship_by("shopify", ts("2025-12-02T15:00:00Z"), None);
        assert_eq!(local(&p, sb.at_risk_from), "2025-12-04T13:00:00-05:00");
        // A deadline of Monday 10:00 leaves 1 hour on Monday; the other 3 are Friday 14:00-17:00.
        let sb = ShipBy {
            deadline: ts("2025-12-08T15:00:00Z"),
            at_risk_from: p.at_risk_from(ts("2025-12-08T15:00:00Z")),
        };
        assert_eq!(local(&p, sb.at_risk_from), "2025-12-05T14:00:00-05:00");
    }

    #[test]
    fn ship_by_state_follows_the_clock() {
        let p = ny();
        let sb = p.ship_by("amazon", ts("2025-12-02T15:00:00Z"), None);
        let on_track = ts("2025-12-03T12:00:00Z");
        let at_risk = ts("2025-12-04T19:00:00Z");
        let late = ts("2025-12-05T05:00:00Z");
        assert_eq!(
            ShipByState::at(on_track, sb, None, false),
            Some(ShipByState::OnTrack)
        );
        assert_eq!(
            ShipByState::at(at_risk, sb, None, false),
            Some(ShipByState::AtRisk)
        );
        assert_eq!(
            ShipByState::at(late, sb, None, false),
            Some(ShipByState::Late)
        );
        assert_eq!(
            ShipByState::at(late, sb, Some(at_risk), false),
            Some(ShipByState::ShippedOnTime)
        );
        assert_eq!(
            ShipByState::at(late, sb, Some(late), false),
            Some(ShipByState::ShippedLate)
        );
        assert_eq!(ShipByState::at(late, sb, None, true), None);
    }

    fn policy_strategy() -> impl Strategy<Value = ShipByPolicy> {
        (
            prop::sample::select(vec![
                "America/New_York",
                "America/Phoenix",
                "America/Los_Angeles",
                "Europe/Berlin",
                "UTC",
            ]),
            0u32..5,
            0u32..30,
            10i8..18,
            any::<bool>(),
        )
            .prop_map(|(tz, handling, risk, cutoff, saturday_open)| {
                let closed = if saturday_open {
                    vec![Weekday::Sunday]
                } else {
                    vec![Weekday::Saturday, Weekday::Sunday]
                };
                ShipByPolicy {
                    time_zone: TimeZone::get(tz).unwrap(),
                    calendar: BusinessCalendar::new(closed, HolidaySet::Us, [date(2025, 12, 24)]),
                    cutoff: Time::constant(cutoff, 0, 0, 0),
                    default_handling_days: handling,
                    at_risk_business_hours: risk,
                    ..ShipByPolicy::default()
                }
            })
    }

    proptest! {
        #[test]
        fn deadline_is_end_of_a_business_day_after_placement(
            p in policy_strategy(),
            secs in 1_700_000_000i64..1_900_000_000,
        ) {
            let placed = Timestamp::from_second(secs).unwrap();
            let sb = p.ship_by("shopify", placed, None);
            let local = sb.deadline.to_zoned(p.time_zone.clone());
            prop_assert!(sb.deadline > placed);
            prop_assert!(p.calendar.is_business_day(local.date()));
            prop_assert_eq!(local.time(), Time::constant(23, 59, 59, 0));
            prop_assert!(sb.at_risk_from <= sb.deadline);
            // Exactly the handling time in business days separates receipt and deadline.
            let received = p.received_day(placed);
            prop_assert!(received >= placed.to_zoned(p.time_zone.clone()).date());
            prop_assert_eq!(
                p.calendar.business_days_between(received, local.date()),
                p.default_handling_days
            );
        }

        #[test]
        fn more_handling_time_never_gives_an_earlier_deadline(
            p in policy_strategy(),
            secs in 1_700_000_000i64..1_900_000_000,
            n in 0u32..6,
        ) {
            let placed = Timestamp::from_second(secs).unwrap();
            prop_assert!(p.deadline_after(placed, n) < p.deadline_after(placed, n + 1));
        }

        #[test]
        fn later_placement_never_gives_an_earlier_deadline(
            p in policy_strategy(),
            secs in 1_700_000_000i64..1_900_000_000,
            later in 0i64..400_000,
        ) {
            let a = Timestamp::from_second(secs).unwrap();
            let b = Timestamp::from_second(secs + later).unwrap();
            prop_assert!(p.deadline_after(a, 2) <= p.deadline_after(b, 2));
        }

        #[test]
        fn at_risk_window_holds_exactly_the_threshold_of_opening_hours(
            p in policy_strategy(),
            secs in 1_700_000_000i64..1_900_000_000,
        ) {
            let sb = p.ship_by("amazon", Timestamp::from_second(secs).unwrap(), None);
            // Count opening-hour minutes between at_risk_from and the deadline.
            let mut t = sb.at_risk_from;
            let mut minutes = 0i64;
            while t < sb.deadline {
                let z = t.to_zoned(p.time_zone.clone());
                if p.calendar.is_business_day(z.date()) && z.time() >= p.opening && z.time() < p.closing {
                    minutes += 1;
                }
                t += SignedDuration::from_mins(1);
            }
            prop_assert_eq!(minutes, p.at_risk_business_hours as i64 * 60);
        }
    }
}
