//! The seller's watch policy for parcels: which thresholds apply to which carrier and service,
//! how long each service normally takes (the service-standard table), each carrier's calendar,
//! and how far off route a scan may be. [`WatchPolicy::verdict`] feeds a shipment's facts
//! through the problem rules with the right settings.

use crate::calendar::BusinessCalendar;
use crate::cases::{Compensation, default_compensation};
use crate::geo;
use crate::problems::{self, Parcel, ProblemKind, Route, Thresholds, Verdict};
use crate::short::Short;
use crate::tracking::TrackingEvent;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::collections::BTreeMap;

/// How long a service takes, in business days from acceptance.
#[derive(Debug, Clone, PartialEq)]
pub enum Standard {
    /// A fixed range, for example 1-3 for USPS Priority Mail.
    Days { min: u32, max: u32 },
    /// Ground services: days by distance, as `(up to km, days)` bands in increasing order; the
    /// last band's days hold beyond it.
    ByDistance(Vec<(f64, u32)>),
}

impl Standard {
    /// The slowest normal transit for a route of `km` (unknown distance: the slowest band).
    pub fn max_days(&self, km: Option<f64>) -> u32 {
        match self {
            Self::Days { max, .. } => *max,
            Self::ByDistance(bands) => match km {
                Some(km) => bands
                    .iter()
                    .find(|(limit, _)| km <= *limit)
                    .or(bands.last())
                    .map_or(5, |b| b.1),
                None => bands.last().map_or(5, |b| b.1),
            },
        }
    }

    /// Reads `1-3`, `2`, or `ground` (the distance bands of the big ground networks).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("ground") || s.eq_ignore_ascii_case("by distance") {
            return Ok(Self::ByDistance(ground_bands()));
        }
        let (min, max) = s.split_once('-').unwrap_or((s, s));
        match (min.trim().parse::<u32>(), max.trim().parse::<u32>()) {
            (Ok(min), Ok(max)) if min <= max && max > 0 && max <= 60 => Ok(Self::Days { min, max }),
            _ => Err(format!(
                "{s:?} is not a transit time: write business days as \"1-3\" or \"2\", or \"ground\" for days by distance"
            )),
        }
    }
}

/// Ground transit by distance across the contiguous US (UPS Ground and FedEx Ground publish
/// maps of this shape: one day regionally, five coast to coast), and longer for Alaska and
/// Hawaii.
fn ground_bands() -> Vec<(f64, u32)> {
    vec![
        (300.0, 1),
        (800.0, 2),
        (1600.0, 3),
        (2600.0, 4),
        (4500.0, 5),
        (f64::INFINITY, 7),
    ]
}

/// A service's key in the threshold and standard tables: `carrier/servicekey`.
fn table_key(carrier: &str, service: &str) -> String {
    format!("{carrier}/{}", service_key(carrier, service))
}

/// Calls `f` with a service's key in the tables ([`table_key`]), built on the stack when it is
/// short, as every service's is: the rules look a parcel's service up each time they judge it,
/// and building the key on the heap took three allocations a time (a sixth of a verdict).
fn with_table_key<R>(carrier: &str, service: &str, f: impl FnOnce(&str) -> R) -> R {
    match short_table_key(carrier, service) {
        Some(key) => f(key.as_str()),
        None => f(&table_key(carrier, service)),
    }
}

/// [`table_key`] on the stack; `None` when it is too long for it.
fn short_table_key(carrier: &str, service: &str) -> Option<Short<64>> {
    let mut own = Short::<32>::new();
    for b in key_letters(carrier) {
        own.push_ascii(b)?;
    }
    let mut k = Short::<64>::new();
    for b in key_letters(service) {
        k.push_ascii(b)?;
    }
    let own = own.as_str();
    if !own.is_empty() && k.len() > own.len() && k.as_str().starts_with(own) {
        k.drop_front(own.len());
    }
    let mut key = Short::<64>::new();
    key.push_str(carrier)?;
    key.push_str("/")?;
    key.push_str(service_alias(own, k.as_str()).unwrap_or(k.as_str()))?;
    Some(key)
}

/// The letters and digits of a name, lowercase, as herald keys services.
fn key_letters(name: &str) -> impl Iterator<Item = u8> + '_ {
    name.bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase())
}

/// A service name as herald keys it: lowercase letters and digits only, without the carrier's
/// own name in front (`FEDEX_GROUND` and `Ground` are both `ground`; `Priority Mail` is
/// `prioritymail`).
pub fn service_key(carrier: &str, service: &str) -> String {
    let mut k: String = key_letters(service).map(char::from).collect();
    let carrier: String = key_letters(carrier).map(char::from).collect();
    if !carrier.is_empty() && k.len() > carrier.len() && k.starts_with(&carrier) {
        k.drain(..carrier.len());
    }
    service_alias(&carrier, &k).map_or(k, str::to_string)
}

/// The key of the service the carrier (keyed as services are) calls `key` under another name:
/// names the carriers' APIs and the aggregators use for the same service.
fn service_alias(carrier: &str, key: &str) -> Option<&'static str> {
    Some(match (carrier, key) {
        ("usps", "priority") => "prioritymail",
        ("usps", "express" | "priorityexpress") => "prioritymailexpress",
        ("usps", "first" | "firstclass" | "firstclasspackage" | "firstclasspackageservice") => {
            "groundadvantage"
        }
        ("usps", "parcelselectground") => "parcelselect",
        ("ups", "nextday" | "nextdayairsaver" | "nextdayairearly") => "nextdayair",
        ("ups", "2nddayairam" | "seconddayair") => "2nddayair",
        ("fedex", "homedelivery" | "groundhomedelivery") => "ground",
        ("fedex", "twoday" | "2dayam") => "2day",
        ("fedex", "priorityovernight" | "firstovernight") => "standardovernight",
        ("dhl", "expressworldwide" | "expressdomestic") => "express",
        _ => return None,
    })
}

/// The default service-standard table, keyed `carrier/service key`.
pub fn default_standards() -> BTreeMap<String, Standard> {
    let days = |min, max| Standard::Days { min, max };
    [
        ("usps/prioritymailexpress", days(1, 2)),
        ("usps/prioritymail", days(1, 3)),
        ("usps/groundadvantage", days(2, 5)),
        ("usps/parcelselect", days(2, 8)),
        ("usps/mediamail", days(2, 8)),
        ("ups/nextdayair", days(1, 1)),
        ("ups/2nddayair", days(2, 2)),
        ("ups/3dayselect", days(3, 3)),
        ("ups/ground", Standard::ByDistance(ground_bands())),
        ("ups/surepost", Standard::ByDistance(ground_bands())),
        ("fedex/standardovernight", days(1, 1)),
        ("fedex/2day", days(2, 2)),
        ("fedex/expresssaver", days(3, 3)),
        ("fedex/ground", Standard::ByDistance(ground_bands())),
        ("dhl/express", days(1, 3)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Thresholds that differ for one carrier or one carrier's service; unset fields inherit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThresholdOverride {
    pub not_accepted_business_days: Option<u32>,
    pub stalled_days: Option<i64>,
    pub pickup_days: Option<i64>,
}

impl ThresholdOverride {
    fn apply(&self, t: Thresholds) -> Thresholds {
        Thresholds {
            not_accepted_business_days: self
                .not_accepted_business_days
                .unwrap_or(t.not_accepted_business_days),
            stalled_days: self.stalled_days.unwrap_or(t.stalled_days),
            pickup_days: self.pickup_days.unwrap_or(t.pickup_days),
        }
    }
}

/// Everything the parcel rules and cases need from the seller's configuration.
#[derive(Debug, Clone)]
pub struct WatchPolicy {
    /// The store's time zone: business days are counted in it.
    pub time_zone: TimeZone,
    /// The store's calendar: the first-action deadline of a case counts its business days.
    pub store_calendar: BusinessCalendar,
    /// Carrier calendars by carrier name; a carrier without one uses the store's.
    pub carrier_calendars: BTreeMap<String, BusinessCalendar>,
    pub thresholds: Thresholds,
    /// Keyed `carrier` or `carrier/service key`; the service's entry wins over the carrier's.
    pub overrides: BTreeMap<String, ThresholdOverride>,
    /// Keyed `carrier/service key`.
    pub standards: BTreeMap<String, Standard>,
    /// Off-route tolerance: at least this many km...
    pub misroute_min_km: f64,
    /// ...or this share of the route's length, whichever is more.
    pub misroute_share: f64,
    /// Business days a seller has to act on a new case.
    pub first_action_business_days: u32,
    /// The seller's compensation policy per problem; kinds without an entry use
    /// [`default_compensation`].
    pub compensation: BTreeMap<ProblemKind, Compensation>,
}

impl Default for WatchPolicy {
    fn default() -> Self {
        Self {
            time_zone: TimeZone::UTC,
            store_calendar: BusinessCalendar::default(),
            carrier_calendars: BTreeMap::new(),
            thresholds: Thresholds::default(),
            overrides: BTreeMap::new(),
            standards: default_standards(),
            misroute_min_km: 300.0,
            misroute_share: 0.25,
            first_action_business_days: 1,
            compensation: BTreeMap::new(),
        }
    }
}

/// A shipment's facts, as the store keeps them, borrowed from its record (the rules read them
/// each time they judge a parcel).
#[derive(Debug, Clone, Copy, Default)]
pub struct ShipmentFacts<'a> {
    pub carrier: &'a str,
    pub service: Option<&'a str>,
    pub label_created_at: Option<Timestamp>,
    /// When the seller told herald about the shipment ("marked shipped").
    pub recorded_at: Option<Timestamp>,
    pub estimated_delivery: Option<Timestamp>,
    pub origin_postal_code: Option<&'a str>,
    pub destination_postal_code: Option<&'a str>,
}

impl WatchPolicy {
    /// The thresholds for a carrier and service.
    pub fn thresholds_for(&self, carrier: &str, service: Option<&str>) -> Thresholds {
        let key = service.map(|s| table_key(carrier, s));
        self.thresholds_by_key(carrier, key.as_deref())
    }

    /// [`Self::thresholds_for`] with the service's table key (`carrier/service`) worked out.
    fn thresholds_by_key(&self, carrier: &str, key: Option<&str>) -> Thresholds {
        let mut t = self.thresholds;
        if let Some(o) = self.overrides.get(carrier) {
            t = o.apply(t);
        }
        if let Some(o) = key.and_then(|k| self.overrides.get(k)) {
            t = o.apply(t);
        }
        t
    }

    /// The service standard for a carrier and service, if the table has one.
    pub fn standard_for(&self, carrier: &str, service: &str) -> Option<&Standard> {
        self.standards.get(&table_key(carrier, service))
    }

    /// The route a shipment should follow, when both ends are known places.
    pub fn route(&self, facts: &ShipmentFacts<'_>) -> Option<Route> {
        let from = facts.origin_postal_code.and_then(geo::postal_code)?;
        let to = facts.destination_postal_code.and_then(geo::postal_code)?;
        Some(Route::new(
            from,
            to,
            self.misroute_min_km,
            self.misroute_share,
        ))
    }

    /// The service standard's slowest transit for a shipment, in business days.
    pub fn standard_business_days(&self, facts: &ShipmentFacts<'_>) -> Option<u32> {
        self.standard_days_on(facts, self.route(facts))
    }

    /// As `standard_business_days`, with the shipment's route already worked out.
    fn standard_days_on(&self, facts: &ShipmentFacts<'_>, route: Option<Route>) -> Option<u32> {
        let service = facts.service?;
        with_table_key(facts.carrier, service, |key| {
            self.standard_days_by_key(Some(key), route)
        })
    }

    /// [`Self::standard_days_on`] with the service's table key worked out.
    fn standard_days_by_key(&self, key: Option<&str>, route: Option<Route>) -> Option<u32> {
        let standard = self.standards.get(key?)?;
        Some(standard.max_days(route.map(|r| r.path.length_km)))
    }

    /// The calendar a carrier's days are counted in.
    pub fn calendar_for(&self, carrier: &str) -> &BusinessCalendar {
        self.carrier_calendars
            .get(carrier)
            .unwrap_or(&self.store_calendar)
    }

    /// When a parcel the carrier accepted at `accepted` is overdue: after the carrier's
    /// estimate, else after the last business day of its service standard.
    pub fn expected_delivery(
        &self,
        facts: &ShipmentFacts<'_>,
        accepted: Timestamp,
    ) -> Option<Timestamp> {
        facts.estimated_delivery.or_else(|| {
            Some(problems::end_of_business_day_after(
                accepted,
                self.standard_business_days(facts)?,
                self.calendar_for(facts.carrier),
                &self.time_zone,
            ))
        })
    }

    /// When a parcel labelled (or marked shipped) at `start` and never scanned is "not
    /// accepted".
    pub fn acceptance_deadline(&self, facts: &ShipmentFacts<'_>, start: Timestamp) -> Timestamp {
        problems::business_days_after(
            start,
            self.thresholds_for(facts.carrier, facts.service)
                .not_accepted_business_days,
            self.calendar_for(facts.carrier),
            &self.time_zone,
        )
    }

    /// When a moving parcel last scanned at `last_scan` counts as stalled.
    pub fn stalled_from(&self, facts: &ShipmentFacts<'_>, last_scan: Timestamp) -> Timestamp {
        let days = self
            .thresholds_for(facts.carrier, facts.service)
            .stalled_days;
        last_scan + jiff::SignedDuration::from_hours(24 * days)
    }

    /// The rules' verdict on one shipment at `now`.
    pub fn verdict(
        &self,
        facts: &ShipmentFacts<'_>,
        events: &[TrackingEvent],
        now: Timestamp,
    ) -> Verdict {
        match facts.service {
            // The service's table key, worked out once for both tables.
            Some(service) => with_table_key(facts.carrier, service, |key| {
                self.verdict_keyed(facts, Some(key), events, now)
            }),
            None => self.verdict_keyed(facts, None, events, now),
        }
    }

    /// [`Self::verdict`] with the service's table key worked out.
    fn verdict_keyed(
        &self,
        facts: &ShipmentFacts<'_>,
        key: Option<&str>,
        events: &[TrackingEvent],
        now: Timestamp,
    ) -> Verdict {
        let route = self.route(facts);
        let standard_business_days = self.standard_days_by_key(key, route);
        let parcel = Parcel {
            label_created_at: facts.label_created_at,
            shipped_at: facts.recorded_at,
            estimated_delivery: facts.estimated_delivery,
            standard_business_days,
            events,
            route,
        };
        let cal = self.calendar_for(facts.carrier);
        problems::evaluate(
            &parcel,
            self.thresholds_by_key(facts.carrier, key),
            cal,
            &self.time_zone,
            now,
        )
    }

    /// The compensation the seller's policy suggests for a kind of problem.
    pub fn compensation_for(&self, kind: ProblemKind) -> Compensation {
        self.compensation
            .get(&kind)
            .cloned()
            .unwrap_or_else(|| default_compensation(kind))
    }

    /// When the seller must first act on a case opened at `opened`.
    pub fn first_action_due(&self, opened: Timestamp) -> Timestamp {
        problems::business_days_after(
            opened,
            self.first_action_business_days,
            &self.store_calendar,
            &self.time_zone,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::{ScanLocation, TrackingStatus};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn scan(status: TrackingStatus, at: &str, city: &str, state: &str) -> TrackingEvent {
        TrackingEvent {
            carrier: "fedex".into(),
            tracking_number: "123".into(),
            status,
            occurred_at: t(at),
            description: None,
            location: Some(ScanLocation {
                city: Some(city.into()),
                region: Some(state.into()),
                ..Default::default()
            }),
        }
    }

    fn kinds(v: &Verdict) -> Vec<ProblemKind> {
        v.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn service_names_from_every_source_find_their_standard() {
        let p = WatchPolicy::default();
        for (carrier, name, max) in [
            ("usps", "Priority Mail", 3),
            ("usps", "Priority", 3),
            ("usps", "PRIORITY_MAIL_EXPRESS", 2),
            ("usps", "GroundAdvantage", 5),
            ("usps", "First-Class Package Service", 5),
            ("ups", "UPS 2nd Day Air", 2),
            ("fedex", "FEDEX_2_DAY", 2),
        ] {
            assert_eq!(
                p.standard_for(carrier, name).map(|s| s.max_days(None)),
                Some(max),
                "{carrier} {name}"
            );
        }
        let ground = p.standard_for("fedex", "FEDEX_GROUND").unwrap();
        assert_eq!(ground.max_days(Some(200.0)), 1);
        assert_eq!(ground.max_days(Some(1500.0)), 3);
        assert_eq!(ground.max_days(Some(4000.0)), 5);
        assert!(p.standard_for("usps", "Carrier Pigeon").is_none());
        assert_eq!(
            Standard::parse("1-3").unwrap(),
            Standard::Days { min: 1, max: 3 }
        );
        assert!(Standard::parse("3-1").unwrap_err().contains("\"1-3\""));
    }

    #[test]
    fn overrides_apply_per_carrier_then_per_service() {
        let mut p = WatchPolicy::default();
        p.overrides.insert(
            "usps".into(),
            ThresholdOverride {
                stalled_days: Some(4),
                ..Default::default()
            },
        );
        p.overrides.insert(
            "usps/prioritymailexpress".into(),
            ThresholdOverride {
                stalled_days: Some(2),
                ..Default::default()
            },
        );
        assert_eq!(
            p.thresholds_for("usps", Some("Ground Advantage"))
                .stalled_days,
            4
        );
        assert_eq!(p.thresholds_for("usps", Some("Express")).stalled_days, 2);
        assert_eq!(p.thresholds_for("ups", Some("Ground")).stalled_days, 3);
    }

    #[test]
    fn a_california_to_new_jersey_parcel_in_anchorage_is_misrouted() {
        let p = WatchPolicy::default();
        let facts = ShipmentFacts {
            carrier: "usps",
            service: Some("Priority Mail"),
            origin_postal_code: Some("94103"),
            destination_postal_code: Some("07030"),
            ..Default::default()
        };
        let evs = [
            scan(
                TrackingStatus::Accepted,
                "2025-12-01T18:00:00Z",
                "San Francisco",
                "CA",
            ),
            scan(
                TrackingStatus::InTransit,
                "2025-12-02T08:00:00Z",
                "Anchorage",
                "AK",
            ),
        ];
        let v = p.verdict(&facts, &evs, t("2025-12-02T09:00:00Z"));
        assert_eq!(kinds(&v), [ProblemKind::Misrouted]);
        assert_eq!(v.findings[0].evidence, [evs[1].clone()]);
    }

    #[test]
    fn a_fedex_ground_journey_up_the_east_coast_is_not_misrouted() {
        let p = WatchPolicy::default();
        let facts = ShipmentFacts {
            carrier: "fedex",
            service: Some("FEDEX_GROUND"),
            origin_postal_code: Some("32801"),
            destination_postal_code: Some("11201"),
            ..Default::default()
        };
        let mut evs = vec![scan(
            TrackingStatus::Accepted,
            "2025-12-01T18:00:00Z",
            "Orlando",
            "FL",
        )];
        for (i, (c, s)) in [("Kenly", "NC"), ("Edison", "NJ"), ("Brooklyn", "NY")]
            .into_iter()
            .enumerate()
        {
            evs.push(scan(
                TrackingStatus::InTransit,
                &format!("2025-12-0{}T08:00:00Z", i + 2),
                c,
                s,
            ));
            let v = p.verdict(&facts, &evs, t("2025-12-04T12:00:00Z"));
            assert!(v.findings.is_empty(), "{c}: {:?}", kinds(&v));
        }
    }

    #[test]
    fn ground_parcels_are_overdue_by_distance() {
        // Orlando to Brooklyn is about 1,500 km: three business days of ground transit.
        let p = WatchPolicy::default();
        let facts = ShipmentFacts {
            carrier: "fedex",
            service: Some("Ground"),
            origin_postal_code: Some("32801"),
            destination_postal_code: Some("11201"),
            ..Default::default()
        };
        let evs = [scan(
            TrackingStatus::Accepted,
            "2025-12-01T18:00:00Z",
            "Orlando",
            "FL",
        )];
        // Monday acceptance: Thursday's end is the last normal day.
        assert!(
            !kinds(&p.verdict(&facts, &evs, t("2025-12-04T23:00:00Z")))
                .contains(&ProblemKind::Overdue)
        );
        assert!(
            kinds(&p.verdict(&facts, &evs, t("2025-12-05T00:00:01Z")))
                .contains(&ProblemKind::Overdue)
        );
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// The key built on the stack is the key built on the heap, for any names, short or
        /// long, with the carrier's name in front or not, in any script.
        #[test]
        fn service_keys_on_the_stack_match_the_table_keys(
            carrier in proptest::prop_oneof![
                proptest::sample::select(vec!["usps", "UPS", "FedEx", "dhl", ""]).prop_map(String::from),
                "[ -~é]{0,40}",
            ],
            service in proptest::prop_oneof![
                proptest::sample::select(vec![
                    "Priority Mail", "USPS Priority", "FEDEX_GROUND", "Home Delivery",
                    "Next Day Air Saver", "Express Worldwide", "First-Class Package Service",
                ]).prop_map(String::from),
                "[ -~ß]{0,80}",
            ],
        ) {
            let stacked = with_table_key(&carrier, &service, str::to_string);
            proptest::prop_assert_eq!(stacked, table_key(&carrier, &service));
        }

        /// The instants the simulator calls "detectable" are exactly where the rules start
        /// to fire: a second before, the verdict is clean; at the instant, it names the kind.
        #[test]
        fn the_moments_a_problem_becomes_detectable_match_the_rules(
            accept_min in 0i64..(60 * 24 * 400),
            carrier in proptest::sample::select(vec![
                ("usps", "Priority Mail"), ("usps", "Ground Advantage"), ("ups", "Ground"),
            ]),
            dest in proptest::sample::select(vec!["11201", "85004", "99501", "98101", "33101"]),
        ) {
            let p = WatchPolicy {
                time_zone: jiff::tz::TimeZone::get("America/Phoenix").unwrap(),
                ..WatchPolicy::default()
            };
            let facts = ShipmentFacts {
                carrier: carrier.0,
                service: Some(carrier.1),
                origin_postal_code: Some("86001"),
                destination_postal_code: Some(dest),
                ..Default::default()
            };
            let accepted = t("2025-01-01T00:00:00Z") + jiff::SignedDuration::from_mins(accept_min);
            let second = jiff::SignedDuration::from_secs(1);
            let evs = [scan(TrackingStatus::Accepted, &accepted.to_string(), "Flagstaff", "AZ")];
            let overdue = p.expected_delivery(&facts, accepted).unwrap();
            let stalled = p.stalled_from(&facts, accepted);
            for (kind, at) in [(ProblemKind::Overdue, overdue + second), (ProblemKind::Stalled, stalled)] {
                proptest::prop_assert!(!kinds(&p.verdict(&facts, &evs, at - second)).contains(&kind));
                proptest::prop_assert!(kinds(&p.verdict(&facts, &evs, at)).contains(&kind));
            }
            let labelled = ShipmentFacts { label_created_at: Some(accepted), ..facts };
            let due = p.acceptance_deadline(&labelled, accepted);
            proptest::prop_assert!(kinds(&p.verdict(&labelled, &[], due - second)).is_empty());
            proptest::prop_assert_eq!(kinds(&p.verdict(&labelled, &[], due)), vec![ProblemKind::NotAccepted]);
        }
    }
}
