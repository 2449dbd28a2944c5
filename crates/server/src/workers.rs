//! Background work that runs beside the HTTP service: raising at-risk and late alerts as their
//! moments come. The sweep reads only orders whose next alert is due (an indexed column), so
//! its cost follows the number of orders due, not the number stored.

use crate::AppState;
use tokio::sync::watch;

/// Orders examined per sweep transaction.
const SWEEP_BATCH: u32 = 1_000;

pub async fn alert_sweeper(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.settings.alert_sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match state
            .store
            .raise_due_alerts(jiff::Timestamp::now(), SWEEP_BATCH)
            .await
        {
            Ok(0) => {}
            Ok(n) => {
                metrics::counter!("herald_alerts_raised_total").increment(n);
                tracing::info!(alerts = n, "raised seller alerts");
            }
            Err(e) => tracing::warn!(error = %e, "alert sweep failed; will retry"),
        }
    }
}
