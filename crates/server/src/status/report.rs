//! The "Having trouble?" form at `/report`: serves the form with a fresh signed token, takes a
//! customer's report (refusing bots, too-quick posts and an address that sends too many),
//! keeps it, and alerts the seller when reports come in a burst. `GET
//! /api/v1/status/reports` lists them for the seller.

use crate::AppState;
use crate::error::AppError;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use herald_core::status::page::{Pages, ReportForm as FormView};
use herald_core::status::report::{self, FormKey, ReportRules, TokenProblem};
use herald_core::status::{Board, PromiseReminder};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The alert kind a burst raises.
pub const BURST_KIND: &str = "status_reports_burst";

/// Reports per address in a sliding window. Written here rather than taken from a rate-limit
/// crate: it is a map of short queues pruned as it goes, and needs nothing more.
#[derive(Debug)]
pub struct AddressLimiter {
    max: usize,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

/// Addresses remembered before old ones are dropped.
const MAX_ADDRESSES: usize = 50_000;

impl AddressLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max as usize,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one report from `ip` at `now`, or says how long until it may send again.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ADDRESSES {
            let window = self.window;
            seen.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let q = seen.entry(ip).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.max {
            let oldest = *q.front().expect("the queue is full");
            return Err(self.window - now.duration_since(oldest));
        }
        q.push_back(now);
        Ok(())
    }
}

/// The form's settings and state on this node.
#[derive(Debug)]
pub struct Reports {
    pub rules: ReportRules,
    /// A request header naming the customer's address, set by a proxy in front of herald
    /// (`status.client_address_header`); its last value counts. Without one, the peer address.
    pub client_header: Option<String>,
    limiter: AddressLimiter,
    key: tokio::sync::OnceCell<FormKey>,
}

impl Reports {
    pub fn new(rules: ReportRules, client_header: Option<String>) -> Self {
        let window = Duration::try_from(rules.address_window).unwrap_or(Duration::from_secs(600));
        Self {
            limiter: AddressLimiter::new(rules.per_address, window),
            rules,
            client_header,
            key: tokio::sync::OnceCell::new(),
        }
    }

    /// The token key every node shares, made by the first node that needs it.
    pub(crate) async fn key(&self, state: &AppState) -> Result<&FormKey, herald_store::StoreError> {
        self.key
            .get_or_try_init(|| async {
                let fresh: String = rand::random::<[u8; 32]>()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let kept = state
                    .store
                    .shared_secret("report_form", &fresh, state.clock.now())
                    .await?;
                Ok(FormKey::new(kept.as_bytes()))
            })
            .await
    }

    pub(crate) fn client(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        if let Some(h) = &self.client_header {
            return headers
                .get_all(h.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse().ok())
                .next_back();
        }
        peer.map(|p| p.ip())
    }
}

/// Before the first read of the page: the public forms cannot be served yet.
pub(crate) fn starting() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "The status page is starting; try again in a few seconds.\n",
    )
        .into_response()
}

/// A page of the public forms (report, subscribe, a subscriber's own page): never cached,
/// since each serving carries its own token, and never passing its address on.
pub(crate) fn html(code: StatusCode, body: String) -> Response {
    (
        code,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        body,
    )
        .into_response()
}

/// `Retry-After: SECS` on a refusal.
pub(crate) fn retry_after(mut r: Response, wait: Duration) -> Response {
    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// "5 minutes": how long until an address may send again, rounded up to the minute.
pub(crate) fn wait_text(wait: Duration) -> String {
    herald_core::status::human_duration(
        SignedDuration::try_from(wait).unwrap_or_default() + SignedDuration::from_secs(59),
    )
}

/// What a person is told when a form's token is refused.
pub(crate) fn token_refusal(p: TokenProblem) -> &'static str {
    match p {
        TokenProblem::TooQuick => "That was quick: please check the form and send it again.",
        TokenProblem::Expired => "This form was open a long time: please send it again.",
        TokenProblem::Invalid => {
            "This form was not served by this page: please send it again from here."
        }
    }
}

fn page(b: &Board, now: Timestamp, code: StatusCode, form: &FormView) -> Response {
    html(code, Pages::new(b, now, None).report(form))
}

#[derive(Deserialize)]
pub struct FormQuery {
    component: Option<String>,
    sent: Option<String>,
}

/// `GET /report`
pub async fn form(State(state): State<AppState>, Query(q): Query<FormQuery>) -> Response {
    let Some(b) = state.status.board() else {
        return starting();
    };
    let token = match state.status.reports.key(&state).await {
        Ok(k) => k.token(state.clock.now()),
        Err(e) => return unavailable(&b, FormView::default(), e),
    };
    let view = FormView {
        token,
        selected: q.component,
        sent: q.sent.is_some(),
        ..FormView::default()
    };
    page(&b, state.clock.now(), StatusCode::OK, &view)
}

fn unavailable(b: &Board, mut view: FormView, e: herald_store::StoreError) -> Response {
    tracing::warn!(error = %e, "a problem report could not be taken");
    view.error = Some((
        "form".into(),
        "We could not take your report just now. Please try again in a few minutes.".into(),
    ));
    retry_after(
        page(b, b.read_at, StatusCode::SERVICE_UNAVAILABLE, &view),
        Duration::from_secs(60),
    )
}

/// `POST /report`
pub async fn submit(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(b) = state.status.board() else {
        return starting();
    };
    let reports = &state.status.reports;
    let now = state.clock.now();
    let key = match reports.key(&state).await {
        Ok(k) => k,
        Err(e) => return unavailable(&b, FormView::default(), e),
    };
    let again = |selected: Option<String>, what: String, field: &str, message: &str| FormView {
        token: key.token(now),
        selected,
        what,
        error: Some((field.into(), message.into())),
        sent: false,
    };
    let form = match report::parse_form(&body) {
        Ok(f) => f,
        Err(e) => {
            let view = again(None, String::new(), e.field, &e.message);
            return page(
                &b,
                state.clock.now(),
                StatusCode::UNPROCESSABLE_ENTITY,
                &view,
            );
        }
    };
    if form.bot {
        // Told nothing: a bot that learns it was caught tries another way.
        metrics::counter!("herald_status_reports_total", "outcome" => "bot").increment(1);
        return Redirect::to("/report?sent=1").into_response();
    }
    if let Err(p) = key.check(&form.token, now) {
        metrics::counter!("herald_status_reports_total", "outcome" => "token").increment(1);
        let view = again(
            form.component.clone(),
            form.what.clone(),
            "form",
            token_refusal(p),
        );
        return page(&b, state.clock.now(), StatusCode::BAD_REQUEST, &view);
    }
    if let Err(e) = form.check_component(&b) {
        let view = again(None, form.what.clone(), e.field, &e.message);
        return page(
            &b,
            state.clock.now(),
            StatusCode::UNPROCESSABLE_ENTITY,
            &view,
        );
    }
    let peer = peer.map(|Extension(ConnectInfo(a))| a);
    if let Some(ip) = reports.client(&headers, peer)
        && let Err(wait) = reports.limiter.allow(ip, Instant::now())
    {
        metrics::counter!("herald_status_reports_total", "outcome" => "limited").increment(1);
        let view = again(
            form.component.clone(),
            form.what.clone(),
            "form",
            &format!(
                "You have sent several reports already; thank you. You can send another in {}.",
                wait_text(wait)
            ),
        );
        return retry_after(
            page(&b, state.clock.now(), StatusCode::TOO_MANY_REQUESTS, &view),
            wait,
        );
    }
    let kept = state
        .store
        .add_status_report(form.component.as_deref(), &form.what, now)
        .await;
    if let Err(e) = kept {
        let view = FormView {
            token: key.token(now),
            selected: form.component.clone(),
            what: form.what.clone(),
            ..FormView::default()
        };
        return unavailable(&b, view, e);
    }
    metrics::counter!("herald_status_reports_total", "outcome" => "kept").increment(1);
    if let Err(e) = alert_on_burst(&state, &b, now).await {
        // The report is kept; the next one looks at the burst again.
        tracing::warn!(error = %e, "could not check problem reports for a burst");
    }
    Redirect::to("/report?sent=1").into_response()
}

/// Raises the burst alert when the reports of the last window reach the burst size and no
/// burst alert was raised within that window.
async fn alert_on_burst(
    state: &AppState,
    b: &Board,
    now: Timestamp,
) -> Result<(), herald_store::StoreError> {
    let rules = &state.status.reports.rules;
    if rules.burst == 0 {
        return Ok(());
    }
    let since = now - rules.burst_window;
    let recent = state.store.status_reports_since(since, 1_000).await?;
    let Some(alert) = report::burst(&recent, rules, b) else {
        return Ok(());
    };
    let raised = state.store.alerts_between(since, now, 1_000).await?;
    if raised.iter().any(|a| a.kind == BURST_KIND) {
        return Ok(());
    }
    let r = PromiseReminder {
        dedupe_key: alert.dedupe_key,
        kind: BURST_KIND,
        due_at: now,
        message: alert.message,
    };
    if state.store.raise_status_alert(&r, now).await? {
        tracing::warn!("a burst of problem reports on the status page: the seller is alerted");
        state.send_now.notify_one();
    }
    Ok(())
}

/// `?limit=` of the status admin lists: 500 unless given, at most 5,000.
pub(crate) fn list_limit(limit: Option<u32>) -> Result<u32, AppError> {
    let limit = limit.unwrap_or(500);
    if !(1..=5_000).contains(&limit) {
        return Err(AppError::field("limit", "must be between 1 and 5000"));
    }
    Ok(limit)
}

#[derive(Deserialize)]
pub struct ListQuery {
    /// How far back, in hours (default 168, a week).
    hours: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/v1/status/reports`: customers' problem reports, newest first.
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, AppError> {
    let hours = q.hours.unwrap_or(168);
    if !(1..=24 * 366).contains(&hours) {
        return Err(AppError::field(
            "hours",
            "must be between 1 and 8784 (a year)",
        ));
    }
    let limit = list_limit(q.limit)?;
    let reports = state
        .store
        .status_reports_since(state.clock.now() - SignedDuration::from_hours(hours), limit)
        .await?;
    let b = state.status.board();
    let list: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "component_id": r.component_id,
                "component_name": r.component_id.as_deref().and_then(|id| b.as_ref().and_then(|b| b.component_name(id).map(str::to_string))),
                "what": r.what,
                "reported_at": r.reported_at,
            })
        })
        .collect();
    Ok(Json(json!({ "reports": list })))
}
