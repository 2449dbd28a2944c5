//! The 90-day uptime bars: for each component and day (in the page's time zone), the worst
//! status it was in and how long it was down, from its recorded status changes.
//!
//! herald's rule, shown under the bars: a major outage counts fully as downtime, a partial
//! outage at 30 % of its length (as Statuspage weighs it); degraded performance and maintenance
//! count as up. Days before the component existed have no data and do not count.

use super::{ComponentStatus, StatusChange};
use jiff::{Timestamp, civil::Date, tz::TimeZone};
use serde::Serialize;

/// One day of one component's bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayBar {
    pub date: Date,
    /// `None`: no data (the component did not exist yet).
    pub worst: Option<ComponentStatus>,
    /// Weighted downtime in seconds.
    pub down_secs: i64,
    /// Seconds with data (a whole day, or less on the first day and today).
    pub known_secs: i64,
}

/// A component's bar over the window and its uptime over the days with data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UptimeBar {
    pub days: Vec<DayBar>,
    /// Percent up over the window, `None` with no data at all.
    pub uptime_percent: Option<f64>,
}

fn weight(s: ComponentStatus) -> f64 {
    match s {
        ComponentStatus::MajorOutage => 1.0,
        ComponentStatus::PartialOutage => 0.3,
        _ => 0.0,
    }
}

/// The bar for `days` days ending with today (`now`'s day in `tz`). `changes` are in time
/// order and include the last change before the window, if any.
pub fn bar(changes: &[StatusChange], days: i32, now: Timestamp, tz: &TimeZone) -> UptimeBar {
    let today = now.to_zoned(tz.clone()).date();
    let mut out = Vec::with_capacity(days.max(0) as usize);
    let (mut down_total, mut known_total) = (0.0f64, 0i64);
    for back in (0..days).rev() {
        let date = today
            .checked_sub(jiff::Span::new().days(back))
            .unwrap_or(today);
        let start = day_start(date, tz);
        let end = date
            .tomorrow()
            .map(|d| day_start(d, tz))
            .unwrap_or(start)
            .min(now);
        let (mut worst, mut down, mut known) = (None::<ComponentStatus>, 0.0f64, 0i64);
        if end > start {
            // The status in force at the day's start, then each change within it.
            let first = changes.partition_point(|c| c.at <= start);
            let mut cur = first.checked_sub(1).map(|i| (start, changes[i].status));
            for c in changes[first..].iter().take_while(|c| c.at < end) {
                if let Some((from, s)) = cur {
                    let secs = c.at.duration_since(from).as_secs();
                    known += secs;
                    down += weight(s) * secs as f64;
                    worst = Some(worst.map_or(s, |w: ComponentStatus| w.max_rank(s)));
                }
                cur = Some((c.at, c.status));
            }
            if let Some((from, s)) = cur {
                let secs = end.duration_since(from).as_secs();
                known += secs;
                down += weight(s) * secs as f64;
                worst = Some(worst.map_or(s, |w| w.max_rank(s)));
            }
        }
        down_total += down;
        known_total += known;
        out.push(DayBar {
            date,
            worst,
            down_secs: down.round() as i64,
            known_secs: known,
        });
    }
    UptimeBar {
        days: out,
        uptime_percent: (known_total > 0).then(|| 100.0 * (1.0 - down_total / known_total as f64)),
    }
}

fn day_start(d: Date, tz: &TimeZone) -> Timestamp {
    d.to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_two_hour_major_outage_yesterday_shows_on_yesterday_only() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let now = at("2026-11-23T17:00:00Z"); // noon in New York
        let changes = [
            StatusChange {
                at: at("2026-10-01T00:00:00Z"),
                status: ComponentStatus::Operational,
            },
            StatusChange {
                at: at("2026-11-22T15:00:00Z"),
                status: ComponentStatus::MajorOutage,
            },
            StatusChange {
                at: at("2026-11-22T17:00:00Z"),
                status: ComponentStatus::Operational,
            },
        ];
        let b = bar(&changes, 90, now, &tz);
        assert_eq!(b.days.len(), 90);
        let y = &b.days[88];
        assert_eq!(y.date.to_string(), "2026-11-22");
        assert_eq!(y.worst, Some(ComponentStatus::MajorOutage));
        assert_eq!(y.down_secs, 7200);
        assert_eq!(y.known_secs, 86400);
        let t = &b.days[89];
        assert_eq!(t.worst, Some(ComponentStatus::Operational));
        assert_eq!(t.known_secs, 12 * 3600, "today counts only up to now");
        // Before the first change there is no data.
        assert_eq!(b.days[0].worst, None);
        let pct = b.uptime_percent.unwrap();
        assert!(pct < 100.0 && pct > 99.5, "{pct}");
    }

    #[test]
    fn partial_outages_weigh_thirty_percent_and_degraded_nothing() {
        let tz = TimeZone::UTC;
        let now = at("2026-11-23T00:00:00Z");
        let changes = [
            StatusChange {
                at: at("2026-11-22T00:00:00Z"),
                status: ComponentStatus::PartialOutage,
            },
            StatusChange {
                at: at("2026-11-22T10:00:00Z"),
                status: ComponentStatus::DegradedPerformance,
            },
        ];
        let b = bar(&changes, 2, now, &tz);
        assert_eq!(b.days[0].down_secs, 3 * 3600);
        assert_eq!(b.days[0].worst, Some(ComponentStatus::PartialOutage));
    }

    proptest! {
        /// Whatever the history, uptime stays within 0..=100 and downtime never exceeds the
        /// time with data.
        #[test]
        fn uptime_is_a_percentage(steps in proptest::collection::vec((0i64..200_000, 0usize..5), 0..40)) {
            let mut t = at("2026-09-01T00:00:00Z");
            let mut changes = Vec::new();
            for (gap, s) in steps {
                t += SignedDuration::from_secs(gap * 60);
                changes.push(StatusChange { at: t, status: ComponentStatus::ALL[s] });
            }
            let b = bar(&changes, 90, at("2026-11-23T12:00:00Z"), &TimeZone::UTC);
            for d in &b.days {
                prop_assert!(d.down_secs <= d.known_secs);
                prop_assert!(d.known_secs <= 86_400);
            }
            if let Some(p) = b.uptime_percent {
                prop_assert!((0.0..=100.0).contains(&p));
            }
        }
    }
}
