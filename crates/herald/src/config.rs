//! herald's configuration: a TOML file (`--config`), then `HERALD_*` environment variables,
//! then command-line flags, later ones winning. Nested keys map to the environment with a double
//! underscore: `store.time_zone` is `HERALD_STORE__TIME_ZONE`.
//!
//! The raw values are read leniently and then checked all at once, so `herald check` can list
//! every problem with the key (and environment variable) it came from.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use herald_core::calendar::{BusinessCalendar, HolidaySet, parse_weekday};
use herald_core::deadline::ShipByPolicy;
use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The top-level keys; `HERALD_*` variables outside these are not configuration and are ignored.
const TOP_LEVEL: &[&str] = &[
    "database_url",
    "listen",
    "log",
    "store",
    "http",
    "alerts",
    "database",
    "carriers",
    "watch",
    "webhooks",
    "mail",
    "notify",
    "status",
];

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub database_url: Option<String>,
    pub listen: Option<String>,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub alerts: RawAlerts,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub carriers: BTreeMap<String, RawCalendar>,
    #[serde(default)]
    pub watch: RawWatch,
    #[serde(default)]
    pub webhooks: BTreeMap<String, RawWebhook>,
    #[serde(default)]
    pub mail: RawMail,
    #[serde(default)]
    pub notify: RawNotify,
    #[serde(default)]
    pub status: RawStatus,
}

/// `[mail]`: how customer e-mail leaves, and from whom.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMail {
    pub smtp_url: Option<String>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
    pub give_up_after_hours: Option<i64>,
    pub pool_size: Option<i64>,
    /// Deliver into this Maildir folder instead of over SMTP (demo, staging, tests).
    pub maildir: Option<std::path::PathBuf>,
    /// Per sales channel: `[mail.stores.CHANNEL]` with name, from and reply_to.
    #[serde(default)]
    pub stores: BTreeMap<String, RawStoreSender>,
}

/// `[mail.stores.CHANNEL]`: a store of the seller's with its own name and addresses.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStoreSender {
    pub name: Option<String>,
    pub from: Option<String>,
    pub reply_to: Option<String>,
}

/// `[notify]`: which messages go out, and how late one may still go.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub public_url: Option<String>,
    pub window_hours: Option<i64>,
    pub disabled: Option<Vec<String>>,
    pub marketplace_channels: Option<Vec<String>>,
    /// `at_risk` or `late`.
    pub delayed_when: Option<String>,
    pub seller_email: Option<String>,
    /// `each`, `digest` or `off`.
    pub seller_alerts: Option<String>,
    pub digest_hour: Option<i64>,
    #[serde(default)]
    pub offers: RawOffers,
    /// Per sales channel: `[notify.stores.CHANNEL]` with disabled and delayed_when.
    #[serde(default)]
    pub stores: BTreeMap<String, RawStorePolicy>,
}

/// `[notify.stores.CHANNEL]`: one store's own notification choices.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorePolicy {
    pub disabled: Option<Vec<String>>,
    pub delayed_when: Option<String>,
}

/// `[notify.offers]`: goodwill offers in delay and problem notices.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOffers {
    /// `off`, `generate` or `pool`.
    pub codes: Option<String>,
    pub code_prefix: Option<String>,
    /// `none`, `coupon 20%` or `upgrade SERVICE`.
    pub delayed: Option<String>,
}

/// `[watch]`: the parcel problem rules.
/// `[status]`: the public status page.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStatus {
    /// The page's title; default `store.name`.
    pub name: Option<String>,
    /// The page's public address; default `notify.public_url`, else `http://LISTEN`.
    pub url: Option<String>,
    /// Minutes until the next update is owed when an update names none (default 30).
    pub next_update_minutes: Option<i64>,
    /// Minutes before a promise runs out that the seller is reminded (default 5).
    pub remind_before_minutes: Option<i64>,
    /// Minutes between reminders while a promise stays missed (default 30).
    pub remind_every_minutes: Option<i64>,
    /// This many problem reports within `report_burst_minutes` alert the seller (default 5;
    /// 0 never alerts).
    pub report_burst: Option<i64>,
    /// The burst window, in minutes (default 10).
    pub report_burst_minutes: Option<i64>,
    /// Reports one address may send within `report_burst_minutes` (default 3).
    pub reports_per_address: Option<i64>,
    /// The request header a proxy in front of herald puts the customer's address in (for
    /// example "X-Forwarded-For" or "CF-Connecting-IP"); without it, the connecting address.
    pub client_address_header: Option<String>,
    /// Minutes before a scheduled maintenance that subscribers are reminded (default 60).
    pub maintenance_reminder_minutes: Option<i64>,
    /// Services herald checks itself: `[[status.monitors]]`.
    #[serde(default)]
    pub monitors: Vec<RawMonitor>,
}

/// `[[status.monitors]]`: one of the seller's services herald checks over HTTP.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    pub name: Option<String>,
    pub url: Option<String>,
    /// The status page component it speaks for (name or id).
    pub component: Option<String>,
    /// Seconds between checks (default 60).
    pub interval_seconds: Option<i64>,
    /// Seconds a check may take (default 10).
    pub timeout_seconds: Option<i64>,
    /// Failed checks in a row that mean down (default 3).
    pub failures: Option<i64>,
    /// The component's status while down (default major_outage).
    pub down_status: Option<String>,
    /// Whether going down opens an incident (default true).
    pub open_incident: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    pub not_accepted_business_days: Option<i64>,
    pub stalled_days: Option<i64>,
    pub pickup_days: Option<i64>,
    pub misroute_min_km: Option<f64>,
    pub misroute_share: Option<f64>,
    pub first_action_business_days: Option<i64>,
    /// Per `carrier` or `carrier/service`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, RawThresholds>,
    /// `carrier/service` to business days (`"1-3"`) or `"ground"`.
    #[serde(default)]
    pub service_standards: BTreeMap<String, String>,
    /// Problem kind to `none`, `coupon 10%` or `upgrade SERVICE`.
    #[serde(default)]
    pub compensation: BTreeMap<String, String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    pub not_accepted_business_days: Option<i64>,
    pub stalled_days: Option<i64>,
    pub pickup_days: Option<i64>,
}

/// `[webhooks.PROVIDER]`.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub secret: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub level: Option<String>,
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub cutoff: Option<String>,
    pub opening_time: Option<String>,
    pub closing_time: Option<String>,
    pub closed_weekdays: Option<Vec<String>>,
    pub closed_days: Option<Vec<String>>,
    pub holidays: Option<String>,
    pub default_handling_days: Option<i64>,
    pub handling_days: Option<BTreeMap<String, i64>>,
    pub at_risk_business_hours: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub max_body_bytes: Option<i64>,
    pub request_timeout_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub sweep_interval_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    pub max_connections: Option<i64>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    pub closed_weekdays: Option<Vec<String>>,
    pub closed_days: Option<Vec<String>>,
    pub holidays: Option<String>,
}

/// Values given on the command line; only those set override the rest.
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    pub log_level: String,
    pub log_format: LogFormat,
    pub store_name: String,
    pub policy: ShipByPolicy,
    pub carriers: BTreeMap<String, BusinessCalendar>,
    pub watch: herald_core::watch::WatchPolicy,
    pub webhooks: herald_server::WebhookSecrets,
    pub mail: herald_server::notify::MailSettings,
    pub notify: herald_core::notify::NotifyPolicy,
    /// `notify.public_url`: where customers reach this herald (tracking page links).
    pub public_url: Option<String>,
    pub status: herald_server::status::StatusSettings,
    pub settings: herald_server::Settings,
    pub max_connections: u32,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://herald.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Collects the layers. A `--config` file that does not exist is an error, not an empty file.
pub fn figment(file: Option<&Path>, flags: &FlagOverrides) -> Result<Figment, Vec<String>> {
    let mut f = Figment::new();
    if let Some(path) = file {
        if !path.is_file() {
            return Err(vec![format!(
                "configuration file {} does not exist",
                path.display()
            )]);
        }
        f = f.merge(Toml::file_exact(path));
    }
    let env = Env::prefixed("HERALD_").split("__").filter(|k| {
        let top = k
            .as_str()
            .split('.')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        TOP_LEVEL.contains(&top.as_str())
    });
    Ok(f.merge(env).merge(Serialized::globals(flags)))
}

/// Where a key's value came from, for messages: "HERALD_STORE__TIME_ZONE" or "herald.toml".
fn source(fig: &Figment, key: &str) -> String {
    match fig.find_metadata(key) {
        Some(m) => {
            let via = format!("HERALD_{}", key.to_ascii_uppercase().replace('.', "__"));
            match &m.source {
                Some(figment::Source::File(p)) => format!("{key} in {}", p.display()),
                _ if m.name.contains("environment") => format!("{key} (from {via})"),
                _ if m.name.contains("Serialized") || m.name.contains("flag") => {
                    format!("{key} (from a command-line flag)")
                }
                _ => key.to_string(),
            }
        }
        None => key.to_string(),
    }
}

fn parse_time(v: &str) -> Result<Time, String> {
    Time::strptime("%H:%M", v)
        .map_err(|_| format!("{v:?} is not a time of day as HH:MM (for example 14:00)"))
}

fn calendar(
    fig: &Figment,
    key: &str,
    weekdays: &Option<Vec<String>>,
    days: &Option<Vec<String>>,
    holidays: &Option<String>,
    problems: &mut Vec<String>,
) -> BusinessCalendar {
    let mut closed = Vec::new();
    for w in weekdays
        .clone()
        .unwrap_or_else(|| vec!["saturday".into(), "sunday".into()])
    {
        match parse_weekday(&w) {
            Ok(d) => closed.push(d),
            Err(e) => problems.push(format!(
                "{}: {e}",
                source(fig, &format!("{key}.closed_weekdays"))
            )),
        }
    }
    closed.sort_by_key(|d| d.to_monday_zero_offset());
    closed.dedup();
    if closed.len() >= 7 {
        problems.push(format!(
            "{}: every weekday is closed, so nothing could ever ship; open at least one",
            source(fig, &format!("{key}.closed_weekdays"))
        ));
        closed.pop();
    }
    let mut dates = Vec::new();
    for d in days.clone().unwrap_or_default() {
        match d.parse::<Date>() {
            Ok(d) => dates.push(d),
            Err(_) => problems.push(format!(
                "{}: {d:?} is not a date as YYYY-MM-DD",
                source(fig, &format!("{key}.closed_days"))
            )),
        }
    }
    let set = match holidays.as_deref().unwrap_or("us").parse::<HolidaySet>() {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!("{}: {e}", source(fig, &format!("{key}.holidays"))));
            HolidaySet::Us
        }
    };
    BusinessCalendar::new(closed, set, dates)
}

fn positive(
    fig: &Figment,
    key: &str,
    v: Option<i64>,
    default: i64,
    max: i64,
    problems: &mut Vec<String>,
) -> i64 {
    match v {
        None => default,
        Some(n) if (0..=max).contains(&n) => n,
        Some(n) => {
            problems.push(format!(
                "{}: {n} is out of range (0 to {max})",
                source(fig, key)
            ));
            default
        }
    }
}

/// One `[[status.monitors]]` entry, checked; `None` (with the problems named) when unusable.
fn monitor(
    fig: &Figment,
    i: usize,
    m: &RawMonitor,
    problems: &mut Vec<String>,
) -> Option<herald_core::status::monitor::Monitor> {
    let at = |k: &str| format!("status.monitors[{i}].{k}");
    let before = problems.len();
    let text = |k: &str, v: &Option<String>, problems: &mut Vec<String>| {
        let v = v.as_deref().map(str::trim).unwrap_or_default().to_string();
        if v.is_empty() {
            problems.push(format!("{} is missing", at(k)));
        }
        v
    };
    let name = text("name", &m.name, problems);
    let url = text("url", &m.url, problems);
    let component = text("component", &m.component, problems);
    if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
        problems.push(format!(
            "{}: {url:?} is not a web address such as https://labels.yourshop.com/health",
            at("url")
        ));
    }
    let secs = |k: &str, v: Option<i64>, default: i64, max: i64, problems: &mut Vec<String>| {
        let n = positive(fig, &at(k), v, default, max, problems);
        if n == 0 {
            problems.push(format!("{} must be at least 1", at(k)));
        }
        n.max(1)
    };
    let interval = secs("interval_seconds", m.interval_seconds, 60, 86_400, problems);
    let timeout = secs("timeout_seconds", m.timeout_seconds, 10, 120, problems);
    let failures = secs("failures", m.failures, 3, 100, problems);
    let down_status = match m.down_status.as_deref() {
        None => herald_core::status::ComponentStatus::MajorOutage,
        Some(s) => herald_core::status::ComponentStatus::parse(s).unwrap_or_else(|e| {
            problems.push(format!("{}: {e}", at("down_status")));
            herald_core::status::ComponentStatus::MajorOutage
        }),
    };
    (problems.len() == before).then(|| herald_core::status::monitor::Monitor {
        name,
        url,
        component,
        interval: jiff::SignedDuration::from_secs(interval),
        timeout: jiff::SignedDuration::from_secs(timeout),
        failures: failures as u32,
        down_status,
        open_incident: m.open_incident.unwrap_or(true),
    })
}

fn status_settings(
    fig: &Figment,
    raw: &RawConfig,
    tz_name: &str,
    public_url: Option<&str>,
    listen: SocketAddr,
    problems: &mut Vec<String>,
) -> herald_server::status::StatusSettings {
    let st = &raw.status;
    let url = st
        .url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| public_url.map(str::to_string))
        .unwrap_or_else(|| format!("http://{listen}"));
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        problems.push(format!(
            "{}: {url:?} is not a web address such as https://status.yourshop.com",
            source(fig, "status.url")
        ));
    }
    let url = url.trim_end_matches('/').to_string();
    let mins = |key: &str, v: Option<i64>, default: i64, problems: &mut Vec<String>| {
        let n = positive(fig, key, v, default, 7 * 24 * 60, problems);
        if n == 0 {
            problems.push(format!("{}: must be at least 1 minute", source(fig, key)));
        }
        jiff::SignedDuration::from_mins(n.max(1))
    };
    herald_server::status::StatusSettings {
        page: herald_core::status::PageInfo {
            id: herald_server::status::page_id(&url),
            name: st
                .name
                .clone()
                .or_else(|| raw.store.name.clone())
                .unwrap_or_else(|| "My store".into()),
            url,
            time_zone: tz_name.to_string(),
        },
        promises: herald_core::status::PromisePolicy {
            default_interval: mins(
                "status.next_update_minutes",
                st.next_update_minutes,
                30,
                problems,
            ),
            warn_before: mins(
                "status.remind_before_minutes",
                st.remind_before_minutes,
                5,
                problems,
            ),
            repeat: mins(
                "status.remind_every_minutes",
                st.remind_every_minutes,
                30,
                problems,
            ),
        },
        reports: herald_core::status::report::ReportRules {
            burst: positive(
                fig,
                "status.report_burst",
                st.report_burst,
                5,
                10_000,
                problems,
            ) as u32,
            burst_window: mins(
                "status.report_burst_minutes",
                st.report_burst_minutes,
                10,
                problems,
            ),
            per_address: {
                let n = positive(
                    fig,
                    "status.reports_per_address",
                    st.reports_per_address,
                    3,
                    1_000,
                    problems,
                );
                if n == 0 {
                    problems.push(format!(
                        "{}: must be at least 1 (a customer must be able to report)",
                        source(fig, "status.reports_per_address")
                    ));
                }
                n.max(1) as u32
            },
            address_window: mins(
                "status.report_burst_minutes",
                st.report_burst_minutes,
                10,
                &mut Vec::new(),
            ),
        },
        maintenance_reminder: mins(
            "status.maintenance_reminder_minutes",
            st.maintenance_reminder_minutes,
            60,
            problems,
        ),
        monitors: st
            .monitors
            .iter()
            .enumerate()
            .filter_map(|(i, m)| monitor(fig, i, m, problems))
            .collect(),
        client_address_header: match st.client_address_header.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(h) if header_name_ok(h) => Some(h.to_ascii_lowercase()),
            Some(h) => {
                problems.push(format!(
                    "{}: {h:?} is not a header name such as X-Forwarded-For",
                    source(fig, "status.client_address_header")
                ));
                None
            }
        },
    }
}

/// A valid HTTP header name.
fn header_name_ok(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads and checks everything, returning every problem found.
pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Config, Vec<String>> {
    let fig = figment(file, flags)?;
    let raw: RawConfig = fig.extract().map_err(|e| {
        e.into_iter()
            .map(|e| {
                let key = e.path.join(".");
                let msg = e.kind.to_string();
                if key.is_empty() {
                    msg
                } else {
                    format!("{}: {msg}", source(&fig, &key))
                }
            })
            .collect::<Vec<_>>()
    })?;
    let mut problems = Vec::new();
    let database_url = raw
        .database_url
        .clone()
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
    if let Err(e) = herald_store::scheme(&database_url) {
        problems.push(format!("{}: {e}", source(&fig, "database_url")));
    }
    let listen_s = raw.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen = listen_s.parse::<SocketAddr>().unwrap_or_else(|_| {
        problems.push(format!(
            "{}: {listen_s:?} is not an address and port such as 127.0.0.1:8080",
            source(&fig, "listen")
        ));
        DEFAULT_LISTEN.parse().expect("default parses")
    });
    let log_level = raw.log.level.clone().unwrap_or_else(|| "info".into());
    if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
        problems.push(format!(
            "{}: {log_level:?} is not a log level (error, warn, info, debug, trace)",
            source(&fig, "log.level")
        ));
    }
    let log_format = match raw.log.format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            problems.push(format!(
                "{}: {other:?} is not a log format (text or json)",
                source(&fig, "log.format")
            ));
            LogFormat::Text
        }
    };
    let s = &raw.store;
    let tz_name = s.time_zone.clone().unwrap_or_else(|| "UTC".into());
    let time_zone = jiff::tz::TimeZone::get(&tz_name).unwrap_or_else(|_| {
        problems.push(format!(
            "{}: {tz_name:?} is not an IANA time zone (for example America/Phoenix)",
            source(&fig, "store.time_zone")
        ));
        jiff::tz::TimeZone::UTC
    });
    let mut time = |key: &str, v: &Option<String>, default: Time| match v {
        None => default,
        Some(v) => parse_time(v).unwrap_or_else(|e| {
            problems.push(format!("{}: {e}", source(&fig, key)));
            default
        }),
    };
    let cutoff = time("store.cutoff", &s.cutoff, Time::constant(14, 0, 0, 0));
    let opening = time(
        "store.opening_time",
        &s.opening_time,
        Time::constant(9, 0, 0, 0),
    );
    let closing = time(
        "store.closing_time",
        &s.closing_time,
        Time::constant(17, 0, 0, 0),
    );
    if closing <= opening {
        problems.push(format!(
            "{}: closing time {closing} is not after opening time {opening}",
            source(&fig, "store.closing_time")
        ));
    }
    let cal = calendar(
        &fig,
        "store",
        &s.closed_weekdays,
        &s.closed_days,
        &s.holidays,
        &mut problems,
    );
    let default_handling_days = positive(
        &fig,
        "store.default_handling_days",
        s.default_handling_days,
        2,
        60,
        &mut problems,
    ) as u32;
    let mut handling_days = BTreeMap::new();
    for (ch, n) in s.handling_days.clone().unwrap_or_default() {
        if let Err(e) = herald_core::order::Channel::parse(&ch) {
            problems.push(format!("{}: {e}", source(&fig, "store.handling_days")));
        }
        let n = positive(
            &fig,
            &format!("store.handling_days.{ch}"),
            Some(n),
            2,
            60,
            &mut problems,
        );
        handling_days.insert(ch, n as u32);
    }
    let at_risk = positive(
        &fig,
        "store.at_risk_business_hours",
        s.at_risk_business_hours,
        4,
        24 * 30,
        &mut problems,
    ) as u32;
    let mut carriers = BTreeMap::new();
    for (name, c) in &raw.carriers {
        let cal = calendar(
            &fig,
            &format!("carriers.{name}"),
            &c.closed_weekdays,
            &c.closed_days,
            &c.holidays,
            &mut problems,
        );
        carriers.insert(name.clone(), cal);
    }
    let max_body = positive(
        &fig,
        "http.max_body_bytes",
        raw.http.max_body_bytes,
        64 << 20,
        1 << 32,
        &mut problems,
    );
    let timeout = positive(
        &fig,
        "http.request_timeout_secs",
        raw.http.request_timeout_secs,
        120,
        3600,
        &mut problems,
    );
    let sweep = positive(
        &fig,
        "alerts.sweep_interval_secs",
        raw.alerts.sweep_interval_secs,
        15,
        3600,
        &mut problems,
    );
    let max_conn = positive(
        &fig,
        "database.max_connections",
        raw.database.max_connections,
        8,
        1000,
        &mut problems,
    );
    if timeout == 0 || sweep == 0 || max_conn == 0 || max_body == 0 {
        problems.push("http.request_timeout_secs, http.max_body_bytes, alerts.sweep_interval_secs and database.max_connections must be above 0".into());
    }
    let watch = watch_policy(&fig, &raw.watch, &time_zone, &cal, &carriers, &mut problems);
    let webhooks = webhook_secrets(&fig, &raw.webhooks, &mut problems);
    let (mail, notify) = notifications(&fig, &raw.mail, &raw.notify, &mut problems);
    let public_url = raw
        .notify
        .public_url
        .clone()
        .filter(|u| !u.trim().is_empty());
    if let Some(u) = &public_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        problems.push(format!(
            "{}: {u:?} is not a web address such as https://track.yourshop.com",
            source(&fig, "notify.public_url")
        ));
    }
    let status = status_settings(
        &fig,
        &raw,
        &tz_name,
        public_url.as_deref(),
        listen,
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Config {
        status,
        watch,
        webhooks,
        mail,
        notify,
        public_url,
        database_url,
        listen,
        log_level,
        log_format,
        store_name: s.name.clone().unwrap_or_else(|| "My store".into()),
        policy: ShipByPolicy {
            time_zone,
            calendar: cal,
            cutoff,
            opening,
            closing,
            default_handling_days,
            handling_days,
            at_risk_business_hours: at_risk,
        },
        carriers,
        settings: herald_server::Settings {
            max_body_bytes: max_body as usize,
            request_timeout: Duration::from_secs(timeout as u64),
            alert_sweep_interval: Duration::from_secs(sweep as u64),
        },
        max_connections: max_conn as u32,
    })
}

/// `[mail]` and `[notify]`. Mail settings that cannot send (a placeholder From, say) are not a
/// configuration error: herald holds customer mail and `herald check` says why.
fn notifications(
    fig: &Figment,
    m: &RawMail,
    n: &RawNotify,
    problems: &mut Vec<String>,
) -> (
    herald_server::notify::MailSettings,
    herald_core::notify::NotifyPolicy,
) {
    use herald_core::notify::{MessageKind, NotifyPolicy};
    let give_up = positive(
        fig,
        "mail.give_up_after_hours",
        m.give_up_after_hours,
        24,
        24 * 30,
        problems,
    );
    let pool = positive(fig, "mail.pool_size", m.pool_size, 8, 256, problems);
    let mail = herald_server::notify::MailSettings {
        smtp_url: m.smtp_url.clone().filter(|v| !v.trim().is_empty()),
        from: m.from.clone().filter(|v| !v.trim().is_empty()),
        reply_to: m.reply_to.clone().filter(|v| !v.trim().is_empty()),
        give_up_after: Duration::from_secs(give_up as u64 * 3600),
        pool_size: pool.max(1) as u32,
        maildir: m.maildir.clone(),
        stores: m
            .stores
            .iter()
            .map(|(ch, st)| {
                if let Err(e) = herald_core::order::Channel::parse(ch) {
                    problems.push(format!(
                        "{}: {e}",
                        source(fig, &format!("mail.stores.{ch}"))
                    ));
                }
                (
                    ch.clone(),
                    herald_server::notify::mailer::StoreSender {
                        name: st.name.clone().filter(|v| !v.trim().is_empty()),
                        from: st.from.clone().filter(|v| !v.trim().is_empty()),
                        reply_to: st.reply_to.clone().filter(|v| !v.trim().is_empty()),
                    },
                )
            })
            .collect(),
    };
    let mut policy = NotifyPolicy {
        window_hours: positive(
            fig,
            "notify.window_hours",
            n.window_hours,
            24,
            24 * 90,
            problems,
        ) as u32,
        ..NotifyPolicy::default()
    };
    for k in n.disabled.clone().unwrap_or_default() {
        match MessageKind::parse(&k) {
            Ok(k) => policy.disabled.push(k),
            Err(e) => problems.push(format!("{}: {e}", source(fig, "notify.disabled"))),
        }
    }
    if let Some(chs) = &n.marketplace_channels {
        for c in chs {
            if let Err(e) = herald_core::order::Channel::parse(c) {
                problems.push(format!(
                    "{}: {e}",
                    source(fig, "notify.marketplace_channels")
                ));
            }
        }
        policy.marketplace_channels = chs.clone();
    }
    let delayed_when = |key: &str, v: &Option<String>, problems: &mut Vec<String>| {
        use herald_core::notify::DelayedWhen;
        match v.as_deref() {
            None => None,
            Some("at_risk") => Some(DelayedWhen::AtRisk),
            Some("late") => Some(DelayedWhen::Late),
            Some(other) => {
                problems.push(format!(
                    "{}: {other:?} is not a choice: write \"at_risk\" (tell customers as soon as an order may ship late) or \"late\" (only once it has)",
                    source(fig, key)
                ));
                None
            }
        }
    };
    if let Some(w) = delayed_when("notify.delayed_when", &n.delayed_when, problems) {
        policy.delayed_when = w;
    }
    for (ch, sp) in &n.stores {
        if let Err(e) = herald_core::order::Channel::parse(ch) {
            problems.push(format!(
                "{}: {e}",
                source(fig, &format!("notify.stores.{ch}"))
            ));
        }
        let mut store = herald_core::notify::StorePolicy {
            delayed_when: delayed_when(
                &format!("notify.stores.{ch}.delayed_when"),
                &sp.delayed_when,
                problems,
            ),
            ..Default::default()
        };
        for k in sp.disabled.clone().unwrap_or_default() {
            match MessageKind::parse(&k) {
                Ok(k) => store.disabled.push(k),
                Err(e) => problems.push(format!(
                    "{}: {e}",
                    source(fig, &format!("notify.stores.{ch}.disabled"))
                )),
            }
        }
        policy.stores.insert(ch.clone(), store);
    }
    if let Some(v) = &n.seller_alerts {
        match herald_core::notify::SellerAlerts::parse(v) {
            Ok(a) => policy.seller_alerts = a,
            Err(e) => problems.push(format!("{}: {e}", source(fig, "notify.seller_alerts"))),
        }
    }
    policy.digest_hour = positive(fig, "notify.digest_hour", n.digest_hour, 7, 23, problems) as u8;
    policy.seller_email = n
        .seller_email
        .clone()
        .or_else(|| mail.reply_to.clone())
        .filter(|v| !v.trim().is_empty());
    if let Some(addr) = &n.seller_email
        && !addr.contains('@')
    {
        problems.push(format!(
            "{}: {addr:?} is not an e-mail address",
            source(fig, "notify.seller_email")
        ));
    }
    let o = &n.offers;
    if let Some(c) = &o.codes {
        use herald_core::notify::offers::CodeSource;
        match c.as_str() {
            "off" => policy.offers.codes = CodeSource::Off,
            "generate" => policy.offers.codes = CodeSource::Generate,
            "pool" => policy.offers.codes = CodeSource::Pool,
            other => problems.push(format!(
                "{}: {other:?} is not a choice: write \"off\", \"generate\" (herald makes unique codes) or \"pool\" (codes you upload from your store)",
                source(fig, "notify.offers.codes")
            )),
        }
    }
    if let Some(p) = &o.code_prefix {
        match herald_core::notify::offers::check_prefix(p) {
            Ok(()) => policy.offers.code_prefix = p.clone(),
            Err(e) => problems.push(format!("{}: {e}", source(fig, "notify.offers.code_prefix"))),
        }
    }
    if let Some(d) = &o.delayed {
        match herald_core::cases::Compensation::parse(d) {
            Ok(c) => policy.offers.delayed = c,
            Err(e) => problems.push(format!("{}: {e}", source(fig, "notify.offers.delayed"))),
        }
    }
    (mail, policy)
}

/// `[watch]`: thresholds (and their per-carrier and per-service overrides), the service-standard
/// table on top of herald's defaults, the off-route tolerance and the compensation policy.
fn watch_policy(
    fig: &Figment,
    w: &RawWatch,
    time_zone: &jiff::tz::TimeZone,
    store_calendar: &BusinessCalendar,
    carriers: &BTreeMap<String, BusinessCalendar>,
    problems: &mut Vec<String>,
) -> herald_core::watch::WatchPolicy {
    use herald_core::watch::{Standard, ThresholdOverride, WatchPolicy, service_key};
    let mut p = WatchPolicy {
        time_zone: time_zone.clone(),
        store_calendar: store_calendar.clone(),
        carrier_calendars: carriers
            .iter()
            .map(|(k, v)| (herald_core::tracking::carrier_key(k), v.clone()))
            .collect(),
        ..WatchPolicy::default()
    };
    let t = &mut p.thresholds;
    t.not_accepted_business_days = positive(
        fig,
        "watch.not_accepted_business_days",
        w.not_accepted_business_days,
        1,
        30,
        problems,
    ) as u32;
    t.stalled_days = positive(fig, "watch.stalled_days", w.stalled_days, 3, 60, problems);
    t.pickup_days = positive(fig, "watch.pickup_days", w.pickup_days, 5, 60, problems);
    p.first_action_business_days = positive(
        fig,
        "watch.first_action_business_days",
        w.first_action_business_days,
        1,
        30,
        problems,
    ) as u32;
    if let Some(km) = w.misroute_min_km {
        if km.is_finite() && (10.0..=5000.0).contains(&km) {
            p.misroute_min_km = km;
        } else {
            problems.push(format!(
                "{}: {km} km is not a distance from 10 to 5000",
                source(fig, "watch.misroute_min_km")
            ));
        }
    }
    if let Some(share) = w.misroute_share {
        if share.is_finite() && (0.0..=2.0).contains(&share) {
            p.misroute_share = share;
        } else {
            problems.push(format!(
                "{}: {share} is not a share of the route from 0 to 2 (0.25 is a quarter)",
                source(fig, "watch.misroute_share")
            ));
        }
    }
    // `carrier` or `carrier/service`, in herald's keys.
    let key = |k: &str| match k.split_once('/') {
        Some((c, s)) => {
            let c = herald_core::tracking::carrier_key(c);
            let s = service_key(&c, s);
            format!("{c}/{s}")
        }
        None => herald_core::tracking::carrier_key(k),
    };
    for (k, o) in &w.thresholds {
        let path = format!("watch.thresholds.{k}");
        let get = |v: Option<i64>, name: &str, max: i64, problems: &mut Vec<String>| {
            v.map(|v| positive(fig, &format!("{path}.{name}"), Some(v), 1, max, problems))
        };
        p.overrides.insert(
            key(k),
            ThresholdOverride {
                not_accepted_business_days: get(
                    o.not_accepted_business_days,
                    "not_accepted_business_days",
                    30,
                    problems,
                )
                .map(|v| v as u32),
                stalled_days: get(o.stalled_days, "stalled_days", 60, problems),
                pickup_days: get(o.pickup_days, "pickup_days", 60, problems),
            },
        );
    }
    for (k, v) in &w.service_standards {
        if !k.contains('/') {
            problems.push(format!(
                "{}: name a carrier and its service, such as \"usps/priority mail\"",
                source(fig, &format!("watch.service_standards.{k}"))
            ));
            continue;
        }
        match Standard::parse(v) {
            Ok(s) => {
                p.standards.insert(key(k), s);
            }
            Err(e) => problems.push(format!(
                "{}: {e}",
                source(fig, &format!("watch.service_standards.{k}"))
            )),
        }
    }
    for (k, v) in &w.compensation {
        let at = source(fig, &format!("watch.compensation.{k}"));
        let Some(kind) = herald_core::problems::ProblemKind::parse(k) else {
            problems.push(format!(
                "{at}: {k:?} is not a problem kind: use one of {}",
                herald_core::problems::ProblemKind::ALL
                    .map(|k| k.as_str())
                    .join(", ")
            ));
            continue;
        };
        match herald_core::cases::Compensation::parse(v) {
            Ok(c) => {
                p.compensation.insert(kind, c);
            }
            Err(e) => problems.push(format!("{at}: {e}")),
        }
    }
    p
}

/// `[webhooks.PROVIDER] secret`: only EasyPost, Shippo and AfterShip, each with a secret.
fn webhook_secrets(
    fig: &Figment,
    raw: &BTreeMap<String, RawWebhook>,
    problems: &mut Vec<String>,
) -> herald_server::WebhookSecrets {
    let mut out = herald_server::WebhookSecrets::default();
    for (name, w) in raw {
        let Some(provider) = herald_core::providers::Provider::parse(name) else {
            problems.push(format!(
                "webhooks.{name}: herald takes webhooks from easypost, shippo and aftership"
            ));
            continue;
        };
        match w.secret.as_deref().map(str::trim) {
            Some(s) if s.len() >= 8 => {
                out.0.insert(provider.as_str(), s.to_string());
            }
            _ => problems.push(format!(
                "{}: set the webhook secret you gave {name} (at least 8 characters)",
                source(fig, &format!("webhooks.{name}.secret"))
            )),
        }
    }
    out
}

#[cfg(test)]
// figment::Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                r#"
                database_url = "sqlite://from-file.db"
                listen = "127.0.0.1:9000"
                [store]
                time_zone = "America/Phoenix"
                cutoff = "13:30"
                [store.handling_days]
                amazon = 1
                [carriers.usps]
                closed_weekdays = ["sunday"]
                "#,
            )?;
            jail.set_env("HERALD_LISTEN", "127.0.0.1:9001");
            jail.set_env("HERALD_STORE__CUTOFF", "12:00");
            jail.set_env("HERALD_TEST_SOMETHING_ELSE", "ignored");
            let flags = FlagOverrides {
                listen: Some("127.0.0.1:9002".into()),
                ..Default::default()
            };
            let c = load(Some(Path::new("herald.toml")), &flags).unwrap();
            assert_eq!(c.database_url, "sqlite://from-file.db");
            assert_eq!(c.listen.port(), 9002);
            assert_eq!(c.policy.cutoff, Time::constant(12, 0, 0, 0));
            assert_eq!(c.policy.handling_days_for("amazon"), 1);
            assert_eq!(c.policy.handling_days_for("shopify"), 2);
            assert!(c.carriers["usps"].is_business_day(jiff::civil::date(2025, 12, 6)));
            let c = load(Some(Path::new("herald.toml")), &FlagOverrides::default()).unwrap();
            assert_eq!(c.listen.port(), 9001);
            Ok(())
        });
    }

    #[test]
    fn every_problem_is_reported_with_its_source() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                r#"
                database_url = "mysql://root:hunter2@db/shop"
                [store]
                time_zone = "Mars/Olympus"
                cutoff = "2pm"
                closed_weekdays = ["caturday"]
                "#,
            )?;
            jail.set_env("HERALD_STORE__AT_RISK_BUSINESS_HOURS", "-3");
            let problems =
                load(Some(Path::new("herald.toml")), &FlagOverrides::default()).unwrap_err();
            let all = problems.join("\n");
            assert_eq!(problems.len(), 5, "{all}");
            assert!(all.contains("database_url in "), "{all}");
            assert!(!all.contains("hunter2"), "{all}");
            assert!(all.contains("Mars/Olympus"), "{all}");
            assert!(all.contains("\"2pm\""), "{all}");
            assert!(all.contains("caturday"), "{all}");
            assert!(
                all.contains("HERALD_STORE__AT_RISK_BUSINESS_HOURS"),
                "{all}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_watch_policy_and_webhook_secrets_are_read_and_checked() {
        use herald_core::problems::ProblemKind;
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                r#"
                [watch]
                stalled_days = 4
                [watch.thresholds."USPS/Priority Mail Express"]
                stalled_days = 2
                [watch.service_standards]
                "usps/Media Mail" = "3-9"
                [watch.compensation]
                overdue = "coupon 15%"
                [carriers.ups]
                closed_weekdays = ["sunday"]
                "#,
            )?;
            jail.set_env("HERALD_WEBHOOKS__EASYPOST__SECRET", "ep-secret-value");
            let c = load(Some(Path::new("herald.toml")), &FlagOverrides::default()).unwrap();
            let w = &c.watch;
            assert_eq!(
                w.thresholds_for("usps", Some("Ground Advantage"))
                    .stalled_days,
                4
            );
            assert_eq!(w.thresholds_for("usps", Some("Express")).stalled_days, 2);
            assert_eq!(
                w.standard_for("usps", "MEDIA_MAIL").unwrap().max_days(None),
                9
            );
            assert_eq!(
                w.compensation_for(ProblemKind::Overdue),
                herald_core::cases::Compensation::Coupon { percent: 15 }
            );
            assert!(w.carrier_calendars.contains_key("ups"));
            assert_eq!(c.webhooks.0["easypost"], "ep-secret-value");
            // The secret never shows in debug output.
            assert!(!format!("{c:?}").contains("ep-secret-value"));
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                r#"
                [watch.service_standards]
                "usps/priority mail" = "soon"
                "priority mail" = "1-3"
                [watch.compensation]
                lost = "coupon 10%"
                stalled = "a hug"
                [webhooks.fedex]
                secret = "abcdefgh"
                [webhooks.shippo]
                secret = "short"
                "#,
            )?;
            let problems =
                load(Some(Path::new("herald.toml")), &FlagOverrides::default()).unwrap_err();
            let all = problems.join("\n");
            assert_eq!(problems.len(), 6, "{all}");
            for needle in [
                "\"soon\"",
                "name a carrier",
                "\"lost\"",
                "a hug",
                "webhooks.fedex",
                "webhooks.shippo.secret",
            ] {
                assert!(all.contains(needle), "{needle}: {all}");
            }
            Ok(())
        });
    }

    #[test]
    fn monitors_are_read_and_checked() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                r#"
                [[status.monitors]]
                name = "Label service"
                url = "https://labels.canyonclay.shop/health"
                component = "Order shipping"
                interval_seconds = 30
                down_status = "partial_outage"
                [[status.monitors]]
                name = "Storefront"
                url = "https://canyonclay.shop/"
                component = "Online store"
                "#,
            )?;
            let c = load(Some(Path::new("herald.toml")), &FlagOverrides::default()).unwrap();
            let m = &c.status.monitors;
            assert_eq!(m.len(), 2);
            assert_eq!(m[0].interval, jiff::SignedDuration::from_secs(30));
            assert_eq!(
                m[0].down_status,
                herald_core::status::ComponentStatus::PartialOutage
            );
            assert_eq!((m[1].failures, m[1].open_incident), (3, true));
            assert_eq!(m[1].timeout, jiff::SignedDuration::from_secs(10));
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                r#"
                [[status.monitors]]
                name = "Label service"
                url = "labels.local/health"
                down_status = "on fire"
                failures = 0
                "#,
            )?;
            let problems =
                load(Some(Path::new("herald.toml")), &FlagOverrides::default()).unwrap_err();
            let all = problems.join("\n");
            for needle in [
                "status.monitors[0].component is missing",
                "status.monitors[0].url: \"labels.local/health\" is not a web address",
                "status.monitors[0].down_status",
                "status.monitors[0].failures must be at least 1",
            ] {
                assert!(all.contains(needle), "{needle}: {all}");
            }
            Ok(())
        });
    }

    #[test]
    fn seller_alerts_offers_and_stores_are_read_and_checked() {
        use herald_core::notify::{DelayedWhen, MessageKind, SellerAlerts, offers::CodeSource};
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                r#"
                [mail]
                reply_to = "hello@canyonclay.shop"
                [mail.stores.candles]
                name = "Juniper Candles"
                from = "Juniper Candles <orders@junipercandles.shop>"
                reply_to = "hello@junipercandles.shop"
                [notify]
                seller_alerts = "digest"
                digest_hour = 6
                [notify.offers]
                codes = "pool"
                delayed = "upgrade Priority Mail Express"
                [notify.stores.candles]
                disabled = ["payment_received"]
                delayed_when = "late"
                "#,
            )?;
            let c = load(Some(Path::new("herald.toml")), &FlagOverrides::default()).unwrap();
            let n = &c.notify;
            assert_eq!(n.seller_email.as_deref(), Some("hello@canyonclay.shop"));
            assert_eq!((n.seller_alerts, n.digest_hour), (SellerAlerts::Digest, 6));
            assert_eq!(n.offers.codes, CodeSource::Pool);
            assert_eq!(n.stores["candles"].disabled, [MessageKind::PaymentReceived]);
            assert_eq!(n.delayed_when_for(Some("candles")), DelayedWhen::Late);
            assert_eq!(
                c.mail.stores["candles"].name.as_deref(),
                Some("Juniper Candles")
            );
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "herald.toml",
                r#"
                [notify]
                seller_alerts = "hourly"
                digest_hour = 24
                delayed_when = "soon"
                [notify.offers]
                codes = "lots"
                code_prefix = "NO SPACES"
                delayed = "a hug"
                [notify.stores.candles]
                disabled = ["flyers"]
                "#,
            )?;
            let problems =
                load(Some(Path::new("herald.toml")), &FlagOverrides::default()).unwrap_err();
            let all = problems.join("\n");
            for needle in [
                "notify.seller_alerts",
                "notify.digest_hour",
                "notify.delayed_when",
                "notify.offers.codes",
                "notify.offers.code_prefix",
                "a hug",
                "notify.stores.candles.disabled",
            ] {
                assert!(all.contains(needle), "{needle}: {all}");
            }
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("herald.toml", "[store]\ntimezone = \"UTC\"\n")?;
            let problems =
                load(Some(Path::new("herald.toml")), &FlagOverrides::default()).unwrap_err();
            assert!(problems[0].contains("timezone"), "{problems:?}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let p = load(
            Some(Path::new("/nonexistent/herald.toml")),
            &FlagOverrides::default(),
        )
        .unwrap_err();
        assert!(p[0].contains("does not exist"));
    }
}
