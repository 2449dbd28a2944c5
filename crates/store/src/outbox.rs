//! The outbox, shared by both databases: the messages a change owes customers (enqueued in
//! the change's own transaction), the sender worker's claim and settle statements, and the
//! seller's saved templates.
//!
//! A message's `dedupe_key` is "order:kind:occurrence" (unique), so a change replayed or
//! re-sent never enqueues the same message twice.

use herald_core::notify::MessageKind;
use herald_core::order::NewOrder;
use herald_core::time::{from_micros, to_micros};
use jiff::Timestamp;
use serde::Serialize;

/// A message a change owes, before it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub order_id: Option<i64>,
    pub kind: MessageKind,
    /// Tells apart two messages of one kind for one order (a shipment id, a case id); empty
    /// when an order has at most one.
    pub occurrence: String,
    /// The moment the message is about.
    pub about_at: Timestamp,
    /// Facts beyond the order, as JSON.
    pub facts: serde_json::Value,
}

impl NewMessage {
    pub fn dedupe_key(&self) -> String {
        let order = self.order_id.map_or("-".to_string(), |o| o.to_string());
        format!("{order}:{}:{}", self.kind.as_str(), self.occurrence)
    }

    pub(crate) fn for_order(
        order_id: i64,
        kind: MessageKind,
        occurrence: impl Into<String>,
        about_us: i64,
        facts: serde_json::Value,
    ) -> Self {
        Self {
            order_id: Some(order_id),
            kind,
            occurrence: occurrence.into(),
            about_at: from_micros(about_us),
            facts,
        }
    }
}

/// $1 dedupe key, $2 order, $3 kind, $4 facts, $5 about at, $6 now, $7 the oldest moment still
/// worth a message, $8 the reason for older ones: a message about a moment long past (a backlog
/// import, say) is recorded as skipped at once and never reaches the sender.
pub(crate) const ENQUEUE_SQL: &str = "INSERT INTO messages (dedupe_key, order_id, kind, facts, about_at, status, next_attempt_at, last_error, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, CASE WHEN $5 < $7 THEN 'skipped' ELSE 'pending' END, CASE WHEN $5 < $7 THEN NULL ELSE $6 END, CASE WHEN $5 < $7 THEN $8 ELSE NULL END, $6, $6) \
     ON CONFLICT (dedupe_key) DO NOTHING";

/// Why a message about a moment older than the window is skipped.
pub(crate) fn stale_reason(window_us: i64) -> String {
    format!(
        "too late to be useful: the moment it is about was more than {} hours past when herald learnt of it (notify.window_hours)",
        window_us / 3_600_000_000
    )
}

/// The bound values of [`ENQUEUE_SQL`] for one message.
pub(crate) fn enqueue_values(m: &NewMessage) -> (String, Option<i64>, &'static str, String, i64) {
    (
        m.dedupe_key(),
        m.order_id,
        m.kind.as_str(),
        m.facts.to_string(),
        to_micros(m.about_at),
    )
}

/// What an order write owes its customer: an acknowledgement when herald first hears of an
/// order (unless it arrives cancelled), and a payment notice when a payment first shows up.
/// Returns (kind, moment) pairs; the caller knows the order id.
pub(crate) fn order_messages(
    before: Option<&NewOrder>,
    after: &NewOrder,
) -> Vec<(MessageKind, i64)> {
    let mut out = Vec::new();
    if before.is_none() && after.cancelled_at.is_none() {
        out.push((MessageKind::OrderAcknowledged, to_micros(after.placed_at)));
    }
    if let (None, Some(paid)) = (before.and_then(|b| b.paid_at), after.paid_at)
        && after.cancelled_at.is_none()
        // Paid with the order (the usual case): the acknowledgement says it all.
        && !(before.is_none() && paid <= after.placed_at + jiff::SignedDuration::from_mins(10))
    {
        out.push((MessageKind::PaymentReceived, to_micros(paid)));
    }
    out
}

/// The shipped notice of a shipment (once per shipment, whatever the number of upserts).
pub(crate) fn shipped_message(
    order_id: i64,
    shipment_id: i64,
    label_created_at: Option<i64>,
    now_us: i64,
) -> NewMessage {
    NewMessage::for_order(
        order_id,
        MessageKind::Shipped,
        shipment_id.to_string(),
        label_created_at.unwrap_or(now_us).min(now_us),
        serde_json::json!({ "shipment_id": shipment_id }),
    )
}

/// What recording a shipment owes its customer: the shipped notice and, when the carrier's
/// scans (which may come first) already say it was delivered, the delivered notice (each once,
/// by its key; one about a moment long past is skipped as too late, with the reason).
pub(crate) fn recorded_shipment_messages(
    sh: &herald_core::tracking::NewShipment,
    shipment_id: i64,
    parcel: Option<(herald_core::tracking::TrackingStatus, Option<i64>)>,
    now_us: i64,
) -> Vec<NewMessage> {
    let label = sh.label_created_at.map(herald_core::time::to_micros);
    let mut out = vec![shipped_message(sh.order_id, shipment_id, label, now_us)];
    if let Some((herald_core::tracking::TrackingStatus::Delivered, at)) = parcel {
        out.push(delivered_message(
            sh.order_id,
            shipment_id,
            at.unwrap_or(now_us),
        ));
    }
    out
}

/// The delivered notice for a shipment, about the moment it was delivered.
pub(crate) fn delivered_message(order_id: i64, shipment_id: i64, delivered_at: i64) -> NewMessage {
    NewMessage::for_order(
        order_id,
        MessageKind::Delivered,
        shipment_id.to_string(),
        delivered_at,
        serde_json::json!({ "shipment_id": shipment_id }),
    )
}

/// The delayed notice for an order whose ship-by deadline is at risk or missed (`alert_kind`
/// `order_at_risk` or `order_late`), about the moment it became so (or was placed, for an
/// order that was at risk from the start).
pub(crate) fn delayed_message(
    order_id: i64,
    alert_kind: &str,
    ship_by: i64,
    became_due_at: i64,
) -> NewMessage {
    NewMessage::for_order(
        order_id,
        MessageKind::Delayed,
        alert_kind,
        became_due_at,
        serde_json::json!({ "ship_by": ship_by, "missed": alert_kind == "order_late" }),
    )
}

/// Columns of a message row, in [`MessageRow`]'s order.
pub(crate) const MESSAGE_COLUMNS: &str = "id, order_id, kind, facts, about_at, status, channel, recipient, subject, body, message_id, attempts, next_attempt_at, last_error, created_at, updated_at, sent_at";

/// Claims up to $3 messages due by $1 for a worker, leasing them until $2. PostgreSQL adds
/// `FOR UPDATE SKIP LOCKED` to the inner select, so two nodes never claim the same message.
pub(crate) fn claim_sql(skip_locked: &str) -> String {
    format!(
        "UPDATE messages SET status = 'sending', attempts = attempts + 1, next_attempt_at = $2, updated_at = $1 \
         WHERE id IN (SELECT id FROM messages WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3{skip_locked}) \
         RETURNING {MESSAGE_COLUMNS}"
    )
}

/// Settles a claimed message: $1 status, $2 channel, $3 recipient, $4 subject, $5 body,
/// $6 message id, $7 next attempt, $8 error, $9 sent at, $10 now, $11 id. Only a message still
/// being sent is touched (a lease that ran out and was claimed again settles once).
pub(crate) const SETTLE_SQL: &str = "UPDATE messages SET status = $1, channel = COALESCE($2, channel), recipient = COALESCE($3, recipient), subject = COALESCE($4, subject), body = COALESCE($5, body), \
     message_id = COALESCE($6, message_id), next_attempt_at = $7, last_error = $8, sent_at = COALESCE($9, sent_at), updated_at = $10 WHERE id = $11 AND status = 'sending'";

/// Whether any webhook endpoint is live (a settle with none skips the echo below).
pub(crate) const ANY_ENDPOINT_SQL: &str =
    "SELECT 1 FROM webhook_endpoints WHERE disabled_at IS NULL LIMIT 1";

/// Echoes settled message $1 to every live webhook endpoint that asked for its kind, once per
/// (message, endpoint), in the settle's transaction; $2 now. `contains` tests whether
/// `w.events` holds `,kind,` (`instr` on SQLite, `strpos` on PostgreSQL). Messages about a
/// moment past the window never reach the sender, so they are echoed nowhere; webhook
/// deliveries, tests and the digest are not echoed.
pub(crate) fn echo_sql(contains: &str) -> String {
    format!(
        "INSERT INTO messages (dedupe_key, order_id, kind, facts, about_at, status, channel, recipient, next_attempt_at, created_at, updated_at) \
         SELECT m.dedupe_key || ':hook:' || CAST(w.id AS TEXT), m.order_id, m.kind, m.facts, m.about_at, 'pending', 'webhook', CAST(w.id AS TEXT), $2, $2, $2 \
         FROM messages m JOIN webhook_endpoints w ON w.disabled_at IS NULL AND (w.events = '*' OR {contains}(w.events, ',' || m.kind || ',') > 0) \
         WHERE m.id = $1 AND COALESCE(m.channel, '') <> 'webhook' AND m.kind NOT IN ('test', 'seller_digest', 'status_notice', 'status_confirm') \
         ON CONFLICT (dedupe_key) DO NOTHING"
    )
}

/// A dead message goes back to the queue ($1 now, $2 id).
pub(crate) const RETRY_SQL: &str = "UPDATE messages SET status = 'pending', next_attempt_at = $1, last_error = NULL, updated_at = $1 WHERE id = $2 AND status = 'dead'";

/// A message as read back.
pub(crate) struct MessageRow {
    pub id: i64,
    pub order_id: Option<i64>,
    pub kind: String,
    pub facts: String,
    pub about_at: i64,
    pub status: String,
    pub channel: Option<String>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub message_id: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
}

/// A message in the outbox, as the seller and the sender worker see it.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: i64,
    pub order_id: Option<i64>,
    pub kind: MessageKind,
    pub facts: serde_json::Value,
    pub about_at: Timestamp,
    /// pending, sending, sent, skipped, dead or marketplace.
    pub status: String,
    /// email or marketplace, once decided.
    pub channel: Option<String>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    /// The plain-text body as sent (or as queued for the marketplace).
    pub body: Option<String>,
    pub message_id: Option<String>,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    /// The last delivery error, or why the message was skipped.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

pub(crate) fn message_from(r: MessageRow) -> crate::Result<Message> {
    let corrupt = |e: String| crate::StoreError::Corrupt(format!("message {}: {e}", r.id));
    Ok(Message {
        id: r.id,
        order_id: r.order_id,
        kind: MessageKind::parse(&r.kind).map_err(corrupt)?,
        facts: serde_json::from_str(&r.facts).map_err(|e| corrupt(e.to_string()))?,
        about_at: from_micros(r.about_at),
        status: r.status,
        channel: r.channel,
        recipient: r.recipient,
        subject: r.subject,
        body: r.body,
        message_id: r.message_id,
        attempts: r.attempts,
        next_attempt_at: r.next_attempt_at.map(from_micros),
        last_error: r.last_error,
        created_at: from_micros(r.created_at),
        updated_at: from_micros(r.updated_at),
        sent_at: r.sent_at.map(from_micros),
    })
}

/// What became of a claimed message.
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    /// Delivered over SMTP.
    Sent {
        recipient: String,
        subject: String,
        body: String,
        message_id: String,
    },
    /// Queued for the seller to send through the marketplace.
    Marketplace {
        recipient: Option<String>,
        subject: String,
        body: String,
    },
    /// Accepted by a webhook endpoint (it answered 2xx).
    Posted {
        /// `webhook-id`, the same on every attempt.
        webhook_id: String,
        /// "HTTP 200".
        answer: String,
        /// The JSON body delivered.
        payload: String,
    },
    /// Not sent, and never will be: the reason.
    Skipped { reason: String },
    /// Failed for now; tried again at `at`.
    Retry { error: String, at: Timestamp },
    /// Failed for good (or for too long): kept for the seller to see and retry.
    Dead { error: String },
}

/// The bound values of [`SETTLE_SQL`] before `now` and `id`.
#[allow(clippy::type_complexity)]
pub(crate) fn settle_values(
    s: &Settle,
    now_us: i64,
) -> (
    &'static str,
    Option<&'static str>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
) {
    match s.clone() {
        Settle::Sent {
            recipient,
            subject,
            body,
            message_id,
        } => (
            "sent",
            Some("email"),
            Some(recipient),
            Some(subject),
            Some(body),
            Some(message_id),
            None,
            None,
            Some(now_us),
        ),
        Settle::Marketplace {
            recipient,
            subject,
            body,
        } => (
            "marketplace",
            Some("marketplace"),
            recipient,
            Some(subject),
            Some(body),
            None,
            None,
            None,
            None,
        ),
        Settle::Posted {
            webhook_id,
            answer,
            payload,
        } => (
            "sent",
            None,
            None,
            Some(answer),
            Some(payload),
            Some(webhook_id),
            None,
            None,
            Some(now_us),
        ),
        Settle::Skipped { reason } => (
            "skipped",
            None,
            None,
            None,
            None,
            None,
            None,
            Some(reason),
            None,
        ),
        Settle::Retry { error, at } => (
            "pending",
            None,
            None,
            None,
            None,
            None,
            Some(to_micros(at)),
            Some(error),
            None,
        ),
        Settle::Dead { error } => (
            "dead",
            None,
            None,
            None,
            None,
            None,
            None,
            Some(error),
            None,
        ),
    }
}

/// Filters for listing messages (newest first).
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub status: Option<String>,
    pub channel: Option<String>,
    pub order_id: Option<i64>,
    pub kind: Option<MessageKind>,
    /// The last id of the previous page.
    pub before_id: Option<i64>,
    pub limit: u32,
}

pub(crate) fn message_list_sql(f: &MessageFilter) -> (String, Vec<crate::sql::Bind>) {
    use crate::sql::Bind;
    let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE 1 = 1");
    let mut binds = Vec::new();
    let mut push = |clause: &str, b: Bind, sql: &mut String| {
        binds.push(b);
        *sql += &clause.replace('?', &format!("${}", binds.len()));
    };
    if let Some(s) = &f.status {
        push(" AND status = ?", Bind::Text(s.clone()), &mut sql);
    }
    if let Some(c) = &f.channel {
        push(" AND channel = ?", Bind::Text(c.clone()), &mut sql);
    }
    if let Some(o) = f.order_id {
        // The dedupe key's index: keys of order 42 run from "42:" up to "42;" (';' follows ':').
        push(
            " AND dedupe_key >= ?",
            Bind::Text(format!("{o}:")),
            &mut sql,
        );
        push(" AND dedupe_key < ?", Bind::Text(format!("{o};")), &mut sql);
    }
    if let Some(k) = f.kind {
        push(" AND kind = ?", Bind::Text(k.as_str().into()), &mut sql);
    }
    if let Some(b) = f.before_id {
        push(" AND id < ?", Bind::I64(b), &mut sql);
    }
    sql += &format!(" ORDER BY id DESC LIMIT {}", f.limit.clamp(1, 1000) + 1);
    (sql, binds)
}

pub(crate) fn message_page(mut items: Vec<Message>, limit: u32) -> crate::Page<Message> {
    let limit = limit.clamp(1, 1000) as usize;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = more
        .then(|| items.last().map(|m| m.id.to_string()))
        .flatten();
    crate::Page { items, next_cursor }
}

/// $1 store ('' for every store), $2 kind, $3 subject, $4 text, $5 html, $6 now.
pub(crate) const SAVE_TEMPLATE_SQL: &str = "INSERT INTO message_templates (store, kind, subject, text, html, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (store, kind) DO UPDATE SET subject = excluded.subject, text = excluded.text, html = excluded.html, updated_at = excluded.updated_at";

pub(crate) const LOAD_TEMPLATES_SQL: &str =
    "SELECT store, kind, subject, text, html FROM message_templates ORDER BY store, kind";

/// $1 store, $2 kind.
pub(crate) const DELETE_TEMPLATE_SQL: &str =
    "DELETE FROM message_templates WHERE store = $1 AND kind = $2";

/// The seller's templates from rows of (store, kind, subject, text, html).
pub(crate) fn templates_from(
    rows: Vec<(String, String, String, String, String)>,
) -> crate::Result<herald_core::notify::templates::CustomTemplates> {
    rows.into_iter()
        .map(|(store, k, subject, text, html)| {
            let kind = MessageKind::parse(&k)
                .map_err(|e| crate::StoreError::Corrupt(format!("template {k}: {e}")))?;
            Ok((
                (store, kind),
                herald_core::notify::templates::TemplateSet {
                    subject,
                    text,
                    html,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(paid: Option<&str>, cancelled: Option<&str>) -> NewOrder {
        let mut o: NewOrder =
            serde_json::from_value::<herald_core::order::OrderInput>(serde_json::json!({
                "channel": "shopify", "external_id": "1", "number": "#1",
                "items": [{"name": "Mug", "quantity": 1}],
                "placed_at": "2026-11-23T10:00:00Z"
            }))
            .unwrap()
            .validate()
            .unwrap();
        o.paid_at = paid.map(|p| p.parse().unwrap());
        o.cancelled_at = cancelled.map(|p| p.parse().unwrap());
        o
    }

    #[test]
    fn a_new_order_is_acknowledged_once_and_a_later_payment_noticed_once() {
        let kinds = |b: Option<&NewOrder>, a: &NewOrder| -> Vec<MessageKind> {
            order_messages(b, a).into_iter().map(|(k, _)| k).collect()
        };
        let unpaid = order(None, None);
        assert_eq!(kinds(None, &unpaid), [MessageKind::OrderAcknowledged]);
        // Paid at checkout: the acknowledgement covers it.
        let paid_now = order(Some("2026-11-23T10:01:00Z"), None);
        assert_eq!(kinds(None, &paid_now), [MessageKind::OrderAcknowledged]);
        let paid_later = order(Some("2026-11-24T09:00:00Z"), None);
        assert_eq!(
            kinds(Some(&unpaid), &paid_later),
            [MessageKind::PaymentReceived]
        );
        assert!(kinds(Some(&paid_later), &paid_later).is_empty());
        assert!(kinds(None, &order(None, Some("2026-11-23T11:00:00Z"))).is_empty());
    }

    #[test]
    fn dedupe_keys_name_order_kind_and_occurrence() {
        let m = NewMessage::for_order(7, MessageKind::Shipped, "12", 0, serde_json::json!({}));
        assert_eq!(m.dedupe_key(), "7:shipped:12");
    }
}

/// What herald made of a bounce.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BounceRecorded {
    /// Recipients the report covered.
    pub recipients: usize,
    /// Addresses that bounced hard: herald no longer mails them.
    pub undeliverable: Vec<String>,
    /// The order of the message that bounced, when the report names it.
    pub order_id: Option<i64>,
    /// Seller alerts raised (one per newly undeliverable address).
    pub alerts: u64,
}

/// An address herald no longer mails, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Undeliverable {
    pub address: String,
    pub status: String,
    pub diagnostic: Option<String>,
    pub bounced_at: Timestamp,
}

/// The order of an outbox message ($1).
pub(crate) const MESSAGE_ORDER_SQL: &str = "SELECT order_id FROM messages WHERE id = $1";

/// $1 address, $2 action, $3 status, $4 diagnostic, $5 hard (0/1), $6 outbox message,
/// $7 order, $8 received at.
pub(crate) const INSERT_BOUNCE_SQL: &str = "INSERT INTO bounces (address, action, status, diagnostic, hard, message_id, order_id, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The latest hard bounce of an address ($1).
pub(crate) const UNDELIVERABLE_SQL: &str = "SELECT address, status, diagnostic, received_at FROM bounces WHERE address = $1 AND hard = 1 ORDER BY id DESC LIMIT 1";

/// $1 dedupe key, $2 order, $3 message, $4 raised at.
pub(crate) const INSERT_BOUNCE_ALERT_SQL: &str = "INSERT INTO alerts (dedupe_key, kind, order_id, message, due_at, raised_at) VALUES ($1, 'customer_unreachable', $2, $3, NULL, $4) ON CONFLICT (dedupe_key) DO NOTHING";

/// The alert for an address that bounced hard: (dedupe key, message).
pub(crate) fn bounce_alert(
    r: &herald_core::notify::bounce::RecipientReport,
    order_number: Option<&str>,
) -> (String, String) {
    let about = order_number
        .map(|n| format!(" (order {n})"))
        .unwrap_or_default();
    (
        format!("bounce:{}", r.address),
        format!(
            "The customer's e-mail address {}{about} bounced ({}{}): herald will not e-mail it again. Reach the customer another way and correct the address in your store.",
            r.address,
            r.status,
            r.diagnostic
                .as_deref()
                .map(|d| format!(", {d}"))
                .unwrap_or_default()
        ),
    )
}
