//! Tracking aggregators' webhooks in their own formats: EasyPost, Shippo and AfterShip. Each
//! provider module checks the provider's signature scheme over the raw body and turns a payload
//! into herald's [`TrackingEvent`]s, mapping the provider's statuses and sub-statuses onto
//! herald's one status set (the table is in docs/tracking.md).
//!
//! A payload either parses whole or not at all: one unreadable checkpoint makes the payload a
//! dead letter with the reason, so nothing is half-stored.

pub mod aftership;
pub mod easypost;
pub mod shippo;

use crate::tracking::{ScanLocation, TrackingEvent, TrackingStatus, carrier_key, tracking_key};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

/// A provider herald takes webhooks from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    EasyPost,
    Shippo,
    AfterShip,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Self::EasyPost, Self::Shippo, Self::AfterShip];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EasyPost => "easypost",
            Self::Shippo => "shippo",
            Self::AfterShip => "aftership",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The header that carries the signature.
    pub fn signature_header(self) -> &'static str {
        match self {
            Self::EasyPost => "x-hmac-signature",
            Self::Shippo => "shippo-auth-signature",
            Self::AfterShip => "aftership-hmac-sha256",
        }
    }

    /// Checks the signature header of a raw body against the seller's secret.
    pub fn verify(
        self,
        secret: &str,
        header: Option<&str>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<(), SignatureError> {
        let header = header
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(SignatureError::Missing(self.signature_header()))?;
        match self {
            Self::EasyPost => easypost::verify(secret, header, body),
            Self::Shippo => shippo::verify(secret, header, body, now),
            Self::AfterShip => aftership::verify(secret, header, body),
        }
    }

    /// Reads a payload that passed its signature check.
    pub fn parse_payload(self, body: &[u8]) -> Result<Payload, String> {
        match self {
            Self::EasyPost => easypost::parse(body),
            Self::Shippo => shippo::parse(body),
            Self::AfterShip => aftership::parse(body),
        }
    }
}

/// Why a webhook's signature was refused (never says what the right one would be).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the signature is not in the provider's format")]
    Malformed,
    #[error("the signature does not match the configured secret")]
    Mismatch,
    #[error("the signature's timestamp is more than 5 minutes away from now (a replay?)")]
    Stale,
}

/// What a provider payload says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    /// The payload's kind as the provider names it (`tracker.updated`, `track_updated`, ...).
    pub kind: String,
    /// Tracking events; empty for payloads about other things.
    pub events: Vec<TrackingEvent>,
    /// The carrier's estimated delivery, when the provider passes it on.
    pub estimated_delivery: Option<Timestamp>,
}

/// HMAC-SHA256 of `parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Compares in constant time.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads an instant: RFC 3339, or a date-time without offset (taken as UTC), or a date alone
/// (its start, UTC).
pub(crate) fn instant(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp());
    }
    s.parse::<jiff::civil::Date>()
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// A delivery estimate: a date alone (or midnight UTC, as providers send dates) means the end of
/// that day, so a parcel due "on the 5th" is not called late on the morning of the 5th.
pub(crate) fn estimate(s: &str) -> Option<Timestamp> {
    let t = instant(s)?;
    if t.as_second().rem_euclid(86_400) == 0 {
        Some(t + jiff::SignedDuration::from_secs(86_399))
    } else {
        Some(t)
    }
}

/// A non-empty trimmed string.
pub(crate) fn text(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Builds one checked event; `path` names the checkpoint for error messages.
pub(crate) fn event(
    path: &str,
    carrier: &str,
    tracking_number: &str,
    status: TrackingStatus,
    at: Option<&str>,
    description: Option<String>,
    location: ScanLocation,
) -> Result<TrackingEvent, String> {
    let at = at.ok_or_else(|| format!("{path}: the time of the scan is missing"))?;
    let occurred_at =
        instant(at).ok_or_else(|| format!("{path}: {at:?} is not a date and time"))?;
    let carrier = carrier_key(carrier);
    let tracking_number = tracking_key(tracking_number);
    if carrier.is_empty() || carrier.len() > 32 {
        return Err(format!("{path}: the carrier is missing or too long"));
    }
    if tracking_number.is_empty() || tracking_number.len() > 64 {
        return Err(format!(
            "{path}: the tracking number is missing or too long"
        ));
    }
    let clip = |s: String| s.chars().take(500).collect::<String>();
    Ok(TrackingEvent {
        carrier,
        tracking_number,
        status,
        occurred_at,
        description: description.map(clip),
        location: Some(location).filter(|l| *l != ScanLocation::default()),
    })
}

/// Parses JSON, naming where it broke.
pub(crate) fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("the body is not the expected JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_every_shape_providers_send() {
        assert_eq!(
            instant("2025-12-02T09:00:00-07:00"),
            Some("2025-12-02T16:00:00Z".parse().unwrap())
        );
        assert_eq!(
            instant("2025-12-02T09:00:00"),
            Some("2025-12-02T09:00:00Z".parse().unwrap())
        );
        assert_eq!(
            instant("2025-12-02"),
            Some("2025-12-02T00:00:00Z".parse().unwrap())
        );
        assert_eq!(instant("soon"), None);
    }

    #[test]
    fn a_missing_signature_names_the_header() {
        for p in Provider::ALL {
            let e = p.verify("s", None, b"{}", Timestamp::now()).unwrap_err();
            assert_eq!(e, SignatureError::Missing(p.signature_header()));
        }
    }
}
