//! The SQLite store, on rusqlite.
//!
//! Why rusqlite and not sqlx here: on this project's 2-core machines sqlx's SQLite driver
//! inserted about 13,700 rows/s where rusqlite, on the same SQLite build, inserted about
//! 128,000 (see docs/benchmarks.md); the ingest targets are out of reach otherwise. PostgreSQL
//! stays on sqlx. The planning, derived columns and list queries are shared with it (`sql.rs`).
//!
//! One writer connection (SQLite allows one writer at a time) and a small pool of read-only
//! connections, all used from blocking threads. WAL journal, `synchronous=FULL` so a committed
//! write survives power loss before herald answers 2xx, foreign keys on, and a busy timeout for
//! a second process (such as `herald import` next to a running server).

use crate::seller;
use crate::sql::{Bind, FoldedBatch, Stored, UpsertPlan, fold_batch, plan_upsert};
use crate::status;
use crate::{
    Alert, OrderEvent, OrderFilter, Page, Result, ShippingWindow, StoreError, StoreOptions,
    TokenInfo, Upserted, subscribers,
};
use herald_core::deadline::ShipByPolicy;
use herald_core::digest::Digest;
use herald_core::order::{NewOrder, Order};
use herald_core::time::{from_micros, to_micros};
use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod arrivals;
mod parcels;

/// The SQLite schema, in order. Each runs once, in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_orders.sql")),
    (2, include_str!("../migrations/sqlite/0002_shipments.sql")),
    (3, include_str!("../migrations/sqlite/0003_cases.sql")),
    (4, include_str!("../migrations/sqlite/0004_messages.sql")),
    (
        5,
        include_str!("../migrations/sqlite/0005_seller_webhooks_offers.sql"),
    ),
    (
        6,
        include_str!("../migrations/sqlite/0006_store_templates.sql"),
    ),
    (7, include_str!("../migrations/sqlite/0007_status_page.sql")),
    (
        8,
        include_str!("../migrations/sqlite/0008_status_advisory_reports.sql"),
    ),
    (
        9,
        include_str!("../migrations/sqlite/0009_status_subscribers.sql"),
    ),
    (
        10,
        include_str!("../migrations/sqlite/0010_parcel_digest.sql"),
    ),
    (
        11,
        include_str!("../migrations/sqlite/0011_orders_channel.sql"),
    ),
    (
        12,
        include_str!("../migrations/sqlite/0012_orders_shipped_late.sql"),
    ),
    (
        13,
        include_str!("../migrations/sqlite/0013_orders_placed_by_channel_and_state.sql"),
    ),
    (
        14,
        include_str!("../migrations/sqlite/0014_parcel_states.sql"),
    ),
];

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    /// The rows the writer wrote last (`parcels`); locked only by a thread holding `writer`.
    held: Mutex<parcels::Parcels>,
    readers: Mutex<Vec<Connection>>,
    max_readers: usize,
    /// `StoreOptions::message_window`, in µs.
    window_us: i64,
}

pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// Where a write run by `SqliteStore::write_answering` sends its result; only the first answer
/// counts.
pub(crate) struct Answer<T>(Option<tokio::sync::oneshot::Sender<Result<T>>>);

impl<T> Answer<T> {
    pub(crate) fn send(&mut self, value: T) {
        if let Some(sender) = self.0.take() {
            // The caller may have gone (a request cancelled); what was written stays written.
            let _ = sender.send(Ok(value));
        }
    }
}

impl Inner {
    /// A read-only connection from the pool, or a new one.
    fn take_reader(&self) -> Result<Connection> {
        if let Some(c) = self.pooled_reader() {
            return Ok(c);
        }
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&c, READER_CACHE_KIB)?;
        Ok(c)
    }

    /// A read-only connection from the pool, if one is there.
    fn pooled_reader(&self) -> Option<Connection> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// The writer's held parcel rows; call only while holding the writer.
    fn held(&self) -> std::sync::MutexGuard<'_, parcels::Parcels> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns a read-only connection to the pool, or closes it when the pool is full or when
    /// it is still inside a transaction (a read that failed part-way): pooled, it would keep
    /// serving that transaction's old snapshot.
    fn give_back(&self, c: Connection) {
        if !c.is_autocommit() {
            return;
        }
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.max_readers {
            pool.push(c);
        }
    }
}

/// How many pages (4 KiB each) the write-ahead log may hold before the writer copies them into
/// the database file (SQLite's default is 1,000). A checkpoint copies each page once however
/// often it changed since the last one, and each costs two fsyncs; scans of parcels spread over
/// the shipments table change the same pages batch after batch, so checkpointing ten times less
/// often took 1,000-scan batches from ~22,000 to 26,000-33,000 events/s (docs/benchmarks.md,
/// "the write-ahead log checkpointed less often"). The log then grows to about 40 MiB between
/// checkpoints; [`WAL_FILE_LIMIT`] keeps the file from staying larger after a big transaction.
const CHECKPOINT_PAGES: u32 = 10_000;

/// The size the write-ahead log file is cut back to when it is reset after a checkpoint. Only a
/// transaction larger than that (a big import) leaves a longer log; the first commit after it
/// pays the cut, once (about 140 ms for a 600 MB log here).
const WAL_FILE_LIMIT: u64 = 64 << 20;

/// The writer's page cache, in KiB: it keeps the pages each write changes warm across writes.
const WRITER_CACHE_KIB: u32 = 64 << 10;

/// Each pooled reader's page cache, in KiB. A reader's cache is emptied whenever another
/// connection has written since its last read, so a large one buys little; with up to
/// `max_connections` readers at once this bounds their caches together (8 x 8 MiB by default).
/// At 64 MiB each, eight concurrent reads over a large table held 1 GB.
const READER_CACHE_KIB: u32 = 8 << 10;

fn configure(c: &Connection, cache_kib: u32) -> rusqlite::Result<()> {
    c.busy_timeout(std::time::Duration::from_secs(10))?;
    c.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{cache_kib};"
    ))?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Applies the migrations not yet recorded in `herald_migrations`.
fn migrate(c: &mut Connection) -> Result<()> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS herald_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    for (version, sql) in MIGRATIONS {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: bool = tx
            .query_row(
                "SELECT 1 FROM herald_migrations WHERE version = ?1",
                [version],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false);
        if !done {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO herald_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, to_micros(Timestamp::now())],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}

/// `$N` placeholders become SQLite's `?N`, which binds by number.
fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

fn decode(r: &rusqlite::Row<'_>, now: Timestamp) -> Result<Order> {
    let id: i64 = r.get(0)?;
    let data: String = r.get(1)?;
    crate::sql::decode_order(id, &data, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, now)
}

impl SqliteStore {
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self> {
        let path = url
            .strip_prefix("sqlite://")
            .map(|p| p.split('?').next().unwrap_or(p))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| StoreError::BadUrl(format!("{url:?} is not sqlite://PATH")))?;
        let path = PathBuf::from(path);
        let max_readers = opts.max_connections.max(1) as usize;
        let window_us = opts.message_window.as_micros() as i64;
        let url = url.to_string();
        tokio::task::spawn_blocking(move || {
            let connect_err = |e: rusqlite::Error| StoreError::BadUrl(format!(
                "cannot open the SQLite database {}: {e} (does its folder exist and is it writable?)",
                path.display()
            ));
            let mut w = Connection::open(&path).map_err(connect_err)?;
            w.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).map_err(connect_err)?;
            configure(&w, WRITER_CACHE_KIB)?;
            w.execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}; PRAGMA journal_size_limit = {WAL_FILE_LIMIT};"
            ))?;
            migrate(&mut w)?;
            let _ = url;
            Ok(Self {
                inner: Arc::new(Inner {
                    path,
                    writer: Mutex::new(w),
                    held: Mutex::new(parcels::Parcels::default()),
                    readers: Mutex::new(Vec::new()),
                    max_readers,
                    window_us,
                }),
            })
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("the database thread failed: {e}")))?
    }

    /// Runs `f` on the writer connection on a blocking thread.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("the database thread failed: {e}")))?
    }

    /// Runs `f` on the writer connection on a blocking thread, and returns what `f` gives its
    /// [`Answer`] as soon as it gives it: `f` may then go on tidying up (memory to keep or to
    /// free) while it still holds the writer, so no other write comes between, but the caller
    /// (an HTTP request waiting for its batch to be durable) does not wait for that. An error
    /// `f` returns before answering is the answer.
    async fn write_answering<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &mut Answer<T>) -> Result<()> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        let (sender, answered) = tokio::sync::oneshot::channel();
        let done = tokio::task::spawn_blocking(move || {
            let mut answer = Answer(Some(sender));
            let mut c = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let r = f(&mut c, &mut answer);
            if let Some(sender) = answer.0.take() {
                let _ = sender.send(r.and_then(|()| {
                    Err(StoreError::Corrupt(
                        "the database thread gave no answer".into(),
                    ))
                }));
            }
        });
        match answered.await {
            Ok(r) => r,
            // `f` panicked before answering.
            Err(_) => Err(StoreError::Corrupt(match done.await {
                Err(e) => format!("the database thread failed: {e}"),
                Ok(()) => "the database thread gave no answer".into(),
            })),
        }
    }

    /// Runs `f` on a read-only connection on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.take_reader()?;
            let out = f(&conn);
            inner.give_back(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("the database thread failed: {e}")))?
    }

    /// Runs `f` on the writer connection (the caller opens any transaction), for tools and
    /// benchmarks. The writer forgets the parcel rows it held, as `f` may change any.
    pub async fn with_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        self.write(move |c| {
            inner.held().forget_all();
            f(c)
        })
        .await
    }
}

/// Recomputes the status and digest of a parcel herald has a shipment for, from all its
/// events, and leaves it due for the sweep; the status and since when.
fn recompute_parcel(
    c: &Connection,
    carrier: &str,
    tracking: &str,
    now_us: i64,
) -> Result<Option<(herald_core::tracking::TrackingStatus, Option<i64>)>> {
    let shipment: Option<(i64, Option<i64>)> = c
        .prepare_cached(&q(crate::sql::SHIPMENT_LABEL_SQL))?
        .query_row(params![carrier, tracking], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((id, label)) = shipment else {
        return Ok(None);
    };
    let digest = Digest::of(&parcel_events(c, carrier, tracking)?);
    let (status, at) =
        herald_core::tracking::parcel_status(digest.events(), label.map(from_micros));
    c.prepare_cached(&q(crate::sql::SET_PARCEL_STATE_SQL))?
        .execute(params![
            id,
            status.as_str(),
            at.map(to_micros),
            digest.to_stored(),
            now_us
        ])?;
    // Due for the rules at once: the facts (label, route, estimate) or the state may have
    // changed.
    c.prepare_cached(&q(crate::watch::SET_NEXT_CHECK_SQL))?
        .execute(params![now_us, id])?;
    Ok(Some((status, at.map(to_micros))))
}

fn parcel_events(
    c: &Connection,
    carrier: &str,
    tracking: &str,
) -> Result<Vec<herald_core::tracking::TrackingEvent>> {
    let mut st = c.prepare_cached(&q(crate::sql::PARCEL_EVENTS_SQL))?;
    let rows = st
        .query_map(params![carrier, tracking], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    crate::sql::decode_tracking_events(rows)
}

/// Writes a message to the outbox (once: a repeat of its dedupe key is ignored); whether it
/// was new.
fn enqueue(
    c: &Connection,
    m: &crate::outbox::NewMessage,
    now_us: i64,
    window_us: i64,
) -> Result<bool> {
    let (key, order, kind, facts, about) = crate::outbox::enqueue_values(m);
    Ok(c.prepare_cached(&q(crate::outbox::ENQUEUE_SQL))?
        .execute(params![
            key,
            order,
            kind,
            facts,
            about,
            now_us,
            now_us.saturating_sub(window_us),
            crate::outbox::stale_reason(window_us)
        ])?
        == 1)
}

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::outbox::MessageRow> {
    Ok(crate::outbox::MessageRow {
        id: r.get(0)?,
        order_id: r.get(1)?,
        kind: r.get(2)?,
        facts: r.get(3)?,
        about_at: r.get(4)?,
        status: r.get(5)?,
        channel: r.get(6)?,
        recipient: r.get(7)?,
        subject: r.get(8)?,
        body: r.get(9)?,
        message_id: r.get(10)?,
        attempts: r.get(11)?,
        next_attempt_at: r.get(12)?,
        last_error: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        sent_at: r.get(16)?,
    })
}

fn values(binds: Vec<Bind>) -> Vec<rusqlite::types::Value> {
    binds
        .into_iter()
        .map(|b| match b {
            Bind::I64(v) => rusqlite::types::Value::Integer(v),
            Bind::Text(s) => rusqlite::types::Value::Text(s),
        })
        .collect()
}

fn case_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::watch::CaseRow> {
    Ok(crate::watch::CaseRow {
        id: r.get(0)?,
        shipment_id: r.get(1)?,
        order_id: r.get(2)?,
        carrier: r.get(3)?,
        tracking_number: r.get(4)?,
        kind: r.get(5)?,
        file: r.get(6)?,
        opened_at: r.get(7)?,
        closed_at: r.get(8)?,
        close_reason: r.get(9)?,
        first_action_due: r.get(10)?,
        first_action_at: r.get(11)?,
    })
}

fn load_case(c: &Connection, id: i64) -> Result<Option<crate::Case>> {
    let row = c
        .prepare_cached(&format!(
            "SELECT {} FROM cases c JOIN shipments s ON s.id = c.shipment_id WHERE c.id = ?1",
            crate::watch::CASE_COLUMNS
        ))?
        .query_row([id], case_row)
        .optional()?;
    row.map(crate::watch::case_from).transpose()
}

fn write_case_update(c: &Connection, u: &crate::watch::CaseUpdate, now_us: i64) -> Result<()> {
    c.prepare_cached(&q(crate::watch::UPDATE_CASE_SQL))?
        .execute(params![
            u.kind,
            u.kinds,
            u.file,
            u.closed_at,
            u.close_reason,
            u.first_action_at,
            now_us,
            u.id
        ])?;
    Ok(())
}

/// A row of `sql::SHIPMENT_COLUMNS`.
fn shipment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::sql::ShipmentRow> {
    Ok(crate::sql::ShipmentRow {
        id: r.get(0)?,
        order_id: r.get(1)?,
        carrier: r.get(2)?,
        tracking_number: r.get(3)?,
        service: r.get(4)?,
        label_created_at: r.get(5)?,
        origin_postal_code: r.get(6)?,
        destination_postal_code: r.get(7)?,
        estimated_delivery: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

/// Shipments matching `filter` (a condition on one `?1` parameter), with their events.
fn load_shipments(c: &Connection, filter: &str, param: i64) -> Result<Vec<crate::Shipment>> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {filter} ORDER BY id",
        crate::sql::SHOWN_SHIPMENT_COLUMNS,
        crate::sql::SHIPMENTS_WITH_STATES
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map([param], shipment_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|row| {
            let events = parcel_events(c, &row.carrier, &row.tracking_number)?;
            crate::sql::shipment_from(row, events)
        })
        .collect()
}

#[async_trait::async_trait]
impl crate::Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn upsert_orders(
        &self,
        orders: &[NewOrder],
        policy: &ShipByPolicy,
        now: Timestamp,
    ) -> Result<Vec<Upserted>> {
        let window = self.inner.window_us;
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let batch = fold_batch(orders);
        let policy = policy.clone();
        let now_us = to_micros(now);
        let FoldedBatch {
            keys,
            orders: incoming,
            input_slot,
        } = batch;
        // Deadlines and JSON for new orders are computed here, on another core, while the
        // single writer may still be busy with the previous batch.
        let (incoming, prepared, policy) = tokio::task::spawn_blocking(move || {
            let rows = incoming
                .iter()
                .map(|o| Some(crate::sql::OrderRow::for_new(o, &policy, now)))
                .collect::<Vec<_>>();
            (incoming, rows, policy)
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("the database thread failed: {e}")))?;
        let outcomes = self
            .write(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut existing: Vec<Option<Stored>> = Vec::with_capacity(keys.len());
                {
                    let mut st = tx.prepare_cached(
                        "SELECT id, data, history FROM orders WHERE channel = ?1 AND external_id = ?2",
                    )?;
                    for k in &keys {
                        let found = st
                            .query_row(params![k.0, k.1], |r| {
                                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                            })
                            .optional()?;
                        existing.push(match found {
                            Some((id, data, history)) => Some(Stored::decode(id, &data, &history)?),
                            None => None,
                        });
                    }
                }
                let UpsertPlan { rows, mut outcomes, messages } =
                    plan_upsert(&incoming, &existing, &policy, Some(prepared), now);
                // The lookup above says which orders are new: they take a plain INSERT and
                // stored ones an UPDATE by id. (An upsert statement would make SQLite keep a
                // statement journal for every row, about a tenth of the write cost; RETURNING
                // would buffer each row in a temporary table.)
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO orders (channel, external_id, number, state, customer_email, data, history, placed_at, shipped_at, closed_at, ship_by, at_risk_from, awaiting_ship_by, alert_due_at, as_of, created_at, updated_at, page_token) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?16, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?17)",
                    )?;
                    let mut update = tx.prepare_cached(
                        "UPDATE orders SET number = ?2, state = ?3, customer_email = ?4, data = ?5, history = ?15, placed_at = ?6, shipped_at = ?7, closed_at = ?8, ship_by = ?9, at_risk_from = ?10, awaiting_ship_by = ?11, alert_due_at = ?12, as_of = ?13, updated_at = ?14 WHERE id = ?1",
                    )?;
                    for (slot, r) in &rows {
                        if existing[*slot].is_some() {
                            update.execute(params![
                                outcomes[*slot].id, r.number, r.state, r.customer_email, r.data,
                                r.placed_at, r.shipped_at, r.closed_at, r.ship_by, r.at_risk_from,
                                r.awaiting_ship_by, r.alert_due_at, r.as_of, now_us, r.history
                            ])?;
                        } else {
                            insert.execute(params![
                                r.channel, r.external_id, r.number, r.state, r.customer_email,
                                r.data, r.placed_at, r.shipped_at, r.closed_at, r.ship_by,
                                r.at_risk_from, r.awaiting_ship_by, r.alert_due_at, r.as_of, now_us,
                                r.history, r.page_token
                            ])?;
                            // The writer connection is ours alone inside this transaction.
                            outcomes[*slot].id = tx.last_insert_rowid();
                        }
                    }
                }
                for (slot, kind, about) in messages {
                    let m = crate::outbox::NewMessage::for_order(
                        outcomes[slot].id, kind, "", about, serde_json::json!({}),
                    );
                    enqueue(&tx, &m, now_us, window)?;
                }
                tx.commit()?;
                Ok(outcomes)
            })
            .await?;
        Ok(input_slot.iter().map(|&i| outcomes[i]).collect())
    }

    async fn get_order(&self, id: i64, now: Timestamp) -> Result<Option<Order>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, data, ship_by, at_risk_from, created_at, updated_at FROM orders WHERE id = ?1",
            )?;
            let mut rows = st.query([id])?;
            match rows.next()? {
                Some(r) => Ok(Some(decode(r, now)?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn list_orders(&self, filter: &OrderFilter, now: Timestamp) -> Result<Page<Order>> {
        let (sql, binds) = crate::sql::order_list_sql(filter, now);
        let limit = filter.limit.clamp(1, 1000) as usize;
        let filter = filter.clone();
        self.read(move |c| {
            let mut st = c.prepare_cached(&q(&sql))?;
            let values: Vec<rusqlite::types::Value> = binds
                .into_iter()
                .map(|b| match b {
                    Bind::I64(v) => rusqlite::types::Value::Integer(v),
                    Bind::Text(s) => rusqlite::types::Value::Text(s),
                })
                .collect();
            let mut rows = st.query(rusqlite::params_from_iter(values))?;
            let mut items = Vec::new();
            let mut more = false;
            let mut last = None;
            while let Some(r) = rows.next()? {
                if items.len() == limit {
                    more = true;
                    break;
                }
                last = Some((r.get(0)?, r.get(6)?, r.get(7)?));
                items.push(decode(r, now)?);
            }
            let next_cursor = crate::sql::next_cursor(&filter, last, more);
            Ok(Page { items, next_cursor })
        })
        .await
    }

    async fn order_events(&self, id: i64) -> Result<Vec<OrderEvent>> {
        self.read(move |c| {
            let history: Option<String> = c
                .prepare_cached("SELECT history FROM orders WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            match history {
                None => Ok(Vec::new()),
                Some(h) => crate::sql::decode_history(id, &h),
            }
        })
        .await
    }

    async fn raise_due_alerts(&self, now: Timestamp, limit: u32) -> Result<u64> {
        let window = self.inner.window_us;
        let now_us = to_micros(now);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut raised = 0;
            {
                let mut st = tx.prepare_cached(
                    "SELECT id, number, channel, ship_by, awaiting_ship_by, CASE WHEN alert_due_at > placed_at THEN alert_due_at ELSE placed_at END FROM orders WHERE alert_due_at <= ?1 ORDER BY alert_due_at LIMIT ?2",
                )?;
                #[allow(clippy::type_complexity)]
                let due: Vec<(i64, String, String, i64, Option<i64>, i64)> = st
                    .query_map(params![now_us, limit], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let mut ins = tx.prepare_cached(
                    "INSERT INTO alerts (dedupe_key, kind, order_id, message, due_at, raised_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (dedupe_key) DO NOTHING",
                )?;
                let mut upd = tx.prepare_cached("UPDATE orders SET alert_due_at = ?1 WHERE id = ?2")?;
                for (id, number, channel, ship_by, awaiting, became_due) in due {
                    let (alert, next_due) =
                        crate::sql::due_alert(now_us, &number, &channel, ship_by, awaiting);
                    if let Some((kind, message)) = alert {
                        enqueue(
                            &tx,
                            &crate::outbox::delayed_message(id, kind, ship_by, became_due),
                            now_us,
                            window,
                        )?;
                        raised += ins.execute(params![
                            format!("order:{id}:{kind}"),
                            kind,
                            id,
                            message,
                            ship_by,
                            now_us
                        ])? as u64;
                    }
                    upd.execute(params![next_due, id])?;
                }
            }
            tx.commit()?;
            Ok(raised)
        })
        .await
    }

    async fn list_alerts(&self, after_id: Option<i64>, limit: u32) -> Result<Vec<Alert>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {} FROM alerts WHERE id > ?1 ORDER BY id LIMIT ?2",
                seller::ALERT_COLUMNS
            ))?;
            let rows = st.query_map(
                params![after_id.unwrap_or(0), limit.clamp(1, 1000)],
                alert_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn shipping_window(&self, days: u32, now: Timestamp) -> Result<ShippingWindow> {
        let now_us = to_micros(now);
        let from = now_us - days as i64 * 86_400_000_000;
        self.read(move |c| {
            let (orders_due, shipped_late): (i64, i64) = c.query_row(
                &q(crate::sql::LATE_SHIPMENTS_SQL),
                params![from, now_us],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (placed, cancelled): (i64, i64) = c.query_row(
                &q(crate::sql::PRE_FULFILMENT_CANCELS_SQL),
                params![from, now_us],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(crate::sql::shipping_window(
                days,
                orders_due,
                shipped_late,
                placed,
                cancelled,
            ))
        })
        .await
    }

    async fn count_orders(&self) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row("SELECT COUNT(*) FROM orders", [], |r| r.get::<_, i64>(0))? as u64)
        })
        .await
    }

    async fn create_token(&self, name: &str, token_hash: &str, now: Timestamp) -> Result<()> {
        let (name, hash) = (name.to_string(), token_hash.to_string());
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
                params![name, hash, to_micros(now)],
            )?;
            if n == 0 {
                return Err(crate::token_name_taken(&name));
            }
            Ok(())
        })
        .await
    }

    async fn token_name(&self, token_hash: &str) -> Result<Option<String>> {
        fn lookup(c: &Connection, hash: &str) -> Result<Option<String>> {
            Ok(c.prepare_cached(
                "SELECT name FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL",
            )?
            .query_row([hash], |r| r.get(0))
            .optional()?)
        }
        // Every API request asks this: one row by a unique key, read in microseconds on the
        // request's own thread when a reader is at hand, where a hop to a blocking thread and
        // back cost about 0.15 ms. Without one (opening a connection takes longer), the hop.
        if let Some(c) = self.inner.pooled_reader() {
            let found = lookup(&c, token_hash);
            self.inner.give_back(c);
            return found;
        }
        let hash = token_hash.to_string();
        self.read(move |c| lookup(c, &hash)).await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name, created_at, revoked_at FROM api_tokens ORDER BY id",
            )?;
            let rows = st.query_map([], |r| {
                Ok(TokenInfo {
                    name: r.get(0)?,
                    created_at: from_micros(r.get(1)?),
                    revoked_at: r.get::<_, Option<i64>>(2)?.map(from_micros),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn revoke_token(&self, name: &str, now: Timestamp) -> Result<bool> {
        let name = name.to_string();
        self.write(move |c| {
            Ok(c.execute(
                &q(crate::sql::REVOKE_TOKEN_SQL),
                params![to_micros(now), name],
            )? > 0)
        })
        .await
    }

    async fn upsert_shipment(
        &self,
        shipment: &herald_core::tracking::NewShipment,
        now: Timestamp,
    ) -> Result<crate::Shipment> {
        let window = self.inner.window_us;
        let sh = shipment.clone();
        let now_us = to_micros(now);
        let inner = self.inner.clone();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            inner.held().forget(&sh.carrier, &sh.tracking_number);
            let order_exists = tx
                .prepare_cached("SELECT 1 FROM orders WHERE id = ?1")?
                .query_row([sh.order_id], |_| Ok(()))
                .optional()?
                .is_some();
            if !order_exists {
                return Err(crate::sql::order_missing(sh.order_id));
            }
            tx.prepare_cached(&q(crate::sql::UPSERT_SHIPMENT_SQL))?
                .execute(params![
                    sh.order_id,
                    sh.carrier,
                    sh.tracking_number,
                    sh.service,
                    sh.label_created_at.map(to_micros),
                    sh.origin_postal_code,
                    sh.destination_postal_code,
                    sh.estimated_delivery.map(to_micros),
                    now_us
                ])?;
            let parcel = recompute_parcel(&tx, &sh.carrier, &sh.tracking_number, now_us)?;
            let id: i64 = tx
                .prepare_cached(
                    "SELECT id FROM shipments WHERE carrier = ?1 AND tracking_number = ?2",
                )?
                .query_row(params![sh.carrier, sh.tracking_number], |r| r.get(0))?;
            for m in crate::outbox::recorded_shipment_messages(&sh, id, parcel, now_us) {
                enqueue(&tx, &m, now_us, window)?;
            }
            let out = load_shipments(&tx, "id = ?1", id)?;
            tx.commit()?;
            out.into_iter()
                .next()
                .ok_or_else(|| StoreError::Corrupt(format!("shipment {id} vanished")))
        })
        .await
    }

    async fn ingest_tracking_events(
        &self,
        events: Vec<herald_core::tracking::TrackingEvent>,
        policy: &herald_core::watch::WatchPolicy,
        now: Timestamp,
    ) -> Result<crate::Ingested> {
        let (batch, policy) = (crate::sql::PreparedBatch::new(events), policy.clone());
        let window = self.inner.window_us;
        let now_us = to_micros(now);
        let inner = self.inner.clone();
        self.write_answering(move |c, answer| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            arrivals::store_and_commit(
                tx,
                &mut inner.held(),
                &batch,
                &policy,
                now_us,
                window,
                |out| answer.send(out),
            )
            // The events are freed here, after the answer.
        })
        .await
    }

    async fn get_shipment(&self, id: i64) -> Result<Option<crate::Shipment>> {
        self.read(move |c| Ok(load_shipments(c, "id = ?1", id)?.into_iter().next()))
            .await
    }

    async fn order_shipments(&self, order_id: i64) -> Result<Vec<crate::Shipment>> {
        self.read(move |c| load_shipments(c, "order_id = ?1", order_id))
            .await
    }

    async fn review_due_shipments(
        &self,
        policy: &herald_core::watch::WatchPolicy,
        now: Timestamp,
        limit: u32,
    ) -> Result<crate::SweepReport> {
        let window = self.inner.window_us;
        use crate::watch::{self, CaseWrite};
        let policy = policy.clone();
        let now_us = to_micros(now);
        let inner = self.inner.clone();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut held = inner.held();
            let mut report = crate::SweepReport::default();
            let due: Vec<watch::DueRow> = tx
                .prepare_cached(&q(&watch::due_shipments_sql()))?
                .query_map(params![now_us, limit], |r| {
                    Ok(watch::DueRow {
                        shipment: shipment_row(r)?,
                        problem_keys: r.get(watch::DUE_PROBLEM_KEYS_COLUMN)?,
                        status: r.get(watch::DUE_STATUS_COLUMN)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            for due in &due {
                let row = &due.shipment;
                held.forget(&row.carrier, &row.tracking_number);
                let events = parcel_events(&tx, &row.carrier, &row.tracking_number)?;
                let open: Option<(i64, String)> = tx
                    .prepare_cached(&q(watch::OPEN_CASE_SQL))?
                    .query_row([row.id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                let plan = watch::plan_review(
                    due,
                    &events,
                    open.as_ref().map(|(id, f)| (*id, f.as_str())),
                    &policy,
                    now,
                )?;
                tx.prepare_cached(&q(watch::SET_REVIEWED_SQL))?
                    .execute(params![plan.next_check_at, plan.problem_keys, row.id])?;
                let set = tx
                    .prepare_cached(&q(watch::SET_STATUS_SQL))?
                    .execute(params![plan.status, plan.status_at, now_us, row.id])?;
                watch::one_state_written(set as u64, row.id)?;
                report.reviewed += 1;
                for m in &plan.messages {
                    enqueue(&tx, m, now_us, window)?;
                }
                match plan.case {
                    CaseWrite::None => {}
                    CaseWrite::Insert {
                        kind,
                        kinds,
                        file,
                        first_action_due,
                        alert_message,
                    } => {
                        let case_id: i64 =
                            tx.prepare_cached(&q(watch::INSERT_CASE_SQL))?.query_row(
                                params![
                                    row.id,
                                    row.order_id,
                                    kind,
                                    kinds,
                                    file,
                                    now_us,
                                    first_action_due
                                ],
                                |r| r.get(0),
                            )?;
                        report.opened += 1;
                        let alert = watch::opened_alert(case_id, &alert_message);
                        report.alerts += tx
                            .prepare_cached(&q(watch::INSERT_CASE_ALERT_SQL))?
                            .execute(params![
                                alert.key,
                                alert.kind,
                                row.order_id,
                                alert.message,
                                first_action_due,
                                now_us,
                                case_id
                            ])? as u64;
                    }
                    CaseWrite::Update(u) => {
                        if u.closed_at.is_some() {
                            report.closed += 1;
                        } else {
                            report.updated += 1;
                        }
                        write_case_update(&tx, &u, now_us)?;
                    }
                }
            }
            let overdue: Vec<(i64, i64, String, i64, String, String)> = tx
                .prepare_cached(&q(watch::OVERDUE_CASES_SQL))?
                .query_map(params![now_us, limit], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (id, order_id, kind, due, carrier, tracking) in overdue {
                let alert = watch::overdue_alert(id, &kind, due, &carrier, &tracking);
                report.alerts += tx
                    .prepare_cached(&q(watch::INSERT_CASE_ALERT_SQL))?
                    .execute(params![
                        alert.key,
                        alert.kind,
                        order_id,
                        alert.message,
                        due,
                        now_us,
                        id
                    ])? as u64;
                tx.prepare_cached(&q(watch::MARK_OVERDUE_ALERTED_SQL))?
                    .execute([id])?;
            }
            tx.commit()?;
            Ok(report)
        })
        .await
    }

    async fn list_cases(&self, filter: &crate::CaseFilter) -> Result<Page<crate::Case>> {
        let (sql, binds) = crate::watch::case_list_sql(filter);
        let limit = filter.limit;
        self.read(move |c| {
            let mut st = c.prepare_cached(&q(&sql))?;
            let rows = st
                .query_map(rusqlite::params_from_iter(values(binds)), case_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let items = rows
                .into_iter()
                .map(crate::watch::case_from)
                .collect::<Result<Vec<_>>>()?;
            Ok(crate::watch::case_page(items, limit))
        })
        .await
    }

    async fn get_case(&self, id: i64) -> Result<Option<crate::Case>> {
        self.read(move |c| load_case(c, id)).await
    }

    async fn add_case_entry(
        &self,
        id: i64,
        entry: herald_core::cases::CaseEntry,
        now: Timestamp,
    ) -> Result<Option<crate::Case>> {
        let now_us = to_micros(now);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(String, Option<i64>)> = tx
                .prepare_cached("SELECT file, closed_at FROM cases WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((file, closed_at)) = row else {
                return Ok(None);
            };
            let u = crate::watch::plan_action(id, &file, closed_at.is_some(), entry, now)?;
            write_case_update(&tx, &u, now_us)?;
            let out = load_case(&tx, id)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn record_webhook(
        &self,
        provider: &str,
        body: &[u8],
        events: &[herald_core::tracking::TrackingEvent],
        estimated_delivery: Option<Timestamp>,
        dead_letter: Option<&str>,
        policy: &herald_core::watch::WatchPolicy,
        now: Timestamp,
    ) -> Result<(i64, crate::Ingested)> {
        let (provider, body) = (provider.to_string(), body.to_vec());
        let batch = crate::sql::PreparedBatch::new(events.to_vec());
        let (policy, window) = (policy.clone(), self.inner.window_us);
        let reason = dead_letter.map(str::to_string);
        let now_us = to_micros(now);
        let inner = self.inner.clone();
        self.write_answering(move |c, answer| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut held = inner.held();
            let id: i64 = tx
                .prepare_cached(&q(crate::sql::INSERT_WEBHOOK_SQL))?
                .query_row(
                    params![
                        provider,
                        now_us,
                        body,
                        if reason.is_some() {
                            "dead_letter"
                        } else {
                            "accepted"
                        },
                        reason,
                        batch.events.len() as i64
                    ],
                    |r| r.get(0),
                )?;
            // The estimate first: the new events are judged against it.
            if let (Some(eta), Some(e)) = (estimated_delivery, batch.events.first()) {
                held.forget(&e.carrier, &e.tracking_number);
                tx.prepare_cached(&q(crate::sql::SET_ESTIMATE_SQL))?
                    .execute(params![
                        to_micros(eta),
                        now_us,
                        e.carrier,
                        e.tracking_number
                    ])?;
            }
            arrivals::store_and_commit(tx, &mut held, &batch, &policy, now_us, window, |out| {
                answer.send((id, out))
            })
        })
        .await
    }

    async fn list_webhooks(
        &self,
        dead_letters_only: bool,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<crate::WebhookPayload>> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&q(crate::sql::LIST_WEBHOOKS_SQL))?;
            let rows = st.query_map(
                params![
                    dead_letters_only,
                    before_id.unwrap_or(i64::MAX),
                    limit.clamp(1, 500)
                ],
                |r| {
                    Ok(crate::WebhookPayload {
                        id: r.get(0)?,
                        provider: r.get(1)?,
                        received_at: from_micros(r.get(2)?),
                        body: String::from_utf8_lossy(&r.get::<_, Vec<u8>>(3)?).into_owned(),
                        outcome: r.get(4)?,
                        reason: r.get(5)?,
                        events: r.get(6)?,
                    })
                },
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn record_bounce(
        &self,
        bounce: &herald_core::notify::bounce::Bounce,
        now: Timestamp,
    ) -> Result<crate::BounceRecorded> {
        let bounce = bounce.clone();
        let now_us = to_micros(now);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let message = bounce
                .original_message_id
                .as_deref()
                .and_then(herald_core::notify::bounce::outbox_id);
            let order_id: Option<i64> = match message {
                Some(m) => tx
                    .prepare_cached(&q(crate::outbox::MESSAGE_ORDER_SQL))?
                    .query_row([m], |r| r.get::<_, Option<i64>>(0))
                    .optional()?
                    .flatten(),
                None => None,
            };
            let number: Option<String> = match order_id {
                Some(o) => tx
                    .prepare_cached("SELECT number FROM orders WHERE id = ?1")?
                    .query_row([o], |r| r.get(0))
                    .optional()?,
                None => None,
            };
            let mut out = crate::BounceRecorded {
                recipients: bounce.recipients.len(),
                order_id,
                ..Default::default()
            };
            for r in &bounce.recipients {
                tx.prepare_cached(&q(crate::outbox::INSERT_BOUNCE_SQL))?
                    .execute(params![
                        r.address,
                        r.action,
                        r.status,
                        r.diagnostic,
                        i64::from(r.is_hard()),
                        message,
                        order_id,
                        now_us
                    ])?;
                if r.is_hard() {
                    out.undeliverable.push(r.address.clone());
                    let (key, text) = crate::outbox::bounce_alert(r, number.as_deref());
                    out.alerts += tx
                        .prepare_cached(&q(crate::outbox::INSERT_BOUNCE_ALERT_SQL))?
                        .execute(params![key, order_id, text, now_us])?
                        as u64;
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn undeliverable(&self, address: &str) -> Result<Option<crate::Undeliverable>> {
        let address = address.trim().to_ascii_lowercase();
        self.read(move |c| {
            Ok(c.prepare_cached(&q(crate::outbox::UNDELIVERABLE_SQL))?
                .query_row([address], |r| {
                    Ok(crate::Undeliverable {
                        address: r.get(0)?,
                        status: r.get(1)?,
                        diagnostic: r.get(2)?,
                        bounced_at: from_micros(r.get(3)?),
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn page_token(&self, order_id: i64) -> Result<Option<String>> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT page_token FROM orders WHERE id = ?1")?
                    .query_row([order_id], |r| r.get::<_, Option<String>>(0))
                    .optional()?
                    .flatten(),
            )
        })
        .await
    }

    async fn order_for_page(&self, token: &str) -> Result<Option<i64>> {
        let token = token.to_string();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT id FROM orders WHERE page_token = ?1")?
                    .query_row([token], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn enqueue_message(
        &self,
        message: &crate::NewMessage,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let window = self.inner.window_us;
        let m = message.clone();
        let now_us = to_micros(now);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = if enqueue(&tx, &m, now_us, window)? {
                Some(tx.last_insert_rowid())
            } else {
                None
            };
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    async fn claim_messages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<crate::Message>> {
        let (now_us, until_us) = (to_micros(now), to_micros(lease_until));
        let rows = self
            .write(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let rows = tx
                    .prepare_cached(&q(&crate::outbox::claim_sql("")))?
                    .query_map(params![now_us, until_us, limit], message_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                tx.commit()?;
                Ok(rows)
            })
            .await?;
        rows.into_iter().map(crate::outbox::message_from).collect()
    }

    async fn settle_messages(
        &self,
        outcomes: &[(i64, crate::Settle)],
        now: Timestamp,
    ) -> Result<u64> {
        let now_us = to_micros(now);
        let rows: Vec<_> = outcomes
            .iter()
            .map(|(id, s)| (*id, crate::outbox::settle_values(s, now_us)))
            .collect();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut n = 0;
            {
                let echo = tx
                    .prepare_cached(crate::outbox::ANY_ENDPOINT_SQL)?
                    .exists([])?;
                let mut st = tx.prepare_cached(&q(crate::outbox::SETTLE_SQL))?;
                let mut echo_st = tx.prepare_cached(&q(&crate::outbox::echo_sql("instr")))?;
                for (id, v) in rows {
                    n += st.execute(params![
                        v.0, v.1, v.2, v.3, v.4, v.5, v.6, v.7, v.8, now_us, id
                    ])? as u64;
                    if echo {
                        echo_st.execute(params![id, now_us])?;
                    }
                }
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn list_messages(&self, filter: &crate::MessageFilter) -> Result<Page<crate::Message>> {
        let (sql, binds) = crate::outbox::message_list_sql(filter);
        let limit = filter.limit;
        let rows = self
            .read(move |c| {
                Ok(c.prepare_cached(&q(&sql))?
                    .query_map(rusqlite::params_from_iter(values(binds)), message_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        let items = rows
            .into_iter()
            .map(crate::outbox::message_from)
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::outbox::message_page(items, limit))
    }

    async fn get_message(&self, id: i64) -> Result<Option<crate::Message>> {
        let row = self
            .read(move |c| {
                Ok(c.prepare_cached(&format!(
                    "SELECT {} FROM messages WHERE id = ?1",
                    crate::outbox::MESSAGE_COLUMNS
                ))?
                .query_row([id], message_row)
                .optional()?)
            })
            .await?;
        row.map(crate::outbox::message_from).transpose()
    }

    async fn retry_message(&self, id: i64, now: Timestamp) -> Result<Option<crate::Message>> {
        let now_us = to_micros(now);
        let changed = self
            .write(move |c| {
                Ok(c.prepare_cached(&q(crate::outbox::RETRY_SQL))?
                    .execute(params![now_us, id])?)
            })
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        self.get_message(id).await
    }

    async fn save_template(
        &self,
        store: &str,
        kind: herald_core::notify::MessageKind,
        set: &herald_core::notify::templates::TemplateSet,
        now: Timestamp,
    ) -> Result<()> {
        let (store, set) = (store.to_string(), set.clone());
        let now_us = to_micros(now);
        self.write(move |c| {
            c.prepare_cached(&q(crate::outbox::SAVE_TEMPLATE_SQL))?
                .execute(params![
                    store,
                    kind.as_str(),
                    set.subject,
                    set.text,
                    set.html,
                    now_us
                ])?;
            Ok(())
        })
        .await
    }

    async fn delete_template(
        &self,
        store: &str,
        kind: herald_core::notify::MessageKind,
    ) -> Result<bool> {
        let store = store.to_string();
        self.write(move |c| {
            Ok(c.prepare_cached(&q(crate::outbox::DELETE_TEMPLATE_SQL))?
                .execute(params![store, kind.as_str()])?
                == 1)
        })
        .await
    }

    async fn load_templates(&self) -> Result<herald_core::notify::templates::CustomTemplates> {
        let rows = self
            .read(|c| {
                Ok(c.prepare_cached(crate::outbox::LOAD_TEMPLATES_SQL)?
                    .query_map([], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await?;
        crate::outbox::templates_from(rows)
    }

    async fn add_webhook_endpoint(
        &self,
        e: &crate::NewWebhookEndpoint,
        now: Timestamp,
    ) -> Result<crate::WebhookEndpoint> {
        let e = e.clone();
        let now_us = to_micros(now);
        let id: i64 = self
            .write(move |c| {
                Ok(c.prepare_cached(&q(seller::INSERT_ENDPOINT_SQL))?
                    .query_row(
                        params![
                            e.url,
                            e.secret,
                            seller::events_column(&e.kinds),
                            e.description,
                            now_us
                        ],
                        |r| r.get(0),
                    )?)
            })
            .await?;
        self.get_webhook_endpoint(id)
            .await?
            .ok_or_else(|| crate::StoreError::Corrupt(format!("webhook endpoint {id} vanished")))
    }

    async fn list_webhook_endpoints(&self) -> Result<Vec<crate::WebhookEndpoint>> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {} FROM webhook_endpoints ORDER BY id",
                seller::ENDPOINT_COLUMNS
            ))?
            .query_map([], endpoint_row)?
            .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn get_webhook_endpoint(&self, id: i64) -> Result<Option<crate::WebhookEndpoint>> {
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {} FROM webhook_endpoints WHERE id = ?1",
                seller::ENDPOINT_COLUMNS
            ))?
            .query_row([id], endpoint_row)
            .optional()?)
        })
        .await
    }

    async fn disable_webhook_endpoint(&self, id: i64, now: Timestamp) -> Result<bool> {
        let now_us = to_micros(now);
        self.write(move |c| {
            Ok(c.prepare_cached(&q(seller::DISABLE_ENDPOINT_SQL))?
                .execute(params![now_us, id])?
                == 1)
        })
        .await
    }

    async fn get_alert(&self, id: i64) -> Result<Option<Alert>> {
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {} FROM alerts WHERE id = ?1",
                seller::ALERT_COLUMNS
            ))?
            .query_row([id], alert_row)
            .optional()?)
        })
        .await
    }

    async fn alerts_between(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let (from, to) = (to_micros(from), to_micros(to));
        self.read(move |c| {
            Ok(c.prepare_cached(&q(seller::ALERTS_BETWEEN_SQL))?
                .query_map(params![from, to, limit], alert_row)?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn add_offer_codes(&self, codes: &[String], now: Timestamp) -> Result<u64> {
        let codes = codes.to_vec();
        let now_us = to_micros(now);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut n = 0;
            {
                let mut st = tx.prepare_cached(&q(seller::ADD_POOL_CODE_SQL))?;
                for code in &codes {
                    n += st.execute(params![code, now_us])? as u64;
                }
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    async fn assign_offer_code(
        &self,
        req: &crate::OfferRequest,
        now: Timestamp,
    ) -> Result<Option<String>> {
        let req = req.clone();
        let now_us = to_micros(now);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mine = |tx: &rusqlite::Transaction<'_>| -> rusqlite::Result<Option<String>> {
                tx.prepare_cached(&q(seller::CODE_OF_MESSAGE_SQL))?
                    .query_row([&req.message_key], |r| r.get(0))
                    .optional()
            };
            let code = match mine(&tx)? {
                Some(code) => Some(code),
                None => match &req.generated {
                    Some(code) => {
                        tx.prepare_cached(&q(seller::INSERT_GENERATED_SQL))?
                            .execute(params![
                                code,
                                now_us,
                                req.order_id,
                                req.message_key,
                                req.offer
                            ])?;
                        mine(&tx)?
                    }
                    None => tx
                        .prepare_cached(&q(&seller::take_from_pool_sql("")))?
                        .query_row(
                            params![req.order_id, req.message_key, req.offer, now_us],
                            |r| r.get(0),
                        )
                        .optional()?,
                },
            };
            tx.commit()?;
            Ok(code)
        })
        .await
    }

    async fn list_offer_codes(
        &self,
        given: Option<bool>,
        limit: u32,
    ) -> Result<Vec<crate::OfferCode>> {
        let which = given.map_or(2, i64::from);
        self.read(move |c| {
            Ok(c.prepare_cached(&q(seller::LIST_CODES_SQL))?
                .query_map(params![which, limit.clamp(1, 10_000)], |r| {
                    Ok(seller::offer_from((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    )))
                })?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn join_mail_list(
        &self,
        list: &str,
        address: &str,
        now: Timestamp,
    ) -> Result<crate::ListMember> {
        let (list, address) = (list.to_string(), address.trim().to_ascii_lowercase());
        let now_us = to_micros(now);
        self.write(move |c| {
            c.prepare_cached(&q(seller::JOIN_LIST_SQL))?
                .execute(params![seller::new_list_token(), list, address, now_us])?;
            Ok(c.prepare_cached(&q(seller::LIST_MEMBER_SQL))?.query_row(
                params![list, address],
                |r| {
                    Ok(crate::ListMember {
                        token: r.get(0)?,
                        left_at: r.get::<_, Option<i64>>(1)?.map(from_micros),
                    })
                },
            )?)
        })
        .await
    }

    async fn leave_mail_list(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<(String, String)>> {
        let token = token.to_string();
        let now_us = to_micros(now);
        self.write(move |c| {
            Ok(c.prepare_cached(&q(seller::LEAVE_LIST_SQL))?
                .query_row(params![now_us, token], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })
        .await
    }

    async fn status_version(&self) -> Result<i64> {
        self.read(|c| {
            Ok(c.prepare_cached(status::VERSION_SQL)?
                .query_row([], |r| r.get(0))?)
        })
        .await
    }

    async fn load_status(&self, since: Timestamp) -> Result<crate::StoredStatus> {
        let since = to_micros(since);
        self.read(move |c| {
            // A read transaction: one consistent snapshot of the page.
            let tx = c.unchecked_transaction()?;
            let version: i64 = tx
                .prepare_cached(status::VERSION_SQL)?
                .query_row([], |r| r.get(0))?;
            let components = tx
                .prepare_cached(status::COMPONENTS_SQL)?
                .query_map([], |r| r.try_into())?
                .map(|r| status::component_from(r?))
                .collect::<Result<Vec<_>>>()?;
            let incidents = tx
                .prepare_cached(&q(status::INCIDENTS_SQL))?
                .query_map([since], |r| r.try_into())?
                .map(|r| status::incident_from(r?))
                .collect::<Result<Vec<_>>>()?;
            let updates = tx
                .prepare_cached(&q(status::UPDATES_SQL))?
                .query_map([since], |r| r.try_into())?
                .map(|r| status::update_from(r?))
                .collect::<Result<Vec<_>>>()?;
            let changes = tx
                .prepare_cached(&q(status::CHANGES_SQL))?
                .query_map([since], |r| r.try_into())?
                .map(|r| status::change_from(r?))
                .collect::<Result<Vec<_>>>()?;
            let advisory = tx
                .prepare_cached(status::ADVISORY_SQL)?
                .query_row([], |r| r.try_into())
                .optional()?
                .map(status::advisory_from)
                .transpose()?;
            tx.commit()?;
            Ok(status::assemble(
                version, components, incidents, updates, changes, advisory,
            ))
        })
        .await
    }

    async fn apply_status_write(
        &self,
        version: i64,
        w: &crate::StatusWrite,
        request: Option<(&str, &str)>,
        now: Timestamp,
    ) -> Result<crate::StatusApplied> {
        let w = w.clone();
        let request = request.map(|(k, r)| (k.to_string(), r.to_string()));
        let now_us = to_micros(now);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some((key, _)) = &request
                && let Some(result) = tx
                    .prepare_cached(&q(status::REQUEST_SQL))?
                    .query_row([key], |r| r.get::<_, String>(0))
                    .optional()?
            {
                return Ok(crate::StatusApplied::Duplicate(result));
            }
            if tx
                .prepare_cached(&q(status::BUMP_SQL))?
                .execute([version])?
                == 0
            {
                return Ok(crate::StatusApplied::Stale);
            }
            for comp in &w.components {
                let r = status::component_row(comp);
                tx.prepare_cached(&q(status::UPSERT_COMPONENT_SQL))?
                    .execute(params![
                        r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11
                    ])?;
            }
            for id in &w.removed {
                tx.prepare_cached(&q(status::REMOVE_COMPONENT_SQL))?
                    .execute(params![id, now_us])?;
            }
            for (id, ch) in &w.changes {
                tx.prepare_cached(&q(status::INSERT_CHANGE_SQL))?
                    .execute(params![id, ch.status.as_str(), to_micros(ch.at)])?;
            }
            if let Some(i) = &w.incident {
                let r = status::incident_row(i);
                tx.prepare_cached(&q(status::UPSERT_INCIDENT_SQL))?
                    .execute(params![
                        r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11
                    ])?;
                if let Some(u) = &w.update {
                    let r = status::update_row(&i.id, u);
                    tx.prepare_cached(&q(status::INSERT_UPDATE_SQL))?
                        .execute(params![r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8])?;
                }
                if let Some(n) = herald_core::status::notice::of_write(&w) {
                    let v = subscribers::notice_values(&n, now);
                    tx.prepare_cached(&q(subscribers::ADD_NOTICE_SQL))?
                        .execute(params![v.0, v.1, v.2, v.3, v.4, v.5])?;
                }
            }
            match &w.advisory {
                Some(Some(a)) => {
                    let r = status::advisory_row(a);
                    tx.prepare_cached(&q(status::SET_ADVISORY_SQL))?
                        .execute(params![r.0, r.1, r.2, r.3, r.4])?;
                }
                Some(None) => {
                    tx.prepare_cached(status::CLEAR_ADVISORY_SQL)?.execute([])?;
                }
                None => {}
            }
            if let Some((key, result)) = &request {
                tx.prepare_cached(&q(status::INSERT_REQUEST_SQL))?
                    .execute(params![key, result, now_us])?;
            }
            tx.commit()?;
            Ok(crate::StatusApplied::Applied(version + 1))
        })
        .await
    }

    async fn status_request(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(&q(status::REQUEST_SQL))?
                .query_row([key], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn raise_status_alert(
        &self,
        r: &herald_core::status::PromiseReminder,
        now: Timestamp,
    ) -> Result<bool> {
        let r = r.clone();
        let now_us = to_micros(now);
        self.write(move |c| {
            Ok(c.prepare_cached(&q(status::RAISE_ALERT_SQL))?
                .execute(params![
                    r.dedupe_key,
                    r.kind,
                    r.message,
                    to_micros(r.due_at),
                    now_us
                ])?
                > 0)
        })
        .await
    }

    async fn add_status_report(
        &self,
        component_id: Option<&str>,
        what: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let (c, w) = (component_id.map(str::to_string), what.to_string());
        let now_us = to_micros(now);
        self.write(move |conn| {
            Ok(conn
                .prepare_cached(&q(status::ADD_REPORT_SQL))?
                .query_row(params![c, w, now_us], |r| r.get(0))?)
        })
        .await
    }

    async fn status_reports_since(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<herald_core::status::report::Report>> {
        let since = to_micros(since);
        self.read(move |c| {
            Ok(c.prepare_cached(&q(status::REPORTS_SQL))?
                .query_map(params![since, limit], |r| r.try_into())?
                .map(|r| r.map(status::report_from))
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn shared_secret(&self, name: &str, fresh: &str, now: Timestamp) -> Result<String> {
        let (name, fresh) = (name.to_string(), fresh.to_string());
        let now_us = to_micros(now);
        self.write(move |c| {
            c.prepare_cached(&q(status::KEEP_SECRET_SQL))?
                .execute(params![name, fresh, now_us])?;
            Ok(c.prepare_cached(&q(status::SECRET_SQL))?
                .query_row([name], |r| r.get(0))?)
        })
        .await
    }

    async fn add_status_subscriber(
        &self,
        sub: &herald_core::status::notice::Subscriber,
    ) -> Result<herald_core::status::notice::Subscriber> {
        let v = subscribers::add_values(sub);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(&q(subscribers::ADD_SUBSCRIBER_SQL))?
                .execute(params![v.0, v.1, v.2, v.3, v.4, v.5, v.6, v.7])?;
            let row: subscribers::SubscriberRow = tx
                .prepare_cached(&q(&subscribers::select_subscriber(
                    "channel = $1 AND address = $2",
                )))?
                .query_row(params![v.1, v.2], |r| r.try_into())?;
            tx.commit()?;
            subscribers::subscriber_from(row)
        })
        .await
    }

    async fn update_status_subscriber(
        &self,
        sub: &herald_core::status::notice::Subscriber,
    ) -> Result<bool> {
        let v = subscribers::update_values(sub);
        self.write(move |c| {
            Ok(c.prepare_cached(&q(subscribers::UPDATE_SUBSCRIBER_SQL))?
                .execute(params![v.0, v.1, v.2, v.3, v.4])?
                > 0)
        })
        .await
    }

    async fn status_subscriber_by_token(
        &self,
        token: &str,
    ) -> Result<Option<herald_core::status::notice::Subscriber>> {
        let token = token.to_string();
        self.read(move |c| {
            c.prepare_cached(&q(&subscribers::select_subscriber("token = $1")))?
                .query_row([token], |r| r.try_into())
                .optional()?
                .map(subscribers::subscriber_from)
                .transpose()
        })
        .await
    }

    async fn get_status_subscriber(
        &self,
        id: i64,
    ) -> Result<Option<herald_core::status::notice::Subscriber>> {
        self.read(move |c| {
            c.prepare_cached(&q(&subscribers::select_subscriber("id = $1")))?
                .query_row([id], |r| r.try_into())
                .optional()?
                .map(subscribers::subscriber_from)
                .transpose()
        })
        .await
    }

    async fn list_status_subscribers(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<herald_core::status::notice::Subscriber>> {
        self.read(move |c| {
            c.prepare_cached(&q(&subscribers::select_subscriber(
                "id > $1 ORDER BY id LIMIT $2",
            )))?
            .query_map(params![after_id, limit], |r| r.try_into())?
            .map(|r| subscribers::subscriber_from(r?))
            .collect()
        })
        .await
    }

    async fn add_status_notice(
        &self,
        n: &herald_core::status::notice::Notice,
        now: Timestamp,
    ) -> Result<bool> {
        let v = subscribers::notice_values(n, now);
        self.write(move |c| {
            Ok(c.prepare_cached(&q(subscribers::ADD_NOTICE_SQL))?
                .execute(params![v.0, v.1, v.2, v.3, v.4, v.5])?
                > 0)
        })
        .await
    }

    async fn get_status_notice(&self, id: i64) -> Result<Option<crate::StoredNotice>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM status_notices WHERE id = ?1",
                subscribers::NOTICE_COLUMNS
            ))?
            .query_row([id], |r| r.try_into())
            .optional()?
            .map(subscribers::notice_from)
            .transpose()
        })
        .await
    }

    async fn fan_out_status_notices(&self, now: Timestamp, batch: u32) -> Result<Option<u64>> {
        let window = self.inner.window_us;
        let now_us = to_micros(now);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(row) = tx
                .prepare_cached(&subscribers::next_notice_sql(""))?
                .query_row([], |r| r.try_into())
                .optional()?
            else {
                return Ok(None);
            };
            let notice = subscribers::notice_from(row)?;
            let subs = tx
                .prepare_cached(&q(&subscribers::fan_out_subscribers_sql()))?
                .query_map(params![notice.fanned_to, batch], |r| r.try_into())?
                .map(|r| subscribers::subscriber_from(r?))
                .collect::<Result<Vec<_>>>()?;
            let (messages, last, done) = subscribers::fan_out_step(&notice, &subs, batch);
            let mut added = 0;
            for m in &messages {
                added += u64::from(enqueue(&tx, m, now_us, window)?);
            }
            tx.prepare_cached(&q(subscribers::ADVANCE_NOTICE_SQL))?
                .execute(params![notice.id, last, done.then_some(now_us)])?;
            tx.commit()?;
            Ok(Some(added))
        })
        .await
    }
}

fn endpoint_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<crate::WebhookEndpoint> {
    Ok(seller::endpoint_from((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    )))
}

fn alert_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: r.get(0)?,
        kind: r.get(1)?,
        order_id: r.get(2)?,
        message: r.get(3)?,
        due_at: r.get::<_, Option<i64>>(4)?.map(from_micros),
        raised_at: from_micros(r.get(5)?),
        case_id: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store on a fresh database in a folder of its own (`name` and this process), and the
    /// folder, for the caller to remove.
    async fn scratch_store(name: &str) -> (SqliteStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("herald-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/{name}.db", dir.display());
        let store = SqliteStore::open(&url, &StoreOptions::default())
            .await
            .unwrap();
        (store, dir)
    }

    #[tokio::test]
    async fn order_lists_walk_an_index_in_order_instead_of_sorting() {
        use crate::{Cursor, OrderFilter, OrderState};
        let (store, dir) = scratch_store("plans").await;
        let filters = [
            OrderFilter::default(),
            OrderFilter {
                channel: Some("shopify".into()),
                ..Default::default()
            },
            OrderFilter {
                channel: Some("shopify".into()),
                cursor: Some(Cursor::ById(500_000)),
                ..Default::default()
            },
            OrderFilter {
                state: Some(OrderState::Shipped),
                channel: Some("shopify".into()),
                ..Default::default()
            },
            OrderFilter {
                state: Some(OrderState::Shipped),
                cursor: Some(Cursor::ById(500_000)),
                ..Default::default()
            },
            OrderFilter {
                placed_from: Some(Timestamp::UNIX_EPOCH),
                placed_to: Some(Timestamp::now()),
                ..Default::default()
            },
            OrderFilter {
                placed_from: Some(Timestamp::UNIX_EPOCH),
                ..Default::default()
            },
            OrderFilter {
                placed_to: Some(Timestamp::now()),
                cursor: Some(Cursor::ByPlaced(1_700_000_000_000_000, 500_000)),
                ..Default::default()
            },
            OrderFilter {
                placed_from: Some(Timestamp::UNIX_EPOCH),
                placed_to: Some(Timestamp::now()),
                ship_by_state: Some(herald_core::deadline::ShipByState::ShippedLate),
                ..Default::default()
            },
            OrderFilter {
                channel: Some("shopify".into()),
                placed_from: Some(Timestamp::UNIX_EPOCH),
                placed_to: Some(Timestamp::now()),
                cursor: Some(Cursor::ByPlaced(1_700_000_000_000_000, 500_000)),
                ..Default::default()
            },
            OrderFilter {
                state: Some(OrderState::Shipped),
                placed_from: Some(Timestamp::UNIX_EPOCH),
                ..Default::default()
            },
        ];
        // Orders shipped late are few: their list reads only them, not every order.
        let scans = [
            OrderFilter {
                ship_by_state: Some(herald_core::deadline::ShipByState::ShippedLate),
                ..Default::default()
            },
            OrderFilter {
                ship_by_state: Some(herald_core::deadline::ShipByState::ShippedLate),
                cursor: Some(Cursor::ById(500_000)),
                ..Default::default()
            },
        ];
        let plan_of = |f: &OrderFilter| {
            let (sql, binds) = crate::sql::order_list_sql(f, Timestamp::now());
            // The plan does not depend on the values (no statistics are kept).
            let values = vec![rusqlite::types::Value::Null; binds.len()];
            store.with_writer(move |c| {
                let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {}", q(&sql)))?;
                let rows = st.query_map(rusqlite::params_from_iter(values), |r| {
                    r.get::<_, String>(3)
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
            })
        };
        for f in filters.iter().chain(&scans) {
            let plan = plan_of(f).await.unwrap();
            // A sort would read every order the filter matches for each page.
            assert!(
                !plan.iter().any(|step| step.contains("TEMP B-TREE")),
                "{f:?}: {plan:?}"
            );
        }
        for f in &scans {
            let plan = plan_of(f).await.unwrap();
            assert!(
                plan.iter().any(|step| step.contains("orders_shipped_late")),
                "{f:?}: {plan:?}"
            );
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_reader_left_inside_a_transaction_is_closed_not_pooled() {
        let (store, dir) = scratch_store("pool").await;
        let inner = &store.inner;
        let pooled = || inner.readers.lock().unwrap().len();
        let c = inner.take_reader().unwrap();
        c.execute_batch("BEGIN; SELECT COUNT(*) FROM orders;")
            .unwrap();
        inner.give_back(c);
        assert_eq!(pooled(), 0, "a reader holding an old snapshot was pooled");
        let c = inner.take_reader().unwrap();
        c.execute_batch("SELECT COUNT(*) FROM orders;").unwrap();
        inner.give_back(c);
        assert_eq!(pooled(), 1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_writer_checkpoints_every_ten_thousand_pages() {
        let (store, dir) = scratch_store("wal").await;
        let (pages, limit, mode) = store
            .with_writer(|c| {
                let get = |p: &str| c.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, i64>(0));
                Ok((
                    get("wal_autocheckpoint")?,
                    get("journal_size_limit")?,
                    c.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(pages, i64::from(CHECKPOINT_PAGES));
        assert_eq!(limit, WAL_FILE_LIMIT as i64);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn readers_keep_small_page_caches_and_the_writer_a_large_one() {
        let (store, dir) = scratch_store("caches").await;
        let cache = |c: &Connection| c.query_row("PRAGMA cache_size", [], |r| r.get::<_, i64>(0));
        let writer = store.with_writer(move |c| Ok(cache(c)?)).await.unwrap();
        let reader = store.read(move |c| Ok(cache(c)?)).await.unwrap();
        // Negative: KiB.
        assert_eq!(writer, -i64::from(WRITER_CACHE_KIB));
        assert_eq!(reader, -i64::from(READER_CACHE_KIB));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// One step of [`held_parcel_rows_are_always_the_stored_ones`].
    #[derive(Debug, Clone)]
    enum Step {
        /// Scans of parcels 0-5: (parcel, status, hours after the start, place).
        Scans(Vec<(usize, usize, u16, usize)>),
        /// The seller records or updates the shipment of a parcel, with an estimate in days.
        Ship(usize, Option<u8>),
        /// A provider's webhook: one scan with the carrier's estimate in days.
        Webhook(usize, usize, u16, u8),
        /// The sweep, `hours` later.
        Sweep(u16),
        /// Another connection changes every parcel's next check.
        Outside,
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        let scan = (0..6usize, 0..STATUSES.len(), 0..400u16, 0..PLACES.len());
        prop_oneof![
            3 => proptest::collection::vec(scan.clone(), 1..40).prop_map(Step::Scans),
            2 => (0..6usize, proptest::option::of(1..9u8)).prop_map(|(p, d)| Step::Ship(p, d)),
            1 => (scan, 1..9u8).prop_map(|((p, s, h, _), d)| Step::Webhook(p, s, h, d)),
            1 => (0..200u16).prop_map(Step::Sweep),
            1 => Just(Step::Outside),
        ]
    }

    const STATUSES: [&str; 6] = [
        "accepted",
        "in_transit",
        "out_for_delivery",
        "delivered",
        "exception",
        "returned_to_sender",
    ];
    const PLACES: [(&str, &str); 3] = [("Phoenix", "AZ"), ("Anchorage", "AK"), ("Newark", "NJ")];

    fn scan(
        parcel: usize,
        status: usize,
        hours: u16,
        place: usize,
    ) -> herald_core::tracking::TrackingEvent {
        let at = Timestamp::from_second(1_764_000_000).unwrap()
            + jiff::SignedDuration::from_hours(i64::from(hours));
        herald_core::tracking::TrackingEventInput {
            carrier: "usps".into(),
            tracking_number: format!("9400HELD{parcel}"),
            status: STATUSES[status].into(),
            occurred_at: at.to_string(),
            description: None,
            location: Some(herald_core::tracking::ScanLocation {
                city: Some(PLACES[place].0.into()),
                region: Some(PLACES[place].1.into()),
                ..Default::default()
            }),
        }
        .validate()
        .unwrap()
    }

    /// Every row the writer holds, once it has checked for other connections' writes as a
    /// batch does before using them, equals the stored row of its parcel; how many it holds.
    async fn assert_held_rows_are_stored(store: &SqliteStore) -> usize {
        let inner = store.inner.clone();
        store.write(move |c| inner.held().check(c)).await.unwrap();
        let held: Vec<(String, String, String)> = store
            .inner
            .held()
            .rows()
            .map(|r| {
                (
                    r.shipment.carrier.clone(),
                    r.shipment.tracking_number.clone(),
                    format!("{r:?}"),
                )
            })
            .collect();
        let n = held.len();
        store
            .read(move |c| {
                let mut st = c.prepare(&format!(
                    "SELECT {} FROM {} WHERE carrier = ?1 AND tracking_number = ?2",
                    crate::watch::arrival_columns(),
                    crate::sql::SHIPMENTS_WITH_STATES
                ))?;
                for (carrier, number, row) in held {
                    let stored = st.query_row(params![carrier, number], arrivals::arrival_row)?;
                    assert_eq!(row, format!("{stored:?}"), "parcel {number}");
                }
                Ok(())
            })
            .await
            .unwrap();
        n
    }

    /// A parcel's row is held once a scan has been judged, and dropped when the seller changes
    /// the shipment.
    #[tokio::test]
    async fn a_judged_parcel_is_held_until_its_shipment_changes() {
        use crate::Store;
        let (store, dir) = scratch_store("held-one").await;
        let start = Timestamp::from_second(1_764_000_000).unwrap();
        let order = serde_json::from_value::<herald_core::order::OrderInput>(serde_json::json!({
            "channel": "shopify", "external_id": "held-one", "placed_at": "2025-11-24T10:00:00Z",
            "items": [{"name": "Mug", "quantity": 1}],
        }))
        .unwrap()
        .validate()
        .unwrap();
        let id = store
            .upsert_orders(&[order], &ShipByPolicy::default(), start)
            .await
            .unwrap()[0]
            .id;
        let shipment = herald_core::tracking::NewShipment {
            order_id: id,
            carrier: "usps".into(),
            tracking_number: "9400HELD0".into(),
            service: None,
            label_created_at: Some(start),
            origin_postal_code: None,
            destination_postal_code: None,
            estimated_delivery: None,
        };
        store.upsert_shipment(&shipment, start).await.unwrap();
        let held = || store.inner.held().len();
        assert_eq!(held(), 0);
        let policy = herald_core::watch::WatchPolicy::default();
        for hours in [1, 7] {
            store
                .ingest_tracking_events(vec![scan(0, 1, hours, 0)], &policy, start)
                .await
                .unwrap();
            assert_eq!(held(), 1, "the judged parcel's row is kept");
            assert_eq!(assert_held_rows_are_stored(&store).await, 1);
        }
        store.upsert_shipment(&shipment, start).await.unwrap();
        assert_eq!(held(), 0, "a changed shipment is forgotten");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(24))]

        /// The writer's memory of parcel rows (`parcels`) never differs from the database,
        /// whatever mix of scans, shipment updates, webhooks with estimates, sweeps and writes
        /// by another connection comes.
        #[test]
        fn held_parcel_rows_are_always_the_stored_ones(
            steps in proptest::collection::vec(step(), 1..24)
        ) {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(held_rows_follow(steps));
        }
    }

    async fn held_rows_follow(steps: Vec<Step>) {
        use crate::Store;
        use herald_core::tracking::NewShipment;
        use std::sync::atomic::{AtomicU32, Ordering};
        static RUN: AtomicU32 = AtomicU32::new(0);
        let name = format!("held{}", RUN.fetch_add(1, Ordering::Relaxed));
        let (store, dir) = scratch_store(&name).await;
        let start = Timestamp::from_second(1_764_000_000).unwrap();
        let orders: Vec<NewOrder> = (0..6)
            .map(|i| {
                serde_json::from_value::<herald_core::order::OrderInput>(serde_json::json!({
                    "channel": "shopify", "external_id": format!("held-{i}"),
                    "placed_at": "2025-11-24T10:00:00Z",
                    "items": [{"name": "Mug", "quantity": 1}],
                }))
                .unwrap()
                .validate()
                .unwrap()
            })
            .collect();
        let ids = store
            .upsert_orders(&orders, &ShipByPolicy::default(), start)
            .await
            .unwrap();
        let policy = herald_core::watch::WatchPolicy::default();
        let mut now = start;
        for step in steps {
            match step {
                Step::Scans(scans) => {
                    let events: Vec<_> =
                        scans.iter().map(|&(p, s, h, l)| scan(p, s, h, l)).collect();
                    store
                        .ingest_tracking_events(events, &policy, now)
                        .await
                        .unwrap();
                }
                Step::Ship(p, days) => {
                    let s = NewShipment {
                        order_id: ids[p].id,
                        carrier: "usps".into(),
                        tracking_number: format!("9400HELD{p}"),
                        service: Some("Priority Mail".into()),
                        label_created_at: Some(start),
                        origin_postal_code: Some("85001".into()),
                        destination_postal_code: Some("07102".into()),
                        estimated_delivery: days
                            .map(|d| start + jiff::SignedDuration::from_hours(24 * i64::from(d))),
                    };
                    store.upsert_shipment(&s, now).await.unwrap();
                }
                Step::Webhook(p, s, h, days) => {
                    let eta = start + jiff::SignedDuration::from_hours(24 * i64::from(days));
                    store
                        .record_webhook(
                            "easypost",
                            b"{}",
                            &[scan(p, s, h, 0)],
                            Some(eta),
                            None,
                            &policy,
                            now,
                        )
                        .await
                        .unwrap();
                }
                Step::Sweep(hours) => {
                    now += jiff::SignedDuration::from_hours(i64::from(hours));
                    store.review_due_shipments(&policy, now, 100).await.unwrap();
                }
                Step::Outside => {
                    let path = store.inner.path.clone();
                    tokio::task::spawn_blocking(move || {
                        Connection::open(path)
                            .unwrap()
                            .execute_batch("UPDATE shipments SET next_check_at = 1")
                            .unwrap();
                    })
                    .await
                    .unwrap();
                }
            }
            assert_held_rows_are_stored(&store).await;
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
