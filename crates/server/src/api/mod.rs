//! The JSON API under `/api/v1`, and the helpers its handlers share.

pub mod alerts;
pub mod batch;
pub mod cases;
pub mod endpoints;
pub mod imports;
pub mod inbound;
pub mod messages;
pub mod offers;
pub mod orders;
pub mod shipments;
pub mod shipping;
pub mod templates;
pub mod webhooks;

use crate::error::AppError;
use axum::http::{HeaderMap, header};
use jiff::Timestamp;
use std::collections::HashMap;

/// Query parameters, each taken at most once; any left over is reported by name.
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn new(raw: HashMap<String, String>) -> Self {
        Self(raw)
    }

    pub fn take(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).filter(|v| !v.is_empty())
    }

    pub fn parse<T, E: std::fmt::Display>(
        &mut self,
        name: &str,
        f: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, AppError> {
        match self.take(name) {
            None => Ok(None),
            Some(v) => f(&v)
                .map(Some)
                .map_err(|e| AppError::field(name, e.to_string())),
        }
    }

    pub fn instant(&mut self, name: &str) -> Result<Option<Timestamp>, AppError> {
        self.parse(name, |v| {
            v.parse::<Timestamp>().map_err(|_| {
                format!("{v:?} is not an RFC 3339 instant (for example 2025-12-06T15:37:33Z)")
            })
        })
    }

    pub fn limit(&mut self, default: u32) -> Result<u32, AppError> {
        Ok(self
            .parse("limit", |v| match v.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => Ok(n),
                _ => Err(format!("{v:?} is not a page size from 1 to 1000")),
            })?
            .unwrap_or(default))
    }

    /// Fails on the first parameter nobody asked for.
    pub fn finish(self) -> Result<(), AppError> {
        match self.0.into_keys().min() {
            None => Ok(()),
            Some(k) => Err(AppError::field(&k, "is not a known parameter here")),
        }
    }
}

/// Requires a JSON content type, so that a form post or a CSV sent to the wrong place is told so.
pub fn require_json(headers: &HeaderMap) -> Result<(), AppError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") || ct.ends_with("+json") {
        Ok(())
    } else {
        Err(AppError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            format!("send JSON with Content-Type: application/json (got {ct:?})"),
        ))
    }
}

/// A numeric id from the path, or a 400 naming it.
pub fn path_id(raw: &str, noun: &str) -> Result<i64, AppError> {
    raw.parse()
        .map_err(|_| AppError::field("id", format!("{raw:?} is not {noun} id")))
}
