//! The seller's wording: `GET /api/v1/templates/{kind}` (the wording in use and whether it is
//! the seller's own), `PUT` to save a version (validated first: syntax and unknown variables,
//! with the part and line named), `DELETE` to go back to herald's, and
//! `POST /api/v1/templates/{kind}/preview` to render a draft or the saved wording with sample
//! facts. `?store=CHANNEL` on any of them works on one store's own wording (orders from that
//! sales channel); without it, on the wording for every store.

use super::{Params, require_json};
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::Query;
use axum::extract::{Path, State, rejection::BytesRejection};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use herald_core::FieldError;
use herald_core::notify::MessageKind;
use herald_core::notify::templates::{self, TemplateSet, Templates};
use serde_json::{Value, json};
use std::collections::HashMap;

fn kind_of(raw: &str) -> Result<MessageKind, AppError> {
    MessageKind::parse(raw).map_err(AppError::not_found)
}

/// `?store=CHANNEL`, or "" for every store.
fn store_of(raw: HashMap<String, String>) -> Result<String, AppError> {
    let mut p = Params::new(raw);
    let store = p
        .parse("store", |v| {
            herald_core::order::Channel::parse(v).map(|c| c.as_str().to_string())
        })?
        .unwrap_or_default();
    p.finish()?;
    Ok(store)
}

fn parse_set(body: &[u8]) -> Result<TemplateSet, AppError> {
    serde_json::from_slice(body).map_err(|e| {
        AppError::bad_request(format!(
            "the body must be {{\"subject\": ..., \"text\": ..., \"html\": ...}}: {e}"
        ))
    })
}

fn invalid(e: templates::TemplateError) -> AppError {
    let field = match e.part {
        "txt" => "text",
        other => other,
    };
    AppError::invalid(vec![FieldError::new(field, e.message)])
}

pub async fn get(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let kind = kind_of(&kind)?;
    let store = store_of(q)?;
    let t = Templates::with_custom(state.store.load_templates().await?);
    Ok(Json(json!({
        "kind": kind,
        "store": store,
        "custom": t.is_custom(&store, kind),
        "template": t.set_for(&store, kind),
    })))
}

pub async fn put(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let kind = kind_of(&kind)?;
    let store = store_of(q)?;
    require_json(&headers)?;
    let set = parse_set(&body?)?;
    let preview = templates::validate(kind, &set).map_err(invalid)?;
    state
        .store
        .save_template(&store, kind, &set, state.clock.now())
        .await?;
    Ok(Json(
        json!({ "kind": kind, "store": store, "custom": true, "template": set, "preview": preview }),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    let kind = kind_of(&kind)?;
    let store = store_of(q)?;
    if state.store.delete_template(&store, kind).await? {
        Ok(StatusCode::NO_CONTENT)
    } else if store.is_empty() {
        Err(AppError::not_found(format!(
            "{kind} already uses herald's wording"
        )))
    } else {
        Err(AppError::not_found(format!(
            "{kind} has no wording of its own for store {store}"
        )))
    }
}

/// Renders the body's draft or, with an empty body (or `null`, `{}`), the wording in use,
/// with sample facts.
pub async fn preview(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let kind = kind_of(&kind)?;
    let store = store_of(q)?;
    let body = body?;
    let draft = body.trim_ascii();
    let set = if draft.is_empty() || draft == b"null" || draft == b"{}" {
        Templates::with_custom(state.store.load_templates().await?).set_for(&store, kind)
    } else {
        parse_set(&body)?
    };
    let rendered = templates::validate(kind, &set).map_err(invalid)?;
    Ok(Json(json!({ "kind": kind, "preview": rendered })))
}
