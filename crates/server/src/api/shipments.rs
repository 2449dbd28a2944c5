//! `POST /api/v1/shipments`, `GET /api/v1/shipments/{id}` and `POST /api/v1/tracking-events`
//! (herald's generic tracking format, one event or a batch).

use super::batch::{parse_batch, parse_valid, validate_all};
use super::require_json;
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Path, State, rejection::BytesRejection};
use axum::http::HeaderMap;
use bytes::Bytes;
use herald_core::tracking::{ShipmentInput, TrackingEventInput};

/// The answer to a batch of tracking events: one result per event, in the order sent.
#[derive(serde::Serialize)]
pub struct Tracked {
    results: Vec<EventResult>,
}

/// Whether an event was new (`false`: herald had it already).
#[derive(serde::Serialize)]
struct EventResult {
    stored: bool,
}

/// The most tracking events one request may carry.
pub const MAX_EVENTS: usize = 10_000;

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<herald_store::Shipment>, AppError> {
    require_json(&headers)?;
    let body = body?;
    let batch = parse_batch::<ShipmentInput>(&body, "shipments", "shipments", 1)?;
    let shipment = validate_all(batch, ShipmentInput::validate)?
        .pop()
        .expect("one shipment parsed");
    let stored = state
        .store
        .upsert_shipment(&shipment, state.clock.now())
        .await?;
    state.sweep_now.notify_one();
    state.send_now.notify_one();
    Ok(Json(stored))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<herald_store::Shipment>, AppError> {
    let id = super::path_id(&id, "a shipment")?;
    state
        .store
        .get_shipment(id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("no shipment with id {id}")))
}

pub async fn track(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Tracked>, AppError> {
    require_json(&headers)?;
    let body = body?;
    let events = parse_valid(
        &body,
        "events",
        "tracking events",
        MAX_EVENTS,
        TrackingEventInput::validate,
    )?;
    let stored = state
        .store
        .ingest_tracking_events(events, &state.watch, state.clock.now())
        .await?;
    state.after_ingest(&stored, false);
    metrics::counter!("herald_tracking_events_total", "path" => "api")
        .increment(stored.fresh.len() as u64);
    let results = stored
        .fresh
        .iter()
        .map(|&stored| EventResult { stored })
        .collect();
    Ok(Json(Tracked { results }))
}
