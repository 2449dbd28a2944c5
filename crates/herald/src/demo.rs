//! The demo store: Canyon Clay Co., a small pottery shop in Flagstaff, Arizona, selling on its
//! own Shopify store and on Amazon. Seeds a few hundred orders around the current moment (on
//! track, at risk, late, shipped on time and late, cancelled) through the same ingest path as
//! the API, so everything the demo shows is what herald computes.

use herald_core::order::{Address, Customer, LineItem, NewOrder, OrderInput};
use jiff::{SignedDuration, Timestamp};

/// A small deterministic generator (xorshift64*): the demo is the same on every machine.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

pub(crate) const FIRST: &[&str] = &[
    "Ava", "Noah", "Mia", "Liam", "Sofia", "Mateo", "Isla", "Ezra", "Nora", "Kai", "Lucia", "Owen",
    "Maya", "Eli", "Rosa", "Jonah",
];
pub(crate) const LAST: &[&str] = &[
    "Begay", "Garcia", "Nguyen", "Smith", "Yazzie", "Patel", "Kim", "Lopez", "Walker", "Chee",
    "Johnson", "Rivera",
];
const PLACES: &[(&str, &str, &str)] = &[
    ("Flagstaff", "AZ", "86001"),
    ("Phoenix", "AZ", "85004"),
    ("Denver", "CO", "80202"),
    ("Austin", "TX", "78701"),
    ("Portland", "OR", "97205"),
    ("Brooklyn", "NY", "11201"),
    ("Chicago", "IL", "60607"),
    ("Santa Fe", "NM", "87501"),
    ("Seattle", "WA", "98101"),
    ("Edison", "NJ", "08817"),
    ("Orlando", "FL", "32801"),
    ("Anchorage", "AK", "99501"),
];
pub(crate) const PRODUCTS: &[(&str, &str, &str)] = &[
    ("MUG-SAND", "Sandstone mug", "28.00"),
    ("MUG-JUNI", "Juniper mug", "28.00"),
    ("BWL-MESA", "Mesa serving bowl", "64.00"),
    ("PLT-DUSK", "Dusk dinner plate", "34.00"),
    ("VSE-PEAK", "San Francisco Peaks vase", "89.00"),
    ("CUP-ESP", "Espresso cup pair", "36.00"),
];

/// `n` demo orders placed over the ten days before `now`, with shipping outcomes spread so that
/// every ship-by state is present.
pub fn orders(n: usize, now: Timestamp, seed: u64) -> Vec<NewOrder> {
    let mut d = Dice::new(seed);
    (0..n)
        .map(|i| {
            // The last dozen are Amazon orders whose latest ship date (set by Amazon) is only a
            // couple of hours away: the at-risk list is never empty in the demo.
            let urgent = i + 12 >= n;
            let amazon = urgent || d.below(5) < 2;
            let placed = now - SignedDuration::from_mins(d.below(10 * 24 * 60) as i64);
            let (first, last) = (d.pick(FIRST), d.pick(LAST));
            let (city, state, zip) = *d.pick(PLACES);
            let mut items = Vec::new();
            for _ in 0..1 + d.below(3) {
                let (sku, name, price) = *d.pick(PRODUCTS);
                items.push(LineItem {
                    sku: Some(sku.into()),
                    name: name.into(),
                    quantity: 1 + d.below(2) as u32,
                    quantity_shipped: 0,
                    price: Some(price.into()),
                });
            }
            let age_h = now.duration_since(placed).as_hours();
            let roll = d.below(100);
            // Older orders have mostly shipped; a few never did (late) or shipped late.
            let shipped_after_h = match (age_h, roll) {
                (h, r) if h > 72 && r < 80 => Some(6 + d.below(40) as i64),
                (h, r) if h > 72 && r < 88 => Some(80 + d.below(40) as i64),
                (h, r) if h > 12 && r < 45 => Some(4 + d.below(8) as i64),
                _ => None,
            };
            let cancelled = roll >= 97;
            let at = |h: i64| (placed + SignedDuration::from_hours(h)).to_string();
            let shipped_after_h = if urgent { None } else { shipped_after_h };
            let shipped = shipped_after_h
                .map(|h| placed + SignedDuration::from_hours(h))
                .filter(|t| *t < now);
            let number = if amazon {
                format!(
                    "11{}-{:07}-{:07}",
                    d.below(10),
                    d.below(10_000_000),
                    d.below(10_000_000)
                )
            } else {
                format!("#{}", 1001 + i)
            };
            for it in &mut items {
                if shipped.is_some() {
                    it.quantity_shipped = it.quantity;
                }
            }
            OrderInput {
                channel: if amazon { "amazon" } else { "shopify" }.into(),
                external_id: if amazon {
                    number.clone()
                } else {
                    format!("{}", 5_600_000_000_000u64 + i as u64)
                },
                number: Some(number),
                customer: Customer {
                    name: Some(format!("{first} {last}")),
                    email: Some(if amazon {
                        format!("{:x}@marketplace.amazon.com", d.next() & 0xffff_ffff)
                    } else {
                        format!(
                            "{}.{}@mail.herald-demo.net",
                            first.to_lowercase(),
                            last.to_lowercase()
                        )
                    }),
                    phone: None,
                },
                shipping_address: Some(Address {
                    name: Some(format!("{first} {last}")),
                    line1: Some(format!(
                        "{} {} St",
                        100 + d.below(900),
                        d.pick(&["Aspen", "Pine", "Elm", "Cedar", "Mesa"])
                    )),
                    city: Some(city.into()),
                    region: Some(state.into()),
                    postal_code: Some(zip.into()),
                    country: Some("US".into()),
                    ..Address::default()
                }),
                items,
                currency: Some("USD".into()),
                placed_at: placed.to_string(),
                paid_at: Some(at(0)),
                shipped_at: shipped.map(|t| t.to_string()),
                cancelled_at: (cancelled && !urgent && shipped.is_none())
                    .then(|| at(2))
                    .filter(|_| age_h > 2),
                latest_ship_date: urgent.then(|| {
                    (now + SignedDuration::from_mins(60 + d.below(120) as i64)).to_string()
                }),
                ..OrderInput::default()
            }
            .validate()
            .expect("demo orders are valid")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::deadline::{ShipByPolicy, ShipByState};
    use std::collections::HashSet;

    #[test]
    fn the_demo_shows_every_ship_by_state() {
        let now: Timestamp = "2025-12-10T18:00:00Z".parse().unwrap();
        let policy = ShipByPolicy {
            time_zone: jiff::tz::TimeZone::get("America/Phoenix").unwrap(),
            ..ShipByPolicy::default()
        };
        let os = orders(300, now, 7);
        assert_eq!(os, orders(300, now, 7), "deterministic");
        let states: HashSet<_> = os
            .iter()
            .filter_map(|o| {
                let sb = policy.ship_by(o.channel.as_str(), o.placed_at, o.latest_ship_date);
                ShipByState::at(
                    now,
                    sb,
                    o.shipped_at,
                    !o.awaiting_shipment() && o.shipped_at.is_none(),
                )
            })
            .collect();
        assert_eq!(states.len(), 5, "{states:?}");
        assert!(os.iter().any(|o| o.channel.as_str() == "amazon"));
        assert!(os.iter().any(|o| o.cancelled_at.is_some()));
    }
}

/// A parcel for every shipped demo order: USPS for the Shopify store, UPS for Amazon, with the
/// scans that would have happened by `now` (accepted, in transit through a hub, out for
/// delivery, delivered). `ids` are the stored orders' ids, in the same order as `orders`.
pub fn parcels(
    orders: &[NewOrder],
    ids: &[i64],
    now: Timestamp,
) -> Vec<(
    herald_core::tracking::NewShipment,
    Vec<herald_core::tracking::TrackingEvent>,
)> {
    use herald_core::tracking::{NewShipment, ScanLocation, TrackingEvent, TrackingStatus};
    const HUBS: &[(&str, &str, &str)] = &[
        ("Phoenix", "AZ", "85043"),
        ("Albuquerque", "NM", "87101"),
        ("Denver", "CO", "80239"),
        ("Memphis", "TN", "38118"),
    ];
    let mut d = Dice::new(11);
    orders
        .iter()
        .zip(ids)
        .filter_map(|(o, id)| {
            let shipped = o.shipped_at?;
            let amazon = o.channel.as_str() == "amazon";
            let carrier = if amazon { "ups" } else { "usps" };
            let tracking_number = if amazon {
                format!("1Z{:06X}{:010}", id, d.below(10_000_000_000))
            } else {
                format!("9400{:018}", 1_000_000_000_000 + *id as u64 * 7919)
            };
            let dest = o.shipping_address.clone().unwrap_or_default();
            let hub = *d.pick(HUBS);
            let origin = ("Flagstaff", "AZ", "86001");
            // Most parcels arrive; a few go wrong the ways the watchdog looks for.
            let steps: Vec<(TrackingStatus, i64, (&str, &str, &str))> = match d.below(100) {
                // Labelled but never handed over.
                0..4 => vec![],
                // Stuck at the hub.
                4..9 => vec![
                    (TrackingStatus::Accepted, 2, origin),
                    (TrackingStatus::InTransit, 18, hub),
                ],
                // Sent the wrong way.
                9..12 => vec![
                    (TrackingStatus::Accepted, 2, origin),
                    (TrackingStatus::InTransit, 18, hub),
                    (TrackingStatus::InTransit, 40, ("Anchorage", "AK", "99501")),
                ],
                // Undeliverable, on its way back.
                12..15 => vec![
                    (TrackingStatus::Accepted, 2, origin),
                    (TrackingStatus::InTransit, 18, hub),
                    (TrackingStatus::ReturnedToSender, 60, hub),
                ],
                _ => vec![
                    (TrackingStatus::Accepted, 2, origin),
                    (TrackingStatus::InTransit, 18, hub),
                    (TrackingStatus::InTransit, 40, hub),
                    (TrackingStatus::OutForDelivery, 62, ("", "", "")),
                    (TrackingStatus::Delivered, 67, ("", "", "")),
                ],
            };
            let events = steps
                .iter()
                .enumerate()
                .filter_map(|(i, (status, hours, place))| {
                    let at = shipped + SignedDuration::from_hours(*hours);
                    (at < now).then(|| TrackingEvent {
                        carrier: carrier.into(),
                        tracking_number: tracking_number.clone(),
                        status: *status,
                        occurred_at: at,
                        description: Some(
                            match (status, i) {
                                (TrackingStatus::Accepted, _) => "Accepted at origin facility",
                                (TrackingStatus::InTransit, 1) => "Arrived at hub",
                                (TrackingStatus::InTransit, _) => "Departed hub",
                                (TrackingStatus::OutForDelivery, _) => "Out for delivery",
                                (TrackingStatus::ReturnedToSender, _) => {
                                    "Undeliverable as addressed, returning to sender"
                                }
                                _ => "Delivered, front door",
                            }
                            .into(),
                        ),
                        location: Some(if place.0.is_empty() {
                            ScanLocation {
                                city: dest.city.clone(),
                                region: dest.region.clone(),
                                postal_code: dest.postal_code.clone(),
                                country: Some("US".into()),
                            }
                        } else {
                            ScanLocation {
                                city: Some(place.0.into()),
                                region: Some(place.1.into()),
                                postal_code: Some(place.2.into()),
                                country: Some("US".into()),
                            }
                        }),
                    })
                })
                .collect();
            Some((
                NewShipment {
                    order_id: *id,
                    carrier: carrier.into(),
                    tracking_number,
                    service: Some(
                        if amazon {
                            "UPS Ground"
                        } else {
                            "Priority Mail"
                        }
                        .into(),
                    ),
                    label_created_at: Some(shipped - SignedDuration::from_hours(1)),
                    origin_postal_code: Some("86001".into()),
                    destination_postal_code: dest.postal_code.clone(),
                    estimated_delivery: None,
                },
                events,
            ))
        })
        .collect()
}

#[cfg(test)]
mod parcel_tests {
    use super::*;

    #[test]
    fn every_shipped_order_gets_a_parcel_with_only_past_scans() {
        let now: Timestamp = "2025-12-10T18:00:00Z".parse().unwrap();
        let os = orders(300, now, 7);
        let ids: Vec<i64> = (1..=os.len() as i64).collect();
        let ps = parcels(&os, &ids, now);
        assert_eq!(
            ps.len(),
            os.iter().filter(|o| o.shipped_at.is_some()).count()
        );
        assert!(
            ps.iter()
                .all(|(_, evs)| evs.iter().all(|e| e.occurred_at < now))
        );
        assert!(ps.iter().any(|(_, evs)| {
            evs.iter()
                .any(|e| e.status == herald_core::tracking::TrackingStatus::Delivered)
        }));
        assert!(
            ps.iter().any(|(s, _)| s.carrier == "ups")
                && ps.iter().any(|(s, _)| s.carrier == "usps")
        );
        // A few go wrong: never scanned, sent to Alaska, returned.
        assert!(ps.iter().any(|(_, evs)| evs.is_empty()));
        assert!(ps.iter().any(|(_, evs)| evs.iter().any(|e| {
            e.location.as_ref().and_then(|l| l.city.as_deref()) == Some("Anchorage")
        })));
        assert!(ps.iter().any(|(_, evs)| {
            evs.iter()
                .any(|e| e.status == herald_core::tracking::TrackingStatus::ReturnedToSender)
        }));
    }
}
