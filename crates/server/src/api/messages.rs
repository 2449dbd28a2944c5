//! The outbox as the seller sees it: `GET /api/v1/messages` (filters: status, channel, kind,
//! order), `GET /api/v1/messages/{id}`, `POST /api/v1/messages/{id}/retry` for a dead letter,
//! and `GET /api/v1/messages/export.csv` (the marketplace queue, to send through Amazon's or
//! Walmart's own buyer messaging).

use super::Params;
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use herald_core::notify::MessageKind;
use herald_store::{Message, MessageFilter};
use serde_json::{Value, json};
use std::collections::HashMap;

const STATUSES: [&str; 6] = [
    "pending",
    "sending",
    "sent",
    "skipped",
    "dead",
    "marketplace",
];

fn filter(p: &mut Params, default_limit: u32) -> Result<MessageFilter, AppError> {
    let status = p.parse("status", |v| {
        if STATUSES.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(format!(
                "{v:?} is not a status: use one of {}",
                STATUSES.join(", ")
            ))
        }
    })?;
    let channel = p.parse("channel", |v| match v {
        "email" | "marketplace" | "webhook" => Ok(v.to_string()),
        _ => Err(format!(
            "{v:?} is not a channel: use email, marketplace or webhook"
        )),
    })?;
    let kind = p.parse("kind", MessageKind::parse)?;
    let order_id = p.parse("order_id", |v| {
        v.parse::<i64>()
            .map_err(|_| format!("{v:?} is not an order id"))
    })?;
    let before_id = p.parse("cursor", |v| {
        v.parse::<i64>()
            .map_err(|_| "is not a cursor from a previous page")
    })?;
    Ok(MessageFilter {
        status,
        channel,
        order_id,
        kind,
        before_id,
        limit: p.limit(default_limit)?,
    })
}

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let mut p = Params::new(raw);
    let f = filter(&mut p, 50)?;
    p.finish()?;
    let page = state.store.list_messages(&f).await?;
    Ok(Json(
        json!({ "items": page.items, "next_cursor": page.next_cursor }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Message>, AppError> {
    let id = super::path_id(&id, "a message")?;
    state
        .store
        .get_message(id)
        .await?
        .map(Json)
        .ok_or_else(|| AppError::not_found(format!("no message with id {id}")))
}

pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Message>, AppError> {
    let id = super::path_id(&id, "a message")?;
    let m = state
        .store
        .retry_message(id, state.clock.now())
        .await?
        .ok_or_else(|| {
            AppError::not_found(format!(
                "no dead message with id {id} (only dead letters can be retried)"
            ))
        })?;
    state.send_now.notify_one();
    Ok(Json(m))
}

/// CSV of the listed messages (by default the marketplace queue), newest first.
pub async fn export(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, AppError> {
    let mut p = Params::new(raw);
    let mut f = filter(&mut p, 1000)?;
    p.finish()?;
    if f.channel.is_none() && f.status.is_none() {
        f.status = Some("marketplace".into());
    }
    let page = state.store.list_messages(&f).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| AppError::bad_request(format!("cannot write CSV: {e}"));
    w.write_record([
        "message_id",
        "order_id",
        "kind",
        "status",
        "recipient",
        "subject",
        "body",
        "created_at",
    ])
    .map_err(csv_err)?;
    for m in &page.items {
        w.write_record([
            m.id.to_string(),
            m.order_id.map(|o| o.to_string()).unwrap_or_default(),
            m.kind.to_string(),
            m.status.clone(),
            m.recipient.clone().unwrap_or_default(),
            m.subject.clone().unwrap_or_default(),
            m.body.clone().unwrap_or_default(),
            m.created_at.to_string(),
        ])
        .map_err(csv_err)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| AppError::bad_request(format!("cannot write CSV: {e}")))?;
    let mut headers = vec![(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string())];
    if let Some(next) = page.next_cursor {
        headers.push((header::LINK, format!("<?cursor={next}>; rel=\"next\"")));
    }
    let mut resp = body.into_response();
    for (k, v) in headers {
        resp.headers_mut()
            .insert(k, v.parse().expect("header values are ASCII"));
    }
    Ok(resp)
}
