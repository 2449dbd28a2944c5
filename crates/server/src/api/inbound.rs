//! `POST /api/v1/inbound/email`: a raw RFC 5322 message, as a mail server or a forwarding
//! service delivers it (the bounces of herald's mail, sent to `mail.from`). Delivery status
//! notifications (RFC 3464) are read: a hard bounce marks the address undeliverable, alerts the
//! seller and shows on the order. Any other message is answered `recognised: false` and kept
//! nowhere.

use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{State, rejection::BytesRejection};
use bytes::Bytes;
use herald_core::notify::bounce::{self, BounceError};
use serde_json::{Value, json};

pub async fn email(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let body = body?;
    if body.len() > bounce::MAX_BYTES {
        return Err(AppError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            format!(
                "the message is {} bytes; bounces are read up to {} bytes",
                body.len(),
                bounce::MAX_BYTES
            ),
        ));
    }
    let parsed = tokio::task::spawn_blocking(move || bounce::parse(&body))
        .await
        .map_err(|e| AppError::bad_request(format!("the message could not be read: {e}")))?;
    match parsed {
        Ok(b) => {
            let recorded = state.store.record_bounce(&b, state.clock.now()).await?;
            metrics::counter!("herald_bounces_total", "hard" => (!recorded.undeliverable.is_empty()).to_string())
                .increment(1);
            Ok(Json(json!({
                "recognised": true,
                "recipients": b.recipients,
                "original_message_id": b.original_message_id,
                "undeliverable": recorded.undeliverable,
                "order_id": recorded.order_id,
                "alerts": recorded.alerts,
            })))
        }
        Err(BounceError::NotEmail) => Err(AppError::bad_request(BounceError::NotEmail.to_string())),
        Err(e) => Ok(Json(
            json!({ "recognised": false, "reason": e.to_string() }),
        )),
    }
}
