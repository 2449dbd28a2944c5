//! The simulated store's world: Canyon Clay Co.'s orders over the day and the week (with the
//! holiday-weekend surge), its shipping windows and capacity, its parcels' journeys over real
//! US geography within each service's standard, the share of them that go wrong, and the
//! morning its label service fails. Everything is drawn from one seed, so a run is the same on
//! every machine. herald sees none of this except through its API, as the seller's systems
//! would feed it; the world keeps the truth the score is measured against.

use crate::demo::{Dice, FIRST, LAST, PRODUCTS};
use herald_core::deadline::ShipByPolicy;
use herald_core::geo;
use herald_core::order::{Address, Customer, LineItem, OrderInput};
use herald_core::tracking::{ScanLocation, ShipmentInput, TrackingEventInput, TrackingStatus};
use herald_core::watch::{ShipmentFacts, WatchPolicy};
use jiff::civil::{Date, Weekday};
use jiff::{SignedDuration, Timestamp, ToSpan};

/// The shop's own place: parcels leave from Flagstaff, Arizona.
pub const ORIGIN: (&str, &str, &str) = ("Flagstaff", "AZ", "86001");

/// What the world is made of.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The first instant orders come in.
    pub start: Timestamp,
    pub days: u32,
    pub orders_per_day: u32,
    pub seed: u64,
    /// When the label service goes down (for about two and a half hours); `None` puts it at
    /// 09:40 on the first business day after the run's midpoint.
    pub outage_at: Option<Timestamp>,
}

/// How a parcel goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Labelled, never handed to the carrier.
    NotAccepted,
    /// Stops moving for days mid-journey.
    Stalled,
    /// Sent to a facility far off its route.
    Misrouted,
    /// Keeps moving, but slower than its service's standard.
    Overdue,
    /// Undeliverable, on its way back to the shop.
    Returned,
}

impl Fault {
    /// The problem herald should find: the report names faults in herald's own words.
    pub fn kind(self) -> herald_core::problems::ProblemKind {
        use herald_core::problems::ProblemKind;
        match self {
            Self::NotAccepted => ProblemKind::NotAccepted,
            Self::Stalled => ProblemKind::Stalled,
            Self::Misrouted => ProblemKind::Misrouted,
            Self::Overdue => ProblemKind::Overdue,
            Self::Returned => ProblemKind::ReturnedToSender,
        }
    }
}

/// One order as the shop's sales channel sees it.
#[derive(Debug, Clone)]
pub struct Order {
    /// The order as placed (unshipped).
    pub input: OrderInput,
    pub placed_at: Timestamp,
    /// When the customer cancels it, if they do (before it ships).
    pub cancelled_at: Option<Timestamp>,
    /// When the seller ships it.
    pub shipped_at: Option<Timestamp>,
    pub parcel: Option<usize>,
}

/// A carrier scan and when herald hears of it (aggregators pass scans on minutes later).
#[derive(Debug, Clone)]
pub struct Scan {
    pub reported_at: Timestamp,
    pub event: TrackingEventInput,
}

/// One parcel: the shipment the seller records, its scans, and what (if anything) goes wrong.
#[derive(Debug, Clone)]
pub struct Parcel {
    pub order: usize,
    /// The shipment as posted (its `order_id` is filled in once herald knows the order).
    pub shipment: ShipmentInput,
    pub scans: Vec<Scan>,
    pub fault: Option<Fault>,
    /// For a faulty parcel: the first moment herald's rules could know (the same thresholds,
    /// calendars and standards herald is configured with).
    pub detectable_at: Option<Timestamp>,
}

/// Something that happens in the world at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happening {
    Placed(usize),
    Cancelled(usize),
    Shipped(usize),
    /// Parcel, scan.
    Scanned(usize, usize),
    LabelServiceDown,
    LabelServiceUp,
}

#[derive(Debug, Clone)]
pub struct World {
    pub spec: Spec,
    pub orders: Vec<Order>,
    pub parcels: Vec<Parcel>,
    /// When the label service is down.
    pub outage: (Timestamp, Timestamp),
    /// Everything, in time order.
    pub timeline: Vec<(Timestamp, Happening)>,
}

impl World {
    /// The moment the last thing happens.
    pub fn ends_at(&self) -> Timestamp {
        self.timeline.last().map_or(self.spec.start, |t| t.0)
    }
}

/// Share of orders per local hour (Phoenix): quiet nights, a midday and an evening peak.
const HOURLY: [f64; 24] = [
    0.6, 0.4, 0.3, 0.2, 0.2, 0.3, 0.6, 1.0, 1.3, 1.5, 1.6, 1.7, 1.7, 1.6, 1.5, 1.4, 1.4, 1.5, 1.7,
    1.9, 2.0, 1.8, 1.4, 0.9,
];

/// Where customers live (weighted roughly by metro size): city, state, ZIP, weight.
const DESTINATIONS: &[(&str, &str, &str, u32)] = &[
    ("Phoenix", "AZ", "85004", 6),
    ("Flagstaff", "AZ", "86001", 3),
    ("Tucson", "AZ", "85701", 3),
    ("Los Angeles", "CA", "90012", 8),
    ("San Diego", "CA", "92101", 4),
    ("San Francisco", "CA", "94103", 4),
    ("Sacramento", "CA", "95814", 2),
    ("Las Vegas", "NV", "89101", 3),
    ("Salt Lake City", "UT", "84101", 2),
    ("Denver", "CO", "80202", 4),
    ("Albuquerque", "NM", "87102", 2),
    ("Santa Fe", "NM", "87501", 2),
    ("Seattle", "WA", "98101", 4),
    ("Portland", "OR", "97205", 3),
    ("Boise", "ID", "83702", 1),
    ("Austin", "TX", "78701", 3),
    ("Dallas", "TX", "75201", 5),
    ("Houston", "TX", "77002", 5),
    ("San Antonio", "TX", "78205", 2),
    ("Oklahoma City", "OK", "73102", 1),
    ("Kansas City", "MO", "64106", 2),
    ("Minneapolis", "MN", "55401", 3),
    ("Chicago", "IL", "60607", 6),
    ("Detroit", "MI", "48226", 3),
    ("Columbus", "OH", "43215", 2),
    ("Nashville", "TN", "37203", 2),
    ("Atlanta", "GA", "30303", 4),
    ("Charlotte", "NC", "28202", 2),
    ("Raleigh", "NC", "27601", 2),
    ("Orlando", "FL", "32801", 3),
    ("Miami", "FL", "33130", 4),
    ("Washington", "DC", "20001", 4),
    ("Philadelphia", "PA", "19107", 4),
    ("Brooklyn", "NY", "11201", 6),
    ("Edison", "NJ", "08817", 2),
    ("Boston", "MA", "02108", 4),
    ("Burlington", "VT", "05401", 1),
    ("Anchorage", "AK", "99501", 1),
    ("Honolulu", "HI", "96813", 1),
];

/// Sorting and regional facilities parcels pass through.
const HUBS: &[(&str, &str, &str)] = &[
    ("Phoenix", "AZ", "85043"),
    ("Albuquerque", "NM", "87101"),
    ("Las Vegas", "NV", "89101"),
    ("Los Angeles", "CA", "90012"),
    ("Sacramento", "CA", "95814"),
    ("Salt Lake City", "UT", "84101"),
    ("Denver", "CO", "80239"),
    ("Amarillo", "TX", "79101"),
    ("Dallas", "TX", "75261"),
    ("Oklahoma City", "OK", "73102"),
    ("Kansas City", "MO", "64106"),
    ("Memphis", "TN", "38118"),
    ("Louisville", "KY", "40213"),
    ("Indianapolis", "IN", "46241"),
    ("Chicago", "IL", "60607"),
    ("Atlanta", "GA", "30303"),
    ("Nashville", "TN", "37203"),
    ("Columbus", "OH", "43215"),
    ("Philadelphia", "PA", "19107"),
    ("Jacksonville", "FL", "32202"),
    ("Charlotte", "NC", "28202"),
    ("Portland", "OR", "97205"),
    ("Seattle", "WA", "98101"),
    ("Boise", "ID", "83702"),
    ("Minneapolis", "MN", "55401"),
    ("Houston", "TX", "77002"),
];

/// Facilities a lost parcel turns up in, far from most routes.
const ASTRAY: &[(&str, &str, &str)] = &[
    ("Anchorage", "AK", "99501"),
    ("Honolulu", "HI", "96813"),
    ("Miami", "FL", "33130"),
    ("Bangor", "ME", "04401"),
    ("Seattle", "WA", "98101"),
];

/// The seller packs and hands parcels over twice a business day (local time).
const SHIP_WINDOWS: [i8; 2] = [10, 15];

fn zoned(policy: &ShipByPolicy, day: Date, hour: i8, minute: i8) -> Timestamp {
    day.at(hour, minute, 0, 0)
        .to_zoned(policy.time_zone.clone())
        .map(|z| z.timestamp())
        .expect("a civil time in the store's zone")
}

fn local_date(policy: &ShipByPolicy, t: Timestamp) -> Date {
    t.to_zoned(policy.time_zone.clone()).date()
}

/// How busy a day is compared to an ordinary Wednesday: the weekly rhythm, and the surge of a
/// holiday weekend (Black Friday to Cyber Monday the most).
pub fn day_factor(day: Date) -> f64 {
    let thanksgiving = Date::new(day.year(), 11, 1)
        .and_then(|d| d.nth_weekday_of_month(4, Weekday::Thursday))
        .ok();
    if let Some(tg) = thanksgiving {
        let since = (day - tg).get_days();
        match since {
            0 => return 0.7,
            1 => return 3.0,
            2 => return 2.2,
            3 => return 2.0,
            4 => return 2.8,
            _ => {}
        }
    }
    // Memorial Day and Labor Day weekends: Saturday to Monday.
    for (month, n) in [(5, -1), (9, 1)] {
        if let Ok(monday) =
            Date::new(day.year(), month, 1).and_then(|d| d.nth_weekday_of_month(n, Weekday::Monday))
        {
            let since = (day - monday).get_days();
            if (-2..=0).contains(&since) {
                return 1.6;
            }
        }
    }
    match day.weekday() {
        Weekday::Monday => 1.1,
        Weekday::Tuesday => 1.05,
        Weekday::Friday => 0.95,
        Weekday::Saturday => 0.85,
        Weekday::Sunday => 1.05,
        _ => 1.0,
    }
}

/// Builds the whole world for `spec`, with the seller's ship-by policy and the watch policy
/// herald runs with (its calendars and service standards shape the healthy journeys, and
/// say when each faulty one becomes detectable).
pub fn build(spec: &Spec, ship: &ShipByPolicy, watch: &WatchPolicy) -> World {
    let mut d = Dice::new(spec.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed);
    let outage_from = spec.outage_at.unwrap_or_else(|| {
        let mid = spec.start + SignedDuration::from_hours(i64::from(spec.days) * 12);
        let day = ship.calendar.on_or_after(local_date(ship, mid));
        zoned(ship, day, 9, 40)
    });
    let outage = (outage_from, outage_from + SignedDuration::from_mins(155));
    let mut orders = place_orders(spec, ship, &mut d);
    ship_orders(&mut orders, spec, ship, outage, &mut d);
    let mut parcels = Vec::new();
    for (i, o) in orders.iter_mut().enumerate() {
        if let Some(at) = o.shipped_at {
            o.parcel = Some(parcels.len());
            parcels.push(journey(i, o, at, watch, &mut d));
        }
    }
    let mut timeline = Vec::new();
    for (i, o) in orders.iter().enumerate() {
        timeline.push((o.placed_at, Happening::Placed(i)));
        if let Some(at) = o.cancelled_at {
            timeline.push((at, Happening::Cancelled(i)));
        }
        if let Some(at) = o.shipped_at {
            timeline.push((at, Happening::Shipped(i)));
        }
    }
    for (p, parcel) in parcels.iter().enumerate() {
        for (s, scan) in parcel.scans.iter().enumerate() {
            timeline.push((scan.reported_at, Happening::Scanned(p, s)));
        }
    }
    timeline.push((outage.0, Happening::LabelServiceDown));
    timeline.push((outage.1, Happening::LabelServiceUp));
    // Stable: same-moment happenings keep their order (an order is placed before it ships).
    timeline.sort_by_key(|t| t.0);
    World {
        spec: spec.clone(),
        orders,
        parcels,
        outage,
        timeline,
    }
}

fn place_orders(spec: &Spec, ship: &ShipByPolicy, d: &mut Dice) -> Vec<Order> {
    let total: f64 = HOURLY.iter().sum();
    let weights: u32 = DESTINATIONS.iter().map(|x| x.3).sum();
    let first_day = local_date(ship, spec.start);
    let mut orders = Vec::new();
    for day_n in 0..spec.days {
        let day = first_day + i64::from(day_n).days();
        let factor = day_factor(day);
        for (hour, w) in HOURLY.iter().enumerate() {
            let expected = f64::from(spec.orders_per_day) * factor * w / total;
            // The whole part, and one more with the chance of the fraction.
            let mut n = expected.floor() as u64;
            if (d.below(1_000_000) as f64) < expected.fract() * 1_000_000.0 {
                n += 1;
            }
            for _ in 0..n {
                let placed = zoned(ship, day, hour as i8, 0)
                    + SignedDuration::from_secs(d.below(3600) as i64);
                if placed < spec.start {
                    continue;
                }
                let mut pick = d.below(u64::from(weights)) as u32;
                let dest = DESTINATIONS
                    .iter()
                    .find(|x| {
                        if pick < x.3 {
                            true
                        } else {
                            pick -= x.3;
                            false
                        }
                    })
                    .expect("a pick below the total weight");
                orders.push(new_order(orders.len(), placed, dest, ship, d));
            }
        }
    }
    orders.sort_by_key(|o| o.placed_at);
    orders
}

fn new_order(
    n: usize,
    placed: Timestamp,
    dest: &(&str, &str, &str, u32),
    ship: &ShipByPolicy,
    d: &mut Dice,
) -> Order {
    let amazon = d.below(100) < 40;
    let (first, last) = (d.pick(FIRST), d.pick(LAST));
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
    let number = if amazon {
        format!(
            "11{}-{:07}-{:07}",
            d.below(10),
            d.below(10_000_000),
            d.below(10_000_000)
        )
    } else {
        format!("#{}", 3001 + n)
    };
    let email = if amazon {
        format!("{:016x}@marketplace.amazon.com", d.next())
    } else {
        format!(
            "{}.{}.{}@mail.herald-demo.net",
            first.to_lowercase(),
            last.to_lowercase(),
            n
        )
    };
    let channel = if amazon { "amazon" } else { "shopify" };
    // Amazon sets the latest ship date itself, from the seller's handling time.
    let latest_ship_date = amazon.then(|| {
        ship.deadline_after(placed, ship.handling_days_for(channel))
            .timestamp()
            .to_string()
    });
    let cancelled_at =
        (d.below(1000) < 15).then(|| placed + SignedDuration::from_mins(20 + d.below(200) as i64));
    Order {
        input: OrderInput {
            channel: channel.into(),
            external_id: if amazon {
                number.clone()
            } else {
                format!("{}", 5_700_000_000_000u64 + n as u64)
            },
            number: Some(number),
            customer: Customer {
                name: Some(format!("{first} {last}")),
                email: Some(email),
                phone: None,
            },
            shipping_address: Some(Address {
                name: Some(format!("{first} {last}")),
                line1: Some(format!(
                    "{} {} St",
                    100 + d.below(900),
                    d.pick(&["Aspen", "Pine", "Elm", "Cedar", "Mesa", "Oak"])
                )),
                city: Some(dest.0.into()),
                region: Some(dest.1.into()),
                postal_code: Some(dest.2.into()),
                country: Some("US".into()),
                ..Address::default()
            }),
            items,
            currency: Some("USD".into()),
            placed_at: placed.to_string(),
            paid_at: Some(placed.to_string()),
            latest_ship_date,
            ..OrderInput::default()
        },
        placed_at: placed,
        cancelled_at,
        shipped_at: None,
        parcel: None,
    }
}

/// The seller ships first come, first served in each window, up to what they can pack, never
/// while the label service is down; one order in a hundred is mislaid for a day.
fn ship_orders(
    orders: &mut [Order],
    spec: &Spec,
    ship: &ShipByPolicy,
    outage: (Timestamp, Timestamp),
    d: &mut Dice,
) {
    let capacity = (spec.orders_per_day as usize * 6 / 5).max(5);
    let mut queue: std::collections::VecDeque<usize> = Default::default();
    let mut next = 0;
    let mut day = ship.calendar.on_or_after(local_date(ship, spec.start));
    let last_day = local_date(ship, spec.start) + i64::from(spec.days + 10).days();
    let mut mislaid: Vec<(Timestamp, usize)> = Vec::new();
    while day <= last_day && (next < orders.len() || !queue.is_empty() || !mislaid.is_empty()) {
        for hour in SHIP_WINDOWS {
            let window = zoned(ship, day, hour, 0);
            while next < orders.len()
                && orders[next].placed_at + SignedDuration::from_hours(1) <= window
            {
                queue.push_back(next);
                next += 1;
            }
            mislaid.retain(|&(back, i)| {
                if back <= window {
                    queue.push_front(i);
                    false
                } else {
                    true
                }
            });
            if window >= outage.0 && window < outage.1 {
                continue;
            }
            let mut packed = 0;
            while packed < capacity {
                let Some(i) = queue.pop_front() else { break };
                // Packing and handing over takes most of the window's hour.
                let at = window + SignedDuration::from_mins(5 + d.below(40) as i64);
                if orders[i].cancelled_at.is_some_and(|c| c <= at) {
                    continue;
                }
                if d.below(100) == 0 {
                    mislaid.push((window + SignedDuration::from_hours(24), i));
                    continue;
                }
                orders[i].shipped_at = Some(at);
                packed += 1;
            }
        }
        day = ship.calendar.next_after(day);
    }
    // A cancellation that comes after the parcel left is just a late request: it shipped.
    for o in orders.iter_mut() {
        if let (Some(c), Some(s)) = (o.cancelled_at, o.shipped_at)
            && c >= s
        {
            o.cancelled_at = None;
        }
    }
}

fn place(p: (&str, &str, &str)) -> ScanLocation {
    ScanLocation {
        city: Some(p.0.into()),
        region: Some(p.1.into()),
        postal_code: Some(p.2.into()),
        country: Some("US".into()),
    }
}

fn coord(zip: &str) -> geo::Coord {
    geo::postal_code(zip).expect("the simulator's places are in the gazetteer")
}

/// A parcel's shipment and scans from the moment it ships, healthy or gone wrong.
fn journey(i: usize, o: &Order, shipped: Timestamp, watch: &WatchPolicy, d: &mut Dice) -> Parcel {
    let amazon = o.input.channel == "amazon";
    let (carrier, service) = match (amazon, d.below(100)) {
        (true, _) => ("ups", "Ground"),
        (false, r) if r < 65 => ("usps", "Priority Mail"),
        _ => ("usps", "Ground Advantage"),
    };
    let tracking_number = if carrier == "ups" {
        format!("1Z8V{:03}{:011}", d.below(1000), i)
    } else {
        format!(
            "9400111{:015}",
            200_000_000_000_000 + i as u64 * 7919 % 1_000_000_000
        )
    };
    let address = o.input.shipping_address.clone().unwrap_or_default();
    let dest_zip = address.postal_code.clone().unwrap_or_default();
    let dest = (
        address.city.as_deref().unwrap_or_default(),
        address.region.as_deref().unwrap_or_default(),
        dest_zip.as_str(),
    );
    let label_at = shipped - SignedDuration::from_mins(20);
    let shipment = ShipmentInput {
        order_id: 0,
        carrier: carrier.into(),
        tracking_number: tracking_number.clone(),
        service: Some(service.into()),
        label_created_at: Some(label_at.to_string()),
        origin_postal_code: Some(ORIGIN.2.into()),
        destination_postal_code: Some(dest_zip.clone()),
        estimated_delivery: None,
    };
    let facts = ShipmentFacts {
        carrier,
        service: Some(service),
        label_created_at: Some(label_at),
        recorded_at: Some(shipped),
        estimated_delivery: None,
        origin_postal_code: Some(ORIGIN.2),
        destination_postal_code: Some(&dest_zip),
    };
    let cal = watch.calendar_for(carrier);
    let tz = &watch.time_zone;
    let at_local = |day: Date, h: i8, m: i8| {
        day.at(h, m, 0, 0)
            .to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .expect("a civil time in the store's zone")
    };
    // The carrier collects at the end of the business day the parcel is handed over.
    let ship_day = shipped.to_zoned(tz.clone()).date();
    let pickup_day = if cal.is_business_day(ship_day) && shipped < at_local(ship_day, 17, 0) {
        ship_day
    } else {
        cal.next_after(ship_day)
    };
    let accepted = at_local(pickup_day, 17, 10) + SignedDuration::from_mins(d.below(80) as i64);
    let standard = watch
        .standard_for(carrier, service)
        .map(|s| match s {
            herald_core::watch::Standard::Days { min, max } => (*min, *max),
            herald_core::watch::Standard::ByDistance(_) => {
                let max = watch.standard_business_days(&facts).unwrap_or(5);
                (max.saturating_sub(1).max(1), max)
            }
        })
        .unwrap_or((2, 5));
    let expected = watch
        .expected_delivery(&facts, accepted)
        .expect("every simulated service has a standard");
    let roll = d.below(1000);
    let fault = match roll {
        0..15 => Some(Fault::NotAccepted),
        15..35 => Some(Fault::Stalled),
        35..45 => Some(Fault::Misrouted),
        45..60 => Some(Fault::Overdue),
        60..70 => Some(Fault::Returned),
        _ => None,
    };
    let days = standard.0 + d.below(u64::from(standard.1 - standard.0 + 1)) as u32;
    let mut delivery_day = cal.add_business_days(pickup_day, days.max(1));
    if fault == Some(Fault::Overdue) {
        delivery_day = expected.to_zoned(tz.clone()).date() + (1 + d.below(3) as i64).days();
    }
    let delivered = at_local(delivery_day, 9, 30) + SignedDuration::from_mins(d.below(420) as i64);
    let out_for_delivery =
        at_local(delivery_day, 7, 0) + SignedDuration::from_mins(d.below(90) as i64);
    // Hubs near the great-circle path, in the order the parcel meets them.
    let (from, to) = (coord(ORIGIN.2), coord(&dest_zip));
    let route = watch.route(&facts).expect("both ends are known places");
    let length = geo::distance_km(from, to);
    let mut hubs: Vec<(f64, (&str, &str, &str))> = HUBS
        .iter()
        .filter_map(|h| {
            let c = coord(h.2);
            let along = geo::distance_km(from, c);
            (geo::off_route_km(from, to, c) < route.tolerance_km * 0.4
                && along > 80.0
                && geo::distance_km(c, to) > 80.0
                && along < length)
                .then_some((along, *h))
        })
        .collect();
    hubs.sort_by(|a, b| a.0.total_cmp(&b.0));
    hubs.truncate(3);
    // Healthy scans: accepted, each hub, "in transit" whenever a day would pass without one,
    // out for delivery, delivered.
    let mut events: Vec<(Timestamp, TrackingStatus, &str, Option<ScanLocation>)> = vec![(
        accepted,
        TrackingStatus::Accepted,
        "Accepted at origin facility",
        Some(place(ORIGIN)),
    )];
    let span = out_for_delivery.duration_since(accepted);
    for (n, (_, h)) in hubs.iter().enumerate() {
        let at = accepted + span.mul_f64((n as f64 + 1.0) / (hubs.len() as f64 + 1.0));
        events.push((
            at,
            TrackingStatus::InTransit,
            "Arrived at regional facility",
            Some(place(*h)),
        ));
    }
    events.push((
        out_for_delivery,
        TrackingStatus::OutForDelivery,
        "Out for delivery",
        Some(place(dest)),
    ));
    events.push((
        delivered,
        TrackingStatus::Delivered,
        "Delivered, front door",
        Some(place(dest)),
    ));
    fill_gaps(&mut events);
    let mut detectable = None;
    match fault {
        None | Some(Fault::Overdue) => {
            if fault.is_some() {
                detectable = Some(expected + SignedDuration::from_secs(1));
            }
        }
        Some(Fault::NotAccepted) => {
            events = vec![(
                label_at + SignedDuration::from_mins(1),
                TrackingStatus::PreTransit,
                "Shipping label created, awaiting item",
                None,
            )];
            detectable = Some(watch.acceptance_deadline(&facts, label_at));
        }
        Some(Fault::Stalled) => {
            // Stops after a scan mid-journey, for four to six days, then moves on.
            let cut = 1 + d.below((events.len() as u64 - 2).max(1)) as usize;
            let gap = SignedDuration::from_hours(24 * (4 + d.below(3) as i64));
            let last = events[cut - 1].0;
            for e in &mut events[cut..] {
                e.0 += gap;
            }
            detectable = Some(
                watch
                    .stalled_from(&facts, last)
                    .min(expected + SignedDuration::from_secs(1)),
            );
        }
        Some(Fault::Misrouted) => {
            let far = ASTRAY
                .iter()
                .map(|p| (geo::off_route_km(from, to, coord(p.2)), *p))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .expect("places to go astray")
                .1;
            let cut = 1 + d.below((events.len() as u64 - 2).max(1)) as usize;
            let at = events[cut - 1].0 + SignedDuration::from_hours(10);
            let detour = SignedDuration::from_hours(48);
            for e in &mut events[cut..] {
                e.0 += detour;
            }
            events.insert(
                cut,
                (
                    at,
                    TrackingStatus::InTransit,
                    "Arrived at facility",
                    Some(place(far)),
                ),
            );
            fill_gaps(&mut events);
        }
        Some(Fault::Returned) => {
            let at = out_for_delivery;
            events.retain(|e| e.0 < at);
            events.push((
                at + SignedDuration::from_hours(3),
                TrackingStatus::ReturnedToSender,
                "Undeliverable as addressed, returning to sender",
                Some(place(dest)),
            ));
        }
    }
    let scans: Vec<Scan> = events
        .into_iter()
        .map(|(at, status, what, loc)| Scan {
            reported_at: at + SignedDuration::from_mins(3 + d.below(27) as i64),
            event: TrackingEventInput {
                carrier: carrier.into(),
                tracking_number: tracking_number.clone(),
                status: status.as_str().into(),
                occurred_at: at.to_string(),
                description: Some(what.into()),
                location: loc,
            },
        })
        .collect();
    if fault == Some(Fault::Misrouted) {
        // Detectable when herald hears of the scan far off the route.
        detectable = scans
            .iter()
            .find(|s| {
                s.event
                    .location
                    .as_ref()
                    .and_then(geo::locate)
                    .is_some_and(|c| geo::off_route_km(from, to, c) > route.tolerance_km)
            })
            .map(|s| s.reported_at);
    }
    if fault == Some(Fault::Returned) {
        detectable = scans.last().map(|s| s.reported_at);
    }
    Parcel {
        order: i,
        shipment,
        scans,
        fault,
        detectable_at: detectable,
    }
}

/// Adds "in transit" scans so no two scans are more than 20 hours apart, as carriers scan a
/// moving parcel at every facility and on every line-haul.
fn fill_gaps(
    events: &mut Vec<(
        Timestamp,
        TrackingStatus,
        &'static str,
        Option<ScanLocation>,
    )>,
) {
    let limit = SignedDuration::from_hours(20);
    let mut out = Vec::with_capacity(events.len() + 4);
    for e in events.drain(..) {
        if let Some(prev) = out.last().map(|p: &(Timestamp, _, _, _)| p.0) {
            let mut at = prev;
            while e.0.duration_since(at) > limit {
                at += SignedDuration::from_hours(16);
                if e.0.duration_since(at) < SignedDuration::from_hours(2) {
                    break;
                }
                out.push((
                    at,
                    TrackingStatus::InTransit,
                    "In transit to next facility",
                    None,
                ));
            }
        }
        out.push(e);
    }
    *events = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::tracking::TrackingEvent;

    fn policies() -> (ShipByPolicy, WatchPolicy) {
        let tz = jiff::tz::TimeZone::get("America/Phoenix").unwrap();
        let mut ship = ShipByPolicy {
            time_zone: tz.clone(),
            ..ShipByPolicy::default()
        };
        ship.handling_days.insert("amazon".into(), 2);
        let watch = WatchPolicy {
            time_zone: tz,
            ..WatchPolicy::default()
        };
        (ship, watch)
    }

    fn spec(seed: u64) -> Spec {
        Spec {
            start: "2026-11-16T07:00:00Z".parse().unwrap(),
            days: 21,
            orders_per_day: 120,
            seed,
            outage_at: None,
        }
    }

    /// The scans herald has heard of by `at`.
    fn known(p: &Parcel, at: Timestamp) -> Vec<TrackingEvent> {
        p.scans
            .iter()
            .filter(|s| s.reported_at <= at)
            .map(|s| s.event.clone().validate().unwrap())
            .collect()
    }

    fn facts(p: &Parcel, shipped: Timestamp) -> ShipmentFacts<'_> {
        let s = &p.shipment;
        ShipmentFacts {
            carrier: &s.carrier,
            service: s.service.as_deref(),
            label_created_at: s.label_created_at.as_ref().map(|t| t.parse().unwrap()),
            recorded_at: Some(shipped),
            estimated_delivery: None,
            origin_postal_code: s.origin_postal_code.as_deref(),
            destination_postal_code: s.destination_postal_code.as_deref(),
        }
    }

    #[test]
    fn one_seed_one_world() {
        let (ship, watch) = policies();
        let (a, b) = (
            build(&spec(7), &ship, &watch),
            build(&spec(7), &ship, &watch),
        );
        assert_eq!(a.timeline, b.timeline);
        assert_eq!(
            format!("{:?}", a.parcels[10].scans),
            format!("{:?}", b.parcels[10].scans)
        );
        assert_ne!(build(&spec(8), &ship, &watch).timeline, a.timeline);
    }

    #[test]
    fn black_friday_is_the_busiest_day_and_nights_are_quiet() {
        let (ship, watch) = policies();
        let w = build(&spec(7), &ship, &watch);
        let on = |d: &str| {
            let day: Date = d.parse().unwrap();
            w.orders
                .iter()
                .filter(|o| local_date(&ship, o.placed_at) == day)
                .count()
        };
        // Wednesday the 18th is an ordinary day; Friday the 27th is Black Friday.
        assert!(
            on("2026-11-27") > 2 * on("2026-11-18"),
            "{} vs {}",
            on("2026-11-27"),
            on("2026-11-18")
        );
        assert!(on("2026-11-30") > 2 * on("2026-11-18"), "Cyber Monday");
        let at_hour = |h: i8| {
            w.orders
                .iter()
                .filter(|o| o.placed_at.to_zoned(ship.time_zone.clone()).hour() == h)
                .count()
        };
        assert!(at_hour(20) > 5 * at_hour(3));
        assert!(w.orders.iter().any(|o| o.input.channel == "amazon"));
        assert!(w.orders.iter().any(|o| o.input.channel == "shopify"));
    }

    #[test]
    fn the_seller_ships_in_windows_on_business_days_never_while_labels_are_down() {
        let (ship, watch) = policies();
        let w = build(&spec(7), &ship, &watch);
        for o in &w.orders {
            let Some(at) = o.shipped_at else { continue };
            let local = at.to_zoned(ship.time_zone.clone());
            assert!(ship.calendar.is_business_day(local.date()), "{local}");
            assert!(SHIP_WINDOWS.contains(&local.hour()), "{local}");
            assert!(at >= o.placed_at + SignedDuration::from_hours(1));
            assert!(
                !(at >= w.outage.0 && at < w.outage.1),
                "shipped during the outage"
            );
            assert!(o.cancelled_at.is_none_or(|c| c > at) || o.cancelled_at.is_none());
        }
        assert!(
            w.orders
                .iter()
                .any(|o| o.cancelled_at.is_some() && o.shipped_at.is_none())
        );
        // Nothing went out on Thanksgiving.
        let thanksgiving: Date = "2026-11-26".parse().unwrap();
        assert!(!w.orders.iter().any(|o| {
            o.shipped_at
                .is_some_and(|t| local_date(&ship, t) == thanksgiving)
        }));
    }

    /// The world's truth agrees with herald's rules: a healthy parcel never looks wrong at
    /// any moment herald hears of it, and a faulty one looks wrong exactly from the moment
    /// the world says it became detectable.
    #[test]
    fn healthy_parcels_never_trip_a_rule_and_faults_trip_one_when_detectable() {
        let (ship, watch) = policies();
        let w = build(&spec(7), &ship, &watch);
        let mut faults = std::collections::BTreeMap::new();
        for p in &w.parcels {
            let shipped = w.orders[p.order].shipped_at.unwrap();
            let f = facts(p, shipped);
            match (p.fault, p.detectable_at) {
                (None, _) => {
                    let mut moments: Vec<Timestamp> =
                        p.scans.iter().map(|s| s.reported_at).collect();
                    moments.push(shipped);
                    for at in moments {
                        let v = watch.verdict(&f, &known(p, at), at);
                        assert!(
                            v.findings.is_empty(),
                            "{} at {at}: {:?}",
                            p.shipment.tracking_number,
                            v.findings
                        );
                    }
                    let last = p.scans.last().unwrap();
                    assert_eq!(last.event.status, "delivered");
                }
                (Some(fault), Some(at)) => {
                    *faults.entry(fault).or_insert(0) += 1;
                    let before = at - SignedDuration::from_secs(1);
                    assert!(
                        watch
                            .verdict(&f, &known(p, before), before)
                            .findings
                            .is_empty(),
                        "{fault:?} {} looked wrong before {at}",
                        p.shipment.tracking_number
                    );
                    assert!(
                        !watch.verdict(&f, &known(p, at), at).findings.is_empty(),
                        "{fault:?} {} not detectable at {at}",
                        p.shipment.tracking_number
                    );
                }
                (Some(fault), None) => panic!("{fault:?} without a detectable moment"),
            }
        }
        assert_eq!(faults.len(), 5, "{faults:?}");
        let share = faults.values().sum::<i32>() as f64 / w.parcels.len() as f64;
        assert!((0.04..0.10).contains(&share), "{share}");
    }
}
