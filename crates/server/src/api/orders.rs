//! `POST /api/v1/orders` (one order or a batch), `GET /api/v1/orders`, `GET /api/v1/orders/{id}`.

use super::{Params, require_json};
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Path, Query, State, rejection::BytesRejection};
use axum::http::HeaderMap;
use bytes::Bytes;
use herald_core::order::{NewOrder, OrderInput};
use herald_store::{Cursor, OrderFilter};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The most orders one request may carry.
pub const MAX_BATCH: usize = 10_000;

/// Parses one order (`{...}`) or a batch (`[...]` or `{"orders": [...]}`), naming the JSON path
/// of anything wrong. A batch is all or nothing: one bad order rejects the request.
pub fn parse_orders(body: &[u8]) -> Result<Vec<NewOrder>, AppError> {
    super::batch::parse_valid(body, "orders", "orders", MAX_BATCH, OrderInput::validate)
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    require_json(&headers)?;
    let body = body?;
    let orders = tokio::task::spawn_blocking(move || parse_orders(&body))
        .await
        .map_err(|e| AppError::bad_request(format!("the body could not be parsed: {e}")))??;
    let results = state
        .store
        .upsert_orders(&orders, &state.policy, state.clock.now())
        .await?;
    state.send_now.notify_one();
    metrics::counter!("herald_orders_ingested_total", "path" => "api")
        .increment(orders.len() as u64);
    Ok(Json(json!({ "results": results })))
}

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let mut p = Params::new(raw);
    let filter = OrderFilter {
        state: p.parse("state", |v| v.parse())?,
        ship_by_state: p.parse("ship_by_state", |v| v.parse())?,
        channel: p
            .parse("channel", herald_core::order::Channel::parse)?
            .map(|c| c.to_string()),
        placed_from: p.instant("placed_from")?,
        placed_to: p.instant("placed_to")?,
        cursor: p.parse("cursor", |v| {
            Cursor::parse(v).ok_or("is not a cursor this API returned; start again without it")
        })?,
        limit: p.limit(100)?,
    };
    p.finish()?;
    let page = state.store.list_orders(&filter, state.clock.now()).await?;
    Ok(Json(
        json!({ "orders": page.items, "next_cursor": page.next_cursor }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id = super::path_id(&id, "an order")?;
    let order = state
        .store
        .get_order(id, state.clock.now())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no order with id {id}")))?;
    let events = state.store.order_events(id).await?;
    let shipments = state.store.order_shipments(id).await?;
    let mut v = serde_json::to_value(&order).unwrap_or_default();
    v["events"] = serde_json::to_value(events).unwrap_or_default();
    v["shipments"] = serde_json::to_value(shipments).unwrap_or_default();
    // Whether the customer can be reached by e-mail (a hard bounce says not).
    if let Some(email) = &order.facts.customer.email {
        let bounced = state.store.undeliverable(email).await?;
        v["customer_email_undeliverable"] = json!(bounced);
    }
    // The buyer tracking page, as a path (and a full link when notify.public_url is set).
    if let Some(token) = state.store.page_token(id).await? {
        v["tracking_page"] = json!(state.notifier.page_url(&token));
    }
    Ok(Json(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_batch_and_wrapped_bodies() {
        let one = br#"{"channel":"api","external_id":"1","placed_at":"2025-12-01T10:00:00Z"}"#;
        assert_eq!(parse_orders(one).unwrap().len(), 1);
        let many = br#"[{"channel":"api","external_id":"1","placed_at":"2025-12-01T10:00:00Z"},{"channel":"api","external_id":"2","placed_at":"2025-12-01T10:00:00Z"}]"#;
        assert_eq!(parse_orders(many).unwrap().len(), 2);
        let wrapped = br#"{"orders": [{"channel":"api","external_id":"1","placed_at":"2025-12-01T10:00:00Z"}]}"#;
        assert_eq!(parse_orders(wrapped).unwrap().len(), 1);
    }

    #[test]
    fn errors_name_the_path() {
        let bad = br#"[{"channel":"api","external_id":"1","placed_at":"2025-12-01T10:00:00Z"},{"channel":"api","external_id":"2","placed_at":"2025-12-01T10:00:00Z","items":[{"name":"x","quantity":"two"}]}]"#;
        let e = parse_orders(bad).unwrap_err();
        assert_eq!(e.errors[0].field, "[1].items[0].quantity");
        let bad = br#"[{"channel":"api","external_id":"1","placed_at":"soon"}]"#;
        assert_eq!(
            parse_orders(bad).unwrap_err().errors[0].field,
            "[0].placed_at"
        );
        let bad = br#"{"channel":"api","external_id":"1","placed_at":"2025-12-01T10:00:00Z","colour":"red"}"#;
        let e = parse_orders(bad).unwrap_err();
        assert!(e.errors[0].message.contains("colour"), "{:?}", e.errors);
        let e = parse_orders(b"{\"channel\": ").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(parse_orders(b"[]").is_err());
        assert!(parse_orders(b"42").is_err());
    }
}
