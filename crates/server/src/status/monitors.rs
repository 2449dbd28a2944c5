//! The monitors' probes: each `[[status.monitors]]` entry is checked with a GET every
//! `interval` (store time); what a run of failures or a recovery asks of the status page is
//! planned by `herald_core::status::monitor` and applied like any other change. Every node
//! probes; the plan is made against the freshly read page, so the page changes once.

use super::change;
use crate::AppState;
use herald_core::status::monitor::{Change, Health, Monitor};
use herald_core::status::plan::{PlanError, StatusWrite};

/// Each monitor's recent checks on this node.
#[derive(Debug, Default)]
pub struct Checks(std::sync::Mutex<Vec<Health>>);

/// Runs until `stop`: checks the monitors that are due, about once a second of store time.
pub async fn worker(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    if state.status.settings.monitors.is_empty() {
        return;
    }
    loop {
        step(&state).await;
        tokio::select! {
            _ = tokio::time::sleep(state.clock.pause(std::time::Duration::from_secs(1))) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Checks every monitor that is due, at once, and applies what their outcomes ask.
pub async fn step(state: &AppState) {
    let monitors = &state.status.settings.monitors;
    if monitors.is_empty() {
        return;
    }
    let now = state.clock.now();
    let due: Vec<usize> = {
        let mut h = state
            .status
            .checks
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        h.resize(monitors.len(), Health::default());
        (0..monitors.len())
            .filter(|&i| h[i].due(&monitors[i], now))
            .collect()
    };
    let mut probes = tokio::task::JoinSet::new();
    for &i in &due {
        let (state, m) = (state.clone(), monitors[i].clone());
        probes.spawn(async move { (i, probe(&state, &m).await) });
    }
    let mut outcomes: Vec<(usize, Result<(), String>)> = probes.join_all().await;
    outcomes.sort_by_key(|o| o.0);
    for (i, outcome) in outcomes {
        let m = &monitors[i];
        let changed = {
            let mut h = state
                .status
                .checks
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            h[i].record(m, outcome, now)
        };
        // Set when the page already says what the change would say.
        let nothing = std::sync::atomic::AtomicBool::new(false);
        let settled = |w: Option<StatusWrite>| {
            w.ok_or_else(|| {
                nothing.store(true, std::sync::atomic::Ordering::Relaxed);
                PlanError {
                    field: "monitor".into(),
                    message: NOTHING.into(),
                    missing: false,
                }
            })
        };
        let applied = match &changed {
            Change::None => continue,
            Change::Down { since, error } => {
                tracing::warn!(monitor = %m.name, %error, "monitor: the service is down");
                change(state, None, |p| p.monitor_down(m, *since).and_then(settled)).await
            }
            Change::Up => {
                tracing::info!(monitor = %m.name, "monitor: the service answers again");
                change(state, None, |p| p.monitor_up(m).and_then(settled)).await
            }
        };
        if let Err(e) = applied
            && !nothing.load(std::sync::atomic::Ordering::Relaxed)
        {
            // The page is unreachable or the component is gone: say so, and forget the
            // change, so the next check asks for it again.
            tracing::warn!(monitor = %m.name, detail = %e.detail, "monitor: the status page could not be changed");
            let mut h = state
                .status
                .checks
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            h[i].down = matches!(changed, Change::Up);
        }
    }
}

const NOTHING: &str = "the page already says so";

/// One check: a GET that answers 2xx or 3xx within the monitor's timeout.
async fn probe(state: &AppState, m: &Monitor) -> Result<(), String> {
    let timeout =
        std::time::Duration::try_from(m.timeout).unwrap_or(std::time::Duration::from_secs(10));
    match state
        .notifier
        .http
        .get(&m.url)
        .timeout(timeout)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() || r.status().is_redirection() => Ok(()),
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(e) if e.is_timeout() => Err(format!("no answer within {}s", timeout.as_secs())),
        Err(e) => Err(format!("could not connect: {e}")),
    }
}
