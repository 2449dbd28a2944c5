//! The sender worker: claims due messages from the outbox, decides each one's fate (skipped as
//! too late or turned off, queued for the marketplace, or sent by e-mail), renders it from the
//! order's current facts, and settles it. Failures retry with backoff until
//! `mail.give_up_after_hours`, then become dead letters the seller can retry.
//!
//! Claims are leases: a node that dies mid-send leaves its messages to be claimed again when
//! the lease runs out, so nothing is lost; the only repeats are messages that were in flight,
//! and they carry the same Message-ID.

pub mod mailer;

use crate::AppState;
use herald_core::notify::templates::{
    self, DelayFacts, ItemFacts, MessageFacts, OrderFacts, ProblemFacts, ShipmentFacts, Templates,
};
use herald_core::notify::{ChannelKind, MessageKind, NotifyPolicy, Route, retry_delay};
use herald_store::{Message, Settle};
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

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
        }
    }

    /// The buyer tracking page of a token: a full link when `notify.public_url` is set, else
    /// the path.
    pub fn page_url(&self, token: &str) -> String {
        format!("{}/t/{token}", self.public_url.as_deref().unwrap_or(""))
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
    if std::env::var("HX").is_ok() {
        return;
    }
    if let Some(why) = state.notifier.mailer.held() {
        tracing::warn!("{why}");
    }
    loop {
        match deliver_once(&state).await {
            Ok(r) if r.claimed as u32 == CLAIM_BATCH => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the sender could not read the outbox; will retry")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = state.send_now.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Claims one batch of due messages and settles each.
pub async fn deliver_once(state: &AppState) -> Result<Round, herald_store::StoreError> {
    let now = Timestamp::now();
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
            Settle::Sent { .. } => {
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
        .settle_messages(&outcomes, Timestamp::now())
        .await
    {
        tracing::warn!(error = %e, messages = outcomes.len(), "could not record the outcome of sent messages; they will be looked at again when their leases run out");
        return Err(e);
    }
    Ok(round)
}

/// Decides, renders and (for e-mail) sends one claimed message.
async fn settle_one(state: &AppState, templates: &Templates, m: &Message) -> Settle {
    let now = Timestamp::now();
    let n = &state.notifier;
    let built = match facts_for(state, m).await {
        Ok(b) => b,
        Err(Problem::Skip(reason)) => return Settle::Skipped { reason },
        Err(Problem::Store(e)) => return retry_or_die(n, m, format!("database: {e}"), now),
    };
    let channel = match n
        .policy
        .route(m.kind, built.order_channel.as_deref(), m.about_at, now)
    {
        Route::Skip(reason) => return Settle::Skipped { reason },
        Route::Send(c) => c,
    };
    let rendered = match templates.render(m.kind, &built.facts) {
        Ok(r) => r,
        Err(e) => {
            return Settle::Dead {
                error: format!("{e} (fix the template, then retry the message)"),
            };
        }
    };
    if channel == ChannelKind::Marketplace {
        return Settle::Marketplace {
            recipient: built.recipient,
            subject: rendered.subject,
            body: rendered.text,
        };
    }
    let Some(to) = built.recipient else {
        return Settle::Skipped {
            reason: "the order has no customer e-mail address".into(),
        };
    };
    match state.store.undeliverable(&to).await {
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
    match n.mailer.send(m.id, &to, &rendered).await {
        Ok(message_id) => Settle::Sent {
            recipient: to,
            subject: rendered.subject,
            body: rendered.text,
            message_id,
        },
        Err(e) if e.transient => retry_or_die(n, m, e.text, now),
        Err(e) => Settle::Dead { error: e.text },
    }
}

/// A transient failure retries with backoff, until the message has waited too long.
fn retry_or_die(n: &Notifier, m: &Message, error: String, now: Timestamp) -> Settle {
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
        });
    }
    let Some(order_id) = m.order_id else {
        return Err(Problem::Skip("the message names no order".into()));
    };
    let Some(order) = state.store.get_order(order_id, Timestamp::now()).await? else {
        return Err(Problem::Skip(format!("order {order_id} no longer exists")));
    };
    let o = &order.facts;
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
        });
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
    }
    Ok(Built {
        facts,
        recipient: o.customer.email.clone(),
        order_channel: Some(o.channel.as_str().to_string()),
    })
}
