//! Delivers outbox messages to the seller's webhook endpoints: a JSON event signed per the
//! Standard Webhooks specification, POSTed with a short timeout and no redirects. A 2xx
//! answer settles it; anything else retries with the outbox's backoff until
//! `mail.give_up_after_hours`, then it is a dead letter the seller can retry. 410 Gone stops
//! at once.

use super::{Notifier, retry_or_die};
use crate::AppState;
use herald_core::notify::webhook::{SigningSecret, delivery_id, event_type};
use herald_store::{Message, Settle};
use serde_json::{Value, json};

/// The HTTP client webhooks go out with.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .connect_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
        .build()
        .expect("a client with these settings always builds")
}

/// Delivers one claimed webhook message.
pub async fn deliver(state: &AppState, m: &Message) -> Settle {
    let n: &Notifier = &state.notifier;
    let now = state.clock.now();
    let Some(endpoint_id) = m.recipient.as_deref().and_then(|r| r.parse::<i64>().ok()) else {
        return Settle::Skipped {
            reason: "the delivery names no webhook endpoint".into(),
        };
    };
    let endpoint = match state.store.get_webhook_endpoint(endpoint_id).await {
        Ok(Some(e)) if e.disabled_at.is_none() => e,
        Ok(_) => {
            return Settle::Skipped {
                reason: format!("webhook endpoint {endpoint_id} was removed"),
            };
        }
        Err(e) => return retry_or_die(n, m, format!("database: {e}"), now),
    };
    let secret = match SigningSecret::parse(&endpoint.secret) {
        Ok(s) => s,
        Err(e) => {
            return Settle::Dead {
                error: format!("webhook endpoint {endpoint_id}: {e}"),
            };
        }
    };
    let payload = match payload(state, m).await {
        Ok(p) => p.to_string(),
        Err(e) => return retry_or_die(n, m, format!("database: {e}"), now),
    };
    let id = delivery_id(m.id);
    let timestamp = now.as_second();
    let signature = secret.sign(&id, timestamp, payload.as_bytes());
    let sent = n
        .http
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(payload.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => Settle::Posted {
            webhook_id: id,
            answer: format!("HTTP {}", r.status().as_u16()),
            payload,
        },
        Ok(r) if r.status() == reqwest::StatusCode::GONE => Settle::Dead {
            error: format!(
                "{} answered 410 Gone: remove the endpoint, or retry once it is back",
                endpoint.url
            ),
        },
        Ok(r) => retry_or_die(
            n,
            m,
            format!("{} answered HTTP {}", endpoint.url, r.status().as_u16()),
            now,
        ),
        Err(e) => retry_or_die(
            n,
            m,
            format!(
                "could not deliver to {}: {}",
                endpoint.url,
                if e.is_timeout() {
                    "no answer within 15 seconds".to_string()
                } else if e.is_connect() {
                    "could not connect".to_string()
                } else {
                    e.to_string()
                }
            ),
            now,
        ),
    }
}

/// The event: `{"type", "timestamp", "data"}`. Built from what does not change between
/// attempts (the message's own facts, the order's identity), so a retry carries the same
/// body.
async fn payload(state: &AppState, m: &Message) -> Result<Value, herald_store::StoreError> {
    let mut data = json!({ "kind": m.kind.as_str(), "facts": m.facts });
    if let Some(order_id) = m.order_id
        && let Some(o) = state.store.get_order(order_id, m.created_at).await?
    {
        data["order"] = json!({
            "id": o.id,
            "channel": o.facts.channel.as_str(),
            "external_id": o.facts.external_id,
            "number": o.facts.number,
        });
    }
    if let Some(sid) = m.facts["shipment_id"].as_i64()
        && let Some(s) = state.store.get_shipment(sid).await?
    {
        data["shipment"] = json!({
            "id": s.id,
            "carrier": s.carrier,
            "service": s.service,
            "tracking_number": s.tracking_number,
        });
    }
    if let Some(aid) = m.facts["alert_id"].as_i64()
        && let Some(a) = state.store.get_alert(aid).await?
    {
        data["alert"] = json!({
            "id": a.id,
            "kind": a.kind,
            "message": a.message,
            "case_id": a.case_id,
            "raised_at": a.raised_at,
        });
    }
    Ok(json!({
        "type": event_type(m.kind),
        "timestamp": m.about_at,
        "data": data,
    }))
}
