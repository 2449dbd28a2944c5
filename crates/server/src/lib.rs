//! herald's HTTP service: the router, its middleware, the JSON API and the background workers.
//!
//! [`launch`] serves a [`Router`] on a listener until a shutdown future resolves; in-flight
//! requests finish first. Tests start the real service on `127.0.0.1:0` through it.

pub mod api;
pub mod auth;
pub mod clock;
pub mod error;
pub mod notify;
pub mod page;
pub mod status;
pub mod unsubscribe;
pub mod workers;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use herald_core::ShipByPolicy;
use herald_store::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// HTTP and worker settings (the `http.*` and `alerts.*` configuration keys).
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub alert_sweep_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024 * 1024,
            request_timeout: Duration::from_secs(120),
            alert_sweep_interval: Duration::from_secs(15),
        }
    }
}

/// The seller's secret per tracking provider (`webhooks.<provider>.secret`). A provider without
/// one has its webhook endpoint switched off (404), so an unsigned payload is never taken.
#[derive(Clone, Default)]
pub struct WebhookSecrets(pub std::collections::BTreeMap<&'static str, String>);

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets never reach logs: only which providers are configured.
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Everything a handler needs, passed to the router once.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub policy: Arc<ShipByPolicy>,
    pub watch: Arc<herald_core::watch::WatchPolicy>,
    pub webhooks: Arc<WebhookSecrets>,
    pub settings: Arc<Settings>,
    /// Wakes the sweeper when new scans leave a parcel due, so cases open and close within
    /// moments rather than at the next tick.
    pub sweep_now: Arc<tokio::sync::Notify>,
    /// The outbox sender: mail settings, notification policy, the SMTP pool.
    pub notifier: Arc<notify::Notifier>,
    /// Wakes the sender when messages may have been enqueued.
    pub send_now: Arc<tokio::sync::Notify>,
    /// The status page: its in-memory snapshot and settings.
    pub status: Arc<status::StatusService>,
    /// The time herald runs on (the system's, or a demo's or simulation's).
    pub clock: clock::Clock,
}

impl AppState {
    /// Wakes the workers that stored tracking events left work for: the sweep for parcels
    /// with a problem (or whose delivery estimate changed), the sender for delivered notices.
    pub fn after_ingest(&self, done: &herald_store::Ingested, estimate_changed: bool) {
        if done.due_now > 0 || estimate_changed {
            self.sweep_now.notify_one();
        }
        if done.messages > 0 {
            self.send_now.notify_one();
        }
    }
}

/// The process-wide Prometheus recorder (a metrics recorder is global by design).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("no other metrics recorder is installed in herald")
    })
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => error::AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready",
            format!("the {} database is unreachable: {e}", state.store.kind()),
        )
        .into_response(),
        Err(_) => error::AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready",
            format!(
                "the {} database did not answer within 2 s",
                state.store.kind()
            ),
        )
        .into_response(),
    }
}

async fn prometheus_metrics(State(state): State<AppState>) -> Response {
    // Stale shipping figures are better than none when the database is down.
    if let Err(e) = api::shipping::export_gauges(&state).await {
        tracing::warn!(detail = %e.detail, "shipping gauges not refreshed");
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
        .into_response()
}

async fn not_found() -> error::AppError {
    error::AppError::not_found("no such endpoint; the API lives under /api/v1")
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    prometheus();
    let api = Router::new()
        .route("/orders", post(api::orders::create).get(api::orders::list))
        .route("/orders/{id}", get(api::orders::get))
        .route("/imports/{kind}", post(api::imports::import))
        .route("/shipments", post(api::shipments::create))
        .route("/shipments/{id}", get(api::shipments::get))
        .route("/tracking-events", post(api::shipments::track))
        .route("/alerts", get(api::alerts::list))
        .route("/cases", get(api::cases::list))
        .route("/cases/{id}", get(api::cases::get))
        .route("/cases/{id}/actions", post(api::cases::act))
        .route("/webhooks", get(api::webhooks::list))
        .route("/inbound/email", post(api::inbound::email))
        .route("/messages", get(api::messages::list))
        .route("/messages/export.csv", get(api::messages::export))
        .route("/messages/{id}", get(api::messages::get))
        .route("/messages/{id}/retry", post(api::messages::retry))
        .route(
            "/templates/{kind}",
            get(api::templates::get)
                .put(api::templates::put)
                .delete(api::templates::delete),
        )
        .route("/templates/{kind}/preview", post(api::templates::preview))
        .route(
            "/webhook-endpoints",
            post(api::endpoints::create).get(api::endpoints::list),
        )
        .route(
            "/webhook-endpoints/{id}",
            axum::routing::delete(api::endpoints::delete),
        )
        .route(
            "/offer-codes",
            post(api::offers::upload).get(api::offers::list),
        )
        .route("/metrics/shipping", get(api::shipping::get))
        .route(
            "/status/components",
            get(status::admin::list_components).post(status::admin::add_component),
        )
        .route(
            "/status/components/{id}",
            axum::routing::patch(status::admin::edit_component)
                .delete(status::admin::remove_component),
        )
        .route(
            "/status/incidents",
            get(status::admin::list_incidents).post(status::admin::open_incident),
        )
        .route("/status/incidents/{id}", get(status::admin::get_incident))
        .route(
            "/status/incidents/{id}/updates",
            post(status::admin::add_update),
        )
        .route(
            "/status/maintenances",
            post(status::admin::schedule_maintenance),
        )
        .route("/status/reports", get(status::report::list))
        .route(
            "/status/subscribers",
            get(status::subscribers::list).post(status::subscribers::add),
        )
        .route(
            "/status/subscribers/{id}",
            axum::routing::delete(status::subscribers::remove),
        )
        .route(
            "/status/advisory",
            get(status::admin::get_advisory)
                .put(status::admin::set_advisory)
                .delete(status::admin::clear_advisory),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(prometheus_metrics))
        .nest("/api/v1", api)
        .route("/webhooks/{provider}", post(api::webhooks::receive))
        .route("/t/{token}", get(page::show))
        .route(
            "/report",
            get(status::report::form)
                .post(status::report::submit)
                // A report is a few lines of text.
                .layer(DefaultBodyLimit::max(16 * 1024)),
        )
        .route(
            "/subscribe",
            get(status::subscribers::form)
                .post(status::subscribers::submit)
                .layer(DefaultBodyLimit::max(16 * 1024)),
        )
        .route("/subscriptions/{token}", get(status::subscribers::show))
        .route(
            "/subscriptions/{token}/confirm",
            post(status::subscribers::confirm),
        )
        .route(
            "/subscriptions/{token}/unsubscribe",
            get(status::subscribers::show).post(status::subscribers::unsubscribe),
        )

        .route(
            "/unsubscribe/{token}",
            get(unsubscribe::confirm).post(unsubscribe::leave),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.settings.request_timeout,
        ))
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                .make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // The public status surfaces are served from memory and face the surge of an outage:
        // they skip the per-request span, request id and timeout (nothing there can hang).
        .merge(
            Router::new()
                .route("/", get(status::public))
                .route("/history", get(status::public))
                .route("/history.atom", get(status::public))
                .route("/history.rss", get(status::public))
                .route("/badge.svg", get(status::public))
                .route("/incidents/{id}", get(status::public))
                .route("/api/v2/{*doc}", get(status::public))
                .route("/api/v1/advisory", get(status::public))
                .route("/advisory.js", get(status::public))
                .layer(CatchPanicLayer::new()),
        )
        .with_state(state)
}

/// Serves herald on `listener` until `shutdown` resolves, running the background workers
/// alongside. In-flight requests finish before it returns; a write is one transaction, so a
/// stop never leaves anything half-written.
pub async fn launch(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The gazetteer loads once (about 30 ms) before the first parcel needs it.
    tokio::task::spawn_blocking(|| herald_core::geo::postal_code("86001"));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(workers::sweeper(state.clone(), stop_rx.clone()));
    let sender = tokio::spawn(notify::sender(state.clone(), stop_rx.clone()));
    let monitors = tokio::spawn(status::monitors::worker(state.clone(), stop_rx.clone()));
    let clock = tokio::spawn(status::clock(state.clone(), stop_rx));
    let app = router(state);
    let served = axum::serve(
        listener,
        // The peer's address, for the report form's per-address limit.
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = sender.await;
    let _ = clock.await;
    let _ = monitors.await;
    served
}

/// One round of every background worker, for a driver that moves a manual clock itself (the
/// simulator): the sweeps, the status clock, then the sender until nothing is due.
pub async fn work_once(state: &AppState) -> Result<(), herald_store::StoreError> {
    workers::sweep_once(state).await;
    status::monitors::step(state).await;
    status::step(state).await;
    notify::step(state).await
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
