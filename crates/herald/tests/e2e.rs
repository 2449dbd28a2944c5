//! End-to-end tests: the real `herald` binary, started as a user would, on SQLite and on
//! PostgreSQL. PostgreSQL comes from `HERALD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); with `CI=true` it must be reachable.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{BIN, shopify_export};

/// A database for one test: a SQLite file in a temp dir, or a fresh PostgreSQL database.
struct Db {
    url: String,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            let _ = Command::new("psql")
                .args([
                    admin.as_str(),
                    "-qc",
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                ])
                .output();
        }
    }
}

fn sqlite_db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    Db {
        url: format!("sqlite://{}/herald.db", dir.path().display()),
        _dir: dir,
        pg: None,
    }
}

fn pg_admin() -> String {
    std::env::var("HERALD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn pg_db() -> Option<Db> {
    let admin = pg_admin();
    let name = format!("herald_e2e_{}_{}", std::process::id(), rand_suffix());
    let out = Command::new("psql")
        .args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("PostgreSQL is required in CI but {admin} is unreachable: {why}");
            }
            eprintln!("skipping PostgreSQL end-to-end test: {admin} is unreachable ({why})");
            return None;
        }
    }
    let base = admin.rsplit_once('/').unwrap().0;
    Some(Db {
        url: format!("{base}/{name}"),
        _dir: tempfile::tempdir().unwrap(),
        pg: Some((admin, name)),
    })
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() % 1_000_000_000
}

fn herald(db: &Db, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["--database-url", &db.url])
        .args(args)
        .env("HERALD_STORE__TIME_ZONE", "America/New_York")
        .output()
        .unwrap()
}

fn token(db: &Db, name: &str) -> String {
    let out = herald(db, &["token", "create", "--name", name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

const EASYPOST_SECRET: &str = "ep-webhook-secret-1";
const SHIPPO_SECRET: &str = "shippo-webhook-secret-1";
const AFTERSHIP_SECRET: &str = "aftership-webhook-secret-1";

/// A provider's webhook fixture, as the provider sends it.
fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../fixtures/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A running `herald serve`.
struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Server {
    fn start(db: &Db, token: &str) -> Self {
        Self::start_with(db, token, &[])
    }

    fn start_with(db: &Db, token: &str, extra: &[(&str, &str)]) -> Self {
        let mut env = vec![
            ("HERALD_STORE__TIME_ZONE", "America/New_York"),
            ("HERALD_HTTP__MAX_BODY_BYTES", "2000000"),
            ("HERALD_ALERTS__SWEEP_INTERVAL_SECS", "1"),
            ("HERALD_WEBHOOKS__EASYPOST__SECRET", EASYPOST_SECRET),
            ("HERALD_WEBHOOKS__SHIPPO__SECRET", SHIPPO_SECRET),
            ("HERALD_WEBHOOKS__AFTERSHIP__SECRET", AFTERSHIP_SECRET),
        ];
        env.extend_from_slice(extra);
        let (child, base) = support::start_serve(&db.url, &env);
        Self {
            child,
            base,
            http: reqwest::Client::new(),
            token: token.to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Posts a raw webhook body with one header (no API token: webhooks carry signatures).
    async fn webhook(&self, provider: &str, header: (&str, &str), body: &[u8]) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(&format!("/webhooks/{provider}")))
            .header("content-type", "application/json")
            .header(header.0, header.1)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Polls `path` until `done` holds (the sweep runs every second), for up to 15 s.
    async fn wait_for(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let (_, v) = self.get(path).await;
            if done(&v) {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: gave up waiting; last {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    fn signal(&mut self, sig: &str) -> std::process::ExitStatus {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn order(ext: &str, placed: &str) -> Value {
    json!({
        "channel": "shopify", "external_id": ext, "number": format!("#{ext}"),
        "customer": {"name": "Jane Doe", "email": "jane@shopper.test"},
        "items": [{"sku": "MUG", "name": "Mug", "quantity": 1, "price": "12.00"}],
        "placed_at": placed
    })
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::sqlite_db()).await })* }
        mod on_postgres { $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { if let Some(db) = super::pg_db() { super::$name(db).await } })* }
    };
}

on_both!(
    the_api_end_to_end,
    shipments_and_tracking_events_over_http,
    provider_webhooks_feed_cases_the_seller_works,
    sigterm_lets_requests_in_flight_finish,
    imports_from_the_command_line_and_over_http,
    kill_9_during_a_stream_of_posts_loses_nothing_answered,
    kill_9_during_a_large_import_then_rerun_gives_each_order_once,
    customer_messages_go_out_once_through_a_real_smtp_server,
    sellers_hear_by_mail_and_webhook_and_delays_carry_an_offer,
    the_status_page_end_to_end,
    a_status_change_on_one_node_is_served_by_all,
    the_store_advisory_reaches_storefronts,
    customers_report_problems_and_a_burst_alerts_the_seller,
    subscribers_hear_of_incidents_by_mail_and_webhook,
    a_monitor_opens_and_calms_the_incident_by_itself,
);

async fn the_api_end_to_end(db: Db) {
    let t = token(&db, "shop");
    let mut s = Server::start(&db, &t);
    assert_eq!(reqwest::get(s.url("/healthz")).await.unwrap().status(), 200);
    assert_eq!(reqwest::get(s.url("/readyz")).await.unwrap().status(), 200);

    // No token, a wrong token: 401 problem+json.
    let r = reqwest::get(s.url("/api/v1/orders")).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = s
        .http
        .get(s.url("/api/v1/orders"))
        .bearer_auth("hld_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // One order, then a batch that repeats it: recognised, not duplicated.
    let placed = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1)).to_string();
    let (st, one) = s.post_json("/api/v1/orders", &order("1001", &placed)).await;
    assert_eq!(st, 200, "{one}");
    assert_eq!(one["results"][0]["outcome"], "created");
    let id = one["results"][0]["id"].as_i64().unwrap();
    let batch = json!([
        order("1001", &placed),
        order("1002", &placed),
        order("1003", &placed)
    ]);
    let (st, many) = s.post_json("/api/v1/orders", &batch).await;
    assert_eq!(st, 200);
    let outcomes: Vec<_> = many["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["unchanged", "created", "created"]);
    assert_eq!(many["results"][0]["id"].as_i64(), Some(id));

    // The order, its deadline and its history.
    let (st, o) = s.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(o["number"], "#1001");
    assert_eq!(o["ship_by_state"], "on_track");
    assert_eq!(o["events"][0]["kind"], "placed");

    // Shipping it later moves it on; an older copy sent again does not move it back.
    let mut shipped = order("1001", &placed);
    shipped["shipped_at"] = json!(jiff::Timestamp::now().to_string());
    assert_eq!(s.post_json("/api/v1/orders", &shipped).await.0, 200);
    assert_eq!(
        s.post_json("/api/v1/orders", &order("1001", &placed))
            .await
            .0,
        200
    );
    let (_, o) = s.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(o["state"], "shipped");
    assert_eq!(o["ship_by_state"], "shipped_on_time");

    // Filters and pagination.
    let (_, page) = s.get("/api/v1/orders?state=placed&limit=1").await;
    assert_eq!(page["orders"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = s
        .get(&format!(
            "/api/v1/orders?state=placed&limit=1&cursor={cursor}"
        ))
        .await;
    assert_ne!(page["orders"][0]["id"], page2["orders"][0]["id"]);
    assert!(page2["next_cursor"].is_null());
    let (st, e) = s.get("/api/v1/orders?ship_by_state=soon").await;
    assert_eq!(st, 400);
    assert_eq!(e["errors"][0]["field"], "ship_by_state");

    // Bad input names the field; nothing is stored.
    let before = s.get("/api/v1/orders?limit=1000").await.1["orders"]
        .as_array()
        .unwrap()
        .len();
    let mut bad = order("2001", &placed);
    bad["customer"]["email"] = json!("not an address");
    let (st, e) = s
        .post_json("/api/v1/orders", &json!([order("2000", &placed), bad]))
        .await;
    assert_eq!(st, 422);
    assert_eq!(e["errors"][0]["field"], "[1].customer.email");
    let r = s
        .http
        .post(s.url("/api/v1/orders"))
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body("{\"channel\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Its own connection: the server closes one whose oversized body it did not read.
    let big = "x".repeat(3_000_000);
    let r = reqwest::Client::new()
        .post(s.url("/api/v1/orders"))
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let after = s.get("/api/v1/orders?limit=1000").await.1["orders"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);

    // An order due long ago raises a late alert from the background sweep.
    s.post_json("/api/v1/orders", &order("9001", "2025-01-06T15:00:00Z"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, a) = s.get("/api/v1/alerts").await;
        if a["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "order_late")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no late alert raised: {a}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (st, m) = s.get("/api/v1/metrics/shipping").await;
    assert_eq!(st, 200);
    assert_eq!(m["windows"][0]["days"], 7);
    let prom = reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        prom.contains("herald_late_shipment_rate{window=\"30d\"}"),
        "{prom}"
    );

    // SIGTERM: a clean stop.
    let status = s.signal("-TERM");
    assert!(status.success(), "{status:?}");

    // Readiness follows the database: a PostgreSQL database that goes away is reported.
    if let Some((admin, name)) = &db.pg {
        let s = Server::start(&db, &t);
        Command::new("psql")
            .args([
                admin.as_str(),
                "-qc",
                &format!("DROP DATABASE {name} WITH (FORCE)"),
            ])
            .output()
            .unwrap();
        let r = reqwest::get(s.url("/readyz")).await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(reqwest::get(s.url("/healthz")).await.unwrap().status(), 200);
    }
}

async fn imports_from_the_command_line_and_over_http(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders_export.csv");
    std::fs::write(&file, shopify_export(50, Some(10), false)).unwrap();
    let f = file.to_str().unwrap();

    // --strict: the bad rows reject the whole file.
    let out = herald(&db, &["import", "shopify", f, "--strict"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("column \"Lineitem quantity\": \"two\" is not a whole number"),
        "{err}"
    );
    assert!(err.contains("orders_export.csv: line"), "{err}");

    // Default: good orders import, bad rows are listed, exit code 3.
    let out = herald(&db, &["import", "shopify", f]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("45 orders: 45 created, 0 updated, 0 unchanged; 5 bad rows skipped"),
        "{said}"
    );
    // Re-running changes nothing.
    let out = herald(&db, &["import", "shopify", f]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("45 unchanged"));

    // Over HTTP, the same file gives the same report and the order count does not move.
    let t = token(&db, "importer");
    let s = Server::start(&db, &t);
    let r = s
        .http
        .post(s.url("/api/v1/imports/shopify"))
        .bearer_auth(&t)
        .body(shopify_export(50, Some(10), false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().await.unwrap();
    assert_eq!(rep["unchanged"], 45);
    assert_eq!(rep["errors"].as_array().unwrap().len(), 5);
    assert_eq!(rep["errors"][0]["column"], "Lineitem quantity");
    let r = s
        .http
        .post(s.url("/api/v1/imports/shopify?strict=true"))
        .bearer_auth(&t)
        .body(shopify_export(60, Some(10), false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let (_, all) = s.get("/api/v1/orders?limit=1000").await;
    assert_eq!(all["orders"].as_array().unwrap().len(), 45);

    // An Amazon report over HTTP.
    let tsv = "order-id\torder-item-id\tpurchase-date\tpayments-date\tbuyer-email\tbuyer-name\tsku\tproduct-name\tquantity-purchased\tquantity-shipped\tquantity-to-ship\tship-service-level\trecipient-name\tship-address-1\tship-city\tship-state\tship-postal-code\tship-country\tlatest-ship-date\n\
                114-1234567-1234567\t1\t2025-12-06T15:37:33+00:00\t2025-12-06T15:37:33+00:00\tx1@marketplace.amazon.com\tJohn\tMUG\tMug\t1\t0\t1\tStandard\tJohn\t1 Oak\tSedona\tAZ\t86336\tUS\t2025-12-09T07:59:59+00:00\n";
    let r = s
        .http
        .post(s.url("/api/v1/imports/amazon"))
        .bearer_auth(&t)
        .body(tsv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, am) = s.get("/api/v1/orders?channel=amazon").await;
    assert_eq!(am["orders"][0]["ship_by"], "2025-12-09T07:59:59Z");
    // Not an export at all: one clear 400.
    let r = s
        .http
        .post(s.url("/api/v1/imports/amazon"))
        .bearer_auth(&t)
        .body("hello,world\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let p: Value = r.json().await.unwrap();
    assert!(p["detail"].as_str().unwrap().contains("order-id"), "{p}");
}

async fn kill_9_during_a_stream_of_posts_loses_nothing_answered(db: Db) {
    let t = token(&db, "stream");
    let mut s = Server::start(&db, &t);
    let placed = "2025-12-01T15:00:00Z";
    let http = s.http.clone();
    let url = s.url("/api/v1/orders");
    let tok = t.clone();
    // Post batches of 50 as fast as possible; remember which were answered 2xx.
    let poster = tokio::spawn(async move {
        let mut acked = Vec::new();
        for b in 0..100_000 {
            let batch: Vec<Value> = (0..50)
                .map(|i| order(&format!("k{b}-{i}"), placed))
                .collect();
            match http.post(&url).bearer_auth(&tok).json(&batch).send().await {
                Ok(r) if r.status().is_success() => acked.push(b),
                _ => break,
            }
        }
        acked
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.signal("-KILL");
    let acked = poster.await.unwrap();
    assert!(
        acked.len() > 5,
        "too few batches before the kill: {}",
        acked.len()
    );

    let s = Server::start(&db, &t);
    let mut seen = std::collections::HashMap::new();
    let mut cursor = String::new();
    loop {
        let (_, page) = s.get(&format!("/api/v1/orders?limit=1000{cursor}")).await;
        for o in page["orders"].as_array().unwrap() {
            *seen
                .entry(o["external_id"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    for b in &acked {
        for i in 0..50 {
            assert_eq!(
                seen.get(&format!("k{b}-{i}")),
                Some(&1),
                "acknowledged order k{b}-{i} lost or duplicated"
            );
        }
    }
    assert!(seen.values().all(|n| *n == 1));
    // Batches are atomic: an unanswered batch is there whole or not at all.
    let mut batches = std::collections::HashMap::new();
    for k in seen.keys() {
        *batches
            .entry(k.split('-').next().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert!(
        batches.values().all(|n| *n == 50),
        "a half-written batch: {batches:?}"
    );
}

async fn kill_9_during_a_large_import_then_rerun_gives_each_order_once(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.csv");
    std::fs::write(&file, shopify_export(30_000, None, false)).unwrap();
    let f = file.to_str().unwrap();
    herald(&db, &["migrate"]);
    let mut child = Command::new(BIN)
        .args(["--database-url", &db.url, "import", "shopify", f])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(900));
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    let out = herald(&db, &["import", "shopify", f]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("30000 orders:"), "{said}");
    let out = herald(&db, &["import", "shopify", f]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("0 created, 0 updated, 30000 unchanged"),
        "{said}"
    );
}

#[test]
fn unknown_database_schemes_are_refused_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "--database-url",
            "mysql://root:hunter2@localhost/shop",
            "migrate",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("use sqlite://PATH"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn calendar_and_deadline_commands() {
    let out = Command::new(BIN)
        .args(["calendar", "holidays", "--year", "2026"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("2026-01-01 New Year's Day\n"), "{text}");
    assert!(
        text.contains("2026-07-03 Independence Day (observed; falls on 2026-07-04)\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 11);
    let out = Command::new(BIN)
        .args([
            "deadline",
            "--placed",
            "2025-11-26T15:00:00-05:00",
            "--handling-days",
            "2",
            "--tz",
            "America/New_York",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "2025-12-02T23:59:59-05:00\n"
    );
    let out = Command::new(BIN)
        .args([
            "deadline",
            "--placed",
            "2025-11-26T13:00:00-05:00",
            "--handling-days",
            "1",
            "--tz",
            "America/New_York",
            "--cutoff",
            "12:00",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "2025-12-01T23:59:59-05:00\n"
    );
}

#[test]
fn check_lists_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("herald.toml");
    std::fs::write(&cfg, "database_url = \"sqlite:///nonexistent-dir/x.db\"\n[store]\ntime_zone = \"Mars/Base\"\ncutoff = \"25:00\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Mars/Base") && text.contains("\"25:00\""),
        "{text}"
    );
    std::fs::write(
        &cfg,
        format!(
            "database_url = \"sqlite://{}/ok.db\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config", cfg.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_demo_runs_the_store_live_and_tells_customers() {
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--speed",
            "3600",
            "--orders-per-day",
            "40",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token, mut maildir) = (String::new(), String::new(), String::new());
    for _ in 0..20 {
        let l = lines.next().unwrap().unwrap();
        let l = l.trim();
        if let Some(u) = l.strip_prefix("URL:") {
            url = u.split_whitespace().next().unwrap().to_string();
        }
        if let Some(t) = l.strip_prefix("token:") {
            token = t.split_whitespace().next().unwrap().to_string();
        }
        if let Some(m) = l.strip_prefix("mail:") {
            maildir = m.split_whitespace().next().unwrap().to_string();
        }
        if l.starts_with("messages as they leave") {
            break;
        }
    }
    assert!(!url.is_empty() && !token.is_empty() && !maildir.is_empty());
    // The console shows messages as they leave, one line each.
    let shown = std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .filter(|l| l.contains(" -> "))
            .take(5)
            .collect::<Vec<_>>()
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let get = |path: String| {
        let (url, token) = (url.clone(), token.clone());
        rt.block_on(async move {
            reqwest::Client::new()
                .get(format!("{url}{path}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    // A week of the shop was played before it went live: orders, parcels, cases.
    assert!(
        !get("/api/v1/orders?limit=5".into())["orders"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        !get("/api/v1/cases?limit=5".into())["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // At an hour a second, the label service fails within a second and the seller's
    // incident is on the public status page moments later.
    let deadline = Instant::now() + Duration::from_secs(30);
    let incident = loop {
        let v = get("/api/v2/incidents/unresolved.json".into());
        if let Some(i) = v["incidents"].as_array().and_then(|a| a.first()) {
            break i.clone();
        }
        assert!(Instant::now() < deadline, "no incident on the status page");
        std::thread::sleep(Duration::from_millis(200));
    };
    // herald's own monitor of the label service opened it.
    assert_eq!(incident["name"], "Order shipping is not working");
    let lines = shown.join().unwrap();
    assert_eq!(lines.len(), 5, "{lines:?}");
    // Customer mail lands in the Maildir folder, whole, with herald's Message-ID.
    let files: Vec<_> = std::fs::read_dir(format!("{maildir}/new"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    let mail = std::fs::read_to_string(&files[0]).unwrap();
    assert!(mail.contains("Message-ID: <herald.outbox."), "{mail}");
    assert!(
        mail.contains("From: \"Canyon Clay Co.\" <orders@canyonclay.shop>")
            || mail.contains("From: Canyon Clay Co. <orders@canyonclay.shop>"),
        "{mail}"
    );
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// The simulation CI runs: a short month of the demo store in virtual time, twice with one
/// seed. It fails when any of herald's targets is missed (the binary exits 4).
#[test]
fn a_short_simulation_meets_every_target_and_is_the_same_each_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let path = dir.path().join(name);
        let out = Command::new(BIN)
            .args([
                "simulate",
                "--days",
                "4",
                "--orders-per-day",
                "60",
                "--seed",
                "11",
                "--report",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "herald simulate missed a target:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(path).unwrap()
    };
    let first = run("a.json");
    assert_eq!(first, run("b.json"), "one seed, one report");
    let r: Value = serde_json::from_str(&first).unwrap();
    for key in [
        "problems_injected",
        "problems_flagged",
        "problems_missed",
        "false_alarms",
        "customers_never_told",
        "duplicate_messages",
        "median_minutes_detectable_to_customer",
        "late_shipment_rate",
        "promises_kept",
        "promises_broken",
        "problems",
    ] {
        assert!(r.get(key).is_some(), "no {key} in the report");
    }
    let problems = r["problems"].as_array().unwrap();
    assert_eq!(r["problems_injected"], problems.len());
    assert!(problems.len() >= 5, "{}", problems.len());
    let kinds: std::collections::BTreeSet<&str> = problems
        .iter()
        .map(|p| p["injected"].as_str().unwrap())
        .collect();
    assert!(kinds.len() >= 4, "{kinds:?}");
    for p in problems {
        assert!(
            p["flagged_at"].is_string() && p["customer_told_at"].is_string(),
            "{p}"
        );
        assert!(
            p["minutes_detectable_to_customer"].as_i64().unwrap() < 60,
            "{p}"
        );
    }
    assert_eq!(r["problems_missed"], 0);
    assert_eq!(r["false_alarms"], 0);
    assert_eq!(r["duplicate_messages"], 0);
    assert!(
        r["promises_kept"].as_u64().unwrap() > 0,
        "the outage's incident kept its promises"
    );
}

async fn sigterm_lets_requests_in_flight_finish(db: Db) {
    let t = token(&db, "graceful");
    let (mut child, base, logs) =
        support::start_serve_with_logs(&db.url, &[("HERALD_STORE__TIME_ZONE", "America/New_York")]);
    // A large import takes a while; stop the server while it is being written.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.csv");
    let body = shopify_export(40_000, None, false);
    std::fs::write(&file, &body).unwrap();
    let http = reqwest::Client::new();
    let req = http
        .post(format!("{base}/api/v1/imports/shopify"))
        .bearer_auth(&t)
        .header("x-request-id", "graceful-import-1")
        .body(body)
        .send();
    let pid = child.id().to_string();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    });
    let started = Instant::now();
    let r = req.await.expect("the request in flight is answered");
    assert!(
        started.elapsed() > Duration::from_millis(300),
        "the import finished before SIGTERM was sent; make it larger"
    );
    killer.await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "graceful-import-1");
    let rep: Value = r.json().await.unwrap();
    assert_eq!(rep["created"], 40_000);
    assert!(child.wait().unwrap().success());
    // Every order answered is stored: importing the same file again changes nothing.
    let out = herald(&db, &["import", "shopify", file.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("0 created, 0 updated, 40000 unchanged"),
        "{said}"
    );
    // The request id is in the log.
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter()
            .any(|l| l.contains("graceful-import-1") && l.contains("finished processing request")),
        "no log line carries the request id: {:?}",
        logs.iter().rev().take(5).collect::<Vec<_>>()
    );
}

async fn shipments_and_tracking_events_over_http(db: Db) {
    let t = token(&db, "tracking");
    let s = Server::start(&db, &t);
    let (_, o) = s
        .post_json("/api/v1/orders", &order("5001", "2025-12-01T15:00:00Z"))
        .await;
    let order_id = o["results"][0]["id"].as_i64().unwrap();
    let scan = |status: &str, at: &str, city: &str| {
        json!({"carrier": "FedEx", "tracking_number": "7712 3456 7890", "status": status,
               "occurred_at": at, "location": {"city": city, "region": "NC"}})
    };
    // The carrier's events may come first; repeats are recognised.
    let (st, r) = s
        .post_json(
            "/api/v1/tracking-events",
            &json!([
                scan("accepted", "2025-12-02T14:00:00Z", "Orlando"),
                scan("in_transit", "2025-12-03T09:00:00Z", "Kenly")
            ]),
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["results"], json!([{"stored": true}, {"stored": true}]));
    let (_, r) = s
        .post_json(
            "/api/v1/tracking-events",
            &json!({"events": [scan("in_transit", "2025-12-03T09:00:00Z", "Kenly")]}),
        )
        .await;
    assert_eq!(r["results"], json!([{"stored": false}]));
    // The seller's shipment picks them up.
    let (st, sh) = s
        .post_json(
            "/api/v1/shipments",
            &json!({"order_id": order_id, "carrier": "fedex", "tracking_number": "771234567890",
                    "service": "FedEx Ground", "label_created_at": "2025-12-02T10:00:00Z",
                    "origin_postal_code": "32801", "destination_postal_code": "11201"}),
        )
        .await;
    assert_eq!(st, 200, "{sh}");
    assert_eq!(sh["status"], "in_transit");
    assert_eq!(sh["events"].as_array().unwrap().len(), 2);
    // A late old scan does not move it back; delivery moves it on.
    s.post_json(
        "/api/v1/tracking-events",
        &scan("pre_transit", "2025-12-02T10:05:00Z", "Orlando"),
    )
    .await;
    s.post_json(
        "/api/v1/tracking-events",
        &scan("delivered", "2025-12-04T17:30:00Z", "Brooklyn"),
    )
    .await;
    let (_, got) = s.get(&format!("/api/v1/shipments/{}", sh["id"])).await;
    assert_eq!(got["status"], "delivered");
    assert_eq!(got["events"].as_array().unwrap().len(), 4);
    let (_, ord) = s.get(&format!("/api/v1/orders/{order_id}")).await;
    assert_eq!(ord["shipments"][0]["tracking_number"], "771234567890");
    // Bad input names the field; nothing is stored.
    let (st, e) = s
        .post_json(
            "/api/v1/tracking-events",
            &json!([
                scan("delivered", "2025-12-05T10:00:00Z", "X"),
                scan("teleported", "2025-12-05T11:00:00Z", "Y")
            ]),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(e["errors"][0]["field"], "[1].status");
    let (_, got) = s.get(&format!("/api/v1/shipments/{}", sh["id"])).await;
    assert_eq!(got["events"].as_array().unwrap().len(), 4);
    let (st, e) = s
        .post_json(
            "/api/v1/shipments",
            &json!({"order_id": 999999, "carrier": "ups", "tracking_number": "1Z999"}),
        )
        .await;
    assert_eq!(st, 422);
    assert_eq!(e["errors"][0]["field"], "order_id");
    assert_eq!(s.get("/api/v1/shipments/424242").await.0, 404);
    // One batch for forty parcels (on SQLite their rules run on a second thread while the
    // events are stored): each parcel ends as its own scans say.
    let orders: Vec<Value> = (0..40)
        .map(|i| order(&format!("51{i:02}"), "2025-12-01T15:00:00Z"))
        .collect();
    let (st, o) = s.post_json("/api/v1/orders", &json!(orders)).await;
    assert_eq!(st, 200, "{o}");
    let mut ids = Vec::new();
    for (i, r) in o["results"].as_array().unwrap().iter().enumerate() {
        let (st, sh) = s
            .post_json(
                "/api/v1/shipments",
                &json!({"order_id": r["id"], "carrier": "usps",
                        "tracking_number": format!("9400B{i:02}"), "service": "Priority Mail",
                        "label_created_at": "2025-12-01T20:00:00Z",
                        "origin_postal_code": "86001", "destination_postal_code": "07030"}),
            )
            .await;
        assert_eq!(st, 200, "{sh}");
        ids.push(sh["id"].as_i64().unwrap());
    }
    let scans: Vec<Value> = (0..40)
        .flat_map(|i| {
            let t = format!("9400B{i:02}");
            let last = if i % 2 == 0 { "delivered" } else { "in_transit" };
            [
                json!({"carrier": "usps", "tracking_number": t, "status": "accepted",
                       "occurred_at": "2025-12-01T22:00:00Z", "location": {"city": "Flagstaff", "region": "AZ"}}),
                json!({"carrier": "usps", "tracking_number": t, "status": last,
                       "occurred_at": "2025-12-03T15:00:00Z", "location": {"city": "Hoboken", "region": "NJ"}}),
            ]
        })
        .collect();
    let (st, r) = s.post_json("/api/v1/tracking-events", &json!(scans)).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["results"].as_array().unwrap().len(), 80);
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["stored"] == true)
    );
    for (i, id) in ids.iter().enumerate() {
        let (_, got) = s.get(&format!("/api/v1/shipments/{id}")).await;
        let want = if i % 2 == 0 {
            "delivered"
        } else {
            "in_transit"
        };
        assert_eq!(got["status"], want, "parcel {i}: {got}");
        assert_eq!(got["events"].as_array().unwrap().len(), 2);
    }
    // The judgement was written with the scans: one delivered notice per delivered parcel
    // (the twenty, and the FedEx parcel above), each once.
    let (_, delivered) = s.get("/api/v1/messages?kind=delivered&limit=100").await;
    let mut orders: Vec<i64> = delivered["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["order_id"].as_i64().unwrap())
        .collect();
    orders.sort_unstable();
    orders.dedup();
    assert_eq!(
        delivered["items"].as_array().unwrap().len(),
        21,
        "{delivered}"
    );
    assert_eq!(orders.len(), 21);
}

async fn provider_webhooks_feed_cases_the_seller_works(db: Db) {
    use herald_core::providers::{aftership, easypost, shippo};
    let t = token(&db, "webhooks");
    let s = Server::start(&db, &t);
    // Each provider's payload, signed its way, is taken; the events are kept even though no
    // shipment has these tracking numbers yet.
    let ep = fixture("easypost_tracker_updated.json");
    let (st, r) = s
        .webhook(
            "easypost",
            ("X-Hmac-Signature", &easypost::sign(EASYPOST_SECRET, &ep)),
            &ep,
        )
        .await;
    assert_eq!((st, r["events"].as_u64()), (200, Some(3)), "{r}");
    let sp = fixture("shippo_track_updated.json");
    let sig = shippo::sign(SHIPPO_SECRET, &sp, jiff::Timestamp::now());
    let (st, r) = s
        .webhook("shippo", ("Shippo-Auth-Signature", &sig), &sp)
        .await;
    assert_eq!(st, 200, "{r}");
    let af = fixture("aftership_tracking_update.json");
    let (st, r) = s
        .webhook(
            "aftership",
            (
                "aftership-hmac-sha256",
                &aftership::sign(AFTERSHIP_SECRET, &af),
            ),
            &af,
        )
        .await;
    assert_eq!((st, r["events"].as_u64()), (200, Some(3)), "{r}");
    // The same delivery again: kept for audit, no new events.
    let (_, r) = s
        .webhook(
            "aftership",
            (
                "aftership-hmac-sha256",
                &aftership::sign(AFTERSHIP_SECRET, &af),
            ),
            &af,
        )
        .await;
    assert_eq!(r["new_events"], 0);
    // Bad, stale or missing signatures: 401, nothing stored.
    let (st, _) = s
        .webhook(
            "easypost",
            ("X-Hmac-Signature", &easypost::sign("wrong-secret", &ep)),
            &ep,
        )
        .await;
    assert_eq!(st, 401);
    let stale = shippo::sign(
        SHIPPO_SECRET,
        &sp,
        jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10),
    );
    let (st, e) = s
        .webhook("shippo", ("Shippo-Auth-Signature", &stale), &sp)
        .await;
    assert_eq!(st, 401);
    assert!(e["detail"].as_str().unwrap().contains("5 minutes"), "{e}");
    let (st, e) = s.webhook("aftership", ("x-other", "1"), &af).await;
    assert_eq!(st, 401);
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("aftership-hmac-sha256"),
        "{e}"
    );
    assert!(!e.to_string().contains(AFTERSHIP_SECRET));
    let (_, all) = s.get("/api/v1/webhooks").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    // Signed but unreadable: a dead letter with the reason, answered 200.
    let junk = br#"{"object":"Event","description":"tracker.updated","result":{"object":"Tracker","carrier":"USPS"}}"#;
    let (st, r) = s
        .webhook(
            "easypost",
            ("X-Hmac-Signature", &easypost::sign(EASYPOST_SECRET, junk)),
            junk,
        )
        .await;
    assert_eq!((st, &r["dead_letter"]), (200, &json!(true)), "{r}");
    let (_, dl) = s.get("/api/v1/webhooks?dead_letters=true").await;
    let dl = dl["items"].as_array().unwrap().clone();
    assert_eq!(dl.len(), 1);
    assert!(
        dl[0]["reason"].as_str().unwrap().contains("tracking_code"),
        "{dl:?}"
    );
    // Oversized: a clear 413, nothing stored.
    let big = vec![b' '; 2_100_000];
    let (st, _) = s
        .webhook(
            "easypost",
            ("X-Hmac-Signature", &easypost::sign(EASYPOST_SECRET, &big)),
            &big,
        )
        .await;
    assert_eq!(st, 413);
    assert_eq!(
        s.get("/api/v1/webhooks").await.1["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // A provider without a secret is switched off.
    assert_eq!(s.webhook("fedex", ("x", "y"), b"{}").await.0, 404);

    // The seller's shipment for the AfterShip parcel arrives after its scans: San Francisco to
    // Hoboken, scanned in Anchorage, now returned to sender.
    let (_, o) = s
        .post_json("/api/v1/orders", &order("7001", "2025-12-01T15:00:00Z"))
        .await;
    let order_id = o["results"][0]["id"].as_i64().unwrap();
    let (st, sh) = s
        .post_json(
            "/api/v1/shipments",
            &json!({"order_id": order_id, "carrier": "UPS", "tracking_number": "1Z999AA10123456784",
                    "service": "UPS Ground", "label_created_at": "2025-12-01T20:00:00Z",
                    "origin_postal_code": "94107", "destination_postal_code": "07030"}),
        )
        .await;
    assert_eq!(st, 200, "{sh}");
    assert_eq!(sh["status"], "returned_to_sender");
    assert_eq!(sh["events"].as_array().unwrap().len(), 3);
    // The sweep opens one case with the scans that prove it.
    let cases = s
        .wait_for("/api/v1/cases?open=true", |v| {
            v["items"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let case = &cases["items"][0];
    assert_eq!(case["kind"], "returned_to_sender");
    let kinds: Vec<&str> = case["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"misrouted"), "{kinds:?}");
    assert!(
        case["next_step"]
            .as_str()
            .unwrap()
            .contains("confirm the address"),
        "{case}"
    );
    assert_eq!(case["compensation"]["type"], "shipping_upgrade");
    let misrouted = case["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "misrouted")
        .unwrap();
    assert_eq!(misrouted["evidence"][0]["location"]["city"], "Anchorage");
    let id = case["id"].as_i64().unwrap();
    // Filters.
    let (_, f) = s.get("/api/v1/cases?kind=misrouted&older_than=0m").await;
    assert_eq!(f["items"].as_array().unwrap().len(), 1);
    let (_, f) = s.get("/api/v1/cases?kind=stalled").await;
    assert_eq!(f["items"].as_array().unwrap().len(), 0);
    let (st, e) = s.get("/api/v1/cases?kind=lost").await;
    assert_eq!((st, &e["errors"][0]["field"]), (400, &json!("kind")));
    // The seller works it: a claim needs the carrier's reference.
    let (st, e) = s
        .post_json(
            &format!("/api/v1/cases/{id}/actions"),
            &json!({"action": "carrier_claim"}),
        )
        .await;
    assert_eq!((st, &e["errors"][0]["field"]), (422, &json!("reference")));
    let (st, c) = s
        .post_json(
            &format!("/api/v1/cases/{id}/actions"),
            &json!({"action": "contacted_customer", "note": "Asked for a new address"}),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert!(c["first_action_at"].is_string());
    let (st, c) = s
        .post_json(
            &format!("/api/v1/cases/{id}/actions"),
            &json!({"action": "resolved"}),
        )
        .await;
    assert_eq!(
        (st, &c["open"], &c["close_reason"]),
        (200, &json!(false), &json!("resolved"))
    );
    let (st, _) = s
        .post_json(
            &format!("/api/v1/cases/{id}/actions"),
            &json!({"action": "reshipped"}),
        )
        .await;
    assert_eq!(st, 409);
    assert_eq!(s.get("/api/v1/cases/999999").await.0, 404);
    // The seller heard of it.
    let (_, alerts) = s.get("/api/v1/alerts").await;
    assert!(
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "case_opened" && a["case_id"] == id)
    );
}

const SHOP_FROM: &str = "Sandstone Pottery <orders@sandstonepottery.shop>";
const SHOP_REPLY_TO: &str = "hello@sandstonepottery.shop";

/// A raw message's text with quoted-printable soft breaks and `=3D` undone.
fn unfold(raw: &str) -> String {
    raw.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

fn rfc3339_ago(mins: i64) -> String {
    (jiff::Timestamp::now() - jiff::SignedDuration::from_mins(mins)).to_string()
}

async fn customer_messages_go_out_once_through_a_real_smtp_server(db: Db) {
    let Some(sink) = support::SmtpSink::start() else {
        return;
    };
    let t = token(&db, "mail");
    let smtp = sink.url();
    let s = Server::start_with(
        &db,
        &t,
        &[
            ("HERALD_MAIL__SMTP_URL", smtp.as_str()),
            ("HERALD_MAIL__FROM", SHOP_FROM),
            ("HERALD_MAIL__REPLY_TO", SHOP_REPLY_TO),
            ("HERALD_STORE__NAME", "Sandstone Pottery"),
            (
                "HERALD_NOTIFY__PUBLIC_URL",
                "https://track.sandstonepottery.shop",
            ),
        ],
    );
    let own = json!({
        "channel": "shopify", "external_id": "m1", "number": "#M1",
        "customer": {"name": "Maya Lopez", "email": "maya@shopper.test", "phone": "+1 928 555 0199"},
        "shipping_address": {"name": "Maya Lopez", "line1": "77 Juniper Lane", "city": "Hoboken",
                             "region": "NJ", "postal_code": "07030", "country": "US"},
        "items": [{"name": "Sandstone mug", "quantity": 2, "price": "28.00"}],
        "total": "56.00", "currency": "USD",
        "placed_at": rfc3339_ago(10), "paid_at": rfc3339_ago(10)
    });
    let amazon = json!({
        "channel": "amazon", "external_id": "113-0000001", "number": "113-0000001",
        "customer": {"name": "Sam Buyer", "email": "sam@marketplace.amazon.com"},
        "items": [{"name": "Espresso cup pair", "quantity": 1}],
        "placed_at": rfc3339_ago(5)
    });
    let backlog = json!({
        "channel": "shopify", "external_id": "m0", "number": "#M0",
        "customer": {"name": "Old Customer", "email": "old@shopper.test"},
        "items": [{"name": "Mug", "quantity": 1}],
        "placed_at": rfc3339_ago(3 * 24 * 60)
    });
    let (st, r) = s
        .post_json("/api/v1/orders", &json!([own, amazon, backlog]))
        .await;
    assert_eq!(st, 200, "{r}");
    let order_id = r["results"][0]["id"].as_i64().unwrap();
    let shipment = json!({
        "order_id": order_id, "carrier": "usps", "tracking_number": "9400100000000000000001",
        "service": "Priority Mail", "label_created_at": rfc3339_ago(1),
        "origin_postal_code": "86001", "destination_postal_code": "07030"
    });
    let (st, r) = s.post_json("/api/v1/shipments", &shipment).await;
    assert_eq!(st, 200, "{r}");

    // The own-store customer gets two messages: the acknowledgement and the shipped notice.
    let mails = sink.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let subject_of = |m: &String| support::header(m, "Subject").unwrap_or_default();
    let ack = mails
        .iter()
        .find(|m| subject_of(m) == "Thank you for your order #M1")
        .expect("an acknowledgement");
    let shipped = mails
        .iter()
        .find(|m| subject_of(m) == "Your order #M1 is on its way")
        .expect("a shipped notice");
    for m in [ack, shipped] {
        assert_eq!(
            support::header(m, "From").unwrap(),
            "\"Sandstone Pottery\" <orders@sandstonepottery.shop>"
        );
        assert_eq!(support::header(m, "Reply-To").unwrap(), SHOP_REPLY_TO);
        assert_eq!(support::header(m, "To").unwrap(), "maya@shopper.test");
        let id = support::header(m, "Message-ID").unwrap();
        assert!(
            id.starts_with("<herald.outbox.") && id.ends_with("@sandstonepottery.shop>"),
            "{id}"
        );
        assert!(
            support::header(m, "Content-Type")
                .unwrap()
                .starts_with("multipart/alternative"),
            "plain text and HTML"
        );
        assert!(
            support::header(m, "List-Unsubscribe").is_none(),
            "transactional mail"
        );
    }
    let (_, o) = s.get(&format!("/api/v1/orders/{order_id}")).await;
    let page_url = o["tracking_page"].as_str().unwrap().to_string();
    let token = page_url
        .strip_prefix("https://track.sandstonepottery.shop/t/")
        .unwrap_or_else(|| panic!("{page_url}"));
    assert_eq!(token.len(), 48, "128 random bits after the time: {token}");
    let body = unfold(shipped);
    for needle in [
        "Hi Maya,",
        "USPS Priority Mail",
        "9400100000000000000001",
        "2 x Sandstone mug",
        page_url.as_str(),
    ] {
        assert!(
            body.contains(needle),
            "shipped notice lacks {needle}: {body}"
        );
    }
    assert!(unfold(ack).contains("56.00 USD"));

    // The buyer tracking page: the order, its items and the journey in city-and-state words;
    // no name, address, e-mail or phone; no script.
    let scan = json!({"carrier": "usps", "tracking_number": "9400100000000000000001",
        "status": "in_transit", "occurred_at": rfc3339_ago(0),
        "location": {"city": "PHOENIX", "region": "AZ", "postal_code": "85043"}});
    let (st, _) = s.post_json("/api/v1/tracking-events", &scan).await;
    assert_eq!(st, 200);
    let page = s
        .http
        .get(s.url(&format!("/t/{token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    for needle in [
        "#M1",
        "Sandstone mug",
        "Phoenix, AZ",
        "USPS",
        "Order placed",
        "On its way",
    ] {
        assert!(html.contains(needle), "the page lacks {needle}: {html}");
    }
    for private in [
        "Maya",
        "Lopez",
        "maya@shopper.test",
        "Juniper",
        "07030",
        "85043",
        "555 0199",
    ] {
        assert!(!html.contains(private), "the page shows {private}");
    }
    assert!(!html.to_ascii_lowercase().contains("<script"));
    for bad in ["0".repeat(48), "nope".into(), format!("{token}x")] {
        let r = s
            .http
            .get(s.url(&format!("/t/{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404, "{bad}");
    }

    // Sending the same order and shipment again sends nothing again.
    let (st, _) = s.post_json("/api/v1/orders", &own).await;
    assert_eq!(st, 200);
    let (st, _) = s.post_json("/api/v1/shipments", &shipment).await;
    assert_eq!(st, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.messages().len(), 2, "nothing sent twice");
    let sent_before_bounce = 2;

    // The seller sees every message: sent (with its Message-ID), queued for Amazon's own
    // messaging, and skipped with the reason.
    let (_, sent) = s.get("/api/v1/messages?status=sent").await;
    let sent = sent["items"].as_array().unwrap();
    assert_eq!(sent.len(), sent_before_bounce);
    let ids: Vec<String> = mails
        .iter()
        .map(|m| support::header(m, "Message-ID").unwrap())
        .collect();
    for m in sent {
        assert!(
            ids.contains(&m["message_id"].as_str().unwrap().to_string()),
            "{m}"
        );
    }
    let (_, market) = s.get("/api/v1/messages?channel=marketplace").await;
    let market = market["items"].as_array().unwrap();
    assert_eq!(market.len(), 1, "{market:?}");
    assert_eq!(market[0]["kind"], "order_acknowledged");
    assert!(market[0]["body"].as_str().unwrap().contains("113-0000001"));
    let (_, skipped) = s.get("/api/v1/messages?status=skipped").await;
    let skipped = skipped["items"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("too late"),
        "{}",
        skipped[0]
    );
    let csv = s
        .http
        .get(s.url("/api/v1/messages/export.csv"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("message_id,order_id,kind"), "{csv}");
    assert!(csv.contains("113-0000001"), "{csv}");

    // The customer's mailbox does not exist: the bounce comes back to herald. The address is
    // marked undeliverable, the seller is alerted, the order says so, and herald stops mailing.
    let ack_id = support::header(ack, "Message-ID").unwrap();
    let dsn = dsn_for("maya@shopper.test", &ack_id);
    let r = s
        .http
        .post(s.url("/api/v1/inbound/email"))
        .bearer_auth(&t)
        .header("content-type", "message/rfc822")
        .body(dsn)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["recognised"], true, "{v}");
    assert_eq!(v["undeliverable"], json!(["maya@shopper.test"]));
    assert_eq!(v["order_id"], order_id);
    let (_, o) = s.get(&format!("/api/v1/orders/{order_id}")).await;
    assert_eq!(o["customer_email_undeliverable"]["status"], "5.1.1", "{o}");
    let (_, alerts) = s.get("/api/v1/alerts").await;
    assert!(
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "customer_unreachable" && a["order_id"] == order_id),
        "{alerts}"
    );
    let second = json!({
        "order_id": order_id, "carrier": "ups", "tracking_number": "1Z999AA10123456784",
        "label_created_at": rfc3339_ago(0)
    });
    let (st, _) = s.post_json("/api/v1/shipments", &second).await;
    assert_eq!(st, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, sk) = s.get("/api/v1/messages?status=skipped&kind=shipped").await;
        if let Some(m) = sk["items"].as_array().unwrap().first() {
            assert!(m["last_error"].as_str().unwrap().contains("bounced"), "{m}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second shipped notice was not skipped"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = s
        .http
        .post(s.url("/api/v1/inbound/email"))
        .bearer_auth(&t)
        .body("From: a@b.shop\r\nSubject: hello\r\n\r\nJust a note.\r\n")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["recognised"], false, "{v}");

    // The seller's wording is validated when saved, with the part and line at fault.
    let put = |body: Value| {
        s.http
            .put(s.url("/api/v1/templates/delivered"))
            .bearer_auth(&t)
            .json(&body)
            .send()
    };
    let r =
        put(json!({"subject": "Delivered", "text": "Hi\n{{ order.nmber }}", "html": "<p>x</p>"}))
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "text", "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{problem}"
    );
    let r = put(json!({"subject": "Arrived: {{ order.number }}", "text": "It is there, {{ customer.first_name }}.", "html": "<p>It is there.</p>"}))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (st, p) = s
        .post_json("/api/v1/templates/delivered/preview", &Value::Null)
        .await;
    assert_eq!(st, 200, "{p}");
    assert_eq!(p["preview"]["subject"], "Arrived: #1042");
}

/// What a webhook receiver got: (path, webhook-id, webhook-timestamp, webhook-signature, body).
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String, String, String)>>>;

/// A seller's webhook receiver on 127.0.0.1: `/hook` answers 200, `/gone` 410.
async fn webhook_receiver() -> (String, Received) {
    use axum::http::{HeaderMap, StatusCode, Uri};
    let got: Received = Default::default();
    let keep = got.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, h: HeaderMap, body: String| {
        let keep = keep.clone();
        async move {
            let header = |n: &str| {
                h.get(n)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            keep.lock().unwrap().push((
                uri.path().to_string(),
                header("webhook-id"),
                header("webhook-timestamp"),
                header("webhook-signature"),
                body,
            ));
            if uri.path() == "/gone" {
                StatusCode::GONE
            } else {
                StatusCode::OK
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, got)
}

/// Moves every alert two hours into the past (so it falls in today's digest window).
fn backdate_alerts(db: &Db) {
    let sql = "UPDATE alerts SET raised_at = raised_at - 7200000000";
    if db.pg.is_some() {
        let out = Command::new("psql")
            .args([db.url.as_str(), "-qc", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    } else {
        let path = db.url.strip_prefix("sqlite://").unwrap();
        rusqlite::Connection::open(path)
            .unwrap()
            .execute(sql, [])
            .unwrap();
    }
}

async fn sellers_hear_by_mail_and_webhook_and_delays_carry_an_offer(db: Db) {
    use herald_core::notify::webhook::SigningSecret;
    let Some(sink) = support::SmtpSink::start() else {
        return;
    };
    let (hooks, received) = webhook_receiver().await;
    let t = token(&db, "seller");
    let smtp = sink.url();
    let mail = [
        ("HERALD_MAIL__SMTP_URL", smtp.as_str()),
        ("HERALD_MAIL__FROM", SHOP_FROM),
        ("HERALD_MAIL__REPLY_TO", SHOP_REPLY_TO),
        ("HERALD_STORE__NAME", "Sandstone Pottery"),
        ("HERALD_NOTIFY__SELLER_EMAIL", "owner@sandstonepottery.shop"),
        (
            "HERALD_NOTIFY__PUBLIC_URL",
            "https://track.sandstonepottery.shop",
        ),
        // The seller's second store, under its own name.
        ("HERALD_MAIL__STORES__CANDLES__NAME", "Juniper Candles"),
        (
            "HERALD_MAIL__STORES__CANDLES__FROM",
            "Juniper Candles <orders@junipercandles.shop>",
        ),
        (
            "HERALD_MAIL__STORES__CANDLES__REPLY_TO",
            "hello@junipercandles.shop",
        ),
    ];
    let mut env = mail.to_vec();
    // Every unshipped order is at risk from the start, so it owes its customer a delay notice.
    env.push(("HERALD_STORE__AT_RISK_BUSINESS_HOURS", "720"));
    env.push(("HERALD_NOTIFY__OFFERS__CODES", "pool"));
    env.push(("HERALD_NOTIFY__OFFERS__DELAYED", "coupon 20%"));
    let s = Server::start_with(&db, &t, &env);

    // Endpoints: one for delays and alerts (with the seller's own secret), one that is gone.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (st, bad) = s
        .post_json(
            "/api/v1/webhook-endpoints",
            &json!({"url": format!("{hooks}/hook"), "events": ["order.exploded"]}),
        )
        .await;
    assert_eq!(st, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "events[0]", "{bad}");
    let (st, a) = s
        .post_json(
            "/api/v1/webhook-endpoints",
            &json!({"url": format!("{hooks}/hook"), "events": ["order.delayed", "alert.raised"],
                    "secret": secret, "description": "ERP"}),
        )
        .await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["secret"], secret);
    let (st, b) = s
        .post_json(
            "/api/v1/webhook-endpoints",
            &json!({"url": format!("{hooks}/gone"), "events": ["order.received"]}),
        )
        .await;
    assert_eq!(st, 201, "{b}");
    assert!(b["secret"].as_str().unwrap().starts_with("whsec_"));
    let (_, list) = s.get("/api/v1/webhook-endpoints").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains("whsec_"),
        "secrets are shown once"
    );

    // The coupon pool, from the seller's store export; a wrong file is refused by line.
    let upload = |body: &'static str| {
        s.http
            .post(s.url("/api/v1/offer-codes"))
            .bearer_auth(&t)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let r = upload("code\nSORRY-AAA1\nmaya@shopper.test\n")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("line 3"));
    let r: Value = upload("code,value\nSORRY-AAA1,20%\nSORRY-AAA2,20%\n")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["added"], 2, "{r}");

    let order = json!({
        "channel": "shopify", "external_id": "d1", "number": "#D1",
        "customer": {"name": "Dana Reyes", "email": "dana@shopper.test"},
        "items": [{"name": "Sandstone mug", "quantity": 1}],
        "placed_at": rfc3339_ago(2), "paid_at": rfc3339_ago(2)
    });
    let (st, r) = s.post_json("/api/v1/orders", &order).await;
    assert_eq!(st, 200, "{r}");
    let order_id = r["results"][0]["id"].as_i64().unwrap();

    // The customer: an acknowledgement and a delay notice with the new estimate and a coupon
    // from the pool. The seller: the at-risk alert.
    let mails = sink.wait_for(3);
    assert_eq!(mails.len(), 3, "{mails:#?}");
    let to = |m: &String| support::header(m, "To").unwrap_or_default();
    let delayed = mails
        .iter()
        .find(|m| to(m) == "dana@shopper.test" && unfold(m).contains("as we promised"))
        .expect("a delay notice");
    let text = unfold(delayed);
    assert!(text.contains("We now expect it to ship by"), "{text}");
    assert!(text.contains("20% off your next order"), "{text}");
    assert!(text.contains("SORRY-AAA1"), "{text}");
    let alert = mails
        .iter()
        .find(|m| to(m) == "owner@sandstonepottery.shop")
        .expect("a seller alert");
    assert_eq!(
        support::header(alert, "Subject").unwrap(),
        "herald: An order is at risk of shipping late"
    );
    assert!(unfold(alert).contains("#D1"));
    assert!(
        support::header(alert, "List-Unsubscribe").is_none(),
        "alerts are transactional"
    );
    let (_, codes) = s.get("/api/v1/offer-codes?given=true").await;
    let codes = codes["items"].as_array().unwrap();
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!(
        (&codes[0]["code"], &codes[0]["order_id"], &codes[0]["offer"]),
        (&json!("SORRY-AAA1"), &json!(order_id), &json!("coupon 20%"))
    );

    // The seller's systems: order.delayed and alert.raised, each once, signed so that a
    // Standard Webhooks library accepts them; the endpoint that answers 410 is a dead letter.
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "{:?}", received.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = received.lock().unwrap().clone();
    let hooked: Vec<_> = got.iter().filter(|r| r.0 == "/hook").collect();
    assert_eq!(hooked.len(), 2, "each event once: {got:?}");
    let key = SigningSecret::parse(secret).unwrap();
    let mut types = Vec::new();
    for (_, id, ts, sig, body) in &hooked {
        assert!(id.starts_with("msg_herald"), "{id}");
        assert!(
            key.verify(id, ts.parse().unwrap(), body.as_bytes(), sig),
            "signature of {body}"
        );
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["data"]["order"]["number"], "#D1", "{v}");
        types.push(v["type"].as_str().unwrap().to_string());
    }
    types.sort();
    assert_eq!(types, ["alert.raised", "order.delayed"]);
    let dead = loop {
        let (_, d) = s.get("/api/v1/messages?channel=webhook&status=dead").await;
        if let Some(m) = d["items"].as_array().unwrap().first() {
            break m.clone();
        }
        assert!(Instant::now() < deadline, "the 410 delivery is not dead");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        dead["last_error"].as_str().unwrap().contains("410"),
        "{dead}"
    );
    assert_eq!(dead["kind"], "order_acknowledged");

    // The second store: its own wording, sender and Message-ID domain.
    let r = s
        .http
        .put(s.url("/api/v1/templates/order_acknowledged?store=candles"))
        .bearer_auth(&t)
        .json(
            &json!({"subject": "{{ store.name }} got your order {{ order.number }}",
                      "text": "Thank you, {{ customer.first_name }}. {{ store.contact }}",
                      "html": "<p>Thank you.</p>"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, shared) = s.get("/api/v1/templates/order_acknowledged").await;
    assert_eq!(shared["custom"], false, "other stores keep their wording");
    let candles = json!({
        "channel": "candles", "external_id": "c1", "number": "#C1",
        "customer": {"name": "Lee Park", "email": "lee@shopper.test"},
        "items": [{"name": "Juniper candle", "quantity": 1}],
        "placed_at": rfc3339_ago(1), "paid_at": rfc3339_ago(1), "shipped_at": rfc3339_ago(0)
    });
    let (st, r) = s.post_json("/api/v1/orders", &candles).await;
    assert_eq!(st, 200, "{r}");
    let mails = sink.wait_for(4);
    let lee = mails
        .iter()
        .find(|m| to(m) == "lee@shopper.test")
        .expect("the candle store's acknowledgement");
    assert_eq!(
        support::header(lee, "Subject").unwrap(),
        "Juniper Candles got your order #C1"
    );
    assert_eq!(
        support::header(lee, "From").unwrap(),
        "\"Juniper Candles\" <orders@junipercandles.shop>"
    );
    assert_eq!(
        support::header(lee, "Reply-To").unwrap(),
        "hello@junipercandles.shop"
    );
    assert!(
        support::header(lee, "Message-ID")
            .unwrap()
            .ends_with("@junipercandles.shop>")
    );
    assert!(unfold(lee).contains("Thank you, Lee. hello@junipercandles.shop"));
    drop(s);

    // The next day's digest, at the seller's hour: the day's alerts in one message the seller
    // can leave with one click.
    backdate_alerts(&db);
    let hour = jiff::Timestamp::now()
        .in_tz("America/New_York")
        .unwrap()
        .hour()
        .to_string();
    let mut env = mail.to_vec();
    env.push(("HERALD_NOTIFY__SELLER_ALERTS", "digest"));
    env.push(("HERALD_NOTIFY__DIGEST_HOUR", hour.as_str()));
    let s = Server::start_with(&db, &t, &env);
    let mails = sink.wait_for(5);
    assert_eq!(mails.len(), 5, "{mails:#?}");
    let digest = mails
        .iter()
        .find(|m| {
            support::header(m, "Subject")
                .is_some_and(|s| s.starts_with("herald daily digest for Sandstone Pottery"))
        })
        .expect("a digest");
    assert_eq!(to(digest), "owner@sandstonepottery.shop");
    assert!(unfold(digest).contains("#D1 (shopify) is at risk"));
    assert_eq!(
        support::header(digest, "List-Unsubscribe-Post").unwrap(),
        "List-Unsubscribe=One-Click"
    );
    let link = support::header(digest, "List-Unsubscribe").unwrap();
    let path = link
        .trim_matches(['<', '>'])
        .strip_prefix("https://track.sandstonepottery.shop")
        .unwrap_or_else(|| panic!("{link}"))
        .to_string();
    let page = s.http.get(s.url(&path)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("<form method=\"post\""));
    for _ in 0..2 {
        let r = s
            .http
            .post(s.url(&path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.text().await.unwrap().contains("You are unsubscribed"));
    }
    let r = s
        .http
        .post(s.url(&format!("/unsubscribe/{}", "0".repeat(32))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn check_refuses_placeholder_senders_and_notify_test_sends_through_smtp() {
    let db = sqlite_db();
    let out = Command::new(BIN)
        .args(["--database-url", &db.url, "check"])
        .env("HERALD_MAIL__SMTP_URL", "smtp://127.0.0.1:2525")
        .env("HERALD_MAIL__FROM", "Shop <orders@example.com>")
        .env("HERALD_MAIL__REPLY_TO", "help@localhost")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("mail.from") && text.contains("example.com"),
        "{text}"
    );
    assert!(
        text.contains("mail.reply_to") && text.contains("localhost"),
        "{text}"
    );
    // The same settings refuse a test message too, saying why.
    let out = Command::new(BIN)
        .args([
            "--database-url",
            &db.url,
            "notify",
            "test",
            "--to",
            "owner@shop.test",
        ])
        .env("HERALD_MAIL__SMTP_URL", "smtp://127.0.0.1:2525")
        .env("HERALD_MAIL__FROM", "Shop <orders@example.com>")
        .env("HERALD_MAIL__REPLY_TO", "help@localhost")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("placeholder"));
    // `notify preview` shows herald's wording with sample facts.
    let out = Command::new(BIN)
        .args(["--database-url", &db.url, "notify", "preview", "shipped"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Subject: Your order #1042 is on its way"),
        "{text}"
    );
    // A store of its own: its name in herald's wording.
    let out = Command::new(BIN)
        .args(["--database-url", &db.url, "notify", "preview", "test"])
        .args(["--store", "candles"])
        .env("HERALD_MAIL__STORES__CANDLES__NAME", "Juniper Candles")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Juniper Candles"), "{text}");
    let Some(sink) = support::SmtpSink::start() else {
        return;
    };
    let out = Command::new(BIN)
        .args([
            "--database-url",
            &db.url,
            "notify",
            "test",
            "--to",
            "owner@sandstonepottery.shop",
        ])
        .env("HERALD_MAIL__SMTP_URL", sink.url())
        .env("HERALD_MAIL__FROM", SHOP_FROM)
        .env("HERALD_MAIL__REPLY_TO", SHOP_REPLY_TO)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mails = sink.wait_for(1);
    assert_eq!(mails.len(), 1);
    assert_eq!(
        support::header(&mails[0], "To").unwrap(),
        "owner@sandstonepottery.shop"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let id = support::header(&mails[0], "Message-ID").unwrap();
    assert!(said.contains(&id), "{said} / {id}");
}

/// A delivery status notification in the shape Postfix sends, for a message herald sent.
fn dsn_for(to: &str, message_id: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mail.sandstonepottery.shop (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
To: orders@sandstonepottery.shop\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"R1\"\r\n\
\r\n\
--R1\r\n\
Content-Type: text/plain\r\n\
\r\n\
Your message could not be delivered.\r\n\
\r\n\
--R1\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mail.sandstonepottery.shop\r\n\
\r\n\
Final-Recipient: rfc822; {to}\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\
\r\n\
--R1\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
To: {to}\r\n\
Message-ID: {message_id}\r\n\
\r\n\
--R1--\r\n"
    )
}

#[test]
fn bounces_import_reads_an_mbox() {
    let db = sqlite_db();
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("bounces.mbox");
    std::fs::write(
        &mbox,
        format!(
            "From MAILER-DAEMON Mon Nov 23 10:00:00 2026\n{}\nFrom someone Mon Nov 23 10:01:00 2026\nFrom: a@b.shop\nSubject: hi\n\nhello\n",
            dsn_for("gone@shopper.test", "<herald.outbox.9@sandstonepottery.shop>")
        ),
    )
    .unwrap();
    let out = herald(&db, &["bounces", "import", mbox.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("gone@shopper.test is undeliverable"),
        "{text}"
    );
    assert!(
        text.contains("2 messages: 1 delivery reports (1 addresses undeliverable), 1 other"),
        "{text}"
    );
    let out = herald(&db, &["bounces", "import", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Maildir"));
}

impl Server {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(k) = key {
            r = r.header("idempotency-key", k);
        }
        let r = r.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// A public surface, as a browser or a widget fetches it (no token).
    async fn public(&self, path: &str) -> (u16, String) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.text().await.unwrap())
    }

    /// Polls a public JSON document until `done` holds, for up to 10 s.
    async fn wait_public(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (_, body) = self.public(path).await;
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if done(&v) {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: gave up waiting; last {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

async fn the_status_page_end_to_end(db: Db) {
    use reqwest::Method;
    let t = token(&db, "status");
    let env = [
        ("HERALD_STORE__NAME", "Sandstone Pottery"),
        (
            "HERALD_STATUS__URL",
            "https://status.sandstonepottery.shop/",
        ),
        // Remind five minutes ahead: a one-minute promise is due for a reminder at once.
        ("HERALD_STATUS__REMIND_BEFORE_MINUTES", "5"),
    ];
    let s = Server::start_with(&db, &t, &env);

    // An empty page is green.
    let v = s
        .wait_public("/api/v2/status.json", |v| v["status"].is_object())
        .await;
    assert_eq!(v["status"]["indicator"], "none");
    assert_eq!(v["status"]["description"], "All Systems Operational");
    assert_eq!(v["page"]["name"], "Sandstone Pottery");
    assert_eq!(v["page"]["url"], "https://status.sandstonepottery.shop");
    assert_eq!(v["page"]["time_zone"], "America/New_York");

    // Components, one in a group; the admin API needs the token.
    let r = s
        .http
        .post(s.url("/api/v1/status/components"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (st, checkout) = s
        .post_json(
            "/api/v1/status/components",
            &json!({"name": "Checkout", "group": "Store front", "description": "Cart and payment"}),
        )
        .await;
    assert_eq!(st, 201, "{checkout}");
    let checkout_id = checkout["id"].as_str().unwrap().to_string();
    assert_eq!(checkout["group_name"], "Store front");
    let (st, tracking) = s
        .post_json(
            "/api/v1/status/components",
            &json!({"name": "Order tracking"}),
        )
        .await;
    assert_eq!(st, 201, "{tracking}");
    let (st, dup) = s
        .post_json(
            "/api/v1/status/components",
            &json!({"name": "checkout", "group": "Store front"}),
        )
        .await;
    assert_eq!(st, 422, "{dup}");
    assert_eq!(dup["errors"][0]["field"], "name");
    let (st, bad) = s
        .post_json(
            "/api/v1/status/components",
            &json!({"name": "Search", "status": "down"}),
        )
        .await;
    assert_eq!(st, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "status", "{bad}");
    let (st, bad) = s
        .post_json(
            "/api/v1/status/components",
            &json!({"name": "Search", "colour": "red"}),
        )
        .await;
    assert_eq!(st, 422, "{bad}");
    assert!(bad["detail"].as_str().unwrap().contains("colour"), "{bad}");

    // An incident that puts checkout in a partial outage, promising the next update in a
    // minute. Sent twice with one Idempotency-Key: one incident.
    let body = json!({
        "name": "Card payments fail",
        "body": "Some card payments fail at checkout. PayPal still works.",
        "components": {checkout_id.clone(): "partial_outage"},
        "next_update_in_minutes": 1,
        "estimated_restore_at": "2099-01-01T17:00:00Z"
    });
    let (st, inc) = s
        .send(
            Method::POST,
            "/api/v1/status/incidents",
            &body,
            Some("incident-1"),
        )
        .await;
    assert_eq!(st, 201, "{inc}");
    let (st, again) = s
        .send(
            Method::POST,
            "/api/v1/status/incidents",
            &body,
            Some("incident-1"),
        )
        .await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["id"], inc["id"]);
    let inc_id = inc["id"].as_str().unwrap().to_string();
    assert_eq!(inc["impact"], "major");
    assert!(inc["next_update_by"].is_string(), "{inc}");
    let (st, bad) = s
        .post_json(
            "/api/v1/status/incidents",
            &json!({"name": "x", "body": "y", "components": {"nope": "major_outage"}}),
        )
        .await;
    assert_eq!(st, 404, "{bad}");
    assert!(
        bad["detail"].as_str().unwrap().contains("components.nope"),
        "{bad}"
    );

    // The change is served at once by this node, from the snapshot.
    let (_, summary) = s.public("/api/v2/summary.json").await;
    let v: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(v["status"]["indicator"], "major");
    assert_eq!(v["status"]["description"], "Partial System Outage");
    assert_eq!(v["incidents"][0]["id"], inc_id.as_str());
    assert_eq!(
        v["incidents"][0]["incident_updates"][0]["affected_components"][0]["new_status"],
        "partial_outage"
    );
    let group = v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["group"] == true)
        .unwrap();
    assert_eq!(group["status"], "partial_outage");
    let v = s
        .wait_public("/api/v2/incidents/unresolved.json", |v| {
            v["incidents"].is_array()
        })
        .await;
    assert_eq!(v["incidents"].as_array().unwrap().len(), 1);

    // The page: the promise, the age of the last update, the restore estimate.
    let (st, html) = s.public("/").await;
    assert_eq!(st, 200);
    assert!(html.contains("Card payments fail"));
    assert!(html.contains("Next update by"), "{html}");
    assert!(html.contains("Last update"));
    assert!(html.contains("Estimated restore"));
    assert!(!html.contains("jane@"), "no personal data");
    let (st, one) = s.public(&format!("/incidents/{inc_id}")).await;
    assert_eq!(st, 200);
    assert!(one.contains("PayPal still works"));
    assert_eq!(s.public("/incidents/nosuchthing0").await.0, 404);
    let (st, atom) = s.public("/history.atom").await;
    assert_eq!(st, 200);
    assert!(atom.contains("<title>Card payments fail</title>"));
    assert!(
        s.public("/history.rss")
            .await
            .1
            .contains("<rss version=\"2.0\"")
    );
    assert!(
        s.public("/badge.svg")
            .await
            .1
            .contains("Partial System Outage")
    );
    assert_eq!(s.public("/api/v2/nothing.json").await.0, 404);

    // Surge-proof serving: compressed, cacheable, 304 for a current copy, CORS for widgets.
    let r = s
        .http
        .get(s.url("/api/v2/summary.json"))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "br");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("stale-while-revalidate")
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = s
        .http
        .get(s.url("/api/v2/summary.json"))
        .header("accept-encoding", "br")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    // The one-minute promise is within the five-minute warning: the seller is reminded once.
    let alerts = s
        .wait_for("/api/v1/alerts", |v| {
            v["alerts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["kind"] == "incident_update_due"))
        })
        .await;
    assert!(alerts.to_string().contains("Card payments fail"));
    // And it is owed to the seller as a message, like every alert (mail, digest or webhook).
    let due_id = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "incident_update_due")
        .unwrap()["id"]
        .clone();
    let (_, msgs) = s.get("/api/v1/messages?kind=seller_alert").await;
    assert!(
        msgs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["facts"]["alert_id"] == due_id),
        "{msgs}"
    );

    // Resolving brings the page back to green; the impact stays what the outage was.
    let (st, upd) = s
        .post_json(
            &format!("/api/v1/status/incidents/{inc_id}/updates"),
            &json!({"status": "resolved", "body": "Card payments work again.", "components": {checkout_id.clone(): "operational"}}),
        )
        .await;
    assert_eq!(st, 201, "{upd}");
    assert_eq!(upd["status"], "resolved");
    assert_eq!(upd["impact"], "major");
    let (st, bad) = s
        .post_json(
            &format!("/api/v1/status/incidents/{inc_id}/updates"),
            &json!({"status": "scheduled", "body": "x"}),
        )
        .await;
    assert_eq!(st, 422, "{bad}");
    let v: Value = serde_json::from_str(&s.public("/api/v2/status.json").await.1).unwrap();
    assert_eq!(v["status"]["description"], "All Systems Operational");

    // Scheduled maintenance starts and completes by itself, taking its component along.
    let now = jiff::Timestamp::now();
    let (st, m) = s
        .post_json(
            "/api/v1/status/maintenances",
            &json!({"name": "Tracking upgrade", "body": "Tracking pages pause briefly.",
                    "scheduled_for": (now + jiff::SignedDuration::from_secs(2)).to_string(),
                    "scheduled_until": (now + jiff::SignedDuration::from_secs(5)).to_string(),
                    "components": [tracking["id"]]}),
        )
        .await;
    assert_eq!(st, 201, "{m}");
    let up: Value = serde_json::from_str(
        &s.public("/api/v2/scheduled-maintenances/upcoming.json")
            .await
            .1,
    )
    .unwrap();
    assert_eq!(up["scheduled_maintenances"][0]["name"], "Tracking upgrade");
    let v = s
        .wait_public("/api/v2/summary.json", |v| {
            v["status"]["indicator"] == "maintenance"
        })
        .await;
    assert_eq!(v["scheduled_maintenances"][0]["status"], "in_progress");
    let v = s
        .wait_public("/api/v2/scheduled-maintenances.json", |v| {
            v["scheduled_maintenances"][0]["status"] == "completed"
        })
        .await;
    assert_eq!(
        v["scheduled_maintenances"][0]["incident_updates"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let v: Value = serde_json::from_str(&s.public("/api/v2/components.json").await.1).unwrap();
    assert!(
        v["components"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "operational"),
        "{v}"
    );

    // Components can be edited and removed (a group only when empty).
    let group_id = group["id"].as_str().unwrap();
    let (st, _) = s
        .send(
            Method::DELETE,
            &format!("/api/v1/status/components/{group_id}"),
            &json!({}),
            None,
        )
        .await;
    assert_eq!(st, 422);
    let (st, c) = s
        .send(
            Method::PATCH,
            &format!("/api/v1/status/components/{checkout_id}"),
            &json!({"status": "degraded_performance", "group": null}),
            None,
        )
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["group_id"], Value::Null);
    let (st, _) = s
        .send(
            Method::DELETE,
            &format!("/api/v1/status/components/{group_id}"),
            &json!({}),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let v: Value = serde_json::from_str(&s.public("/api/v2/status.json").await.1).unwrap();
    assert_eq!(v["status"]["description"], "Partially Degraded Service");

    // The whole public surface as static files, for a CDN.
    let out_dir = tempfile::tempdir().unwrap();
    let out = herald(&db, &["status", "export", out_dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = out_dir.path();
    let summary: Value =
        serde_json::from_slice(&std::fs::read(d.join("api/v2/summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["status"]["description"],
        "Partially Degraded Service"
    );
    let page = std::fs::read_to_string(d.join(format!("incidents/{inc_id}/index.html"))).unwrap();
    assert!(page.contains("Card payments work again."));
    assert!(
        std::fs::read_to_string(d.join("index.html"))
            .unwrap()
            .contains("<!DOCTYPE html>")
    );
    for f in [
        "history/index.html",
        "history.atom",
        "history.rss",
        "badge.svg",
        "index.html.gz",
        "api/v2/status.json.br",
    ] {
        assert!(d.join(f).is_file(), "{f} missing");
    }
}

async fn a_status_change_on_one_node_is_served_by_all(db: Db) {
    let t = token(&db, "status");
    let a = Server::start(&db, &t);
    let b = Server::start(&db, &t);
    b.wait_public("/api/v2/status.json", |v| {
        v["status"]["indicator"] == "none"
    })
    .await;
    let (st, c) = a
        .post_json(
            "/api/v1/status/components",
            &json!({"name": "Checkout", "status": "major_outage"}),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    let started = std::time::Instant::now();
    b.wait_public("/api/v2/status.json", |v| {
        v["status"]["indicator"] == "critical"
    })
    .await;
    // How fast is measured by bench/status_page.sh, not asserted here; wait_public bounds it.
    eprintln!(
        "the change reached the other node in {:?}",
        started.elapsed()
    );

    // The database goes away: both nodes keep serving the last page and say since when.
    let Some((admin, name)) = db.pg.clone() else {
        return;
    };
    let psql = |sql: &str| {
        let o = Command::new("psql")
            .args([admin.as_str(), "-qc", sql])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    psql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    psql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (st, html) = b.public("/").await;
        assert_eq!(st, 200, "the page serves while the database is away");
        if html.contains("could not be refreshed since") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no stale notice: {html}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let v: Value = serde_json::from_str(&b.public("/api/v2/summary.json").await.1).unwrap();
    assert_eq!(
        v["status"]["indicator"], "critical",
        "the last snapshot still serves"
    );
    psql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while b
        .public("/")
        .await
        .1
        .contains("could not be refreshed since")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the page never recovered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Debian's Chromium, if installed (`.ci/run` installs it; CI requires it).
fn chromium() -> Option<&'static str> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("Chromium is required in CI (apt-get install chromium); .ci/run installs it");
        }
        eprintln!("skipping the browser test: no Chromium (apt-get install chromium)");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let db = sqlite_db();
    let t = token(&db, "status");
    let s = Server::start_with(&db, &t, &[("HERALD_STORE__NAME", "Sandstone Pottery")]);
    s.wait_public("/api/v2/status.json", |v| v["status"].is_object())
        .await;
    let (_, c) = s
        .post_json(
            "/api/v1/status/components",
            &json!({"name": "Checkout", "group": "Store front"}),
        )
        .await;
    s.post_json(
        "/api/v1/status/components",
        &json!({"name": "Order tracking"}),
    )
    .await;
    let (st, _) = s
        .post_json(
            "/api/v1/status/incidents",
            &json!({"name": "Card payments fail", "body": "Some card payments fail at checkout. PayPal still works.",
                    "components": {c["id"].as_str().unwrap(): "partial_outage"}, "next_update_in_minutes": 30,
                    "estimated_restore_at": "2099-01-01T17:00:00Z"}),
        )
        .await;
    assert_eq!(st, 201);
    let artifacts =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(s.url("/"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chromium failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    // The DOM as the browser built it: the status, the incident, its promise.
    let dom = String::from_utf8(run(&["--dump-dom"])).unwrap();
    assert!(dom.contains("Partial System Outage"), "{dom}");
    assert!(dom.contains("Card payments fail"));
    assert!(dom.contains("Next update by"));
    // A phone-sized screenshot, light and dark, kept for people to look at.
    let light = artifacts.join("status-page-phone-light.png");
    let dark = artifacts.join("status-page-phone-dark.png");
    run(&[
        "--window-size=390,1400",
        &format!("--screenshot={}", light.display()),
    ]);
    run(&[
        "--window-size=390,1400",
        "--force-dark-mode",
        "--blink-settings=preferredColorScheme=0",
        &format!("--screenshot={}", dark.display()),
    ]);
    let (l, d) = (
        std::fs::read(&light).unwrap(),
        std::fs::read(&dark).unwrap(),
    );
    assert!(l.starts_with(b"\x89PNG") && d.starts_with(b"\x89PNG"));
    assert!(l.len() > 10_000, "a blank screenshot ({} bytes)", l.len());
    assert_ne!(l, d, "dark mode changes the page");
    eprintln!("screenshots: {} and {}", light.display(), dark.display());
}

async fn the_store_advisory_reaches_storefronts(db: Db) {
    use reqwest::Method;
    let t = token(&db, "status");
    let s = Server::start_with(
        &db,
        &t,
        &[("HERALD_STATUS__URL", "https://status.shop.test")],
    );
    let v = s.wait_public("/api/v1/advisory", |v| v.is_object()).await;
    assert_eq!(v["active"], false);
    assert!(v["message"].is_null());

    // Only the seller declares one.
    let r = s
        .http
        .put(s.url("/api/v1/status/advisory"))
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (st, e) = s
        .send(
            Method::PUT,
            "/api/v1/status/advisory",
            &json!({"message": "Ordering is paused", "level": "loud"}),
            None,
        )
        .await;
    assert_eq!(st, 422, "{e}");
    assert!(e.to_string().contains("level"), "{e}");
    let until = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let (st, a) = s
        .send(
            Method::PUT,
            "/api/v1/status/advisory",
            &json!({"message": "Browsing works; ordering is paused", "until": until}),
            None,
        )
        .await;
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["advisory"]["level"], "warning");

    // Any storefront reads it, from another origin, without the database.
    let r = s
        .http
        .get(s.url("/api/v1/advisory"))
        .header("origin", "https://shop.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["active"], true);
    assert_eq!(v["message"], "Browsing works; ordering is paused");
    assert!(
        v["until_text"]
            .as_str()
            .unwrap()
            .starts_with("until about ")
    );
    assert_eq!(v["page"]["url"], "https://status.shop.test");
    let (st, js) = s.public("/advisory.js").await;
    assert_eq!(st, 200);
    assert!(js.contains("/api/v1/advisory"));
    let (_, home) = s.public("/").await;
    assert!(
        home.contains("Browsing works; ordering is paused"),
        "{home}"
    );

    // Cleared: gone everywhere; clearing again says there is nothing to clear.
    let (st, _) = s
        .send(Method::DELETE, "/api/v1/status/advisory", &json!({}), None)
        .await;
    assert_eq!(st, 204);
    let v = s
        .wait_public("/api/v1/advisory", |v| v["active"] == false)
        .await;
    assert!(v["message"].is_null());
    let (st, _) = s
        .send(Method::DELETE, "/api/v1/status/advisory", &json!({}), None)
        .await;
    assert_eq!(st, 404);
    let (_, home) = s.public("/").await;
    assert!(!home.contains("Store notice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_advisory_banner_shows_on_a_storefront_in_headless_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let db = sqlite_db();
    let t = token(&db, "status");
    let s = Server::start(&db, &t);
    s.wait_public("/api/v1/advisory", |v| v.is_object()).await;
    let (st, _) = s
        .send(
            reqwest::Method::PUT,
            "/api/v1/status/advisory",
            &json!({"message": "Ordering is paused <b>now</b>", "level": "critical"}),
            None,
        )
        .await;
    assert_eq!(st, 200);
    // A storefront on another origin (a local file) embedding the documented snippet.
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop.html");
    std::fs::write(
        &shop,
        format!(
            "<!DOCTYPE html><html><head><title>Shop</title></head><body><h1>Sandstone Pottery</h1>\
             <script src=\"{}\" async></script></body></html>",
            s.url("/advisory.js")
        ),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        // Lets the script's fetch finish before the DOM is dumped.
        .arg("--virtual-time-budget=5000")
        .arg("--dump-dom")
        .arg(format!("file://{}", shop.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("herald-advisory-critical"), "{dom}");
    // What the seller typed is text, never markup.
    assert!(
        dom.contains("Ordering is paused &lt;b&gt;now&lt;/b&gt;"),
        "{dom}"
    );
    assert!(dom.contains("Service status"), "{dom}");
}

/// The token of a served report form.
fn form_token(html: &str) -> String {
    let at = html
        .find("name=\"token\" value=\"")
        .expect("the form has a token")
        + 20;
    html[at..].split('"').next().unwrap().to_string()
}

async fn customers_report_problems_and_a_burst_alerts_the_seller(db: Db) {
    let t = token(&db, "status");
    let s = Server::start_with(
        &db,
        &t,
        &[("HERALD_STATUS__CLIENT_ADDRESS_HEADER", "X-Forwarded-For")],
    );
    s.wait_public("/api/v2/status.json", |v| v["status"].is_object())
        .await;
    let (_, c) = s
        .post_json("/api/v1/status/components", &json!({"name": "Checkout"}))
        .await;
    let checkout = c["id"].as_str().unwrap().to_string();
    s.wait_public("/api/v2/components.json", |v| {
        v["components"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser.get(s.url("/report")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    assert!(html.contains(">Checkout</option>"), "{html}");
    let token = form_token(&html);
    let post = |from: &str, fields: Vec<(&str, String)>| {
        browser
            .post(s.url("/report"))
            .header("x-forwarded-for", format!("203.0.113.9, {from}"))
            .form(&fields)
            .send()
    };
    let report = |component: &str, what: &str| {
        vec![
            ("token", token.clone()),
            ("component", component.to_string()),
            ("what", what.to_string()),
            ("website", String::new()),
        ]
    };

    // A script that posts as soon as it has the form is refused, and told why.
    let r = post("10.0.0.1", report(&checkout, "quick")).await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("That was quick"));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    // A bot filling the hidden field is thanked and forgotten; a made-up token is refused.
    let mut bot = report(&checkout, "buy pills");
    bot[3].1 = "https://spam.example".into();
    let r = post("10.0.0.9", bot).await.unwrap();
    assert_eq!(r.status(), 303);
    let mut forged = report(&checkout, "x");
    forged[0].1 = "1763912400.00112233445566778899aabbccddeeff".into();
    assert_eq!(post("10.0.0.9", forged).await.unwrap().status(), 400);
    // A component not on the page names the field.
    let r = post("10.0.0.9", report("nope", "x")).await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Please pick one of the listed services")
    );

    // Three from one address, then it must wait.
    for what in ["Card declined", "Card declined again", "Still declined"] {
        let r = post("10.0.0.1", report(&checkout, what)).await.unwrap();
        assert_eq!(r.status(), 303, "{what}");
        assert_eq!(r.headers()["location"], "/report?sent=1");
    }
    let r = post("10.0.0.1", report(&checkout, "and again"))
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(r.text().await.unwrap().contains("You can send another in"));
    let (_, a) = s.get("/api/v1/alerts").await;
    let bursts = |a: &Value| {
        a["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["kind"] == "status_reports_burst")
            .count()
    };
    assert_eq!(bursts(&a), 0, "three reports are not a burst: {a}");

    // Two more customers make five in ten minutes: the seller is alerted, once.
    assert_eq!(
        post("10.0.0.2", report("other", "Site is slow"))
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        post("10.0.0.3", report(&checkout, ""))
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(
        post("10.0.0.4", report(&checkout, ""))
            .await
            .unwrap()
            .status(),
        303
    );
    let (_, a) = s.get("/api/v1/alerts").await;
    assert_eq!(bursts(&a), 1, "{a}");
    let alert = a["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "status_reports_burst")
        .unwrap();
    assert!(
        alert["message"]
            .as_str()
            .unwrap()
            .contains("Checkout (4), something else (1)"),
        "{alert}"
    );

    // The seller reads them; the bot's and the refused ones were never kept.
    let (st, list) = s.get("/api/v1/status/reports").await;
    assert_eq!(st, 200);
    let list = list["reports"].as_array().unwrap();
    assert_eq!(list.len(), 6);
    assert_eq!(list[5]["what"], "Card declined");
    assert_eq!(list[5]["component_name"], "Checkout");
    assert!(
        list.iter()
            .all(|r| r["what"] != "buy pills" && r["what"] != "quick")
    );
    let r = browser
        .get(s.url("/api/v1/status/reports"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "reports are the seller's");
    let thanks = browser
        .get(s.url("/report?sent=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(thanks.contains("Thank you"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_proxy_header_the_connecting_address_is_limited() {
    let db = sqlite_db();
    let t = token(&db, "status");
    let s = Server::start_with(&db, &t, &[("HERALD_STATUS__REPORTS_PER_ADDRESS", "1")]);
    s.wait_public("/api/v2/status.json", |v| v["status"].is_object())
        .await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = browser
        .get(s.url("/report"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = form_token(&html);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let send = |forwarded: &str| {
        browser
            .post(s.url("/report"))
            // Ignored: herald was not told a proxy sets it.
            .header("x-forwarded-for", forwarded.to_string())
            .form(&[
                ("token", token.as_str()),
                ("component", "other"),
                ("what", "hi"),
            ])
            .send()
    };
    assert_eq!(send("10.0.0.1").await.unwrap().status(), 303);
    assert_eq!(send("10.0.0.2").await.unwrap().status(), 429);
}

async fn subscribers_hear_of_incidents_by_mail_and_webhook(db: Db) {
    use reqwest::Method;
    let Some(sink) = support::SmtpSink::start() else {
        return;
    };
    let (hooks, got) = webhook_receiver().await;
    let t = token(&db, "status");
    let smtp = sink.url();
    const PAGE: &str = "https://status.sandstonepottery.shop";
    let s = Server::start_with(
        &db,
        &t,
        &[
            ("HERALD_MAIL__SMTP_URL", smtp.as_str()),
            ("HERALD_MAIL__FROM", SHOP_FROM),
            ("HERALD_MAIL__REPLY_TO", SHOP_REPLY_TO),
            ("HERALD_STORE__NAME", "Sandstone Pottery"),
            ("HERALD_STATUS__URL", PAGE),
            ("HERALD_STATUS__MAINTENANCE_REMINDER_MINUTES", "1"),
        ],
    );
    s.wait_public("/api/v2/status.json", |v| v["status"].is_object())
        .await;
    let (_, c) = s
        .post_json("/api/v1/status/components", &json!({"name": "Checkout"}))
        .await;
    let checkout = c["id"].as_str().unwrap().to_string();

    // The seller adds a partner's webhook; its signing secret is shown once.
    let (st, hook) = s
        .post_json(
            "/api/v1/status/subscribers",
            &json!({"webhook": format!("{hooks}/hook")}),
        )
        .await;
    assert_eq!(st, 201, "{hook}");
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
    let (st, e) = s
        .post_json("/api/v1/status/subscribers", &json!({"webhook": "ftp://x"}))
        .await;
    assert_eq!(st, 422, "{e}");

    // A customer subscribes to Checkout from the page: nothing but a confirmation mail.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = browser
        .get(s.url("/subscribe"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(">") && html.contains("Checkout"), "{html}");
    let token = form_token(&html);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let ask = |email: &str| {
        browser
            .post(s.url("/subscribe"))
            .form(&[
                ("token", token.as_str()),
                ("email", email),
                ("component", checkout.as_str()),
                ("website", ""),
            ])
            .send()
    };
    let r = ask("maya at shopper").await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Please enter an e-mail address")
    );
    let r = ask("Maya@Shopper.test").await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/subscribe?sent=1");
    let mails = sink.wait_for(1);
    assert_eq!(mails.len(), 1, "{}", s.get("/api/v1/messages").await.1);
    let confirm = unfold(&mails[0]);
    assert_eq!(
        support::header(&confirm, "Subject").unwrap(),
        "Confirm your Sandstone Pottery status updates"
    );
    assert!(
        support::header(&confirm, "To")
            .unwrap()
            .contains("maya@shopper.test")
    );
    assert!(
        support::header(&confirm, "List-Unsubscribe").is_none(),
        "a confirmation is not a mailing"
    );
    let at = confirm
        .find(&format!("{PAGE}/subscriptions/"))
        .expect("the confirm link")
        + PAGE.len();
    let path: String = confirm[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '/')
        .collect();
    let sub_token = path.trim_start_matches("/subscriptions/").to_string();
    assert_eq!(sub_token.len(), 32, "{path}");

    // An incident opens before Maya confirms: the webhook hears of it, Maya does not.
    let (st, inc) = s
        .post_json(
            "/api/v1/status/incidents",
            &json!({"name": "Card payments fail", "body": "Some card payments fail.",
                    "components": {checkout.as_str(): "partial_outage"}}),
        )
        .await;
    assert_eq!(st, 201);
    let id = inc["id"].as_str().unwrap().to_string();
    let hook_events = |n: usize| {
        let got = got.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let v: Vec<Value> = got
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|r| serde_json::from_str(&r.4).unwrap())
                    .collect();
                if v.len() >= n || std::time::Instant::now() > deadline {
                    return v;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    let ev = hook_events(1).await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["event"], "incident_created");
    assert_eq!(ev[0]["incident"]["id"], id.as_str());
    assert_eq!(
        ev[0]["incident"]["incident_updates"][0]["body"],
        "Some card payments fail."
    );
    assert_eq!(ev[0]["page"]["status_indicator"], "major");
    assert_eq!(ev[0]["page"]["status_description"], "Partial System Outage");
    assert!(
        ev[0]["meta"]["unsubscribe"]
            .as_str()
            .unwrap()
            .starts_with(PAGE)
    );
    assert!(got.lock().unwrap()[0].3.starts_with("v1,"), "signed");

    // Maya's link shows a button; only the POST confirms.
    let page = browser
        .get(s.url(&format!("/subscriptions/{sub_token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Confirm your subscription")
    );
    let r = browser
        .post(s.url(&format!("/subscriptions/{sub_token}/confirm")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are subscribed"));

    // The next update reaches both.
    let (st, _) = s
        .send(
            Method::POST,
            &format!("/api/v1/status/incidents/{id}/updates"),
            &json!({"status": "identified", "body": "Our card processor is failing; PayPal works.",
                    "next_update_in_minutes": 30}),
            None,
        )
        .await;
    assert_eq!(st, 201);
    let mails = sink.wait_for(2);
    assert_eq!(mails.len(), 2);
    let notice = unfold(&mails[1]);
    assert_eq!(
        support::header(&notice, "Subject").unwrap(),
        "[Sandstone Pottery] Update: Card payments fail"
    );
    assert!(notice.contains("Our card processor is failing; PayPal works."));
    assert!(notice.contains("Next update by"));
    assert!(notice.contains(&format!("{PAGE}/incidents/{id}")));
    let unsub = support::header(&notice, "List-Unsubscribe").unwrap();
    assert_eq!(
        unsub,
        format!("<{PAGE}/subscriptions/{sub_token}/unsubscribe>")
    );
    assert_eq!(
        support::header(&notice, "List-Unsubscribe-Post").unwrap(),
        "List-Unsubscribe=One-Click"
    );
    assert_eq!(hook_events(2).await[1]["event"], "incident_updated");

    // One click from the mail client, and Maya hears no more; the webhook still does.
    let r = browser
        .post(s.url(&format!("/subscriptions/{sub_token}/unsubscribe")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are unsubscribed"));
    s.send(
        Method::POST,
        &format!("/api/v1/status/incidents/{id}/updates"),
        &json!({"status": "resolved", "body": "Payments work again.",
                "components": {checkout.as_str(): "operational"}}),
        None,
    )
    .await;
    assert_eq!(hook_events(3).await[2]["event"], "incident_resolved");

    // Maintenance: scheduled, then the reminder a minute before it starts.
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(64);
    let (st, _) = s
        .post_json(
            "/api/v1/status/maintenances",
            &json!({"name": "Database upgrade", "body": "Checkout pauses for a few minutes.",
                    "scheduled_for": start.to_string(),
                    "scheduled_until": (start + jiff::SignedDuration::from_hours(1)).to_string(),
                    "components": [checkout]}),
        )
        .await;
    assert_eq!(st, 201);
    let ev = hook_events(5).await;
    let kinds: Vec<&str> = ev.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "incident_created",
            "incident_updated",
            "incident_resolved",
            "maintenance_scheduled",
            "maintenance_reminder"
        ]
    );
    assert_eq!(
        sink.messages().len(),
        2,
        "nothing more reached Maya after she left"
    );

    let (_, list) = s.get("/api/v1/status/subscribers").await;
    let list = list["subscribers"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    let maya = list.iter().find(|x| x["channel"] == "email").unwrap();
    assert_eq!(maya["address"], "maya@shopper.test");
    assert_eq!(maya["active"], false);
    assert!(maya.get("token").is_none() && maya.get("secret").is_none());
    assert_eq!(maya["component_names"], json!(["Checkout"]));
}

/// A service that answers 200 or 503 as the test says; its health check's address.
async fn flaky_service() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = up.clone();
    let app = axum::Router::new().route(
        "/health",
        axum::routing::get(move || {
            let ok = flag.load(Ordering::SeqCst);
            async move {
                if ok {
                    axum::http::StatusCode::OK
                } else {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, up)
}

async fn a_monitor_opens_and_calms_the_incident_by_itself(db: Db) {
    use std::sync::atomic::Ordering;
    let (health, up) = flaky_service().await;
    let t = token(&db, "status");
    let monitors = format!(
        r#"[{{name="Label service", url="{health}", component="Order shipping", interval_seconds=1, failures=2, timeout_seconds=2, down_status="partial_outage"}}]"#
    );
    let s = Server::start_with(
        &db,
        &t,
        &[
            ("HERALD_STATUS__URL", "https://status.shop.test"),
            ("HERALD_STATUS__MONITORS", monitors.as_str()),
        ],
    );
    let (st, c) = s
        .post_json(
            "/api/v1/status/components",
            &json!({"name": "Order shipping"}),
        )
        .await;
    assert_eq!(st, 201, "{c}");
    // Healthy: nothing happens.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (_, v) = s.get("/api/v1/status/incidents").await;
    assert!(v["incidents"].as_array().unwrap().is_empty(), "{v}");
    // Down: two failed checks a second apart open one incident and mark the component.
    up.store(false, Ordering::SeqCst);
    let v = s
        .wait_for("/api/v1/status/incidents", |v| {
            v["incidents"].as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
    let i = &v["incidents"][0];
    assert_eq!(i["name"], "Order shipping is not working");
    assert_eq!(i["status"], "investigating");
    assert!(i["next_update_by"].is_string(), "{i}");
    let (_, comps) = s.get("/api/v1/status/components").await;
    assert_eq!(
        comps["components"][0]["status"], "partial_outage",
        "{comps}"
    );
    // Still down a few checks later: still one incident.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (_, v) = s.get("/api/v1/status/incidents").await;
    assert_eq!(v["incidents"].as_array().unwrap().len(), 1, "{v}");
    // The public page says so too.
    let public = s
        .wait_public("/api/v2/incidents/unresolved.json", |v| {
            v["incidents"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    assert_eq!(
        public["incidents"][0]["name"],
        "Order shipping is not working"
    );
    // Back: the component is operational and the incident waits in monitoring for a person.
    up.store(true, Ordering::SeqCst);
    let v = s
        .wait_for("/api/v1/status/incidents", |v| {
            v["incidents"][0]["status"] == "monitoring"
        })
        .await;
    assert!(v["incidents"][0]["resolved_at"].is_null());
    let (_, comps) = s.get("/api/v1/status/components").await;
    assert_eq!(comps["components"][0]["status"], "operational", "{comps}");
}
