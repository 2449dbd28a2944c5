//! The live demo: Canyon Clay Co., a small pottery shop in Flagstaff, Arizona, selling on its
//! own Shopify store and on Amazon. The store simulator (`sim`) plays the last week in
//! a few seconds, then keeps the shop running on a clock `--speed` times faster than real
//! time while herald serves it: orders, parcels moving and going wrong, the label-service
//! outage and its status page incident. Messages go to a Maildir folder and are shown in the
//! console as they leave.

use crate::sim;
use anyhow::{Context, Result};
use herald_server::clock::Clock;
use jiff::{SignedDuration, Timestamp};

/// A small deterministic generator (xorshift64*): the demo is the same on every machine.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

pub(crate) const FIRST: &[&str] = &[
    "Ava", "Noah", "Mia", "Liam", "Sofia", "Mateo", "Isla", "Ezra", "Nora", "Kai", "Lucia", "Owen",
    "Maya", "Eli", "Rosa", "Jonah",
];
pub(crate) const LAST: &[&str] = &[
    "Begay", "Garcia", "Nguyen", "Smith", "Yazzie", "Patel", "Kim", "Lopez", "Walker", "Chee",
    "Johnson", "Rivera",
];
pub(crate) const PRODUCTS: &[(&str, &str, &str)] = &[
    ("MUG-SAND", "Sandstone mug", "28.00"),
    ("MUG-JUNI", "Juniper mug", "28.00"),
    ("BWL-MESA", "Mesa serving bowl", "64.00"),
    ("PLT-DUSK", "Dusk dinner plate", "34.00"),
    ("VSE-PEAK", "San Francisco Peaks vase", "89.00"),
    ("CUP-ESP", "Espresso cup pair", "36.00"),
];

/// What `herald demo` was asked for.
pub struct Options {
    pub speed: f64,
    pub shop: sim::Shop,
}

/// How much of the shop's past the demo plays before it goes live.
const HISTORY: SignedDuration = SignedDuration::from_hours(7 * 24);

/// Runs the demo until Ctrl-C.
pub async fn run(mut cfg: crate::config::Config, opts: &Options) -> Result<()> {
    let dir = tempfile::Builder::new().prefix("herald-demo-").tempdir()?;
    cfg.database_url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let maildir = dir.path().join("maildir");
    let labels = sim::label_service::LabelService::start().await?;
    sim::configure(&mut cfg, &maildir, &labels.url)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: pass --listen 127.0.0.1:8081 or another free port",
                cfg.listen
            )
        })?;
    let base = format!("http://{}", listener.local_addr()?);
    cfg.public_url = Some(base.clone());
    let now = Timestamp::now();
    let spec = sim::world::Spec {
        start: now - HISTORY,
        days: opts.shop.days + 7,
        orders_per_day: opts.shop.orders_per_day,
        seed: opts.shop.seed,
        // Half an hour into the live demo: a minute at the default speed.
        outage_at: Some(now + SignedDuration::from_mins(30)),
    };
    let world = sim::world::build(&spec, &cfg.policy, &cfg.watch);
    let clock = Clock::manual(spec.start);
    let (state, api) = sim::herald(&cfg, clock.clone()).await?;
    let mut driver = sim::drive::Driver::new(&world, api.clone(), &labels);
    driver.set_up_status_page().await?;
    println!(
        "herald demo: {} (Flagstaff, Arizona) on Shopify and Amazon; playing the last week...",
        cfg.store_name
    );
    sim::run_until(&mut driver, &state, &clock, now, false).await?;
    let shown = state
        .store
        .list_messages(&herald_store::MessageFilter {
            limit: 1,
            ..Default::default()
        })
        .await?
        .items
        .first()
        .map_or(0, |m| m.id);
    clock.run(opts.speed);
    let token = api.token.clone();
    println!("  URL:     {base}            (the public status page)");
    println!("  token:   {token}   (the owner's login: a Bearer token for /api/v1)");
    println!(
        "  speed:   {}x ({} of store time per second); the label service fails 30 store minutes from now",
        opts.speed,
        human(opts.speed)
    );
    println!("  mail:    {} (a Maildir: mutt -f {0})", maildir.display());
    println!("  try:     curl -H 'Authorization: Bearer {token}' '{base}/api/v1/cases?open=true'");
    println!(
        "           curl -H 'Authorization: Bearer {token}' '{base}/api/v1/orders?ship_by_state=at_risk'"
    );
    println!("           curl -H 'Authorization: Bearer {token}' {base}/api/v1/alerts");
    println!("           curl -H 'Authorization: Bearer {token}' '{base}/api/v1/messages?limit=5'");
    println!(
        "           {base}/t/...   a buyer's tracking page: tracking_page in GET /api/v1/orders/ID"
    );
    println!(
        "  data:    {} (removed when the demo stops; Ctrl-C to stop)",
        dir.path().display()
    );
    println!("  messages as they leave (store time):");
    let server = tokio::spawn(herald_server::launch(
        listener,
        state.clone(),
        herald_server::shutdown_signal(),
    ));
    let viewer = tokio::spawn(outbox_viewer(state.clone(), shown));
    let mut finished = false;
    while !server.is_finished() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let now = clock.now();
        if let Err(e) = driver.feed_until(now).await {
            tracing::warn!(error = %e, "the demo store could not feed herald");
        }
        if let Err(e) = driver.act(now).await {
            tracing::warn!(error = %e, "the demo seller could not update the status page");
        }
        if driver.done() && !finished {
            finished = true;
            println!("  (the simulated month is over; herald keeps serving until Ctrl-C)");
        }
    }
    viewer.abort();
    server.await??;
    Ok(())
}

fn human(speed: f64) -> String {
    match speed {
        s if s >= 3600.0 => format!("{:.1} hours", s / 3600.0),
        s if s >= 60.0 => format!("{:.0} minutes", s / 60.0),
        s => format!("{s:.0} seconds"),
    }
}

/// Prints each message as it leaves: when (store time), to whom, what.
async fn outbox_viewer(state: herald_server::AppState, mut shown: i64) {
    let tz = state.policy.time_zone.clone();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let Ok(page) = state
            .store
            .list_messages(&herald_store::MessageFilter {
                limit: 200,
                ..Default::default()
            })
            .await
        else {
            continue;
        };
        // Newest first: print the settled ones after the last shown, oldest first, and stop
        // at the first still on its way (it is printed once it leaves).
        let mut fresh: Vec<&herald_store::Message> =
            page.items.iter().filter(|m| m.id > shown).collect();
        fresh.reverse();
        for m in fresh {
            let icon = match m.status.as_str() {
                "sent" => "mail",
                "marketplace" => "amazon",
                "skipped" => "skipped",
                "dead" => "FAILED",
                _ => break,
            };
            shown = m.id;
            if m.status == "skipped" {
                continue;
            }
            let at = m.sent_at.unwrap_or(m.updated_at).to_zoned(tz.clone());
            println!(
                "  {} {:<7} {:<18} -> {:<44} {}",
                at.strftime("%a %H:%M"),
                icon,
                m.kind,
                m.recipient.as_deref().unwrap_or("-"),
                m.subject.as_deref().unwrap_or("")
            );
        }
    }
}
