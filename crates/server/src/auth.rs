//! Bearer-token authentication for `/api/v1/*`. Only a token's hash is stored; the token itself
//! is shown once, when it is created.

use crate::{AppState, error::AppError};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// The name of the token that authenticated a request.
#[derive(Debug, Clone)]
pub struct TokenName(pub String);

pub async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(AppError::unauthorized)?;
    let name = state
        .store
        .token_name(&herald_store::hash_token(token))
        .await?
        .ok_or_else(AppError::unauthorized)?;
    req.extensions_mut().insert(TokenName(name));
    Ok(next.run(req).await)
}
