//! Message wording: minijinja templates (subject, plain text, HTML) per message kind, the
//! defaults herald ships with, the seller's own versions, validation when they are saved and
//! rendering with real or sample facts.
//!
//! Templates render in strict mode: a variable the message kind does not provide is an error
//! when the template is saved, never a blank in a customer's inbox.

use super::MessageKind;
use minijinja::{Environment, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The three parts of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Subject,
    Text,
    Html,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Subject, Part::Text, Part::Html];
    fn suffix(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Text => "txt",
            Part::Html => "html",
        }
    }
}

/// One message kind's templates (the seller's or herald's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSet {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl TemplateSet {
    fn part(&self, p: Part) -> &str {
        match p {
            Part::Subject => &self.subject,
            Part::Text => &self.text,
            Part::Html => &self.html,
        }
    }
}

/// A rendered message, ready for a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The facts a message may use. Parts that do not concern a message kind are absent, so a
/// template that uses them fails validation.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MessageFacts {
    pub store: StoreFacts,
    pub customer: CustomerFacts,
    pub order: OrderFacts,
    /// The buyer tracking page, when the order has one.
    pub tracking_page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<DelayFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<ProblemFacts>,
    /// The goodwill offer the seller's policy attaches to delay and problem notices, if any.
    pub offer: Option<OfferFacts>,
    /// For the seller: one alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertFacts>,
    /// For the seller: the day's alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestFacts>,
    /// For a status page subscriber: what changed on the page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusFacts>,
    /// For someone who asked to subscribe: what they asked for and the link that confirms it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionFacts>,
}

/// An incident or maintenance notice to a status page subscriber.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct StatusFacts {
    /// The status page's name and address.
    pub page_name: String,
    pub page_url: String,
    /// incident_created, incident_updated, incident_resolved, maintenance_scheduled,
    /// maintenance_started, maintenance_updated, maintenance_completed, maintenance_reminder.
    pub event: String,
    /// "New incident", "Resolved", "Maintenance starts soon", ...
    pub headline: String,
    pub name: String,
    /// "Investigating", "Resolved", "In progress", ...
    pub status: String,
    /// What the seller wrote in this update.
    pub body: String,
    /// "Nov 23, 3:05 PM EST".
    pub posted: String,
    /// "Checkout: Partial outage", for the components it concerns.
    pub components: Vec<String>,
    /// "Next update by 3:35 PM EST."
    pub next_update: Option<String>,
    /// "Estimated restore: Nov 23, 5:00 PM EST."
    pub restore: Option<String>,
    /// Maintenance: "Nov 24, 2:00 AM EST to 4:00 AM EST".
    pub window: Option<String>,
    /// The incident's page.
    pub link: String,
    /// Where the subscriber changes or stops their subscription (also the one-click link).
    pub manage: String,
}

/// A subscription waiting for its confirmation.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct SubscriptionFacts {
    pub page_name: String,
    pub page_url: String,
    /// The components asked for, by name; empty for everything.
    pub components: Vec<String>,
    /// The link that confirms it.
    pub confirm: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct OfferFacts {
    /// "As an apology, here is 20% off your next order." or "We will send the replacement
    /// by Priority Mail Express, at our cost."
    pub text: String,
    /// The coupon code, when the offer has one.
    pub code: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct AlertFacts {
    /// order_at_risk, order_late, case_opened, case_overdue, customer_unreachable, ...
    pub kind: String,
    /// A short headline: "Order #1042 is at risk of shipping late".
    pub title: String,
    /// What happened and what to do, in full.
    pub message: String,
    /// "Monday, November 23 at 9:14".
    pub raised: String,
    /// Where to look (the order or case in the API), when herald knows its public address.
    pub link: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct DigestFacts {
    /// "Sunday, November 22 at 7:00".
    pub since: String,
    pub count: usize,
    /// The first alerts (up to 50).
    pub alerts: Vec<AlertFacts>,
    /// How many more are not listed.
    pub more: usize,
    /// The one-click link that stops the digest.
    pub unsubscribe: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct StoreFacts {
    pub name: String,
    /// Where customers can write (the Reply-To address), if set.
    pub contact: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct CustomerFacts {
    /// The first word of the customer's name, when known.
    pub first_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct OrderFacts {
    pub number: String,
    /// "Monday, November 23".
    pub placed_on: String,
    pub items: Vec<ItemFacts>,
    /// "99.50 USD", when known.
    pub total: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemFacts {
    pub name: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ShipmentFacts {
    /// As customers know it: "USPS", "UPS", "FedEx", "DHL" or the name given.
    pub carrier: String,
    pub service: Option<String>,
    pub tracking_number: String,
    /// "Thursday, November 26", when the carrier or the service standard gives one.
    pub expected_delivery: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct DelayFacts {
    /// The ship-by day that is at risk or missed.
    pub ship_by: String,
    /// Whether the deadline has already passed (late) or is only at risk.
    pub missed: bool,
    /// The business day the order is now expected to ship by.
    pub new_ship_by: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ProblemFacts {
    /// not_accepted, stalled, misrouted, overdue, exception, delivery_failed,
    /// returned_to_sender or uncollected_pickup.
    pub kind: String,
    /// What happened, in plain words for the customer.
    pub what_happened: String,
    /// What the seller does about it.
    pub what_we_do: String,
    /// When the customer will hear from the seller next: "Tuesday, November 24".
    pub next_update: String,
}

/// A headline for a seller alert of `kind` (the alert's own message says the rest).
pub fn alert_title(kind: &str) -> String {
    match kind {
        "order_at_risk" => "An order is at risk of shipping late".into(),
        "order_late" => "An order missed its ship-by deadline".into(),
        "case_opened" => "A parcel needs attention".into(),
        "case_first_action_overdue" => "A parcel case is still waiting for its first action".into(),
        "customer_unreachable" => "A customer's e-mail address bounced".into(),
        "incident_update_due" => "The status page owes customers an update soon".into(),
        "incident_update_missed" => "The status page missed its promised update".into(),
        "status_reports_burst" => "Customers are reporting a problem on the status page".into(),
        other => format!("herald needs you: {}", other.replace('_', " ")),
    }
}

/// A customer's first name from a full name.
pub fn first_name(full: Option<&str>) -> Option<String> {
    full.and_then(|n| n.split_whitespace().next())
        .map(str::to_string)
}

/// "USPS", "UPS", "FedEx", "DHL", or the carrier's name as given.
pub fn carrier_display(carrier: &str) -> String {
    match carrier.to_ascii_lowercase().as_str() {
        "usps" => "USPS".into(),
        "ups" => "UPS".into(),
        "fedex" => "FedEx".into(),
        "dhl" | "dhl_express" | "dhlexpress" => "DHL".into(),
        _ => carrier.to_string(),
    }
}

/// The customer-facing account of a parcel problem: what happened and what the seller does.
pub fn problem_wording(kind: crate::problems::ProblemKind) -> (&'static str, &'static str) {
    use crate::problems::ProblemKind as K;
    match kind {
        K::NotAccepted => (
            "The shipping label for your parcel was created, but the carrier has not yet scanned it as received.",
            "We are checking that it was handed over, and if it was not we will send it at once.",
        ),
        K::Stalled => (
            "Your parcel has had no new tracking scan for a few days. Parcels sometimes go quiet for a while, but we do not want to just wait and see.",
            "We are asking the carrier to look for it.",
        ),
        K::Misrouted => (
            "Your parcel was scanned somewhere well off its route to you, so it will arrive later than we said.",
            "We are asking the carrier to send it back on its way.",
        ),
        K::Overdue => (
            "Your parcel has not arrived by the day it was expected.",
            "We are following it with the carrier and watching for its next scan.",
        ),
        K::Exception => (
            "The carrier reported a problem with your parcel on its way to you.",
            "We are finding out from the carrier what it needs to get moving again.",
        ),
        K::DeliveryFailed => (
            "The carrier tried to deliver your parcel but could not.",
            "We are arranging another delivery; if your address needs a correction, just reply to this message.",
        ),
        K::ReturnedToSender => (
            "The carrier is sending your parcel back to us.",
            "Please reply to confirm your delivery address, and we will send it again (or refund you, if you prefer).",
        ),
        K::UncollectedPickup => (
            "Your parcel is waiting for you at a pickup point and will be sent back if nobody collects it.",
            "If you cannot collect it, reply and we will work something out.",
        ),
    }
}

/// herald's own wording, compiled in.
pub fn default_set(kind: MessageKind) -> TemplateSet {
    macro_rules! set {
        ($name:literal) => {
            TemplateSet {
                subject: include_str!(concat!("defaults/", $name, ".subject")).into(),
                text: include_str!(concat!("defaults/", $name, ".txt")).into(),
                html: include_str!(concat!("defaults/", $name, ".html")).into(),
            }
        };
    }
    match kind {
        MessageKind::OrderAcknowledged => set!("order_acknowledged"),
        MessageKind::PaymentReceived => set!("payment_received"),
        MessageKind::Shipped => set!("shipped"),
        MessageKind::Delayed => set!("delayed"),
        MessageKind::ParcelProblem => set!("parcel_problem"),
        MessageKind::Delivered => set!("delivered"),
        MessageKind::SellerAlert => set!("seller_alert"),
        MessageKind::SellerDigest => set!("seller_digest"),
        MessageKind::Test => set!("test"),
        MessageKind::StatusNotice => set!("status_notice"),
        MessageKind::StatusConfirm => set!("status_confirm"),
    }
}

/// The HTML frame every HTML part extends (`{% extends "layout.html" %}`, block `body`).
const LAYOUT: &str = include_str!("defaults/layout.html");

/// A template that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {part} template of {kind}: {message}")]
pub struct TemplateError {
    pub kind: MessageKind,
    pub part: &'static str,
    pub message: String,
}

/// Sample facts for previews and for validating a template of `kind`.
pub fn sample_facts(kind: MessageKind) -> MessageFacts {
    let mut f = MessageFacts {
        store: StoreFacts {
            name: "Sandstone Pottery".into(),
            contact: Some("hello@sandstonepottery.shop".into()),
        },
        customer: CustomerFacts {
            first_name: Some("Maya".into()),
        },
        order: OrderFacts {
            number: "#1042".into(),
            placed_on: "Monday, November 23".into(),
            items: vec![
                ItemFacts {
                    name: "Sandstone mug".into(),
                    quantity: 2,
                },
                ItemFacts {
                    name: "Espresso cup pair".into(),
                    quantity: 1,
                },
            ],
            total: Some("99.50 USD".into()),
        },
        tracking_page: Some(
            "https://status.sandstonepottery.shop/t/3q2xv7k9mz4wd8hf5c6n1b0ty".into(),
        ),
        ..MessageFacts::default()
    };
    let shipment = ShipmentFacts {
        carrier: "USPS".into(),
        service: Some("Priority Mail".into()),
        tracking_number: "9400111899223856928499".into(),
        expected_delivery: Some("Thursday, November 26".into()),
    };
    match kind {
        MessageKind::Shipped | MessageKind::Delivered => f.shipment = Some(shipment),
        MessageKind::ParcelProblem => {
            let (what_happened, what_we_do) =
                problem_wording(crate::problems::ProblemKind::Stalled);
            f.shipment = Some(shipment);
            f.problem = Some(ProblemFacts {
                kind: "stalled".into(),
                what_happened: what_happened.into(),
                what_we_do: what_we_do.into(),
                next_update: "Tuesday, November 24".into(),
            });
            f.offer = Some(sample_offer());
        }
        MessageKind::Delayed => {
            f.delay = Some(DelayFacts {
                ship_by: "Tuesday, November 24".into(),
                missed: false,
                new_ship_by: "Wednesday, November 25".into(),
            });
            f.offer = Some(sample_offer());
        }
        MessageKind::SellerAlert => f.alert = Some(sample_alert()),
        MessageKind::StatusNotice => f.status = Some(sample_status()),
        MessageKind::StatusConfirm => {
            f.subscription = Some(SubscriptionFacts {
                page_name: "Sandstone Pottery".into(),
                page_url: "https://status.sandstonepottery.shop".into(),
                components: vec!["Checkout".into()],
                confirm: "https://status.sandstonepottery.shop/subscriptions/8f2k4q9x7m3v5w1z".into(),
            })
        }
        MessageKind::SellerDigest => {
            f.digest = Some(DigestFacts {
                since: "Sunday, November 22 at 7:00".into(),
                count: 2,
                alerts: vec![
                    sample_alert(),
                    AlertFacts {
                        kind: "case_opened".into(),
                        title: "Parcel of order #1038 has stalled".into(),
                        message: "USPS 9400111899223856928411 has had no scan for 3 days. Ask USPS to search for it and tell the customer what happens next.".into(),
                        raised: "Sunday, November 22 at 16:02".into(),
                        link: None,
                    },
                ],
                more: 0,
                unsubscribe: "https://status.sandstonepottery.shop/unsubscribe/5k2v9q".into(),
            })
        }
        _ => {}
    }
    f
}

fn sample_status() -> StatusFacts {
    StatusFacts {
        page_name: "Sandstone Pottery".into(),
        page_url: "https://status.sandstonepottery.shop".into(),
        event: "incident_updated".into(),
        headline: "Update".into(),
        name: "Card payments fail at checkout".into(),
        status: "Identified".into(),
        body: "Our card processor is failing some payments. PayPal still works.".into(),
        posted: "Nov 23, 3:05 PM EST".into(),
        components: vec!["Checkout: Partial outage".into()],
        next_update: Some("Next update by 3:35 PM EST.".into()),
        restore: Some("Estimated restore: Nov 23, 5:00 PM EST.".into()),
        window: None,
        link: "https://status.sandstonepottery.shop/incidents/k3m9q2x7p1ab".into(),
        manage: "https://status.sandstonepottery.shop/subscriptions/8f2k4q9x7m3v5w1z".into(),
    }
}

fn sample_offer() -> OfferFacts {
    OfferFacts {
        text: "As an apology, here is 20% off your next order.".into(),
        code: Some("SORRY-7KQ4-M2XD".into()),
    }
}

fn sample_alert() -> AlertFacts {
    AlertFacts {
        kind: "order_at_risk".into(),
        title: "Order #1042 is at risk of shipping late".into(),
        message: "Order #1042 (shopify) must ship by Tuesday, November 24 at 17:00 and has not shipped yet.".into(),
        raised: "Monday, November 23 at 9:14".into(),
        link: Some("https://status.sandstonepottery.shop/api/v1/orders/42".into()),
    }
}

/// The seller's saved templates, by store (a sales channel; "" for every store) and kind.
pub type CustomTemplates = BTreeMap<(String, MessageKind), TemplateSet>;

/// The templates in use: herald's defaults, the seller's versions for every store on top, and
/// a store's own versions on top of those.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    custom: CustomTemplates,
}

impl Templates {
    /// With the seller's saved versions (each already validated when saved).
    pub fn with_custom(custom: CustomTemplates) -> Self {
        Self { custom }
    }

    /// The wording of `kind` for orders of `store` ("" for every store).
    pub fn set_for(&self, store: &str, kind: MessageKind) -> TemplateSet {
        self.custom
            .get(&(store.to_string(), kind))
            .or_else(|| self.custom.get(&(String::new(), kind)))
            .cloned()
            .unwrap_or_else(|| default_set(kind))
    }

    /// Whether the seller saved a version of `kind` for exactly `store`.
    pub fn is_custom(&self, store: &str, kind: MessageKind) -> bool {
        self.custom.contains_key(&(store.to_string(), kind))
    }

    /// Renders `kind` with `facts` in the wording for every store.
    pub fn render(
        &self,
        kind: MessageKind,
        facts: &MessageFacts,
    ) -> Result<Rendered, TemplateError> {
        self.render_for("", kind, facts)
    }

    /// Renders `kind` with `facts` in `store`'s wording.
    pub fn render_for(
        &self,
        store: &str,
        kind: MessageKind,
        facts: &MessageFacts,
    ) -> Result<Rendered, TemplateError> {
        render_set(kind, &self.set_for(store, kind), facts)
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_template("layout.html", LAYOUT)
        .expect("herald's layout template compiles");
    env
}

/// Renders one template set; the subject becomes a single line.
pub fn render_set(
    kind: MessageKind,
    set: &TemplateSet,
    facts: &MessageFacts,
) -> Result<Rendered, TemplateError> {
    let mut env = environment();
    let ctx = Value::from_serialize(facts);
    let mut out = BTreeMap::new();
    for part in Part::ALL {
        let name = format!("{}.{}", kind.as_str(), part.suffix());
        let err = |e: minijinja::Error| TemplateError {
            kind,
            part: part.suffix(),
            message: describe(&e),
        };
        env.add_template_owned(name.clone(), set.part(part).to_string())
            .map_err(err)?;
        let text = env
            .get_template(&name)
            .map_err(err)?
            .render(&ctx)
            .map_err(err)?;
        out.insert(part, text);
    }
    let subject = out[&Part::Subject]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if subject.is_empty() {
        return Err(TemplateError {
            kind,
            part: "subject",
            message: "the subject is empty".into(),
        });
    }
    Ok(Rendered {
        subject,
        text: out.remove(&Part::Text).unwrap_or_default(),
        html: out.remove(&Part::Html).unwrap_or_default(),
    })
}

/// Checks a seller's template set before it is saved: it must compile and render with the
/// sample facts of its kind in strict mode (so unknown variables are caught now).
pub fn validate(kind: MessageKind, set: &TemplateSet) -> Result<Rendered, TemplateError> {
    for (part, limit) in [
        (Part::Subject, 1_000),
        (Part::Text, 100_000),
        (Part::Html, 200_000),
    ] {
        if set.part(part).len() > limit {
            return Err(TemplateError {
                kind,
                part: part.suffix(),
                message: format!("longer than {limit} characters"),
            });
        }
    }
    render_set(kind, set, &sample_facts(kind))
}

/// minijinja's error with its line, phrased for a person editing the template.
fn describe(e: &minijinja::Error) -> String {
    let what = match e.kind() {
        minijinja::ErrorKind::UndefinedError => {
            "uses a variable this message does not have (see the variables in docs/notifications.md)"
                .to_string()
        }
        minijinja::ErrorKind::SyntaxError => "syntax error".to_string(),
        _ => e.kind().to_string(),
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    match e.line() {
        Some(line) => format!("line {line}: {what}{detail}"),
        None => format!("{what}{detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_renders_with_its_sample_facts() {
        for kind in MessageKind::ALL {
            let r = validate(kind, &default_set(kind)).unwrap();
            assert!(!r.subject.contains('\n'));
            assert!(
                r.text.contains("Maya")
                    || kind == MessageKind::Test
                    || kind.for_seller()
                    || kind.for_subscriber(),
                "{kind}: {}",
                r.text
            );
            assert!(r.html.contains("<html"), "{kind}");
            if kind.for_subscriber() {
                // Subscribers are not customers: no order, no name, only the page.
                assert!(
                    !r.text.contains("#1042") && !r.text.contains("Maya"),
                    "{kind}"
                );
                assert!(
                    r.text
                        .contains("https://status.sandstonepottery.shop/subscriptions/"),
                    "{kind} carries its link"
                );
            } else if kind != MessageKind::Test && kind != MessageKind::SellerDigest {
                assert!(r.text.contains("#1042"), "{kind} names the order");
                assert!(r.html.contains("#1042"), "{kind} names the order");
            }
        }
    }

    #[test]
    fn shipped_carries_carrier_tracking_number_and_the_tracking_page() {
        let r = validate(MessageKind::Shipped, &default_set(MessageKind::Shipped)).unwrap();
        for needle in [
            "USPS",
            "9400111899223856928499",
            "/t/3q2xv7k9mz4wd8hf5c6n1b0ty",
            "Sandstone mug",
        ] {
            assert!(r.text.contains(needle), "text lacks {needle}: {}", r.text);
            // minijinja escapes '/' in HTML as &#x2f;, which browsers read back as '/'.
            let html = r.html.replace("&#x2f;", "/");
            assert!(html.contains(needle), "html lacks {needle}");
        }
    }

    #[test]
    fn problem_notice_says_what_happened_what_we_do_and_when_next() {
        let r = validate(
            MessageKind::ParcelProblem,
            &default_set(MessageKind::ParcelProblem),
        )
        .unwrap();
        assert!(r.text.contains("no new tracking scan"), "{}", r.text);
        assert!(r.text.contains("asking the carrier"), "{}", r.text);
        assert!(r.text.contains("Tuesday, November 24"), "{}", r.text);
    }

    #[test]
    fn offers_show_with_their_code_and_a_delay_gives_the_new_estimate() {
        let r = validate(MessageKind::Delayed, &default_set(MessageKind::Delayed)).unwrap();
        assert!(r.text.contains("Wednesday, November 25"), "{}", r.text);
        assert!(r.text.contains("20% off") && r.text.contains("SORRY-7KQ4-M2XD"));
        assert!(
            r.text
                .contains("at checkout.\n\nYou can see where things stand"),
            "the offer is a paragraph of its own: {}",
            r.text
        );
        assert!(r.html.contains("SORRY-7KQ4-M2XD"));
        let mut f = sample_facts(MessageKind::ParcelProblem);
        f.offer = None;
        let r = Templates::default()
            .render(MessageKind::ParcelProblem, &f)
            .unwrap();
        assert!(!r.text.contains("apology") && !r.text.contains("code"));
        assert!(
            !r.text.contains("\n\n\n"),
            "no gap where the offer was: {}",
            r.text
        );
    }

    #[test]
    fn the_digest_lists_every_alert_and_how_to_stop_it() {
        let r = validate(
            MessageKind::SellerDigest,
            &default_set(MessageKind::SellerDigest),
        )
        .unwrap();
        assert!(r.subject.contains("2 things need you"), "{}", r.subject);
        assert!(r.text.contains("Order #1042 is at risk"));
        assert!(r.text.contains("order #1038 has stalled"));
        assert!(r.text.contains("/unsubscribe/5k2v9q"));
    }

    #[test]
    fn unknown_variables_and_syntax_errors_are_refused_with_the_line() {
        let mut set = default_set(MessageKind::Shipped);
        set.text = "Hello\n{{ order.numbr }}".into();
        let e = validate(MessageKind::Shipped, &set).unwrap_err();
        assert_eq!(e.part, "txt");
        assert!(e.message.contains("line 2"), "{e}");
        assert!(e.message.contains("variable"), "{e}");
        // A part of another kind's facts is unknown here too.
        let mut set = default_set(MessageKind::Shipped);
        set.subject = "{{ problem.kind }}".into();
        assert!(validate(MessageKind::Shipped, &set).is_err());
        let mut set = default_set(MessageKind::Delivered);
        set.html = "{% if %}".into();
        let e = validate(MessageKind::Delivered, &set).unwrap_err();
        assert!(e.message.contains("syntax"), "{e}");
    }

    #[test]
    fn html_escapes_what_customers_typed_and_subjects_stay_on_one_line() {
        let mut f = sample_facts(MessageKind::OrderAcknowledged);
        f.customer.first_name = Some("<script>x</script>".into());
        f.order.number = "#1\r\nBcc: victim@elsewhere.com".into();
        let r = Templates::default()
            .render(MessageKind::OrderAcknowledged, &f)
            .unwrap();
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
    }

    #[test]
    fn the_sellers_version_replaces_the_default() {
        let mut custom = BTreeMap::new();
        let mut set = default_set(MessageKind::Delivered);
        set.subject = "It's there, {{ customer.first_name }}!".into();
        custom.insert((String::new(), MessageKind::Delivered), set.clone());
        set.subject = "Your candles arrived, {{ customer.first_name }}".into();
        custom.insert(("shopify-candles".into(), MessageKind::Delivered), set);
        let t = Templates::with_custom(custom);
        let sample = sample_facts(MessageKind::Delivered);
        assert_eq!(
            t.render_for("shopify-candles", MessageKind::Delivered, &sample)
                .unwrap()
                .subject,
            "Your candles arrived, Maya"
        );
        assert_eq!(
            t.render_for("amazon", MessageKind::Delivered, &sample)
                .unwrap()
                .subject,
            "It's there, Maya!",
            "other stores fall back to the version for every store"
        );
        let r = t
            .render(
                MessageKind::Delivered,
                &sample_facts(MessageKind::Delivered),
            )
            .unwrap();
        assert_eq!(r.subject, "It's there, Maya!");
        let r = t
            .render(MessageKind::Shipped, &sample_facts(MessageKind::Shipped))
            .unwrap();
        assert!(r.subject.contains("#1042"));
    }
}
