//! A parcel's digest: the few of its events that the problem rules read, kept up to date as
//! events arrive, so that a new scan is judged without re-reading and decoding the parcel's
//! whole history.
//!
//! The rules (`problems::evaluate`) look at four events only: the latest that says where the
//! parcel is (its current status, and the last scan for `stalled`), the latest of any kind while
//! there is no such event, the first that shows the carrier has it (acceptance, for `overdue`)
//! and the latest that can be placed on the map (for `misrouted`). Each is the greatest or least
//! event in the history's own order, so adding events in any order, in any chunks, with repeats,
//! gives the digest of the whole set, and the rules give the same verdict on the digest as on
//! every event. Only the evidence of a `not_accepted` finding (every event so far) needs the
//! full history, which the sweep reads when there is a finding.

use crate::geo;
use crate::tracking::{ScanLocation, TrackingEvent, TrackingStatus, history_of};
use jiff::Timestamp;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// At most four of a parcel's distinct events, in the order they happened, without their
/// wording (the rules never read it, and every scan rewrites the digest with the shipment's row:
/// its bytes are the pages each commit writes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest(Vec<TrackingEvent>);

/// One event as a digest stores it: without the parcel's names (the row it sits in says them),
/// as a JSON array rather than an object: `[µs since 1970, status]`, or with the place
/// `[µs since 1970, status, [city, region, postal code, country]]`, the place's trailing nulls
/// left out. Digests written before read as well: `[µs, status, description, place]`.
struct Stored {
    at: i64,
    status: TrackingStatus,
    place: Option<ScanLocation>,
}

/// A digest's events as written, without a list of their own.
struct StoredRows<'a>(&'a [TrackingEvent]);

impl Serialize for StoredRows<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(StoredRef))
    }
}

/// [`Stored`] as written, borrowing from the event.
struct StoredRef<'a>(&'a TrackingEvent);

impl Serialize for StoredRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let e = self.0;
        let place = e.location.as_ref().map(|l| {
            let p = [
                l.city.as_deref(),
                l.region.as_deref(),
                l.postal_code.as_deref(),
                l.country.as_deref(),
            ];
            let len = p.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
            (p, len)
        });
        let mut seq = s.serialize_seq(Some(2 + usize::from(place.is_some())))?;
        seq.serialize_element(&e.occurred_at.as_microsecond())?;
        seq.serialize_element(e.status.as_str())?;
        if let Some((p, len)) = place {
            seq.serialize_element(&p[..len])?;
        }
        seq.end()
    }
}

// Digests are read for every parcel a batch touches, so they are read straight into the
// event's own types, without the intermediate strings and vectors of a generic reading.

/// A stored status, read without copying it.
struct Status(TrackingStatus);

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Status;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a tracking status")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Status, E> {
                TrackingStatus::parse(s)
                    .map(Status)
                    .ok_or_else(|| E::custom(format!("{s:?} is not a tracking status")))
            }
        }
        d.deserialize_str(V)
    }
}

/// A stored place, `[city, region, postal code, country]` (fields after the fourth are
/// ignored).
fn place_of<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<ScanLocation, A::Error> {
    let mut fields: [Option<String>; 4] = Default::default();
    let mut i = 0;
    while let Some(field) = seq.next_element::<Option<String>>()? {
        if let Some(slot) = fields.get_mut(i) {
            *slot = field;
        }
        i += 1;
    }
    let [city, region, postal_code, country] = fields;
    Ok(ScanLocation {
        city,
        region,
        postal_code,
        country,
    })
}

/// The third element of a stored event: the place (this form) or the description (before).
enum Third {
    Place(ScanLocation),
    Description,
}

impl<'de> Deserialize<'de> for Third {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Third;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a place (array) or a description (string or null)")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Third, A::Error> {
                place_of(seq).map(Third::Place)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Third, E> {
                Ok(Third::Description)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Third, E> {
                Ok(Third::Description)
            }
            fn visit_none<E: de::Error>(self) -> Result<Third, E> {
                Ok(Third::Description)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Stored {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Stored;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("[time, status, place?]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Stored, A::Error> {
                let at = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let Status(status) = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let place = match seq.next_element::<Third>()? {
                    None => None,
                    Some(Third::Place(p)) => Some(p),
                    // Written before: the description (dropped), then the place or null.
                    Some(Third::Description) => match seq.next_element::<Option<Third>>()? {
                        Some(Some(Third::Place(p))) => Some(p),
                        None | Some(None) => None,
                        Some(Some(Third::Description)) => {
                            return Err(de::Error::custom(
                                "a place (array) or null after the description",
                            ));
                        }
                    },
                };
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(5, &self));
                }
                Ok(Stored { at, status, place })
            }
        }
        d.deserialize_seq(V)
    }
}

impl Digest {
    /// The digest of a set of events.
    pub fn of(events: &[TrackingEvent]) -> Self {
        let mut d = Self::default();
        d.add(events);
        d
    }

    /// Takes new events into account (repeats and events already in are harmless).
    pub fn add<'a>(&mut self, events: impl IntoIterator<Item = &'a TrackingEvent>) {
        let before = std::mem::take(&mut self.0);
        // The distinct events as the history keeps them, in its order; only the picks are
        // copied.
        let events = events.into_iter();
        let mut all: Vec<&TrackingEvent> = Vec::with_capacity(before.len() + events.size_hint().0);
        all.extend(before.iter());
        all.extend(events.map(|e| -> &TrackingEvent { e }));
        let kept = history_of(all);
        let latest = |f: &dyn Fn(&TrackingEvent) -> bool| kept.iter().rposition(|e| f(e));
        let known = latest(&|e| e.status != TrackingStatus::Unknown);
        let any = if known.is_none() {
            kept.len().checked_sub(1)
        } else {
            None
        };
        let accepted = kept.iter().position(|e| e.status.carrier_has_it());
        let placed = latest(&|e| e.location.as_ref().and_then(geo::locate).is_some());
        // At most four, on the stack.
        let mut picks = [known, any, accepted, placed];
        picks.sort_unstable_by_key(|p| p.unwrap_or(usize::MAX));
        let mut last = None;
        let picks = picks.into_iter().flatten().filter(|&i| {
            let first = last != Some(i);
            last = Some(i);
            first
        });
        // Picks the digest held already are moved back in; only new events are copied (without
        // their wording, which the digest's own events never have). Every batch does this for
        // every parcel it touches.
        enum Pick {
            Held(usize),
            New(TrackingEvent),
        }
        let plan: Vec<Pick> = picks
            .into_iter()
            .map(|i| {
                let e = kept[i];
                match before.iter().position(|b| std::ptr::eq(b, e)) {
                    Some(at) => Pick::Held(at),
                    None => Pick::New(TrackingEvent {
                        carrier: e.carrier.clone(),
                        tracking_number: e.tracking_number.clone(),
                        status: e.status,
                        occurred_at: e.occurred_at,
                        description: None,
                        location: e.location.clone(),
                    }),
                }
            })
            .collect();
        // The held picks come in the old digest's order (both are the history's).
        let mut old = before.into_iter().enumerate();
        self.0 = plan
            .into_iter()
            .map(|p| match p {
                Pick::Held(at) => old
                    .find(|(i, _)| *i == at)
                    .map(|(_, e)| e)
                    .expect("the digest's picks come in its own order, each once"),
                Pick::New(e) => e,
            })
            .collect();
    }

    /// The events the rules read, in the order they happened.
    pub fn events(&self) -> &[TrackingEvent] {
        &self.0
    }

    /// The stored form (see [`Stored`]).
    pub fn to_stored(&self) -> String {
        // Sized for a usual digest, so that the text is not copied as it grows.
        let mut out = Vec::with_capacity(128);
        serde_json::to_writer(&mut out, &StoredRows(&self.0)).expect("digests serialise");
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// Reads the stored form back for the parcel (`carrier`, `tracking_number`).
    pub fn from_stored(s: &str, carrier: &str, tracking_number: &str) -> Result<Self, String> {
        let mut d = serde_json::Deserializer::from_str(s);
        let events = de::DeserializeSeed::deserialize(
            StoredEvents {
                carrier,
                tracking_number,
            },
            &mut d,
        )
        .and_then(|events| d.end().map(|()| events))
        .map_err(|e| e.to_string())?;
        Ok(Self(events))
    }
}

/// Reads a stored digest's events straight into the parcel's events.
struct StoredEvents<'a> {
    carrier: &'a str,
    tracking_number: &'a str,
}

impl<'de> de::DeserializeSeed<'de> for StoredEvents<'_> {
    type Value = Vec<TrackingEvent>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for StoredEvents<'_> {
    type Value = Vec<TrackingEvent>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of stored events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // A digest holds at most four events.
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(4).min(4));
        while let Some(Stored { at, status, place }) = seq.next_element()? {
            events.push(TrackingEvent {
                carrier: self.carrier.to_string(),
                tracking_number: self.tracking_number.to_string(),
                status,
                occurred_at: Timestamp::from_microsecond(at).map_err(de::Error::custom)?,
                description: None,
                location: place,
            });
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::BusinessCalendar;
    use crate::problems::{Parcel, Route, Thresholds, evaluate};
    use crate::tracking::{ScanLocation, current, parcel_status};
    use jiff::Timestamp;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    /// Places a journey from Orlando FL to Edison NJ can be scanned at: on the way, far off it,
    /// unknown to the gazetteer, and abroad.
    const PLACES: [(&str, &str, Option<&str>); 6] = [
        ("Orlando", "FL", None),
        ("Kenly", "NC", None),
        ("Edison", "NJ", None),
        ("Anchorage", "AK", None),
        ("Nowhere Special", "ZZ", None),
        ("Toronto", "ON", Some("CA")),
    ];

    fn event() -> impl Strategy<Value = TrackingEvent> {
        (
            prop::sample::select(TrackingStatus::ALL.to_vec()),
            0i64..120,
            prop::option::of(0usize..PLACES.len()),
            prop::option::of(prop::sample::select(vec!["Arrived", "Departed"])),
            any::<bool>(),
        )
            .prop_map(|(status, h, place, words, shout)| TrackingEvent {
                carrier: "fedex".into(),
                tracking_number: "7712".into(),
                status,
                occurred_at: Timestamp::from_second(1_764_600_000 + h * 3600).unwrap(),
                description: words.map(str::to_string),
                location: place.map(|i| {
                    let (city, region, country) = PLACES[i];
                    ScanLocation {
                        // The same place written two ways is one scan to herald.
                        city: Some(if shout {
                            city.to_uppercase()
                        } else {
                            city.into()
                        }),
                        region: Some(region.into()),
                        postal_code: None,
                        country: country.map(str::to_string),
                    }
                }),
            })
    }

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").unwrap()
    }

    fn verdict(
        events: &[TrackingEvent],
        at_hours: i64,
        standard: Option<u32>,
    ) -> crate::problems::Verdict {
        let orlando = geo::city("Orlando", "FL").unwrap();
        let edison = geo::city("Edison", "NJ").unwrap();
        let p = Parcel {
            label_created_at: Some(Timestamp::from_second(1_764_590_000).unwrap()),
            shipped_at: None,
            estimated_delivery: None,
            standard_business_days: standard,
            events,
            route: Some(Route::new(orlando, edison, 300.0, 0.25)),
        };
        evaluate(
            &p,
            Thresholds::default(),
            &BusinessCalendar::default(),
            &ny(),
            Timestamp::from_second(1_764_600_000 + at_hours * 3600).unwrap(),
        )
    }

    #[test]
    fn keeps_only_the_events_the_rules_read() {
        let mut evs: Vec<TrackingEvent> = (0..8)
            .map(|h| TrackingEvent {
                carrier: "usps".into(),
                tracking_number: "9400".into(),
                status: if h == 0 {
                    TrackingStatus::Accepted
                } else {
                    TrackingStatus::InTransit
                },
                occurred_at: Timestamp::from_second(1_764_600_000 + h * 3600).unwrap(),
                description: None,
                location: Some(ScanLocation {
                    city: Some(["Flagstaff", "Phoenix"][h as usize % 2].into()),
                    region: Some("AZ".into()),
                    ..Default::default()
                }),
            })
            .collect();
        // A last "no news" without a place: not a scan, not on the map.
        evs.push(TrackingEvent {
            status: TrackingStatus::Unknown,
            occurred_at: Timestamp::from_second(1_764_700_000).unwrap(),
            location: None,
            ..evs[0].clone()
        });
        let d = Digest::of(&evs);
        // The acceptance and the last scan (which is also the last placed one).
        assert_eq!(d.events(), &[evs[0].clone(), evs[7].clone()]);
        assert_eq!(current(d.events()), current(&evs));
    }

    #[test]
    fn stored_without_wording_and_read_back_in_either_form() {
        let e = |status, h: i64, place: Option<ScanLocation>| TrackingEvent {
            carrier: "usps".into(),
            tracking_number: "9400".into(),
            status,
            occurred_at: Timestamp::from_second(1_764_600_000 + h * 3600).unwrap(),
            description: Some("Arrived at USPS Regional Facility".into()),
            location: place,
        };
        let phoenix = ScanLocation {
            city: Some("Phoenix".into()),
            region: Some("AZ".into()),
            ..Default::default()
        };
        let d = Digest::of(&[
            e(TrackingStatus::Accepted, 0, None),
            e(TrackingStatus::InTransit, 5, Some(phoenix.clone())),
        ]);
        let stored = d.to_stored();
        assert_eq!(
            stored,
            r#"[[1764600000000000,"accepted"],[1764618000000000,"in_transit",["Phoenix","AZ"]]]"#
        );
        assert_eq!(Digest::from_stored(&stored, "usps", "9400").unwrap(), d);
        assert!(d.events().iter().all(|e| e.description.is_none()));
        // As digests were stored before: with the wording and every place field.
        let before = r#"[[1764600000000000,"accepted","Accepted at USPS Origin Facility",null],[1764618000000000,"in_transit","Arrived",["Phoenix","AZ",null,null]]]"#;
        assert_eq!(Digest::from_stored(before, "usps", "9400").unwrap(), d);
        for bad in [
            r#"[[1764600000000000]]"#,
            r#"[[1764600000000000,"accepted",null,null,null]]"#,
            r#"[[1764600000000000,"lost"]]"#,
            r#"[[1764600000000000,"accepted",7]]"#,
            r#"[[1764600000000000,"accepted","Arrived","Phoenix"]]"#,
        ] {
            assert!(Digest::from_stored(bad, "usps", "9400").is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn the_rules_judge_the_digest_as_they_judge_every_event(
            events in prop::collection::vec(event(), 0..12),
            chunk in 1usize..4,
            seed in any::<u64>(),
            at in 0i64..300,
            standard in prop::option::of(1u32..6),
        ) {
            let whole = Digest::of(&events);
            // Built as events trickle in, in another order, with a repeat.
            let mut arriving = events.clone();
            arriving.reverse();
            if !arriving.is_empty() {
                let k = (seed as usize) % arriving.len();
                arriving.push(arriving[k].clone());
                arriving.rotate_left(k);
            }
            let mut grown = Digest::default();
            for c in arriving.chunks(chunk) {
                grown.add(c);
            }
            prop_assert_eq!(&grown, &whole);
            prop_assert!(whole.events().len() <= 4);
            // Stored and read back, it is the same digest.
            let back = Digest::from_stored(&whole.to_stored(), "fedex", "7712").unwrap();
            prop_assert_eq!(&back, &whole);
            let label = Some(Timestamp::from_second(1_764_590_000).unwrap());
            prop_assert_eq!(parcel_status(whole.events(), label), parcel_status(&events, label));
            let on_all = verdict(&events, at, standard);
            let on_digest = verdict(whole.events(), at, standard);
            prop_assert_eq!(on_digest.next_check, on_all.next_check);
            prop_assert_eq!(on_digest.findings.len(), on_all.findings.len());
            for (d, a) in on_digest.findings.iter().zip(&on_all.findings) {
                prop_assert_eq!((d.kind, d.since), (a.kind, a.since));
                if d.kind != crate::problems::ProblemKind::NotAccepted {
                    // The same scans; the digest does not keep their wording.
                    let unworded = |v: &[TrackingEvent]| -> Vec<TrackingEvent> {
                        v.iter()
                            .map(|e| TrackingEvent { description: None, ..e.clone() })
                            .collect()
                    };
                    prop_assert_eq!(&d.evidence, &unworded(&a.evidence));
                }
            }
        }
    }
}
