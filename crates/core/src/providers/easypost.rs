//! EasyPost: `Event` objects; `tracker.updated` (and `tracker.created`) carry a `Tracker` in
//! `result` with its `tracking_details`. Signed with `X-Hmac-Signature:
//! hmac-sha256-hex=<hex>`, the HMAC-SHA256 of the raw body under the webhook secret after
//! Unicode NFKD normalisation (as EasyPost's client libraries compute it).

use super::{Payload, SignatureError, estimate, event, hmac_sha256, json, same, text};
use crate::tracking::{ScanLocation, TrackingStatus};
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

pub fn verify(secret: &str, header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let hex_sig = header
        .strip_prefix("hmac-sha256-hex=")
        .ok_or(SignatureError::Malformed)?;
    let given = hex::decode(hex_sig.to_ascii_lowercase()).map_err(|_| SignatureError::Malformed)?;
    let key: String = secret.nfkd().collect();
    if same(&hmac_sha256(key.as_bytes(), &[body]), &given) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The signature header EasyPost would send for `body` (for tests and the simulator).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key: String = secret.nfkd().collect();
    format!(
        "hmac-sha256-hex={}",
        hex::encode(hmac_sha256(key.as_bytes(), &[body]))
    )
}

#[derive(Deserialize)]
struct Event {
    object: Option<String>,
    description: Option<String>,
    result: Option<Tracker>,
}

#[derive(Deserialize)]
struct Tracker {
    object: Option<String>,
    tracking_code: Option<String>,
    carrier: Option<String>,
    est_delivery_date: Option<String>,
    #[serde(default)]
    tracking_details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    message: Option<String>,
    description: Option<String>,
    status: Option<String>,
    status_detail: Option<String>,
    datetime: Option<String>,
    tracking_location: Option<Location>,
}

#[derive(Deserialize, Default)]
struct Location {
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    zip: Option<String>,
}

/// EasyPost's `status` and `status_detail` in herald's words.
pub fn status(status: &str, detail: &str) -> TrackingStatus {
    use TrackingStatus as S;
    match (status, detail) {
        ("pre_transit", _) => S::PreTransit,
        ("in_transit", "received_at_origin_facility" | "departed_origin_facility") => S::Accepted,
        ("in_transit", "arrived_at_pickup_location") => S::AvailableForPickup,
        (
            "in_transit",
            "lost" | "damaged" | "delivery_exception" | "transit_exception" | "missorted" | "held",
        ) => S::Exception,
        ("in_transit", _) => S::InTransit,
        ("out_for_delivery", _) => S::OutForDelivery,
        ("available_for_pickup", _) => S::AvailableForPickup,
        ("delivered", _) => S::Delivered,
        ("return_to_sender", _) => S::ReturnedToSender,
        ("failure", "refused" | "address_correction" | "delivery_exception" | "failure") => {
            S::DeliveryFailed
        }
        ("failure", _) => S::Exception,
        ("cancelled", _) => S::Cancelled,
        // "error" is a tracker that cannot be followed; "unknown" is no news.
        _ => S::Unknown,
    }
}

pub fn parse(body: &[u8]) -> Result<Payload, String> {
    let ev: Event = json(body)?;
    if ev.object.as_deref() != Some("Event") {
        return Err(format!(
            "object is {:?}, not \"Event\": is this webhook pointed at the right herald URL?",
            ev.object.unwrap_or_default()
        ));
    }
    let kind = ev.description.unwrap_or_default();
    if !matches!(kind.as_str(), "tracker.updated" | "tracker.created") {
        return Ok(Payload {
            kind,
            ..Default::default()
        });
    }
    let tracker = ev
        .result
        .ok_or_else(|| format!("{kind}: result (the Tracker) is missing"))?;
    if tracker.object.as_deref() != Some("Tracker") {
        return Err(format!("{kind}: result.object is not \"Tracker\""));
    }
    let code = text(&tracker.tracking_code)
        .ok_or_else(|| "result.tracking_code is missing".to_string())?;
    let carrier = text(&tracker.carrier).ok_or_else(|| "result.carrier is missing".to_string())?;
    let mut events = Vec::with_capacity(tracker.tracking_details.len());
    for (i, d) in tracker.tracking_details.iter().enumerate() {
        let path = format!("result.tracking_details[{i}]");
        let st = status(
            d.status.as_deref().unwrap_or("unknown"),
            d.status_detail.as_deref().unwrap_or(""),
        );
        let loc = d.tracking_location.as_ref();
        let location = ScanLocation {
            city: loc.and_then(|l| text(&l.city)),
            region: loc.and_then(|l| text(&l.state)),
            postal_code: loc.and_then(|l| text(&l.zip)),
            country: loc.and_then(|l| text(&l.country)),
        };
        events.push(event(
            &path,
            &carrier,
            &code,
            st,
            d.datetime.as_deref(),
            text(&d.message).or_else(|| text(&d.description)),
            location,
        )?);
    }
    Ok(Payload {
        kind,
        events,
        estimated_delivery: tracker.est_delivery_date.as_deref().and_then(estimate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `tracker.updated` Event in the shape EasyPost documents and sends.
    const FIXTURE: &str =
        include_str!("../../../../fixtures/webhooks/easypost_tracker_updated.json");

    #[test]
    fn a_tracker_update_becomes_herald_events() {
        let p = parse(FIXTURE.as_bytes()).unwrap();
        assert_eq!(p.kind, "tracker.updated");
        let statuses: Vec<_> = p.events.iter().map(|e| e.status).collect();
        assert_eq!(
            statuses,
            [
                TrackingStatus::PreTransit,
                TrackingStatus::Accepted,
                TrackingStatus::InTransit
            ]
        );
        let e = &p.events[2];
        assert_eq!(
            (e.carrier.as_str(), e.tracking_number.as_str()),
            ("usps", "9400111899223344556677")
        );
        assert_eq!(
            e.location.as_ref().unwrap().city.as_deref(),
            Some("PHOENIX")
        );
        assert_eq!(
            p.estimated_delivery,
            Some("2025-12-05T23:59:59Z".parse().unwrap())
        );
    }

    #[test]
    fn signatures_are_checked_over_the_raw_body() {
        let body = FIXTURE.as_bytes();
        let header = sign("whsec ﬁ", body);
        assert!(header.starts_with("hmac-sha256-hex="));
        // NFKD: the ligature "ﬁ" and "fi" are one secret.
        assert_eq!(verify("whsec fi", &header, body), Ok(()));
        assert_eq!(
            verify("other", &header, body),
            Err(SignatureError::Mismatch)
        );
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify("whsec fi", &header, &tampered),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec fi", "sha256=abc", body),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn other_events_are_kept_without_events_and_broken_ones_say_where() {
        let p = parse(br#"{"object":"Event","description":"batch.updated","result":{}}"#).unwrap();
        assert!(p.events.is_empty());
        let e = parse(
            FIXTURE
                .replace("2025-12-02T15:40:00Z", "yesterday")
                .as_bytes(),
        )
        .unwrap_err();
        assert!(e.contains("result.tracking_details[2]"), "{e}");
        assert!(parse(b"[]").is_err());
    }
}
