//! Order benchmarks, run with `cargo bench -p herald --bench orders [-- ingest|import|list]`.
//!
//! - ingest: orders through `POST /api/v1/orders` (batches of 1,000, the real binary, SQLite)
//!   against a raw batched INSERT of the same rows into a SQLite database with the same schema
//!   and settings, measured in the same run; prints both rates and their ratio.
//! - import: `herald import shopify` of a 100,000-order export (a third with two line items).
//! - list: 1,000,000 stored orders; p50/p99 of `GET /api/v1/orders?ship_by_state=at_risk`
//!   over 1,000 requests, and the server's peak resident memory.

use herald_core::deadline::ShipByPolicy;
use herald_core::order::{NewOrder, OrderInput};
use herald_store::{SqliteStore, Store, StoreOptions};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_herald");

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
        let mut child = Command::new(BIN)
            .args(["--database-url", url, "serve", "--listen", "127.0.0.1:0"])
            .env("HERALD_LOG__FORMAT", "json")
            .env("HERALD_LOG__LEVEL", "warn,herald=info")
            .env("HERALD_STORE__TIME_ZONE", "America/Phoenix")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start herald");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("herald exited").unwrap();
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if v["fields"]["message"] == "herald is serving" {
                break v["fields"]["addr"].as_str().unwrap().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn peak_rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(url: &str) -> String {
    let out = Command::new(BIN)
        .args(["--database-url", url, "token", "create", "--name", "bench"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

async fn ingest() {
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
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/orders", server.base);
    let started = Instant::now();
    // Two requests in flight: one is parsed while the other is written.
    let mut handles = Vec::new();
    for lane in 0..2 {
        let mine: Vec<Vec<u8>> = bodies.iter().skip(lane).step_by(2).cloned().collect();
        let (http, url, t) = (http.clone(), url.clone(), t.clone());
        handles.push(tokio::spawn(async move {
            for body in mine {
                let r = http
                    .post(&url)
                    .bearer_auth(&t)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.text().await.unwrap());
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
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
    let orders: Vec<NewOrder> = (0..N)
        .map(|i| {
            serde_json::from_value::<OrderInput>(order_json(i, placed))
                .unwrap()
                .validate()
                .unwrap()
        })
        .collect();
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
            )
        })
        .collect();
    let started = Instant::now();
    raw.with_writer(move |c| {
        for chunk in rows.chunks(BATCH) {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT INTO orders (channel, external_id, number, state, customer_email, data, placed_at, ship_by, at_risk_from, awaiting_ship_by, alert_due_at, as_of, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?9, ?7, ?7, ?7)",
                )?;
                for r in chunk {
                    st.execute(rusqlite::params![r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8])?;
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
        "ingest_api_sqlite: {N} orders in {api_secs:.2} s = {api_rate:.0} orders/s (target >= 20000); server peak RSS {api_rss:.0} MB"
    );
    println!("ingest_raw_sqlite: {N} orders in {raw_secs:.2} s = {raw_rate:.0} orders/s");
    println!(
        "ingest_ratio_api_to_raw: {:.2} (target >= 0.5)",
        api_rate / raw_rate
    );
}

const SHOPIFY_HEADER: &str = "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,Payment ID,Payment Terms Name,Next Payment Due At,Payment References";

fn import() {
    const N: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders_export.csv");
    let mut s = String::with_capacity(N * 700);
    s.push_str(SHOPIFY_HEADER);
    for i in 0..N {
        let fulfilled = if i.is_multiple_of(2) {
            "fulfilled,2025-12-08 09:00:00 -0500"
        } else {
            "unfulfilled,"
        };
        s.push_str(&format!(
            "\n#{n},buyer{i}@shopper.test,paid,2025-12-06 10:38:01 -0500,{fulfilled},no,USD,40.00,5.00,3.20,48.20,,0.00,Standard,2025-12-06 10:37:33 -0500,1,Ceramic Mug,40.00,,MUG-{i},true,true,pending,Buyer {i},1 Main St,1 Main St,,,Flagstaff,'86001,AZ,US,,Buyer {i},1 Main St,1 Main St,,,Flagstaff,'86001,AZ,US,,,,,Shopify Payments,,0.00,Herald Pottery,0.00,,,,{id},,Low,web,0.00,,,,,,,,,,,,,,Arizona,Arizona,,,,",
            n = 1000 + i,
            id = 7_000_000 + i
        ));
        if i.is_multiple_of(3) {
            s.push_str(&format!("\n#{n},,,,,,,,,,,,,,,2025-12-06 10:37:33 -0500,2,Espresso Cup,18.00,,CUP-ESP,true,true,pending,,,,,,,,,,,,,,,,,,,,,,,,,,,Herald Pottery,,,,,,,,,0.00,,,,,,,,,,,,,,,,,,,", n = 1000 + i));
        }
    }
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
        let r: Value = http
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
        let r: Value = http
            .get(&u)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
}

#[tokio::main]
async fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |n: &str| which.is_empty() || which.iter().any(|w| w == n);
    if want("ingest") {
        ingest().await;
    }
    if want("import") {
        import();
    }
    if want("list") {
        list().await;
    }
}
