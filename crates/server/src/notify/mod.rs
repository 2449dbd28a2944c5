//! The sender worker: claims due messages from the outbox, decides each one's fate (skipped as
//! too late or turned off, queued for the marketplace, or sent by e-mail), renders it from the
//! order's current facts, and settles it. Failures retry with backoff until
//! `mail.give_up_after_hours`, then become dead letters the seller can retry.
//!
//! Claims are leases: a node that dies mid-send leaves its messages to be claimed again when
//! the lease runs out, so nothing is lost; the only repeats are messages that were in flight,
//! and they carry the same Message-ID.
//!
//! The same queue carries seller alerts (one by one, or in the daily digest this worker
//! enqueues at `notify.digest_hour`) and webhook deliveries ([`webhooks`]).

pub mod channel;
pub mod mailer;
pub mod webhooks;

use crate::AppState;
use channel::{Channel, MarketplaceQueue, Outgoing, Receipt};
use herald_core::notify::templates::{
    self, AlertFacts, DelayFacts, DigestFacts, ItemFacts, MessageFacts, OfferFacts, OrderFacts,
    ProblemFacts, ShipmentFacts, Templates,
};
use herald_core::notify::{
    ChannelKind, DelayedWhen, MessageKind, NotifyPolicy, Route, SellerAlerts, retry_delay,
};
use herald_store::{Message, NewMessage, Settle};
use jiff::{SignedDuration, Timestamp};
use std::sync::{Arc, Mutex};

pub use mailer::{MailSettings, Mailer};

/// Messages claimed per round.
const CLAIM_BATCH: u32 = 128;
/// How long a claimed message stays leased to this node.
const LEASE: SignedDuration = SignedDuration::from_secs(120);

/// Everything the sender needs beside the store.
pub struct Notifier {
    pub mailer: Mailer,
    pub settings: MailSettings,
    pub policy: NotifyPolicy,
    /// The store's name, as customers know it.
    pub store_name: String,
    /// Where messages point customers for help (the Reply-To address).
    pub contact: Option<String>,
    /// The public address of this herald (`notify.public_url`), for links in messages.
    pub public_url: Option<String>,
    /// The marketplace queue (e-mail goes through `mailer`).
    pub marketplace: MarketplaceQueue,
    /// For webhook deliveries.
    pub http: reqwest::Client,
    /// The last local day this node enqueued the digest for (the outbox's dedupe key keeps
    /// it to one across nodes and restarts; this only saves a write a second).
    digest_day: Mutex<Option<jiff::civil::Date>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("settings", &self.settings)
            .field("held", &self.mailer.held())
            .finish()
    }
}

impl Notifier {
    pub fn new(
        settings: MailSettings,
        policy: NotifyPolicy,
        store_name: String,
        public_url: Option<String>,
    ) -> Self {
        let contact = settings.reply_to.clone();
        Self {
            mailer: Mailer::new(&settings),
            settings,
            policy,
            store_name,
            contact,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
            marketplace: MarketplaceQueue,
            http: webhooks::client(),
            digest_day: Mutex::new(None),
        }
    }

    /// The channel of a kind.
    pub fn channel(&self, kind: ChannelKind) -> &dyn Channel {
        match kind {
            ChannelKind::Email => &self.mailer,
            ChannelKind::Marketplace => &self.marketplace,
        }
    }

    /// A link into herald's public address, or the bare path without one.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.as_deref().unwrap_or(""))
    }

    /// The buyer tracking page of a token: a full link when `notify.public_url` is set, else
    /// the path.
    pub fn page_url(&self, token: &str) -> String {
        self.link(&format!("/t/{token}"))
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub claimed: usize,
    pub sent: usize,
    pub marketplace: usize,
    pub skipped: usize,
    pub retried: usize,
    pub dead: usize,
}

/// Runs until `stop` turns true, waking every second or when new messages are enqueued.
pub async fn sender(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    if let Some(why) = state.notifier.mailer.held() {
        tracing::warn!("{why}");
    }
    loop {
        if let Err(e) = enqueue_digest(&state, state.clock.now()).await {
            tracing::warn!(error = %e, "could not enqueue the daily digest; will retry");
        }
        match deliver_once(&state).await {
            Ok(r) if r.claimed as u32 == CLAIM_BATCH => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the sender could not read the outbox; will retry")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(state.clock.pause(std::time::Duration::from_secs(1))) => {}
            _ = state.send_now.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// One turn of the sender, for a driver that moves a manual clock itself: the digest when it
/// is due, then every message that is due.
pub async fn step(state: &AppState) -> Result<(), herald_store::StoreError> {
    enqueue_digest(state, state.clock.now()).await?;
    while deliver_once(state).await?.claimed as u32 == CLAIM_BATCH {}
    Ok(())
}

/// Claims one batch of due messages and settles each.
pub async fn deliver_once(state: &AppState) -> Result<Round, herald_store::StoreError> {
    let now = state.clock.now();
    let claimed = state
        .store
        .claim_messages(now, now + LEASE, CLAIM_BATCH)
        .await?;
    let mut round = Round {
        claimed: claimed.len(),
        ..Round::default()
    };
    if claimed.is_empty() {
        return Ok(round);
    }
    let templates = Arc::new(Templates::with_custom(state.store.load_templates().await?));
    let mut tasks = tokio::task::JoinSet::new();
    for m in claimed {
        let state = state.clone();
        let templates = templates.clone();
        tasks.spawn(async move {
            let outcome = settle_one(&state, &templates, &m).await;
            (m, outcome)
        });
    }
    let mut outcomes = Vec::with_capacity(round.claimed);
    while let Some(done) = tasks.join_next().await {
        let Ok((m, outcome)) = done else {
            continue;
        };
        let what = match &outcome {
            Settle::Sent { .. } | Settle::Posted { .. } => {
                round.sent += 1;
                "sent"
            }
            Settle::Marketplace { .. } => {
                round.marketplace += 1;
                "marketplace"
            }
            Settle::Skipped { .. } => {
                round.skipped += 1;
                "skipped"
            }
            Settle::Retry { error, .. } => {
                round.retried += 1;
                tracing::info!(message = m.id, kind = %m.kind, attempts = m.attempts, %error, "message will be retried");
                "retry"
            }
            Settle::Dead { error } => {
                round.dead += 1;
                tracing::warn!(message = m.id, kind = %m.kind, %error, "message moved to the dead letters");
                "dead"
            }
        };
        metrics::counter!("herald_messages_total", "outcome" => what).increment(1);
        outcomes.push((m.id, outcome));
    }
    // One transaction for the whole batch. If it fails, the leases run out and the messages
    // are looked at again (a sent one may then go twice, with the same Message-ID).
    if let Err(e) = state
        .store
        .settle_messages(&outcomes, state.clock.now())
        .await
    {
        tracing::warn!(error = %e, messages = outcomes.len(), "could not record the outcome of sent messages; they will be looked at again when their leases run out");
        return Err(e);
    }
    Ok(round)
}

/// Decides, renders and delivers one claimed message.
async fn settle_one(state: &AppState, templates: &Templates, m: &Message) -> Settle {
    if m.channel.as_deref() == Some("webhook") {
        return webhooks::deliver(state, m).await;
    }
    if m.kind == MessageKind::StatusNotice && m.facts["webhook"] == true {
        return crate::status::subscribers::deliver_webhook(state, m).await;
    }
    let now = state.clock.now();
    let n = &state.notifier;
    let built = match facts_for(state, m).await {
        Ok(b) => b,
        Err(Problem::Skip(reason)) => return Settle::Skipped { reason },
        Err(Problem::Store(e)) => return retry_or_die(n, m, format!("database: {e}"), now),
    };
    let kind = match n
        .policy
        .route(m.kind, built.order_channel.as_deref(), m.about_at, now)
    {
        Route::Skip(reason) => return Settle::Skipped { reason },
        Route::Send(c) => c,
    };
    let store = built.order_channel.as_deref().unwrap_or("");
    let rendered = match templates.render_for(store, m.kind, &built.facts) {
        Ok(r) => r,
        Err(e) => {
            return Settle::Dead {
                error: format!("{e} (fix the template, then retry the message)"),
            };
        }
    };
    let channel = n.channel(kind);
    if channel.needs_address() && built.recipient.is_none() {
        return Settle::Skipped {
            reason: if m.kind.for_seller() {
                "no seller address: set notify.seller_email (or mail.reply_to)".into()
            } else {
                "the order has no customer e-mail address".into()
            },
        };
    }
    if kind == ChannelKind::Email
        && let Some(to) = &built.recipient
    {
        match state.store.undeliverable(to).await {
            Ok(Some(b)) => {
                return Settle::Skipped {
                    reason: format!(
                        "{to} bounced on {} ({}): herald no longer mails it",
                        b.bounced_at, b.status
                    ),
                };
            }
            Ok(None) => {}
            Err(e) => return retry_or_die(n, m, format!("database: {e}"), now),
        }
    }
    let out = Outgoing {
        outbox_id: m.id,
        to: built.recipient.as_deref(),
        rendered: &rendered,
        unsubscribe: built.unsubscribe.as_deref(),
        store: built.order_channel.as_deref(),
    };
    match channel.deliver(out).await {
        Ok(Receipt::Sent { message_id }) => Settle::Sent {
            recipient: built.recipient.unwrap_or_default(),
            subject: rendered.subject,
            body: rendered.text,
            message_id,
        },
        Ok(Receipt::Queued) => Settle::Marketplace {
            recipient: built.recipient,
            subject: rendered.subject,
            body: rendered.text,
        },
        Err(e) if e.transient => retry_or_die(n, m, e.text, now),
        Err(e) => Settle::Dead { error: e.text },
    }
}

/// A transient failure retries with backoff, until the message has waited too long.
pub(crate) fn retry_or_die(n: &Notifier, m: &Message, error: String, now: Timestamp) -> Settle {
    let waited = now.duration_since(m.created_at);
    let give_up = SignedDuration::try_from(n.settings.give_up_after).unwrap_or(SignedDuration::MAX);
    if waited >= give_up {
        return Settle::Dead {
            error: format!(
                "{error} (still failing after {} attempts over {}h; mail.give_up_after_hours)",
                m.attempts,
                waited.as_hours()
            ),
        };
    }
    let jitter = rand::random::<f64>();
    Settle::Retry {
        error,
        at: now + retry_delay(m.attempts.max(1) as u32, jitter),
    }
}

enum Problem {
    Skip(String),
    Store(herald_store::StoreError),
}

impl From<herald_store::StoreError> for Problem {
    fn from(e: herald_store::StoreError) -> Self {
        Problem::Store(e)
    }
}

struct Built {
    facts: MessageFacts,
    recipient: Option<String>,
    order_channel: Option<String>,
    /// The one-click unsubscribe link of non-transactional mail.
    unsubscribe: Option<String>,
}

/// "Monday, November 23" in the store's time zone.
fn day(state: &AppState, t: Timestamp) -> String {
    t.to_zoned(state.policy.time_zone.clone())
        .strftime("%A, %B %-d")
        .to_string()
}

/// The facts of a message, read now: the order's current state, its shipment and problem.
async fn facts_for(state: &AppState, m: &Message) -> Result<Built, Problem> {
    let n = &state.notifier;
    let mut facts = MessageFacts {
        store: templates::StoreFacts {
            name: n.store_name.clone(),
            contact: n.contact.clone(),
        },
        ..MessageFacts::default()
    };
    if m.kind == MessageKind::Test {
        let to = m.facts["to"].as_str().map(str::to_string);
        return Ok(Built {
            facts,
            recipient: to,
            order_channel: None,
            unsubscribe: None,
        });
    }
    if m.kind.for_seller() {
        return seller_facts(state, m, facts).await;
    }
    if m.kind.for_subscriber() {
        return subscriber_facts(state, m, facts).await;
    }
    let Some(order_id) = m.order_id else {
        return Err(Problem::Skip("the message names no order".into()));
    };
    let Some(order) = state.store.get_order(order_id, state.clock.now()).await? else {
        return Err(Problem::Skip(format!("order {order_id} no longer exists")));
    };
    let o = &order.facts;
    // A store of its own (`[mail.stores.CHANNEL]`): its name and address in the message.
    if let Some(own) = n.settings.stores.get(o.channel.as_str()) {
        if let Some(name) = &own.name {
            facts.store.name = name.clone();
        }
        if own.reply_to.is_some() {
            facts.store.contact = own.reply_to.clone();
        }
    }
    // Links only work from an inbox when herald knows its public address.
    if n.public_url.is_some()
        && let Some(token) = state.store.page_token(order_id).await?
    {
        facts.tracking_page = Some(n.page_url(&token));
    }
    facts.customer.first_name = templates::first_name(o.customer.name.as_deref());
    facts.order = OrderFacts {
        number: o.number.clone(),
        placed_on: day(state, o.placed_at),
        items: o
            .items
            .iter()
            .map(|i| ItemFacts {
                name: i.name.clone(),
                quantity: i.quantity,
            })
            .collect(),
        total: o.total.as_ref().map(|t| match &o.currency {
            Some(c) => format!("{t} {c}"),
            None => t.clone(),
        }),
    };
    if matches!(
        m.kind,
        MessageKind::OrderAcknowledged | MessageKind::PaymentReceived | MessageKind::Delayed
    ) && o.cancelled_at.is_some()
    {
        return Err(Problem::Skip("the order was cancelled".into()));
    }
    if m.kind == MessageKind::Delayed && o.shipped_at.is_some() {
        return Err(Problem::Skip(
            "the order shipped before the notice went out".into(),
        ));
    }
    if let Some(sid) = m.facts["shipment_id"].as_i64() {
        let Some(sh) = state.store.get_shipment(sid).await? else {
            return Err(Problem::Skip(format!("shipment {sid} no longer exists")));
        };
        facts.shipment = Some(ShipmentFacts {
            carrier: templates::carrier_display(&sh.carrier),
            service: sh.service.clone(),
            tracking_number: sh.tracking_number.clone(),
            expected_delivery: sh.estimated_delivery.map(|t| day(state, t)),
        });
    }
    if m.kind == MessageKind::Delayed {
        facts.delay = Some(DelayFacts {
            ship_by: m.facts["ship_by"]
                .as_i64()
                .map(|us| day(state, herald_core::time::from_micros(us)))
                .unwrap_or_default(),
            missed: m.facts["missed"].as_bool().unwrap_or(false),
            new_ship_by: new_ship_by(state, m.facts["ship_by"].as_i64()),
        });
        if n.policy.delayed_when_for(Some(o.channel.as_str())) == DelayedWhen::Late
            && !m.facts["missed"].as_bool().unwrap_or(false)
        {
            return Err(Problem::Skip(
                "notify.delayed_when = \"late\": customers hear of a delay once the deadline has passed".into(),
            ));
        }
        facts.offer = offer_for(state, m, order_id, &n.policy.offers.delayed).await?;
    }
    if m.kind == MessageKind::ParcelProblem {
        let kind = m.facts["problem"]
            .as_str()
            .and_then(herald_core::problems::ProblemKind::parse)
            .ok_or_else(|| Problem::Skip("the problem notice names no known problem".into()))?;
        let (what_happened, what_we_do) = templates::problem_wording(kind);
        facts.problem = Some(ProblemFacts {
            kind: kind.as_str().into(),
            what_happened: what_happened.into(),
            what_we_do: what_we_do.into(),
            next_update: m.facts["next_update"]
                .as_i64()
                .map(|us| day(state, herald_core::time::from_micros(us)))
                .unwrap_or_default(),
        });
        facts.offer = offer_for(state, m, order_id, &state.watch.compensation_for(kind)).await?;
    }
    Ok(Built {
        facts,
        recipient: o.customer.email.clone(),
        order_channel: Some(o.channel.as_str().to_string()),
        unsubscribe: None,
    })
}

/// The business day an order now ships by: the one after its missed (or threatened)
/// ship-by day, or after today when that has passed too.
fn new_ship_by(state: &AppState, ship_by_us: Option<i64>) -> String {
    let tz = state.policy.time_zone.clone();
    let today = state.clock.now().to_zoned(tz.clone()).date();
    let promised = ship_by_us
        .map(|us| herald_core::time::from_micros(us).to_zoned(tz).date())
        .unwrap_or(today);
    let next = state.policy.calendar.next_after(promised.max(today));
    next.strftime("%A, %B %-d").to_string()
}

/// The goodwill offer of a notice under the seller's policy, with its coupon code (the same
/// code on every attempt of one message).
async fn offer_for(
    state: &AppState,
    m: &Message,
    order_id: i64,
    compensation: &herald_core::cases::Compensation,
) -> Result<Option<OfferFacts>, Problem> {
    use herald_core::cases::Compensation;
    use herald_core::notify::offers::{self, CodeSource};
    let policy = &state.notifier.policy.offers;
    if policy.codes == CodeSource::Off {
        return Ok(None);
    }
    let Some(mut text) = offers::offer_text(compensation) else {
        return Ok(None);
    };
    let mut code = None;
    if let Compensation::Coupon { .. } = compensation {
        let req = herald_store::OfferRequest {
            message_key: format!("outbox:{}", m.id),
            order_id,
            offer: offers::offer_label(compensation),
            generated: (policy.codes == CodeSource::Generate)
                .then(|| offers::generate_code(&policy.code_prefix, rand::random())),
        };
        code = state
            .store
            .assign_offer_code(&req, state.clock.now())
            .await?;
        if code.is_none() {
            tracing::warn!(
                message = m.id,
                "the coupon pool is empty: upload codes with POST /api/v1/offer-codes"
            );
            text.push_str(" Reply to this message and we will send you the code.");
        }
    }
    Ok(Some(OfferFacts { text, code }))
}

/// A seller alert's or the digest's facts, and the seller's address.
async fn seller_facts(
    state: &AppState,
    m: &Message,
    mut facts: MessageFacts,
) -> Result<Built, Problem> {
    let n = &state.notifier;
    let when = |t: Timestamp| {
        t.to_zoned(state.policy.time_zone.clone())
            .strftime("%A, %B %-d at %-H:%M")
            .to_string()
    };
    let alert_facts = |a: &herald_store::Alert| AlertFacts {
        kind: a.kind.clone(),
        title: templates::alert_title(&a.kind),
        message: a.message.clone(),
        raised: when(a.raised_at),
        link: n
            .public_url
            .as_ref()
            .map(|_| match (a.case_id, a.order_id) {
                (Some(c), _) => n.link(&format!("/api/v1/cases/{c}")),
                (None, Some(o)) => n.link(&format!("/api/v1/orders/{o}")),
                (None, None) => n.link("/api/v1/alerts"),
            }),
    };
    let mut unsubscribe = None;
    if m.kind == MessageKind::SellerAlert {
        let id = m.facts["alert_id"].as_i64().unwrap_or_default();
        let Some(a) = state.store.get_alert(id).await? else {
            return Err(Problem::Skip(format!("alert {id} no longer exists")));
        };
        facts.alert = Some(alert_facts(&a));
    } else {
        let from = herald_core::time::from_micros(m.facts["since"].as_i64().unwrap_or_default());
        let until = herald_core::time::from_micros(m.facts["until"].as_i64().unwrap_or_default());
        let alerts = state.store.alerts_between(from, until, 1_000).await?;
        if alerts.is_empty() {
            return Err(Problem::Skip(format!(
                "nothing to report: no alerts since {}",
                when(from)
            )));
        }
        if let Some(to) = &n.policy.seller_email {
            let member = state
                .store
                .join_mail_list(DIGEST_LIST, to, state.clock.now())
                .await?;
            if let Some(left) = member.left_at {
                return Err(Problem::Skip(format!(
                    "{to} stopped the digest with its unsubscribe link on {left}"
                )));
            }
            unsubscribe = n
                .public_url
                .as_ref()
                .map(|_| n.link(&format!("/unsubscribe/{}", member.token)));
        }
        let listed: Vec<AlertFacts> = alerts.iter().take(50).map(alert_facts).collect();
        facts.digest = Some(DigestFacts {
            since: when(from),
            count: alerts.len(),
            more: alerts.len() - listed.len(),
            alerts: listed,
            unsubscribe: unsubscribe.clone().unwrap_or_else(|| {
                "set notify.seller_alerts to \"each\" or \"off\" in herald's configuration".into()
            }),
        });
    }
    Ok(Built {
        facts,
        recipient: n.policy.seller_email.clone(),
        order_channel: None,
        unsubscribe,
    })
}

/// A status page subscriber's notice or confirmation: from the page as it is now, to the
/// subscriber's address, with their own page as the way to change or stop it.
async fn subscriber_facts(
    state: &AppState,
    m: &Message,
    mut facts: MessageFacts,
) -> Result<Built, Problem> {
    use crate::status::subscribers::{manage_link, unsubscribe_link};
    use herald_core::status::notice;
    let sid = m.facts["subscriber_id"].as_i64().unwrap_or_default();
    let Some(sub) = state.store.get_status_subscriber(sid).await? else {
        return Err(Problem::Skip(format!("subscriber {sid} no longer exists")));
    };
    if sub.left_at.is_some() {
        return Err(Problem::Skip("the subscriber unsubscribed".into()));
    }
    let Some(board) = state.status.board() else {
        return Err(Problem::Store(herald_store::StoreError::Conflict(
            "the status page is not loaded yet".into(),
        )));
    };
    let page_url = &state.status.settings.page.url;
    // The page speaks for the store: its name, not the order's.
    facts.store.name = board.page.name.clone();
    let mut unsubscribe = None;
    if m.kind == MessageKind::StatusConfirm {
        let asked = match (&sub.confirmed_at, &sub.pending_component_ids) {
            (None, _) => &sub.component_ids,
            (Some(_), Some(p)) => p,
            (Some(_), None) => {
                return Err(Problem::Skip(
                    "the subscription is already confirmed".into(),
                ));
            }
        };
        facts.subscription = Some(notice::confirm_facts(
            &board,
            asked,
            manage_link(page_url, &sub.token),
        ));
    } else {
        if sub.confirmed_at.is_none() {
            return Err(Problem::Skip("the subscription was never confirmed".into()));
        }
        let nid = m.facts["notice_id"].as_i64().unwrap_or_default();
        let Some(n) = state.store.get_status_notice(nid).await? else {
            return Err(Problem::Skip(format!("notice {nid} no longer exists")));
        };
        let links = notice::Links {
            manage: manage_link(page_url, &sub.token),
        };
        let Some(f) = notice::facts(&board, &n.notice, &links) else {
            return Err(Problem::Skip(
                "the incident is no longer on the status page".into(),
            ));
        };
        facts.status = Some(f);
        unsubscribe = Some(unsubscribe_link(page_url, &sub.token));
    }
    Ok(Built {
        facts,
        recipient: Some(sub.address),
        order_channel: None,
        unsubscribe,
    })
}

/// The mail list of the seller's daily digest.
pub const DIGEST_LIST: &str = "seller_digest";

/// Once a day, at `notify.digest_hour` in the store's time zone, enqueues the digest of the
/// 24 hours before (once per day whatever the number of nodes: the dedupe key is the date).
pub async fn enqueue_digest(
    state: &AppState,
    now: Timestamp,
) -> Result<Option<i64>, herald_store::StoreError> {
    let n = &state.notifier;
    if n.policy.seller_alerts != SellerAlerts::Digest {
        return Ok(None);
    }
    let local = now.to_zoned(state.policy.time_zone.clone());
    if local.hour() < i8::try_from(n.policy.digest_hour).unwrap_or(7) {
        return Ok(None);
    }
    let today = local.date();
    if *n.digest_day.lock().expect("digest day lock") == Some(today) {
        return Ok(None);
    }
    let until = today
        .at(i8::try_from(n.policy.digest_hour).unwrap_or(7), 0, 0, 0)
        .to_zoned(state.policy.time_zone.clone())
        .map_err(|e| herald_store::StoreError::Corrupt(e.to_string()))?
        .timestamp();
    let since = until - SignedDuration::from_hours(24);
    let id = state
        .store
        .enqueue_message(
            &NewMessage {
                order_id: None,
                kind: MessageKind::SellerDigest,
                occurrence: today.to_string(),
                about_at: until,
                facts: serde_json::json!({
                    "since": herald_core::time::to_micros(since),
                    "until": herald_core::time::to_micros(until),
                }),
            },
            now,
        )
        .await?;
    *n.digest_day.lock().expect("digest day lock") = Some(today);
    if id.is_some() {
        state.send_now.notify_one();
    }
    Ok(id)
}
