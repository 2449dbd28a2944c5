//! One-click unsubscribe (RFC 8058) for herald's non-transactional mail (the seller's daily
//! digest today). `POST /unsubscribe/{token}` leaves the list at once: that is what a mail
//! client sends for `List-Unsubscribe-Post: List-Unsubscribe=One-Click`. `GET` only shows a
//! button, because link scanners follow links and must not unsubscribe anyone. Neither page
//! shows the address.

use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

fn well_formed(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"color-scheme\" content=\"light dark\"><title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5\"><main><h1>{title}</h1>{body}</main></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        html,
    )
        .into_response()
}

fn unknown() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "Link not recognised",
        "<p>This unsubscribe link is not one herald knows. If mail keeps coming, reply to it and ask to be taken off.</p>",
    )
}

pub async fn confirm(Path(token): Path<String>) -> Response {
    if !well_formed(&token) {
        return unknown();
    }
    page(
        StatusCode::OK,
        "Stop these e-mails?",
        &format!(
            "<form method=\"post\" action=\"/unsubscribe/{token}\"><p>You will no longer receive this mailing. Order and delivery messages are not affected.</p><button type=\"submit\" style=\"font-size:1rem;padding:.5rem 1rem\">Unsubscribe</button></form>"
        ),
    )
}

pub async fn leave(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if !well_formed(&token) {
        return unknown();
    }
    match state.store.leave_mail_list(&token, state.clock.now()).await {
        Ok(Some((list, _address))) => {
            tracing::info!(%list, "a reader left a mailing list with its unsubscribe link");
            page(
                StatusCode::OK,
                "You are unsubscribed",
                "<p>You will not receive this mailing again.</p>",
            )
        }
        Ok(None) => unknown(),
        Err(e) => {
            tracing::warn!(error = %e, "could not record an unsubscribe");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "<p>herald could not record this just now. Please try again in a few minutes.</p>",
            )
        }
    }
}
