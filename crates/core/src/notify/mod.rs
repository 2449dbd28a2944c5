//! Customer notifications: which messages herald sends, to whom, through which channel, and
//! which of them are still worth sending. The wording lives in [`templates`]; delivery (SMTP,
//! the outbox worker) lives in the server crate.

pub mod bounce;
pub mod offers;
pub mod page;
pub mod templates;
pub mod webhook;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// One kind of message herald sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// The order arrived: thank you, here is what you bought.
    OrderAcknowledged,
    /// The payment went through.
    PaymentReceived,
    /// The parcel is on its way: carrier, tracking number, link to the tracking page.
    Shipped,
    /// The order will not ship by its deadline: an apology and the new estimate.
    Delayed,
    /// The watchdog found a problem with the parcel (stalled, misrouted, returned, ...).
    ParcelProblem,
    /// The carrier says it arrived.
    Delivered,
    /// To the seller: something needs a human (an order at risk, a new or overdue case, a
    /// customer address that bounced).
    SellerAlert,
    /// To the seller: the day's alerts in one message, when `notify.seller_digest` is on.
    SellerDigest,
    /// A test message sent by `herald notify test`.
    Test,
    /// To a status page subscriber: an incident opened, updated or resolved, or maintenance
    /// scheduled, starting, ending or about to start.
    StatusNotice,
    /// To someone who asked to subscribe to the status page: the link that confirms it
    /// (double opt-in).
    StatusConfirm,
}

impl MessageKind {
    pub const ALL: [MessageKind; 11] = [
        Self::OrderAcknowledged,
        Self::PaymentReceived,
        Self::Shipped,
        Self::Delayed,
        Self::ParcelProblem,
        Self::Delivered,
        Self::SellerAlert,
        Self::SellerDigest,
        Self::Test,
        Self::StatusNotice,
        Self::StatusConfirm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderAcknowledged => "order_acknowledged",
            Self::PaymentReceived => "payment_received",
            Self::Shipped => "shipped",
            Self::Delayed => "delayed",
            Self::ParcelProblem => "parcel_problem",
            Self::Delivered => "delivered",
            Self::SellerAlert => "seller_alert",
            Self::SellerDigest => "seller_digest",
            Self::Test => "test",
            Self::StatusNotice => "status_notice",
            Self::StatusConfirm => "status_confirm",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a message kind; use one of {}",
                    Self::ALL.map(Self::as_str).join(", ")
                )
            })
    }

    /// Transactional mail answers something its reader did or must act on (an order, an
    /// alert) and carries no unsubscribe link. The digest is a convenience the seller can
    /// leave with one click (RFC 8058 List-Unsubscribe).
    pub fn transactional(self) -> bool {
        !matches!(self, Self::SellerDigest | Self::StatusNotice)
    }

    /// Messages to status page subscribers, about no order.
    pub fn for_subscriber(self) -> bool {
        matches!(self, Self::StatusNotice | Self::StatusConfirm)
    }

    /// Messages for the seller rather than a customer.
    pub fn for_seller(self) -> bool {
        matches!(self, Self::SellerAlert | Self::SellerDigest)
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a message reaches its reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// Sent by herald over SMTP.
    Email,
    /// Queued for the seller to send through the marketplace's own buyer messaging (Amazon,
    /// Walmart and others forbid third-party e-mail to their buyers).
    Marketplace,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Marketplace => "marketplace",
        }
    }
}

/// How the seller hears of alerts (`notify.seller_alerts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SellerAlerts {
    /// One message per alert, as it is raised.
    #[default]
    Each,
    /// One message a day listing the day's alerts.
    Digest,
    /// None by e-mail (the alerts API and webhooks still have them).
    Off,
}

impl SellerAlerts {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "each" => Ok(Self::Each),
            "digest" => Ok(Self::Digest),
            "off" => Ok(Self::Off),
            _ => Err(format!(
                "{s:?} is not a choice: write \"each\" (a message per alert), \"digest\" (one a day) or \"off\""
            )),
        }
    }
}

/// When the delayed notice goes out (`notify.delayed_when`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DelayedWhen {
    /// As soon as the order is at risk of missing its ship-by deadline (and again if it
    /// misses it).
    #[default]
    AtRisk,
    /// Only once the deadline has passed.
    Late,
}

/// The seller's notification policy: which messages go out, when, and how late one may
/// still go.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyPolicy {
    /// Kinds that are never sent (recorded as skipped).
    pub disabled: Vec<MessageKind>,
    /// A message is sent only this long after the moment it is about; later it is skipped,
    /// so importing a backlog never mails customers about moments long past.
    pub window_hours: u32,
    /// Order channels whose buyers are reached through the marketplace, not by e-mail.
    pub marketplace_channels: Vec<String>,
    pub delayed_when: DelayedWhen,
    /// Where seller alerts go (`notify.seller_email`, else `mail.reply_to`).
    pub seller_email: Option<String>,
    pub seller_alerts: SellerAlerts,
    /// The local hour of the daily digest.
    pub digest_hour: u8,
    /// Goodwill offers in delay and problem notices.
    pub offers: offers::OfferPolicy,
    /// A store's own choices (`[notify.stores.CHANNEL]`), on top of the above for its orders.
    pub stores: std::collections::BTreeMap<String, StorePolicy>,
}

/// One store's own notification choices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StorePolicy {
    /// Kinds never sent for this store's orders (besides those off for every store).
    pub disabled: Vec<MessageKind>,
    /// When this store's customers hear of a delay, if not as for every store.
    pub delayed_when: Option<DelayedWhen>,
}

impl Default for NotifyPolicy {
    fn default() -> Self {
        Self {
            disabled: Vec::new(),
            window_hours: 24,
            marketplace_channels: ["amazon", "walmart", "ebay", "etsy", "target"]
                .map(String::from)
                .to_vec(),
            delayed_when: DelayedWhen::AtRisk,
            seller_email: None,
            seller_alerts: SellerAlerts::Each,
            digest_hour: 7,
            offers: offers::OfferPolicy::default(),
            stores: Default::default(),
        }
    }
}

/// What to do with a message that is due, before any rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Send(ChannelKind),
    /// Recorded as skipped, with the reason in the seller's words.
    Skip(String),
}

impl NotifyPolicy {
    /// When the customers of `store` hear of a delay.
    pub fn delayed_when_for(&self, store: Option<&str>) -> DelayedWhen {
        store
            .and_then(|s| self.stores.get(s))
            .and_then(|p| p.delayed_when)
            .unwrap_or(self.delayed_when)
    }

    /// Decides a message's fate from its kind, the order's channel, and the moment it is about.
    pub fn route(
        &self,
        kind: MessageKind,
        order_channel: Option<&str>,
        about: Timestamp,
        now: Timestamp,
    ) -> Route {
        if self.disabled.contains(&kind) {
            return Route::Skip(format!(
                "{kind} messages are turned off in the [notify] settings"
            ));
        }
        if let Some(store) = order_channel
            && self
                .stores
                .get(store)
                .is_some_and(|p| p.disabled.contains(&kind))
        {
            return Route::Skip(format!(
                "{kind} messages are turned off for the orders of {store} ([notify.stores.{store}])"
            ));
        }
        let window = SignedDuration::from_hours(i64::from(self.window_hours));
        if kind != MessageKind::Test && now.duration_since(about) > window {
            return Route::Skip(format!(
                "too late to be useful: it is about {about}, more than {} hours ago (notify.window_hours)",
                self.window_hours
            ));
        }
        if kind.for_seller() {
            if self.seller_email.is_none() {
                return Route::Skip(
                    "no seller address: set notify.seller_email (or mail.reply_to)".into(),
                );
            }
            match (kind, self.seller_alerts) {
                (_, SellerAlerts::Off) => {
                    return Route::Skip(
                        "seller alerts by e-mail are off (notify.seller_alerts)".into(),
                    );
                }
                (MessageKind::SellerAlert, SellerAlerts::Digest) => {
                    return Route::Skip(
                        "kept for the daily digest (notify.seller_alerts = \"digest\")".into(),
                    );
                }
                (MessageKind::SellerDigest, SellerAlerts::Each) => {
                    return Route::Skip("the daily digest is off (notify.seller_alerts)".into());
                }
                _ => return Route::Send(ChannelKind::Email),
            }
        }
        match order_channel {
            Some(c) if self.marketplace_channels.iter().any(|m| m == c) => {
                Route::Send(ChannelKind::Marketplace)
            }
            _ => Route::Send(ChannelKind::Email),
        }
    }
}

/// Domains that can never receive mail or that belong to documentation: mail "from" them
/// bounces or lands in spam, so herald refuses to send customer mail with them.
const PLACEHOLDER_DOMAINS: [&str; 3] = ["example.com", "example.net", "example.org"];
const PLACEHOLDER_SUFFIXES: [&str; 5] = ["localhost", "test", "invalid", "example", "local"];

/// Why an address cannot be the seller's From or Reply-To, if it cannot.
pub fn sender_address_problem(setting: &str, address: Option<&str>) -> Option<String> {
    let Some(address) = address.map(str::trim).filter(|a| !a.is_empty()) else {
        return Some(format!(
            "{setting} is not set: set it to the address your customers should see and can reply to"
        ));
    };
    let bare = address
        .rsplit_once('<')
        .map_or(address, |(_, a)| a.trim_end_matches('>'));
    let Some((local, domain)) = bare.rsplit_once('@') else {
        return Some(format!(
            "{setting} = {address:?} is not an e-mail address (like \"Shop <orders@yourshop.com>\")"
        ));
    };
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if local.is_empty() || domain.is_empty() || !domain.contains('.') && domain != "localhost" {
        return Some(format!(
            "{setting} = {address:?} is not an e-mail address (like \"Shop <orders@yourshop.com>\")"
        ));
    }
    let placeholder = PLACEHOLDER_DOMAINS
        .iter()
        .any(|p| domain == *p || domain.ends_with(&format!(".{p}")))
        || PLACEHOLDER_SUFFIXES
            .iter()
            .any(|s| domain == *s || domain.ends_with(&format!(".{s}")));
    placeholder.then(|| {
        format!(
            "{setting} = {address:?} uses the placeholder domain {domain}: mail from it cannot be answered and is often refused; use your shop's own domain"
        )
    })
}

/// Exponential backoff with jitter for a message that failed `attempts` times: 30 s, 1 min,
/// 2 min, ... capped at an hour, each stretched by a random 0-25% (`jitter` in 0..1) so a
/// crowd of failures does not retry in lockstep.
pub fn retry_delay(attempts: u32, jitter: f64) -> SignedDuration {
    let base = 30_i64.saturating_mul(1_i64 << attempts.saturating_sub(1).min(7));
    let secs = base.min(3_600) as f64 * (1.0 + 0.25 * jitter.clamp(0.0, 1.0));
    SignedDuration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn placeholder_and_missing_senders_are_refused_with_the_reason() {
        for bad in [
            "orders@example.com",
            "Shop <orders@example.org>",
            "orders@mail.example.net",
            "me@localhost",
            "x@shop.test",
            "x@shop.invalid",
        ] {
            let why = sender_address_problem("mail.from", Some(bad)).unwrap();
            assert!(why.contains("placeholder"), "{bad}: {why}");
            assert!(why.contains("mail.from"), "{why}");
        }
        assert!(
            sender_address_problem("mail.reply_to", None)
                .unwrap()
                .contains("mail.reply_to is not set")
        );
        assert!(
            sender_address_problem("mail.from", Some("no-at-sign"))
                .unwrap()
                .contains("not an e-mail address")
        );
        for good in [
            "orders@sandstone-pottery.com",
            "Sandstone Pottery <hello@sandstonepottery.shop>",
            "x@examples.com",
        ] {
            assert_eq!(
                sender_address_problem("mail.from", Some(good)),
                None,
                "{good}"
            );
        }
    }

    #[test]
    fn marketplace_orders_go_to_the_marketplace_queue_and_old_moments_are_skipped() {
        let p = NotifyPolicy::default();
        let now = at("2026-11-23T12:00:00Z");
        assert_eq!(
            p.route(MessageKind::Shipped, Some("amazon"), now, now),
            Route::Send(ChannelKind::Marketplace)
        );
        assert_eq!(
            p.route(MessageKind::Shipped, Some("shopify"), now, now),
            Route::Send(ChannelKind::Email)
        );
        let Route::Skip(why) = p.route(
            MessageKind::OrderAcknowledged,
            Some("shopify"),
            at("2026-11-20T12:00:00Z"),
            now,
        ) else {
            panic!("a three-day-old order must not be acknowledged now");
        };
        assert!(why.contains("too late"), "{why}");
        let off = NotifyPolicy {
            disabled: vec![MessageKind::PaymentReceived],
            ..NotifyPolicy::default()
        };
        assert!(matches!(
            off.route(MessageKind::PaymentReceived, None, now, now),
            Route::Skip(w) if w.contains("turned off")
        ));
    }

    #[test]
    fn a_store_can_turn_messages_off_and_wait_for_the_deadline_on_its_own() {
        let now = at("2026-11-23T12:00:00Z");
        let mut p = NotifyPolicy::default();
        p.stores.insert(
            "candles".into(),
            StorePolicy {
                disabled: vec![MessageKind::PaymentReceived],
                delayed_when: Some(DelayedWhen::Late),
            },
        );
        assert!(matches!(
            p.route(MessageKind::PaymentReceived, Some("candles"), now, now),
            Route::Skip(w) if w.contains("[notify.stores.candles]")
        ));
        assert_eq!(
            p.route(MessageKind::PaymentReceived, Some("shopify"), now, now),
            Route::Send(ChannelKind::Email)
        );
        assert_eq!(p.delayed_when_for(Some("candles")), DelayedWhen::Late);
        assert_eq!(p.delayed_when_for(Some("shopify")), DelayedWhen::AtRisk);
        assert_eq!(p.delayed_when_for(None), DelayedWhen::AtRisk);
    }

    #[test]
    fn seller_alerts_go_one_by_one_or_in_the_digest_never_both() {
        let now = at("2026-11-23T12:00:00Z");
        let mut p = NotifyPolicy::default();
        assert!(matches!(
            p.route(MessageKind::SellerAlert, None, now, now),
            Route::Skip(w) if w.contains("notify.seller_email")
        ));
        p.seller_email = Some("owner@sandstonepottery.shop".into());
        let sent = |p: &NotifyPolicy, k| {
            matches!(p.route(k, None, now, now), Route::Send(ChannelKind::Email))
        };
        // Even for a marketplace order, the seller is reached by e-mail.
        assert_eq!(
            p.route(MessageKind::SellerAlert, Some("amazon"), now, now),
            Route::Send(ChannelKind::Email)
        );
        assert!(sent(&p, MessageKind::SellerAlert) && !sent(&p, MessageKind::SellerDigest));
        p.seller_alerts = SellerAlerts::Digest;
        assert!(!sent(&p, MessageKind::SellerAlert) && sent(&p, MessageKind::SellerDigest));
        p.seller_alerts = SellerAlerts::Off;
        assert!(!sent(&p, MessageKind::SellerAlert) && !sent(&p, MessageKind::SellerDigest));
        assert!(!MessageKind::SellerDigest.transactional());
        assert!(MessageKind::SellerAlert.transactional() && MessageKind::Shipped.transactional());
    }

    proptest! {
        #[test]
        fn only_moments_inside_the_window_are_sent(age_min in -600i64..10_000, hours in 1u32..96) {
            let p = NotifyPolicy { window_hours: hours, ..NotifyPolicy::default() };
            let now = at("2026-11-23T12:00:00Z");
            let about = now - SignedDuration::from_mins(age_min);
            let sent = matches!(p.route(MessageKind::Delivered, None, about, now), Route::Send(_));
            prop_assert_eq!(sent, age_min <= i64::from(hours) * 60);
        }

        #[test]
        fn retries_back_off_and_stay_bounded(attempts in 1u32..200, jitter in 0.0f64..1.0) {
            let d = retry_delay(attempts, jitter);
            prop_assert!(d >= SignedDuration::from_secs(30));
            prop_assert!(d <= SignedDuration::from_secs(4_500));
            prop_assert!(retry_delay(attempts + 1, 0.0) >= retry_delay(attempts, 0.0));
        }
    }
}
