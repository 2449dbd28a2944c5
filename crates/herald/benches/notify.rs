//! Notification benchmarks, run with `cargo bench -p herald --bench notify`.
//!
//! - deliver: 10,000 customer messages (order acknowledgements of 10,000 fresh orders) sent by
//!   `herald serve` to a local SMTP server (Python's aiosmtpd writing a Maildir), timed from the
//!   server's start until the SMTP server holds all 10,000; prints messages/s.
//! - kill: the same, but the server is killed with SIGKILL once about a third is delivered, then
//!   started again; prints how many messages arrived, how many distinct Message-IDs, the
//!   duplicates, and how many messages were in flight (leased, unsettled) at the kill.
//!
//! Needs `python3 -m pip install aiosmtpd`.

use herald_core::deadline::ShipByPolicy;
use herald_core::order::{NewOrder, OrderInput};
use herald_store::{SqliteStore, Store, StoreOptions};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

const N: usize = 10_000;

async fn seeded(dir: &std::path::Path) -> String {
    let url = format!("sqlite://{}/notify.db", dir.display());
    let store = SqliteStore::open(&url, &StoreOptions::default())
        .await
        .unwrap();
    let placed = jiff::Timestamp::now().to_string();
    let orders: Vec<NewOrder> = (0..N)
        .map(|i| {
            serde_json::from_value::<OrderInput>(json!({
                "channel": "shopify", "external_id": format!("N{i}"), "number": format!("#{}", 50_000 + i),
                "customer": {"name": "Maya Lopez", "email": format!("buyer{i}@shopper.test")},
                "items": [{"name": "Sandstone mug", "quantity": 2, "price": "28.00"}],
                "total": "56.00", "currency": "USD", "placed_at": placed
            }))
            .unwrap()
            .validate()
            .unwrap()
        })
        .collect();
    for chunk in orders.chunks(1_000) {
        store
            .upsert_orders(chunk, &ShipByPolicy::default(), jiff::Timestamp::now())
            .await
            .unwrap();
    }
    url
}

fn serve(url: &str, sink: &support::SmtpSink) -> std::process::Child {
    let smtp = sink.url();
    support::start_serve(
        url,
        &[
            ("HERALD_LOG__LEVEL", "warn"),
            ("HERALD_MAIL__SMTP_URL", smtp.as_str()),
            (
                "HERALD_MAIL__FROM",
                "Sandstone Pottery <orders@sandstonepottery.shop>",
            ),
            ("HERALD_MAIL__REPLY_TO", "hello@sandstonepottery.shop"),
        ],
    )
    .0
}

/// Message-ID -> copies received.
fn received(sink: &support::SmtpSink) -> HashMap<String, usize> {
    let mut by_id = HashMap::new();
    for m in sink.messages() {
        *by_id
            .entry(support::header(&m, "Message-ID").unwrap_or_default())
            .or_insert(0) += 1;
    }
    by_id
}

fn count(sink: &support::SmtpSink) -> usize {
    sink.messages().len()
}

fn wait_until(mut done: impl FnMut() -> bool, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

async fn deliver() {
    let dir = tempfile::tempdir().unwrap();
    let url = seeded(dir.path()).await;
    let sink = support::SmtpSink::start().expect("aiosmtpd is installed");
    let started = Instant::now();
    let mut server = serve(&url, &sink);
    assert!(
        wait_until(|| count(&sink) >= N, Duration::from_secs(600)),
        "not all delivered"
    );
    let secs = started.elapsed().as_secs_f64();
    let _ = server.kill();
    let _ = server.wait();
    let ids = received(&sink);
    println!(
        "notify_deliver_sqlite: {N} messages in {secs:.2} s = {:.0} messages/s (target 500); {} distinct Message-IDs",
        N as f64 / secs,
        ids.len()
    );
}

async fn kill() {
    let dir = tempfile::tempdir().unwrap();
    let url = seeded(dir.path()).await;
    let sink = support::SmtpSink::start().expect("aiosmtpd is installed");
    let mut server = serve(&url, &sink);
    assert!(wait_until(
        || count(&sink) >= N / 3,
        Duration::from_secs(600)
    ));
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let at_kill = count(&sink);
    let db = dir.path().join("notify.db");
    let in_flight: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM messages WHERE status = 'sending'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // The leases of the dead node run out (2 minutes) before its messages are tried again.
    let started = Instant::now();
    let mut server = serve(&url, &sink);
    let settled = || {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE status <> 'sent'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
            == 0
    };
    assert!(
        wait_until(settled, Duration::from_secs(600)),
        "not every message was delivered after the restart"
    );
    let _ = server.kill();
    let _ = server.wait();
    std::thread::sleep(Duration::from_millis(500));
    let ids = received(&sink);
    let total: usize = ids.values().sum();
    let dupes: usize = ids.values().map(|c| c - 1).sum();
    println!(
        "notify_kill9_sqlite: killed after {at_kill} arrived with {in_flight} leased; after restart ({:.0} s, lease wait included) {total} arrived, {} distinct Message-IDs of {N}, {dupes} duplicates (at most the {in_flight} in flight)",
        started.elapsed().as_secs_f64(),
        ids.len()
    );
    assert_eq!(ids.len(), N, "every message delivered");
    assert!(dupes as i64 <= in_flight, "only in-flight messages repeat");
}

#[tokio::main]
async fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |n: &str| which.is_empty() || which.iter().any(|w| w == n);
    if want("deliver") {
        deliver().await;
    }
    if want("kill") {
        kill().await;
    }
}
