//! Coupon codes for goodwill offers: `POST /api/v1/offer-codes` uploads codes exported from
//! the seller's store (one per line, or a CSV whose first column holds them) into the pool;
//! `GET /api/v1/offer-codes?given=true` lists which order received which code.

use super::Params;
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Query, State, rejection::BytesRejection};
use axum::http::StatusCode;
use bytes::Bytes;
use herald_core::notify::offers::parse_codes;
use serde_json::{Value, json};
use std::collections::HashMap;

pub async fn upload(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let body = body?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| AppError::bad_request("the codes must be UTF-8 text, one code per line"))?;
    let codes = parse_codes(text).map_err(AppError::bad_request)?;
    let added = state
        .store
        .add_offer_codes(&codes, state.clock.now())
        .await?;
    Ok((
        StatusCode::OK,
        Json(json!({
            "received": codes.len(),
            "added": added,
            "already_known": codes.len() as u64 - added,
        })),
    ))
}

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let mut p = Params::new(raw);
    let given = p.parse("given", |v| match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{v:?} is not true or false")),
    })?;
    let limit = p.limit(100)?;
    p.finish()?;
    let items = state.store.list_offer_codes(given, limit).await?;
    Ok(Json(json!({ "items": items })))
}
