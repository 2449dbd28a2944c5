//! The buyer tracking page (`/t/{token}`): what a customer sees about their order without
//! logging in. It names the order and its items, tells the journey in plain words with city and
//! state only, gives the expected delivery and an honest note when something is wrong. It never
//! shows a name, an address, an e-mail or a phone number, needs no JavaScript, and is plain
//! semantic HTML that reads well on a phone, in light and dark.

use crate::tracking::{ScanLocation, TrackingStatus};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::Serialize;

/// One step of the journey.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// RFC 3339, for `<time datetime>`.
    pub at: String,
    /// "Mon, Nov 23, 3:05 PM" in the store's time zone.
    pub when: String,
    pub what: String,
    /// "Phoenix, AZ": city and state only.
    pub place: Option<String>,
}

/// A parcel as the page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParcelView {
    pub carrier: String,
    pub tracking_number: String,
    pub status: String,
    pub expected: Option<String>,
    pub note: Option<String>,
}

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingPage {
    pub store_name: String,
    pub order_number: String,
    pub items: Vec<super::templates::ItemFacts>,
    /// "Delivered", "On its way", "Preparing your order", "Cancelled".
    pub headline: String,
    pub parcels: Vec<ParcelView>,
    /// Newest first.
    pub steps: Vec<Step>,
    /// For an order not shipped yet: the day it ships by.
    pub ships_by: Option<String>,
    /// "Updated Mon, Nov 23, 3:05 PM".
    pub updated: String,
}

/// What a customer reads for a scan.
pub fn status_words(s: TrackingStatus) -> &'static str {
    match s {
        TrackingStatus::Unknown => "Tracking update",
        TrackingStatus::PreTransit => "Shipping label created",
        TrackingStatus::Accepted => "Picked up by the carrier",
        TrackingStatus::InTransit => "On its way",
        TrackingStatus::OutForDelivery => "Out for delivery",
        TrackingStatus::AvailableForPickup => "Ready for pickup",
        TrackingStatus::DeliveryFailed => "Delivery attempted",
        TrackingStatus::Exception => "The carrier reported a problem",
        TrackingStatus::ReturnedToSender => "Returning to the sender",
        TrackingStatus::Cancelled => "Shipment cancelled",
        TrackingStatus::Delivered => "Delivered",
    }
}

/// "Phoenix, AZ", "Phoenix", "AZ" or nothing: never a street or a postal code.
pub fn place(loc: Option<&ScanLocation>) -> Option<String> {
    let loc = loc?;
    let city = loc.city.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let region = loc
        .region
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    match (city, region) {
        (Some(c), Some(r)) => Some(format!("{}, {}", title(c), r.to_uppercase())),
        (Some(c), None) => Some(title(c)),
        (None, Some(r)) => Some(r.to_uppercase()),
        (None, None) => None,
    }
}

/// "PHOENIX" and "phoenix" read as "Phoenix".
fn title(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The honest note for a parcel, if its state calls for one.
pub fn parcel_note(
    status: TrackingStatus,
    last_scan: Option<Timestamp>,
    expected: Option<Timestamp>,
    now: Timestamp,
) -> Option<String> {
    match status {
        TrackingStatus::Delivered | TrackingStatus::Cancelled => return None,
        TrackingStatus::Exception => {
            return Some("The carrier reported a problem with this parcel. We are finding out what it needs and will write to you.".into());
        }
        TrackingStatus::DeliveryFailed => {
            return Some("The carrier could not deliver this parcel. If your address needs a correction, reply to any of our e-mails.".into());
        }
        TrackingStatus::ReturnedToSender => {
            return Some("This parcel is on its way back to us. We will contact you to send it again or refund you.".into());
        }
        TrackingStatus::AvailableForPickup => {
            return Some("This parcel is waiting for you at a pickup point; it goes back if nobody collects it.".into());
        }
        _ => {}
    }
    if let Some(e) = expected
        && now > e
    {
        return Some(
            "This parcel is later than expected. We are following it with the carrier.".into(),
        );
    }
    if let Some(last) = last_scan
        && now.duration_since(last) > SignedDuration::from_hours(72)
    {
        let days = now.duration_since(last).as_hours() / 24;
        return Some(format!(
            "There has been no new scan of this parcel for {days} days. We are looking into it with the carrier."
        ));
    }
    None
}

/// "Mon, Nov 23, 3:05 PM".
pub fn when(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%a, %b %-d, %-I:%M %p")
        .to_string()
}

/// "Thursday, November 26".
pub fn day(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%A, %B %-d").to_string()
}

const PAGE: &str = include_str!("defaults/tracking_page.html");
const NOT_FOUND: &str = include_str!("defaults/tracking_not_found.html");

/// The page as HTML.
pub fn render(page: &TrackingPage) -> String {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_template("tracking_page.html", PAGE)
        .expect("the tracking page template compiles");
    env.get_template("tracking_page.html")
        .and_then(|t| t.render(page))
        .expect("the tracking page renders from its typed facts")
}

/// The page for a link that leads nowhere (no order has that token).
pub fn not_found() -> &'static str {
    NOT_FOUND
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> TrackingPage {
        TrackingPage {
            store_name: "Sandstone Pottery".into(),
            order_number: "#1042".into(),
            items: vec![super::super::templates::ItemFacts {
                name: "Sandstone <mug>".into(),
                quantity: 2,
            }],
            headline: "On its way".into(),
            parcels: vec![ParcelView {
                carrier: "USPS".into(),
                tracking_number: "9400111899223856928499".into(),
                status: "On its way".into(),
                expected: Some("Thursday, November 26".into()),
                note: Some("This parcel is later than expected.".into()),
            }],
            steps: vec![Step {
                at: "2026-11-23T15:05:00Z".into(),
                when: "Mon, Nov 23, 8:05 AM".into(),
                what: "On its way".into(),
                place: Some("Phoenix, AZ".into()),
            }],
            ships_by: None,
            updated: "Mon, Nov 23, 8:10 AM".into(),
        }
    }

    #[test]
    fn the_page_is_plain_accessible_html_without_scripts() {
        let html = render(&page());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<main"));
        assert!(html.contains("<h1"));
        assert!(html.contains("<time datetime=\"2026-11-23T15:05:00Z\">"));
        assert!(html.contains("Phoenix, AZ"));
        assert!(html.contains("Thursday, November 26"));
        assert!(html.contains("later than expected"));
        assert!(html.contains("prefers-color-scheme: dark"));
        assert!(!html.to_ascii_lowercase().contains("<script"));
        assert!(html.contains("Sandstone &lt;mug&gt;"), "escaped");
        assert!(html.contains("noindex"));
    }

    #[test]
    fn places_are_city_and_state_only() {
        let loc = ScanLocation {
            city: Some("KENLY".into()),
            region: Some("nc".into()),
            postal_code: Some("27542".into()),
            country: Some("US".into()),
        };
        assert_eq!(place(Some(&loc)).as_deref(), Some("Kenly, NC"));
        assert_eq!(place(None), None);
        let loc = ScanLocation {
            city: Some("salt lake city".into()),
            ..Default::default()
        };
        assert_eq!(place(Some(&loc)).as_deref(), Some("Salt Lake City"));
    }

    #[test]
    fn notes_are_honest_about_late_quiet_and_returned_parcels() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let h = |n: i64| now - SignedDuration::from_hours(n);
        assert_eq!(
            parcel_note(TrackingStatus::InTransit, Some(h(5)), None, now),
            None
        );
        assert!(
            parcel_note(TrackingStatus::InTransit, Some(h(100)), None, now)
                .unwrap()
                .contains("no new scan of this parcel for 4 days")
        );
        assert!(
            parcel_note(TrackingStatus::InTransit, Some(h(5)), Some(h(1)), now)
                .unwrap()
                .contains("later than expected")
        );
        assert!(
            parcel_note(TrackingStatus::ReturnedToSender, Some(h(1)), None, now)
                .unwrap()
                .contains("back to us")
        );
        assert_eq!(
            parcel_note(TrackingStatus::Delivered, Some(h(200)), Some(h(100)), now),
            None
        );
    }
}
