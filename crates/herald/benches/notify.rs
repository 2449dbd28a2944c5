//! Notification benchmarks, run with `cargo bench -p herald --bench notify`.
//!
//! - deliver: 10,000 customer messages (order acknowledgements of 10,000 fresh orders) sent by
//!   `herald serve` to a local SMTP server (Python's aiosmtpd writing a Maildir), timed from the
//!   server's start until the SMTP server holds all 10,000; prints messages/s.
//! - kill: the same, but the server is killed with SIGKILL once about a third is delivered, then
//!   started again; prints how many messages arrived, how many distinct Message-IDs, the
//!   duplicates, and how many messages were in flight (leased, unsettled) at the kill.
//!
//! Each runs twice: against a minimal SMTP sink written here (so the figure is herald's, not the
//! sink's) and against Python's aiosmtpd writing a Maildir (a real, independent SMTP server,
//! which on this machine tops out below herald). The latter needs `pip install aiosmtpd`.

use herald_core::deadline::ShipByPolicy;
use herald_core::order::{NewOrder, OrderInput};
use herald_store::{SqliteStore, Store, StoreOptions};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[path = "../tests/support/mod.rs"]
mod support;

const N: usize = 10_000;

/// A minimal SMTP server that accepts everything and keeps each message's Message-ID. Written
/// here because the benchmark needs a sink that is not the bottleneck: aiosmtpd spends a whole
/// core on 400 messages/s. It speaks just what a client needs: greeting, EHLO/HELO, MAIL, RCPT,
/// DATA (dot-terminated), RSET, NOOP, QUIT.
struct FastSink {
    port: u16,
    ids: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FastSink {
    async fn start() -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let ids: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let keep = ids.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let keep = keep.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut r = BufReader::new(r);
                    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                let _ = w.write_all(b"354 go ahead\r\n").await;
                                let mut id = String::new();
                                loop {
                                    line.clear();
                                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                        return;
                                    }
                                    if line == ".\r\n" {
                                        break;
                                    }
                                    if id.is_empty()
                                        && line.len() > 11
                                        && line[..11].eq_ignore_ascii_case("message-id:")
                                    {
                                        id = line[11..].trim().to_string();
                                    }
                                }
                                keep.lock().unwrap().push(id);
                                b"250 queued\r\n"
                            }
                            "QUIT" => {
                                let _ = w.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        };
                        if w.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { port, ids }
    }
}

/// Either sink, as the benchmark needs it.
enum Sink {
    Fast(FastSink),
    Python(support::SmtpSink),
}

impl Sink {
    fn url(&self) -> String {
        match self {
            Sink::Fast(f) => format!("smtp://127.0.0.1:{}", f.port),
            Sink::Python(p) => p.url(),
        }
    }
    fn name(&self) -> &'static str {
        match self {
            Sink::Fast(_) => "minimal Rust sink",
            Sink::Python(_) => "aiosmtpd Maildir",
        }
    }
    fn count(&self) -> usize {
        match self {
            Sink::Fast(f) => f.ids.lock().unwrap().len(),
            Sink::Python(p) => p.count(),
        }
    }
    /// Message-ID -> copies received.
    fn received(&self) -> HashMap<String, usize> {
        let ids: Vec<String> = match self {
            Sink::Fast(f) => f.ids.lock().unwrap().clone(),
            Sink::Python(p) => p
                .messages()
                .iter()
                .map(|m| support::header(m, "Message-ID").unwrap_or_default())
                .collect(),
        };
        let mut by_id = HashMap::new();
        for id in ids {
            *by_id.entry(id).or_insert(0) += 1;
        }
        by_id
    }
}

async fn sinks() -> Vec<Sink> {
    let mut out = vec![Sink::Fast(FastSink::start().await)];
    match support::SmtpSink::start() {
        Some(p) => out.push(Sink::Python(p)),
        None => println!("(aiosmtpd not installed: only the minimal sink is measured)"),
    }
    out
}

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

fn serve(url: &str, sink: &Sink) -> std::process::Child {
    let smtp = sink.url();
    support::start_serve(
        url,
        &[
            ("HERALD_LOG__LEVEL", "warn,herald=info"),
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

fn wait_until(mut done: impl FnMut() -> bool, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

async fn deliver() {
    for sink in sinks().await {
        let dir = tempfile::tempdir().unwrap();
        let url = seeded(dir.path()).await;
        let started = Instant::now();
        let mut server = serve(&url, &sink);
        assert!(
            wait_until(|| sink.count() >= N, Duration::from_secs(600)),
            "not all delivered"
        );
        let secs = started.elapsed().as_secs_f64();
        let _ = server.kill();
        let _ = server.wait();
        let ids = sink.received();
        println!(
            "notify_deliver_sqlite ({}): {N} messages in {secs:.2} s = {:.0} messages/s (target 500); {} distinct Message-IDs",
            sink.name(),
            N as f64 / secs,
            ids.len()
        );
    }
}

async fn kill() {
    for sink in sinks().await {
        let dir = tempfile::tempdir().unwrap();
        let url = seeded(dir.path()).await;
        let mut server = serve(&url, &sink);
        assert!(wait_until(
            || sink.count() >= N / 3,
            Duration::from_secs(600)
        ));
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        let at_kill = sink.count();
        let db = dir.path().join("notify.db");
        let in_flight: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE status = 'sending'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        // The dead node's leases run out (2 minutes) before its messages are tried again.
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
        let ids = sink.received();
        let total: usize = ids.values().sum();
        let dupes: usize = ids.values().map(|c| c - 1).sum();
        println!(
            "notify_kill9_sqlite ({}): killed after {at_kill} arrived with {in_flight} leased; after the restart ({:.0} s, lease wait included) {total} arrived, {} distinct Message-IDs of {N}, {dupes} duplicates (at most the {in_flight} in flight)",
            sink.name(),
            started.elapsed().as_secs_f64(),
            ids.len()
        );
        assert_eq!(ids.len(), N, "every message delivered");
        assert!(dupes as i64 <= in_flight, "only in-flight messages repeat");
    }
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
