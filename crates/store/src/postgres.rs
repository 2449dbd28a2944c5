//! The PostgreSQL store, for several herald nodes sharing one database. Writers of the same
//! order serialise on a transaction-scoped advisory lock per (channel, external id); job-like
//! sweeps claim rows with `FOR UPDATE SKIP LOCKED` so two nodes never process the same row.

use crate::seller;
use crate::status;
use crate::subscribers;
use crate::{Result, StoreError, StoreOptions};
use herald_core::digest::Digest;
use herald_core::tracking::TrackingEvent;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub struct PgStore {
    pool: PgPool,
    /// `StoreOptions::message_window`, in µs.
    window_us: i64,
}

impl PgStore {
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self> {
        let connect_err = |source| StoreError::Connect {
            url: crate::redact_url(url),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(connect_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        // sqlx's migrator holds an advisory lock, so nodes starting together migrate once.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            window_us: opts.message_window.as_micros() as i64,
        })
    }

    pub(crate) const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    pub(crate) fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn write_pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Takes the advisory lock of every order in the batch, in a fixed order so two batches
    /// that share orders cannot deadlock.
    pub(crate) async fn lock_order_keys(
        tx: &mut Transaction<'static, Postgres>,
        keys: &[(String, String)],
    ) -> Result<()> {
        let mut names: Vec<String> = keys.iter().map(|(c, e)| format!("{c}\u{1f}{e}")).collect();
        names.sort();
        names.dedup();
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended(k, 7)) FROM (SELECT k FROM unnest($1::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n) AS s",
        )
        .bind(names)
        .fetch_all(&mut **tx)
        .await?;
        Ok(())
    }
}

/// Locks parcels (carrier, tracking number) for this transaction, in a fixed order.
async fn lock_parcels(
    tx: &mut Transaction<'static, Postgres>,
    parcels: &std::collections::BTreeSet<(String, String)>,
) -> crate::Result<()> {
    let names: Vec<String> = parcels
        .iter()
        .map(|(c, t)| format!("parcel\u{1f}{c}\u{1f}{t}"))
        .collect();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 11)) FROM (SELECT k FROM unnest($1::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n) AS s",
    )
    .bind(names)
    .fetch_all(&mut **tx)
    .await?;
    Ok(())
}

/// Recomputes the status and digest of a parcel herald has a shipment for, from all its
/// events, and leaves it due for the sweep.
async fn recompute_parcel(
    tx: &mut Transaction<'static, Postgres>,
    carrier: &str,
    tracking: &str,
    now_us: i64,
) -> crate::Result<Option<(herald_core::tracking::TrackingStatus, Option<i64>)>> {
    let shipment: Option<(i64, Option<i64>)> = sqlx::query_as(crate::sql::SHIPMENT_LABEL_SQL)
        .bind(carrier)
        .bind(tracking)
        .fetch_optional(&mut **tx)
        .await?;
    let Some((id, label)) = shipment else {
        return Ok(None);
    };
    let digest = Digest::of(&parcel_events(tx, carrier, tracking).await?);
    let (status, at) = herald_core::tracking::parcel_status(
        digest.events(),
        label.map(herald_core::time::from_micros),
    );
    sqlx::query(crate::sql::SET_PARCEL_STATE_SQL)
        .bind(id)
        .bind(status.as_str())
        .bind(at.map(herald_core::time::to_micros))
        .bind(digest.to_stored())
        .bind(now_us)
        .execute(&mut **tx)
        .await?;
    // Due for the rules at once: the facts (label, route, estimate) or the state may have
    // changed.
    sqlx::query(crate::watch::SET_NEXT_CHECK_SQL)
        .bind(now_us)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(Some((status, at.map(herald_core::time::to_micros))))
}

async fn parcel_events(
    c: &mut sqlx::PgConnection,
    carrier: &str,
    tracking: &str,
) -> crate::Result<Vec<herald_core::tracking::TrackingEvent>> {
    let rows: Vec<String> = sqlx::query_scalar(crate::sql::PARCEL_EVENTS_SQL)
        .bind(carrier)
        .bind(tracking)
        .fetch_all(c)
        .await?;
    crate::sql::decode_tracking_events(rows)
}

/// A row of `sql::SHIPMENT_COLUMNS`.
fn shipment_row(r: &sqlx::postgres::PgRow) -> crate::Result<crate::sql::ShipmentRow> {
    use sqlx::Row as _;
    Ok(crate::sql::ShipmentRow {
        id: r.try_get(0)?,
        order_id: r.try_get(1)?,
        carrier: r.try_get(2)?,
        tracking_number: r.try_get(3)?,
        service: r.try_get(4)?,
        label_created_at: r.try_get(5)?,
        origin_postal_code: r.try_get(6)?,
        destination_postal_code: r.try_get(7)?,
        estimated_delivery: r.try_get(8)?,
        created_at: r.try_get(9)?,
        updated_at: r.try_get(10)?,
    })
}

/// Shipments matching `filter` (a condition on one `$1` parameter), with their events.
async fn load_shipments(
    c: &mut sqlx::PgConnection,
    filter: &'static str,
    param: i64,
) -> crate::Result<Vec<crate::Shipment>> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {filter} ORDER BY id",
        crate::sql::SHOWN_SHIPMENT_COLUMNS,
        crate::sql::SHIPMENTS_WITH_STATES
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(param)
        .fetch_all(&mut *c)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let row = shipment_row(&r)?;
        let events = parcel_events(&mut *c, &row.carrier, &row.tracking_number).await?;
        out.push(crate::sql::shipment_from(row, events)?);
    }
    Ok(out)
}

/// An order from a row of `id, data, ship_by, at_risk_from, created_at, updated_at`.
fn decode(
    r: &sqlx::postgres::PgRow,
    now: jiff::Timestamp,
) -> crate::Result<herald_core::order::Order> {
    use sqlx::Row as _;
    crate::sql::decode_order(
        r.try_get(0)?,
        r.try_get::<&str, _>(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        now,
    )
}

#[async_trait::async_trait]
impl crate::Store for PgStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn status_changes(&self) -> Option<tokio::sync::mpsc::Receiver<i64>> {
        let pool = self.pool.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut warned = false;
            while !tx.is_closed() {
                let listening = async {
                    let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    l.listen("herald_status").await?;
                    Ok::<_, sqlx::Error>(l)
                };
                let mut l = match listening.await {
                    Ok(l) => {
                        warned = false;
                        l
                    }
                    Err(e) => {
                        if !warned {
                            tracing::warn!(error = %e, "cannot LISTEN for status page changes; polling meanwhile");
                            warned = true;
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        continue;
                    }
                };
                // Until the connection drops: then listen again (the poll covers the gap).
                while let Ok(n) = l.recv().await {
                    if tx.send(n.payload().parse().unwrap_or(0)).await.is_err() {
                        return;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        Some(rx)
    }

    async fn ping(&self) -> crate::Result<()> {
        sqlx::query("SELECT 1").execute(self.read_pool()).await?;
        Ok(())
    }

    async fn upsert_orders(
        &self,
        orders: &[herald_core::order::NewOrder],
        policy: &herald_core::deadline::ShipByPolicy,
        now: jiff::Timestamp,
    ) -> crate::Result<Vec<crate::Upserted>> {
        use crate::sql::*;
        use sqlx::Row as _;
        use std::collections::HashMap;
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let now_us = herald_core::time::to_micros(now);
        let FoldedBatch {
            keys,
            orders: incoming,
            input_slot,
        } = fold_batch(orders);
        let mut tx = self.begin_write().await?;
        Self::lock_order_keys(&mut tx, &keys).await?;

        // What is stored already, per channel, in chunks.
        let mut slot_of: HashMap<(&str, &str), usize> = HashMap::with_capacity(keys.len());
        let mut by_channel: HashMap<&str, Vec<&str>> = HashMap::new();
        for (i, (c, e)) in keys.iter().enumerate() {
            slot_of.insert((c.as_str(), e.as_str()), i);
            by_channel.entry(c.as_str()).or_default().push(e.as_str());
        }
        let mut existing: Vec<Option<Stored>> = vec![None; keys.len()];
        for (channel, ids) in by_channel {
            for chunk in ids.chunks(CHUNK) {
                let mut sql = String::from(
                    "SELECT id, external_id, data, history FROM orders WHERE channel = $1 AND external_id IN (",
                );
                for i in 0..chunk.len() {
                    if i > 0 {
                        sql.push(',');
                    }
                    sql += &format!("${}", i + 2);
                }
                sql.push(')');
                let mut q = sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sql)).bind(channel);
                for id in chunk {
                    q = q.bind(*id);
                }
                for row in q.fetch_all(&mut *tx).await? {
                    let id: i64 = row.try_get(0)?;
                    let ext: String = row.try_get(1)?;
                    let data: &str = row.try_get(2)?;
                    let history: &str = row.try_get(3)?;
                    if let Some(&slot) = slot_of.get(&(channel, ext.as_str())) {
                        existing[slot] = Some(Stored::decode(id, data, history)?);
                    }
                }
            }
        }
        let UpsertPlan {
            rows,
            mut outcomes,
            messages,
        } = plan_upsert(&incoming, &existing, policy, None, now);

        // Write the orders; RETURNING gives the ids of new ones.
        for chunk in rows.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO orders (channel, external_id, number, state, customer_email, data, history, placed_at, shipped_at, closed_at, ship_by, at_risk_from, awaiting_ship_by, alert_due_at, as_of, created_at, updated_at, page_token) VALUES {} \
                 ON CONFLICT (channel, external_id) DO UPDATE SET number = excluded.number, state = excluded.state, customer_email = excluded.customer_email, data = excluded.data, history = excluded.history, placed_at = excluded.placed_at, shipped_at = excluded.shipped_at, closed_at = excluded.closed_at, ship_by = excluded.ship_by, at_risk_from = excluded.at_risk_from, awaiting_ship_by = excluded.awaiting_ship_by, alert_due_at = excluded.alert_due_at, as_of = excluded.as_of, updated_at = excluded.updated_at \
                 RETURNING id, channel, external_id",
                placeholders(1, chunk.len(), 18)
            );
            let mut q = sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sql));
            for (_, r) in chunk {
                q = q
                    .bind(r.channel.as_str())
                    .bind(r.external_id.as_str())
                    .bind(r.number.as_str())
                    .bind(r.state)
                    .bind(r.customer_email.as_deref())
                    .bind(r.data.as_str())
                    .bind(r.history.as_str())
                    .bind(r.placed_at)
                    .bind(r.shipped_at)
                    .bind(r.closed_at)
                    .bind(r.ship_by)
                    .bind(r.at_risk_from)
                    .bind(r.awaiting_ship_by)
                    .bind(r.alert_due_at)
                    .bind(r.as_of)
                    .bind(now_us)
                    .bind(now_us)
                    .bind(r.page_token.as_str());
            }
            for row in q.fetch_all(&mut *tx).await? {
                let id: i64 = row.try_get(0)?;
                let (c, e) = (row.try_get::<&str, _>(1)?, row.try_get::<&str, _>(2)?);
                if let Some(&slot) = slot_of.get(&(c, e)) {
                    outcomes[slot].id = id;
                }
            }
        }
        let messages: Vec<crate::NewMessage> = messages
            .into_iter()
            .map(|(slot, kind, about)| {
                crate::outbox::NewMessage::for_order(
                    outcomes[slot].id,
                    kind,
                    "",
                    about,
                    serde_json::json!({}),
                )
            })
            .collect();
        enqueue_all(&mut tx, &messages, now_us, self.window_us).await?;

        tx.commit().await?;
        Ok(input_slot.iter().map(|&i| outcomes[i]).collect())
    }

    async fn get_order(
        &self,
        id: i64,
        now: jiff::Timestamp,
    ) -> crate::Result<Option<herald_core::order::Order>> {
        let row = sqlx::query::<sqlx::Postgres>(
            "SELECT id, data, ship_by, at_risk_from, created_at, updated_at FROM orders WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.read_pool())
        .await?;
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(decode(&r, now)?)),
        }
    }

    async fn list_orders(
        &self,
        filter: &crate::OrderFilter,
        now: jiff::Timestamp,
    ) -> crate::Result<crate::Page<herald_core::order::Order>> {
        use sqlx::Row as _;
        let (sql, binds) = crate::sql::order_list_sql(filter, now);
        let mut q = sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                crate::sql::Bind::I64(v) => q.bind(v),
                crate::sql::Bind::Text(s) => q.bind(s),
            };
        }
        let rows = q.fetch_all(self.read_pool()).await?;
        let limit = filter.limit.clamp(1, 1000) as usize;
        let mut items = Vec::with_capacity(rows.len().min(limit));
        let mut last_key = None;
        for r in rows.iter().take(limit) {
            let id: i64 = r.try_get(0)?;
            last_key = Some((id, r.try_get(6)?, r.try_get(7)?));
            items.push(decode(r, now)?);
        }
        let next_cursor = crate::sql::next_cursor(filter, last_key, rows.len() > limit);
        Ok(crate::Page { items, next_cursor })
    }

    async fn order_events(&self, id: i64) -> crate::Result<Vec<crate::OrderEvent>> {
        let history: Option<String> = sqlx::query_scalar::<sqlx::Postgres, String>(
            "SELECT history FROM orders WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.read_pool())
        .await?;
        match history {
            None => Ok(Vec::new()),
            Some(h) => crate::sql::decode_history(id, &h),
        }
    }

    async fn raise_due_alerts(&self, now: jiff::Timestamp, limit: u32) -> crate::Result<u64> {
        use sqlx::Row as _;
        let now_us = herald_core::time::to_micros(now);
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT id, number, channel, ship_by, awaiting_ship_by, CASE WHEN alert_due_at > placed_at THEN alert_due_at ELSE placed_at END FROM orders WHERE alert_due_at <= $1 ORDER BY alert_due_at LIMIT $2{}",
            Self::SKIP_LOCKED
        );
        let due = sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sql))
            .bind(now_us)
            .bind(limit as i64)
            .fetch_all(&mut *tx)
            .await?;
        let mut raised = 0;
        for r in &due {
            let id: i64 = r.try_get(0)?;
            let number: String = r.try_get(1)?;
            let channel: String = r.try_get(2)?;
            let ship_by: i64 = r.try_get(3)?;
            let awaiting: Option<i64> = r.try_get(4)?;
            let became_due: i64 = r.try_get(5)?;
            let (alert, next_due) =
                crate::sql::due_alert(now_us, &number, &channel, ship_by, awaiting);
            if let Some((kind, message)) = alert {
                let delayed = crate::outbox::delayed_message(id, kind, ship_by, became_due);
                enqueue_all(
                    &mut tx,
                    std::slice::from_ref(&delayed),
                    now_us,
                    self.window_us,
                )
                .await?;
                let res = sqlx::query::<sqlx::Postgres>(
                    "INSERT INTO alerts (dedupe_key, kind, order_id, message, due_at, raised_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING",
                )
                .bind(format!("order:{id}:{kind}"))
                .bind(kind)
                .bind(id)
                .bind(message)
                .bind(ship_by)
                .bind(now_us)
                .execute(&mut *tx)
                .await?;
                raised += res.rows_affected();
            }
            sqlx::query::<sqlx::Postgres>("UPDATE orders SET alert_due_at = $1 WHERE id = $2")
                .bind(next_due)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(raised)
    }

    async fn list_alerts(
        &self,
        after_id: Option<i64>,
        limit: u32,
    ) -> crate::Result<Vec<crate::Alert>> {
        let rows: Vec<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM alerts WHERE id > $1 ORDER BY id LIMIT $2",
            seller::ALERT_COLUMNS
        )))
        .bind(after_id.unwrap_or(0))
        .bind(limit.clamp(1, 1000) as i64)
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows.into_iter().map(alert_from).collect())
    }

    async fn shipping_window(
        &self,
        days: u32,
        now: jiff::Timestamp,
    ) -> crate::Result<crate::ShippingWindow> {
        use sqlx::Row as _;
        let now_us = herald_core::time::to_micros(now);
        let from = now_us - days as i64 * 86_400_000_000;
        let due = sqlx::query::<sqlx::Postgres>(crate::sql::LATE_SHIPMENTS_SQL)
            .bind(from)
            .bind(now_us)
            .fetch_one(self.read_pool())
            .await?;
        let placed = sqlx::query::<sqlx::Postgres>(crate::sql::PRE_FULFILMENT_CANCELS_SQL)
            .bind(from)
            .bind(now_us)
            .fetch_one(self.read_pool())
            .await?;
        Ok(crate::sql::shipping_window(
            days,
            due.try_get(0)?,
            due.try_get(1)?,
            placed.try_get(0)?,
            placed.try_get(1)?,
        ))
    }

    async fn count_orders(&self) -> crate::Result<u64> {
        let n: i64 = sqlx::query_scalar::<sqlx::Postgres, i64>("SELECT COUNT(*) FROM orders")
            .fetch_one(self.read_pool())
            .await?;
        Ok(n as u64)
    }

    async fn create_token(
        &self,
        name: &str,
        token_hash: &str,
        now: jiff::Timestamp,
    ) -> crate::Result<()> {
        let res = sqlx::query::<sqlx::Postgres>(
            "INSERT INTO api_tokens (name, token_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(token_hash)
        .bind(herald_core::time::to_micros(now))
        .execute(self.write_pool())
        .await?;
        if res.rows_affected() == 0 {
            return Err(crate::token_name_taken(name));
        }
        Ok(())
    }

    async fn token_name(&self, token_hash: &str) -> crate::Result<Option<String>> {
        Ok(sqlx::query_scalar::<sqlx::Postgres, String>(
            "SELECT name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.read_pool())
        .await?)
    }

    async fn list_tokens(&self) -> crate::Result<Vec<crate::TokenInfo>> {
        use sqlx::Row as _;
        let rows = sqlx::query::<sqlx::Postgres>(
            "SELECT name, created_at, revoked_at FROM api_tokens ORDER BY id",
        )
        .fetch_all(self.read_pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::TokenInfo {
                    name: r.try_get(0)?,
                    created_at: herald_core::time::from_micros(r.try_get(1)?),
                    revoked_at: r
                        .try_get::<Option<i64>, _>(2)?
                        .map(herald_core::time::from_micros),
                })
            })
            .collect()
    }

    async fn revoke_token(&self, name: &str, now: jiff::Timestamp) -> crate::Result<bool> {
        // A revoked token frees its name: it is renamed out of the way.
        let res = sqlx::query::<sqlx::Postgres>(crate::sql::REVOKE_TOKEN_SQL)
            .bind(herald_core::time::to_micros(now))
            .bind(name)
            .execute(self.write_pool())
            .await?;
        Ok(res.rows_affected() > 0)
    }

    async fn upsert_shipment(
        &self,
        sh: &herald_core::tracking::NewShipment,
        now: jiff::Timestamp,
    ) -> crate::Result<crate::Shipment> {
        let now_us = herald_core::time::to_micros(now);
        let mut tx = self.begin_write().await?;
        let parcel =
            std::collections::BTreeSet::from([(sh.carrier.clone(), sh.tracking_number.clone())]);
        lock_parcels(&mut tx, &parcel).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM orders WHERE id = $1")
            .bind(sh.order_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(crate::sql::order_missing(sh.order_id));
        }
        sqlx::query(crate::sql::UPSERT_SHIPMENT_SQL)
            .bind(sh.order_id)
            .bind(&sh.carrier)
            .bind(&sh.tracking_number)
            .bind(&sh.service)
            .bind(sh.label_created_at.map(herald_core::time::to_micros))
            .bind(&sh.origin_postal_code)
            .bind(&sh.destination_postal_code)
            .bind(sh.estimated_delivery.map(herald_core::time::to_micros))
            .bind(now_us)
            .execute(&mut *tx)
            .await?;
        let parcel = recompute_parcel(&mut tx, &sh.carrier, &sh.tracking_number, now_us).await?;
        let id: i64 = sqlx::query_scalar(
            "SELECT id FROM shipments WHERE carrier = $1 AND tracking_number = $2",
        )
        .bind(&sh.carrier)
        .bind(&sh.tracking_number)
        .fetch_one(&mut *tx)
        .await?;
        let messages = crate::outbox::recorded_shipment_messages(sh, id, parcel, now_us);
        enqueue_all(&mut tx, &messages, now_us, self.window_us).await?;
        let out = load_shipments(&mut tx, "id = $1", id).await?;
        tx.commit().await?;
        out.into_iter()
            .next()
            .ok_or_else(|| crate::StoreError::Corrupt(format!("shipment {id} vanished")))
    }

    async fn ingest_tracking_events(
        &self,
        events: Vec<herald_core::tracking::TrackingEvent>,
        policy: &herald_core::watch::WatchPolicy,
        now: jiff::Timestamp,
    ) -> crate::Result<crate::Ingested> {
        let now_us = herald_core::time::to_micros(now);
        let parcels: std::collections::BTreeSet<(String, String)> = events
            .iter()
            .map(|e| (e.carrier.clone(), e.tracking_number.clone()))
            .collect();
        let mut tx = self.begin_write().await?;
        lock_parcels(&mut tx, &parcels).await?;
        let out = insert_events(&mut tx, &events, policy, now_us, self.window_us).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn get_shipment(&self, id: i64) -> crate::Result<Option<crate::Shipment>> {
        let mut c = self.pool.acquire().await?;
        Ok(load_shipments(&mut c, "id = $1", id)
            .await?
            .into_iter()
            .next())
    }

    async fn order_shipments(&self, order_id: i64) -> crate::Result<Vec<crate::Shipment>> {
        let mut c = self.pool.acquire().await?;
        load_shipments(&mut c, "order_id = $1", order_id).await
    }

    async fn review_due_shipments(
        &self,
        policy: &herald_core::watch::WatchPolicy,
        now: jiff::Timestamp,
        limit: u32,
    ) -> crate::Result<crate::SweepReport> {
        use crate::watch::{self, CaseWrite};
        use sqlx::Row as _;
        let now_us = herald_core::time::to_micros(now);
        let mut tx = self.begin_write().await?;
        let mut report = crate::SweepReport::default();
        // Another node's sweep skips the shipments this one holds, and the other way round.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{} FOR UPDATE OF shipments SKIP LOCKED",
            watch::due_shipments_sql()
        )))
        .bind(now_us)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        for r in &rows {
            let due = watch::DueRow {
                shipment: shipment_row(r)?,
                problem_keys: r.try_get(watch::DUE_PROBLEM_KEYS_COLUMN)?,
                status: r.try_get(watch::DUE_STATUS_COLUMN)?,
            };
            let row = &due.shipment;
            let events = parcel_events(&mut tx, &row.carrier, &row.tracking_number).await?;
            let open: Option<(i64, String)> = sqlx::query_as(watch::OPEN_CASE_SQL)
                .bind(row.id)
                .fetch_optional(&mut *tx)
                .await?;
            let plan = watch::plan_review(
                &due,
                &events,
                open.as_ref().map(|(id, f)| (*id, f.as_str())),
                policy,
                now,
            )?;
            sqlx::query(watch::SET_REVIEWED_SQL)
                .bind(plan.next_check_at)
                .bind(&plan.problem_keys)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            let set = sqlx::query(watch::SET_STATUS_SQL)
                .bind(plan.status)
                .bind(plan.status_at)
                .bind(now_us)
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
            watch::one_state_written(set.rows_affected(), row.id)?;
            report.reviewed += 1;
            enqueue_all(&mut tx, &plan.messages, now_us, self.window_us).await?;
            match plan.case {
                CaseWrite::None => {}
                CaseWrite::Insert {
                    kind,
                    kinds,
                    file,
                    first_action_due,
                    alert_message,
                } => {
                    let case_id: i64 = sqlx::query_scalar(watch::INSERT_CASE_SQL)
                        .bind(row.id)
                        .bind(row.order_id)
                        .bind(kind)
                        .bind(kinds)
                        .bind(file)
                        .bind(now_us)
                        .bind(first_action_due)
                        .fetch_one(&mut *tx)
                        .await?;
                    report.opened += 1;
                    let alert = watch::opened_alert(case_id, &alert_message);
                    report.alerts += sqlx::query(watch::INSERT_CASE_ALERT_SQL)
                        .bind(alert.key)
                        .bind(alert.kind)
                        .bind(row.order_id)
                        .bind(alert.message)
                        .bind(first_action_due)
                        .bind(now_us)
                        .bind(case_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                CaseWrite::Update(u) => {
                    if u.closed_at.is_some() {
                        report.closed += 1;
                    } else {
                        report.updated += 1;
                    }
                    write_case_update(&mut tx, &u, now_us).await?;
                }
            }
        }
        let overdue: Vec<(i64, i64, String, i64, String, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "{} FOR UPDATE OF c SKIP LOCKED",
                watch::OVERDUE_CASES_SQL
            )))
            .bind(now_us)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        for (id, order_id, kind, due, carrier, tracking) in overdue {
            let alert = watch::overdue_alert(id, &kind, due, &carrier, &tracking);
            report.alerts += sqlx::query(watch::INSERT_CASE_ALERT_SQL)
                .bind(alert.key)
                .bind(alert.kind)
                .bind(order_id)
                .bind(alert.message)
                .bind(due)
                .bind(now_us)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(watch::MARK_OVERDUE_ALERTED_SQL)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    async fn list_cases(
        &self,
        filter: &crate::CaseFilter,
    ) -> crate::Result<crate::Page<crate::Case>> {
        let (sql, binds) = crate::watch::case_list_sql(filter);
        let mut q = sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                crate::sql::Bind::I64(v) => q.bind(v),
                crate::sql::Bind::Text(s) => q.bind(s),
            };
        }
        let rows = q.fetch_all(self.read_pool()).await?;
        let items = rows
            .iter()
            .map(|r| crate::watch::case_from(case_row(r)?))
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(crate::watch::case_page(items, filter.limit))
    }

    async fn get_case(&self, id: i64) -> crate::Result<Option<crate::Case>> {
        let mut c = self.pool.acquire().await?;
        load_case(&mut c, id).await
    }

    async fn add_case_entry(
        &self,
        id: i64,
        entry: herald_core::cases::CaseEntry,
        now: jiff::Timestamp,
    ) -> crate::Result<Option<crate::Case>> {
        let now_us = herald_core::time::to_micros(now);
        let mut tx = self.begin_write().await?;
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT file, closed_at FROM cases WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((file, closed_at)) = row else {
            return Ok(None);
        };
        let u = crate::watch::plan_action(id, &file, closed_at.is_some(), entry, now)?;
        write_case_update(&mut tx, &u, now_us).await?;
        let out = load_case(&mut tx, id).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn record_webhook(
        &self,
        provider: &str,
        body: &[u8],
        events: &[herald_core::tracking::TrackingEvent],
        estimated_delivery: Option<jiff::Timestamp>,
        dead_letter: Option<&str>,
        policy: &herald_core::watch::WatchPolicy,
        now: jiff::Timestamp,
    ) -> crate::Result<(i64, crate::Ingested)> {
        let now_us = herald_core::time::to_micros(now);
        let parcels: std::collections::BTreeSet<(String, String)> = events
            .iter()
            .map(|e| (e.carrier.clone(), e.tracking_number.clone()))
            .collect();
        let mut tx = self.begin_write().await?;
        lock_parcels(&mut tx, &parcels).await?;
        let id: i64 = sqlx::query_scalar(crate::sql::INSERT_WEBHOOK_SQL)
            .bind(provider)
            .bind(now_us)
            .bind(body)
            .bind(if dead_letter.is_some() {
                "dead_letter"
            } else {
                "accepted"
            })
            .bind(dead_letter)
            .bind(events.len() as i32)
            .fetch_one(&mut *tx)
            .await?;
        // The estimate first: the new events are judged against it.
        if let (Some(eta), Some(e)) = (estimated_delivery, events.first()) {
            sqlx::query(crate::sql::SET_ESTIMATE_SQL)
                .bind(herald_core::time::to_micros(eta))
                .bind(now_us)
                .bind(&e.carrier)
                .bind(&e.tracking_number)
                .execute(&mut *tx)
                .await?;
        }
        let out = insert_events(&mut tx, events, policy, now_us, self.window_us).await?;
        tx.commit().await?;
        Ok((id, out))
    }

    async fn list_webhooks(
        &self,
        dead_letters_only: bool,
        before_id: Option<i64>,
        limit: u32,
    ) -> crate::Result<Vec<crate::WebhookPayload>> {
        let rows = sqlx::query(crate::sql::LIST_WEBHOOKS_SQL)
            .bind(dead_letters_only)
            .bind(before_id.unwrap_or(i64::MAX))
            .bind(i64::from(limit.clamp(1, 500)))
            .fetch_all(self.read_pool())
            .await?;
        use sqlx::Row as _;
        rows.iter()
            .map(|r| {
                Ok(crate::WebhookPayload {
                    id: r.try_get(0)?,
                    provider: r.try_get(1)?,
                    received_at: herald_core::time::from_micros(r.try_get(2)?),
                    body: String::from_utf8_lossy(&r.try_get::<Vec<u8>, _>(3)?).into_owned(),
                    outcome: r.try_get(4)?,
                    reason: r.try_get(5)?,
                    events: i64::from(r.try_get::<i32, _>(6)?),
                })
            })
            .collect()
    }

    async fn record_bounce(
        &self,
        bounce: &herald_core::notify::bounce::Bounce,
        now: jiff::Timestamp,
    ) -> crate::Result<crate::BounceRecorded> {
        let now_us = herald_core::time::to_micros(now);
        let mut tx = self.begin_write().await?;
        let message = bounce
            .original_message_id
            .as_deref()
            .and_then(herald_core::notify::bounce::outbox_id);
        let order_id: Option<i64> = match message {
            Some(m) => sqlx::query_scalar::<_, Option<i64>>(crate::outbox::MESSAGE_ORDER_SQL)
                .bind(m)
                .fetch_optional(&mut *tx)
                .await?
                .flatten(),
            None => None,
        };
        let number: Option<String> = match order_id {
            Some(o) => {
                sqlx::query_scalar("SELECT number FROM orders WHERE id = $1")
                    .bind(o)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            None => None,
        };
        let mut out = crate::BounceRecorded {
            recipients: bounce.recipients.len(),
            order_id,
            ..Default::default()
        };
        for r in &bounce.recipients {
            sqlx::query(crate::outbox::INSERT_BOUNCE_SQL)
                .bind(&r.address)
                .bind(&r.action)
                .bind(&r.status)
                .bind(&r.diagnostic)
                .bind(i32::from(r.is_hard()))
                .bind(message)
                .bind(order_id)
                .bind(now_us)
                .execute(&mut *tx)
                .await?;
            if r.is_hard() {
                out.undeliverable.push(r.address.clone());
                let (key, text) = crate::outbox::bounce_alert(r, number.as_deref());
                out.alerts += sqlx::query(crate::outbox::INSERT_BOUNCE_ALERT_SQL)
                    .bind(key)
                    .bind(order_id)
                    .bind(text)
                    .bind(now_us)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn undeliverable(&self, address: &str) -> crate::Result<Option<crate::Undeliverable>> {
        use sqlx::Row as _;
        let row = sqlx::query(crate::outbox::UNDELIVERABLE_SQL)
            .bind(address.trim().to_ascii_lowercase())
            .fetch_optional(self.read_pool())
            .await?;
        row.map(|r| {
            Ok(crate::Undeliverable {
                address: r.try_get(0)?,
                status: r.try_get(1)?,
                diagnostic: r.try_get(2)?,
                bounced_at: herald_core::time::from_micros(r.try_get(3)?),
            })
        })
        .transpose()
    }

    async fn page_token(&self, order_id: i64) -> crate::Result<Option<String>> {
        let t: Option<Option<String>> =
            sqlx::query_scalar("SELECT page_token FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_optional(self.read_pool())
                .await?;
        Ok(t.flatten())
    }

    async fn order_for_page(&self, token: &str) -> crate::Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM orders WHERE page_token = $1")
                .bind(token)
                .fetch_optional(self.read_pool())
                .await?,
        )
    }

    async fn enqueue_message(
        &self,
        message: &crate::NewMessage,
        now: jiff::Timestamp,
    ) -> crate::Result<Option<i64>> {
        let (key, order, kind, facts, about) = crate::outbox::enqueue_values(message);
        let now_us = herald_core::time::to_micros(now);
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO messages (dedupe_key, order_id, kind, facts, about_at, status, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(key)
        .bind(order)
        .bind(kind)
        .bind(facts)
        .bind(about)
        .bind(now_us)
        .fetch_optional(&self.pool)
        .await?;
        Ok(id)
    }

    async fn claim_messages(
        &self,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
        limit: u32,
    ) -> crate::Result<Vec<crate::Message>> {
        use herald_core::time::to_micros;
        let rows = sqlx::query(sqlx::AssertSqlSafe(crate::outbox::claim_sql(
            Self::SKIP_LOCKED,
        )))
        .bind(to_micros(now))
        .bind(to_micros(lease_until))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| crate::outbox::message_from(message_row(r)?))
            .collect()
    }

    async fn settle_messages(
        &self,
        outcomes: &[(i64, crate::Settle)],
        now: jiff::Timestamp,
    ) -> crate::Result<u64> {
        let now_us = herald_core::time::to_micros(now);
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        let echo = sqlx::query(crate::outbox::ANY_ENDPOINT_SQL)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        let echo_sql = crate::outbox::echo_sql("strpos");
        for (id, s) in outcomes {
            let v = crate::outbox::settle_values(s, now_us);
            n += sqlx::query(crate::outbox::SETTLE_SQL)
                .bind(v.0)
                .bind(v.1)
                .bind(v.2)
                .bind(v.3)
                .bind(v.4)
                .bind(v.5)
                .bind(v.6)
                .bind(v.7)
                .bind(v.8)
                .bind(now_us)
                .bind(*id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if echo {
                sqlx::query(sqlx::AssertSqlSafe(echo_sql.as_str()))
                    .bind(*id)
                    .bind(now_us)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn list_messages(
        &self,
        filter: &crate::MessageFilter,
    ) -> crate::Result<crate::Page<crate::Message>> {
        let (sql, binds) = crate::outbox::message_list_sql(filter);
        let mut q = sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                crate::sql::Bind::I64(v) => q.bind(v),
                crate::sql::Bind::Text(s) => q.bind(s),
            };
        }
        let rows = q.fetch_all(self.read_pool()).await?;
        let items = rows
            .iter()
            .map(|r| crate::outbox::message_from(message_row(r)?))
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(crate::outbox::message_page(items, filter.limit))
    }

    async fn get_message(&self, id: i64) -> crate::Result<Option<crate::Message>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM messages WHERE id = $1",
            crate::outbox::MESSAGE_COLUMNS
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| crate::outbox::message_from(message_row(&r)?))
            .transpose()
    }

    async fn retry_message(
        &self,
        id: i64,
        now: jiff::Timestamp,
    ) -> crate::Result<Option<crate::Message>> {
        let n = sqlx::query(crate::outbox::RETRY_SQL)
            .bind(herald_core::time::to_micros(now))
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        self.get_message(id).await
    }

    async fn save_template(
        &self,
        store: &str,
        kind: herald_core::notify::MessageKind,
        set: &herald_core::notify::templates::TemplateSet,
        now: jiff::Timestamp,
    ) -> crate::Result<()> {
        sqlx::query(crate::outbox::SAVE_TEMPLATE_SQL)
            .bind(store)
            .bind(kind.as_str())
            .bind(&set.subject)
            .bind(&set.text)
            .bind(&set.html)
            .bind(herald_core::time::to_micros(now))
            .execute(self.write_pool())
            .await?;
        Ok(())
    }

    async fn delete_template(
        &self,
        store: &str,
        kind: herald_core::notify::MessageKind,
    ) -> crate::Result<bool> {
        Ok(sqlx::query(crate::outbox::DELETE_TEMPLATE_SQL)
            .bind(store)
            .bind(kind.as_str())
            .execute(self.write_pool())
            .await?
            .rows_affected()
            == 1)
    }

    async fn load_templates(
        &self,
    ) -> crate::Result<herald_core::notify::templates::CustomTemplates> {
        let rows: Vec<(String, String, String, String, String)> =
            sqlx::query_as(crate::outbox::LOAD_TEMPLATES_SQL)
                .fetch_all(self.read_pool())
                .await?;
        crate::outbox::templates_from(rows)
    }

    async fn add_webhook_endpoint(
        &self,
        e: &crate::NewWebhookEndpoint,
        now: jiff::Timestamp,
    ) -> crate::Result<crate::WebhookEndpoint> {
        let id: i64 = sqlx::query_scalar(seller::INSERT_ENDPOINT_SQL)
            .bind(&e.url)
            .bind(&e.secret)
            .bind(seller::events_column(&e.kinds))
            .bind(&e.description)
            .bind(herald_core::time::to_micros(now))
            .fetch_one(self.write_pool())
            .await?;
        self.get_webhook_endpoint(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("webhook endpoint {id} vanished")))
    }

    async fn list_webhook_endpoints(&self) -> crate::Result<Vec<crate::WebhookEndpoint>> {
        let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM webhook_endpoints ORDER BY id",
            seller::ENDPOINT_COLUMNS
        )))
        .fetch_all(self.read_pool())
        .await?;
        Ok(rows.into_iter().map(seller::endpoint_from).collect())
    }

    async fn get_webhook_endpoint(&self, id: i64) -> crate::Result<Option<crate::WebhookEndpoint>> {
        let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM webhook_endpoints WHERE id = $1",
            seller::ENDPOINT_COLUMNS
        )))
        .bind(id)
        .fetch_optional(self.read_pool())
        .await?;
        Ok(row.map(seller::endpoint_from))
    }

    async fn disable_webhook_endpoint(&self, id: i64, now: jiff::Timestamp) -> crate::Result<bool> {
        Ok(sqlx::query(seller::DISABLE_ENDPOINT_SQL)
            .bind(herald_core::time::to_micros(now))
            .bind(id)
            .execute(self.write_pool())
            .await?
            .rows_affected()
            == 1)
    }

    async fn get_alert(&self, id: i64) -> crate::Result<Option<crate::Alert>> {
        let row: Option<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM alerts WHERE id = $1",
            seller::ALERT_COLUMNS
        )))
        .bind(id)
        .fetch_optional(self.read_pool())
        .await?;
        Ok(row.map(alert_from))
    }

    async fn alerts_between(
        &self,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
        limit: u32,
    ) -> crate::Result<Vec<crate::Alert>> {
        let rows: Vec<AlertRow> = sqlx::query_as(seller::ALERTS_BETWEEN_SQL)
            .bind(herald_core::time::to_micros(from))
            .bind(herald_core::time::to_micros(to))
            .bind(i64::from(limit))
            .fetch_all(self.read_pool())
            .await?;
        Ok(rows.into_iter().map(alert_from).collect())
    }

    async fn add_offer_codes(&self, codes: &[String], now: jiff::Timestamp) -> crate::Result<u64> {
        let now_us = herald_core::time::to_micros(now);
        let mut tx = self.begin_write().await?;
        let mut n = 0;
        for code in codes {
            n += sqlx::query(seller::ADD_POOL_CODE_SQL)
                .bind(code)
                .bind(now_us)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn assign_offer_code(
        &self,
        req: &crate::OfferRequest,
        now: jiff::Timestamp,
    ) -> crate::Result<Option<String>> {
        let now_us = herald_core::time::to_micros(now);
        let mut tx = self.begin_write().await?;
        let mine = sqlx::query_scalar::<_, String>(seller::CODE_OF_MESSAGE_SQL)
            .bind(&req.message_key)
            .fetch_optional(&mut *tx)
            .await?;
        let code = match (mine, &req.generated) {
            (Some(code), _) => Some(code),
            (None, Some(code)) => {
                sqlx::query(seller::INSERT_GENERATED_SQL)
                    .bind(code)
                    .bind(now_us)
                    .bind(req.order_id)
                    .bind(&req.message_key)
                    .bind(&req.offer)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query_scalar::<_, String>(seller::CODE_OF_MESSAGE_SQL)
                    .bind(&req.message_key)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            (None, None) => {
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(seller::take_from_pool_sql(
                    " FOR UPDATE SKIP LOCKED",
                )))
                .bind(req.order_id)
                .bind(&req.message_key)
                .bind(&req.offer)
                .bind(now_us)
                .fetch_optional(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        Ok(code)
    }

    async fn list_offer_codes(
        &self,
        given: Option<bool>,
        limit: u32,
    ) -> crate::Result<Vec<crate::OfferCode>> {
        let rows: Vec<(
            String,
            String,
            i64,
            Option<i64>,
            Option<String>,
            Option<i64>,
        )> = sqlx::query_as(seller::LIST_CODES_SQL)
            .bind(given.map_or(2, i64::from))
            .bind(i64::from(limit.clamp(1, 10_000)))
            .fetch_all(self.read_pool())
            .await?;
        Ok(rows.into_iter().map(seller::offer_from).collect())
    }

    async fn join_mail_list(
        &self,
        list: &str,
        address: &str,
        now: jiff::Timestamp,
    ) -> crate::Result<crate::ListMember> {
        let address = address.trim().to_ascii_lowercase();
        sqlx::query(seller::JOIN_LIST_SQL)
            .bind(seller::new_list_token())
            .bind(list)
            .bind(&address)
            .bind(herald_core::time::to_micros(now))
            .execute(self.write_pool())
            .await?;
        let (token, left): (String, Option<i64>) = sqlx::query_as(seller::LIST_MEMBER_SQL)
            .bind(list)
            .bind(&address)
            .fetch_one(self.write_pool())
            .await?;
        Ok(crate::ListMember {
            token,
            left_at: left.map(herald_core::time::from_micros),
        })
    }

    async fn leave_mail_list(
        &self,
        token: &str,
        now: jiff::Timestamp,
    ) -> crate::Result<Option<(String, String)>> {
        Ok(sqlx::query_as(seller::LEAVE_LIST_SQL)
            .bind(herald_core::time::to_micros(now))
            .bind(token)
            .fetch_optional(self.write_pool())
            .await?)
    }

    async fn status_version(&self) -> crate::Result<i64> {
        Ok(sqlx::query_scalar(status::VERSION_SQL)
            .fetch_one(self.read_pool())
            .await?)
    }

    async fn load_status(&self, since: jiff::Timestamp) -> crate::Result<crate::StoredStatus> {
        let since = herald_core::time::to_micros(since);
        // One snapshot of the page: REPEATABLE READ, so a change committing meanwhile is either
        // wholly in the read or wholly out of it.
        let mut tx = self.read_pool().begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let version: i64 = sqlx::query_scalar(status::VERSION_SQL)
            .fetch_one(&mut *tx)
            .await?;
        let components: Vec<status::ComponentRow> = sqlx::query_as(status::COMPONENTS_SQL)
            .fetch_all(&mut *tx)
            .await?;
        let incidents: Vec<status::IncidentRow> = sqlx::query_as(status::INCIDENTS_SQL)
            .bind(since)
            .fetch_all(&mut *tx)
            .await?;
        let updates: Vec<status::UpdateRow> = sqlx::query_as(status::UPDATES_SQL)
            .bind(since)
            .fetch_all(&mut *tx)
            .await?;
        let changes: Vec<(i64, String, String, i64)> = sqlx::query_as(status::CHANGES_SQL)
            .bind(since)
            .fetch_all(&mut *tx)
            .await?;
        let advisory: Option<status::AdvisoryRow> = sqlx::query_as(status::ADVISORY_SQL)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(status::assemble(
            version,
            components
                .into_iter()
                .map(status::component_from)
                .collect::<crate::Result<_>>()?,
            incidents
                .into_iter()
                .map(status::incident_from)
                .collect::<crate::Result<_>>()?,
            updates
                .into_iter()
                .map(status::update_from)
                .collect::<crate::Result<_>>()?,
            changes
                .into_iter()
                .map(status::change_from)
                .collect::<crate::Result<_>>()?,
            advisory.map(status::advisory_from).transpose()?,
        ))
    }

    async fn apply_status_write(
        &self,
        version: i64,
        w: &crate::StatusWrite,
        request: Option<(&str, &str)>,
        now: jiff::Timestamp,
    ) -> crate::Result<crate::StatusApplied> {
        let mut tx = self.begin_write().await?;
        if let Some((key, _)) = request {
            // Two nodes taking the same key at once: the second waits here for the first.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            if let Some(result) = sqlx::query_scalar::<_, String>(status::REQUEST_SQL)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?
            {
                return Ok(crate::StatusApplied::Duplicate(result));
            }
        }
        if sqlx::query(status::BUMP_SQL)
            .bind(version)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 0
        {
            return Ok(crate::StatusApplied::Stale);
        }
        for c in &w.components {
            let r = status::component_row(c);
            sqlx::query(status::UPSERT_COMPONENT_SQL)
                .bind(r.0)
                .bind(r.1)
                .bind(r.2)
                .bind(r.3)
                .bind(r.4)
                .bind(r.5)
                .bind(r.6)
                .bind(r.7)
                .bind(r.8)
                .bind(r.9)
                .bind(r.10)
                .bind(r.11)
                .execute(&mut *tx)
                .await?;
        }
        let now_us = herald_core::time::to_micros(now);
        for id in &w.removed {
            sqlx::query(status::REMOVE_COMPONENT_SQL)
                .bind(id)
                .bind(now_us)
                .execute(&mut *tx)
                .await?;
        }
        for (id, ch) in &w.changes {
            sqlx::query(status::INSERT_CHANGE_SQL)
                .bind(id)
                .bind(ch.status.as_str())
                .bind(herald_core::time::to_micros(ch.at))
                .execute(&mut *tx)
                .await?;
        }
        if let Some(i) = &w.incident {
            let r = status::incident_row(i);
            sqlx::query(status::UPSERT_INCIDENT_SQL)
                .bind(r.0)
                .bind(r.1)
                .bind(r.2)
                .bind(r.3)
                .bind(r.4)
                .bind(r.5)
                .bind(r.6)
                .bind(r.7)
                .bind(r.8)
                .bind(r.9)
                .bind(r.10)
                .bind(r.11)
                .execute(&mut *tx)
                .await?;
            if let Some(u) = &w.update {
                let r = status::update_row(&i.id, u);
                sqlx::query(status::INSERT_UPDATE_SQL)
                    .bind(r.0)
                    .bind(r.1)
                    .bind(r.2)
                    .bind(r.3)
                    .bind(r.4)
                    .bind(r.5)
                    .bind(r.6)
                    .bind(r.7)
                    .bind(r.8)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(n) = herald_core::status::notice::of_write(w) {
                let v = subscribers::notice_values(&n, now);
                sqlx::query(subscribers::ADD_NOTICE_SQL)
                    .bind(v.0)
                    .bind(v.1)
                    .bind(v.2)
                    .bind(v.3)
                    .bind(v.4)
                    .bind(v.5)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        match &w.advisory {
            Some(Some(a)) => {
                let r = status::advisory_row(a);
                sqlx::query(status::SET_ADVISORY_SQL)
                    .bind(r.0)
                    .bind(r.1)
                    .bind(r.2)
                    .bind(r.3)
                    .bind(r.4)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(None) => {
                sqlx::query(status::CLEAR_ADVISORY_SQL)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {}
        }
        if let Some((key, result)) = request {
            sqlx::query(status::INSERT_REQUEST_SQL)
                .bind(key)
                .bind(result)
                .bind(now_us)
                .execute(&mut *tx)
                .await?;
        }
        // Other nodes listening re-read the page as soon as this commits.
        sqlx::query("SELECT pg_notify('herald_status', $1)")
            .bind((version + 1).to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(crate::StatusApplied::Applied(version + 1))
    }

    async fn status_request(&self, key: &str) -> crate::Result<Option<String>> {
        Ok(sqlx::query_scalar(status::REQUEST_SQL)
            .bind(key)
            .fetch_optional(self.read_pool())
            .await?)
    }

    async fn raise_status_alert(
        &self,
        r: &herald_core::status::PromiseReminder,
        now: jiff::Timestamp,
    ) -> crate::Result<bool> {
        Ok(sqlx::query(status::RAISE_ALERT_SQL)
            .bind(&r.dedupe_key)
            .bind(r.kind)
            .bind(&r.message)
            .bind(herald_core::time::to_micros(r.due_at))
            .bind(herald_core::time::to_micros(now))
            .execute(self.write_pool())
            .await?
            .rows_affected()
            > 0)
    }

    async fn add_status_report(
        &self,
        component_id: Option<&str>,
        what: &str,
        now: jiff::Timestamp,
    ) -> crate::Result<i64> {
        Ok(sqlx::query_scalar(status::ADD_REPORT_SQL)
            .bind(component_id)
            .bind(what)
            .bind(herald_core::time::to_micros(now))
            .fetch_one(self.write_pool())
            .await?)
    }

    async fn status_reports_since(
        &self,
        since: jiff::Timestamp,
        limit: u32,
    ) -> crate::Result<Vec<herald_core::status::report::Report>> {
        let rows: Vec<status::ReportRow> = sqlx::query_as(status::REPORTS_SQL)
            .bind(herald_core::time::to_micros(since))
            .bind(i64::from(limit))
            .fetch_all(self.read_pool())
            .await?;
        Ok(rows.into_iter().map(status::report_from).collect())
    }

    async fn shared_secret(
        &self,
        name: &str,
        fresh: &str,
        now: jiff::Timestamp,
    ) -> crate::Result<String> {
        sqlx::query(status::KEEP_SECRET_SQL)
            .bind(name)
            .bind(fresh)
            .bind(herald_core::time::to_micros(now))
            .execute(self.write_pool())
            .await?;
        Ok(sqlx::query_scalar(status::SECRET_SQL)
            .bind(name)
            .fetch_one(self.write_pool())
            .await?)
    }

    async fn add_status_subscriber(
        &self,
        sub: &herald_core::status::notice::Subscriber,
    ) -> crate::Result<herald_core::status::notice::Subscriber> {
        let v = subscribers::add_values(sub);
        sqlx::query(subscribers::ADD_SUBSCRIBER_SQL)
            .bind(&v.0)
            .bind(v.1)
            .bind(&v.2)
            .bind(&v.3)
            .bind(&v.4)
            .bind(&v.5)
            .bind(v.6)
            .bind(v.7)
            .execute(self.write_pool())
            .await?;
        let row: subscribers::SubscriberRow = sqlx::query_as(sqlx::AssertSqlSafe(
            subscribers::select_subscriber("channel = $1 AND address = $2"),
        ))
        .bind(v.1)
        .bind(&v.2)
        .fetch_one(self.write_pool())
        .await?;
        subscribers::subscriber_from(row)
    }

    async fn update_status_subscriber(
        &self,
        sub: &herald_core::status::notice::Subscriber,
    ) -> crate::Result<bool> {
        let v = subscribers::update_values(sub);
        Ok(sqlx::query(subscribers::UPDATE_SUBSCRIBER_SQL)
            .bind(v.0)
            .bind(v.1)
            .bind(v.2)
            .bind(v.3)
            .bind(v.4)
            .execute(self.write_pool())
            .await?
            .rows_affected()
            > 0)
    }

    async fn status_subscriber_by_token(
        &self,
        token: &str,
    ) -> crate::Result<Option<herald_core::status::notice::Subscriber>> {
        let row: Option<subscribers::SubscriberRow> = sqlx::query_as(sqlx::AssertSqlSafe(
            subscribers::select_subscriber("token = $1"),
        ))
        .bind(token)
        .fetch_optional(self.write_pool())
        .await?;
        row.map(subscribers::subscriber_from).transpose()
    }

    async fn get_status_subscriber(
        &self,
        id: i64,
    ) -> crate::Result<Option<herald_core::status::notice::Subscriber>> {
        let row: Option<subscribers::SubscriberRow> = sqlx::query_as(sqlx::AssertSqlSafe(
            subscribers::select_subscriber("id = $1"),
        ))
        .bind(id)
        .fetch_optional(self.write_pool())
        .await?;
        row.map(subscribers::subscriber_from).transpose()
    }

    async fn list_status_subscribers(
        &self,
        after_id: i64,
        limit: u32,
    ) -> crate::Result<Vec<herald_core::status::notice::Subscriber>> {
        let rows: Vec<subscribers::SubscriberRow> = sqlx::query_as(sqlx::AssertSqlSafe(
            subscribers::select_subscriber("id > $1 ORDER BY id LIMIT $2"),
        ))
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(self.read_pool())
        .await?;
        rows.into_iter().map(subscribers::subscriber_from).collect()
    }

    async fn add_status_notice(
        &self,
        n: &herald_core::status::notice::Notice,
        now: jiff::Timestamp,
    ) -> crate::Result<bool> {
        let v = subscribers::notice_values(n, now);
        Ok(sqlx::query(subscribers::ADD_NOTICE_SQL)
            .bind(v.0)
            .bind(v.1)
            .bind(v.2)
            .bind(v.3)
            .bind(v.4)
            .bind(v.5)
            .execute(self.write_pool())
            .await?
            .rows_affected()
            > 0)
    }

    async fn get_status_notice(&self, id: i64) -> crate::Result<Option<crate::StoredNotice>> {
        let row: Option<subscribers::NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM status_notices WHERE id = $1",
            subscribers::NOTICE_COLUMNS
        )))
        .bind(id)
        .fetch_optional(self.write_pool())
        .await?;
        row.map(subscribers::notice_from).transpose()
    }

    async fn fan_out_status_notices(
        &self,
        now: jiff::Timestamp,
        batch: u32,
    ) -> crate::Result<Option<u64>> {
        let now_us = herald_core::time::to_micros(now);
        let mut tx = self.begin_write().await?;
        let row: Option<subscribers::NoticeRow> = sqlx::query_as(sqlx::AssertSqlSafe(
            subscribers::next_notice_sql(Self::SKIP_LOCKED),
        ))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let notice = subscribers::notice_from(row)?;
        let rows: Vec<subscribers::SubscriberRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(subscribers::fan_out_subscribers_sql()))
                .bind(notice.fanned_to)
                .bind(i64::from(batch))
                .fetch_all(&mut *tx)
                .await?;
        let subs = rows
            .into_iter()
            .map(subscribers::subscriber_from)
            .collect::<crate::Result<Vec<_>>>()?;
        let (messages, last, done) = subscribers::fan_out_step(&notice, &subs, batch);
        let added = enqueue_all(&mut tx, &messages, now_us, self.window_us).await?;
        sqlx::query(subscribers::ADVANCE_NOTICE_SQL)
            .bind(notice.id)
            .bind(last)
            .bind(done.then_some(now_us))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(added))
    }
}

type EndpointRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
);
type AlertRow = (
    i64,
    String,
    Option<i64>,
    String,
    Option<i64>,
    i64,
    Option<i64>,
);

fn alert_from((id, kind, order_id, message, due_at, raised_at, case_id): AlertRow) -> crate::Alert {
    crate::Alert {
        id,
        kind,
        order_id,
        message,
        due_at: due_at.map(herald_core::time::from_micros),
        raised_at: herald_core::time::from_micros(raised_at),
        case_id,
    }
}

/// Stores events (each once) and judges each parcel they touch that has a shipment
/// (`watch::plan_arrival`), a statement for the events, one for the parcels' rows and one for
/// their new values, whatever the batch's size. The caller holds the parcels' locks.
async fn insert_events(
    tx: &mut Transaction<'static, Postgres>,
    events: &[herald_core::tracking::TrackingEvent],
    policy: &herald_core::watch::WatchPolicy,
    now_us: i64,
    window_us: i64,
) -> crate::Result<crate::Ingested> {
    use crate::watch;
    use sqlx::Row as _;
    let prepared = crate::sql::prepare_events(events);
    let fresh = insert_event_rows(tx, events, &prepared, now_us).await?;
    let mut touched = std::collections::BTreeMap::<(&str, &str), Vec<&TrackingEvent>>::new();
    for (e, _) in events.iter().zip(&fresh).filter(|(_, new)| **new) {
        touched
            .entry((e.carrier.as_str(), e.tracking_number.as_str()))
            .or_default()
            .push(e);
    }
    let mut out = crate::Ingested {
        fresh,
        ..Default::default()
    };
    // FOR UPDATE: a sweep reviewing one of these parcels on another node finishes first, so
    // the problem keys read here are its latest.
    let (carriers, numbers): (Vec<&str>, Vec<&str>) = touched.keys().copied().unzip();
    let rows = if touched.is_empty() {
        Vec::new()
    } else {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {} \
             WHERE (carrier, tracking_number) IN (SELECT * FROM unnest($1::text[], $2::text[])) \
             ORDER BY id FOR UPDATE OF shipments",
            watch::arrival_columns(),
            crate::sql::SHIPMENTS_WITH_STATES
        )))
        .bind(&carriers)
        .bind(&numbers)
        .fetch_all(&mut **tx)
        .await?
    };
    let now = herald_core::time::from_micros(now_us);
    let mut set = ArrivedRows::default();
    let mut messages = Vec::new();
    for r in &rows {
        let row = watch::ArrivalRow {
            shipment: shipment_row(r)?,
            problem_keys: r.try_get(11)?,
            status: r.try_get(12)?,
            next_check_at: r.try_get(13)?,
            digest: r.try_get(14)?,
            status_at: r.try_get(15)?,
        };
        let sh = &row.shipment;
        // Events for a parcel herald has no shipment for yet are not read here: they wait.
        let Some(new) = touched.get(&(sh.carrier.as_str(), sh.tracking_number.as_str())) else {
            continue;
        };
        let digest = match watch::digest_after(&row, new)? {
            Some(d) => d,
            None => Digest::of(&parcel_events(tx, &sh.carrier, &sh.tracking_number).await?),
        };
        let plan = watch::plan_arrival(&row, &digest, policy, now);
        set.id.push(sh.id);
        set.digest.push(plan.digest);
        set.status.push(plan.status);
        set.status_at.push(plan.status_at);
        set.next_check_at.push(plan.next_check_at);
        out.due_now += u64::from(plan.due_now);
        messages.extend(plan.messages);
    }
    if !set.id.is_empty() {
        let written = sqlx::query(SET_ARRIVED_ROWS_SQL)
            .bind(&set.id)
            .bind(&set.digest)
            .bind(&set.status)
            .bind(&set.status_at)
            .bind(now_us)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        if written != set.id.len() as u64 {
            return Err(crate::StoreError::Corrupt(format!(
                "{} parcels were judged and {written} parcel states written",
                set.id.len()
            )));
        }
        sqlx::query(SET_NEXT_CHECKS_SQL)
            .bind(&set.id)
            .bind(&set.next_check_at)
            .execute(&mut **tx)
            .await?;
    }
    out.messages = enqueue_all(tx, &messages, now_us, window_us).await?;
    Ok(out)
}

/// Stores each event unless the same event is stored, in one statement: whether each was new.
/// Of repeats within the batch, the first is the one kept.
async fn insert_event_rows(
    tx: &mut Transaction<'static, Postgres>,
    events: &[TrackingEvent],
    prepared: &[crate::sql::PreparedEvent],
    now_us: i64,
) -> crate::Result<Vec<bool>> {
    let column = |f: fn(&crate::sql::PreparedEvent) -> &str| -> Vec<&str> {
        prepared.iter().map(f).collect()
    };
    let text = |f: fn(&TrackingEvent) -> &str| -> Vec<&str> { events.iter().map(f).collect() };
    let occurred: Vec<i64> = events
        .iter()
        .map(|e| herald_core::time::to_micros(e.occurred_at))
        .collect();
    let mut kept: std::collections::HashSet<String> = sqlx::query_scalar(
        "INSERT INTO tracking_events (carrier, tracking_number, dedupe_key, event, occurred_at, received_at) \
         SELECT c, t, k, e, o, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) \
         WITH ORDINALITY AS u(c, t, k, e, o, n) ORDER BY n \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key",
    )
    .bind(text(|e| &e.carrier))
    .bind(text(|e| &e.tracking_number))
    .bind(column(|p| &p.dedupe_key))
    .bind(column(|p| &p.json))
    .bind(&occurred)
    .bind(now_us)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    Ok(prepared
        .iter()
        .map(|p| kept.remove(&p.dedupe_key))
        .collect())
}

/// The judged parcels' new values, a column each, for [`SET_ARRIVED_ROWS_SQL`].
#[derive(Default)]
struct ArrivedRows {
    id: Vec<i64>,
    digest: Vec<String>,
    status: Vec<&'static str>,
    status_at: Vec<Option<i64>>,
    next_check_at: Vec<Option<i64>>,
}

/// `watch::SET_ARRIVED_SQL` for many shipments in one statement: $1 ids, $2 digests, $3
/// statuses, $4 since, $5 now.
const SET_ARRIVED_ROWS_SQL: &str = "UPDATE parcel_states AS p SET digest = u.digest, status = u.status, status_at = u.status_at, \
     changed_at = CASE WHEN p.status <> u.status OR p.status_at IS NULL OR p.status_at <> u.status_at THEN $5 ELSE p.changed_at END \
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS u(id, digest, status, status_at) \
     WHERE p.shipment_id = u.id";

/// `watch::SET_NEXT_CHECK_SQL` for many shipments ($1 ids, $2 next checks): only those whose
/// next check moves are written.
const SET_NEXT_CHECKS_SQL: &str = "UPDATE shipments AS s SET next_check_at = u.next_check_at \
     FROM unnest($1::bigint[], $2::bigint[]) AS u(id, next_check_at) \
     WHERE s.id = u.id AND s.next_check_at IS DISTINCT FROM u.next_check_at";

fn case_row(r: &sqlx::postgres::PgRow) -> crate::Result<crate::watch::CaseRow> {
    use sqlx::Row as _;
    Ok(crate::watch::CaseRow {
        id: r.try_get(0)?,
        shipment_id: r.try_get(1)?,
        order_id: r.try_get(2)?,
        carrier: r.try_get(3)?,
        tracking_number: r.try_get(4)?,
        kind: r.try_get(5)?,
        file: r.try_get(6)?,
        opened_at: r.try_get(7)?,
        closed_at: r.try_get(8)?,
        close_reason: r.try_get(9)?,
        first_action_due: r.try_get(10)?,
        first_action_at: r.try_get(11)?,
    })
}

async fn load_case(c: &mut sqlx::PgConnection, id: i64) -> crate::Result<Option<crate::Case>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM cases c JOIN shipments s ON s.id = c.shipment_id WHERE c.id = $1",
        crate::watch::CASE_COLUMNS
    )))
    .bind(id)
    .fetch_optional(c)
    .await?;
    row.map(|r| crate::watch::case_from(case_row(&r)?))
        .transpose()
}

/// Writes messages to the outbox in the caller's transaction, in multi-row statements; a
/// repeat of a dedupe key is ignored.
async fn enqueue_all(
    tx: &mut Transaction<'static, Postgres>,
    messages: &[crate::NewMessage],
    now_us: i64,
    window_us: i64,
) -> crate::Result<u64> {
    let mut added = 0;
    for chunk in messages.chunks(crate::sql::CHUNK) {
        // As outbox::ENQUEUE_SQL, many rows at a time.
        let sql = format!(
            "INSERT INTO messages (dedupe_key, order_id, kind, facts, about_at, status, next_attempt_at, last_error, created_at, updated_at) \
             SELECT k, o, kd, f, a, CASE WHEN a < $2 THEN 'skipped' ELSE 'pending' END, CASE WHEN a < $2 THEN NULL ELSE $1 END, CASE WHEN a < $2 THEN $3 ELSE NULL END, $1, $1 \
             FROM (VALUES {}) AS v(k, o, kd, f, a) ON CONFLICT (dedupe_key) DO NOTHING",
            crate::sql::placeholders(4, chunk.len(), 5)
        );
        let mut q = sqlx::query::<sqlx::Postgres>(sqlx::AssertSqlSafe(sql))
            .bind(now_us)
            .bind(now_us.saturating_sub(window_us))
            .bind(crate::outbox::stale_reason(window_us));
        for m in chunk {
            let (key, order, kind, facts, about) = crate::outbox::enqueue_values(m);
            q = q.bind(key).bind(order).bind(kind).bind(facts).bind(about);
        }
        added += q.execute(&mut **tx).await?.rows_affected();
    }
    Ok(added)
}

fn message_row(r: &sqlx::postgres::PgRow) -> crate::Result<crate::outbox::MessageRow> {
    use sqlx::Row as _;
    Ok(crate::outbox::MessageRow {
        id: r.try_get(0)?,
        order_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        facts: r.try_get(3)?,
        about_at: r.try_get(4)?,
        status: r.try_get(5)?,
        channel: r.try_get(6)?,
        recipient: r.try_get(7)?,
        subject: r.try_get(8)?,
        body: r.try_get(9)?,
        message_id: r.try_get(10)?,
        attempts: r.try_get(11)?,
        next_attempt_at: r.try_get(12)?,
        last_error: r.try_get(13)?,
        created_at: r.try_get(14)?,
        updated_at: r.try_get(15)?,
        sent_at: r.try_get(16)?,
    })
}

async fn write_case_update(
    tx: &mut Transaction<'static, Postgres>,
    u: &crate::watch::CaseUpdate,
    now_us: i64,
) -> crate::Result<()> {
    sqlx::query(crate::watch::UPDATE_CASE_SQL)
        .bind(u.kind)
        .bind(&u.kinds)
        .bind(&u.file)
        .bind(u.closed_at)
        .bind(u.close_reason)
        .bind(u.first_action_at)
        .bind(now_us)
        .bind(u.id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
