//! Shippo: `track_updated` webhooks whose `data` is a Track with `tracking_status` (the latest)
//! and `tracking_history`. Signed (when the seller has Shippo's HMAC signing on) with
//! `Shippo-Auth-Signature: t=<unix seconds>,v1=<hex>`, the HMAC-SHA256 of `<t>.<raw body>`
//! under the webhook secret; a timestamp more than 5 minutes from now is refused as a replay.

use super::{Payload, SignatureError, estimate, event, hmac_sha256, json, same, text};
use crate::tracking::{ScanLocation, TrackingStatus};
use jiff::Timestamp;
use serde::Deserialize;

/// How far a signature's timestamp may be from now.
const TOLERANCE_SECS: i64 = 300;

pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let (mut t, mut v1) = (None, Vec::new());
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.trim()),
            Some(("v1", v)) => v1.push(v.trim()),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    let secs: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now.as_second() - secs).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    let expected = hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]);
    // Several v1 values appear while Shippo rotates a secret; any one may match.
    for sig in v1 {
        let given = hex::decode(sig.to_ascii_lowercase()).map_err(|_| SignatureError::Malformed)?;
        if same(&expected, &given) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The signature header Shippo would send for `body` at `t` (for tests and the simulator).
pub fn sign(secret: &str, body: &[u8], t: Timestamp) -> String {
    let t = t.as_second().to_string();
    format!(
        "t={t},v1={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &[t.as_bytes(), b".", body]))
    )
}

#[derive(Deserialize)]
struct Webhook {
    event: Option<String>,
    data: Option<Track>,
}

#[derive(Deserialize)]
struct Track {
    carrier: Option<String>,
    tracking_number: Option<String>,
    eta: Option<String>,
    tracking_status: Option<Status>,
    #[serde(default)]
    tracking_history: Vec<Status>,
}

#[derive(Deserialize)]
struct Status {
    status: Option<String>,
    status_details: Option<String>,
    status_date: Option<String>,
    substatus: Option<Substatus>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Substatus {
    code: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    city: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    country: Option<String>,
}

/// Shippo's `status` and `substatus.code` in herald's words.
pub fn status(status: &str, substatus: &str) -> TrackingStatus {
    use TrackingStatus as S;
    match (status, substatus) {
        ("PRE_TRANSIT", _) => S::PreTransit,
        ("TRANSIT", "package_accepted") => S::Accepted,
        ("TRANSIT", "out_for_delivery") => S::OutForDelivery,
        ("TRANSIT", "pickup_available") => S::AvailableForPickup,
        (
            "TRANSIT",
            "delivery_attempted"
            | "notice_left"
            | "location_inaccessible"
            | "address_issue"
            | "reschedule_delivery",
        ) => S::DeliveryFailed,
        ("TRANSIT", "package_damaged" | "package_held" | "contact_carrier") => S::Exception,
        ("TRANSIT", _) => S::InTransit,
        ("DELIVERED", _) => S::Delivered,
        ("RETURNED", "package_unclaimed") => S::ReturnedToSender,
        ("RETURNED", _) => S::ReturnedToSender,
        ("FAILURE", "package_undeliverable") => S::DeliveryFailed,
        ("FAILURE", _) => S::Exception,
        _ => S::Unknown,
    }
}

pub fn parse(body: &[u8]) -> Result<Payload, String> {
    let w: Webhook = json(body)?;
    let kind = w
        .event
        .ok_or_else(|| "event is missing: is this a Shippo webhook?".to_string())?;
    if kind != "track_updated" {
        return Ok(Payload {
            kind,
            ..Default::default()
        });
    }
    let track = w
        .data
        .ok_or_else(|| "track_updated: data is missing".to_string())?;
    let carrier = text(&track.carrier).ok_or_else(|| "data.carrier is missing".to_string())?;
    let number = text(&track.tracking_number)
        .ok_or_else(|| "data.tracking_number is missing".to_string())?;
    let mut events = Vec::new();
    let all = track
        .tracking_history
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("data.tracking_history[{i}]"), s))
        .chain(
            track
                .tracking_status
                .iter()
                .map(|s| ("data.tracking_status".to_string(), s)),
        );
    for (path, s) in all {
        let st = status(
            s.status.as_deref().unwrap_or("UNKNOWN"),
            s.substatus
                .as_ref()
                .and_then(|x| x.code.as_deref())
                .unwrap_or(""),
        );
        let loc = s.location.as_ref();
        events.push(event(
            &path,
            &carrier,
            &number,
            st,
            s.status_date.as_deref(),
            text(&s.status_details),
            ScanLocation {
                city: loc.and_then(|l| text(&l.city)),
                region: loc.and_then(|l| text(&l.state)),
                postal_code: loc.and_then(|l| text(&l.zip)),
                country: loc.and_then(|l| text(&l.country)),
            },
        )?);
    }
    Ok(Payload {
        kind,
        events,
        estimated_delivery: track.eta.as_deref().and_then(estimate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `track_updated` webhook in the shape Shippo documents and sends.
    const FIXTURE: &str = include_str!("../../../../fixtures/webhooks/shippo_track_updated.json");

    #[test]
    fn a_track_update_becomes_herald_events_once_each() {
        let p = parse(FIXTURE.as_bytes()).unwrap();
        assert_eq!(p.kind, "track_updated");
        // tracking_status repeats the last history entry: one event after dedupe.
        let h = crate::tracking::history(&p.events);
        let statuses: Vec<_> = h.iter().map(|e| e.status).collect();
        assert_eq!(
            statuses,
            [
                TrackingStatus::PreTransit,
                TrackingStatus::Accepted,
                TrackingStatus::InTransit,
                TrackingStatus::InTransit
            ]
        );
        assert_eq!(h[0].location, None);
        assert_eq!(h[3].carrier, "fedex");
        assert_eq!(
            p.estimated_delivery,
            Some("2025-12-05T12:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn signatures_carry_a_timestamp_and_stale_ones_are_refused() {
        let now: Timestamp = "2025-12-03T09:10:00Z".parse().unwrap();
        let body = FIXTURE.as_bytes();
        let header = sign("shippo-secret", body, now);
        assert_eq!(verify("shippo-secret", &header, body, now), Ok(()));
        assert_eq!(
            verify("wrong", &header, body, now),
            Err(SignatureError::Mismatch)
        );
        let later = now + jiff::SignedDuration::from_mins(6);
        assert_eq!(
            verify("shippo-secret", &header, body, later),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("shippo-secret", "v1=abc", body, now),
            Err(SignatureError::Malformed)
        );
        // During a secret rotation either signature may be the good one.
        let both = format!("{header},v1=00ff");
        assert_eq!(verify("shippo-secret", &both, body, now), Ok(()));
    }

    #[test]
    fn substatuses_map_onto_herald_statuses() {
        assert_eq!(
            status("TRANSIT", "delivery_attempted"),
            TrackingStatus::DeliveryFailed
        );
        assert_eq!(
            status("TRANSIT", "pickup_available"),
            TrackingStatus::AvailableForPickup
        );
        assert_eq!(
            status("RETURNED", "return_to_sender"),
            TrackingStatus::ReturnedToSender
        );
        assert_eq!(status("FAILURE", "package_lost"), TrackingStatus::Exception);
        assert_eq!(status("UNKNOWN", "other"), TrackingStatus::Unknown);
    }
}
