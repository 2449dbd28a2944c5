//! Status page subscribers and their notices, shared by both databases: the SQL, the row
//! decoding, and the fan-out step (one notice, one batch of subscribers, their outbox
//! messages). The rules of who hears of what live in `herald_core::status::notice`.

use crate::outbox::NewMessage;
use herald_core::notify::MessageKind;
use herald_core::status::notice::{Notice, NoticeEvent, Subscriber, SubscriberChannel, wants};
use herald_core::time::{from_micros, to_micros};
use jiff::Timestamp;

/// Subscribers read per fan-out step.
pub const FAN_OUT_BATCH: u32 = 500;

pub(crate) const SUBSCRIBER_COLUMNS: &str = "id, token, channel, address, component_ids, pending_component_ids, secret, created_at, confirmed_at, left_at";

pub(crate) fn select_subscriber(filter: &str) -> String {
    format!("SELECT {SUBSCRIBER_COLUMNS} FROM status_subscribers WHERE {filter}")
}

/// $1 token, $2 channel, $3 address, $4 components, $5 pending, $6 secret, $7 created,
/// $8 confirmed. An address already subscribed is left as it is (the caller reads it back).
pub(crate) const ADD_SUBSCRIBER_SQL: &str = "INSERT INTO status_subscribers (token, channel, address, component_ids, pending_component_ids, secret, created_at, confirmed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (channel, address) DO NOTHING";
/// $1 id, $2 components, $3 pending, $4 confirmed, $5 left.
pub(crate) const UPDATE_SUBSCRIBER_SQL: &str = "UPDATE status_subscribers SET component_ids = $2, pending_component_ids = $3, confirmed_at = $4, left_at = $5 WHERE id = $1";

pub(crate) type SubscriberRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn corrupt(what: &str, e: impl std::fmt::Display) -> crate::StoreError {
    crate::StoreError::Corrupt(format!("{what}: {e}"))
}

fn ids(json: &str) -> crate::Result<Vec<String>> {
    serde_json::from_str(json).map_err(|e| corrupt("status subscriber components", e))
}

fn ids_json(ids: &[String]) -> String {
    serde_json::to_string(ids).expect("ids serialise")
}

pub(crate) fn subscriber_from(r: SubscriberRow) -> crate::Result<Subscriber> {
    let (id, token, channel, address, comps, pending, secret, created, confirmed, left) = r;
    Ok(Subscriber {
        id,
        token,
        channel: SubscriberChannel::parse(&channel).map_err(|e| corrupt("status subscriber", e))?,
        address,
        component_ids: ids(&comps)?,
        pending_component_ids: pending.as_deref().map(ids).transpose()?,
        secret,
        created_at: from_micros(created),
        confirmed_at: confirmed.map(from_micros),
        left_at: left.map(from_micros),
    })
}

/// The values of [`ADD_SUBSCRIBER_SQL`].
pub(crate) type NewSubscriberValues = (
    String,
    &'static str,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);

pub(crate) fn add_values(s: &Subscriber) -> NewSubscriberValues {
    (
        s.token.clone(),
        s.channel.as_str(),
        s.address.clone(),
        ids_json(&s.component_ids),
        s.pending_component_ids.as_deref().map(ids_json),
        s.secret.clone(),
        to_micros(s.created_at),
        s.confirmed_at.map(to_micros),
    )
}

/// The values of [`UPDATE_SUBSCRIBER_SQL`].
pub(crate) fn update_values(
    s: &Subscriber,
) -> (i64, String, Option<String>, Option<i64>, Option<i64>) {
    (
        s.id,
        ids_json(&s.component_ids),
        s.pending_component_ids.as_deref().map(ids_json),
        s.confirmed_at.map(to_micros),
        s.left_at.map(to_micros),
    )
}

/// $1 key, $2 incident, $3 update, $4 event, $5 components, $6 now.
pub(crate) const ADD_NOTICE_SQL: &str = "INSERT INTO status_notices (notice_key, incident_id, update_id, event, component_ids, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (notice_key) DO NOTHING";

pub(crate) fn notice_values(
    n: &Notice,
    now: Timestamp,
) -> (String, String, Option<String>, &'static str, String, i64) {
    (
        n.key.clone(),
        n.incident_id.clone(),
        n.update_id.clone(),
        n.event.as_str(),
        ids_json(&n.component_ids),
        to_micros(now),
    )
}

pub(crate) const NOTICE_COLUMNS: &str =
    "id, notice_key, incident_id, update_id, event, component_ids, created_at, fanned_to";

pub(crate) type NoticeRow = (
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
);

/// A stored notice: the notice, its id, when it was made, and how far it was fanned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotice {
    pub id: i64,
    pub notice: Notice,
    pub created_at: Timestamp,
    pub fanned_to: i64,
}

pub(crate) fn notice_from(r: NoticeRow) -> crate::Result<StoredNotice> {
    let (id, key, incident_id, update_id, event, comps, created, fanned_to) = r;
    Ok(StoredNotice {
        id,
        notice: Notice {
            key,
            incident_id,
            update_id,
            event: NoticeEvent::parse(&event).map_err(|e| corrupt("status notice", e))?,
            component_ids: ids(&comps)?,
        },
        created_at: from_micros(created),
        fanned_to,
    })
}

/// The oldest notice not yet fanned out to everyone (PostgreSQL adds `FOR UPDATE SKIP LOCKED`
/// so two nodes work on different notices).
pub(crate) fn next_notice_sql(lock: &str) -> String {
    format!(
        "SELECT {NOTICE_COLUMNS} FROM status_notices WHERE done_at IS NULL ORDER BY id LIMIT 1{lock}"
    )
}

/// Active subscribers after $1, in id order, at most $2.
pub(crate) fn fan_out_subscribers_sql() -> String {
    select_subscriber(
        "id > $1 AND confirmed_at IS NOT NULL AND left_at IS NULL ORDER BY id LIMIT $2",
    )
}

/// $1 id, $2 fanned to, $3 done at (NULL while subscribers remain).
pub(crate) const ADVANCE_NOTICE_SQL: &str =
    "UPDATE status_notices SET fanned_to = $2, done_at = $3 WHERE id = $1";

/// One fan-out step: the messages `batch` (read after `notice.fanned_to`) is owed, how far it
/// got, and whether the notice is done.
pub(crate) fn fan_out_step(
    notice: &StoredNotice,
    batch: &[Subscriber],
    limit: u32,
) -> (Vec<NewMessage>, i64, bool) {
    let messages = batch
        .iter()
        .filter(|s| wants(&s.component_ids, &notice.notice.component_ids))
        .map(|s| NewMessage {
            order_id: None,
            kind: MessageKind::StatusNotice,
            occurrence: format!("{}:{}", notice.id, s.id),
            about_at: notice.created_at,
            facts: serde_json::json!({
                "notice_id": notice.id,
                "subscriber_id": s.id,
                "webhook": s.channel == SubscriberChannel::Webhook,
            }),
        })
        .collect();
    let last = batch.last().map_or(notice.fanned_to, |s| s.id);
    (messages, last, batch.len() < limit as usize)
}
