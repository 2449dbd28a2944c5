//! Shipping performance: late-shipment rate and pre-fulfilment cancel rate over 7 and 30 days,
//! as JSON at `GET /api/v1/metrics/shipping` and as gauges on `/metrics`.
//!
//! Late-shipment rate: of the orders whose ship-by deadline fell in the window (orders cancelled
//! before shipping left out), the share shipped after it or still unshipped. Pre-fulfilment
//! cancel rate: of the orders placed in the window, the share cancelled before shipping.

use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::State;
use herald_store::ShippingWindow;
use serde_json::{Value, json};

pub const WINDOWS: [u32; 2] = [7, 30];

pub async fn windows(state: &AppState) -> Result<Vec<ShippingWindow>, AppError> {
    let now = state.clock.now();
    let mut out = Vec::new();
    for days in WINDOWS {
        out.push(state.store.shipping_window(days, now).await?);
    }
    Ok(out)
}

pub async fn get(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    Ok(Json(json!({ "windows": windows(&state).await? })))
}

/// Sets the Prometheus gauges from fresh figures.
pub async fn export_gauges(state: &AppState) -> Result<(), AppError> {
    for w in windows(state).await? {
        let window = format!("{}d", w.days);
        metrics::gauge!("herald_late_shipment_rate", "window" => window.clone())
            .set(w.late_shipment_rate);
        metrics::gauge!("herald_pre_fulfilment_cancel_rate", "window" => window.clone())
            .set(w.pre_fulfilment_cancel_rate);
        metrics::gauge!("herald_orders_due", "window" => window).set(w.orders_due as f64);
    }
    Ok(())
}
