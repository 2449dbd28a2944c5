//! Provider webhooks: `POST /webhooks/{easypost|shippo|aftership}` (authenticated by each
//! provider's signature, not by herald's API token) and `GET /api/v1/webhooks`, the audit list
//! of every payload received and the dead letters among them.
//!
//! A payload that passes its signature check is stored as received before herald answers. One
//! herald cannot read is kept as a dead letter with the reason and still answered 200, so the
//! provider does not retry it forever; a bad or missing signature is answered 401 and nothing
//! is stored.

use super::Params;
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Path, Query, State, rejection::BytesRejection};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use herald_core::providers::Provider;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The largest webhook herald reads: providers send one parcel per call, far below this.
pub const MAX_WEBHOOK_BYTES: usize = 1 << 20;

pub async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let provider = Provider::parse(&provider).ok_or_else(|| {
        AppError::not_found(format!(
            "herald takes webhooks from easypost, shippo and aftership, not {provider:?}"
        ))
    })?;
    let secret = state.webhooks.0.get(provider.as_str()).ok_or_else(|| {
        AppError::not_found(format!(
            "{} webhooks are not switched on: set webhooks.{}.secret in the configuration",
            provider.as_str(),
            provider.as_str()
        ))
    })?;
    let body = body?;
    if body.len() > MAX_WEBHOOK_BYTES {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload too large",
            format!(
                "a {} webhook of {} bytes is over herald's limit of {MAX_WEBHOOK_BYTES} bytes",
                provider.as_str(),
                body.len()
            ),
        ));
    }
    let header = headers
        .get(provider.signature_header())
        .and_then(|v| v.to_str().ok());
    let now = state.clock.now();
    if let Err(e) = provider.verify(secret, header, &body, now) {
        metrics::counter!("herald_webhooks_refused_total", "provider" => provider.as_str())
            .increment(1);
        tracing::warn!(provider = provider.as_str(), reason = %e, "webhook refused");
        return Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "Bad signature",
            format!("{} webhook refused: {e}", provider.as_str()),
        ));
    }
    match provider.parse_payload(&body) {
        Ok(payload) => {
            let (id, ingested) = state
                .store
                .record_webhook(
                    provider.as_str(),
                    &body,
                    &payload.events,
                    payload.estimated_delivery,
                    None,
                    &state.watch,
                    now,
                )
                .await?;
            let stored = ingested.fresh.iter().filter(|f| **f).count();
            state.after_ingest(&ingested, payload.estimated_delivery.is_some());
            metrics::counter!("herald_tracking_events_total", "path" => provider.as_str())
                .increment(payload.events.len() as u64);
            Ok(Json(json!({
                "id": id,
                "kind": payload.kind,
                "events": payload.events.len(),
                "new_events": stored,
            })))
        }
        Err(reason) => {
            let (id, _) = state
                .store
                .record_webhook(
                    provider.as_str(),
                    &body,
                    &[],
                    None,
                    Some(&reason),
                    &state.watch,
                    now,
                )
                .await?;
            metrics::counter!("herald_webhooks_dead_letters_total", "provider" => provider.as_str())
                .increment(1);
            tracing::warn!(provider = provider.as_str(), id, %reason, "webhook kept as a dead letter");
            Ok(Json(
                json!({ "id": id, "dead_letter": true, "reason": reason }),
            ))
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let mut p = Params::new(raw);
    let dead = p
        .parse("dead_letters", |v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{v:?} is not true or false")),
        })?
        .unwrap_or(false);
    let before = p.parse("before", |v| {
        v.parse::<i64>().map_err(|_| "is not a webhook id")
    })?;
    let limit = p.limit(50)?.min(500);
    p.finish()?;
    let items = state.store.list_webhooks(dead, before, limit).await?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|w| w.id))
        .flatten();
    Ok(Json(json!({ "items": items, "next_before": next })))
}
