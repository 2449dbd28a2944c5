//! What the end-to-end tests and the benchmarks share: starting the real `herald serve` and
//! writing Shopify exports in the real column layout.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_herald");

/// The log lines a server has written so far.
pub type Logs = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts `herald serve` on a free port with JSON logs and the given environment; returns the
/// process and its base URL once it logs that it is serving.
pub fn start_serve(database_url: &str, env: &[(&str, &str)]) -> (Child, String) {
    let (child, base, _) = start_serve_with_logs(database_url, env);
    (child, base)
}

/// As [`start_serve`], also collecting the server's log lines.
pub fn start_serve_with_logs(database_url: &str, env: &[(&str, &str)]) -> (Child, String, Logs) {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "--database-url",
        database_url,
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .env("HERALD_LOG__FORMAT", "json")
    .stderr(Stdio::piped())
    .stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start herald");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        assert!(Instant::now() < deadline, "herald did not start");
        let line = lines.next().expect("herald exited before serving").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if v["fields"]["message"] == "herald is serving" {
            break v["fields"]["addr"].as_str().unwrap().to_string();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    let logs: Logs = Default::default();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    (child, format!("http://{addr}"), logs)
}

/// Peak resident memory of a process, in MB (Linux).
pub fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

pub const SHOPIFY_HEADER: &str = "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,Payment ID,Payment Terms Name,Next Payment Due At,Payment References";

/// A Shopify export of `n` orders; every third has a second line-item row. With
/// `bad_line_every = Some(k)` every k-th order has an unreadable quantity; with `fulfil_half`
/// every other order is fulfilled.
pub fn shopify_export(n: usize, bad_line_every: Option<usize>, fulfil_half: bool) -> String {
    let mut s = String::with_capacity(n * 700);
    s.push_str(SHOPIFY_HEADER);
    for i in 0..n {
        let qty = if bad_line_every.is_some_and(|k| i % k == k - 1) {
            "two"
        } else {
            "1"
        };
        let fulfilled = if fulfil_half && i.is_multiple_of(2) {
            "fulfilled,2025-12-08 09:00:00 -0500"
        } else {
            "unfulfilled,"
        };
        s.push_str(&format!(
            "\n#{n},buyer{i}@shopper.test,paid,2025-12-06 10:38:01 -0500,{fulfilled},no,USD,40.00,5.00,3.20,48.20,,0.00,Standard,2025-12-06 10:37:33 -0500,{qty},Ceramic Mug,40.00,,MUG-{i},true,true,pending,Buyer {i},1 Main St,1 Main St,,,Flagstaff,'86001,AZ,US,,Buyer {i},1 Main St,1 Main St,,,Flagstaff,'86001,AZ,US,,,,,Shopify Payments,,0.00,Herald Pottery,0.00,,,,{id},,Low,web,0.00,,,,,,,,,,,,,,Arizona,Arizona,,,,",
            n = 1000 + i,
            id = 7_000_000 + i
        ));
        if i.is_multiple_of(3) {
            s.push_str(&format!(
                "\n#{n},,,,,,,,,,,,,,,2025-12-06 10:37:33 -0500,2,Espresso Cup,18.00,,CUP-ESP,true,true,pending,,,,,,,,,,,,,,,,,,,,,,,,,,,Herald Pottery,,,,,,,,,0.00,,,,,,,,,,,,,,,,,,,",
                n = 1000 + i
            ));
        }
    }
    s.push('\n');
    s
}

/// A real SMTP server for the tests: Python's aiosmtpd, writing every message it accepts to a
/// Maildir. `.ci/run` installs it; elsewhere the tests that need it skip with a note when it is
/// missing (never when `CI=true`).
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start() -> Option<Self> {
        let have = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !have {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("aiosmtpd is required in CI: pip install aiosmtpd (.ci/run does)");
            }
            eprintln!("skipping: the SMTP sink needs Python's aiosmtpd (pip install aiosmtpd)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self { child, port, dir })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// How many messages arrived so far (without reading them).
    pub fn count(&self) -> usize {
        ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.dir.path().join("maildir").join(sub)).ok())
            .map(|rd| rd.count())
            .sum()
    }

    /// Every message received so far, raw (RFC 5322), oldest first by file time.
    pub fn messages(&self) -> Vec<String> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.dir.path().join("maildir").join(sub)) {
                for e in rd.flatten() {
                    let t = e.metadata().and_then(|m| m.modified()).ok();
                    files.push((t, e.path()));
                }
            }
        }
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Waits until at least `n` messages arrived (or 30 s passed) and returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A header's value in a raw message (first occurrence, unfolded).
pub fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw
        .split("\n\n")
        .next()
        .unwrap_or(raw)
        .replace("\r\n", "\n");
    let mut out: Option<String> = None;
    for line in head.lines() {
        if let Some(v) = out.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            out = Some(v.trim().to_string());
        }
    }
    out
}
