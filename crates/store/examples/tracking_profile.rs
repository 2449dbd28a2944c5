//! Profiles tracking ingest in the store alone (no HTTP): 100,000 scans for 10,000 healthy
//! parcels in batches of 1,000 through `ingest_tracking_events`, against a raw batched insert
//! of the same rows, alternated over a few rounds. Run with
//! `cargo run --release -p herald-store --example tracking_profile [rounds]`.

use herald_core::deadline::ShipByPolicy;
use herald_core::order::{NewOrder, OrderInput};
use herald_core::tracking::{NewShipment, ScanLocation, TrackingEvent, TrackingStatus};
use herald_store::{SqliteStore, Store, StoreOptions};
use std::time::Instant;

const PARCELS: usize = 10_000;
const PER: usize = 10;

async fn open(path: &std::path::Path) -> SqliteStore {
    SqliteStore::open(
        &format!("sqlite://{}", path.display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap()
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(3, |r| r.parse().expect("rounds is a number"));
    let dir = tempfile_dir();
    let base = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(6 * PER as i64);
    let seed = dir.join("seed.db");
    {
        let store = open(&seed).await;
        let orders: Vec<NewOrder> = (0..PARCELS)
            .map(|i| {
                let j = serde_json::json!({"channel":"shopify","external_id":format!("B{i}"),"number":format!("#{i}"),
                  "customer":{"name":"Buyer","email":format!("b{i}@shopper.test")},
                  "shipping_address":{"name":"Buyer","line1":"1 Main St","city":"Flagstaff","region":"AZ","postal_code":"86001","country":"US"},
                  "items":[{"sku":"MUG-1","name":"Sandstone mug","quantity":2,"price":"28.00"}],
                  "currency":"USD","subtotal":"56.00","total":"61.50","placed_at":"2025-12-06T15:37:33Z","paid_at":"2025-12-06T15:37:33Z"});
                serde_json::from_value::<OrderInput>(j)
                    .unwrap()
                    .validate()
                    .unwrap()
            })
            .collect();
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
    let events: Vec<TrackingEvent> = (0..PARCELS * PER)
        .map(|n| {
            let (parcel, step) = (n % PARCELS, n / PARCELS);
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
        .collect();
    let watch = herald_core::watch::WatchPolicy {
        time_zone: jiff::tz::TimeZone::get("America/Phoenix").unwrap(),
        ..Default::default()
    };
    for round in 0..rounds {
        let db = dir.join(format!("store{round}.db"));
        std::fs::copy(&seed, &db).unwrap();
        let store = open(&db).await;
        store
            .review_due_shipments(&watch, jiff::Timestamp::now(), u32::MAX)
            .await
            .unwrap();
        let started = Instant::now();
        let mut due = 0;
        for batch in events.chunks(1_000) {
            due += store
                .ingest_tracking_events(batch, &watch, jiff::Timestamp::now())
                .await
                .unwrap()
                .due_now;
        }
        let store_rate = events.len() as f64 / started.elapsed().as_secs_f64();
        drop(store);
        let raw = open(&dir.join(format!("raw{round}.db"))).await;
        let rows: Vec<(String, String, String, String, i64)> = events
            .iter()
            .map(|e| {
                (
                    e.carrier.clone(),
                    e.tracking_number.clone(),
                    e.dedupe_key(),
                    serde_json::to_string(e).unwrap(),
                    e.occurred_at.as_microsecond(),
                )
            })
            .collect();
        let started = Instant::now();
        let commits = raw.with_writer(move |c| {
            let mut commits = std::time::Duration::ZERO;
            for chunk in rows.chunks(1_000) {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                {
                    let mut st = tx.prepare_cached(
                        "INSERT INTO tracking_events (carrier, tracking_number, dedupe_key, event, occurred_at, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                    )?;
                    for r in chunk {
                        st.execute(rusqlite::params![r.0, r.1, r.2, r.3, r.4])?;
                    }
                }
                let t = Instant::now();
                tx.commit()?;
                commits += t.elapsed();
            }
            Ok(commits)
        })
        .await
        .unwrap();
        let raw_rate = events.len() as f64 / started.elapsed().as_secs_f64();
        println!(
            "round {round}: store {store_rate:.0} events/s ({due} due), raw {raw_rate:.0} rows/s (commits {commits:?}), ratio {:.2}",
            store_rate / raw_rate
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("herald-tracking-profile-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
