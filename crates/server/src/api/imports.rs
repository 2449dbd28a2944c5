//! `POST /api/v1/imports/shopify` and `/api/v1/imports/amazon`: the body is the export file.
//! Good orders import and bad rows are reported with line, column and reason; with
//! `?strict=true` any bad row rejects the whole file and nothing is written.

use super::Params;
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Path, Query, State, rejection::BytesRejection};
use axum::http::StatusCode;
use bytes::Bytes;
use herald_core::import::{ParsedFile, RowError};
use herald_core::order::NewOrder;
use herald_store::{Store, UpsertOutcome};
use serde::Serialize;
use std::collections::HashMap;

/// Which export a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Shopify,
    Amazon,
}

impl std::str::FromStr for ExportKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "shopify" => Ok(Self::Shopify),
            "amazon" => Ok(Self::Amazon),
            _ => Err(format!(
                "{s:?} is not an import format herald reads: use shopify or amazon"
            )),
        }
    }
}

impl ExportKind {
    pub fn parse(self, bytes: &[u8]) -> Result<ParsedFile, herald_core::import::FormatError> {
        match self {
            Self::Shopify => herald_core::import::shopify::parse(bytes),
            Self::Amazon => herald_core::import::amazon::parse(bytes),
        }
    }
}

/// What an import did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub orders_in_file: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected_rows: usize,
    pub errors: Vec<RowError>,
}

/// Orders per transaction: each chunk commits whole, so a crash loses no answered work and
/// re-running the import is a no-op for what already went in.
pub const IMPORT_CHUNK: usize = 2_000;

/// Writes parsed orders in chunks and counts the outcomes.
pub async fn write_orders(
    store: &dyn Store,
    policy: &herald_core::ShipByPolicy,
    orders: &[NewOrder],
    report: &mut ImportReport,
    now: jiff::Timestamp,
) -> Result<(), herald_store::StoreError> {
    // Two chunks at a time: one is prepared while the other is written. Each still commits
    // whole, on its own.
    for pair in orders.chunks(IMPORT_CHUNK * 2) {
        let (a, b) = pair.split_at(pair.len().min(IMPORT_CHUNK));
        let (ra, rb) = tokio::join!(
            store.upsert_orders(a, policy, now),
            store.upsert_orders(b, policy, now)
        );
        for u in ra?.into_iter().chain(rb?) {
            match u.outcome {
                UpsertOutcome::Created => report.created += 1,
                UpsertOutcome::Updated => report.updated += 1,
                UpsertOutcome::Unchanged => report.unchanged += 1,
            }
        }
    }
    Ok(())
}

pub async fn import(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Query(raw): Query<HashMap<String, String>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ImportReport>), AppError> {
    let kind: ExportKind = kind.parse().map_err(|e: String| AppError::not_found(e))?;
    let mut p = Params::new(raw);
    let strict = p
        .parse("strict", |v| {
            v.parse::<bool>().map_err(|_| "use true or false")
        })?
        .unwrap_or(false);
    p.finish()?;
    let body = body?;
    let parsed = tokio::task::spawn_blocking(move || kind.parse(&body))
        .await
        .map_err(|e| AppError::bad_request(format!("the file could not be parsed: {e}")))?
        .map_err(|e| AppError::bad_request(e.0))?;
    let mut report = ImportReport {
        orders_in_file: parsed.orders.len(),
        rejected_rows: parsed.errors.len(),
        ..Default::default()
    };
    if strict && !parsed.errors.is_empty() {
        let mut e = AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Import rejected",
            format!(
                "{} bad rows; with strict=true nothing was imported (first: {})",
                parsed.errors.len(),
                parsed.errors[0]
            ),
        );
        e.rows = parsed.errors;
        return Err(e);
    }
    let orders: Vec<NewOrder> = parsed.orders.into_iter().map(|p| p.order).collect();
    write_orders(
        state.store.as_ref(),
        &state.policy,
        &orders,
        &mut report,
        state.clock.now(),
    )
    .await?;
    state.send_now.notify_one();
    metrics::counter!("herald_orders_ingested_total", "path" => "import")
        .increment(orders.len() as u64);
    report.errors = parsed.errors;
    Ok((StatusCode::OK, Json(report)))
}
