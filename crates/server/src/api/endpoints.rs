//! Outgoing webhooks the seller subscribes: `POST /api/v1/webhook-endpoints` (url, events,
//! optional description and `whsec_` secret; the secret is shown once, in this answer),
//! `GET` to list them (without secrets), `DELETE /api/v1/webhook-endpoints/{id}` to stop one.
//! Deliveries are outbox messages: `GET /api/v1/messages?channel=webhook`.

use super::{path_id, require_json};
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Path, State, rejection::BytesRejection};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use herald_core::FieldError;
use herald_core::notify::webhook::{SigningSecret, check_url, kind_of_event};
use herald_store::NewWebhookEndpoint;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointInput {
    url: String,
    /// Event types ("order.shipped", ...) or ["*"]; absent means every event.
    events: Option<Vec<String>>,
    description: Option<String>,
    secret: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    require_json(&headers)?;
    let input: EndpointInput = serde_json::from_slice(&body?).map_err(|e| {
        AppError::bad_request(format!(
            "the body must be {{\"url\": \"https://...\", \"events\": [\"order.shipped\", ...]}}: {e}"
        ))
    })?;
    let mut errors = Vec::new();
    let url = check_url(&input.url)
        .map_err(|e| errors.push(FieldError::new("url", e)))
        .ok();
    let kinds = match input.events.as_deref() {
        None => None,
        Some(list) if list.iter().any(|e| e == "*") => None,
        Some([]) => {
            errors.push(FieldError::new(
                "events",
                "name at least one event, or leave events out for all of them",
            ));
            None
        }
        Some(list) => {
            let mut kinds = Vec::new();
            for (i, e) in list.iter().enumerate() {
                match kind_of_event(e) {
                    Ok(k) => kinds.push(k),
                    Err(why) => errors.push(FieldError::new(format!("events[{i}]"), why)),
                }
            }
            Some(kinds)
        }
    };
    let secret = match input.secret.as_deref() {
        None => SigningSecret::from_bytes(rand::random()),
        Some(s) => SigningSecret::parse(s).unwrap_or_else(|e| {
            errors.push(FieldError::new("secret", e));
            SigningSecret::from_bytes([0; 32])
        }),
    };
    if let Some(d) = &input.description
        && d.len() > 500
    {
        errors.push(FieldError::new("description", "longer than 500 characters"));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid(errors));
    }
    let endpoint = state
        .store
        .add_webhook_endpoint(
            &NewWebhookEndpoint {
                url: url.unwrap_or_default(),
                secret: secret.reveal(),
                kinds,
                description: input.description,
            },
            state.clock.now(),
        )
        .await?;
    let mut out = json!(endpoint);
    out["secret"] = json!(secret.reveal());
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let items = state.store.list_webhook_endpoints().await?;
    Ok(Json(json!({ "items": items })))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = path_id(&id, "a webhook endpoint")?;
    if state
        .store
        .disable_webhook_endpoint(id, state.clock.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found(format!(
            "there is no active webhook endpoint {id}"
        )))
    }
}
