//! Status page subscribers: the public subscribe form (`/subscribe`, double opt-in), each
//! subscriber's own page (`/subscriptions/{token}`: confirm, see, one-click unsubscribe), the
//! admin API (`/api/v1/status/subscribers`), the fan-out of notices to the outbox and the
//! delivery of webhook notices. E-mail notices go out through the sender like every message.

use super::report::{html, list_limit, retry_after, starting, token_refusal, wait_text};
use crate::AppState;
use crate::api::{batch::parse, require_json};
use crate::error::AppError;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use herald_core::notify::MessageKind;
use herald_core::notify::webhook::{SigningSecret, check_url, delivery_id};
use herald_core::status::Board;
use herald_core::status::notice::{self, Subscriber, SubscriberChannel};
use herald_core::status::page::{Pages, SubscribeForm as FormView, SubscriptionView};
use herald_store::{Message, NewMessage, Settle};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Instant;

/// A new subscriber token: 32 hex characters.
fn new_token() -> String {
    rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn well_formed(token: &str) -> bool {
    token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The subscriber's own page, on the status page's public address.
pub fn manage_link(page_url: &str, token: &str) -> String {
    format!("{page_url}/subscriptions/{token}")
}

/// The one-click unsubscribe address (RFC 8058 `List-Unsubscribe`).
pub fn unsubscribe_link(page_url: &str, token: &str) -> String {
    format!("{page_url}/subscriptions/{token}/unsubscribe")
}

fn form_page(b: &Board, now: Timestamp, code: StatusCode, view: &FormView) -> Response {
    html(code, Pages::new(b, now, None).subscribe(view))
}

#[derive(Deserialize)]
pub struct FormQuery {
    sent: Option<String>,
}

/// `GET /subscribe`
pub async fn form(State(state): State<AppState>, Query(q): Query<FormQuery>) -> Response {
    let Some(b) = state.status.board() else {
        return starting();
    };
    let token = match state.status.reports.key(&state).await {
        Ok(k) => k.token(state.clock.now()),
        Err(e) => {
            tracing::warn!(error = %e, "the subscribe form could not be served");
            return unavailable(&b, FormView::default());
        }
    };
    let view = FormView {
        token,
        sent: q.sent.is_some(),
        ..FormView::default()
    };
    form_page(&b, state.clock.now(), StatusCode::OK, &view)
}

fn unavailable(b: &Board, mut view: FormView) -> Response {
    view.error = Some((
        "form".into(),
        "We could not take your request just now. Please try again in a few minutes.".into(),
    ));
    retry_after(
        form_page(b, b.read_at, StatusCode::SERVICE_UNAVAILABLE, &view),
        std::time::Duration::from_secs(60),
    )
}

/// `POST /subscribe`: takes the request and mails the confirmation link. The answer is the
/// same whether or not the address was subscribed already, so the form tells nobody who is.
pub async fn submit(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(b) = state.status.board() else {
        return starting();
    };
    let now = state.clock.now();
    let key = match state.status.reports.key(&state).await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "a subscription could not be taken");
            return unavailable(&b, FormView::default());
        }
    };
    let again = |email: &str, picked: &[String], field: &str, message: &str| FormView {
        token: key.token(now),
        email: email.to_string(),
        picked: picked.to_vec(),
        error: Some((field.into(), message.into())),
        sent: false,
    };
    let f = match notice::parse_subscribe(&body) {
        Ok(f) => f,
        Err(e) => {
            let view = again("", &[], e.field, &e.message);
            return form_page(
                &b,
                state.clock.now(),
                StatusCode::UNPROCESSABLE_ENTITY,
                &view,
            );
        }
    };
    if f.bot {
        metrics::counter!("herald_status_subscriptions_total", "outcome" => "bot").increment(1);
        return Redirect::to("/subscribe?sent=1").into_response();
    }
    if let Err(p) = key.check(&f.token, now) {
        let view = again(&f.email, &f.components, "form", token_refusal(p));
        return form_page(&b, state.clock.now(), StatusCode::BAD_REQUEST, &view);
    }
    let email = match notice::check_email(&f.email) {
        Ok(e) => e,
        Err(m) => {
            let view = again(&f.email, &f.components, "email", &m);
            return form_page(
                &b,
                state.clock.now(),
                StatusCode::UNPROCESSABLE_ENTITY,
                &view,
            );
        }
    };
    if f.components
        .iter()
        .any(|c| !b.leaf_components().any(|x| &x.id == c))
    {
        let view = again(
            &f.email,
            &[],
            "component",
            "Please pick from the listed services.",
        );
        return form_page(
            &b,
            state.clock.now(),
            StatusCode::UNPROCESSABLE_ENTITY,
            &view,
        );
    }
    let peer = peer.map(|Extension(ConnectInfo(a))| a);
    if let Some(ip) = state.status.reports.client(&headers, peer)
        && let Err(wait) = state.status.subscribe_limit.allow(ip, Instant::now())
    {
        let view = again(
            &f.email,
            &f.components,
            "form",
            &format!(
                "Too many requests from your connection; please try again in {}.",
                wait_text(wait)
            ),
        );
        return retry_after(
            form_page(&b, state.clock.now(), StatusCode::TOO_MANY_REQUESTS, &view),
            wait,
        );
    }
    match request(&state, &email, &f.components, now).await {
        Ok(()) => {
            metrics::counter!("herald_status_subscriptions_total", "outcome" => "asked")
                .increment(1);
            Redirect::to("/subscribe?sent=1").into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "a subscription could not be taken");
            unavailable(
                &b,
                FormView {
                    token: key.token(now),
                    email: f.email.clone(),
                    picked: f.components.clone(),
                    ..FormView::default()
                },
            )
        }
    }
}

/// Records a subscription request and owes its confirmation mail: a new address waits
/// unconfirmed; an address already there keeps what it has until the new choice is confirmed.
/// At most one confirmation mail per address every ten minutes, whoever asks.
async fn request(
    state: &AppState,
    email: &str,
    components: &[String],
    now: Timestamp,
) -> Result<(), herald_store::StoreError> {
    let fresh = Subscriber {
        id: 0,
        token: new_token(),
        channel: SubscriberChannel::Email,
        address: email.to_string(),
        component_ids: components.to_vec(),
        pending_component_ids: None,
        secret: None,
        created_at: now,
        confirmed_at: None,
        left_at: None,
    };
    let mut s = state.store.add_status_subscriber(&fresh).await?;
    if s.token != fresh.token {
        if s.left_at.is_some() {
            // Coming back after leaving needs a confirmation again.
            s.confirmed_at = None;
            s.left_at = None;
            s.component_ids = components.to_vec();
            s.pending_component_ids = None;
        } else if s.confirmed_at.is_some() {
            s.pending_component_ids = Some(components.to_vec());
        } else {
            s.component_ids = components.to_vec();
        }
        state.store.update_status_subscriber(&s).await?;
    }
    let bucket = now.as_second() / 600;
    let queued = state
        .store
        .enqueue_message(
            &NewMessage {
                order_id: None,
                kind: MessageKind::StatusConfirm,
                occurrence: format!("{}:{bucket}", s.id),
                about_at: now,
                facts: json!({ "subscriber_id": s.id }),
            },
            now,
        )
        .await?;
    if queued.is_some() {
        state.send_now.notify_one();
    }
    Ok(())
}

async fn subscriber_page(
    state: &AppState,
    token: &str,
) -> Result<(Subscriber, std::sync::Arc<Board>), Response> {
    let Some(b) = state.status.board() else {
        return Err(starting());
    };
    let unknown = || {
        html(
            StatusCode::NOT_FOUND,
            Pages::new(&b, state.clock.now(), None).subscription(&SubscriptionView {
                heading: "Link not recognised".into(),
                text: "This subscription link is not one this page knows. You can subscribe again from the status page.".into(),
                ..SubscriptionView::default()
            }),
        )
    };
    if !well_formed(token) {
        return Err(unknown());
    }
    match state.store.status_subscriber_by_token(token).await {
        Ok(Some(s)) if s.channel == SubscriberChannel::Email => Ok((s, b)),
        Ok(_) => Err(unknown()),
        Err(e) => {
            tracing::warn!(error = %e, "a subscription page could not be read");
            Err(try_again(
                &b,
                state.clock.now(),
                "We could not read your subscription just now.",
            ))
        }
    }
}

/// The database did not answer: say so, and to come back.
fn try_again(b: &Board, now: Timestamp, what: &str) -> Response {
    retry_after(
        html(
            StatusCode::SERVICE_UNAVAILABLE,
            Pages::new(b, now, None).subscription(&SubscriptionView {
                heading: "Please try again".into(),
                text: format!("{what} Please try again in a few minutes."),
                ..SubscriptionView::default()
            }),
        ),
        std::time::Duration::from_secs(60),
    )
}

fn names(b: &Board, ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter_map(|id| b.component_name(id))
        .map(str::to_string)
        .collect()
}

fn view_of(b: &Board, s: &Subscriber, token: &str) -> SubscriptionView {
    let base = format!("/subscriptions/{token}");
    if s.left_at.is_some() {
        return SubscriptionView {
            heading: "You are unsubscribed".into(),
            text: "You will not receive status updates from this page. You can subscribe again from the status page.".into(),
            ..SubscriptionView::default()
        };
    }
    if let Some(pending) = s
        .pending_component_ids
        .as_ref()
        .filter(|_| s.confirmed_at.is_some())
    {
        return SubscriptionView {
            heading: "Confirm your new choice".into(),
            text: "You asked to change what you hear about. Confirm it to switch.".into(),
            everything: pending.is_empty(),
            components: names(b, pending),
            action: Some(format!("{base}/confirm")),
            button: Some("Confirm".into()),
            other_action: Some(format!("{base}/unsubscribe")),
            other_button: Some("Unsubscribe instead".into()),
        };
    }
    if s.confirmed_at.is_none() {
        return SubscriptionView {
            heading: "Confirm your subscription".into(),
            text: "Confirm to receive e-mail when an incident starts, changes and ends, and before scheduled maintenance.".into(),
            everything: s.component_ids.is_empty(),
            components: names(b, &s.component_ids),
            action: Some(format!("{base}/confirm")),
            button: Some("Confirm".into()),
            ..SubscriptionView::default()
        };
    }
    SubscriptionView {
        heading: "Your status updates".into(),
        text: "You are subscribed. Every message has a link back to this page.".into(),
        everything: s.component_ids.is_empty(),
        components: names(b, &s.component_ids),
        action: Some(format!("{base}/unsubscribe")),
        button: Some("Unsubscribe".into()),
        ..SubscriptionView::default()
    }
}

/// `GET /subscriptions/{token}` (and `GET .../unsubscribe`): shows where the subscription
/// stands with a button for what can be done. A GET never changes anything: mail scanners
/// follow links.
pub async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match subscriber_page(&state, &token).await {
        Ok((s, b)) => html(
            StatusCode::OK,
            Pages::new(&b, state.clock.now(), None).subscription(&view_of(&b, &s, &token)),
        ),
        Err(r) => r,
    }
}

/// `POST /subscriptions/{token}/confirm`
pub async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (mut s, b) = match subscriber_page(&state, &token).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if s.left_at.is_none() {
        if let Some(p) = s.pending_component_ids.take() {
            s.component_ids = p;
        }
        s.confirmed_at.get_or_insert(state.clock.now());
        if let Err(e) = state.store.update_status_subscriber(&s).await {
            tracing::warn!(error = %e, "a subscription could not be confirmed");
            return try_again(&b, state.clock.now(), "We could not record this just now.");
        }
        metrics::counter!("herald_status_subscriptions_total", "outcome" => "confirmed")
            .increment(1);
    }
    let mut v = view_of(&b, &s, &token);
    if s.left_at.is_none() {
        v.heading = "You are subscribed".into();
    }
    html(
        StatusCode::OK,
        Pages::new(&b, state.clock.now(), None).subscription(&v),
    )
}

/// `POST /subscriptions/{token}/unsubscribe`: at once, as RFC 8058's one-click POST from a
/// mail client, or the page's button.
pub async fn unsubscribe(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (mut s, b) = match subscriber_page(&state, &token).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if s.left_at.is_none() {
        s.left_at = Some(state.clock.now());
        s.pending_component_ids = None;
        if let Err(e) = state.store.update_status_subscriber(&s).await {
            tracing::warn!(error = %e, "an unsubscribe could not be recorded");
            return try_again(&b, state.clock.now(), "We could not record this just now.");
        }
        tracing::info!("a status page subscriber unsubscribed");
    }
    html(
        StatusCode::OK,
        Pages::new(&b, state.clock.now(), None).subscription(&view_of(&b, &s, &token)),
    )
}

/// A body field that is wrong: 422 naming it.
fn bad_field(field: &str, message: impl Into<String>) -> AppError {
    AppError::invalid(vec![herald_core::order::FieldError::new(field, message)])
}

/// One subscriber as the admin API shows it (no token, no secret).
fn subscriber_json(b: Option<&Board>, s: &Subscriber) -> Value {
    let mut v = serde_json::to_value(s).expect("plain data");
    v["component_names"] = json!(b.map(|b| names(b, &s.component_ids)));
    v["active"] = json!(s.active());
    v
}

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/v1/status/subscribers`: in id order; `?after=ID` for the next page.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, AppError> {
    let limit = list_limit(q.limit)?;
    let subs = state
        .store
        .list_status_subscribers(q.after.unwrap_or(0), limit)
        .await?;
    let b = state.status.board();
    let next = (subs.len() == limit as usize)
        .then(|| subs.last().map(|s| s.id))
        .flatten();
    Ok(Json(json!({
        "subscribers": subs.iter().map(|s| subscriber_json(b.as_deref(), s)).collect::<Vec<_>>(),
        "next_after": next,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSubscriberInput {
    email: Option<String>,
    webhook: Option<String>,
    #[serde(default)]
    components: Vec<String>,
}

/// `POST /api/v1/status/subscribers`: the seller adds an e-mail subscriber (confirmed: the
/// seller vouches for it) or a webhook (answered with its signing secret, shown only here).
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    require_json(&headers)?;
    let i: NewSubscriberInput = parse(&body?)?;
    let b = state.status.board().ok_or_else(|| {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready",
            "the status page could not be read from the database yet",
        )
    })?;
    if let Some(bad) = i
        .components
        .iter()
        .find(|c| !b.leaf_components().any(|x| &x.id == *c))
    {
        return Err(bad_field(
            "components",
            format!("no component has the id {bad:?}"),
        ));
    }
    let now = state.clock.now();
    let (channel, address, secret) = match (i.email, i.webhook) {
        (Some(e), None) => (
            SubscriberChannel::Email,
            notice::check_email(&e).map_err(|m| bad_field("email", m))?,
            None,
        ),
        (None, Some(url)) => {
            let u = check_url(&url).map_err(|m| bad_field("webhook", m))?;
            let secret = SigningSecret::from_bytes(rand::random()).reveal();
            (SubscriberChannel::Webhook, u, Some(secret))
        }
        _ => {
            return Err(bad_field("email", "give either \"email\" or \"webhook\""));
        }
    };
    let fresh = Subscriber {
        id: 0,
        token: new_token(),
        channel,
        address,
        component_ids: i.components.clone(),
        pending_component_ids: None,
        secret,
        created_at: now,
        confirmed_at: Some(now),
        left_at: None,
    };
    let mut s = state.store.add_status_subscriber(&fresh).await?;
    let created = s.token == fresh.token;
    if !created {
        // Already there: the seller's word stands (back, confirmed, these components).
        s.component_ids = i.components;
        s.pending_component_ids = None;
        s.confirmed_at.get_or_insert(now);
        s.left_at = None;
        state.store.update_status_subscriber(&s).await?;
    }
    let mut v = subscriber_json(Some(&b), &s);
    if s.channel == SubscriberChannel::Webhook {
        v["secret"] = json!(s.secret);
    }
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(v),
    ))
}

/// `DELETE /api/v1/status/subscribers/{id}`
pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    let Some(mut s) = state.store.get_status_subscriber(id).await? else {
        return Err(AppError::not_found(format!(
            "no subscriber has the id {id}"
        )));
    };
    if s.left_at.is_none() {
        s.left_at = Some(state.clock.now());
        state.store.update_status_subscriber(&s).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Fans notices out to the outbox, a batch at a time, until none waits or `rounds` ran.
pub async fn fan_out(state: &AppState, rounds: u32) {
    let mut enqueued = 0;
    for _ in 0..rounds {
        match state
            .store
            .fan_out_status_notices(state.clock.now(), herald_store::FAN_OUT_BATCH)
            .await
        {
            Ok(Some(n)) => enqueued += n,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "status notices could not be fanned out; will retry");
                break;
            }
        }
    }
    if enqueued > 0 {
        tracing::info!(messages = enqueued, "status notices queued for subscribers");
        state.send_now.notify_one();
    }
}

/// Delivers a notice to a webhook subscriber: Statuspage's incident webhook body, signed per
/// Standard Webhooks with the subscriber's secret. 2xx settles it; 410 Gone unsubscribes.
pub async fn deliver_webhook(state: &AppState, m: &Message) -> Settle {
    let n = &state.notifier;
    let now = state.clock.now();
    let sid = m.facts["subscriber_id"].as_i64().unwrap_or_default();
    let nid = m.facts["notice_id"].as_i64().unwrap_or_default();
    let (sub, notice) = match (
        state.store.get_status_subscriber(sid).await,
        state.store.get_status_notice(nid).await,
    ) {
        (Ok(Some(s)), Ok(Some(n))) => (s, n),
        (Ok(_), Ok(_)) => {
            return Settle::Skipped {
                reason: "the subscriber or the notice no longer exists".into(),
            };
        }
        (Err(e), _) | (_, Err(e)) => {
            return super::super::notify::retry_or_die(n, m, format!("database: {e}"), now);
        }
    };
    if !sub.active() {
        return Settle::Skipped {
            reason: "the subscriber unsubscribed".into(),
        };
    }
    let Some(b) = state.status.board() else {
        return super::super::notify::retry_or_die(
            n,
            m,
            "the status page is not loaded yet".into(),
            now,
        );
    };
    let page_url = &state.status.settings.page.url;
    let Some(payload) =
        notice::webhook_payload(&b, &notice.notice, &manage_link(page_url, &sub.token))
    else {
        return Settle::Skipped {
            reason: "the incident is no longer on the page".into(),
        };
    };
    let id = delivery_id(m.id);
    let mut req = n
        .http
        .post(&sub.address)
        .header("content-type", "application/json")
        .header("webhook-id", &id);
    if let Some(secret) = sub
        .secret
        .as_deref()
        .and_then(|s| SigningSecret::parse(s).ok())
    {
        let ts = now.as_second();
        req = req.header("webhook-timestamp", ts.to_string()).header(
            "webhook-signature",
            secret.sign(&id, ts, payload.as_bytes()),
        );
    }
    match req.body(payload.clone()).send().await {
        Ok(r) if r.status().is_success() => Settle::Posted {
            webhook_id: id,
            answer: format!("HTTP {}", r.status().as_u16()),
            payload,
        },
        Ok(r) if r.status() == reqwest::StatusCode::GONE => {
            let mut s = sub;
            s.left_at = Some(now);
            let _ = state.store.update_status_subscriber(&s).await;
            Settle::Skipped {
                reason: format!("{} answered 410 Gone: the subscriber is removed", s.address),
            }
        }
        Ok(r) => super::super::notify::retry_or_die(
            n,
            m,
            format!("{} answered HTTP {}", sub.address, r.status().as_u16()),
            now,
        ),
        Err(e) => super::super::notify::retry_or_die(
            n,
            m,
            format!("could not deliver to {}: {e}", sub.address),
            now,
        ),
    }
}
