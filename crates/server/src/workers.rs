//! Background work that runs beside the HTTP service: raising at-risk and late alerts as their
//! moments come, and running the parcel problem rules on shipments that are due. Both sweeps
//! read only rows whose next moment has come (indexed columns), so their cost follows the
//! number due, not the number stored.

use crate::AppState;
use tokio::sync::watch;

/// Rows examined per sweep transaction.
const SWEEP_BATCH: u32 = 1_000;

pub async fn sweeper(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.clock.pause(state.settings.alert_sweep_interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.sweep_now.notified() => {
                // Let a burst of scans land first, then review them together: a quarter
                // second keeps cases prompt while a busy stream is swept in large batches.
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            _ = stop.changed() => return,
        }
        sweep_once(&state).await;
    }
}

/// One pass of both sweeps; a full batch of parcels is followed at once by the next.
pub async fn sweep_once(state: &AppState) {
    match state
        .store
        .raise_due_alerts(state.clock.now(), SWEEP_BATCH)
        .await
    {
        Ok(0) => {}
        Ok(n) => {
            metrics::counter!("herald_alerts_raised_total").increment(n);
            tracing::info!(alerts = n, "raised seller alerts");
        }
        Err(e) => tracing::warn!(error = %e, "alert sweep failed; will retry"),
    }
    loop {
        match state
            .store
            .review_due_shipments(&state.watch, state.clock.now(), SWEEP_BATCH)
            .await
        {
            Ok(r) => {
                metrics::counter!("herald_shipments_reviewed_total").increment(r.reviewed);
                metrics::counter!("herald_cases_opened_total").increment(r.opened);
                metrics::counter!("herald_cases_closed_total").increment(r.closed);
                metrics::counter!("herald_alerts_raised_total").increment(r.alerts);
                if r.opened + r.closed + r.alerts > 0 {
                    tracing::info!(
                        reviewed = r.reviewed,
                        opened = r.opened,
                        updated = r.updated,
                        closed = r.closed,
                        alerts = r.alerts,
                        "reviewed due parcels"
                    );
                }
                if r.reviewed < u64::from(SWEEP_BATCH) {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "parcel sweep failed; will retry");
                break;
            }
        }
    }
    // The sweeps may have owed customers messages (delays, parcel problems, deliveries).
    state.send_now.notify_one();
}
