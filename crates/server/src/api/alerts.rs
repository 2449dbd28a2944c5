//! `GET /api/v1/alerts`: what the seller must look at (orders at risk or late, ...), oldest first.

use super::Params;
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use std::collections::HashMap;

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let mut p = Params::new(raw);
    let after = p.parse("after", |v| {
        v.parse::<i64>().map_err(|_| "is not an alert id")
    })?;
    let limit = p.limit(100)?;
    p.finish()?;
    let alerts = state.store.list_alerts(after, limit).await?;
    let next = (alerts.len() == limit as usize)
        .then(|| alerts.last().map(|a| a.id))
        .flatten();
    Ok(Json(json!({ "alerts": alerts, "next_after": next })))
}
