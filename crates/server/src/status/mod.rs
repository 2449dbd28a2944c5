//! The status page service: keeps the current [`Board`] and its rendered [`Snapshot`] in
//! memory, serves the public surfaces from it, and runs the status clock (re-reading the page
//! when any node changed it, starting and ending maintenance, reminding the seller of
//! promised updates).
//!
//! On PostgreSQL every change NOTIFYs `herald_status` and each node LISTENs, so a change made
//! on one node is served by all at once; each node also polls the page's change counter every
//! second (the only way on SQLite, and the fallback while the listener reconnects). While the
//! database cannot be read the last snapshot keeps serving and says since when it has not
//! been refreshed.

pub mod admin;
pub mod monitors;
pub mod report;
pub mod snapshot;
pub mod subscribers;

use crate::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use herald_core::status::plan::{PlanError, Planner, StatusWrite};
use herald_core::status::{Board, PageInfo, PromisePolicy};
use herald_store::{StatusApplied, StoredStatus};
use jiff::{SignedDuration, Timestamp};
use snapshot::Snapshot;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Status page settings (the `[status]` configuration section).
#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub page: PageInfo,
    pub promises: PromisePolicy,
    /// The "Having trouble?" form's limits and burst alert.
    pub reports: herald_core::status::report::ReportRules,
    /// The header a proxy in front of herald puts the customer's address in.
    pub client_address_header: Option<String>,
    /// How long before a scheduled maintenance subscribers are reminded of it.
    pub maintenance_reminder: SignedDuration,
    /// The seller's services herald checks itself (`[[status.monitors]]`).
    pub monitors: Vec<herald_core::status::monitor::Monitor>,
}

/// The characters of page, component, incident and update ids (Statuspage's look alike).
const ID_ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A stable 12-character page id from the page's address.
pub fn page_id(url: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(url.as_bytes());
    d.iter()
        .take(12)
        .map(|b| ID_ALPHABET[(*b as usize) % ID_ALPHABET.len()] as char)
        .collect()
}

/// A new id for a component, incident or update: 12 random characters.
pub fn new_id() -> String {
    (0..12)
        .map(|_| ID_ALPHABET[rand::random_range(0..ID_ALPHABET.len())] as char)
        .collect()
}

struct Current {
    board: Option<Arc<Board>>,
    version: Option<i64>,
    snapshot: Arc<Snapshot>,
    /// Set while reads fail: the last successful read.
    stale_since: Option<Timestamp>,
    rendered_at: Option<Timestamp>,
}

/// The status page's in-memory state, shared by handlers and the clock.
pub struct StatusService {
    pub settings: StatusSettings,
    /// The report form's token key and per-address limit.
    pub reports: report::Reports,
    /// Subscribe requests per address (the report form's limit, counted apart).
    pub subscribe_limit: report::AddressLimiter,
    current: RwLock<Current>,
    /// Serialises refreshes so two never render at once.
    refreshing: tokio::sync::Mutex<()>,
    /// Per incident, the last reminder this node raised: the clock asks the database again
    /// only when the reminder due changes, not every second.
    reminded: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Maintenance reminders this node knows are stored (so it asks the database once each).
    maintenance_reminded: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The monitors' recent checks on this node.
    pub(crate) checks: monitors::Checks,
}

/// How far back the page reaches (uptime bars, history).
pub fn window_start(now: Timestamp) -> Timestamp {
    now - SignedDuration::from_hours(24 * (herald_core::status::page::HISTORY_DAYS as i64 + 1))
}

impl StatusService {
    pub fn new(settings: StatusSettings) -> Self {
        Self {
            subscribe_limit: report::AddressLimiter::new(
                settings.reports.per_address,
                Duration::try_from(settings.reports.address_window)
                    .unwrap_or(Duration::from_secs(600)),
            ),
            reports: report::Reports::new(settings.reports, settings.client_address_header.clone()),
            settings,
            current: RwLock::new(Current {
                board: None,
                version: None,
                snapshot: Arc::new(Snapshot::default()),
                stale_since: None,
                rendered_at: None,
            }),
            refreshing: tokio::sync::Mutex::new(()),
            reminded: Default::default(),
            maintenance_reminded: Default::default(),
            checks: Default::default(),
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .snapshot
            .clone()
    }

    pub fn board(&self) -> Option<Arc<Board>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .board
            .clone()
    }

    /// A board from what the store read.
    pub fn board_from(&self, s: StoredStatus, now: Timestamp) -> Board {
        Board {
            page: self.settings.page.clone(),
            components: s.components,
            incidents: s.incidents,
            history: s.history,
            advisory: s.advisory,
            read_at: now,
        }
    }

    /// Re-reads the page if it changed (or `force`), and re-renders when it changed, when
    /// the minute turned (relative times on the page) or when reads start or stop failing.
    pub async fn refresh(&self, state: &AppState, force: bool) -> bool {
        let _one = self.refreshing.lock().await;
        let now = state.clock.now();
        let (known, had_board, stale_before, rendered_at) = {
            let c = self.current.read().unwrap_or_else(|p| p.into_inner());
            (c.version, c.board.is_some(), c.stale_since, c.rendered_at)
        };
        let read = async {
            let v = state.store.status_version().await?;
            if !force && had_board && Some(v) == known {
                return Ok(None);
            }
            state.store.load_status(window_start(now)).await.map(Some)
        };
        let read = tokio::time::timeout(Duration::from_secs(5), read).await;
        let (board, version, stale_since) = match read {
            Ok(Ok(Some(s))) => {
                let v = s.version;
                (Some(Arc::new(self.board_from(s, now))), Some(v), None)
            }
            Ok(Ok(None)) => (None, known, None),
            Ok(Err(e)) => {
                if stale_before.is_none() {
                    tracing::warn!(error = %e, "the status page could not be read; serving the last snapshot");
                }
                (None, known, Some(stale_before.unwrap_or(now)))
            }
            Err(_) => {
                if stale_before.is_none() {
                    tracing::warn!("the status page read timed out; serving the last snapshot");
                }
                (None, known, Some(stale_before.unwrap_or(now)))
            }
        };
        let minute_turned = !state.clock.is_manual()
            && rendered_at.is_none_or(|r| now.duration_since(r).as_secs() >= 60);
        let read_new = board.is_some();
        let changed = read_new || stale_since.is_some() != stale_before.is_some();
        if !changed && !minute_turned {
            return false;
        }
        let board = board.or_else(|| self.board());
        let Some(board) = board else {
            return false;
        };
        let b = board.clone();
        let stale_at = stale_since.map(|_| b.read_at);
        let snap = tokio::task::spawn_blocking(move || Snapshot::build(&b, now, stale_at))
            .await
            .unwrap_or_default();
        let mut c = self.current.write().unwrap_or_else(|p| p.into_inner());
        c.board = Some(board);
        c.version = version;
        c.snapshot = Arc::new(snap);
        c.stale_since = stale_since;
        c.rendered_at = Some(now);
        read_new
    }
}

/// The status clock: every second (or at once when PostgreSQL tells of a change), re-read the
/// page if any node changed it; start and end maintenance on time; remind the seller of
/// promised updates and subscribers of maintenance; fan notices out to subscribers.
pub async fn clock(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let status = state.status.clone();
    // On PostgreSQL another node's change wakes this one at once; the one-second poll stays
    // as the fallback (and the only way on SQLite).
    let mut changes = state.store.status_changes();
    let mut ticks: u64 = 0;
    loop {
        let changed = status.refresh(&state, false).await;
        if let Some(board) = status.board() {
            // Notices are written with changes: look for them when the page changed, and
            // every ten seconds for ones a stopped node left half fanned out.
            tick(&state, &board, changed || ticks.is_multiple_of(10)).await;
        }
        ticks += 1;
        let woken = async {
            match changes.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(state.clock.pause(Duration::from_secs(1))) => {}
            Some(_) = woken => {}
            _ = stop.changed() => return,
        }
    }
}

/// One turn of the status clock, for a driver that moves a manual clock itself.
pub async fn step(state: &AppState) {
    let changed = state.status.refresh(state, false).await;
    if let Some(board) = state.status.board() {
        tick(state, &board, changed).await;
    }
}

async fn tick(state: &AppState, board: &Board, fan_out: bool) {
    let now = state.clock.now();
    let promises = state.status.settings.promises;
    for i in board.open_incidents() {
        let Some(r) = promises.reminder(i, now) else {
            continue;
        };
        let seen =
            |m: &std::collections::HashMap<String, String>| m.get(&i.id) == Some(&r.dedupe_key);
        if seen(
            &state
                .status
                .reminded
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        ) {
            continue;
        }
        match state.store.raise_status_alert(&r, now).await {
            Ok(new) => {
                if new {
                    tracing::info!(incident = %i.id, kind = r.kind, "status page reminder raised");
                    state.send_now.notify_one();
                }
                // Raised here or by another node: either way it is in the database.
                state
                    .status
                    .reminded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(i.id.clone(), r.dedupe_key);
            }
            Err(e) => tracing::warn!(error = %e, "a status page reminder could not be raised"),
        }
    }
    for m in board.incidents.iter().filter(|i| i.is_maintenance()) {
        let Some(n) = herald_core::status::notice::reminder(
            m,
            state.status.settings.maintenance_reminder,
            now,
        ) else {
            continue;
        };
        let known = |s: &std::collections::HashSet<String>| s.contains(&n.key);
        if known(
            &state
                .status
                .maintenance_reminded
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        ) {
            continue;
        }
        match state.store.add_status_notice(&n, now).await {
            Ok(new) => {
                if new {
                    subscribers::fan_out(state, 20).await;
                }
                state
                    .status
                    .maintenance_reminded
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(n.key);
            }
            Err(e) => tracing::warn!(error = %e, "a maintenance reminder could not be stored"),
        }
    }
    if fan_out {
        subscribers::fan_out(state, 20).await;
    }
    let due: Vec<String> = board
        .incidents
        .iter()
        .filter(|m| herald_core::status::maintenance_step(m, now).is_some())
        .map(|m| m.id.clone())
        .collect();
    for id in due {
        let r = change(state, None, |p| {
            p.maintenance_tick(&id).ok_or_else(|| PlanError {
                field: "id".into(),
                message: "nothing due".into(),
                missing: false,
            })
        })
        .await;
        match r {
            Ok(_) => tracing::info!(maintenance = %id, "scheduled maintenance moved on"),
            // Another node moved it first, or the database is away: the next tick sees.
            Err(e) => {
                tracing::debug!(maintenance = %id, detail = %e.detail, "maintenance not moved")
            }
        }
    }
}

/// What a change produced.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The incident's or component's id.
    pub id: String,
    /// The request key was seen before: nothing new was written.
    pub replayed: bool,
}

/// Plans a change against a fresh read of the page and applies it, again if another node
/// changed the page meanwhile. With a request key, a repeated request returns what the
/// first produced. Returns the id of what was created or changed (`StatusWrite`'s incident,
/// else its first component), and refreshes this node's snapshot before answering.
pub async fn change(
    state: &AppState,
    request_key: Option<&str>,
    plan: impl Fn(&mut Planner<'_>) -> Result<StatusWrite, PlanError> + Send + Sync,
) -> Result<Changed, crate::error::AppError> {
    if let Some(key) = request_key
        && let Some(id) = state.store.status_request(key).await?
    {
        return Ok(Changed { id, replayed: true });
    }
    for _ in 0..8 {
        let now = state.clock.now();
        let stored = state.store.load_status(window_start(now)).await?;
        let version = stored.version;
        let board = state.status.board_from(stored, now);
        let w = {
            let mut ids = new_id;
            let mut planner = Planner {
                board: &board,
                now,
                promises: state.status.settings.promises,
                ids: &mut ids,
            };
            plan(&mut planner).map_err(plan_error)?
        };
        let result = w
            .incident
            .as_ref()
            .map(|i| i.id.clone())
            .or_else(|| {
                w.components
                    .iter()
                    .rev()
                    .find(|c| !c.is_group)
                    .map(|c| c.id.clone())
            })
            .or_else(|| w.components.first().map(|c| c.id.clone()))
            .or_else(|| w.removed.first().cloned())
            .unwrap_or_default();
        match state
            .store
            .apply_status_write(version, &w, request_key.map(|k| (k, result.as_str())), now)
            .await?
        {
            StatusApplied::Applied(_) => {
                state.status.refresh(state, true).await;
                // The change's notice, if it owes one, goes to subscribers now.
                if w.update.is_some() {
                    let state = state.clone();
                    tokio::spawn(async move { subscribers::fan_out(&state, 20).await });
                }
                return Ok(Changed {
                    id: result,
                    replayed: false,
                });
            }
            StatusApplied::Duplicate(id) => return Ok(Changed { id, replayed: true }),
            StatusApplied::Stale => continue,
        }
    }
    Err(crate::error::AppError::new(
        StatusCode::CONFLICT,
        "Busy",
        "the status page kept changing while this change was applied; send it again",
    ))
}

fn plan_error(e: PlanError) -> crate::error::AppError {
    if e.missing {
        crate::error::AppError::not_found(e.to_string())
    } else {
        crate::error::AppError::invalid(vec![herald_core::order::FieldError::new(
            e.field, e.message,
        )])
    }
}

/// Serves a public surface from the snapshot.
pub async fn public(
    State(state): State<AppState>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let snap = state.status.snapshot();
    let head = method == Method::HEAD;
    match snap.assets.get(uri.path()) {
        Some(a) => snapshot::respond(a, StatusCode::OK, &headers, head),
        None if snap.read_at.is_none() => (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "5")],
            "The status page is starting; try again in a few seconds.\n",
        )
            .into_response(),
        None => not_on_page(&snap, &headers, uri.path(), head),
    }
}

fn not_on_page(snap: &Snapshot, headers: &HeaderMap, path: &str, head: bool) -> Response {
    if path.starts_with("/incidents/")
        && let Some(a) = &snap.missing_incident
    {
        return snapshot::respond(a, StatusCode::NOT_FOUND, headers, head);
    }
    crate::error::AppError::not_found(format!("nothing is published at {path}")).into_response()
}
