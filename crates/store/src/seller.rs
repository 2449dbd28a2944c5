//! What herald keeps for the seller beside orders, shared by both databases: outgoing webhook
//! endpoints, coupon codes for goodwill offers (which order received which), and the mail
//! lists a reader can leave with one click.
//!
//! Seller alerts reach the outbox through a trigger in migration 0005, so every code path that
//! raises an alert owes the seller its message in its own transaction without knowing about
//! it. Messages reach webhook endpoints when they are settled (`outbox::echo_sql`), which
//! costs nothing while no endpoint exists.

use herald_core::notify::MessageKind;
use herald_core::time::from_micros;
use jiff::Timestamp;
use serde::Serialize;

/// A URL the seller subscribed to herald's events.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookEndpoint {
    pub id: i64,
    pub url: String,
    /// The `whsec_...` signing secret: shown once, when the endpoint is added.
    #[serde(skip)]
    pub secret: String,
    /// The event types it receives; empty means every event.
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
}

/// An endpoint to add.
#[derive(Debug, Clone)]
pub struct NewWebhookEndpoint {
    pub url: String,
    pub secret: String,
    /// `None`: every event.
    pub kinds: Option<Vec<MessageKind>>,
    pub description: Option<String>,
}

/// The `events` column: "*" or ",kind,kind,".
pub(crate) fn events_column(kinds: &Option<Vec<MessageKind>>) -> String {
    match kinds {
        None => "*".into(),
        Some(k) => format!(
            ",{},",
            k.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")
        ),
    }
}

pub(crate) const INSERT_ENDPOINT_SQL: &str = "INSERT INTO webhook_endpoints (url, secret, events, description, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
pub(crate) const ENDPOINT_COLUMNS: &str =
    "id, url, secret, events, description, created_at, disabled_at";
pub(crate) const DISABLE_ENDPOINT_SQL: &str =
    "UPDATE webhook_endpoints SET disabled_at = $1 WHERE id = $2 AND disabled_at IS NULL";

/// An endpoint from its columns.
pub(crate) fn endpoint_from(
    (id, url, secret, events, description, created_at, disabled_at): (
        i64,
        String,
        String,
        String,
        Option<String>,
        i64,
        Option<i64>,
    ),
) -> WebhookEndpoint {
    let events = if events == "*" {
        Vec::new()
    } else {
        events
            .split(',')
            .filter_map(|k| MessageKind::parse(k).ok())
            .map(|k| herald_core::notify::webhook::event_type(k).to_string())
            .collect()
    };
    WebhookEndpoint {
        id,
        url,
        secret,
        events,
        description,
        created_at: from_micros(created_at),
        disabled_at: disabled_at.map(from_micros),
    }
}

pub(crate) const ALERT_COLUMNS: &str = "id, kind, order_id, message, due_at, raised_at, case_id";
/// Alerts raised in [$1, $2), oldest first, at most $3.
pub(crate) const ALERTS_BETWEEN_SQL: &str = "SELECT id, kind, order_id, message, due_at, raised_at, case_id FROM alerts WHERE raised_at >= $1 AND raised_at < $2 ORDER BY raised_at, id LIMIT $3";

/// A coupon code of the seller's, and the order that received it (if any yet).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OfferCode {
    pub code: String,
    /// `pool` (uploaded from the seller's store) or `generated` (by herald: create it in your
    /// store too).
    pub source: String,
    pub added_at: Timestamp,
    pub order_id: Option<i64>,
    /// The offer it was given with: "coupon 20%".
    pub offer: Option<String>,
    pub assigned_at: Option<Timestamp>,
}

pub(crate) fn offer_from(
    (code, source, added_at, order_id, offer, assigned_at): (
        String,
        String,
        i64,
        Option<i64>,
        Option<String>,
        Option<i64>,
    ),
) -> OfferCode {
    OfferCode {
        code,
        source,
        added_at: from_micros(added_at),
        order_id,
        offer,
        assigned_at: assigned_at.map(from_micros),
    }
}

/// A code for one message: taken from the pool, or generated when `generated` is given.
#[derive(Debug, Clone)]
pub struct OfferRequest {
    /// The outbox message's dedupe key: the same message always gets the same code.
    pub message_key: String,
    pub order_id: i64,
    /// "coupon 20%".
    pub offer: String,
    /// A fresh code to record when herald generates codes; `None` draws from the pool.
    pub generated: Option<String>,
}

/// $1 code, $2 now.
pub(crate) const ADD_POOL_CODE_SQL: &str = "INSERT INTO offer_codes (code, source, added_at) VALUES ($1, 'pool', $2) ON CONFLICT (code) DO NOTHING";
/// $1 message key.
pub(crate) const CODE_OF_MESSAGE_SQL: &str = "SELECT code FROM offer_codes WHERE message_key = $1";
/// $1 order, $2 message key, $3 offer, $4 now. PostgreSQL adds `FOR UPDATE SKIP LOCKED` so
/// two nodes never hand out one code.
pub(crate) fn take_from_pool_sql(skip_locked: &str) -> String {
    format!(
        "UPDATE offer_codes SET order_id = $1, message_key = $2, offer = $3, assigned_at = $4 \
         WHERE code = (SELECT code FROM offer_codes WHERE order_id IS NULL ORDER BY added_at, code LIMIT 1{skip_locked}) RETURNING code"
    )
}
/// $1 code, $2 now, $3 order, $4 message key, $5 offer.
pub(crate) const INSERT_GENERATED_SQL: &str = "INSERT INTO offer_codes (code, source, added_at, order_id, message_key, offer, assigned_at) VALUES ($1, 'generated', $2, $3, $4, $5, $2) ON CONFLICT DO NOTHING";
/// Codes newest first: $1 assigned filter (0 free, 1 given, 2 all), $2 limit.
pub(crate) const LIST_CODES_SQL: &str = "SELECT code, source, added_at, order_id, offer, assigned_at FROM offer_codes \
     WHERE ($1 = 2 OR ($1 = 1 AND order_id IS NOT NULL) OR ($1 = 0 AND order_id IS NULL)) ORDER BY COALESCE(assigned_at, added_at) DESC, code LIMIT $2";

/// $1 token, $2 list, $3 address, $4 now.
pub(crate) const JOIN_LIST_SQL: &str = "INSERT INTO mail_lists (token, list, address, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (list, address) DO NOTHING";
/// $1 list, $2 address.
pub(crate) const LIST_MEMBER_SQL: &str =
    "SELECT token, left_at FROM mail_lists WHERE list = $1 AND address = $2";
/// $1 now, $2 token.
pub(crate) const LEAVE_LIST_SQL: &str = "UPDATE mail_lists SET left_at = COALESCE(left_at, $1) WHERE token = $2 RETURNING list, address";

/// A reader's place on a mail list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListMember {
    /// The unguessable part of the one-click unsubscribe link.
    pub token: String,
    /// When they left, if they did.
    pub left_at: Option<Timestamp>,
}

/// A new unsubscribe token: 128 random bits, hex.
pub(crate) fn new_list_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
