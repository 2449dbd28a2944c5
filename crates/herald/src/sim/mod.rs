//! The store simulator behind `herald demo` and `herald simulate`.
//!
//! [`world`] draws a month of Canyon Clay Co. from a seed: orders, shipping, parcels and their
//! scans, the problems, the label-service outage. [`drive`] feeds it to herald through the
//! HTTP API and plays the seller. [`score`] measures the outcome against the world's truth.
//!
//! `herald simulate` runs it in virtual time: a manual clock the loop below moves from one
//! moment to the next (every five minutes, and exactly when the seller acts), calling herald's
//! background workers itself after each move ([`herald_server::work_once`]). The demo runs
//! the same world and driver against a live server on a scaled clock.

pub mod drive;
pub mod label_service;
pub mod score;
pub mod world;

use crate::config::Config;
use anyhow::{Context, Result};
use herald_server::AppState;
use herald_server::clock::Clock;
use jiff::{SignedDuration, Timestamp};

/// The shop to run, as `herald demo` and `herald simulate` take it.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Shop {
    /// How long the store takes orders, in store days.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Orders on an ordinary Wednesday (busier days and the holiday surge scale from it).
    #[arg(long, default_value_t = 200)]
    pub orders_per_day: u32,
    /// The same seed gives the same world, and the same report.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

impl Shop {
    /// Refuses sizes the simulator is not made for.
    pub fn check(&self) -> Result<()> {
        if !(1..=366).contains(&self.days) || !(1..=100_000).contains(&self.orders_per_day) {
            anyhow::bail!("--days must be 1 to 366 and --orders-per-day 1 to 100000");
        }
        Ok(())
    }
}

/// What `herald simulate` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub shop: Shop,
    pub start: Timestamp,
}

/// How far the clock moves at most between two rounds of herald's workers.
pub const STEP: SignedDuration = SignedDuration::from_mins(5);
/// The step while a status page incident is open.
pub const FINE_STEP: SignedDuration = SignedDuration::from_mins(1);

/// The demo store's settings on top of `cfg`: Canyon Clay Co. in Flagstaff (Arizona keeps no
/// daylight saving time), two days of handling, messages into `maildir` instead of SMTP, the
/// seller's alerts to the studio's address, and a monitor on its label service at
/// `label_health` (three failed checks a minute apart put Order shipping in partial outage).
pub fn configure(cfg: &mut Config, maildir: &std::path::Path, label_health: &str) -> Result<()> {
    cfg.store_name = "Canyon Clay Co.".into();
    let tz = jiff::tz::TimeZone::get("America/Phoenix")?;
    cfg.policy.time_zone = tz.clone();
    cfg.policy.handling_days.insert("amazon".into(), 2);
    cfg.policy.handling_days.insert("shopify".into(), 2);
    cfg.watch.time_zone = tz;
    cfg.mail.smtp_url = None;
    cfg.mail.maildir = Some(maildir.to_path_buf());
    cfg.mail.from = Some("Canyon Clay Co. <orders@canyonclay.shop>".into());
    cfg.mail.reply_to = Some("studio@canyonclay.shop".into());
    cfg.notify.seller_email = Some("studio@canyonclay.shop".into());
    cfg.status.monitors = vec![herald_core::status::monitor::Monitor {
        name: "Label service".into(),
        url: label_health.into(),
        component: "Order shipping".into(),
        interval: SignedDuration::from_secs(60),
        timeout: SignedDuration::from_secs(5),
        failures: 3,
        down_status: herald_core::status::ComponentStatus::PartialOutage,
        open_incident: true,
    }];
    Ok(())
}

/// herald on `cfg`'s (fresh) database, running on `clock`, with an API token for the store's
/// systems and the router they call.
pub async fn herald(cfg: &Config, clock: Clock) -> Result<(AppState, drive::Api)> {
    let store = crate::open_store(cfg).await?;
    let token = crate::new_token();
    store
        .create_token("store", &herald_store::hash_token(&token), clock.now())
        .await?;
    let mut state = crate::app_state(cfg, store);
    state.clock = clock;
    let api = drive::Api {
        router: herald_server::router(state.clone()),
        token,
    };
    Ok((state, api))
}

/// Moves the manual `clock` from where it stands to `until` (and, with `finish`, on until the
/// seller has nothing left to do), feeding the world and running herald's workers at each
/// moment. Returns the moment it stopped at.
pub async fn run_until(
    driver: &mut drive::Driver<'_>,
    state: &AppState,
    clock: &Clock,
    until: Timestamp,
    finish: bool,
) -> Result<Timestamp> {
    let mut now = clock.now();
    loop {
        clock.set(now);
        driver.feed_until(now).await?;
        herald_server::work_once(state)
            .await
            .context("herald's workers")?;
        // The seller sees herald's alerts of this moment (an e-mail, the alerts list).
        driver.act(now).await?;
        if now >= until && (!finish || driver.done()) {
            return Ok(now);
        }
        // herald's monitor checks every minute and its status clock every second: while the
        // outage is on, the loop moves a minute at a time, so the monitor sees the service
        // fail and the reminders reach the seller when they would.
        let mut next = now + if driver.outage_on() { FINE_STEP } else { STEP };
        if let Some(t) = driver.next_step_at() {
            next = next.min(t.max(now + SignedDuration::from_secs(1)));
        }
        if !finish {
            next = next.min(until);
        }
        now = next;
    }
}

/// Runs a whole simulation in virtual time and scores it.
pub async fn simulate(opts: &Options, mut cfg: Config) -> Result<score::Report> {
    // The run's database and Maildir are thrown away at the end: on a RAM-backed folder
    // where the machine has one, file syncs cost nothing.
    let shm = std::path::Path::new("/dev/shm");
    let mut dir = tempfile::Builder::new();
    dir.prefix("herald-simulate-");
    let dir = if shm.is_dir() {
        dir.tempdir_in(shm).or_else(|_| dir.tempdir())?
    } else {
        dir.tempdir()?
    };
    cfg.database_url = format!("sqlite://{}", dir.path().join("simulate.db").display());
    let maildir = dir.path().join("maildir");
    let labels = label_service::LabelService::start().await?;
    configure(&mut cfg, &maildir, &labels.url)?;
    let spec = world::Spec {
        start: opts.start,
        days: opts.shop.days,
        orders_per_day: opts.shop.orders_per_day,
        seed: opts.shop.seed,
        outage_at: None,
    };
    let world = world::build(&spec, &cfg.policy, &cfg.watch);
    let clock = Clock::manual(opts.start);
    let (state, api) = herald(&cfg, clock.clone()).await?;
    let mut driver = drive::Driver::new(&world, api.clone(), &labels);
    driver.set_up_status_page().await?;
    // Run until everything has happened and the last problem has had a day to be told.
    let last_detectable = world.parcels.iter().filter_map(|p| p.detectable_at).max();
    let end =
        world.ends_at().max(last_detectable.unwrap_or(opts.start)) + SignedDuration::from_hours(24);
    let now = run_until(&mut driver, &state, &clock, end, true).await?;
    let incident = match &driver.incident {
        Some(id) => Some(
            api.call(
                axum::http::Method::GET,
                &format!("/api/v1/status/incidents/{id}"),
                None,
                None,
            )
            .await?,
        ),
        None => None,
    };
    score::score(
        state.store.as_ref(),
        score::Run {
            world: &world,
            shipment_ids: &driver.shipment_ids,
            incident: incident.as_ref(),
            maildir: &maildir,
            ended_at: now,
        },
    )
    .await
}
