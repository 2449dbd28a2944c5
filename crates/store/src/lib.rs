//! herald's storage. One [`Store`] trait; a SQLite and a PostgreSQL implementation that share
//! one body of SQL (see `sql.rs`), each with its own migrations. [`open`] picks the
//! implementation from the database URL's scheme and refuses any other scheme.

mod outbox;
mod postgres;
mod seller;
mod sql;
mod sqlite;
mod status;
mod subscribers;
mod watch;

pub use outbox::{BounceRecorded, Message, MessageFilter, NewMessage, Settle, Undeliverable};
pub use postgres::PgStore;
pub use seller::{ListMember, NewWebhookEndpoint, OfferCode, OfferRequest, WebhookEndpoint};
pub use sql::Cursor;
pub use sqlite::SqliteStore;
pub use status::{StatusApplied, StatusWrite, StoredStatus};
pub use subscribers::{FAN_OUT_BATCH, StoredNotice};
pub use watch::{Ingested, SweepReport};

use async_trait::async_trait;
use herald_core::deadline::{ShipByPolicy, ShipByState};
use herald_core::order::{NewOrder, Order, OrderEventKind, OrderState};
use jiff::Timestamp;
use serde::Serialize;
use std::sync::Arc;

/// What can go wrong in storage, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    BadUrl(String),
    #[error("cannot connect to the database at {url}: {source}")]
    Connect { url: String, source: sqlx::Error },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data could not be read back: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    /// Something the request refers to does not exist (`field`, message).
    #[error("{1}")]
    Missing(&'static str, String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The outcome of writing one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Upserted {
    pub id: i64,
    /// `created`, `updated` or `unchanged` (the same facts were already stored).
    pub outcome: UpsertOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpsertOutcome {
    Created,
    Updated,
    Unchanged,
}

/// Filters for listing orders. Every field narrows the list.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub state: Option<OrderState>,
    pub ship_by_state: Option<ShipByState>,
    pub channel: Option<String>,
    pub placed_from: Option<Timestamp>,
    pub placed_to: Option<Timestamp>,
    /// The cursor returned with the previous page.
    pub cursor: Option<Cursor>,
    pub limit: u32,
}

/// One page of a list and the cursor for the next, if there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One step of an order's history: what happened, when, and when herald learnt of it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct OrderEvent {
    pub kind: OrderEventKind,
    pub at: Timestamp,
    pub recorded_at: Timestamp,
}

/// A notice for the seller: an order at risk or late, and later kinds.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: i64,
    pub kind: String,
    pub order_id: Option<i64>,
    /// The case the alert is about, for case alerts.
    pub case_id: Option<i64>,
    pub message: String,
    pub due_at: Option<Timestamp>,
    pub raised_at: Timestamp,
}

/// Shipping performance as marketplaces compute it, over a window of days.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ShippingWindow {
    pub days: u32,
    /// Orders whose ship-by deadline fell in the window (cancelled-before-shipping excluded).
    pub orders_due: u64,
    /// Of those, shipped after the deadline or still unshipped past it.
    pub shipped_late: u64,
    pub late_shipment_rate: f64,
    /// Orders placed in the window.
    pub orders_placed: u64,
    /// Of those, cancelled before they shipped.
    pub cancelled_before_shipping: u64,
    pub pre_fulfilment_cancel_rate: f64,
}

/// An API token's public facts (never the token or its hash).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub name: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A shipment with its parcel's status and tracking history.
#[derive(Debug, Clone, Serialize)]
pub struct Shipment {
    pub id: i64,
    pub order_id: i64,
    pub carrier: String,
    pub tracking_number: String,
    pub service: Option<String>,
    pub label_created_at: Option<Timestamp>,
    pub origin_postal_code: Option<String>,
    pub destination_postal_code: Option<String>,
    pub estimated_delivery: Option<Timestamp>,
    pub status: herald_core::tracking::TrackingStatus,
    pub status_at: Option<Timestamp>,
    pub events: Vec<herald_core::tracking::TrackingEvent>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A case: the seller's file on a problem parcel.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub id: i64,
    pub shipment_id: i64,
    pub order_id: i64,
    pub carrier: String,
    pub tracking_number: String,
    /// The worst problem (open ones first).
    pub kind: herald_core::problems::ProblemKind,
    /// Every kind of problem the case has held.
    pub kinds: Vec<herald_core::problems::ProblemKind>,
    pub open: bool,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// delivered, moved_on or resolved.
    pub close_reason: Option<String>,
    /// The seller must act by then (1 business day after opening by default).
    pub first_action_due: Timestamp,
    pub first_action_at: Option<Timestamp>,
    pub problems: Vec<herald_core::cases::CaseProblem>,
    pub entries: Vec<herald_core::cases::CaseEntry>,
}

/// Filters for listing cases; every field narrows the list (newest first).
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub open: Option<bool>,
    /// Cases that have held this kind of problem.
    pub kind: Option<herald_core::problems::ProblemKind>,
    /// Opened at or before (cases at least this old).
    pub opened_before: Option<Timestamp>,
    /// Opened at or after (cases at most this old).
    pub opened_after: Option<Timestamp>,
    /// The cursor of the previous page: the last case id it held.
    pub after_id: Option<i64>,
    pub limit: u32,
}

/// A provider webhook as received, with what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookPayload {
    pub id: i64,
    pub provider: String,
    pub received_at: Timestamp,
    /// The body as received (lossy UTF-8 for display).
    pub body: String,
    /// accepted or dead_letter.
    pub outcome: String,
    /// Why a dead letter could not be read.
    pub reason: Option<String>,
    /// Tracking events it carried.
    pub events: i64,
}

/// Everything herald keeps. Implemented for SQLite and PostgreSQL.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;
    /// The status page's new version each time any node changes it, as the database tells
    /// (PostgreSQL: `LISTEN herald_status`, reconnecting by itself). `None` where it cannot
    /// tell (SQLite, one node): the caller polls [`Store::status_version`] instead.
    fn status_changes(&self) -> Option<tokio::sync::mpsc::Receiver<i64>> {
        None
    }
    /// Whether the database answers.
    async fn ping(&self) -> Result<()>;
    /// Writes orders (new or re-sent) in one transaction: merged with what is stored, never
    /// duplicated, never moved backwards. Returns one outcome per input, in input order.
    async fn upsert_orders(
        &self,
        orders: &[NewOrder],
        policy: &ShipByPolicy,
        now: Timestamp,
    ) -> Result<Vec<Upserted>>;
    async fn get_order(&self, id: i64, now: Timestamp) -> Result<Option<Order>>;
    async fn list_orders(&self, filter: &OrderFilter, now: Timestamp) -> Result<Page<Order>>;
    async fn order_events(&self, id: i64) -> Result<Vec<OrderEvent>>;
    /// Raises the at-risk and late alerts that have come due, reading only orders that are due.
    /// Returns how many alerts were raised.
    async fn raise_due_alerts(&self, now: Timestamp, limit: u32) -> Result<u64>;
    async fn list_alerts(&self, after_id: Option<i64>, limit: u32) -> Result<Vec<Alert>>;
    async fn shipping_window(&self, days: u32, now: Timestamp) -> Result<ShippingWindow>;
    async fn count_orders(&self) -> Result<u64>;
    /// Stores a token's hash under a unique name.
    async fn create_token(&self, name: &str, token_hash: &str, now: Timestamp) -> Result<()>;
    /// The name of the live token with this hash.
    async fn token_name(&self, token_hash: &str) -> Result<Option<String>>;
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>>;
    /// Revokes a token by name; false if no live token has that name.
    async fn revoke_token(&self, name: &str, now: Timestamp) -> Result<bool>;
    /// Records (or updates) a shipment of an order, keyed by carrier and tracking number, and
    /// attaches any tracking events that arrived for it before.
    async fn upsert_shipment(
        &self,
        shipment: &herald_core::tracking::NewShipment,
        now: Timestamp,
    ) -> Result<Shipment>;
    /// Stores tracking events, each once, and judges the parcels herald has a shipment for in
    /// the same transaction: status, next check, delivered notice; a parcel with a problem is
    /// left due for the sweep (`review_due_shipments`).
    async fn ingest_tracking_events(
        &self,
        events: Vec<herald_core::tracking::TrackingEvent>,
        policy: &herald_core::watch::WatchPolicy,
        now: Timestamp,
    ) -> Result<Ingested>;
    async fn get_shipment(&self, id: i64) -> Result<Option<Shipment>>;
    async fn order_shipments(&self, order_id: i64) -> Result<Vec<Shipment>>;
    /// Runs the problem rules on up to `limit` shipments that are due, opening, updating and
    /// closing their cases, and raises alerts for new cases and for cases nobody acted on by
    /// their deadline. Reads only due shipments. Several nodes never review one shipment at
    /// the same time.
    async fn review_due_shipments(
        &self,
        policy: &herald_core::watch::WatchPolicy,
        now: Timestamp,
        limit: u32,
    ) -> Result<SweepReport>;
    async fn list_cases(&self, filter: &CaseFilter) -> Result<Page<Case>>;
    async fn get_case(&self, id: i64) -> Result<Option<Case>>;
    /// Adds a seller's action to a case (`resolved` closes it). `None` if there is no such case.
    async fn add_case_entry(
        &self,
        id: i64,
        entry: herald_core::cases::CaseEntry,
        now: Timestamp,
    ) -> Result<Option<Case>>;
    /// Keeps a webhook that passed its signature check and stores the tracking events it
    /// carried, in one transaction, with the carrier's delivery estimate it passed on (written
    /// onto the parcel's shipment); `dead_letter` holds the reason it could not be read.
    /// The events are judged as `ingest_tracking_events` judges them. Returns the payload's id
    /// and what storing the events did.
    #[allow(clippy::too_many_arguments)]
    async fn record_webhook(
        &self,
        provider: &str,
        body: &[u8],
        events: &[herald_core::tracking::TrackingEvent],
        estimated_delivery: Option<Timestamp>,
        dead_letter: Option<&str>,
        policy: &herald_core::watch::WatchPolicy,
        now: Timestamp,
    ) -> Result<(i64, Ingested)>;
    /// Webhooks kept, newest first: all, or only dead letters.
    async fn list_webhooks(
        &self,
        dead_letters_only: bool,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<WebhookPayload>>;

    /// The token of an order's buyer tracking page.
    async fn page_token(&self, order_id: i64) -> Result<Option<String>>;
    /// The order whose buyer tracking page has this token.
    async fn order_for_page(&self, token: &str) -> Result<Option<i64>>;

    /// Records what a delivery status notification says, in one transaction: every recipient
    /// it reports on, and for each hard bounce a seller alert (once per address).
    async fn record_bounce(
        &self,
        bounce: &herald_core::notify::bounce::Bounce,
        now: Timestamp,
    ) -> Result<BounceRecorded>;
    /// Whether an address bounced hard (herald no longer mails it).
    async fn undeliverable(&self, address: &str) -> Result<Option<Undeliverable>>;

    /// Writes a message to the outbox on its own (most are written by the change that causes
    /// them). Returns its id, or `None` if a message with its dedupe key exists.
    async fn enqueue_message(&self, message: &NewMessage, now: Timestamp) -> Result<Option<i64>>;
    /// Claims up to `limit` messages that are due (pending and due, or leased to a worker whose
    /// lease ran out), leasing them to the caller until `lease_until`. Several nodes never
    /// claim one message at the same time.
    async fn claim_messages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// Records what became of claimed messages, in one transaction; returns how many were
    /// still being sent (a message whose lease ran out and was claimed again settles once).
    async fn settle_messages(&self, outcomes: &[(i64, Settle)], now: Timestamp) -> Result<u64>;
    /// Records what became of one claimed message; false if it was no longer being sent.
    async fn settle_message(&self, id: i64, outcome: &Settle, now: Timestamp) -> Result<bool> {
        Ok(self.settle_messages(&[(id, outcome.clone())], now).await? == 1)
    }
    async fn list_messages(&self, filter: &MessageFilter) -> Result<Page<Message>>;
    async fn get_message(&self, id: i64) -> Result<Option<Message>>;
    /// Puts a dead message back in the queue; `None` if there is no dead message with that id.
    async fn retry_message(&self, id: i64, now: Timestamp) -> Result<Option<Message>>;
    /// Saves the seller's wording for a kind (validated by the caller), for the orders of one
    /// store (a sales channel) or, with `store` "", for every store.
    async fn save_template(
        &self,
        store: &str,
        kind: herald_core::notify::MessageKind,
        set: &herald_core::notify::templates::TemplateSet,
        now: Timestamp,
    ) -> Result<()>;
    /// Goes back to the wording for every store (or herald's, for `store` ""); false if the
    /// seller had none saved there.
    async fn delete_template(
        &self,
        store: &str,
        kind: herald_core::notify::MessageKind,
    ) -> Result<bool>;
    async fn load_templates(&self) -> Result<herald_core::notify::templates::CustomTemplates>;

    /// Subscribes a URL to herald's events; messages enqueued from now on are echoed to it.
    async fn add_webhook_endpoint(
        &self,
        endpoint: &NewWebhookEndpoint,
        now: Timestamp,
    ) -> Result<WebhookEndpoint>;
    /// Every endpoint, oldest first (disabled ones too).
    async fn list_webhook_endpoints(&self) -> Result<Vec<WebhookEndpoint>>;
    async fn get_webhook_endpoint(&self, id: i64) -> Result<Option<WebhookEndpoint>>;
    /// Stops deliveries to an endpoint; false if it was already stopped or never existed.
    async fn disable_webhook_endpoint(&self, id: i64, now: Timestamp) -> Result<bool>;
    async fn get_alert(&self, id: i64) -> Result<Option<Alert>>;
    /// Alerts raised in [from, to), oldest first, at most `limit`.
    async fn alerts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<Alert>>;
    /// Adds codes to the pool (a code already known is left as it is); returns how many
    /// were new.
    async fn add_offer_codes(&self, codes: &[String], now: Timestamp) -> Result<u64>;
    /// The code of a message's offer: the one it already has, else one from the pool (or the
    /// generated one). `None` when the pool is empty.
    async fn assign_offer_code(&self, req: &OfferRequest, now: Timestamp)
    -> Result<Option<String>>;
    /// Codes, most recent first; `given`: only handed out (true), only free (false), or all.
    async fn list_offer_codes(&self, given: Option<bool>, limit: u32) -> Result<Vec<OfferCode>>;
    /// The reader's place on a mail list, joining it if they were never on it.
    async fn join_mail_list(&self, list: &str, address: &str, now: Timestamp)
    -> Result<ListMember>;
    /// Leaves the list of an unsubscribe token; the (list, address) it named, if any.
    async fn leave_mail_list(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<(String, String)>>;

    // The status page (see `status.rs`).
    /// The status page's change counter: cheap, polled by every node.
    async fn status_version(&self) -> Result<i64>;
    /// Everything the status page shows: components, open incidents and maintenance, those
    /// updated since `since`, and status history since `since`.
    async fn load_status(&self, since: Timestamp) -> Result<StoredStatus>;
    /// Applies a planned change atomically if the page is still at `version`. With a
    /// `request` (key, result), a key seen before returns what it produced instead.
    async fn apply_status_write(
        &self,
        version: i64,
        write: &StatusWrite,
        request: Option<(&str, &str)>,
        now: Timestamp,
    ) -> Result<StatusApplied>;
    /// What an earlier admin request with this key produced, if there was one.
    async fn status_request(&self, key: &str) -> Result<Option<String>>;
    /// Raises a status-page alert for the seller once per `dedupe_key` (the alerts trigger
    /// owes the seller its message). True when it was new.
    async fn raise_status_alert(
        &self,
        reminder: &herald_core::status::PromiseReminder,
        now: Timestamp,
    ) -> Result<bool>;
    /// Keeps a customer's problem report; its id.
    async fn add_status_report(
        &self,
        component_id: Option<&str>,
        what: &str,
        now: Timestamp,
    ) -> Result<i64>;
    /// Reports made at or after `since`, newest first, at most `limit`.
    async fn status_reports_since(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<herald_core::status::report::Report>>;
    /// The secret named `name`, shared by every node: `fresh` is stored when there is none
    /// yet, and whichever was stored first is returned.
    async fn shared_secret(&self, name: &str, fresh: &str, now: Timestamp) -> Result<String>;
    /// Adds a status page subscriber; when the address is already subscribed (on the same
    /// channel), returns that one unchanged instead.
    async fn add_status_subscriber(
        &self,
        s: &herald_core::status::notice::Subscriber,
    ) -> Result<herald_core::status::notice::Subscriber>;
    /// Writes a subscriber's components, pending components, confirmation and leaving.
    async fn update_status_subscriber(
        &self,
        s: &herald_core::status::notice::Subscriber,
    ) -> Result<bool>;
    async fn status_subscriber_by_token(
        &self,
        token: &str,
    ) -> Result<Option<herald_core::status::notice::Subscriber>>;
    async fn get_status_subscriber(
        &self,
        id: i64,
    ) -> Result<Option<herald_core::status::notice::Subscriber>>;
    /// Subscribers after `after_id` in id order (those who left too), at most `limit`.
    async fn list_status_subscribers(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<herald_core::status::notice::Subscriber>>;
    /// Stores a notice once per key (a maintenance reminder); true when it was new. Update
    /// notices are written by [`Store::apply_status_write`] itself.
    async fn add_status_notice(
        &self,
        n: &herald_core::status::notice::Notice,
        now: Timestamp,
    ) -> Result<bool>;
    async fn get_status_notice(&self, id: i64) -> Result<Option<StoredNotice>>;
    /// Fans the oldest unfinished notice out to one batch of subscribers, enqueuing their
    /// messages in the same transaction. `None` when no notice is waiting; else how many
    /// messages were enqueued.
    async fn fan_out_status_notices(&self, now: Timestamp, batch: u32) -> Result<Option<u64>>;
}

/// Storage tuning that is not part of the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections to PostgreSQL; readers for SQLite (it always has one writer).
    pub max_connections: u32,
    /// A customer message about a moment older than this when it is enqueued is recorded as
    /// skipped at once (`notify.window_hours`).
    pub message_window: jiff::SignedDuration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            message_window: jiff::SignedDuration::from_hours(24),
        }
    }
}

/// Opens (creating a SQLite file if needed) and migrates the database at `url`:
/// `sqlite://PATH` or `postgres://...`. Any other scheme is refused.
pub async fn open(url: &str, opts: &StoreOptions) -> Result<Arc<dyn Store>> {
    match scheme(url)? {
        Scheme::Sqlite => Ok(Arc::new(SqliteStore::open(url, opts).await?)),
        Scheme::Postgres => Ok(Arc::new(PgStore::open(url, opts).await?)),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sqlite,
    Postgres,
}

/// Checks a database URL's scheme without connecting.
pub fn scheme(url: &str) -> Result<Scheme> {
    let s = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match s {
        "sqlite" if url.starts_with("sqlite://") && url.len() > "sqlite://".len() => {
            Ok(Scheme::Sqlite)
        }
        "postgres" | "postgresql" if url.contains("://") => Ok(Scheme::Postgres),
        _ => Err(StoreError::BadUrl(format!(
            "database URL {:?} is not supported: use sqlite://PATH (for example sqlite://herald.db) or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            redact_url(url)
        ))),
    }
}

/// The URL with any password replaced by `***`, safe for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some((userinfo, host)) = rest[..end].rsplit_once('@')
            && let Some((user, _)) = userinfo.split_once(':')
        {
            out = format!("{scheme}://{user}:***@{host}{}", &rest[end..]);
        }
    }
    if let Some(i) = out.find("password=") {
        let start = i + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
    }
    out
}

/// The stored form of an API token: its SHA-256, hex. Tokens are 256 random bits, so a fast
/// hash is enough (no password stretching needed) and lookups stay cheap on every request.
pub fn hash_token(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Checks that the database at `url` can be reached, without creating or migrating anything.
/// For SQLite: the file's folder exists. For PostgreSQL: a connection answers `SELECT 1`.
pub async fn probe(url: &str) -> Result<()> {
    match scheme(url)? {
        Scheme::Sqlite => {
            let path = url.trim_start_matches("sqlite://");
            let path = path.split('?').next().unwrap_or(path);
            let dir = std::path::Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            if dir.is_dir() {
                Ok(())
            } else {
                Err(StoreError::BadUrl(format!(
                    "the folder {} for the SQLite file does not exist: create it or change database_url",
                    dir.display()
                )))
            }
        }
        Scheme::Postgres => {
            use sqlx::Connection;
            let mut c =
                sqlx::PgConnection::connect(url)
                    .await
                    .map_err(|source| StoreError::Connect {
                        url: redact_url(url),
                        source,
                    })?;
            sqlx::query("SELECT 1").execute(&mut c).await?;
            Ok(())
        }
    }
}

pub(crate) fn token_name_taken(name: &str) -> StoreError {
    StoreError::Conflict(format!(
        "a token named {name:?} already exists: choose another name, or revoke it first with `herald token revoke --name {name}`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_schemes_are_refused_with_the_fix() {
        for bad in ["mysql://x", "herald.db", "sqlite://", "file:herald.db", ""] {
            let e = scheme(bad).unwrap_err().to_string();
            assert!(e.contains("use sqlite://PATH"), "{bad}: {e}");
        }
        assert_eq!(scheme("sqlite://herald.db").unwrap(), Scheme::Sqlite);
        assert_eq!(scheme("postgres://u@h/db").unwrap(), Scheme::Postgres);
        assert_eq!(scheme("postgresql://u@h/db").unwrap(), Scheme::Postgres);
    }

    #[test]
    fn passwords_never_leave_in_messages() {
        assert_eq!(
            redact_url("postgres://herald:s3cret@db:5432/herald"),
            "postgres://herald:***@db:5432/herald"
        );
        assert_eq!(
            redact_url("postgres://db/herald?user=h&password=s3cret&sslmode=require"),
            "postgres://db/herald?user=h&password=***&sslmode=require"
        );
        let e = scheme("mysql://root:hunter2@db/x").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
