//! `POST /api/v1/orders` (one order or a batch), `GET /api/v1/orders`, `GET /api/v1/orders/{id}`.

use super::{Params, require_json};
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Path, Query, State, rejection::BytesRejection};
use axum::http::HeaderMap;
use bytes::Bytes;
use herald_core::order::{FieldError, NewOrder, OrderInput};
use herald_store::{Cursor, OrderFilter};
use serde_json::{Value, json};
use std::collections::HashMap;

/// The most orders one request may carry.
pub const MAX_BATCH: usize = 10_000;

/// Parses one order (`{...}`) or a batch (`[...]` or `{"orders": [...]}`), naming the JSON path
/// of anything wrong. A batch is all or nothing: one bad order rejects the request.
pub fn parse_orders(body: &[u8]) -> Result<Vec<NewOrder>, AppError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrapped {
        orders: Vec<OrderInput>,
    }
    // The plain parse is the fast path; only a body that fails is parsed again with path
    // tracking, to name the field at fault.
    let fast = |prefix: &str| -> Option<Vec<OrderInput>> {
        match prefix {
            "[" => serde_json::from_slice(body).ok(),
            "orders" => serde_json::from_slice::<Wrapped>(body)
                .ok()
                .map(|w| w.orders),
            _ => serde_json::from_slice::<OrderInput>(body)
                .ok()
                .map(|o| vec![o]),
        }
    };
    let de = |prefix: &str| -> Result<Vec<OrderInput>, AppError> {
        if let Some(v) = fast(prefix) {
            return Ok(v);
        }
        let mut d = serde_json::Deserializer::from_slice(body);
        let res: Result<Vec<OrderInput>, _> = match prefix {
            "[" => serde_path_to_error::deserialize(&mut d),
            "orders" => serde_path_to_error::deserialize::<_, Wrapped>(&mut d).map(|w| w.orders),
            _ => serde_path_to_error::deserialize::<_, OrderInput>(&mut d).map(|o| vec![o]),
        };
        res.map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                AppError::bad_request(format!("the body is not valid JSON: {inner}"))
            } else {
                let field = if path == "." { String::new() } else { path };
                AppError::invalid(vec![FieldError::new(field, inner.to_string())])
            }
        })
    };
    let inputs = match first {
        Some(b'[') => de("[")?,
        Some(b'{') => {
            let looks_wrapped = body.windows(9).take(64).any(|w| w == b"\"orders\":")
                || body.windows(10).take(64).any(|w| w == b"\"orders\" :");
            if looks_wrapped {
                de("orders")?
            } else {
                de("one")?
            }
        }
        _ => {
            return Err(AppError::bad_request(
                "the body must be a JSON object or array of orders",
            ));
        }
    };
    if inputs.is_empty() {
        return Err(AppError::field("orders", "the batch is empty"));
    }
    if inputs.len() > MAX_BATCH {
        return Err(AppError::field(
            "orders",
            format!(
                "{} orders in one request; send at most {MAX_BATCH}",
                inputs.len()
            ),
        ));
    }
    let batch = inputs.len() > 1 || first == Some(b'[');
    let mut orders = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        match input.validate() {
            Ok(o) => orders.push(o),
            Err(errs) => errors.extend(errs.into_iter().map(|e| {
                if batch {
                    e.within(&format!("[{i}]"))
                } else {
                    e
                }
            })),
        }
    }
    if errors.is_empty() {
        Ok(orders)
    } else {
        Err(AppError::invalid(errors))
    }
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
        .upsert_orders(&orders, &state.policy, jiff::Timestamp::now())
        .await?;
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
    let page = state
        .store
        .list_orders(&filter, jiff::Timestamp::now())
        .await?;
    Ok(Json(
        json!({ "orders": page.items, "next_cursor": page.next_cursor }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let id: i64 = id
        .parse()
        .map_err(|_| AppError::field("id", format!("{id:?} is not an order id")))?;
    let order = state
        .store
        .get_order(id, jiff::Timestamp::now())
        .await?
        .ok_or_else(|| AppError::not_found(format!("no order with id {id}")))?;
    let events = state.store.order_events(id).await?;
    let mut v = serde_json::to_value(order).unwrap_or_default();
    v["events"] = serde_json::to_value(events).unwrap_or_default();
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
