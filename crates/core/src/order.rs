//! Orders: what herald knows of each order, how a re-sent or late update merges into what it
//! already has, and which lifecycle events that produces.
//!
//! Merging is order-independent: lifecycle facts (paid, shipped, delivered, ...) are kept as the
//! earliest instant any update reported them, so an old update arriving late can never undo a
//! newer one; descriptive fields (customer, address, items) come from the newest version.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A field of the input that is wrong, and why. `field` is a path such as `items[2].quantity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error with `prefix` put in front of its field path.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else if self.field.starts_with('[') {
            format!("{prefix}{}", self.field)
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The sales channel an order came from: `shopify`, `amazon`, `woocommerce`, `api`, or any
/// other lowercase name of up to 32 letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Channel(String);

impl Channel {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not a channel name: use 1-32 lowercase letters, digits, '-' or '_' (for example \"shopify\")"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Channel {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<Channel> for String {
    fn from(c: Channel) -> String {
        c.0
    }
}
impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The buyer, as far as the channel tells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// A postal address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub line1: Option<String>,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub line3: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    #[serde(default)]
    pub sku: Option<String>,
    pub name: String,
    pub quantity: u32,
    #[serde(default)]
    pub quantity_shipped: u32,
    /// Unit price as a decimal string in the order's currency, e.g. `"19.99"`.
    #[serde(default)]
    pub price: Option<String>,
}

/// The lifecycle steps of an order, each recorded once with the instant it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEventKind {
    Placed,
    Paid,
    PartiallyShipped,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderEventKind {
    pub const ALL: [OrderEventKind; 7] = [
        Self::Placed,
        Self::Paid,
        Self::PartiallyShipped,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Refunded,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Paid => "paid",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where an order is in its life. Derived from the lifecycle facts, never set directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Placed,
    Paid,
    PartiallyShipped,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderState {
    pub const ALL: [OrderState; 7] = [
        Self::Placed,
        Self::Paid,
        Self::PartiallyShipped,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Refunded,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Paid => "paid",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }
}

impl std::str::FromStr for OrderState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            format!("unknown order state {s:?}: expected one of placed, paid, partially_shipped, shipped, delivered, cancelled, refunded")
        })
    }
}

/// An order as a channel reports it at one moment: the input to every ingest path (API, CSV,
/// TSV). Built only through [`NewOrder::validate`] or the importers, so its fields are checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    pub channel: Channel,
    pub external_id: String,
    /// The order number shown to the customer (`#1001`, `114-3941689-8772232`).
    pub number: String,
    pub customer: Customer,
    pub shipping_address: Option<Address>,
    pub items: Vec<LineItem>,
    pub currency: Option<String>,
    pub subtotal: Option<String>,
    pub shipping: Option<String>,
    pub tax: Option<String>,
    pub total: Option<String>,
    pub placed_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub partially_shipped_at: Option<Timestamp>,
    pub shipped_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub refunded_at: Option<Timestamp>,
    /// The channel's own latest ship date (Amazon's `latest-ship-date`); wins over herald's.
    pub latest_ship_date: Option<Timestamp>,
    /// The channel's delivery promise to the buyer (Amazon's `promise-date`).
    pub promise_date: Option<Timestamp>,
    /// When the channel produced this version; defaults to the latest instant it mentions.
    pub as_of: Timestamp,
}

/// The JSON shape of one order at `POST /api/v1/orders`. Instants are RFC 3339 strings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    pub channel: String,
    pub external_id: String,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub customer: Customer,
    #[serde(default)]
    pub shipping_address: Option<Address>,
    #[serde(default)]
    pub items: Vec<LineItem>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub subtotal: Option<String>,
    #[serde(default)]
    pub shipping: Option<String>,
    #[serde(default)]
    pub tax: Option<String>,
    #[serde(default)]
    pub total: Option<String>,
    pub placed_at: String,
    #[serde(default)]
    pub paid_at: Option<String>,
    #[serde(default)]
    pub partially_shipped_at: Option<String>,
    #[serde(default)]
    pub shipped_at: Option<String>,
    #[serde(default)]
    pub delivered_at: Option<String>,
    #[serde(default)]
    pub cancelled_at: Option<String>,
    #[serde(default)]
    pub refunded_at: Option<String>,
    #[serde(default)]
    pub latest_ship_date: Option<String>,
    #[serde(default)]
    pub promise_date: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

fn instant(field: &str, v: &Option<String>, errs: &mut Vec<FieldError>) -> Option<Timestamp> {
    let s = v.as_deref()?.trim();
    if s.is_empty() {
        return None;
    }
    match s.parse::<Timestamp>() {
        Ok(t) => Some(t),
        Err(_) => {
            errs.push(FieldError::new(
                field,
                format!("{s:?} is not an RFC 3339 instant (for example 2025-12-06T15:37:33Z)"),
            ));
            None
        }
    }
}

/// Checks a decimal amount such as `"19.99"` or `"-5"`.
pub fn is_decimal(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
        && body.len() <= 24
}

fn amount(field: &str, v: &Option<String>, errs: &mut Vec<FieldError>) -> Option<String> {
    let s = v.as_deref()?.trim();
    if s.is_empty() {
        return None;
    }
    if is_decimal(s) {
        Some(s.to_string())
    } else {
        errs.push(FieldError::new(
            field,
            format!("{s:?} is not a decimal amount (for example \"19.99\")"),
        ));
        None
    }
}

fn text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl OrderInput {
    /// Turns the wire shape into a checked [`NewOrder`], naming every wrong field.
    pub fn validate(self) -> Result<NewOrder, Vec<FieldError>> {
        let mut errs = Vec::new();
        let channel = Channel::parse(self.channel.trim())
            .map_err(|m| errs.push(FieldError::new("channel", m)))
            .ok();
        let external_id = self.external_id.trim().to_string();
        if external_id.is_empty() || external_id.len() > 128 {
            errs.push(FieldError::new(
                "external_id",
                "must be the channel's order id, 1 to 128 characters",
            ));
        }
        let placed_at = instant("placed_at", &Some(self.placed_at.clone()), &mut errs);
        if placed_at.is_none() && self.placed_at.trim().is_empty() {
            errs.push(FieldError::new(
                "placed_at",
                "is required: when the customer placed the order",
            ));
        }
        let paid_at = instant("paid_at", &self.paid_at, &mut errs);
        let partially_shipped_at = instant(
            "partially_shipped_at",
            &self.partially_shipped_at,
            &mut errs,
        );
        let shipped_at = instant("shipped_at", &self.shipped_at, &mut errs);
        let delivered_at = instant("delivered_at", &self.delivered_at, &mut errs);
        let cancelled_at = instant("cancelled_at", &self.cancelled_at, &mut errs);
        let refunded_at = instant("refunded_at", &self.refunded_at, &mut errs);
        let latest_ship_date = instant("latest_ship_date", &self.latest_ship_date, &mut errs);
        let promise_date = instant("promise_date", &self.promise_date, &mut errs);
        let updated_at = instant("updated_at", &self.updated_at, &mut errs);
        let currency = text(self.currency).map(|c| c.to_ascii_uppercase());
        if let Some(c) = &currency
            && (c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            errs.push(FieldError::new(
                "currency",
                format!("{c:?} is not an ISO 4217 code such as \"USD\""),
            ));
        }
        let subtotal = amount("subtotal", &self.subtotal, &mut errs);
        let shipping = amount("shipping", &self.shipping, &mut errs);
        let tax = amount("tax", &self.tax, &mut errs);
        let total = amount("total", &self.total, &mut errs);
        let mut customer = self.customer;
        customer.name = text(customer.name);
        customer.phone = text(customer.phone);
        customer.email = text(customer.email);
        if let Some(e) = &customer.email
            && !looks_like_email(e)
        {
            errs.push(FieldError::new(
                "customer.email",
                format!("{e:?} is not an e-mail address"),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            if item.name.trim().is_empty() {
                errs.push(FieldError::new(
                    format!("items[{i}].name"),
                    "must not be empty",
                ));
            }
            if item.quantity == 0 {
                errs.push(FieldError::new(
                    format!("items[{i}].quantity"),
                    "must be at least 1",
                ));
            }
            if item.quantity_shipped > item.quantity {
                errs.push(FieldError::new(
                    format!("items[{i}].quantity_shipped"),
                    format!(
                        "{} is more than the {} ordered",
                        item.quantity_shipped, item.quantity
                    ),
                ));
            }
            amount(&format!("items[{i}].price"), &item.price, &mut errs);
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let (Some(channel), Some(placed_at)) = (channel, placed_at) else {
            unreachable!("errors were reported for a missing channel or placed_at")
        };
        let number = text(self.number).unwrap_or_else(|| external_id.clone());
        Ok(NewOrder {
            channel,
            external_id,
            number,
            customer,
            shipping_address: self.shipping_address,
            items: self.items,
            currency,
            subtotal,
            shipping,
            tax,
            total,
            placed_at,
            paid_at,
            partially_shipped_at,
            shipped_at,
            delivered_at,
            cancelled_at,
            refunded_at,
            latest_ship_date,
            promise_date,
            as_of: updated_at.unwrap_or(placed_at),
        }
        .normalised(updated_at.is_none()))
    }
}

/// A deliberately loose check: one `@` with something on both sides and a dot in the domain.
/// Deliverability is learnt from bounces, not guessed from syntax.
pub fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl NewOrder {
    /// Fills facts implied by others: a delivered order was shipped; a fully shipped order was
    /// (at the latest then) partially shipped. With `derive_as_of`, `as_of` becomes the latest
    /// instant the order mentions.
    pub fn normalised(mut self, derive_as_of: bool) -> Self {
        if self.shipped_at.is_none() {
            self.shipped_at = self.delivered_at;
        }
        self.partially_shipped_at = min_opt(self.partially_shipped_at, self.shipped_at);
        if derive_as_of {
            self.as_of = self
                .facts()
                .into_iter()
                .filter_map(|(_, t)| t)
                .max()
                .unwrap_or(self.placed_at);
        }
        self
    }

    /// The lifecycle facts of this version, one per event kind.
    pub fn facts(&self) -> [(OrderEventKind, Option<Timestamp>); 7] {
        use OrderEventKind::*;
        [
            (Placed, Some(self.placed_at)),
            (Paid, self.paid_at),
            (PartiallyShipped, self.partially_shipped_at),
            (Shipped, self.shipped_at),
            (Delivered, self.delivered_at),
            (Cancelled, self.cancelled_at),
            (Refunded, self.refunded_at),
        ]
    }

    /// The state these facts put the order in.
    pub fn state(&self) -> OrderState {
        if self.refunded_at.is_some() {
            OrderState::Refunded
        } else if self.cancelled_at.is_some() {
            OrderState::Cancelled
        } else if self.delivered_at.is_some() {
            OrderState::Delivered
        } else if self.shipped_at.is_some() {
            OrderState::Shipped
        } else if self.partially_shipped_at.is_some() {
            OrderState::PartiallyShipped
        } else if self.paid_at.is_some() {
            OrderState::Paid
        } else {
            OrderState::Placed
        }
    }

    /// Whether the order still has to be shipped: not fully shipped, not cancelled or refunded.
    pub fn awaiting_shipment(&self) -> bool {
        self.shipped_at.is_none() && self.cancelled_at.is_none() && self.refunded_at.is_none()
    }

    /// Merges an incoming version of the same order into this one. Commutative and idempotent
    /// for versions with distinct `as_of`: lifecycle facts keep their earliest report, the rest
    /// comes from the newest version (the incoming one on a tie).
    pub fn merge(&self, incoming: &NewOrder) -> NewOrder {
        let newest = if incoming.as_of >= self.as_of {
            incoming
        } else {
            self
        };
        let mut out = newest.clone();
        out.placed_at = self.placed_at.min(incoming.placed_at);
        out.paid_at = min_opt(self.paid_at, incoming.paid_at);
        out.partially_shipped_at =
            min_opt(self.partially_shipped_at, incoming.partially_shipped_at);
        out.shipped_at = min_opt(self.shipped_at, incoming.shipped_at);
        out.delivered_at = min_opt(self.delivered_at, incoming.delivered_at);
        out.cancelled_at = min_opt(self.cancelled_at, incoming.cancelled_at);
        out.refunded_at = min_opt(self.refunded_at, incoming.refunded_at);
        out.as_of = self.as_of.max(incoming.as_of);
        // Items never lose shipped quantity to an older report.
        let older = if std::ptr::eq(newest, incoming) {
            self
        } else {
            incoming
        };
        for item in &mut out.items {
            if let Some(o) = older
                .items
                .iter()
                .find(|o| o.sku == item.sku && o.name == item.name)
            {
                item.quantity_shipped = item
                    .quantity_shipped
                    .max(o.quantity_shipped)
                    .min(item.quantity);
            }
        }
        out.normalised(false)
    }

    /// The lifecycle events that `after` has and `before` (if any) did not, or had at another
    /// instant.
    pub fn new_events(
        before: Option<&NewOrder>,
        after: &NewOrder,
    ) -> Vec<(OrderEventKind, Timestamp)> {
        let old = before.map(|b| b.facts());
        after
            .facts()
            .into_iter()
            .enumerate()
            .filter_map(|(i, (kind, at))| {
                let at = at?;
                match &old {
                    Some(o) if o[i].1 == Some(at) => None,
                    _ => Some((kind, at)),
                }
            })
            .collect()
    }
}

/// A stored order: the merged facts plus herald's own bookkeeping.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: i64,
    #[serde(flatten)]
    pub facts: NewOrder,
    pub state: OrderState,
    pub ship_by: Timestamp,
    pub at_risk_from: Timestamp,
    pub ship_by_state: Option<crate::deadline::ShipByState>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base() -> OrderInput {
        OrderInput {
            channel: "shopify".into(),
            external_id: "5001".into(),
            number: Some("#1001".into()),
            placed_at: "2025-12-01T10:00:00Z".into(),
            items: vec![LineItem {
                sku: Some("MUG-1".into()),
                name: "Mug".into(),
                quantity: 2,
                quantity_shipped: 0,
                price: Some("12.50".into()),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn validation_names_every_bad_field() {
        let mut i = base();
        i.channel = "Shop ify".into();
        i.placed_at = "yesterday".into();
        i.customer.email = Some("not-an-address".into());
        i.items[0].quantity = 0;
        i.currency = Some("dollars".into());
        let errs = i.validate().unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "channel",
                "placed_at",
                "currency",
                "customer.email",
                "items[0].quantity"
            ]
        );
    }

    #[test]
    fn delivered_implies_shipped() {
        let mut i = base();
        i.delivered_at = Some("2025-12-04T10:00:00Z".into());
        let o = i.validate().unwrap();
        assert_eq!(o.state(), OrderState::Delivered);
        assert_eq!(o.shipped_at, o.delivered_at);
        assert!(!o.awaiting_shipment());
    }

    #[test]
    fn a_late_old_update_never_moves_an_order_backwards() {
        let placed = base().validate().unwrap();
        let mut shipped_in = base();
        shipped_in.paid_at = Some("2025-12-01T10:05:00Z".into());
        shipped_in.shipped_at = Some("2025-12-02T09:00:00Z".into());
        let shipped = shipped_in.validate().unwrap();
        let merged = shipped.merge(&placed);
        assert_eq!(merged.state(), OrderState::Shipped);
        assert_eq!(merged, placed.merge(&shipped));
    }

    fn version() -> impl Strategy<Value = NewOrder> {
        let opt = || prop::option::of(0i64..1_000_000);
        (
            (opt(), opt(), opt(), opt(), opt(), opt()),
            0u32..3,
            prop::sample::select(vec!["a@x.io", "b@y.io"]),
            0i64..1000,
        )
            .prop_map(
                |((paid, part, ship, deliv, canc, refund), shipped_q, email, skew)| {
                    let t = |o: Option<i64>| {
                        o.map(|s| Timestamp::from_second(1_750_000_000 + s).unwrap())
                    };
                    let mut i = base();
                    i.customer.email = Some(email.into());
                    let mut o = i.validate().unwrap();
                    o.paid_at = t(paid);
                    o.partially_shipped_at = t(part);
                    o.shipped_at = t(ship);
                    o.delivered_at = t(deliv);
                    o.cancelled_at = t(canc);
                    o.refunded_at = t(refund);
                    o.items[0].quantity_shipped = shipped_q.min(2);
                    o = o.normalised(true);
                    // Distinct versions get distinct as_of instants.
                    o.as_of = Timestamp::from_second(1_760_000_000 + skew).unwrap();
                    o
                },
            )
    }

    proptest! {
        #[test]
        fn merging_updates_in_any_order_gives_the_same_order(
            versions in prop::collection::vec(version(), 1..6)
                .prop_filter("distinct as_of", |v| {
                    let mut s: Vec<_> = v.iter().map(|o| o.as_of).collect();
                    s.sort(); s.dedup(); s.len() == v.len()
                }),
            seed in any::<u64>(),
        ) {
            let fold = |vs: &[NewOrder]| {
                let mut acc = vs[0].clone();
                for v in &vs[1..] { acc = acc.merge(v); }
                acc
            };
            let forward = fold(&versions);
            let mut shuffled = versions.clone();
            // A deterministic shuffle from the seed, with one version sent twice.
            let n = shuffled.len();
            for i in (1..n).rev() {
                let j = (seed as usize).wrapping_mul(i + 7) % (i + 1);
                shuffled.swap(i, j);
            }
            shuffled.push(shuffled[(seed as usize) % n].clone());
            prop_assert_eq!(&forward, &fold(&shuffled));
            // Every lifecycle fact is the earliest any version reported.
            let earliest = versions.iter().filter_map(|v| v.paid_at).min();
            prop_assert_eq!(forward.paid_at, earliest);
        }
    }
}
