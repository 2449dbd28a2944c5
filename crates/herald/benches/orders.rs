//! Order benchmarks, run with `cargo bench -p herald --bench orders [-- ingest|import|list]`.
//!
//! - ingest: orders through `POST /api/v1/orders` (batches of 1,000, the real binary, SQLite)
//!   against a raw batched INSERT of the same rows into a SQLite database with the same schema
//!   and settings, measured in the same run; prints both rates and their ratio.
//! - import: `herald import shopify` of a 100,000-order export (a third with two line items).
//! - tracking: 100,000 tracking events for 10,000 known parcels through
//!   `POST /api/v1/tracking-events` (batches of 1,000; one request at a time, then two in
//!   flight), timed until no parcel they touched is left due for the sweep (every problem rule
//!   evaluated), then the same batches into the store alone; against a raw insert of the same
//!   rows (one request at a time and the store alone batch by batch, each batch followed at
//!   once by its raw insert; two in flight followed by its own raw insert), over three rounds;
//!   prints every round and the medians. Twice: with each
//!   batch's parcels neighbours in the shipments table and in tracking-number order (the
//!   friendliest case for the raw insert, whose index entries then cluster), and with them
//!   spread over all 10,000 (as parcels shipped on different days are scanned together).
//!   `tracking-neighbours` or `tracking-spread` runs one of the two.
//! - tracking-postgres: the same batches into the store alone on PostgreSQL (both shapes; a
//!   fresh database on `HERALD_BENCH_POSTGRES_URL`, default the local server); events/s.
//! - sweep: one parcel sweep reviewing the 1,000 due shipments among 100,000, 1,000,000 and
//!   5,000,000 watched (`HERALD_BENCH_SWEEP_SCALES=100000,1000000` to choose).
//! - list: 1,000,000 stored orders; p50/p99 of `GET /api/v1/orders?ship_by_state=at_risk`
//!   over 1,000 requests, and the server's peak resident memory; then lists of the orders
//!   shipped late, and of those placed in the last week, quarter and year, and in the last year
//!   in one channel (five pages each, through the cursor).

use herald_core::deadline::ShipByPolicy;
use herald_core::order::{NewOrder, OrderInput};
use herald_store::{SqliteStore, Store, StoreOptions};
use serde_json::{Value, json};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{BIN, shopify_export};

fn order_json(i: usize, placed: &str) -> Value {
    json!({
        "channel": if i.is_multiple_of(3) { "amazon" } else { "shopify" },
        "external_id": format!("B{i}"),
        "number": format!("#{}", 100_000 + i),
        "customer": {"name": "Buyer Name", "email": format!("buyer{i}@shopper.test"), "phone": "+1 928 555 0100"},
        "shipping_address": {"name": "Buyer Name", "line1": "1 Main St", "city": "Flagstaff", "region": "AZ", "postal_code": "86001", "country": "US"},
        "items": [{"sku": "MUG-1", "name": "Sandstone mug", "quantity": 2, "price": "28.00"},
                  {"sku": "CUP-2", "name": "Espresso cup pair", "quantity": 1, "price": "36.00"}],
        "currency": "USD", "subtotal": "92.00", "total": "99.50",
        "placed_at": placed, "paid_at": placed
    })
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(url: &str) -> Self {
        Self::start_with(url, &[])
    }

    /// As [`Server::start`], with more settings.
    fn start_with(url: &str, settings: &[(&str, &str)]) -> Self {
        let mut env = vec![
            ("HERALD_LOG__LEVEL", "warn,herald=info"),
            ("HERALD_STORE__TIME_ZONE", "America/Phoenix"),
            ("HERALD_ALERTS__SWEEP_INTERVAL_SECS", "1"),
        ];
        env.extend_from_slice(settings);
        let (child, base) = support::start_serve(url, &env);
        Self { child, base }
    }

    fn peak_rss_mb(&self) -> f64 {
        support::peak_rss_mb(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` orders as the benchmarks send them (`order_json`), validated.
fn orders_of(n: usize, placed: &str) -> Vec<NewOrder> {
    orders_edited(n, placed, |_| {})
}

/// As [`orders_of`], each order's JSON changed by `edit` first.
fn orders_edited(n: usize, placed: &str, edit: impl Fn(&mut Value)) -> Vec<NewOrder> {
    (0..n)
        .map(|i| {
            let mut order = order_json(i, placed);
            edit(&mut order);
            serde_json::from_value::<OrderInput>(order)
                .unwrap()
                .validate()
                .unwrap()
        })
        .collect()
}

fn token(url: &str) -> String {
    let out = Command::new(BIN)
        .args(["--database-url", url, "token", "create", "--name", "bench"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One round: the API on a fresh database, then the raw insert on another fresh database.
/// Returns (API orders/s, raw rows/s).
async fn ingest_round(round: usize) -> (f64, f64) {
    const N: usize = 100_000;
    const BATCH: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let api_url = format!("sqlite://{}/api.db", dir.path().display());
    let t = token(&api_url);
    let server = Server::start(&api_url);
    let placed = "2025-12-06T15:37:33Z";
    let bodies: Vec<Vec<u8>> = (0..N / BATCH)
        .map(|b| {
            serde_json::to_vec(
                &(b * BATCH..(b + 1) * BATCH)
                    .map(|i| order_json(i, placed))
                    .collect::<Vec<_>>(),
            )
            .unwrap()
        })
        .collect();
    let url = format!("{}/api/v1/orders", server.base);
    let started = Instant::now();
    // Two requests in flight: one is parsed while the other is written.
    post_all(&url, &t, &bodies, 2).await;
    let api_secs = started.elapsed().as_secs_f64();
    let api_rate = N as f64 / api_secs;
    let api_rss = server.peak_rss_mb();
    drop(server);

    // The same rows, inserted raw: same schema, same SQLite settings, same transaction size, one
    // prepared single-row INSERT (SQLite's fastest plain insert path).
    let raw_url = format!("sqlite://{}/raw.db", dir.path().display());
    let raw = SqliteStore::open(&raw_url, &StoreOptions::default())
        .await
        .unwrap();
    let policy = ShipByPolicy::default();
    let orders: Vec<NewOrder> = orders_of(N, placed);
    let rows: Vec<_> = orders
        .iter()
        .map(|o| {
            let sb = policy.ship_by(o.channel.as_str(), o.placed_at, o.latest_ship_date);
            (
                o.channel.to_string(),
                o.external_id.clone(),
                o.number.clone(),
                o.state().as_str(),
                o.customer.email.clone(),
                serde_json::to_string(o).unwrap(),
                o.placed_at.as_microsecond(),
                sb.deadline.as_microsecond(),
                sb.at_risk_from.as_microsecond(),
                // The same history herald records: placed and paid, learnt now.
                json!([
                    {"kind": "placed", "at": o.placed_at, "recorded_at": jiff::Timestamp::now()},
                    {"kind": "paid", "at": o.paid_at, "recorded_at": jiff::Timestamp::now()},
                ])
                .to_string(),
            )
        })
        .collect();
    let started = Instant::now();
    raw.with_writer(move |c| {
        for chunk in rows.chunks(BATCH) {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO orders (channel, external_id, number, state, customer_email, data, history, placed_at, ship_by, at_risk_from, awaiting_ship_by, alert_due_at, as_of, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?10, ?7, ?8, ?9, ?8, ?9, ?7, ?7, ?7)",
                )?;
                for r in chunk {
                    st.execute(rusqlite::params![r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9])?;
                }
            }
            tx.commit()?;
        }
        Ok(())
    })
    .await
    .unwrap();
    let raw_secs = started.elapsed().as_secs_f64();
    let raw_rate = N as f64 / raw_secs;
    println!(
        "ingest round {round}: api {api_rate:.0} orders/s ({api_secs:.2} s, server peak RSS {api_rss:.0} MB), raw {raw_rate:.0} rows/s ({raw_secs:.2} s), ratio {:.2}",
        api_rate / raw_rate
    );
    (api_rate, raw_rate)
}

/// Three interleaved rounds, so that a slow moment of the machine hits both sides alike;
/// the medians are the figures.
async fn ingest() {
    let mut api = Vec::new();
    let mut ratio = Vec::new();
    for round in 1..=3 {
        let (a, r) = ingest_round(round).await;
        api.push(a);
        ratio.push(a / r);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    println!(
        "ingest_api_sqlite: median {:.0} orders/s over 3 rounds of 100000 (target >= 20000)",
        median(&mut api)
    );
    println!(
        "ingest_ratio_api_to_raw: median {:.2} over 3 rounds (target >= 0.5)",
        median(&mut ratio)
    );
}

fn import() {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders_export.csv");
    let s = shopify_export(N, None, true);
    std::fs::write(&file, &s).unwrap();
    let url = format!("sqlite://{}/import.db", dir.path().display());
    Command::new(BIN)
        .args(["--database-url", &url, "migrate"])
        .output()
        .unwrap();
    let started = Instant::now();
    let out = Command::new(BIN)
        .args([
            "--database-url",
            &url,
            "import",
            "shopify",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "import_shopify_100k: {secs:.2} s for {} MB, {N} orders (target < 5 s): {}",
        s.len() / 1_000_000,
        String::from_utf8_lossy(&out.stdout).trim()
    );
}

async fn list() {
    const N: usize = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/million.db", dir.path().display());
    {
        let store = SqliteStore::open(&url, &StoreOptions::default())
            .await
            .unwrap();
        let policy = ShipByPolicy {
            time_zone: jiff::tz::TimeZone::get("America/Phoenix").unwrap(),
            ..ShipByPolicy::default()
        };
        let now = jiff::Timestamp::now();
        let started = Instant::now();
        // A year of history: almost all shipped; the last days' orders partly unshipped.
        for chunk_start in (0..N).step_by(5_000) {
            let batch: Vec<NewOrder> = (chunk_start..chunk_start + 5_000)
                .map(|i| {
                    let age_min = ((N - i) as i64 * 525_600) / N as i64; // spread over a year
                    let placed = now - jiff::SignedDuration::from_mins(age_min);
                    let mut j = order_json(i, &placed.to_string());
                    let recent = age_min <= 3 * 1440;
                    // 1% of older orders never shipped (late); of the recent unshipped ones, a
                    // fifth carry an Amazon-style latest ship date a few hours away (at risk).
                    let never_shipped = !recent && i % 100 == 7;
                    if (!recent && !never_shipped) || (recent && i.is_multiple_of(4)) {
                        j["shipped_at"] = json!(
                            (placed + jiff::SignedDuration::from_hours(20))
                                .min(now)
                                .to_string()
                        );
                    } else if recent && i % 5 == 1 {
                        j["latest_ship_date"] = json!(
                            (now + jiff::SignedDuration::from_mins(30 + (i % 180) as i64))
                                .to_string()
                        );
                    }
                    serde_json::from_value::<OrderInput>(j)
                        .unwrap()
                        .validate()
                        .unwrap()
                })
                .collect();
            store.upsert_orders(&batch, &policy, now).await.unwrap();
        }
        println!(
            "list_seed: {N} orders stored in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let t = token(&url);
    let server = Server::start(&url);
    let http = reqwest::Client::new();
    let mut at_risk_total = 0;
    let mut next: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/api/v1/orders?ship_by_state=at_risk&limit=1000",
            server.base
        );
        if let Some(c) = &next {
            url += &format!("&cursor={c}");
        }
        let r: Value = get_json(&http, &url, &t).await;
        at_risk_total += r["orders"].as_array().unwrap().len();
        match r["next_cursor"].as_str() {
            Some(c) => next = Some(c.to_string()),
            None => break,
        }
    }
    let u = format!(
        "{}/api/v1/orders?ship_by_state=at_risk&limit=100",
        server.base
    );
    let mut times = Vec::with_capacity(1000);
    let mut listed = 0;
    for i in 0..1100 {
        let started = Instant::now();
        let r: Value = get_json(&http, &u, &t).await;
        let took = started.elapsed();
        if i >= 100 {
            times.push(took);
        }
        listed = r["orders"].as_array().unwrap().len();
    }
    times.sort();
    let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "list_at_risk_1M: {at_risk_total} orders at risk, {listed} per page; p50 {:.2} ms, p99 {:.2} ms over {} requests (target p99 < 20 ms); server peak RSS {:.0} MB (target < 200 MB)",
        ms(p(0.5)),
        ms(p(0.99)),
        times.len(),
        server.peak_rss_mb()
    );
    // The orders that shipped after their deadline (few: here none), as a seller checks.
    let u = format!(
        "{}/api/v1/orders?ship_by_state=shipped_late&limit=100",
        server.base
    );
    let mut times = Vec::new();
    let mut late = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let r: Value = get_json(&http, &u, &t).await;
        times.push(started.elapsed());
        late = r["orders"].as_array().unwrap().len();
    }
    times.sort();
    println!(
        "list_shipped_late_1M: {late} orders on the first page; median {:.2} ms, slowest {:.2} ms over 20 requests",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
    );
    // Orders placed in a date range, as a seller looks back over a week, a quarter or the
    // whole year: the first page, then four more through the cursor.
    let now = jiff::Timestamp::now();
    for (label, days, also) in [
        ("week", 7, ""),
        ("quarter", 91, ""),
        ("year", 366, ""),
        ("year_of_a_channel", 366, "&channel=shopify"),
    ] {
        let from = now - jiff::SignedDuration::from_hours(24 * days);
        let first = format!(
            "{}/api/v1/orders?placed_from={from}&placed_to={now}&limit=100{also}",
            server.base
        );
        let mut times = Vec::new();
        for _ in 0..10 {
            let started = Instant::now();
            let mut next: Option<String> = None;
            for _ in 0..5 {
                let url = match &next {
                    Some(c) => format!("{first}&cursor={c}"),
                    None => first.clone(),
                };
                let r: Value = get_json(&http, &url, &t).await;
                assert_eq!(r["orders"].as_array().unwrap().len(), 100, "{r}");
                next = r["next_cursor"].as_str().map(str::to_string);
            }
            times.push(started.elapsed() / 5);
        }
        times.sort();
        println!(
            "list_placed_{label}_1M: orders placed in the last {days} days, 100 a page: median {:.2} ms a page, slowest {:.2} ms (five pages through the cursor, ten times)",
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[times.len() - 1].as_secs_f64() * 1000.0,
        );
    }
}

/// GETs `url` with the token as bearer: the JSON answer.
async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// How a batch's parcels lie among the watched ones.
#[derive(Clone, Copy, PartialEq)]
enum Parcels {
    /// 1,000 neighbours: consecutive shipment rows and tracking numbers.
    Neighbours,
    /// Spread over all the watched parcels (a permutation of them).
    Spread,
}

/// How many parcels the tracking benchmark watches, and how many scans each gets.
const PARCELS: usize = 10_000;
const PER: usize = 10;

/// When the tracking benchmark's parcels were first scanned: six hours apart, the last one six
/// hours ago.
fn first_scan() -> jiff::Timestamp {
    jiff::Timestamp::now() - jiff::SignedDuration::from_hours(6 * PER as i64)
}

/// Stores `PARCELS` orders, each with a healthy parcel (as most are): labelled two hours before
/// the carrier's first scan at `base`.
async fn watched_parcels(store: &dyn Store, base: jiff::Timestamp) {
    use herald_core::tracking::NewShipment;
    // Shipped orders, as the orders of parcels in transit are: no late-order alerts compete
    // with the scans.
    let placed = "2025-12-06T15:37:33Z";
    let orders = orders_edited(PARCELS, placed, |o| {
        o["shipped_at"] = json!("2025-12-07T15:37:33Z");
    });
    let ids = store
        .upsert_orders(&orders, &ShipByPolicy::default(), jiff::Timestamp::now())
        .await
        .unwrap();
    for (i, u) in ids.iter().enumerate() {
        let s = NewShipment {
            order_id: u.id,
            carrier: "usps".into(),
            tracking_number: format!("9400{i:018}"),
            service: Some("Priority Mail".into()),
            label_created_at: Some(base - jiff::SignedDuration::from_hours(2)),
            origin_postal_code: Some("86001".into()),
            destination_postal_code: Some(
                ["07030", "10001", "60601", "94103", "33101"][i % 5].into(),
            ),
            estimated_delivery: None,
        };
        store
            .upsert_shipment(&s, jiff::Timestamp::now())
            .await
            .unwrap();
    }
}

/// `PER` scans of every parcel from `base` on, in the order they are sent: each batch of 1,000
/// holds 1,000 parcels laid out as `shape` says.
fn scans(shape: Parcels, base: jiff::Timestamp) -> Vec<herald_core::tracking::TrackingEvent> {
    use herald_core::tracking::{ScanLocation, TrackingEvent, TrackingStatus};
    (0..PARCELS * PER)
        .map(|n| {
            let step = n / PARCELS;
            // 7,919 is prime and does not divide 10,000: multiplying by it permutes the parcels.
            let parcel = match shape {
                Parcels::Neighbours => n % PARCELS,
                Parcels::Spread => (n % PARCELS) * 7_919 % PARCELS,
            };
            TrackingEvent {
                carrier: "usps".into(),
                tracking_number: format!("9400{parcel:018}"),
                status: if step == 0 {
                    TrackingStatus::Accepted
                } else {
                    TrackingStatus::InTransit
                },
                occurred_at: base + jiff::SignedDuration::from_hours(step as i64 * 6),
                description: Some("Arrived at facility".into()),
                location: Some(ScanLocation {
                    city: Some("Phoenix".into()),
                    region: Some("AZ".into()),
                    ..Default::default()
                }),
            }
        })
        .collect()
}

/// Business days the tracking benchmark's seller allows a parcel before its first carrier scan.
/// The benchmark's parcels were labelled 62 hours before it runs and are scanned only then;
/// with the default of one business day the rule fired on some days and hours and not on
/// others, and such a run also opened and closed 10,000 cases.
const NOT_ACCEPTED_BUSINESS_DAYS: u32 = 10;

/// The watch policy of the tracking benchmark's seller.
fn bench_watch_policy() -> herald_core::watch::WatchPolicy {
    herald_core::watch::WatchPolicy {
        time_zone: jiff::tz::TimeZone::get("America/Phoenix").unwrap(),
        thresholds: herald_core::problems::Thresholds {
            not_accepted_business_days: NOT_ACCEPTED_BUSINESS_DAYS,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn shape_label(shape: Parcels) -> &'static str {
    match shape {
        Parcels::Neighbours => "neighbouring parcels",
        Parcels::Spread => "spread parcels",
    }
}

async fn tracking(shape: Parcels) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/tracking.db", dir.path().display());
    let base = first_scan();
    {
        let store = SqliteStore::open(&url, &StoreOptions::default())
            .await
            .unwrap();
        watched_parcels(&store, base).await;
    }
    let events = scans(shape, base);
    let bodies: Vec<Vec<u8>> = events
        .chunks(1_000)
        .map(|c| serde_json::to_vec(c).unwrap())
        .collect();
    let watch = bench_watch_policy();
    let raw_batches = raw_rows(&events);
    // This machine's speed drifts by a fifth from one minute to the next. One request at a
    // time and the store alone are therefore measured in pairs: each batch is followed at once
    // by the raw insert of its rows into a database of its own, and each side's times are
    // summed, so both see the machine in the same state (these healthy parcels leave the
    // server's sweep nothing to do while the raw insert runs). Two requests in flight cannot be
    // paired batch by batch; that way is followed by its own raw insert. Three rounds; the
    // medians are reported.
    let label = shape_label(shape);
    let (mut one, mut two, mut alone) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..3 {
        for (way, results) in [("one", &mut one), ("two", &mut two), ("store", &mut alone)] {
            let db = format!("{way}{round}.db");
            std::fs::copy(dir.path().join("tracking.db"), dir.path().join(&db)).unwrap();
            let raw_db = format!("raw-{db}");
            let (rate, raw) = match way {
                "one" => tracking_api_paired(dir.path(), &db, &raw_db, &bodies, &raw_batches).await,
                "two" => (
                    tracking_api(dir.path(), &db, &bodies, 2).await,
                    raw_tracking_insert(dir.path(), &raw_db, &raw_batches).await,
                ),
                _ => {
                    tracking_store_paired(dir.path(), &db, &raw_db, &events, &raw_batches, &watch)
                        .await
                }
            };
            println!(
                "tracking ({label}) round {round} {way}: {rate:.0} events/s with the rules, raw insert {raw:.0} rows/s, ratio {:.2}",
                rate / raw
            );
            results.push((rate, rate / raw));
        }
    }
    let median = |v: &mut Vec<(f64, f64)>| {
        let mut rates: Vec<f64> = v.iter().map(|r| r.0).collect();
        let mut ratios: Vec<f64> = v.iter().map(|r| r.1).collect();
        rates.sort_by(f64::total_cmp);
        ratios.sort_by(f64::total_cmp);
        (rates[rates.len() / 2], ratios[ratios.len() / 2])
    };
    let (rate, ratio) = median(&mut one);
    println!(
        "tracking_events_sqlite ({label}): median {rate:.0} events/s with every touched parcel's rules evaluated, one request at a time; median ratio to the raw insert {ratio:.2} (target: at least 20000 events/s and 0.5)"
    );
    let (rate, ratio) = median(&mut two);
    println!(
        "tracking_events_sqlite_two_in_flight ({label}): median {rate:.0} events/s with the rules (two requests at a time, as providers deliver); median ratio {ratio:.2}"
    );
    let (rate, ratio) = median(&mut alone);
    println!(
        "tracking_events_store_alone ({label}): median {rate:.0} events/s with the rules (no HTTP); median ratio {ratio:.2}"
    );
}

/// A SQLite store on `db` in `dir`, with herald's schema and default settings.
async fn open_store(dir: &std::path::Path, db: &str) -> SqliteStore {
    SqliteStore::open(
        &format!("sqlite://{}/{db}", dir.display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap()
}

/// The same batches straight into `ingest_tracking_events` of a store on `db` (the rules in
/// its transaction), then one sweep for whatever they left due, each batch paired with the raw
/// insert of its rows into `raw_db`: (events/s with the rules, raw rows/s).
async fn tracking_store_paired(
    dir: &std::path::Path,
    db: &str,
    raw_db: &str,
    events: &[herald_core::tracking::TrackingEvent],
    raw_batches: &[Vec<RawRow>],
    watch: &herald_core::watch::WatchPolicy,
) -> (f64, f64) {
    let (store, raw) = (open_store(dir, db).await, open_store(dir, raw_db).await);
    let review = || store.review_due_shipments(watch, jiff::Timestamp::now(), u32::MAX);
    review().await.unwrap();
    let (mut ruled, mut raw_took) = (Duration::ZERO, Duration::ZERO);
    for (batch, rows) in events.chunks(1_000).zip(raw_batches) {
        // The store takes its events; copied before the clock starts, as the raw insert's
        // rows are.
        let batch = batch.to_vec();
        let started = Instant::now();
        store
            .ingest_tracking_events(batch, watch, jiff::Timestamp::now())
            .await
            .unwrap();
        ruled += started.elapsed();
        raw_took += raw_batch(&raw, rows.clone()).await;
    }
    let started = Instant::now();
    review().await.unwrap();
    ruled += started.elapsed();
    let n = events.len() as f64;
    (n / ruled.as_secs_f64(), n / raw_took.as_secs_f64())
}

/// `events` in batches of 1,000 straight into `store.ingest_tracking_events`, one batch at a
/// time, then one sweep for whatever they left due: events per second.
async fn ingest_all(
    store: &dyn Store,
    events: &[herald_core::tracking::TrackingEvent],
    watch: &herald_core::watch::WatchPolicy,
) -> f64 {
    store
        .review_due_shipments(watch, jiff::Timestamp::now(), u32::MAX)
        .await
        .unwrap();
    let batches: Vec<Vec<_>> = events.chunks(1_000).map(<[_]>::to_vec).collect();
    let started = Instant::now();
    for batch in batches {
        store
            .ingest_tracking_events(batch, watch, jiff::Timestamp::now())
            .await
            .unwrap();
    }
    store
        .review_due_shipments(watch, jiff::Timestamp::now(), u32::MAX)
        .await
        .unwrap();
    events.len() as f64 / started.elapsed().as_secs_f64()
}

/// The tracking benchmark's batches into the store alone on PostgreSQL: a fresh database on the
/// server of `HERALD_BENCH_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
/// dropped afterwards; skipped with a note when that server cannot be reached.
async fn tracking_postgres(shape: Parcels) {
    let admin = std::env::var("HERALD_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("herald_bench_{}", std::process::id());
    let psql = |sql: String| {
        Command::new("psql")
            .args([admin.as_str(), "-qc", &sql])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    psql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    if !psql(format!("CREATE DATABASE {name}")) {
        println!("tracking_events_postgres: skipped, cannot create a database on {admin}");
        return;
    }
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let base = first_scan();
    let rate = {
        let store = herald_store::open(&url, &StoreOptions::default())
            .await
            .unwrap();
        watched_parcels(&*store, base).await;
        ingest_all(&*store, &scans(shape, base), &bench_watch_policy()).await
    };
    println!(
        "tracking_events_postgres ({}): {rate:.0} events/s with every touched parcel's rules evaluated, into the store alone, one batch at a time",
        shape_label(shape)
    );
    psql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// One tracking event's row as the raw insert writes it: carrier, tracking number, dedupe
/// key, the event as JSON, when it occurred.
type RawRow = (String, String, String, String, i64);

/// The events' rows for the raw insert, in batches of 1,000.
fn raw_rows(events: &[herald_core::tracking::TrackingEvent]) -> Vec<Vec<RawRow>> {
    events
        .chunks(1_000)
        .map(|c| {
            c.iter()
                .map(|e| {
                    (
                        e.carrier.clone(),
                        e.tracking_number.clone(),
                        e.dedupe_key(),
                        serde_json::to_string(e).unwrap(),
                        e.occurred_at.as_microsecond(),
                    )
                })
                .collect()
        })
        .collect()
}

/// One batch of rows inserted raw, in one transaction, into `raw`: how long it took.
async fn raw_batch(raw: &SqliteStore, rows: Vec<RawRow>) -> Duration {
    let started = Instant::now();
    raw.with_writer(move |c| {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO tracking_events (carrier, tracking_number, dedupe_key, event, occurred_at, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?;
            for r in &rows {
                st.execute(rusqlite::params![r.0, r.1, r.2, r.3, r.4])?;
            }
        }
        tx.commit()?;
        Ok(())
    })
    .await
    .unwrap();
    started.elapsed()
}

/// The batches' rows inserted raw into a fresh database `db` with herald's schema and
/// settings, a transaction per batch: rows per second.
async fn raw_tracking_insert(dir: &std::path::Path, db: &str, batches: &[Vec<RawRow>]) -> f64 {
    let raw = open_store(dir, db).await;
    let mut took = Duration::ZERO;
    for rows in batches {
        took += raw_batch(&raw, rows.clone()).await;
    }
    batches.iter().map(Vec::len).sum::<usize>() as f64 / took.as_secs_f64()
}

/// Posts one JSON body to `url` with the token as bearer; panics on any answer but 2xx.
async fn post(http: &reqwest::Client, url: &str, token: &str, body: Vec<u8>) {
    let r = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

/// Posts every body to `url` (JSON, the token as bearer), `in_flight` requests at a time;
/// panics on any answer but 2xx.
async fn post_all(url: &str, token: &str, bodies: &[Vec<u8>], in_flight: usize) {
    let http = reqwest::Client::new();
    let lanes: Vec<_> = (0..in_flight)
        .map(|lane| {
            let (http, url, token) = (http.clone(), url.to_string(), token.to_string());
            let mine: Vec<Vec<u8>> = bodies
                .iter()
                .skip(lane)
                .step_by(in_flight)
                .cloned()
                .collect();
            tokio::spawn(async move {
                for body in mine {
                    post(&http, &url, &token, body).await;
                }
            })
        })
        .collect();
    for lane in lanes {
        lane.await.unwrap();
    }
}

/// A herald server on a tracking benchmark's database, with an API token.
struct TrackingServer {
    server: Server,
    token: String,
    db_path: std::path::PathBuf,
}

impl TrackingServer {
    /// Starts a server on `db` (in `dir`) and waits until every parcel's review so far is
    /// done, so the rules start from a clean slate.
    fn start(dir: &std::path::Path, db: &str) -> Self {
        let url = format!("sqlite://{}/{db}", dir.display());
        let token = token(&url);
        let s = Self {
            server: Server::start_with(
                &url,
                &[(
                    "HERALD_WATCH__NOT_ACCEPTED_BUSINESS_DAYS",
                    &NOT_ACCEPTED_BUSINESS_DAYS.to_string(),
                )],
            ),
            token,
            db_path: dir.join(db),
        };
        s.wait_reviewed();
        s
    }

    fn events_url(&self) -> String {
        format!("{}/api/v1/tracking-events", self.server.base)
    }

    /// Waits until no parcel is due for the sweep by now: every rule has been evaluated.
    fn wait_reviewed(&self) {
        let at_us = jiff::Timestamp::now().as_microsecond();
        let c = rusqlite::Connection::open_with_flags(
            &self.db_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let due = || -> i64 {
            c.query_row(
                "SELECT COUNT(*) FROM shipments WHERE next_check_at <= ?1",
                [at_us],
                |r| r.get(0),
            )
            .unwrap()
        };
        while due() > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Posts `bodies` to `POST /api/v1/tracking-events` of a server on `db` (in `dir`), `in_flight`
/// requests at a time; events per second until no parcel they touched is left due for the
/// sweep (every rule evaluated).
async fn tracking_api(
    dir: &std::path::Path,
    db: &str,
    bodies: &[Vec<u8>],
    in_flight: usize,
) -> f64 {
    let s = TrackingServer::start(dir, db);
    let started = Instant::now();
    post_all(&s.events_url(), &s.token, bodies, in_flight).await;
    s.wait_reviewed();
    (bodies.len() * 1_000) as f64 / started.elapsed().as_secs_f64()
}

/// As [`tracking_api`] one request at a time, each request paired with the raw insert of its
/// rows into `raw_db`: (events/s with the rules, raw rows/s).
async fn tracking_api_paired(
    dir: &std::path::Path,
    db: &str,
    raw_db: &str,
    bodies: &[Vec<u8>],
    raw_batches: &[Vec<RawRow>],
) -> (f64, f64) {
    let raw = open_store(dir, raw_db).await;
    let s = TrackingServer::start(dir, db);
    let (url, http) = (s.events_url(), reqwest::Client::new());
    let (mut ruled, mut raw_took) = (Duration::ZERO, Duration::ZERO);
    for (body, rows) in bodies.iter().zip(raw_batches) {
        let body = body.clone();
        let started = Instant::now();
        post(&http, &url, &s.token, body).await;
        ruled += started.elapsed();
        raw_took += raw_batch(&raw, rows.clone()).await;
    }
    let started = Instant::now();
    s.wait_reviewed();
    ruled += started.elapsed();
    let n = (bodies.len() * 1_000) as f64;
    (n / ruled.as_secs_f64(), n / raw_took.as_secs_f64())
}

/// `tracking-prepare DIR`: writes the tracking benchmark's database (`tracking.db`, its parcels
/// labelled and waiting for scans), its batches of neighbouring parcels (`body0.json`, ...) and
/// an API token (`token`) into DIR. `tracking-raw DIR N`: inserts the rows of the first N of
/// those batches raw, a transaction each, into `DIR/raw.db`.
async fn tracking_files(mode: &str, dir: &std::path::Path, rest: &[String]) {
    let base = first_scan();
    let events = scans(Parcels::Neighbours, base);
    if mode == "tracking-raw" {
        let n: usize = rest
            .first()
            .and_then(|n| n.parse().ok())
            .expect("tracking-raw DIR N");
        let raw = open_store(dir, "raw.db").await;
        for rows in raw_rows(&events).into_iter().take(n) {
            raw_batch(&raw, rows).await;
        }
        return;
    }
    watched_parcels(&open_store(dir, "tracking.db").await, base).await;
    for (i, batch) in events.chunks(1_000).enumerate() {
        std::fs::write(
            dir.join(format!("body{i}.json")),
            serde_json::to_vec(batch).unwrap(),
        )
        .unwrap();
    }
    let db = format!("sqlite://{}/tracking.db", dir.display());
    std::fs::write(dir.join("token"), token(&db)).unwrap();
}

/// A SQLite database holding `watched` open shipments (each with one acceptance scan, moving
/// normally), of which `due` are due for review now.
async fn watched_store(dir: &std::path::Path, watched: usize, due: usize) -> SqliteStore {
    let store = open_store(dir, "sweep.db").await;
    let order: Vec<NewOrder> = vec![
        serde_json::from_value::<OrderInput>(order_json(0, "2025-12-06T15:37:33Z"))
            .unwrap()
            .validate()
            .unwrap(),
    ];
    store
        .upsert_orders(&order, &ShipByPolicy::default(), jiff::Timestamp::now())
        .await
        .unwrap();
    let now = jiff::Timestamp::now().as_microsecond();
    let scan_at = now - 3_600_000_000;
    let later = now + 86_400_000_000;
    store
        .with_writer(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Shipment n: tracking number T<n>, due now when n < due, else tomorrow.
            tx.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) \
                 INSERT INTO shipments (order_id, carrier, tracking_number, service, label_created_at, origin_postal_code, destination_postal_code, created_at, updated_at, next_check_at) \
                 SELECT 1, 'usps', 'T' || i, 'Priority Mail', ?2, '86001', '07030', ?2, ?2, CASE WHEN i < ?3 THEN ?4 ELSE ?5 END FROM n",
                rusqlite::params![watched as i64, scan_at - 3_600_000_000, due as i64, scan_at, later],
            )?;
            tx.execute(
                "INSERT INTO parcel_states (shipment_id, status, status_at, changed_at) SELECT id, 'accepted', ?1, created_at FROM shipments",
                [scan_at],
            )?;
            tx.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1) \
                 INSERT INTO tracking_events (carrier, tracking_number, dedupe_key, event, occurred_at, received_at) \
                 SELECT 'usps', 'T' || i, 'usps|T' || i || '|' || ?2 || '|accepted|flagstaff|az|', \
                   '{\"carrier\":\"usps\",\"tracking_number\":\"T' || i || '\",\"status\":\"accepted\",\"occurred_at\":\"' || ?3 || '\",\"description\":\"Accepted at USPS Origin Facility\",\"location\":{\"city\":\"Flagstaff\",\"region\":\"AZ\",\"postal_code\":null,\"country\":null}}', \
                   ?2, ?2 FROM n",
                rusqlite::params![
                    watched as i64,
                    scan_at,
                    jiff::Timestamp::from_microsecond(scan_at).unwrap().to_string()
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
        .unwrap();
    store
}

/// One sweep over `watched` shipments of which 1,000 are due; the time of that sweep.
async fn sweep_at(watched: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let store = watched_store(dir.path(), watched, 1_000).await;
    let policy = herald_core::watch::WatchPolicy::default();
    // The gazetteer loads once per process (herald serve loads it at start).
    let warm = Instant::now();
    herald_core::geo::postal_code("86001");
    if watched == 100_000 {
        println!(
            "gazetteer load: {:.1} ms",
            warm.elapsed().as_secs_f64() * 1000.0
        );
    }
    // The watched shipments were loaded in one large transaction: the first commit after it
    // cuts the write-ahead log file back to its size limit, once (about 140 ms for the 600 MB
    // log at 1,000,000), which a steady-state sweep never pays. One small write takes that.
    store
        .with_writer(|c| {
            c.execute(
                "UPDATE shipments SET updated_at = updated_at + 1 WHERE id = 1",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let started = Instant::now();
    let r = store
        .review_due_shipments(&policy, jiff::Timestamp::now(), 1_000)
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(r.reviewed, 1_000);
    // Nothing else was due: the next sweep reads nothing.
    let r = store
        .review_due_shipments(&policy, jiff::Timestamp::now(), 1_000)
        .await
        .unwrap();
    assert_eq!(r.reviewed, 0);
    took
}

async fn sweep() {
    let scales: Vec<usize> = std::env::var("HERALD_BENCH_SWEEP_SCALES")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000, 5_000_000]);
    for watched in scales {
        let took = sweep_at(watched).await;
        println!(
            "parcel_sweep_sqlite: {watched} watched shipments, 1000 due: one sweep {:.1} ms (target under 50 ms at 1,000,000)",
            took.as_secs_f64() * 1000.0
        );
    }
}

#[tokio::main]
async fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |n: &str| which.is_empty() || which.iter().any(|w| w == n);
    // For bench/tracking_instructions.sh: the tracking benchmark's database, bodies and token
    // in a directory, or the raw insert of its first batches there.
    if let [mode, dir, rest @ ..] = which.as_slice()
        && (mode == "tracking-prepare" || mode == "tracking-raw")
    {
        tracking_files(mode, std::path::Path::new(dir), rest).await;
        return;
    }
    if want("ingest") {
        ingest().await;
    }
    if want("import") {
        import();
    }
    if want("tracking") || want("tracking-neighbours") {
        tracking(Parcels::Neighbours).await;
    }
    if want("tracking") || want("tracking-spread") {
        tracking(Parcels::Spread).await;
    }
    if want("tracking-postgres") {
        tracking_postgres(Parcels::Neighbours).await;
        tracking_postgres(Parcels::Spread).await;
    }
    if want("list") {
        list().await;
    }
    if want("sweep") {
        sweep().await;
    }
}
