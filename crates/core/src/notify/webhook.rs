//! Outgoing webhooks: the seller's systems hear of herald's events, signed per the Standard
//! Webhooks specification (<https://www.standardwebhooks.com>) so any of its receiver
//! libraries verifies them.
//!
//! Each delivery carries `webhook-id` (stable across retries: `msg_` and the outbox id),
//! `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
//! (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`, keyed by the base64 part of a
//! `whsec_` secret). The body is `{"type", "timestamp", "data"}`.

use super::MessageKind;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The event type a subscriber sees for a kind of message: "order.shipped" and the like.
pub fn event_type(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::OrderAcknowledged => "order.received",
        MessageKind::PaymentReceived => "order.paid",
        MessageKind::Shipped => "order.shipped",
        MessageKind::Delayed => "order.delayed",
        MessageKind::ParcelProblem => "shipment.problem",
        MessageKind::Delivered => "order.delivered",
        MessageKind::SellerAlert => "alert.raised",
        MessageKind::SellerDigest => "digest.sent",
        MessageKind::Test => "webhook.test",
        MessageKind::StatusNotice => "status.notice",
        MessageKind::StatusConfirm => "status.confirm",
    }
}

/// Every event type a subscription may name.
pub fn event_types() -> Vec<&'static str> {
    MessageKind::ALL
        .into_iter()
        .filter(|k| *k != MessageKind::SellerDigest && !k.for_subscriber())
        .map(event_type)
        .collect()
}

/// The kind of message behind an event type.
pub fn kind_of_event(event: &str) -> Result<MessageKind, String> {
    MessageKind::ALL
        .into_iter()
        .find(|k| event_type(*k) == event && *k != MessageKind::SellerDigest && !k.for_subscriber())
        .ok_or_else(|| {
            format!(
                "{event:?} is not an event herald sends; use one of {} (or \"*\" for all)",
                event_types().join(", ")
            )
        })
}

/// A signing secret: `whsec_` followed by base64 of 24 to 64 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret never reaches a log.
        f.write_str("SigningSecret(..)")
    }
}

impl SigningSecret {
    /// Reads a `whsec_...` secret.
    pub fn parse(s: &str) -> Result<Self, String> {
        let b64 = s.trim().strip_prefix("whsec_").ok_or_else(|| {
            "a signing secret starts with \"whsec_\" followed by base64 (leave it out and herald makes one)".to_string()
        })?;
        let key = STANDARD.decode(b64).map_err(|_| {
            "the part of the signing secret after \"whsec_\" is not base64".to_string()
        })?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "a signing secret holds 24 to 64 bytes; this one holds {}",
                key.len()
            ));
        }
        Ok(Self { key })
    }

    /// A new secret from 32 random bytes the caller supplies.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            key: bytes.to_vec(),
        }
    }

    /// The `whsec_...` text, shown to the seller once.
    pub fn reveal(&self) -> String {
        format!("whsec_{}", STANDARD.encode(&self.key))
    }

    /// The `webhook-signature` value for one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// Whether `header` (space-separated `v1,...` signatures) holds a valid signature of
    /// `body`; a receiver's check, used by herald's tests.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        let Some(expected) = self.sign(id, timestamp, body).strip_prefix("v1,").map(|s| {
            STANDARD
                .decode(s)
                .expect("herald's own signature is base64")
        }) else {
            return false;
        };
        header.split_whitespace().any(|sig| {
            sig.strip_prefix("v1,")
                .and_then(|b| STANDARD.decode(b).ok())
                .is_some_and(|got| {
                    let mut mac =
                        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
                    mac.update(&expected);
                    let a = mac.finalize().into_bytes();
                    let mut mac =
                        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
                    mac.update(&got);
                    // Compared through a second HMAC so the comparison takes the same time
                    // whatever the bytes.
                    a == mac.finalize().into_bytes()
                })
        })
    }
}

/// The `webhook-id` of outbox message `id`: the same on every retry.
pub fn delivery_id(outbox_id: i64) -> String {
    format!("msg_herald{outbox_id}")
}

/// Checks a subscriber URL: http(s), a host, nothing else.
pub fn check_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} is not a web address: it must start with https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) || url.len() > 2_000 {
        return Err(format!(
            "{url:?} is not a web address: write it like https://yourshop.com/hooks/herald"
        ));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The published vector of the specification's reference libraries: a receiver using
        // any of them accepts what herald signs.
        let s = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = s.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(s.verify(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
            &format!("v1,bm9wZQ== {sig}")
        ));
        assert!(!s.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, &sig));
        assert!(!s.verify("msg_other", 1614265330, body, &sig));
        assert!(!s.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b"{}", &sig));
    }

    #[test]
    fn secrets_are_checked_and_never_printed() {
        assert!(SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningSecret::parse("whsec_!!!").is_err());
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err());
        let s = SigningSecret::from_bytes([7; 32]);
        assert_eq!(SigningSecret::parse(&s.reveal()).unwrap(), s);
        assert!(!format!("{s:?}").contains(&s.reveal()[6..]));
    }

    #[test]
    fn event_names_read_back_and_unknown_ones_are_refused() {
        for e in event_types() {
            assert_eq!(event_type(kind_of_event(e).unwrap()), e);
        }
        let err = kind_of_event("order.exploded").unwrap_err();
        assert!(err.contains("order.shipped"), "{err}");
    }

    #[test]
    fn subscriber_urls_must_be_web_addresses() {
        assert!(check_url("https://shop.com/hooks").is_ok());
        assert!(check_url("http://127.0.0.1:9000/x").is_ok());
        assert!(check_url("ftp://shop.com").is_err());
        assert!(check_url("https:///nohost").is_err());
    }
}
