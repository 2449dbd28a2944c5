//! The `herald` command: serve, demo, migrate, import, calendar, deadline, token, check.

mod config;
mod demo;
mod sim;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use config::{Config, FlagOverrides, LogFormat};
use herald_server::api::imports::{ExportKind, ImportReport, write_orders};
use herald_server::{AppState, launch, shutdown_signal};
use herald_store::{Store, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Keeps an online seller's customers informed: every order, every parcel, every outage."
)]
struct Cli {
    /// TOML configuration file. Environment variables HERALD_* override it; flags override both.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// sqlite://PATH (default sqlite://herald.db) or postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run herald: the HTTP API and the background workers.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Start the demo store on a fresh temporary SQLite file and serve it, live: orders come
    /// in, parcels move and go wrong, the label service fails, customers are told (messages
    /// go to a Maildir folder and the console).
    Demo {
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// Store seconds per real second: 60 is an hour a minute, 3600 an hour a second.
        #[arg(long, default_value_t = 60.0)]
        speed: f64,
        #[command(flatten)]
        shop: sim::Shop,
    },
    /// Run the demo store for DAYS in virtual time at full speed (on its own temporary
    /// SQLite file) and score herald: every injected parcel problem, when it became
    /// detectable, when herald flagged it and when the customer was told. Exits 4 when a
    /// target is missed.
    Simulate {
        #[command(flatten)]
        shop: sim::Shop,
        /// Write the whole report (JSON) here.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// The first instant of the run, RFC 3339 (default: midnight in Flagstaff on Monday
        /// 2026-11-16, so a 30-day run spans Thanksgiving weekend).
        #[arg(long, default_value = "2026-11-16T07:00:00Z")]
        start: String,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Import a store export file.
    Import {
        /// shopify (orders export CSV) or amazon (Seller Central order report, tab-separated).
        format: ExportKind,
        file: PathBuf,
        /// Reject the whole file if any row is bad (default: import the good orders).
        #[arg(long)]
        strict: bool,
    },
    /// Business calendar facts.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Print the ship-by deadline for an order placed at a given moment.
    Deadline {
        /// When the order was placed, RFC 3339 (2025-12-06T10:37:33-05:00).
        #[arg(long)]
        placed: String,
        /// Handling time in business days.
        #[arg(long)]
        handling_days: u32,
        /// Orders at or after this local time count from the next business day (HH:MM).
        #[arg(long)]
        cutoff: Option<String>,
        /// The store's IANA time zone (default: store.time_zone).
        #[arg(long)]
        tz: Option<String>,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Check the configuration, the database and the mail settings, printing every problem.
    Check,
    /// Customer notifications: preview the wording, send a test message.
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// Bounced customer e-mail.
    Bounces {
        #[command(subcommand)]
        command: BouncesCommand,
    },
    /// The public status page.
    Status {
        #[command(subcommand)]
        command: StatusCommand,
    },
}

#[derive(Subcommand)]
enum StatusCommand {
    /// Write the whole public status surface (page, incident pages, history, v2 JSON, feeds,
    /// badge) as static files under DIR, each with .gz and .br copies, to host on a CDN or an
    /// object store apart from herald. Pages are written as NAME/index.html.
    Export { dir: PathBuf },
}

#[derive(Subcommand)]
enum BouncesCommand {
    /// Read delivery status notifications from a Maildir folder (its cur/ and new/) or an mbox
    /// file: hard bounces mark addresses undeliverable and alert the seller. Other mail is
    /// counted and left alone. Reading the same mail twice changes nothing more.
    Import { path: PathBuf },
}

#[derive(Subcommand)]
enum NotifyCommand {
    /// Render a message kind with sample facts (the seller's saved wording, else herald's):
    /// order_acknowledged, payment_received, shipped, delayed, parcel_problem, delivered, test.
    Preview {
        kind: String,
        /// Print the HTML part instead of the subject and plain text.
        #[arg(long)]
        html: bool,
        /// A store's own wording and name (the sales channel of its orders).
        #[arg(long, value_name = "CHANNEL")]
        store: Option<String>,
    },
    /// Send a test message through the outbox and the real SMTP path, and report the outcome.
    /// (Like a running herald, it also delivers any other message that is due.)
    Test {
        /// Where to send it.
        #[arg(long, value_name = "ADDRESS")]
        to: String,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Print the public holidays closed in a year, one per line: YYYY-MM-DD name.
    Holidays {
        #[arg(long)]
        year: i16,
        /// Use a carrier's calendar from [carriers.NAME] instead of the store's.
        #[arg(long)]
        carrier: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once. Only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
    },
    /// List tokens by name (never the tokens themselves).
    List,
    /// Revoke a token by name.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

/// The configuration with the command line's flags on top; `database_url` replaces the
/// `--database-url` flag when given (the demo's own file).
fn load_config(cli: &Cli, database_url: Option<String>, listen: Option<String>) -> Result<Config> {
    let flags = FlagOverrides {
        database_url: database_url.or_else(|| cli.database_url.clone()),
        listen,
    };
    config::load(cli.config.as_deref(), &flags).map_err(|problems| {
        anyhow::anyhow!(
            "the configuration has {} problem(s):\n  {}\n(run `herald check` after fixing them)",
            problems.len(),
            problems.join("\n  ")
        )
    })
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{},sqlx=warn", cfg.log_level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.log_format {
        LogFormat::Json => b.json().init(),
        LogFormat::Text => b.init(),
    }
}

async fn open_store(cfg: &Config) -> Result<Arc<dyn Store>> {
    Ok(herald_store::open(
        &cfg.database_url,
        &StoreOptions {
            max_connections: cfg.max_connections,
            message_window: jiff::SignedDuration::from_hours(i64::from(cfg.notify.window_hours)),
        },
    )
    .await?)
}

fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("hld_{}", hex::encode(bytes))
}

async fn serve(cfg: &Config, store: Arc<dyn Store>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another program using it? set --listen or listen",
                cfg.listen
            )
        })?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = store.kind(), "herald is serving");
    launch(listener, app_state(cfg, store), shutdown_signal()).await?;
    Ok(())
}

fn app_state(cfg: &Config, store: Arc<dyn Store>) -> AppState {
    AppState {
        store,
        policy: Arc::new(cfg.policy.clone()),
        watch: Arc::new(cfg.watch.clone()),
        webhooks: Arc::new(cfg.webhooks.clone()),
        settings: Arc::new(cfg.settings.clone()),
        sweep_now: Default::default(),
        notifier: Arc::new(herald_server::notify::Notifier::new(
            cfg.mail.clone(),
            cfg.notify.clone(),
            cfg.store_name.clone(),
            cfg.public_url.clone(),
        )),
        send_now: Default::default(),
        status: Arc::new(herald_server::status::StatusService::new(
            cfg.status.clone(),
        )),
        clock: Default::default(),
    }
}

fn print_simulation(r: &sim::score::Report, took: std::time::Duration) {
    let mins = |m: Option<f64>| m.map_or("-".to_string(), |m| format!("{m:.0} min"));
    println!(
        "herald simulate: {} days from {}, {} orders a day, seed {} ({:.1} s)",
        r.days,
        r.started_at,
        r.orders_per_day,
        r.seed,
        took.as_secs_f64()
    );
    println!("  orders {}, parcels {}", r.orders, r.parcels);
    println!(
        "  problems injected {}, flagged {}, missed {}; false alarms {}",
        r.problems_injected, r.problems_flagged, r.problems_missed, r.false_alarms
    );
    println!(
        "  customers told: median {} after the problem was detectable (p90 {}); told late {}, never told {}; duplicate messages {}",
        mins(r.median_minutes_detectable_to_customer),
        mins(r.p90_minutes_detectable_to_customer),
        r.customers_told_late,
        r.customers_never_told,
        r.duplicate_messages
    );
    println!(
        "  late shipments {} ({:.2}%, {} customers warned of a delay that did not come); status page promises kept {}, broken {}",
        r.late_shipments,
        r.late_shipment_rate * 100.0,
        r.delay_warnings_then_on_time,
        r.promises_kept,
        r.promises_broken
    );
    println!(
        "  targets: {}",
        if r.targets_met {
            "all met".to_string()
        } else {
            format!("MISSED: {}", r.targets.missed().join("; "))
        }
    );
}

fn print_import_errors(file: &Path, errors: &[herald_core::import::RowError]) {
    for e in errors.iter().take(200) {
        eprintln!("{}: {e}", file.display());
    }
    if errors.len() > 200 {
        eprintln!(
            "{}: ... and {} more bad rows",
            file.display(),
            errors.len() - 200
        );
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The helper threads that parse, prepare and judge large batches beside the request's own
    // thread and the database writer: one a core, at least two (the judging of a batch keeps
    // one busy while the next request is parsed), named so that they show in `top -H`.
    let helpers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(helpers)
        .thread_name(|i| format!("herald-helper-{i}"))
        .build_global();
    match run(cli).await {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("herald: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> Result<u8> {
    match &cli.command {
        Command::Serve { listen } => {
            let cfg = load_config(&cli, None, listen.clone())?;
            init_logging(&cfg);
            let store = open_store(&cfg).await?;
            serve(&cfg, store).await?;
        }
        Command::Demo {
            listen,
            speed,
            shop,
        } => {
            let cfg = load_config(&cli, Some("sqlite://unused.db".into()), listen.clone())?;
            if !(*speed >= 1.0 && *speed <= 86_400.0) {
                bail!("--speed must be between 1 (real time) and 86400 (a day per second)");
            }
            shop.check()?;
            init_logging(&cfg);
            demo::run(
                cfg,
                &demo::Options {
                    speed: *speed,
                    shop: *shop,
                },
            )
            .await?;
        }
        Command::Simulate {
            shop,
            report,
            start,
        } => {
            let cfg = load_config(&cli, Some("sqlite://unused.db".into()), None)?;
            shop.check()?;
            let start: jiff::Timestamp = start.parse().with_context(|| {
                format!("--start {start:?} is not an RFC 3339 instant (like 2026-11-16T07:00:00Z)")
            })?;
            let opts = sim::Options { shop: *shop, start };
            let began = std::time::Instant::now();
            let r = sim::simulate(&opts, cfg).await?;
            let json = serde_json::to_string_pretty(&r)?;
            if let Some(path) = report {
                std::fs::write(path, format!("{json}\n"))
                    .with_context(|| format!("cannot write the report to {}", path.display()))?;
            }
            print_simulation(&r, began.elapsed());
            if !r.targets_met {
                eprintln!(
                    "herald simulate: targets missed: {}",
                    r.targets.missed().join("; ")
                );
                return Ok(4);
            }
        }
        Command::Migrate => {
            let cfg = load_config(&cli, None, None)?;
            let store = open_store(&cfg).await?;
            println!("database is up to date ({})", store.kind());
        }
        Command::Import {
            format,
            file,
            strict,
        } => {
            let cfg = load_config(&cli, None, None)?;
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let kind = *format;
            let parsed = tokio::task::spawn_blocking(move || kind.parse(&bytes))
                .await?
                .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.0))?;
            print_import_errors(file, &parsed.errors);
            if *strict && !parsed.errors.is_empty() {
                bail!(
                    "{}: {} bad rows; --strict given, so nothing was imported",
                    file.display(),
                    parsed.errors.len()
                );
            }
            let store = open_store(&cfg).await?;
            let orders: Vec<_> = parsed.orders.into_iter().map(|p| p.order).collect();
            let mut report = ImportReport {
                orders_in_file: orders.len(),
                rejected_rows: parsed.errors.len(),
                ..Default::default()
            };
            write_orders(
                store.as_ref(),
                &cfg.policy,
                &orders,
                &mut report,
                jiff::Timestamp::now(),
            )
            .await?;
            println!(
                "{}: {} orders: {} created, {} updated, {} unchanged; {} bad rows skipped",
                file.display(),
                report.orders_in_file,
                report.created,
                report.updated,
                report.unchanged,
                report.rejected_rows
            );
            if report.rejected_rows > 0 {
                return Ok(3);
            }
        }
        Command::Calendar {
            command: CalendarCommand::Holidays { year, carrier },
        } => {
            let cfg = load_config(&cli, None, None)?;
            if !(herald_core::calendar::FIRST_YEAR..=herald_core::calendar::LAST_YEAR)
                .contains(year)
            {
                bail!(
                    "--year {year} is outside the supported range {}..={}",
                    herald_core::calendar::FIRST_YEAR,
                    herald_core::calendar::LAST_YEAR
                );
            }
            let cal = match carrier {
                None => cfg.policy.calendar.clone(),
                Some(c) => cfg.carriers.get(c).cloned().with_context(|| {
                    format!("no carrier calendar [carriers.{c}] in the configuration")
                })?,
            };
            for h in herald_core::calendar::us_federal_closures(*year) {
                if cal.holiday_on(h.observed).is_none() {
                    continue;
                }
                if h.observed == h.date {
                    println!("{} {}", h.observed, h.name);
                } else {
                    println!("{} {} (observed; falls on {})", h.observed, h.name, h.date);
                }
            }
        }
        Command::Deadline {
            placed,
            handling_days,
            cutoff,
            tz,
        } => {
            let mut cfg = load_config(&cli, None, None)?;
            if let Some(tz) = tz {
                cfg.policy.time_zone = jiff::tz::TimeZone::get(tz).with_context(|| {
                    format!("--tz {tz:?} is not an IANA time zone (for example America/New_York)")
                })?;
            }
            if let Some(c) = cutoff {
                cfg.policy.cutoff = jiff::civil::Time::strptime("%H:%M", c)
                    .with_context(|| format!("--cutoff {c:?} is not HH:MM"))?;
            }
            let placed: jiff::Timestamp = placed.parse().with_context(|| {
                format!(
                    "--placed {placed:?} is not RFC 3339 (for example 2025-12-06T10:37:33-05:00)"
                )
            })?;
            let d = cfg.policy.deadline_after(placed, *handling_days);
            println!("{}", herald_core::time::rfc3339_zoned(&d));
        }
        Command::Token { command } => {
            let cfg = load_config(&cli, None, None)?;
            let store = open_store(&cfg).await?;
            let now = jiff::Timestamp::now();
            match command {
                TokenCommand::Create { name } => {
                    if name.trim().is_empty() || name.len() > 64 {
                        bail!("--name must be 1 to 64 characters");
                    }
                    let token = new_token();
                    store
                        .create_token(name, &herald_store::hash_token(&token), now)
                        .await?;
                    eprintln!("Created token {name:?}. It is shown only now; store it safely:");
                    println!("{token}");
                }
                TokenCommand::List => {
                    for t in store.list_tokens().await? {
                        match t.revoked_at {
                            None => println!("{}\tcreated {}", t.name, t.created_at),
                            Some(r) => {
                                println!("{}\tcreated {}\trevoked {r}", t.name, t.created_at)
                            }
                        }
                    }
                }
                TokenCommand::Revoke { name } => {
                    if !store.revoke_token(name, now).await? {
                        bail!("no live token is named {name:?} (see `herald token list`)");
                    }
                    println!("revoked {name:?}");
                }
            }
        }
        Command::Check => {
            let flags = FlagOverrides {
                database_url: cli.database_url.clone(),
                listen: None,
            };
            let mut problems = Vec::new();
            match config::load(cli.config.as_deref(), &flags) {
                Err(p) => problems.extend(p),
                Ok(cfg) => {
                    if cfg.mail.is_configured() {
                        problems.extend(cfg.mail.problems());
                    } else {
                        println!(
                            "note: [mail] is not set, so customer e-mail waits in the outbox (GET /api/v1/messages) until mail.smtp_url, mail.from and mail.reply_to are set"
                        );
                    }
                    if let Err(e) = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        herald_store::probe(&cfg.database_url),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(herald_store::StoreError::BadUrl(format!(
                            "{} did not answer within 10 s",
                            herald_store::redact_url(&cfg.database_url)
                        )))
                    }) {
                        problems.push(format!("database_url: {e}"));
                    }
                }
            }
            if problems.is_empty() {
                println!("configuration OK");
            } else {
                for p in &problems {
                    println!("problem: {p}");
                }
                println!("{} problem(s) found", problems.len());
                return Ok(1);
            }
        }
        Command::Notify { command } => return notify_command(&cli, command).await,
        Command::Status {
            command: StatusCommand::Export { dir },
        } => {
            let cfg = load_config(&cli, None, None)?;
            let store = open_store(&cfg).await?;
            let n = export_status(&cfg, store, dir).await?;
            println!("{n} files written under {}", dir.display());
        }
        Command::Bounces {
            command: BouncesCommand::Import { path },
        } => {
            let cfg = load_config(&cli, None, None)?;
            let store = open_store(&cfg).await?;
            let messages = read_mailbox(path)?;
            let (mut reports, mut hard, mut other) = (0, 0, 0);
            for (name, raw) in &messages {
                match herald_core::notify::bounce::parse(raw) {
                    Ok(b) => {
                        let r = store.record_bounce(&b, jiff::Timestamp::now()).await?;
                        reports += 1;
                        hard += r.undeliverable.len();
                        for a in &r.undeliverable {
                            println!("{name}: {a} is undeliverable");
                        }
                    }
                    Err(e) => {
                        other += 1;
                        eprintln!("{name}: skipped: {e}");
                    }
                }
            }
            println!(
                "{} messages: {reports} delivery reports ({hard} addresses undeliverable), {other} other",
                messages.len()
            );
        }
    }
    Ok(0)
}

/// The messages of a Maildir folder (cur/ and new/, in name order) or an mbox file, each with
/// a name for messages.
fn read_mailbox(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    if path.is_dir() {
        let mut files = Vec::new();
        for sub in ["cur", "new"] {
            let dir = path.join(sub);
            if !dir.is_dir() {
                continue;
            }
            for e in std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read the Maildir folder {}", dir.display()))?
            {
                let p = e?.path();
                if p.is_file() {
                    files.push(p);
                }
            }
        }
        if files.is_empty() && !path.join("cur").is_dir() && !path.join("new").is_dir() {
            bail!(
                "{} is a folder but not a Maildir (it has no cur/ or new/ folder)",
                path.display()
            );
        }
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let raw =
                    std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
                Ok((p.display().to_string(), raw))
            })
            .collect()
    } else {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(herald_core::notify::bounce::split_mbox(&data)
            .into_iter()
            .enumerate()
            .map(|(i, m)| (format!("{} message {}", path.display(), i + 1), m))
            .collect())
    }
}

/// Writes every public status surface under `dir`; returns the number of files written.
async fn export_status(cfg: &Config, store: Arc<dyn Store>, dir: &Path) -> Result<usize> {
    use herald_server::status::{StatusService, snapshot};
    let now = jiff::Timestamp::now();
    let stored = store
        .load_status(herald_server::status::window_start(now))
        .await?;
    let board = StatusService::new(cfg.status.clone()).board_from(stored, now);
    let mut n = 0;
    for (path, content_type, body) in snapshot::surfaces(&board, now, None) {
        let rel = path.trim_start_matches('/');
        // Pages become NAME/index.html so that /history and /incidents/ID resolve on any
        // static host; documents, feeds and the badge keep their names.
        let file = if content_type.starts_with("text/html") {
            dir.join(rel).join("index.html")
        } else {
            dir.join(rel)
        };
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let asset = snapshot::Asset::new(content_type, body);
        for (name, bytes) in [
            (file.clone(), &asset.plain),
            (with_suffix(&file, ".gz"), &asset.gzip),
            (with_suffix(&file, ".br"), &asset.brotli),
        ] {
            std::fs::write(&name, bytes)
                .with_context(|| format!("cannot write {}", name.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

async fn notify_command(cli: &Cli, command: &NotifyCommand) -> Result<u8> {
    use herald_core::notify::{MessageKind, templates};
    let cfg = load_config(cli, None, None)?;
    match command {
        NotifyCommand::Preview { kind, html, store } => {
            let kind = MessageKind::parse(kind).map_err(|e| anyhow::anyhow!(e))?;
            let store = store.as_deref().unwrap_or_default();
            // The seller's saved wording when the database is there; herald's otherwise.
            let custom = match herald_store::probe(&cfg.database_url).await {
                Ok(()) => open_store(&cfg).await?.load_templates().await?,
                Err(_) => Default::default(),
            };
            let mut facts = templates::sample_facts(kind);
            if let Some(name) = cfg.mail.stores.get(store).and_then(|s| s.name.clone()) {
                facts.store.name = name;
            }
            let r = templates::Templates::with_custom(custom).render_for(store, kind, &facts)?;
            if *html {
                println!("{}", r.html);
            } else {
                println!("Subject: {}\n\n{}", r.subject, r.text);
            }
            Ok(0)
        }
        NotifyCommand::Test { to } => {
            let state = app_state(&cfg, open_store(&cfg).await?);
            if let Some(why) = state.notifier.mailer.held() {
                bail!("{why}\n(run `herald check` for the full list)");
            }
            let now = jiff::Timestamp::now();
            let m = herald_store::NewMessage {
                order_id: None,
                kind: MessageKind::Test,
                occurrence: format!("{}-{}", now.as_nanosecond(), std::process::id()),
                about_at: now,
                facts: serde_json::json!({ "to": to }),
            };
            let id = state
                .store
                .enqueue_message(&m, now)
                .await?
                .expect("a fresh occurrence is new");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            loop {
                herald_server::notify::deliver_once(&state).await?;
                let m = state.store.get_message(id).await?;
                match m.as_ref().map(|m| m.status.as_str()) {
                    Some("sent") => {
                        let m = m.expect("just read");
                        println!(
                            "sent to {to} (Message-ID {}, outbox message {id})",
                            m.message_id.unwrap_or_default()
                        );
                        return Ok(0);
                    }
                    Some("pending") | Some("sending") if std::time::Instant::now() < deadline => {
                        if let Some(e) = m.and_then(|m| m.last_error) {
                            eprintln!("not yet: {e}");
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    }
                    _ => {
                        let why = m
                            .and_then(|m| m.last_error)
                            .unwrap_or_else(|| "no answer within 60 s".into());
                        bail!("the test message to {to} was not sent: {why}");
                    }
                }
            }
        }
    }
}
