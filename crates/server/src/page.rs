//! `GET /t/{token}`: the buyer tracking page, public (the token is the key), no personal data.

use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_core::notify::page::{self, ParcelView, Step, TrackingPage};
use herald_core::notify::templates::{ItemFacts, carrier_display};
use herald_core::order::Order;
use herald_core::tracking::TrackingStatus;
use jiff::Timestamp;

/// Page tokens are 48 hex digits; anything else is not looked up.
fn well_formed(token: &str) -> bool {
    token.len() == 48
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page is the customer's: never cached by a shared cache, never indexed, and the
            // token never leaks to another site through a Referer.
            (header::CACHE_CONTROL, "private, no-cache"),
            (header::HeaderName::from_static("x-robots-tag"), "noindex, nofollow"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, page::not_found().to_string())
}

pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if !well_formed(&token) {
        return not_found();
    }
    match build(&state, &token).await {
        Ok(Some(p)) => html(StatusCode::OK, page::render(&p)),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "the tracking page could not be built");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Try again soon</title></head><body><main><h1>We cannot show this order right now</h1><p>Please try again in a few minutes.</p></main></body></html>".into(),
            )
        }
    }
}

async fn build(
    state: &AppState,
    token: &str,
) -> Result<Option<TrackingPage>, herald_store::StoreError> {
    let Some(id) = state.store.order_for_page(token).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    let Some(order) = state.store.get_order(id, now).await? else {
        return Ok(None);
    };
    let shipments = state.store.order_shipments(id).await?;
    Ok(Some(view(state, &order, &shipments, now)))
}

fn view(
    state: &AppState,
    order: &Order,
    shipments: &[herald_store::Shipment],
    now: Timestamp,
) -> TrackingPage {
    let tz = &state.policy.time_zone;
    let o = &order.facts;
    let step = |at: Timestamp, what: String, place: Option<String>| Step {
        at: at.to_string(),
        when: page::when(at, tz),
        what,
        place,
    };
    let mut steps = vec![step(o.placed_at, "Order placed".into(), None)];
    if let Some(p) = o.paid_at {
        steps.push(step(p, "Payment received".into(), None));
    }
    let mut parcels = Vec::new();
    for s in shipments {
        let carrier = carrier_display(&s.carrier);
        let label = s.label_created_at.unwrap_or(s.created_at);
        steps.push(step(label, format!("Shipped with {carrier}"), None));
        for e in &s.events {
            steps.push(step(
                e.occurred_at,
                e.description
                    .as_deref()
                    .filter(|_| e.status == TrackingStatus::Unknown)
                    .map_or_else(|| page::status_words(e.status).to_string(), str::to_string),
                page::place(e.location.as_ref()),
            ));
        }
        let last_scan = s.events.iter().map(|e| e.occurred_at).max();
        parcels.push(ParcelView {
            carrier,
            tracking_number: s.tracking_number.clone(),
            status: page::status_words(s.status).to_string(),
            expected: (s.status != TrackingStatus::Delivered)
                .then(|| s.estimated_delivery.map(|t| page::day(t, tz)))
                .flatten(),
            note: page::parcel_note(s.status, last_scan, s.estimated_delivery, now),
        });
    }
    if let Some(c) = o.cancelled_at {
        steps.push(step(c, "Order cancelled".into(), None));
    }
    steps.sort_by(|a, b| b.at.cmp(&a.at));
    let delivered = !shipments.is_empty()
        && shipments
            .iter()
            .all(|s| s.status == TrackingStatus::Delivered);
    let headline = if o.cancelled_at.is_some() {
        "Cancelled"
    } else if delivered || o.delivered_at.is_some() {
        "Delivered"
    } else if !shipments.is_empty() || o.shipped_at.is_some() {
        "On its way"
    } else {
        "Preparing your order"
    };
    TrackingPage {
        store_name: state.notifier.store_name.clone(),
        order_number: o.number.clone(),
        items: o
            .items
            .iter()
            .map(|i| ItemFacts {
                name: i.name.clone(),
                quantity: i.quantity,
            })
            .collect(),
        headline: headline.into(),
        parcels,
        steps,
        ships_by: (shipments.is_empty() && o.shipped_at.is_none() && o.cancelled_at.is_none())
            .then(|| page::day(order.ship_by, tz)),
        updated: page::when(now, tz),
    }
}
