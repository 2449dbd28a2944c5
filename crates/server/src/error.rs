//! Errors as RFC 9457 `application/problem+json`, naming the field, line or parameter at fault.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_core::import::RowError;
use herald_core::order::FieldError;
use serde::Serialize;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub rows: Vec<RowError>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "<[RowError]>::is_empty")]
    rows: &'a [RowError],
}

impl AppError {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", detail)
    }

    /// One query parameter or field is wrong.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "Invalid parameter",
            format!("{field}: {message}"),
        );
        e.errors.push(FieldError::new(field, message));
        e
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => one.to_string(),
            many => format!("{} fields are invalid; see errors", many.len()),
        };
        Self {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid input", detail)
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", what)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "send an API token as `Authorization: Bearer TOKEN`; create one with `herald token create --name NAME`",
        )
    }

    fn slug(&self) -> &'static str {
        match self.status.as_u16() {
            400 => "bad-request",
            401 => "unauthorized",
            404 => "not-found",
            409 => "conflict",
            413 => "payload-too-large",
            415 => "unsupported-media-type",
            422 => "invalid-input",
            503 => "unavailable",
            _ => "internal",
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), detail = %self.detail, "request failed");
        }
        let body = Problem {
            kind: format!("https://herald.dev/problems/{}", self.slug()),
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
            rows: &self.rows,
        };
        let mut res = (self.status, serde_json::to_vec(&body).unwrap_or_default()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<herald_store::StoreError> for AppError {
    fn from(e: herald_store::StoreError) -> Self {
        match e {
            herald_store::StoreError::Conflict(m) => Self::new(StatusCode::CONFLICT, "Conflict", m),
            herald_store::StoreError::Missing(field, m) => {
                Self::invalid(vec![herald_core::order::FieldError::new(field, m)])
            }
            other => {
                tracing::error!(error = %other, "storage failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Storage unavailable",
                    "the database did not accept the request; nothing was stored, try again",
                )
            }
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for AppError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(
                status,
                "Payload too large",
                "the request body is larger than http.max_body_bytes allows; send smaller batches or raise the limit",
            )
        } else {
            Self::new(status, "Bad request body", r.body_text())
        }
    }
}
