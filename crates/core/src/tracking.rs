//! Parcels and their tracking: herald's one status vocabulary, tracking events as they arrive
//! from carriers and aggregators, and the rule that turns any set of events into a parcel's
//! current status and history.
//!
//! Events arrive twice and out of order. A parcel's state is therefore computed from the set of
//! its distinct events, never from arrival order: the current status is that of the latest event
//! by the carrier's own timestamp (at the same instant, the later stage of the journey wins), so a
//! late-arriving old scan is kept in the history but never moves the parcel backwards.

use crate::order::FieldError;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The normalised tracking statuses, in journey order (used to break ties at one instant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    Unknown,
    PreTransit,
    Accepted,
    InTransit,
    OutForDelivery,
    AvailableForPickup,
    DeliveryFailed,
    Exception,
    ReturnedToSender,
    Cancelled,
    Delivered,
}

impl TrackingStatus {
    pub const ALL: [TrackingStatus; 11] = [
        Self::Unknown,
        Self::PreTransit,
        Self::Accepted,
        Self::InTransit,
        Self::OutForDelivery,
        Self::AvailableForPickup,
        Self::DeliveryFailed,
        Self::Exception,
        Self::ReturnedToSender,
        Self::Cancelled,
        Self::Delivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::PreTransit => "pre_transit",
            Self::Accepted => "accepted",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::AvailableForPickup => "available_for_pickup",
            Self::DeliveryFailed => "delivery_failed",
            Self::Exception => "exception",
            Self::ReturnedToSender => "returned_to_sender",
            Self::Cancelled => "cancelled",
            Self::Delivered => "delivered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the carrier has the parcel (any scan after the label was made).
    pub fn carrier_has_it(self) -> bool {
        !matches!(self, Self::Unknown | Self::PreTransit | Self::Cancelled)
    }
}

/// Where a scan happened, at city and state level.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanLocation {
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

/// One checked tracking event.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrackingEvent {
    pub carrier: String,
    pub tracking_number: String,
    pub status: TrackingStatus,
    pub occurred_at: Timestamp,
    pub description: Option<String>,
    pub location: Option<ScanLocation>,
}

/// A carrier name as herald keys it: trimmed and lowercase (`USPS` and `usps` are one
/// carrier), and the big four by family, whatever the service or source calls them
/// (`FedEx`, `FEDEX_GROUND`, `UPSSurePost`, `DHLExpress`).
pub fn carrier_key(s: &str) -> String {
    let k = s.trim().to_ascii_lowercase();
    // The family is read off the name's letters and digits, without copying them out: this
    // runs for every event of every batch.
    let compact = k.bytes().filter(u8::is_ascii_alphanumeric);
    for family in ["usps", "fedex", "dhl", "ups"] {
        if compact.clone().take(family.len()).eq(family.bytes()) {
            return family.to_string();
        }
    }
    k
}

/// A tracking number as herald keys it: without spaces or dashes, uppercase.
pub fn tracking_key(s: &str) -> String {
    if s.is_ascii() {
        // The usual case, byte by byte: the same result as the general path below for ASCII
        // (`char::is_whitespace` on ASCII is space, tab, line feed, vertical tab, form feed and
        // carriage return), at a fraction of its cost per event.
        let mut k = String::with_capacity(s.len());
        k.extend(
            s.bytes()
                .filter(|b| !matches!(b, b' ' | b'\t'..=b'\r' | b'-'))
                .map(|b| char::from(b.to_ascii_uppercase())),
        );
        return k;
    }
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

impl TrackingEvent {
    /// What makes two reports the same event: parcel, instant, status and place. The same scan
    /// sent twice (by a webhook retry, or by two aggregators) has the same key.
    pub fn dedupe_key(&self) -> String {
        // Built by hand rather than with `format!`: one allocation, and this runs for every
        // event of every batch. The form is stored (the unique key of stored events), so it
        // must never change: `carrier|number|µs|status|city|region|postal code`, city and
        // region in ASCII lowercase.
        let loc = self.location.as_ref();
        let part =
            |f: fn(&ScanLocation) -> Option<&String>| loc.and_then(f).map_or("", String::as_str);
        let (city, region, postal) = (
            part(|l| l.city.as_ref()),
            part(|l| l.region.as_ref()),
            part(|l| l.postal_code.as_ref()),
        );
        let mut k = String::with_capacity(
            self.carrier.len()
                + self.tracking_number.len()
                + city.len()
                + region.len()
                + postal.len()
                + 48,
        );
        let field = |k: &mut String, v: &str, lowercase: bool| {
            let at = k.len();
            k.push_str(v);
            if lowercase {
                k[at..].make_ascii_lowercase();
            }
            k.push('|');
        };
        field(&mut k, &self.carrier, false);
        field(&mut k, &self.tracking_number, false);
        // Writing to a String cannot fail.
        let _ = write!(k, "{}|", self.occurred_at.as_microsecond());
        field(&mut k, self.status.as_str(), false);
        field(&mut k, city, true);
        field(&mut k, region, true);
        k.push_str(postal);
        k
    }

    /// Sorting key: time, journey stage, identity, the place as written, then wording, so that
    /// even two reports of one scan worded or spelled differently settle the same way whatever
    /// order they came in. The wording comes last: the report of a scan that history keeps is
    /// then the one a parcel's digest keeps too (a digest drops the wording).
    fn order_key(&self) -> OrderKey<'_> {
        (
            self.occurred_at,
            self.status,
            self.dedupe_key(),
            self.location.as_ref(),
            self.description.as_deref(),
        )
    }
}

/// See [`TrackingEvent::order_key`].
type OrderKey<'a> = (
    Timestamp,
    TrackingStatus,
    String,
    Option<&'a ScanLocation>,
    Option<&'a str>,
);

/// Checks and normalises the two fields that name a parcel, recording what is wrong.
fn parcel_keys(
    carrier: &str,
    tracking_number: &str,
    errs: &mut Vec<FieldError>,
) -> (String, String) {
    let carrier = carrier_key(carrier);
    if carrier.is_empty() || carrier.len() > 32 {
        errs.push(FieldError::new(
            "carrier",
            "must name the carrier (usps, ups, fedex, dhl, ...), 1 to 32 characters",
        ));
    }
    let tracking_number = tracking_key(tracking_number);
    if tracking_number.is_empty() || tracking_number.len() > 64 {
        errs.push(FieldError::new(
            "tracking_number",
            "must be 1 to 64 characters",
        ));
    }
    (carrier, tracking_number)
}

/// The generic JSON shape of `POST /api/v1/tracking-events`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingEventInput {
    pub carrier: String,
    pub tracking_number: String,
    pub status: String,
    pub occurred_at: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub location: Option<ScanLocation>,
}

impl TrackingEventInput {
    pub fn validate(self) -> Result<TrackingEvent, Vec<FieldError>> {
        let mut errs = Vec::new();
        let (carrier, tracking_number) =
            parcel_keys(&self.carrier, &self.tracking_number, &mut errs);
        let status = TrackingStatus::parse(self.status.trim());
        if status.is_none() {
            errs.push(FieldError::new(
                "status",
                format!(
                    "{:?} is not a tracking status: use one of {}",
                    self.status,
                    TrackingStatus::ALL.map(|s| s.as_str()).join(", ")
                ),
            ));
        }
        let occurred_at = self.occurred_at.trim().parse::<Timestamp>().ok();
        if occurred_at.is_none() {
            errs.push(FieldError::new(
                "occurred_at",
                format!(
                    "{:?} is not an RFC 3339 instant (for example 2025-12-06T15:37:33Z)",
                    self.occurred_at
                ),
            ));
        }
        match (status, occurred_at) {
            (Some(status), Some(occurred_at)) if errs.is_empty() => Ok(TrackingEvent {
                carrier,
                tracking_number,
                status,
                occurred_at,
                description: self
                    .description
                    .map(|d| d.trim().to_string())
                    .filter(|d| !d.is_empty()),
                location: self.location.filter(|l| *l != ScanLocation::default()),
            }),
            _ => Err(errs),
        }
    }
}

/// The distinct events of one parcel in the order they happened.
pub fn history(events: &[TrackingEvent]) -> Vec<TrackingEvent> {
    history_of(events.iter().collect())
        .into_iter()
        .cloned()
        .collect()
}

/// [`history`] over borrowed events, for callers that keep only a few of them.
pub fn history_of(events: Vec<&TrackingEvent>) -> Vec<&TrackingEvent> {
    // Already in order with no two events at one instant and stage (a parcel's usual story,
    // and always a digest's): nothing to sort or merge, and no key to build.
    // (Compared to the microsecond, as the dedupe key is.)
    let at = |e: &TrackingEvent| (e.occurred_at.as_microsecond(), e.status);
    if events.windows(2).all(|w| at(w[0]) < at(w[1])) {
        return events;
    }
    // Each event's key is built once (building it is the costly part).
    let mut keyed: Vec<_> = events.into_iter().map(|e| (e.order_key(), e)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0.2 == b.0.2);
    keyed.into_iter().map(|(_, e)| e).collect()
}

/// The parcel's current status and since when: the latest event by the carrier's time. Events
/// whose status is `unknown` (an aggregator's "no news", "tracking expired") say nothing of
/// where the parcel is, so they count only while there is nothing else.
pub fn current(events: &[TrackingEvent]) -> Option<(TrackingStatus, Timestamp)> {
    current_of(events)
}

/// [`current`] over borrowed events.
pub fn current_of<'a>(
    events: impl IntoIterator<Item = &'a TrackingEvent> + Clone,
) -> Option<(TrackingStatus, Timestamp)> {
    // Events at the same instant with the same status give the same answer, so time and
    // journey stage decide; no need to tell such events apart.
    let known = events
        .clone()
        .into_iter()
        .filter(|e| e.status != TrackingStatus::Unknown)
        .map(|e| (e.occurred_at, e.status))
        .max();
    known
        .or_else(|| events.into_iter().map(|e| (e.occurred_at, e.status)).max())
        .map(|(at, status)| (status, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(status: TrackingStatus, at: &str, city: &str) -> TrackingEvent {
        TrackingEvent {
            carrier: "usps".into(),
            tracking_number: "9400111899223344556677".into(),
            status,
            occurred_at: at.parse().unwrap(),
            description: None,
            location: Some(ScanLocation {
                city: Some(city.into()),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_late_old_scan_never_moves_the_parcel_back() {
        let delivered = ev(
            TrackingStatus::Delivered,
            "2025-12-09T18:00:00Z",
            "Brooklyn",
        );
        let old = ev(TrackingStatus::InTransit, "2025-12-07T10:00:00Z", "Edison");
        assert_eq!(
            current(&[delivered.clone(), old.clone()]).unwrap().0,
            TrackingStatus::Delivered
        );
        assert_eq!(history(&[delivered, old.clone(), old]).len(), 2);
    }

    #[test]
    fn input_is_checked_and_keys_are_normalised() {
        let e = TrackingEventInput {
            carrier: " USPS ".into(),
            tracking_number: "9400 1118-9922".into(),
            status: "in_transit".into(),
            occurred_at: "2025-12-07T10:00:00-05:00".into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(
            (e.carrier.as_str(), e.tracking_number.as_str()),
            ("usps", "940011189922")
        );
        let errs = TrackingEventInput {
            carrier: "".into(),
            tracking_number: "1".into(),
            status: "moving".into(),
            occurred_at: "soon".into(),
            ..Default::default()
        }
        .validate()
        .unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["carrier", "status", "occurred_at"]);
    }

    #[test]
    fn the_dedupe_key_keeps_its_stored_form() {
        // Stored events are recognised by this key: a change of form would store a re-sent
        // event twice.
        let mut e = ev(TrackingStatus::InTransit, "2025-12-07T10:00:00Z", "Kenly");
        e.location = Some(ScanLocation {
            city: Some("KENLY".into()),
            region: Some("Nc".into()),
            postal_code: Some("27542-AB".into()),
            country: Some("US".into()),
        });
        e.description = Some("Departed".into());
        assert_eq!(
            e.dedupe_key(),
            "usps|9400111899223344556677|1765101600000000|in_transit|kenly|nc|27542-AB"
        );
        e.location = None;
        assert_eq!(
            e.dedupe_key(),
            "usps|9400111899223344556677|1765101600000000|in_transit|||"
        );
        e.location = Some(ScanLocation {
            city: Some("Zürich É".into()),
            ..Default::default()
        });
        assert_eq!(
            e.dedupe_key(),
            "usps|9400111899223344556677|1765101600000000|in_transit|zürich É||"
        );
    }

    proptest! {
        /// The fast paths for plain ASCII give what the general rules give.
        #[test]
        fn keys_follow_the_general_rules(s in "[ -~\t\n\x0b\x0c\réü\u{85}\u{a0}]{0,24}") {
            let general: String = s
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .flat_map(char::to_uppercase)
                .collect();
            prop_assert_eq!(tracking_key(&s), general);
            for name in ["", "FedEx Ground", "fedex_ground", "UPS SurePost", "D.H.L. Express", "usps", "Royal Mail"] {
                let with = format!("{name}{s}");
                let k = with.trim().to_ascii_lowercase();
                let compact: String = k.chars().filter(char::is_ascii_alphanumeric).collect();
                let family = ["usps", "fedex", "dhl", "ups"]
                    .into_iter()
                    .find(|f| compact.starts_with(f))
                    .map_or(k.clone(), str::to_string);
                prop_assert_eq!(carrier_key(&with), family);
            }
        }
    }

    fn event() -> impl Strategy<Value = TrackingEvent> {
        (
            prop::sample::select(TrackingStatus::ALL.to_vec()),
            0i64..20,
            prop::sample::select(vec!["Orlando", "Kenly", "Edison", "Brooklyn"]),
        )
            .prop_map(|(status, hour, city)| TrackingEvent {
                carrier: "fedex".into(),
                tracking_number: "123456789012".into(),
                status,
                occurred_at: Timestamp::from_second(1_765_000_000 + hour * 3600).unwrap(),
                description: None,
                location: Some(ScanLocation {
                    city: Some(city.into()),
                    ..Default::default()
                }),
            })
    }

    proptest! {
        #[test]
        fn any_permutation_with_repeats_gives_the_same_status_and_history(
            events in prop::collection::vec(event(), 1..12),
            repeats in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            seed in any::<u64>(),
        ) {
            let mut arrived = events.clone();
            for r in &repeats {
                arrived.push(events[r.index(events.len())].clone());
            }
            let n = arrived.len();
            for i in (1..n).rev() {
                let j = (seed as usize).wrapping_mul(31).wrapping_add(i * 17) % (i + 1);
                arrived.swap(i, j);
            }
            prop_assert_eq!(current(&events), current(&arrived));
            prop_assert_eq!(history(&events), history(&arrived));
            // The current status is never older than any scan that says where the parcel is.
            let (_, at) = current(&arrived).unwrap();
            prop_assert!(arrived
                .iter()
                .filter(|e| e.status != TrackingStatus::Unknown)
                .all(|e| e.occurred_at <= at));
        }
    }
}

/// A parcel the seller shipped for an order, as `POST /api/v1/shipments` takes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentInput {
    /// herald's id of the order (from `POST /api/v1/orders`).
    pub order_id: i64,
    pub carrier: String,
    pub tracking_number: String,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub label_created_at: Option<String>,
    #[serde(default)]
    pub origin_postal_code: Option<String>,
    #[serde(default)]
    pub destination_postal_code: Option<String>,
    /// The carrier's estimated delivery date, when it gives one.
    #[serde(default)]
    pub estimated_delivery: Option<String>,
}

/// A checked shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewShipment {
    pub order_id: i64,
    pub carrier: String,
    pub tracking_number: String,
    pub service: Option<String>,
    pub label_created_at: Option<Timestamp>,
    pub origin_postal_code: Option<String>,
    pub destination_postal_code: Option<String>,
    pub estimated_delivery: Option<Timestamp>,
}

impl ShipmentInput {
    pub fn validate(self) -> Result<NewShipment, Vec<FieldError>> {
        let mut errs = Vec::new();
        let (carrier, tracking_number) =
            parcel_keys(&self.carrier, &self.tracking_number, &mut errs);
        if self.order_id <= 0 {
            errs.push(FieldError::new(
                "order_id",
                "must be the id herald gave the order",
            ));
        }
        let mut instant = |field: &str, v: Option<String>| {
            let v = v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())?;
            match v.parse::<Timestamp>() {
                Ok(t) => Some(t),
                Err(_) => {
                    errs.push(FieldError::new(
                        field,
                        format!("{v:?} is not an RFC 3339 instant"),
                    ));
                    None
                }
            }
        };
        let label_created_at = instant("label_created_at", self.label_created_at);
        let estimated_delivery = instant("estimated_delivery", self.estimated_delivery);
        let text = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(NewShipment {
            order_id: self.order_id,
            carrier,
            tracking_number,
            service: text(self.service),
            label_created_at,
            origin_postal_code: text(self.origin_postal_code),
            destination_postal_code: text(self.destination_postal_code),
            estimated_delivery,
        })
    }
}

/// A parcel's status from its events; with none yet, `pre_transit` once a label exists.
pub fn parcel_status(
    events: &[TrackingEvent],
    label_created_at: Option<Timestamp>,
) -> (TrackingStatus, Option<Timestamp>) {
    match current(events) {
        Some((s, at)) => (s, Some(at)),
        None => match label_created_at {
            Some(at) => (TrackingStatus::PreTransit, Some(at)),
            None => (TrackingStatus::Unknown, None),
        },
    }
}
