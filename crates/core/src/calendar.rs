//! The business calendar: which days a store (or a carrier) works.
//!
//! A business day is a day that is not a closed weekday (Saturday and Sunday by default), not a
//! public holiday of the calendar's holiday set (US federal holidays by default, on their
//! observed dates) and not one of the seller's own closed days.

use jiff::civil::{Date, Weekday, date};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The earliest and latest years herald computes holidays for. Outside this range dates are
/// rejected at the edge rather than silently treated as working days.
pub const FIRST_YEAR: i16 = 1900;
pub const LAST_YEAR: i16 = 9998;

/// One public holiday in one year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holiday {
    /// The calendar date the holiday is named for (July 4th, ...).
    pub date: Date,
    /// The date offices close for it: a Saturday holiday is observed on the Friday before, a
    /// Sunday holiday on the Monday after.
    pub observed: Date,
    pub name: &'static str,
}

/// Which public holidays a calendar closes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HolidaySet {
    /// United States federal holidays (5 U.S.C. 6103), observed-day rule applied.
    #[default]
    Us,
    /// No public holidays; only weekdays and explicit closed days count.
    None,
}

impl std::str::FromStr for HolidaySet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "us" => Ok(Self::Us),
            "none" => Ok(Self::None),
            other => Err(format!(
                "unknown holiday set {other:?}: expected \"us\" or \"none\""
            )),
        }
    }
}

fn nth(year: i16, month: i8, n: i8, wd: Weekday) -> Date {
    date(year, month, 1)
        .nth_weekday_of_month(n, wd)
        .expect("every month has a first to fourth and a last weekday of each kind")
}

/// The observed date of a fixed-date holiday under the federal rule.
pub fn observed(d: Date) -> Date {
    match d.weekday() {
        Weekday::Saturday => d.yesterday().expect("in range"),
        Weekday::Sunday => d.tomorrow().expect("in range"),
        _ => d,
    }
}

/// The US federal holidays named for dates in `year`, in date order.
///
/// Rules are those in force since the Uniform Monday Holiday Act took effect (1971), with
/// Martin Luther King Jr. Day from 1986 and Juneteenth from 2021. Inauguration Day (a holiday
/// only in the Washington DC area) is not included.
pub fn us_federal_holidays(year: i16) -> Vec<Holiday> {
    use Weekday::*;
    let fixed = |m, d, name| {
        let day = date(year, m, d);
        Holiday {
            date: day,
            observed: observed(day),
            name,
        }
    };
    let floating = |day: Date, name| Holiday {
        date: day,
        observed: day,
        name,
    };
    let mut out = vec![fixed(1, 1, "New Year's Day")];
    if year >= 1986 {
        out.push(floating(
            nth(year, 1, 3, Monday),
            "Birthday of Martin Luther King, Jr.",
        ));
    }
    out.push(floating(nth(year, 2, 3, Monday), "Washington's Birthday"));
    out.push(floating(nth(year, 5, -1, Monday), "Memorial Day"));
    if year >= 2021 {
        out.push(fixed(6, 19, "Juneteenth National Independence Day"));
    }
    out.push(fixed(7, 4, "Independence Day"));
    out.push(floating(nth(year, 9, 1, Monday), "Labor Day"));
    out.push(floating(nth(year, 10, 2, Monday), "Columbus Day"));
    out.push(fixed(11, 11, "Veterans Day"));
    out.push(floating(nth(year, 11, 4, Thursday), "Thanksgiving Day"));
    out.push(fixed(12, 25, "Christmas Day"));
    out
}

/// The federal holidays whose *observed* date falls in `year`, in observed-date order. This is
/// the list an office calendar for that year shows: when January 1st is a Saturday, the closure
/// falls on December 31st of the year before.
pub fn us_federal_closures(year: i16) -> Vec<Holiday> {
    let mut all: Vec<Holiday> = Vec::new();
    for y in [year - 1, year, year + 1] {
        if (FIRST_YEAR..=LAST_YEAR + 1).contains(&y) {
            all.extend(us_federal_holidays(y));
        }
    }
    all.retain(|h| h.observed.year() == year);
    all.sort_by_key(|h| h.observed);
    all
}

/// The name of the federal holiday of `year` observed on `day`, if any. The year's list is kept
/// per thread for the years asked last: every parcel judged in a week with a holiday asks
/// again, and building the list costs more than the rest of the judgement.
fn observed_holiday(year: i16, day: Date) -> Option<&'static str> {
    use std::cell::RefCell;
    thread_local! {
        static YEARS: RefCell<Vec<(i16, Vec<Holiday>)>> = const { RefCell::new(Vec::new()) };
    }
    YEARS.with_borrow_mut(|years| {
        let at = match years.iter().position(|(y, _)| *y == year) {
            Some(at) => at,
            None => {
                if years.len() == 4 {
                    years.remove(0);
                }
                years.push((year, us_federal_holidays(year)));
                years.len() - 1
            }
        };
        years[at]
            .1
            .iter()
            .find(|h| h.observed == day)
            .map(|h| h.name)
    })
}

/// A working calendar: closed weekdays, a public holiday set and extra closed dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    closed_weekdays: Vec<Weekday>,
    holidays: HolidaySet,
    closed_days: BTreeSet<Date>,
}

impl Default for BusinessCalendar {
    fn default() -> Self {
        Self::new(vec![Weekday::Saturday, Weekday::Sunday], HolidaySet::Us, [])
    }
}

impl BusinessCalendar {
    /// Builds a calendar. At least one weekday must stay open; a calendar with every weekday
    /// closed has no business days and is refused by configuration checks before it gets here.
    pub fn new(
        closed_weekdays: Vec<Weekday>,
        holidays: HolidaySet,
        closed_days: impl IntoIterator<Item = Date>,
    ) -> Self {
        assert!(
            closed_weekdays.len() < 7,
            "a business calendar needs at least one open weekday"
        );
        Self {
            closed_weekdays,
            holidays,
            closed_days: closed_days.into_iter().collect(),
        }
    }

    /// Whether `day` is a public holiday (on its observed date) in this calendar.
    pub fn holiday_on(&self, day: Date) -> Option<&'static str> {
        match self.holidays {
            HolidaySet::None => None,
            HolidaySet::Us => {
                // Most days are nowhere near a holiday: only days within a day of a fixed-date
                // holiday, and the Mondays and Thursdays of the weeks the floating ones fall in
                // (third Monday of January and February, last of May, first of September,
                // second of October, fourth Thursday of November), can be. The lists below are
                // looked up only for those (a test checks that no holiday of 1990-2109 is missed).
                let (m, d) = (day.month(), day.day());
                let near_fixed = matches!(
                    (m, d),
                    (12, 31)
                        | (1, 1..=2)
                        | (6, 18..=20)
                        | (7, 3..=5)
                        | (11, 10..=12)
                        | (12, 24..=26)
                );
                let floating = match day.weekday() {
                    Weekday::Monday => matches!(
                        (m, d),
                        (1 | 2, 15..=21) | (5, 25..=31) | (9, 1..=7) | (10, 8..=14)
                    ),
                    Weekday::Thursday => matches!((m, d), (11, 22..=28)),
                    _ => false,
                };
                if !near_fixed && !floating {
                    return None;
                }
                // The observed date is at most one day away from the named date, so only the
                // holidays of this year and (for December 31st) the next can land on `day`.
                let years = [day.year(), day.year().saturating_add(1)];
                years
                    .into_iter()
                    .filter(|y| (FIRST_YEAR..=LAST_YEAR + 1).contains(y))
                    .find_map(|y| observed_holiday(y, day))
            }
        }
    }

    /// Whether the store (or carrier) works on `day`.
    pub fn is_business_day(&self, day: Date) -> bool {
        !self.closed_weekdays.contains(&day.weekday())
            && !self.closed_days.contains(&day)
            && self.holiday_on(day).is_none()
    }

    /// The first business day on or after `day`.
    pub fn on_or_after(&self, mut day: Date) -> Date {
        // Terminates: at least one weekday is open and holidays/closed days are finite per week
        // in practice; the bound guards against a configuration that closes a whole year.
        for _ in 0..3660 {
            if self.is_business_day(day) {
                return day;
            }
            day = day.tomorrow().expect("date in range");
        }
        panic!("no business day within ten years after {day}: check the closed days")
    }

    /// The first business day strictly after `day`.
    pub fn next_after(&self, day: Date) -> Date {
        self.on_or_after(day.tomorrow().expect("date in range"))
    }

    /// The business day `n` business days after business day `day` (`n = 0` gives `day`).
    pub fn add_business_days(&self, day: Date, n: u32) -> Date {
        let mut d = self.on_or_after(day);
        for _ in 0..n {
            d = self.next_after(d);
        }
        d
    }

    /// Business days strictly after `from` up to and including `to`.
    pub fn business_days_between(&self, from: Date, to: Date) -> u32 {
        let mut n = 0;
        let mut d = from;
        while d < to {
            d = d.tomorrow().expect("date in range");
            if self.is_business_day(d) {
                n += 1;
            }
        }
        n
    }
}

/// Parses a weekday name as the configuration writes it (`saturday`, `sun`, ...).
pub fn parse_weekday(s: &str) -> Result<Weekday, String> {
    use Weekday::*;
    Ok(match s.to_ascii_lowercase().as_str() {
        "monday" | "mon" => Monday,
        "tuesday" | "tue" => Tuesday,
        "wednesday" | "wed" => Wednesday,
        "thursday" | "thu" => Thursday,
        "friday" | "fri" => Friday,
        "saturday" | "sat" => Saturday,
        "sunday" | "sun" => Sunday,
        _ => return Err(format!("{s:?} is not a weekday name (monday ... sunday)")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn closures(year: i16) -> Vec<(String, &'static str)> {
        us_federal_closures(year)
            .into_iter()
            .map(|h| (h.observed.to_string(), h.name))
            .collect()
    }

    #[test]
    fn federal_closures_2026_match_the_opm_calendar() {
        let got: Vec<String> = closures(2026).into_iter().map(|(d, _)| d).collect();
        assert_eq!(
            got,
            [
                "2026-01-01",
                "2026-01-19",
                "2026-02-16",
                "2026-05-25",
                "2026-06-19",
                "2026-07-03",
                "2026-09-07",
                "2026-10-12",
                "2026-11-11",
                "2026-11-26",
                "2026-12-25"
            ]
        );
    }

    #[test]
    fn saturday_new_year_is_observed_on_december_31_of_the_year_before() {
        // 2022-01-01 was a Saturday: the closure is 2021-12-31 and 2022 has none for it.
        let y2021 = closures(2021);
        assert!(y2021.contains(&("2021-12-31".into(), "New Year's Day")));
        assert!(!closures(2022).iter().any(|(_, n)| *n == "New Year's Day"));
        let cal = BusinessCalendar::default();
        assert!(!cal.is_business_day(date(2021, 12, 31)));
    }

    #[test]
    fn sunday_holiday_is_observed_on_monday() {
        // 2021-07-04 was a Sunday.
        assert!(closures(2021).contains(&("2021-07-05".into(), "Independence Day")));
        // Juneteenth 2022 fell on a Sunday.
        assert!(
            closures(2022).contains(&("2022-06-20".into(), "Juneteenth National Independence Day"))
        );
        assert!(
            !closures(2020)
                .iter()
                .any(|(_, n)| n.starts_with("Juneteenth"))
        );
    }

    #[test]
    fn thanksgiving_and_memorial_day_float() {
        assert!(closures(2025).contains(&("2025-11-27".into(), "Thanksgiving Day")));
        assert!(closures(2025).contains(&("2025-05-26".into(), "Memorial Day")));
        assert!(closures(2024).contains(&("2024-11-28".into(), "Thanksgiving Day")));
    }

    #[test]
    fn seller_closed_days_and_weekdays_count() {
        let cal = BusinessCalendar::new(
            vec![Weekday::Sunday],
            HolidaySet::None,
            [date(2025, 12, 24)],
        );
        assert!(cal.is_business_day(date(2025, 12, 20))); // Saturday open here
        assert!(!cal.is_business_day(date(2025, 12, 21))); // Sunday
        assert!(!cal.is_business_day(date(2025, 12, 24))); // seller closed
        assert!(cal.is_business_day(date(2025, 12, 25))); // no holidays in this calendar
    }

    #[test]
    fn the_quick_pre_filter_never_hides_a_holiday() {
        let cal = BusinessCalendar::default();
        for year in 1990..2110 {
            for h in us_federal_closures(year) {
                assert_eq!(cal.holiday_on(h.observed), Some(h.name), "{h:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn every_year_since_2021_has_eleven_holidays_closed_on_weekdays(year in 2021i16..2400) {
            let hs = us_federal_holidays(year);
            prop_assert_eq!(hs.len(), 11);
            for h in &hs {
                prop_assert!(!matches!(h.observed.weekday(), Weekday::Saturday | Weekday::Sunday));
                prop_assert!((h.observed - h.date).get_days().abs() <= 1);
            }
        }

        #[test]
        fn closures_list_each_observed_day_once_and_all_are_non_business(year in 1990i16..2300) {
            let cs = us_federal_closures(year);
            let cal = BusinessCalendar::default();
            for w in cs.windows(2) {
                prop_assert!(w[0].observed < w[1].observed);
            }
            for h in &cs {
                prop_assert_eq!(h.observed.year(), year);
                prop_assert!(!cal.is_business_day(h.observed));
            }
        }

        #[test]
        fn adding_business_days_lands_on_business_days_in_order(
            y in 2000i16..2100, doy in 1i16..365, n in 0u32..30
        ) {
            let cal = BusinessCalendar::default();
            let start = date(y, 1, 1).checked_add(jiff::Span::new().days(doy as i64)).unwrap();
            let a = cal.add_business_days(start, n);
            let b = cal.add_business_days(start, n + 1);
            prop_assert!(cal.is_business_day(a));
            prop_assert!(b > a);
            prop_assert_eq!(cal.business_days_between(a, b), 1);
            prop_assert_eq!(cal.business_days_between(cal.on_or_after(start), a), n);
        }
    }
}
