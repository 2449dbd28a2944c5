//! The store's side of the simulation: feeds the world's happenings to herald through its HTTP
//! API (the same router and handlers a real seller's systems call, in process), takes the
//! label service down and up again (herald's monitor notices and opens the incident), and
//! plays the seller on the status page: posts updates when herald reminds them (missing one
//! now and then, as people do), and resolves the incident once labels have printed for a
//! while.

use super::world::{Happening, World};
use crate::demo::Dice;
use anyhow::{Context, Result, bail};
use axum::body::Body;
use axum::http::{Method, Request};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tower::ServiceExt;

/// herald's API, called in process with the seller's token.
#[derive(Clone)]
pub struct Api {
    pub router: axum::Router,
    pub token: String,
}

impl Api {
    /// One request; anything but 2xx is an error naming the request and herald's answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> Result<Value> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let req = req.body(match body {
            Some(b) => Body::from(serde_json::to_vec(b)?),
            None => Body::empty(),
        })?;
        let resp = self.router.clone().oneshot(req).await?;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await?;
        if !status.is_success() {
            bail!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

/// A status-page step the seller will take at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusStep {
    Update,
    Resolve,
}

/// Feeds one world into herald and plays its seller.
pub struct Driver<'w> {
    pub world: &'w World,
    pub api: Api,
    pub labels: &'w super::label_service::LabelService,
    /// The next happening to feed.
    next: usize,
    /// herald's ids of the world's orders and parcels, once it has them.
    pub order_ids: Vec<Option<i64>>,
    pub shipment_ids: Vec<Option<i64>>,
    pub incident: Option<String>,
    plan: Vec<(Timestamp, StatusStep)>,
    alerts_after: Option<i64>,
    updates_posted: u32,
    resolved: bool,
    dice: Dice,
}

impl<'w> Driver<'w> {
    pub fn new(world: &'w World, api: Api, labels: &'w super::label_service::LabelService) -> Self {
        Self {
            world,
            api,
            labels,
            next: 0,
            order_ids: vec![None; world.orders.len()],
            shipment_ids: vec![None; world.parcels.len()],
            incident: None,
            plan: Vec::new(),
            alerts_after: None,
            updates_posted: 0,
            resolved: false,
            dice: Dice::new(world.spec.seed ^ 0x5e11e5),
        }
    }

    /// The seller's status page: what customers see of the shop.
    pub async fn set_up_status_page(&mut self) -> Result<()> {
        for (i, (name, description)) in [
            ("Online store", "Browsing and buying on canyonclay.shop"),
            ("Checkout and payments", "Paying for an order"),
            (
                "Order shipping",
                "Packing orders and handing them to the carriers",
            ),
            ("Customer support", "E-mail and chat with the studio"),
        ]
        .iter()
        .enumerate()
        {
            self.api
                .call(
                    Method::POST,
                    "/api/v1/status/components",
                    Some(&json!({ "name": name, "description": description, "position": i })),
                    Some(&format!("demo-component-{i}")),
                )
                .await?;
        }
        Ok(())
    }

    /// When the seller next does something on the status page.
    pub fn next_step_at(&self) -> Option<Timestamp> {
        self.plan.iter().map(|p| p.0).min()
    }

    /// Feeds every happening up to `now`, grouped as a seller's systems would send them: new
    /// orders in one batch, cancellations and shipments in another, scans in a third.
    pub async fn feed_until(&mut self, now: Timestamp) -> Result<()> {
        let start = self.next;
        while self.next < self.world.timeline.len() && self.world.timeline[self.next].0 <= now {
            self.next += 1;
        }
        let due = &self.world.timeline[start..self.next];
        let placed: Vec<usize> = pick(due, |h| match h {
            Happening::Placed(i) => Some(i),
            _ => None,
        });
        self.send_orders(&placed, |_, _| {}).await?;
        let cancelled: Vec<usize> = pick(due, |h| match h {
            Happening::Cancelled(i) => Some(i),
            _ => None,
        });
        let world = self.world;
        self.send_orders(&cancelled, |i, o| {
            o.cancelled_at = world.orders[i].cancelled_at.map(|t| t.to_string());
        })
        .await?;
        let shipped: Vec<usize> = pick(due, |h| match h {
            Happening::Shipped(i) => Some(i),
            _ => None,
        });
        self.ship(&shipped).await?;
        let scans: Vec<Value> = due
            .iter()
            .filter_map(|(_, h)| match *h {
                Happening::Scanned(p, s) => {
                    Some(serde_json::to_value(&world.parcels[p].scans[s].event).ok()?)
                }
                _ => None,
            })
            .collect();
        for chunk in scans.chunks(5_000) {
            self.api
                .call(
                    Method::POST,
                    "/api/v1/tracking-events",
                    Some(&json!({ "events": chunk })),
                    None,
                )
                .await?;
        }
        for (at, h) in due {
            match h {
                Happening::LabelServiceDown => self.labels.set_up(false),
                // herald's monitor sees labels print again and moves the incident to
                // monitoring; the seller resolves it once the backlog has gone out.
                Happening::LabelServiceUp => {
                    self.labels.set_up(true);
                    self.plan
                        .push((*at + SignedDuration::from_mins(45), StatusStep::Resolve));
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn send_orders(
        &mut self,
        which: &[usize],
        edit: impl Fn(usize, &mut herald_core::order::OrderInput),
    ) -> Result<()> {
        let inputs: Vec<_> = which
            .iter()
            .map(|&i| {
                let mut o = self.world.orders[i].input.clone();
                edit(i, &mut o);
                o
            })
            .collect();
        for (chunk, ids) in inputs.chunks(2_000).zip(which.chunks(2_000)) {
            let r = self
                .api
                .call(
                    Method::POST,
                    "/api/v1/orders",
                    Some(&json!({ "orders": chunk })),
                    None,
                )
                .await?;
            let results = r["results"].as_array().context("orders answer")?;
            for (&i, res) in ids.iter().zip(results) {
                self.order_ids[i] = res["id"].as_i64();
            }
        }
        Ok(())
    }

    /// Marks orders shipped (the sales channel's update) and records each parcel.
    async fn ship(&mut self, which: &[usize]) -> Result<()> {
        if which.is_empty() {
            return Ok(());
        }
        let world = self.world;
        self.send_orders(which, |i, input| {
            input.shipped_at = world.orders[i].shipped_at.map(|t| t.to_string());
            for it in &mut input.items {
                it.quantity_shipped = it.quantity;
            }
        })
        .await?;
        for &i in which {
            let Some(p) = world.orders[i].parcel else {
                continue;
            };
            let mut s = world.parcels[p].shipment.clone();
            s.order_id = self.order_ids[i].context("the order was stored before it shipped")?;
            let r = self
                .api
                .call(
                    Method::POST,
                    "/api/v1/shipments",
                    Some(&serde_json::to_value(&s)?),
                    None,
                )
                .await?;
            self.shipment_ids[p] = r["id"].as_i64();
        }
        Ok(())
    }

    /// The seller's status-page work at `now`: read herald's new alerts (a promised update
    /// about to run out gets an update a few minutes later; one in eight is missed until
    /// herald says it is late), and take the steps that are due.
    pub async fn act(&mut self, now: Timestamp) -> Result<()> {
        if self.incident.is_none() && !self.labels.is_up() {
            // The seller hears of the incident herald's monitor opened.
            let r = self
                .api
                .call(Method::GET, "/api/v1/status/incidents", None, None)
                .await?;
            self.incident = r["incidents"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|i| i["scheduled_for"].is_null() && i["resolved_at"].is_null())
                .and_then(|i| i["id"].as_str())
                .map(String::from);
        }
        if self.incident_open() {
            loop {
                let path = match self.alerts_after {
                    Some(a) => format!("/api/v1/alerts?after={a}&limit=100"),
                    None => "/api/v1/alerts?limit=100".into(),
                };
                let r = self.api.call(Method::GET, &path, None, None).await?;
                let alerts = r["alerts"].as_array().cloned().unwrap_or_default();
                for a in &alerts {
                    self.alerts_after = a["id"].as_i64().or(self.alerts_after);
                    let kind = a["kind"].as_str().unwrap_or_default();
                    let busy = !self.plan.is_empty();
                    let missed = kind == "incident_update_missed";
                    if (kind == "incident_update_due" || missed) && !busy {
                        if !missed && self.dice.below(8) == 0 {
                            continue;
                        }
                        let lag = 1 + self.dice.below(3) as i64;
                        self.plan
                            .push((now + SignedDuration::from_mins(lag), StatusStep::Update));
                    }
                }
                if r["next_after"].is_null() {
                    break;
                }
            }
        }
        let mut due: Vec<(Timestamp, StatusStep)> = Vec::new();
        self.plan.retain(|p| {
            if p.0 <= now {
                due.push(*p);
                false
            } else {
                true
            }
        });
        due.sort_by_key(|p| p.0);
        for (_, step) in due {
            self.status_step(step).await?;
        }
        Ok(())
    }

    async fn status_step(&mut self, step: StatusStep) -> Result<()> {
        match (step, self.incident.clone()) {
            (StatusStep::Update, Some(id)) => {
                let update = if self.labels.is_up() {
                    // herald's monitor has moved it to monitoring: keep that status.
                    json!({
                        "body": "Labels print again and the morning's parcels are going out to the carriers now.",
                        "next_update_in_minutes": 30,
                    })
                } else {
                    json!({
                        "status": "identified",
                        "body": "Our label provider is still working on it. Every order placed today will leave as soon as labels print; we are packing now so nothing waits longer than it must.",
                        "next_update_in_minutes": 30,
                    })
                };
                self.post_update(&id, update).await?;
            }
            (StatusStep::Resolve, Some(id)) => {
                self.post_update(
                    &id,
                    json!({
                        "status": "resolved",
                        "body": "All of today's orders have shipped. Thank you for your patience.",
                    }),
                )
                .await?;
                self.resolved = true;
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_update(&mut self, id: &str, body: Value) -> Result<()> {
        self.updates_posted += 1;
        let key = format!("update-{id}-{}", self.updates_posted);
        self.api
            .call(
                Method::POST,
                &format!("/api/v1/status/incidents/{id}/updates"),
                Some(&body),
                Some(&key),
            )
            .await?;
        Ok(())
    }

    /// Whether the seller's incident is open on the status page.
    pub fn incident_open(&self) -> bool {
        self.incident.is_some() && !self.resolved
    }

    /// Whether the label service is down or its incident open: herald's monitor and status
    /// clock matter minute by minute then.
    pub fn outage_on(&self) -> bool {
        !self.labels.is_up() || self.incident_open()
    }

    /// Whether everything has been fed and the seller has nothing left to do.
    pub fn done(&self) -> bool {
        self.next >= self.world.timeline.len() && self.plan.is_empty()
    }
}

fn pick(due: &[(Timestamp, Happening)], f: impl Fn(Happening) -> Option<usize>) -> Vec<usize> {
    due.iter().filter_map(|(_, h)| f(*h)).collect()
}
