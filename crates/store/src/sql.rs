//! The SQL that both databases run, written once.
//!
//! `store_impl!` expands to the [`Store`](crate::Store) implementation for one sqlx database
//! type, so the type checker checks every query's binds and decodes on both SQLite and
//! PostgreSQL. The few real differences (how a write transaction starts, row locking, advisory
//! locks) are the `Backend` hooks each implementation provides. Placeholders are `$N`, which
//! both databases accept.

use herald_core::deadline::{ShipBy, ShipByPolicy, ShipByState};
use herald_core::order::{NewOrder, Order, OrderEventKind};
use herald_core::time::{from_micros, to_micros};
use jiff::Timestamp;
use std::collections::HashMap;

/// Rows per multi-row INSERT: keeps every statement under SQLite's 32,766 bind parameters.
pub(crate) const CHUNK: usize = 400;

/// A value bound to a dynamically built statement.
pub(crate) enum Bind {
    I64(i64),
    Text(String),
}

/// Where a list page starts: after an id (newest first) or after a deadline (most urgent first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    ById(i64),
    ByDeadline(i64, i64),
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(rest) = s.strip_prefix('d') {
            let (a, b) = rest.split_once('.')?;
            Some(Self::ByDeadline(a.parse().ok()?, b.parse().ok()?))
        } else {
            Some(Self::ById(s.strip_prefix('i')?.parse().ok()?))
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ById(id) => write!(f, "i{id}"),
            Self::ByDeadline(d, id) => write!(f, "d{d}.{id}"),
        }
    }
}

/// One order ready to be written: merged facts plus the derived columns.
pub(crate) struct OrderRow {
    pub channel: String,
    pub external_id: String,
    pub number: String,
    pub state: &'static str,
    pub customer_email: Option<String>,
    pub data: String,
    pub placed_at: i64,
    pub shipped_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub ship_by: i64,
    pub at_risk_from: i64,
    pub awaiting_ship_by: Option<i64>,
    pub alert_due_at: Option<i64>,
    pub as_of: i64,
}

impl OrderRow {
    pub(crate) fn new(o: &NewOrder, policy: &ShipByPolicy) -> Self {
        let sb = policy.ship_by(o.channel.as_str(), o.placed_at, o.latest_ship_date);
        let awaiting = o.awaiting_shipment();
        let closed = match (o.cancelled_at, o.refunded_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Self {
            channel: o.channel.as_str().to_string(),
            external_id: o.external_id.clone(),
            number: o.number.clone(),
            state: o.state().as_str(),
            customer_email: o.customer.email.clone(),
            data: serde_json::to_string(o).expect("orders always serialise"),
            placed_at: to_micros(o.placed_at),
            shipped_at: o.shipped_at.map(to_micros),
            closed_at: closed.map(to_micros),
            ship_by: to_micros(sb.deadline),
            at_risk_from: to_micros(sb.at_risk_from),
            awaiting_ship_by: awaiting.then(|| to_micros(sb.deadline)),
            alert_due_at: awaiting.then(|| to_micros(sb.at_risk_from)),
            as_of: to_micros(o.as_of),
        }
    }
}

/// An order's identity: (channel, external id).
pub(crate) type OrderKey = (String, String);

/// Folds repeats of the same order within one batch, keeping first-seen order.
pub(crate) fn fold_batch(orders: &[NewOrder]) -> (Vec<OrderKey>, HashMap<OrderKey, NewOrder>) {
    let mut keys = Vec::new();
    let mut map: HashMap<OrderKey, NewOrder> = HashMap::with_capacity(orders.len());
    for o in orders {
        let k = (o.channel.as_str().to_string(), o.external_id.clone());
        match map.get_mut(&k) {
            Some(acc) => *acc = acc.merge(o),
            None => {
                keys.push(k.clone());
                map.insert(k, o.clone());
            }
        }
    }
    (keys, map)
}

pub(crate) fn placeholders(start: usize, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    let mut n = start;
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            s.push('$');
            s.push_str(&n.to_string());
            n += 1;
        }
        s.push(')');
    }
    s
}

pub(crate) fn decode_order(
    id: i64,
    data: &str,
    ship_by: i64,
    at_risk_from: i64,
    created_at: i64,
    updated_at: i64,
    now: Timestamp,
) -> crate::Result<Order> {
    let facts: NewOrder = serde_json::from_str(data)
        .map_err(|e| crate::StoreError::Corrupt(format!("order {id}: {e}")))?;
    let sb = ShipBy {
        deadline: from_micros(ship_by),
        at_risk_from: from_micros(at_risk_from),
    };
    let closed_unshipped = facts.shipped_at.is_none() && !facts.awaiting_shipment();
    Ok(Order {
        id,
        state: facts.state(),
        ship_by_state: ShipByState::at(now, sb, facts.shipped_at, closed_unshipped),
        ship_by: sb.deadline,
        at_risk_from: sb.at_risk_from,
        created_at: from_micros(created_at),
        updated_at: from_micros(updated_at),
        facts,
    })
}

/// The WHERE clause, ordering and binds for a list of orders.
pub(crate) fn order_list_sql(f: &crate::OrderFilter, now: Timestamp) -> (String, Vec<Bind>) {
    let now = to_micros(now);
    let mut sql = String::from(
        "SELECT id, data, ship_by, at_risk_from, created_at, updated_at, awaiting_ship_by FROM orders WHERE 1=1",
    );
    let mut binds = Vec::new();
    let p = |binds: &mut Vec<Bind>, b: Bind| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if let Some(s) = f.state {
        let ph = p(&mut binds, Bind::Text(s.as_str().into()));
        sql += &format!(" AND state = {ph}");
    }
    if let Some(c) = &f.channel {
        let ph = p(&mut binds, Bind::Text(c.clone()));
        sql += &format!(" AND channel = {ph}");
    }
    if let Some(t) = f.placed_from {
        let ph = p(&mut binds, Bind::I64(to_micros(t)));
        sql += &format!(" AND placed_at >= {ph}");
    }
    if let Some(t) = f.placed_to {
        let ph = p(&mut binds, Bind::I64(to_micros(t)));
        sql += &format!(" AND placed_at < {ph}");
    }
    let by_deadline = matches!(
        f.ship_by_state,
        Some(ShipByState::OnTrack | ShipByState::AtRisk | ShipByState::Late)
    );
    match f.ship_by_state {
        None => {}
        Some(ShipByState::OnTrack) => {
            let ph = p(&mut binds, Bind::I64(now));
            sql += &format!(" AND awaiting_ship_by IS NOT NULL AND at_risk_from > {ph}");
        }
        Some(ShipByState::AtRisk) => {
            let a = p(&mut binds, Bind::I64(now));
            let b = p(&mut binds, Bind::I64(now));
            sql += &format!(" AND awaiting_ship_by > {a} AND at_risk_from <= {b}");
        }
        Some(ShipByState::Late) => {
            let ph = p(&mut binds, Bind::I64(now));
            sql += &format!(" AND awaiting_ship_by <= {ph}");
        }
        Some(ShipByState::ShippedOnTime) => {
            sql += " AND shipped_at IS NOT NULL AND shipped_at <= ship_by";
        }
        Some(ShipByState::ShippedLate) => {
            sql += " AND shipped_at IS NOT NULL AND shipped_at > ship_by";
        }
    }
    match (f.cursor, by_deadline) {
        (Some(crate::Cursor::ByDeadline(d, id)), true) => {
            let a = p(&mut binds, Bind::I64(d));
            let b = p(&mut binds, Bind::I64(d));
            let c = p(&mut binds, Bind::I64(id));
            sql +=
                &format!(" AND (awaiting_ship_by > {a} OR (awaiting_ship_by = {b} AND id > {c}))");
        }
        (Some(crate::Cursor::ById(id)), false) => {
            let ph = p(&mut binds, Bind::I64(id));
            sql += &format!(" AND id < {ph}");
        }
        _ => {}
    }
    if by_deadline {
        sql += " ORDER BY awaiting_ship_by, id";
    } else {
        sql += " ORDER BY id DESC";
    }
    let ph = p(&mut binds, Bind::I64(f.limit.clamp(1, 1000) as i64 + 1));
    sql += &format!(" LIMIT {ph}");
    (sql, binds)
}

pub(crate) fn event_kind(s: &str) -> crate::Result<OrderEventKind> {
    OrderEventKind::parse(s)
        .ok_or_else(|| crate::StoreError::Corrupt(format!("unknown event kind {s:?}")))
}

pub(crate) fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

macro_rules! store_impl {
    ($store:ty, $db:ty, $kind:literal) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn kind(&self) -> &'static str {
                $kind
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("SELECT 1").execute(self.read_pool()).await?;
                Ok(())
            }

            async fn upsert_orders(
                &self,
                orders: &[herald_core::order::NewOrder],
                policy: &herald_core::deadline::ShipByPolicy,
                now: jiff::Timestamp,
            ) -> $crate::Result<Vec<$crate::Upserted>> {
                use $crate::sql::*;
                use sqlx::Row as _;
                use std::collections::HashMap;
                if orders.is_empty() {
                    return Ok(Vec::new());
                }
                let now_us = herald_core::time::to_micros(now);
                let (keys, incoming) = fold_batch(orders);
                let mut tx = self.begin_write().await?;
                Self::lock_order_keys(&mut tx, &keys).await?;

                // What is stored already, per channel, in chunks.
                let mut existing: HashMap<(String, String), (i64, herald_core::order::NewOrder)> =
                    HashMap::new();
                let mut by_channel: HashMap<&str, Vec<&str>> = HashMap::new();
                for (c, e) in &keys {
                    by_channel.entry(c.as_str()).or_default().push(e.as_str());
                }
                for (channel, ids) in by_channel {
                    for chunk in ids.chunks(CHUNK) {
                        let mut sql = String::from(
                            "SELECT id, external_id, data FROM orders WHERE channel = $1 AND external_id IN (",
                        );
                        for i in 0..chunk.len() {
                            if i > 0 {
                                sql.push(',');
                            }
                            sql += &format!("${}", i + 2);
                        }
                        sql.push(')');
                        let mut q = sqlx::query::<$db>(sqlx::AssertSqlSafe(sql)).bind(channel);
                        for id in chunk {
                            q = q.bind(*id);
                        }
                        for row in q.fetch_all(&mut *tx).await? {
                            let id: i64 = row.try_get(0)?;
                            let ext: String = row.try_get(1)?;
                            let data: String = row.try_get(2)?;
                            let facts = serde_json::from_str(&data).map_err(|e| {
                                $crate::StoreError::Corrupt(format!("order {id}: {e}"))
                            })?;
                            existing.insert((channel.to_string(), ext), (id, facts));
                        }
                    }
                }

                // Merge, and keep only what changes.
                let mut outcomes: HashMap<(String, String), $crate::Upserted> = HashMap::new();
                let mut rows: Vec<OrderRow> = Vec::new();
                let mut events: Vec<((String, String), herald_core::order::OrderEventKind, i64)> =
                    Vec::new();
                for k in &keys {
                    let inc = &incoming[k];
                    let (merged, old, id) = match existing.get(k) {
                        Some((id, old)) => (old.merge(inc), Some(old), Some(*id)),
                        None => (inc.clone(), None, None),
                    };
                    if let (Some(old), Some(id)) = (old, id)
                        && *old == merged
                    {
                        outcomes.insert(
                            k.clone(),
                            $crate::Upserted { id, outcome: $crate::UpsertOutcome::Unchanged },
                        );
                        continue;
                    }
                    for (kind, at) in herald_core::order::NewOrder::new_events(old, &merged) {
                        events.push((k.clone(), kind, herald_core::time::to_micros(at)));
                    }
                    let outcome = if old.is_some() {
                        $crate::UpsertOutcome::Updated
                    } else {
                        $crate::UpsertOutcome::Created
                    };
                    outcomes.insert(k.clone(), $crate::Upserted { id: id.unwrap_or(0), outcome });
                    rows.push(OrderRow::new(&merged, policy));
                }

                // Write the orders; RETURNING gives the ids of new ones.
                for chunk in rows.chunks(CHUNK) {
                    let sql = format!(
                        "INSERT INTO orders (channel, external_id, number, state, customer_email, data, placed_at, shipped_at, closed_at, ship_by, at_risk_from, awaiting_ship_by, alert_due_at, as_of, created_at, updated_at) VALUES {} \
                         ON CONFLICT (channel, external_id) DO UPDATE SET number = excluded.number, state = excluded.state, customer_email = excluded.customer_email, data = excluded.data, placed_at = excluded.placed_at, shipped_at = excluded.shipped_at, closed_at = excluded.closed_at, ship_by = excluded.ship_by, at_risk_from = excluded.at_risk_from, awaiting_ship_by = excluded.awaiting_ship_by, alert_due_at = excluded.alert_due_at, as_of = excluded.as_of, updated_at = excluded.updated_at \
                         RETURNING id, channel, external_id",
                        placeholders(1, chunk.len(), 16)
                    );
                    let mut q = sqlx::query::<$db>(sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        q = q
                            .bind(r.channel.as_str())
                            .bind(r.external_id.as_str())
                            .bind(r.number.as_str())
                            .bind(r.state)
                            .bind(r.customer_email.as_deref())
                            .bind(r.data.as_str())
                            .bind(r.placed_at)
                            .bind(r.shipped_at)
                            .bind(r.closed_at)
                            .bind(r.ship_by)
                            .bind(r.at_risk_from)
                            .bind(r.awaiting_ship_by)
                            .bind(r.alert_due_at)
                            .bind(r.as_of)
                            .bind(now_us)
                            .bind(now_us);
                    }
                    for row in q.fetch_all(&mut *tx).await? {
                        let id: i64 = row.try_get(0)?;
                        let key = (row.try_get::<String, _>(1)?, row.try_get::<String, _>(2)?);
                        if let Some(o) = outcomes.get_mut(&key) {
                            o.id = id;
                        }
                    }
                }

                // The lifecycle events the merge produced.
                for chunk in events.chunks(CHUNK) {
                    let sql = format!(
                        "INSERT INTO order_events (order_id, kind, at, recorded_at) VALUES {} \
                         ON CONFLICT (order_id, kind) DO UPDATE SET at = excluded.at",
                        placeholders(1, chunk.len(), 4)
                    );
                    let mut q = sqlx::query::<$db>(sqlx::AssertSqlSafe(sql));
                    for (k, kind, at) in chunk {
                        q = q.bind(outcomes[k].id).bind(kind.as_str()).bind(*at).bind(now_us);
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(orders
                    .iter()
                    .map(|o| outcomes[&(o.channel.as_str().to_string(), o.external_id.clone())])
                    .collect())
            }

            async fn get_order(
                &self,
                id: i64,
                now: jiff::Timestamp,
            ) -> $crate::Result<Option<herald_core::order::Order>> {
                use sqlx::Row as _;
                let row = sqlx::query::<$db>(
                    "SELECT id, data, ship_by, at_risk_from, created_at, updated_at FROM orders WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(self.read_pool())
                .await?;
                match row {
                    None => Ok(None),
                    Some(r) => Ok(Some($crate::sql::decode_order(
                        r.try_get(0)?,
                        r.try_get::<&str, _>(1)?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        r.try_get(4)?,
                        r.try_get(5)?,
                        now,
                    )?)),
                }
            }

            async fn list_orders(
                &self,
                filter: &$crate::OrderFilter,
                now: jiff::Timestamp,
            ) -> $crate::Result<$crate::Page<herald_core::order::Order>> {
                use sqlx::Row as _;
                let (sql, binds) = $crate::sql::order_list_sql(filter, now);
                let mut q = sqlx::query::<$db>(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    q = match b {
                        $crate::sql::Bind::I64(v) => q.bind(v),
                        $crate::sql::Bind::Text(s) => q.bind(s),
                    };
                }
                let rows = q.fetch_all(self.read_pool()).await?;
                let limit = filter.limit.clamp(1, 1000) as usize;
                let mut items = Vec::with_capacity(rows.len().min(limit));
                let mut last_key = None;
                for r in rows.iter().take(limit) {
                    let id: i64 = r.try_get(0)?;
                    last_key = Some((id, r.try_get::<Option<i64>, _>(6)?));
                    items.push($crate::sql::decode_order(
                        id,
                        r.try_get::<&str, _>(1)?,
                        r.try_get(2)?,
                        r.try_get(3)?,
                        r.try_get(4)?,
                        r.try_get(5)?,
                        now,
                    )?);
                }
                let by_deadline = matches!(
                    filter.ship_by_state,
                    Some(
                        herald_core::ShipByState::OnTrack
                            | herald_core::ShipByState::AtRisk
                            | herald_core::ShipByState::Late
                    )
                );
                let next_cursor = match last_key {
                    Some((id, awaiting)) if rows.len() > limit => Some(
                        if by_deadline {
                            $crate::Cursor::ByDeadline(awaiting.unwrap_or(0), id)
                        } else {
                            $crate::Cursor::ById(id)
                        }
                        .to_string(),
                    ),
                    _ => None,
                };
                Ok($crate::Page { items, next_cursor })
            }

            async fn order_events(&self, id: i64) -> $crate::Result<Vec<$crate::OrderEvent>> {
                use sqlx::Row as _;
                let rows = sqlx::query::<$db>(
                    "SELECT kind, at, recorded_at FROM order_events WHERE order_id = $1 ORDER BY at, id",
                )
                .bind(id)
                .fetch_all(self.read_pool())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::OrderEvent {
                            kind: $crate::sql::event_kind(r.try_get::<&str, _>(0)?)?,
                            at: herald_core::time::from_micros(r.try_get(1)?),
                            recorded_at: herald_core::time::from_micros(r.try_get(2)?),
                        })
                    })
                    .collect()
            }

            async fn raise_due_alerts(&self, now: jiff::Timestamp, limit: u32) -> $crate::Result<u64> {
                use sqlx::Row as _;
                let now_us = herald_core::time::to_micros(now);
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "SELECT id, number, channel, ship_by, awaiting_ship_by FROM orders WHERE alert_due_at <= $1 ORDER BY alert_due_at LIMIT $2{}",
                    Self::SKIP_LOCKED
                );
                let due = sqlx::query::<$db>(sqlx::AssertSqlSafe(sql))
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
                    let deadline = herald_core::time::rfc3339(herald_core::time::from_micros(ship_by));
                    let (alert, next_due) = match awaiting {
                        None => (None, None),
                        Some(_) if now_us >= ship_by => (
                            Some(("order_late", format!("Order {number} ({channel}) missed its ship-by deadline {deadline} and has not shipped."))),
                            None,
                        ),
                        Some(_) => (
                            Some(("order_at_risk", format!("Order {number} ({channel}) is at risk: it must ship by {deadline}."))),
                            Some(ship_by),
                        ),
                    };
                    if let Some((kind, message)) = alert {
                        let res = sqlx::query::<$db>(
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
                    sqlx::query::<$db>("UPDATE orders SET alert_due_at = $1 WHERE id = $2")
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
            ) -> $crate::Result<Vec<$crate::Alert>> {
                use sqlx::Row as _;
                let rows = sqlx::query::<$db>(
                    "SELECT id, kind, order_id, message, due_at, raised_at FROM alerts WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after_id.unwrap_or(0))
                .bind(limit.clamp(1, 1000) as i64)
                .fetch_all(self.read_pool())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::Alert {
                            id: r.try_get(0)?,
                            kind: r.try_get(1)?,
                            order_id: r.try_get(2)?,
                            message: r.try_get(3)?,
                            due_at: r.try_get::<Option<i64>, _>(4)?.map(herald_core::time::from_micros),
                            raised_at: herald_core::time::from_micros(r.try_get(5)?),
                        })
                    })
                    .collect()
            }

            async fn shipping_window(
                &self,
                days: u32,
                now: jiff::Timestamp,
            ) -> $crate::Result<$crate::ShippingWindow> {
                use sqlx::Row as _;
                let now_us = herald_core::time::to_micros(now);
                let from = now_us - days as i64 * 86_400_000_000;
                let due = sqlx::query::<$db>(
                    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN shipped_at IS NULL OR shipped_at > ship_by THEN 1 ELSE 0 END), 0) \
                     FROM orders WHERE ship_by > $1 AND ship_by <= $2 AND (shipped_at IS NOT NULL OR closed_at IS NULL)",
                )
                .bind(from)
                .bind(now_us)
                .fetch_one(self.read_pool())
                .await?;
                let placed = sqlx::query::<$db>(
                    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN closed_at IS NOT NULL AND shipped_at IS NULL THEN 1 ELSE 0 END), 0) \
                     FROM orders WHERE placed_at > $1 AND placed_at <= $2",
                )
                .bind(from)
                .bind(now_us)
                .fetch_one(self.read_pool())
                .await?;
                let orders_due = due.try_get::<i64, _>(0)? as u64;
                let shipped_late = due.try_get::<i64, _>(1)? as u64;
                let orders_placed = placed.try_get::<i64, _>(0)? as u64;
                let cancelled = placed.try_get::<i64, _>(1)? as u64;
                Ok($crate::ShippingWindow {
                    days,
                    orders_due,
                    shipped_late,
                    late_shipment_rate: $crate::sql::rate(shipped_late, orders_due),
                    orders_placed,
                    cancelled_before_shipping: cancelled,
                    pre_fulfilment_cancel_rate: $crate::sql::rate(cancelled, orders_placed),
                })
            }

            async fn count_orders(&self) -> $crate::Result<u64> {
                let n: i64 = sqlx::query_scalar::<$db, i64>("SELECT COUNT(*) FROM orders")
                    .fetch_one(self.read_pool())
                    .await?;
                Ok(n as u64)
            }

            async fn create_token(
                &self,
                name: &str,
                token_hash: &str,
                now: jiff::Timestamp,
            ) -> $crate::Result<()> {
                let res = sqlx::query::<$db>(
                    "INSERT INTO api_tokens (name, token_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(token_hash)
                .bind(herald_core::time::to_micros(now))
                .execute(self.write_pool())
                .await?;
                if res.rows_affected() == 0 {
                    return Err($crate::StoreError::Conflict(format!(
                        "a token named {name:?} already exists: choose another name, or revoke it first with `herald token revoke --name {name}`"
                    )));
                }
                Ok(())
            }

            async fn token_name(&self, token_hash: &str) -> $crate::Result<Option<String>> {
                Ok(sqlx::query_scalar::<$db, String>(
                    "SELECT name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(self.read_pool())
                .await?)
            }

            async fn list_tokens(&self) -> $crate::Result<Vec<$crate::TokenInfo>> {
                use sqlx::Row as _;
                let rows = sqlx::query::<$db>(
                    "SELECT name, created_at, revoked_at FROM api_tokens ORDER BY id",
                )
                .fetch_all(self.read_pool())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::TokenInfo {
                            name: r.try_get(0)?,
                            created_at: herald_core::time::from_micros(r.try_get(1)?),
                            revoked_at: r.try_get::<Option<i64>, _>(2)?.map(herald_core::time::from_micros),
                        })
                    })
                    .collect()
            }

            async fn revoke_token(&self, name: &str, now: jiff::Timestamp) -> $crate::Result<bool> {
                // A revoked token frees its name: it is renamed out of the way.
                let res = sqlx::query::<$db>(
                    "UPDATE api_tokens SET revoked_at = $1, name = name || ' (revoked ' || CAST(id AS TEXT) || ')' WHERE name = $2 AND revoked_at IS NULL",
                )
                .bind(herald_core::time::to_micros(now))
                .bind(name)
                .execute(self.write_pool())
                .await?;
                Ok(res.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use store_impl;
