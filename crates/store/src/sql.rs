//! The SQL that both databases run, written once.
//!
//! The merge planning, derived columns, list queries and alert rules live here as plain
//! functions; `postgres.rs` (sqlx) and `sqlite.rs` (rusqlite) only move rows in and out.
//! Placeholders are written `$N`; PostgreSQL takes them as they are and `sqlite.rs` rewrites
//! them to `?N`, which SQLite binds by number.

use herald_core::deadline::{ShipBy, ShipByPolicy, ShipByState};
use herald_core::order::{NewOrder, Order, OrderEventKind};
use herald_core::time::{from_micros, to_micros};
use jiff::Timestamp;
use std::collections::HashMap;

/// Rows per multi-row statement on PostgreSQL: far under its 65,535 bind parameters.
pub(crate) const CHUNK: usize = 400;

/// A value bound to a dynamically built statement.
pub(crate) enum Bind {
    I64(i64),
    Text(String),
}

/// Where a list page starts: after an id (newest first), after a deadline (most urgent first)
/// or after a placing time (newest placed first, for lists of a date range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    ById(i64),
    ByDeadline(i64, i64),
    /// Placed at (µs), id.
    ByPlaced(i64, i64),
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Self> {
        let pair = |rest: &str| -> Option<(i64, i64)> {
            let (a, b) = rest.split_once('.')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        };
        if let Some(rest) = s.strip_prefix('d') {
            pair(rest).map(|(d, id)| Self::ByDeadline(d, id))
        } else if let Some(rest) = s.strip_prefix('p') {
            pair(rest).map(|(at, id)| Self::ByPlaced(at, id))
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
            Self::ByPlaced(at, id) => write!(f, "p{at}.{id}"),
        }
    }
}

/// The order a list of orders comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListOrder {
    /// Newest first (by id): the default.
    Newest,
    /// Most urgent first: the lists of orders still to ship by a deadline.
    Deadline,
    /// Newest placed first: lists of a date range. They walk the `placed_at` index in order
    /// (SQLite keeps its entries in id order within one instant; PostgreSQL sorts only the
    /// orders placed in the same instant) and stop after a page, where ordering them by id
    /// sorted every order in the range for each page (2.1 s a page for a year's million).
    Placed,
}

impl ListOrder {
    fn of(f: &crate::OrderFilter) -> Self {
        if matches!(
            f.ship_by_state,
            Some(ShipByState::OnTrack | ShipByState::AtRisk | ShipByState::Late)
        ) {
            Self::Deadline
        } else if f.placed_from.is_some() || f.placed_to.is_some() {
            Self::Placed
        } else {
            Self::Newest
        }
    }
}

/// The last row of a page of orders: id, awaiting ship-by (µs), placed at (µs).
pub(crate) type ListKey = (i64, Option<i64>, i64);

/// One order ready to be written: merged facts plus the derived columns.
pub(crate) struct OrderRow {
    pub channel: String,
    pub external_id: String,
    pub number: String,
    pub state: &'static str,
    pub customer_email: Option<String>,
    pub data: String,
    pub history: String,
    pub placed_at: i64,
    pub shipped_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub ship_by: i64,
    pub at_risk_from: i64,
    pub awaiting_ship_by: Option<i64>,
    pub alert_due_at: Option<i64>,
    pub as_of: i64,
    /// The buyer tracking page's token (used only when the order is new).
    pub page_token: String,
}

/// A buyer tracking page token: 128 random bits (rand's thread generator, a CSPRNG seeded by the
/// operating system) after the time it was made, 48 hex digits in all. The random part makes
/// it unguessable; the time in front makes new tokens sort after old ones, so the unique index
/// grows at its end like any time-ordered key (a purely random key cost a third of the order
/// ingest rate in the benchmark, by scattering index writes over every page).
pub(crate) fn new_page_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    let micros = jiff::Timestamp::now().as_microsecond().max(0) as u64;
    bytes[..8].copy_from_slice(&micros.to_be_bytes());
    rand::rng().fill_bytes(&mut bytes[8..]);
    hex::encode(bytes)
}

impl OrderRow {
    /// The row of an order not stored yet: its history is the steps it arrives with.
    pub(crate) fn for_new(o: &NewOrder, policy: &ShipByPolicy, now: Timestamp) -> Self {
        let history = merge_history(&[], NewOrder::new_events(None, o), now);
        Self::new(o, policy, &history)
    }

    pub(crate) fn new(o: &NewOrder, policy: &ShipByPolicy, history: &[crate::OrderEvent]) -> Self {
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
            history: serde_json::to_string(history).expect("history always serialises"),
            placed_at: to_micros(o.placed_at),
            shipped_at: o.shipped_at.map(to_micros),
            closed_at: closed.map(to_micros),
            ship_by: to_micros(sb.deadline),
            at_risk_from: to_micros(sb.at_risk_from),
            awaiting_ship_by: awaiting.then(|| to_micros(sb.deadline)),
            alert_due_at: awaiting.then(|| to_micros(sb.at_risk_from)),
            as_of: to_micros(o.as_of),
            page_token: new_page_token(),
        }
    }
}

/// An order's identity: (channel, external id).
pub(crate) type OrderKey = (String, String);

/// One batch with repeats folded: each distinct order once (its versions merged), in first-seen
/// order, and for every input the position of its order.
pub(crate) struct FoldedBatch {
    pub keys: Vec<OrderKey>,
    pub orders: Vec<NewOrder>,
    pub input_slot: Vec<usize>,
}

pub(crate) fn fold_batch(input: &[NewOrder]) -> FoldedBatch {
    let mut slots: HashMap<(&str, &str), usize> = HashMap::with_capacity(input.len());
    let mut batch = FoldedBatch {
        keys: Vec::with_capacity(input.len()),
        orders: Vec::with_capacity(input.len()),
        input_slot: Vec::with_capacity(input.len()),
    };
    for o in input {
        let slot = match slots.get(&(o.channel.as_str(), o.external_id.as_str())) {
            Some(&i) => {
                batch.orders[i] = batch.orders[i].merge(o);
                i
            }
            None => {
                let i = batch.orders.len();
                slots.insert((o.channel.as_str(), o.external_id.as_str()), i);
                batch
                    .keys
                    .push((o.channel.as_str().to_string(), o.external_id.clone()));
                batch.orders.push(o.clone());
                i
            }
        };
        batch.input_slot.push(slot);
    }
    batch
}

/// An order as stored: its id, merged facts and history.
#[derive(Clone)]
pub(crate) struct Stored {
    pub id: i64,
    pub facts: NewOrder,
    pub history: Vec<crate::OrderEvent>,
}

impl Stored {
    pub(crate) fn decode(id: i64, data: &str, history: &str) -> crate::Result<Self> {
        let corrupt = |e: serde_json::Error| crate::StoreError::Corrupt(format!("order {id}: {e}"));
        Ok(Self {
            id,
            facts: serde_json::from_str(data).map_err(corrupt)?,
            history: decode_history(id, history)?,
        })
    }
}

/// Reads an order's stored history, in the order things happened.
pub(crate) fn decode_history(id: i64, history: &str) -> crate::Result<Vec<crate::OrderEvent>> {
    serde_json::from_str(history)
        .map(in_history_order)
        .map_err(|e| crate::StoreError::Corrupt(format!("order {id}: {e}")))
}

/// Adds newly reported steps to a history: a step seen before keeps when herald learnt of it
/// and takes the (earlier) instant now reported; a new step is recorded at `now`.
pub(crate) fn merge_history(
    old: &[crate::OrderEvent],
    new: Vec<(OrderEventKind, Timestamp)>,
    now: Timestamp,
) -> Vec<crate::OrderEvent> {
    let mut out = old.to_vec();
    for (kind, at) in new {
        match out.iter_mut().find(|e| e.kind == kind) {
            Some(e) => e.at = at,
            None => out.push(crate::OrderEvent {
                kind,
                at,
                recorded_at: now,
            }),
        }
    }
    in_history_order(out)
}

/// What one upsert batch will write: the rows that change (with their slot in the folded
/// batch) and one outcome per slot (ids of new orders are filled in after the insert).
pub(crate) struct UpsertPlan {
    pub rows: Vec<(usize, OrderRow)>,
    pub outcomes: Vec<crate::Upserted>,
    /// Messages the writes owe customers: (slot, kind, moment in µs), enqueued in the same
    /// transaction once new orders have their ids.
    pub messages: Vec<(usize, herald_core::notify::MessageKind, i64)>,
}

/// Merges each incoming order with what is stored (`existing`, by slot) and keeps only what
/// changes.
///
/// `prepared` may hold, per slot, the row computed in advance with [`OrderRow::for_new`] (what
/// a new order writes), so that work can happen off the writer; it is used only for orders not
/// stored yet.
pub(crate) fn plan_upsert(
    incoming: &[NewOrder],
    existing: &[Option<Stored>],
    policy: &ShipByPolicy,
    mut prepared: Option<Vec<Option<OrderRow>>>,
    now: Timestamp,
) -> UpsertPlan {
    let mut plan = UpsertPlan {
        rows: Vec::with_capacity(incoming.len()),
        outcomes: Vec::with_capacity(incoming.len()),
        messages: Vec::new(),
    };
    for (slot, inc) in incoming.iter().enumerate() {
        match &existing[slot] {
            None => {
                plan.outcomes.push(crate::Upserted {
                    id: 0,
                    outcome: crate::UpsertOutcome::Created,
                });
                plan.messages.extend(
                    crate::outbox::order_messages(None, inc)
                        .into_iter()
                        .map(|(k, at)| (slot, k, at)),
                );
                let ready = prepared
                    .as_mut()
                    .and_then(|p| p.get_mut(slot).and_then(Option::take));
                plan.rows.push((
                    slot,
                    ready.unwrap_or_else(|| OrderRow::for_new(inc, policy, now)),
                ));
            }
            Some(stored) => {
                let merged = stored.facts.merge(inc);
                if merged == stored.facts {
                    plan.outcomes.push(crate::Upserted {
                        id: stored.id,
                        outcome: crate::UpsertOutcome::Unchanged,
                    });
                    continue;
                }
                plan.messages.extend(
                    crate::outbox::order_messages(Some(&stored.facts), &merged)
                        .into_iter()
                        .map(|(k, at)| (slot, k, at)),
                );
                let history = merge_history(
                    &stored.history,
                    NewOrder::new_events(Some(&stored.facts), &merged),
                    now,
                );
                plan.outcomes.push(crate::Upserted {
                    id: stored.id,
                    outcome: crate::UpsertOutcome::Updated,
                });
                plan.rows
                    .push((slot, OrderRow::new(&merged, policy, &history)));
            }
        }
    }
    plan
}

/// The alert an order due for a sweep raises now (kind, message), and when it is next due.
pub(crate) fn due_alert(
    now_us: i64,
    number: &str,
    channel: &str,
    ship_by: i64,
    awaiting: Option<i64>,
) -> (Option<(&'static str, String)>, Option<i64>) {
    let deadline = crate::sql::deadline_text(ship_by);
    match awaiting {
        None => (None, None),
        Some(_) if now_us >= ship_by => (
            Some((
                "order_late",
                format!(
                    "Order {number} ({channel}) missed its ship-by deadline {deadline} and has not shipped."
                ),
            )),
            None,
        ),
        Some(_) => (
            Some((
                "order_at_risk",
                format!("Order {number} ({channel}) is at risk: it must ship by {deadline}."),
            )),
            Some(ship_by),
        ),
    }
}

pub(crate) fn deadline_text(us: i64) -> String {
    herald_core::time::rfc3339(from_micros(us))
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
        "SELECT id, data, ship_by, at_risk_from, created_at, updated_at, awaiting_ship_by, placed_at FROM orders WHERE 1=1",
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
    let order = ListOrder::of(f);
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
    // A cursor of another list's order starts from the first page.
    match (f.cursor, order) {
        (Some(crate::Cursor::ByDeadline(d, id)), ListOrder::Deadline) => {
            let a = p(&mut binds, Bind::I64(d));
            let b = p(&mut binds, Bind::I64(d));
            let c = p(&mut binds, Bind::I64(id));
            sql +=
                &format!(" AND (awaiting_ship_by > {a} OR (awaiting_ship_by = {b} AND id > {c}))");
        }
        (Some(crate::Cursor::ByPlaced(at, id)), ListOrder::Placed) => {
            let a = p(&mut binds, Bind::I64(at));
            let b = p(&mut binds, Bind::I64(at));
            let c = p(&mut binds, Bind::I64(id));
            sql += &format!(" AND (placed_at < {a} OR (placed_at = {b} AND id < {c}))");
        }
        (Some(crate::Cursor::ById(id)), ListOrder::Newest) => {
            let ph = p(&mut binds, Bind::I64(id));
            sql += &format!(" AND id < {ph}");
        }
        _ => {}
    }
    sql += match order {
        ListOrder::Deadline => " ORDER BY awaiting_ship_by, id",
        ListOrder::Placed => " ORDER BY placed_at DESC, id DESC",
        ListOrder::Newest => " ORDER BY id DESC",
    };
    let ph = p(&mut binds, Bind::I64(f.limit.clamp(1, 1000) as i64 + 1));
    sql += &format!(" LIMIT {ph}");
    (sql, binds)
}

pub(crate) fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Orders due in a window, and how many of them shipped late or not at all ($1 from, $2 to).
pub(crate) const LATE_SHIPMENTS_SQL: &str = "SELECT COUNT(*), COALESCE(SUM(CASE WHEN shipped_at IS NULL OR shipped_at > ship_by THEN 1 ELSE 0 END), 0) \
     FROM orders WHERE ship_by > $1 AND ship_by <= $2 AND (shipped_at IS NOT NULL OR closed_at IS NULL)";

/// Orders placed in a window, and how many were cancelled before shipping ($1 from, $2 to).
pub(crate) const PRE_FULFILMENT_CANCELS_SQL: &str = "SELECT COUNT(*), COALESCE(SUM(CASE WHEN closed_at IS NOT NULL AND shipped_at IS NULL THEN 1 ELSE 0 END), 0) \
     FROM orders WHERE placed_at > $1 AND placed_at <= $2";

/// Revokes a live token by name ($2) at $1; the revoked row is renamed so the name is free again.
pub(crate) const REVOKE_TOKEN_SQL: &str = "UPDATE api_tokens SET revoked_at = $1, name = name || ' (revoked ' || CAST(id AS TEXT) || ')' WHERE name = $2 AND revoked_at IS NULL";

pub(crate) fn shipping_window(
    days: u32,
    orders_due: i64,
    shipped_late: i64,
    orders_placed: i64,
    cancelled: i64,
) -> crate::ShippingWindow {
    let (due, late, placed, cancelled) = (
        orders_due as u64,
        shipped_late as u64,
        orders_placed as u64,
        cancelled as u64,
    );
    crate::ShippingWindow {
        days,
        orders_due: due,
        shipped_late: late,
        late_shipment_rate: rate(late, due),
        orders_placed: placed,
        cancelled_before_shipping: cancelled,
        pre_fulfilment_cancel_rate: rate(cancelled, placed),
    }
}

/// An order's history in the order things happened; steps at the same instant in lifecycle
/// order (placed before paid, partially shipped before shipped).
pub(crate) fn in_history_order(mut events: Vec<crate::OrderEvent>) -> Vec<crate::OrderEvent> {
    events.sort_by_key(|e| (e.at, e.kind));
    events
}

/// The cursor for the page after one that ended at `last`, if there is more.
pub(crate) fn next_cursor(
    filter: &crate::OrderFilter,
    last: Option<ListKey>,
    more: bool,
) -> Option<String> {
    let (id, awaiting, placed) = last.filter(|_| more)?;
    Some(
        match ListOrder::of(filter) {
            ListOrder::Deadline => Cursor::ByDeadline(awaiting.unwrap_or(0), id),
            ListOrder::Placed => Cursor::ByPlaced(placed, id),
            ListOrder::Newest => Cursor::ById(id),
        }
        .to_string(),
    )
}

/// The columns of a shipment row, in [`shipment_from`]'s order.
pub(crate) const SHIPMENT_COLUMNS: &str = "id, order_id, carrier, tracking_number, service, label_created_at, origin_postal_code, destination_postal_code, estimated_delivery, created_at, updated_at";

/// Shipments with their parcel states (`parcel_states`: the tracking state each scan
/// rewrites, kept apart from the shipment's own record; every shipment has one).
pub(crate) const SHIPMENTS_WITH_STATES: &str =
    "shipments JOIN parcel_states ON parcel_states.shipment_id = shipments.id";

/// [`SHIPMENT_COLUMNS`] of [`SHIPMENTS_WITH_STATES`] as the API shows them: updated when the
/// seller's record or the parcel's status last changed.
pub(crate) const SHOWN_SHIPMENT_COLUMNS: &str = "id, order_id, carrier, tracking_number, service, label_created_at, origin_postal_code, destination_postal_code, estimated_delivery, created_at, \
     CASE WHEN changed_at > updated_at THEN changed_at ELSE updated_at END";

/// Creates or updates a shipment by parcel; $1 order, $2 carrier, $3 tracking number, $4
/// service, $5 label created, $6 origin, $7 destination, $8 estimate, $9 now.
/// Its parcel state is written next ([`SET_PARCEL_STATE_SQL`]).
pub(crate) const UPSERT_SHIPMENT_SQL: &str = "INSERT INTO shipments (order_id, carrier, tracking_number, service, label_created_at, origin_postal_code, destination_postal_code, estimated_delivery, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
     ON CONFLICT (carrier, tracking_number) DO UPDATE SET order_id = excluded.order_id, service = COALESCE(excluded.service, shipments.service), label_created_at = COALESCE(excluded.label_created_at, shipments.label_created_at), origin_postal_code = COALESCE(excluded.origin_postal_code, shipments.origin_postal_code), destination_postal_code = COALESCE(excluded.destination_postal_code, shipments.destination_postal_code), estimated_delivery = COALESCE(excluded.estimated_delivery, shipments.estimated_delivery), updated_at = excluded.updated_at";

/// What storing a tracking event needs worked out: its dedupe key and its JSON.
pub(crate) struct PreparedEvent {
    pub dedupe_key: String,
    pub json: String,
}

/// A batch of tracking events with what storing each one needs worked out, before the
/// database's writer is taken.
pub(crate) struct PreparedBatch {
    pub events: Vec<herald_core::tracking::TrackingEvent>,
    /// Each event's, in the same order.
    pub prepared: Vec<PreparedEvent>,
}

impl PreparedBatch {
    pub(crate) fn new(events: Vec<herald_core::tracking::TrackingEvent>) -> Self {
        let prepared = prepare_events(&events);
        Self { events, prepared }
    }
}

pub(crate) fn prepare_events(
    events: &[herald_core::tracking::TrackingEvent],
) -> Vec<PreparedEvent> {
    // A large batch is prepared on two threads: the request's own and one more, as the
    // writer, which every request waits for, starts only once every event is ready.
    const TWO_THREADS_FROM: usize = 256;
    if events.len() < TWO_THREADS_FROM {
        return events.iter().map(prepare_event).collect();
    }
    let (first, second) = events.split_at(events.len() / 2);
    let mut rest = Vec::new();
    let mut out = rayon::in_place_scope(|s| {
        s.spawn(|_| rest = second.iter().map(prepare_event).collect());
        let mut out = Vec::with_capacity(events.len());
        out.extend(first.iter().map(prepare_event));
        out
    });
    out.append(&mut rest);
    out
}

fn prepare_event(e: &herald_core::tracking::TrackingEvent) -> PreparedEvent {
    PreparedEvent {
        dedupe_key: e.dedupe_key(),
        json: {
            // Sized for a usual event, so that the text is not copied as it grows.
            let mut json = Vec::with_capacity(256);
            serde_json::to_writer(&mut json, e).expect("events serialise");
            String::from_utf8(json).expect("JSON is UTF-8")
        },
    }
}

/// Stores one tracking event unless the same event is stored; $1 carrier, $2 tracking number,
/// $3 dedupe key, $4 event JSON, $5 occurred at, $6 now.
pub(crate) const INSERT_TRACKING_EVENT_SQL: &str = "INSERT INTO tracking_events (carrier, tracking_number, dedupe_key, event, occurred_at, received_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe_key) DO NOTHING";

/// All events of one parcel ($1 carrier, $2 tracking number).
pub(crate) const PARCEL_EVENTS_SQL: &str =
    "SELECT event FROM tracking_events WHERE carrier = $1 AND tracking_number = $2";

/// A shipment's id and label time, by parcel ($1 carrier, $2 tracking number).
pub(crate) const SHIPMENT_LABEL_SQL: &str =
    "SELECT id, label_created_at FROM shipments WHERE carrier = $1 AND tracking_number = $2";

/// Sets a parcel's state as worked out from all its events ($1 shipment, $2 status, $3 since,
/// $4 digest, $5 now), creating it for a new shipment.
pub(crate) const SET_PARCEL_STATE_SQL: &str = "INSERT INTO parcel_states (shipment_id, status, status_at, digest, changed_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (shipment_id) DO UPDATE SET status = excluded.status, status_at = excluded.status_at, digest = excluded.digest, changed_at = excluded.changed_at";

/// Keeps a webhook ($1 provider, $2 received at, $3 body, $4 outcome, $5 reason, $6 events).
pub(crate) const INSERT_WEBHOOK_SQL: &str = "INSERT INTO webhook_payloads (provider, received_at, body, outcome, reason, events) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

/// The carrier's new delivery estimate for a parcel ($1 estimate, $2 now, $3 carrier, $4
/// tracking number); the parcel is due for review with it.
pub(crate) const SET_ESTIMATE_SQL: &str = "UPDATE shipments SET estimated_delivery = $1, next_check_at = $2 WHERE carrier = $3 AND tracking_number = $4 AND (estimated_delivery IS NULL OR estimated_delivery <> $1)";

/// Webhooks newest first ($1 dead letters only, $2 before id, $3 limit).
pub(crate) const LIST_WEBHOOKS_SQL: &str = "SELECT id, provider, received_at, body, outcome, reason, events FROM webhook_payloads \
     WHERE ($1 = FALSE OR outcome = 'dead_letter') AND id < $2 ORDER BY id DESC LIMIT $3";

pub(crate) fn decode_tracking_events(
    rows: Vec<String>,
) -> crate::Result<Vec<herald_core::tracking::TrackingEvent>> {
    rows.iter()
        .map(|e| {
            serde_json::from_str(e)
                .map_err(|err| crate::StoreError::Corrupt(format!("tracking event: {err}")))
        })
        .collect()
}

/// The values of one shipment row, as read by either database.
#[derive(Debug, PartialEq)]
pub(crate) struct ShipmentRow {
    pub id: i64,
    pub order_id: i64,
    pub carrier: String,
    pub tracking_number: String,
    pub service: Option<String>,
    pub label_created_at: Option<i64>,
    pub origin_postal_code: Option<String>,
    pub destination_postal_code: Option<String>,
    pub estimated_delivery: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) fn shipment_from(
    r: ShipmentRow,
    events: Vec<herald_core::tracking::TrackingEvent>,
) -> crate::Result<crate::Shipment> {
    // The status from the events themselves: a scan that arrived a moment ago shows at once,
    // before the sweep has stored it.
    let (status, status_at) =
        herald_core::tracking::parcel_status(&events, r.label_created_at.map(from_micros));
    Ok(crate::Shipment {
        status,
        status_at,
        id: r.id,
        order_id: r.order_id,
        carrier: r.carrier,
        tracking_number: r.tracking_number,
        service: r.service,
        label_created_at: r.label_created_at.map(from_micros),
        origin_postal_code: r.origin_postal_code,
        destination_postal_code: r.destination_postal_code,
        estimated_delivery: r.estimated_delivery.map(from_micros),
        created_at: from_micros(r.created_at),
        updated_at: from_micros(r.updated_at),
        events: herald_core::tracking::history(&events),
    })
}

pub(crate) fn order_missing(order_id: i64) -> crate::StoreError {
    crate::StoreError::Missing(
        "order_id",
        format!("there is no order with id {order_id}: send the order first (POST /api/v1/orders)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_cursor_is_one_the_api_wrote_or_refused() {
        assert_eq!(Cursor::parse("i42"), Some(Cursor::ById(42)));
        assert_eq!(
            Cursor::parse("d1765000000000000.7"),
            Some(Cursor::ByDeadline(1_765_000_000_000_000, 7))
        );
        assert_eq!(Cursor::parse("p-5.9"), Some(Cursor::ByPlaced(-5, 9)));
        for text in [
            "",
            "i",
            "d",
            "p",
            "42",
            "x42",
            "I42",
            "i 42",
            "i42 ",
            "i4.2",
            "i9223372036854775808",
            "d1",
            "d1.",
            "d.1",
            "d1.-",
            "p1.2.3",
            "p 1.2",
            "p1.99999999999999999999",
            "i٤٢",
        ] {
            assert_eq!(Cursor::parse(text), None, "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn every_cursor_reads_back_as_written(kind in 0u8..3, a in any::<i64>(), b in any::<i64>()) {
            let cursor = match kind {
                0 => Cursor::ById(a),
                1 => Cursor::ByDeadline(a, b),
                _ => Cursor::ByPlaced(a, b),
            };
            prop_assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
        }

        #[test]
        fn any_text_is_refused_or_reads_back_the_same(text in "[idpx0-9.+ -]{0,24}") {
            if let Some(cursor) = Cursor::parse(&text) {
                prop_assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
            }
        }
    }

    #[test]
    fn history_keeps_when_herald_learnt_and_takes_the_earlier_instant() {
        let first = merge_history(
            &[],
            vec![
                (OrderEventKind::Placed, t("2025-12-01T10:00:00Z")),
                (OrderEventKind::Paid, t("2025-12-01T10:05:00Z")),
            ],
            t("2025-12-01T11:00:00Z"),
        );
        // A later report says payment happened earlier, and the order shipped.
        let second = merge_history(
            &first,
            vec![
                (OrderEventKind::Paid, t("2025-12-01T10:01:00Z")),
                (OrderEventKind::Shipped, t("2025-12-02T09:00:00Z")),
            ],
            t("2025-12-02T10:00:00Z"),
        );
        let kinds: Vec<_> = second.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                OrderEventKind::Placed,
                OrderEventKind::Paid,
                OrderEventKind::Shipped
            ]
        );
        assert_eq!(second[1].at, t("2025-12-01T10:01:00Z"));
        assert_eq!(second[1].recorded_at, t("2025-12-01T11:00:00Z"));
        assert_eq!(second[2].recorded_at, t("2025-12-02T10:00:00Z"));
    }

    #[test]
    fn same_instant_steps_list_in_lifecycle_order() {
        let at = t("2025-12-01T10:00:00Z");
        let h = merge_history(
            &[],
            vec![
                (OrderEventKind::Shipped, at),
                (OrderEventKind::Paid, at),
                (OrderEventKind::Placed, at),
                (OrderEventKind::PartiallyShipped, at),
            ],
            at,
        );
        let kinds: Vec<_> = h.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["placed", "paid", "partially_shipped", "shipped"]);
    }
}
