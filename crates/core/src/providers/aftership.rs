//! AfterShip: `tracking_update` webhooks whose `msg` is a Tracking with its `checkpoints`.
//! Signed with `aftership-hmac-sha256: <base64>`, the HMAC-SHA256 of the raw body under the
//! webhook secret.
//!
//! Checkpoint times come with the scan's UTC offset; one without an offset is read as UTC.

use super::{Payload, SignatureError, estimate, event, hmac_sha256, json, same, text};
use crate::tracking::{ScanLocation, TrackingStatus};
use base64::Engine as _;
use serde::Deserialize;

pub fn verify(secret: &str, header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let given = base64::engine::general_purpose::STANDARD
        .decode(header)
        .map_err(|_| SignatureError::Malformed)?;
    if same(&hmac_sha256(secret.as_bytes(), &[body]), &given) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The signature header AfterShip would send for `body` (for tests and the simulator).
pub fn sign(secret: &str, body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret.as_bytes(), &[body]))
}

#[derive(Deserialize)]
struct Webhook {
    event: Option<String>,
    msg: Option<Tracking>,
}

#[derive(Deserialize)]
struct Tracking {
    tracking_number: Option<String>,
    slug: Option<String>,
    expected_delivery: Option<String>,
    #[serde(default)]
    checkpoints: Vec<Checkpoint>,
}

#[derive(Deserialize)]
struct Checkpoint {
    slug: Option<String>,
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    country_iso3: Option<String>,
    message: Option<String>,
    tag: Option<String>,
    subtag: Option<String>,
    checkpoint_time: Option<String>,
}

/// AfterShip's `tag` and `subtag` in herald's words.
pub fn status(tag: &str, subtag: &str) -> TrackingStatus {
    use TrackingStatus as S;
    match (tag, subtag) {
        ("InfoReceived", _) => S::PreTransit,
        // InTransit_002: the carrier's acceptance scan.
        ("InTransit", "InTransit_002") => S::Accepted,
        ("InTransit", _) => S::InTransit,
        ("OutForDelivery", _) => S::OutForDelivery,
        ("AvailableForPickup", _) => S::AvailableForPickup,
        ("AttemptFail", _) => S::DeliveryFailed,
        ("Delivered", _) => S::Delivered,
        // Exception_011: returned to sender.
        ("Exception", "Exception_011") => S::ReturnedToSender,
        ("Exception", _) => S::Exception,
        // Pending (no information yet) and Expired (no news for 30 days) say nothing of where
        // the parcel is.
        _ => S::Unknown,
    }
}

/// ISO 3166 alpha-3 to the alpha-2 herald keeps, for the country herald places on its map.
fn country(iso3: &str) -> String {
    match iso3 {
        "USA" => "US".into(),
        other => other.into(),
    }
}

pub fn parse(body: &[u8]) -> Result<Payload, String> {
    let w: Webhook = json(body)?;
    let kind = w
        .event
        .ok_or_else(|| "event is missing: is this an AfterShip webhook?".to_string())?;
    if kind != "tracking_update" {
        return Ok(Payload {
            kind,
            ..Default::default()
        });
    }
    let msg = w
        .msg
        .ok_or_else(|| "tracking_update: msg is missing".to_string())?;
    let number =
        text(&msg.tracking_number).ok_or_else(|| "msg.tracking_number is missing".to_string())?;
    let slug = text(&msg.slug).ok_or_else(|| "msg.slug is missing".to_string())?;
    let mut events = Vec::with_capacity(msg.checkpoints.len());
    for (i, c) in msg.checkpoints.iter().enumerate() {
        let st = status(
            c.tag.as_deref().unwrap_or(""),
            c.subtag.as_deref().unwrap_or(""),
        );
        events.push(event(
            &format!("msg.checkpoints[{i}]"),
            &text(&c.slug).unwrap_or_else(|| slug.clone()),
            &number,
            st,
            c.checkpoint_time.as_deref(),
            text(&c.message),
            ScanLocation {
                city: text(&c.city),
                region: text(&c.state),
                postal_code: text(&c.zip),
                country: text(&c.country_iso3).map(|c| country(&c)),
            },
        )?);
    }
    Ok(Payload {
        kind,
        events,
        estimated_delivery: msg.expected_delivery.as_deref().and_then(estimate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `tracking_update` webhook in the shape AfterShip documents and sends.
    const FIXTURE: &str =
        include_str!("../../../../fixtures/webhooks/aftership_tracking_update.json");

    #[test]
    fn a_tracking_update_becomes_herald_events() {
        let p = parse(FIXTURE.as_bytes()).unwrap();
        let statuses: Vec<_> = p.events.iter().map(|e| e.status).collect();
        assert_eq!(
            statuses,
            [
                TrackingStatus::Accepted,
                TrackingStatus::InTransit,
                TrackingStatus::ReturnedToSender
            ]
        );
        assert_eq!(
            p.events[1].occurred_at,
            "2025-12-03T17:30:00Z".parse().unwrap()
        );
        // No offset: read as UTC.
        assert_eq!(
            p.events[2].occurred_at,
            "2025-12-04T09:00:00Z".parse().unwrap()
        );
        assert_eq!(
            p.events[0].location.as_ref().unwrap().country.as_deref(),
            Some("US")
        );
        assert_eq!(p.events[0].tracking_number, "1Z999AA10123456784");
    }

    #[test]
    fn signatures_are_base64_hmacs_of_the_raw_body() {
        let body = FIXTURE.as_bytes();
        let header = sign("as-secret", body);
        assert_eq!(verify("as-secret", &header, body), Ok(()));
        assert_eq!(verify("nope", &header, body), Err(SignatureError::Mismatch));
        assert_eq!(
            verify("as-secret", "not base64!", body),
            Err(SignatureError::Malformed)
        );
    }
}
