//! Status page subscribers and what they are told. Every update of an incident or a
//! maintenance becomes one [`Notice`] (written in the same transaction as the update), and a
//! maintenance about to start one more (the reminder); each notice is fanned out through the
//! outbox to the confirmed subscribers who want it: all of them, or those who picked one of
//! the components it concerns.

use super::plan::StatusWrite;
use super::v2::instant;
use super::{Board, Incident, IncidentStatus};
use crate::notify::templates::{StatusFacts, SubscriptionFacts};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

/// What a notice tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    IncidentCreated,
    IncidentUpdated,
    IncidentResolved,
    MaintenanceScheduled,
    MaintenanceStarted,
    MaintenanceUpdated,
    MaintenanceCompleted,
    /// The maintenance starts soon (`status.maintenance_reminder_minutes` ahead).
    MaintenanceReminder,
}

impl NoticeEvent {
    pub const ALL: [Self; 8] = [
        Self::IncidentCreated,
        Self::IncidentUpdated,
        Self::IncidentResolved,
        Self::MaintenanceScheduled,
        Self::MaintenanceStarted,
        Self::MaintenanceUpdated,
        Self::MaintenanceCompleted,
        Self::MaintenanceReminder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IncidentCreated => "incident_created",
            Self::IncidentUpdated => "incident_updated",
            Self::IncidentResolved => "incident_resolved",
            Self::MaintenanceScheduled => "maintenance_scheduled",
            Self::MaintenanceStarted => "maintenance_started",
            Self::MaintenanceUpdated => "maintenance_updated",
            Self::MaintenanceCompleted => "maintenance_completed",
            Self::MaintenanceReminder => "maintenance_reminder",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown status notice {s:?}"))
    }

    /// The first words of the subject.
    pub fn headline(self) -> &'static str {
        match self {
            Self::IncidentCreated => "New incident",
            Self::IncidentUpdated => "Update",
            Self::IncidentResolved => "Resolved",
            Self::MaintenanceScheduled => "Scheduled maintenance",
            Self::MaintenanceStarted => "Maintenance started",
            Self::MaintenanceUpdated => "Maintenance update",
            Self::MaintenanceCompleted => "Maintenance completed",
            Self::MaintenanceReminder => "Maintenance starts soon",
        }
    }
}

/// One thing subscribers are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `update:{update id}` or `reminder:{maintenance id}`: stored once.
    pub key: String,
    pub incident_id: String,
    /// The update it tells of (`None` for a reminder: the latest is shown).
    pub update_id: Option<String>,
    pub event: NoticeEvent,
    /// The components it concerns; subscribers to any of them (or to everything) hear of it.
    pub component_ids: Vec<String>,
}

/// The notice a planned write owes subscribers: one per update.
pub fn of_write(w: &StatusWrite) -> Option<Notice> {
    let (i, u) = (w.incident.as_ref()?, w.update.as_ref()?);
    let first = i.created_at == u.created_at;
    let event = if i.is_maintenance() {
        match u.status {
            _ if first => NoticeEvent::MaintenanceScheduled,
            IncidentStatus::InProgress => NoticeEvent::MaintenanceStarted,
            IncidentStatus::Completed => NoticeEvent::MaintenanceCompleted,
            _ => NoticeEvent::MaintenanceUpdated,
        }
    } else {
        match u.status {
            _ if first => NoticeEvent::IncidentCreated,
            IncidentStatus::Resolved | IncidentStatus::Postmortem => NoticeEvent::IncidentResolved,
            _ => NoticeEvent::IncidentUpdated,
        }
    };
    Some(Notice {
        key: format!("update:{}", u.id),
        incident_id: i.id.clone(),
        update_id: Some(u.id.clone()),
        event,
        component_ids: i.component_ids.clone(),
    })
}

/// The reminder owed at `now` for a scheduled maintenance starting within `lead`.
pub fn reminder(m: &Incident, lead: SignedDuration, now: Timestamp) -> Option<Notice> {
    let start = m.scheduled_for?;
    if m.status != IncidentStatus::Scheduled || now >= start || now < start - lead {
        return None;
    }
    // Scheduled inside the lead: the scheduling notice already said when.
    if m.created_at >= start - lead {
        return None;
    }
    Some(Notice {
        key: format!("reminder:{}", m.id),
        incident_id: m.id.clone(),
        update_id: None,
        event: NoticeEvent::MaintenanceReminder,
        component_ids: m.component_ids.clone(),
    })
}

/// Whether a subscriber to `picked` (empty: everything) hears of a notice concerning
/// `concerns` (empty: the whole page, so everyone).
pub fn wants(picked: &[String], concerns: &[String]) -> bool {
    picked.is_empty() || concerns.is_empty() || picked.iter().any(|p| concerns.contains(p))
}

/// How a subscriber is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberChannel {
    Email,
    Webhook,
}

impl SubscriberChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "email" => Ok(Self::Email),
            "webhook" => Ok(Self::Webhook),
            _ => Err(format!("unknown subscriber channel {s:?}")),
        }
    }
}

/// A status page subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscriber {
    pub id: i64,
    /// In every link the subscriber gets (confirm, manage, unsubscribe); never shown elsewhere.
    #[serde(skip)]
    pub token: String,
    pub channel: SubscriberChannel,
    /// The e-mail address (lower case) or the webhook's URL.
    pub address: String,
    /// The components they hear about; empty for everything.
    pub component_ids: Vec<String>,
    /// Components asked for in a request not yet confirmed.
    pub pending_component_ids: Option<Vec<String>>,
    /// A webhook's signing secret (Standard Webhooks `whsec_...`).
    #[serde(skip)]
    pub secret: Option<String>,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub left_at: Option<Timestamp>,
}

impl Subscriber {
    /// Confirmed and not gone: notices reach them.
    pub fn active(&self) -> bool {
        self.confirmed_at.is_some() && self.left_at.is_none()
    }
}

/// An e-mail address as a subscriber gives it, checked for the obvious and lower-cased (the
/// mail server is the final judge; a bad address never confirms).
pub fn check_email(s: &str) -> Result<String, String> {
    let a = s.trim().to_ascii_lowercase();
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Err("Please enter an e-mail address such as name@example.com.".into());
    };
    let ok = !local.is_empty()
        && a.len() <= 254
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c));
    if ok {
        Ok(a)
    } else {
        Err("Please enter an e-mail address such as name@example.com.".into())
    }
}

/// What the subscribe form sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeForm {
    /// As typed; check it with [`check_email`].
    pub email: String,
    /// Component ids ticked (each once, in the order sent).
    pub components: Vec<String>,
    pub token: String,
    /// The hidden field was filled in: a bot.
    pub bot: bool,
}

/// Reads the subscribe form (`application/x-www-form-urlencoded`); unknown fields are
/// ignored.
pub fn parse_subscribe(body: &[u8]) -> Result<SubscribeForm, super::report::FormError> {
    let mut f = SubscribeForm::default();
    let (mut email, mut token) = (None, None);
    for (k, v) in form_urlencoded::parse(body) {
        match k.as_ref() {
            "email" => {
                email.get_or_insert(v.into_owned());
            }
            "token" => {
                token.get_or_insert(v.into_owned());
            }
            "component" => {
                let c = v.trim().to_string();
                if !c.is_empty() && !f.components.contains(&c) {
                    f.components.push(c);
                }
            }
            super::report::HONEYPOT => f.bot |= !v.trim().is_empty(),
            _ => {}
        }
    }
    if f.components.len() > 200 {
        return Err(super::report::FormError {
            field: "component",
            message: "Please pick fewer services, or none for everything.".into(),
        });
    }
    f.email = email.unwrap_or_default().chars().take(300).collect();
    f.token = token.unwrap_or_default();
    Ok(f)
}

/// The links a subscriber's messages carry.
#[derive(Debug, Clone)]
pub struct Links {
    /// The subscriber's page: confirm, change, unsubscribe.
    pub manage: String,
}

fn when(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%b %-d, %-I:%M %p %Z")
        .to_string()
}

/// The facts of a notice's mail, from the page as it is now. `None` when the incident is no
/// longer on the page.
pub fn facts(b: &Board, n: &Notice, links: &Links) -> Option<StatusFacts> {
    let tz = TimeZone::get(&b.page.time_zone).unwrap_or(TimeZone::UTC);
    let i = b.incidents.iter().find(|i| i.id == n.incident_id)?;
    let u = match &n.update_id {
        Some(id) => i.updates.iter().find(|u| &u.id == id)?,
        None => i.updates.first()?,
    };
    let components = if u.affected_components.is_empty() {
        i.component_ids
            .iter()
            .filter_map(|id| b.component_name(id))
            .map(str::to_string)
            .collect()
    } else {
        u.affected_components
            .iter()
            .map(|a| format!("{}: {}", a.name, a.new_status.label()))
            .collect()
    };
    let latest = i.updates.first().is_some_and(|l| l.id == u.id);
    Some(StatusFacts {
        page_name: b.page.name.clone(),
        page_url: b.page.url.clone(),
        event: n.event.as_str().into(),
        headline: n.event.headline().into(),
        name: i.name.clone(),
        status: if n.event == NoticeEvent::MaintenanceReminder {
            i.status.label().into()
        } else {
            u.status.label().into()
        },
        body: u.body.clone(),
        posted: when(u.display_at, &tz),
        components,
        next_update: u
            .next_update_by
            .filter(|_| latest && i.status.is_open() && !i.is_maintenance())
            .map(|t| {
                format!(
                    "Next update by {}.",
                    t.to_zoned(tz.clone()).strftime("%-I:%M %p %Z")
                )
            }),
        restore: u
            .estimated_restore_at
            .filter(|_| latest && i.status.is_open())
            .map(|t| format!("Estimated restore: {}.", when(t, &tz))),
        window: match (i.scheduled_for, i.scheduled_until) {
            (Some(f), Some(t)) => Some(format!("{} to {}", when(f, &tz), when(t, &tz))),
            _ => None,
        },
        link: format!("{}/incidents/{}", b.page.url, i.id),
        manage: links.manage.clone(),
    })
}

/// The facts of a confirmation mail.
pub fn confirm_facts(b: &Board, components: &[String], confirm: String) -> SubscriptionFacts {
    SubscriptionFacts {
        page_name: b.page.name.clone(),
        page_url: b.page.url.clone(),
        components: components
            .iter()
            .filter_map(|id| b.component_name(id))
            .map(str::to_string)
            .collect(),
        confirm,
    }
}

/// A webhook subscriber's payload, as Statuspage sends incident webhooks: `meta` (the
/// unsubscribe link), `page` (id, status indicator and description) and `incident` (the v2
/// incident object with its updates); herald adds `event`.
pub fn webhook_payload(b: &Board, n: &Notice, unsubscribe: &str) -> Option<String> {
    let incident = super::v2::Documents::new(b).incident_value(&n.incident_id)?;
    let s = b.status();
    let tz = TimeZone::get(&b.page.time_zone).unwrap_or(TimeZone::UTC);
    let doc = serde_json::json!({
        "meta": {
            "unsubscribe": unsubscribe,
            "documentation": format!("{}/api/v2/summary.json", b.page.url),
            "generated_at": instant(b.read_at, &tz),
        },
        "page": {
            "id": b.page.id,
            "status_indicator": s.indicator.as_str(),
            "status_description": s.description,
        },
        "event": n.event.as_str(),
        "incident": incident,
    });
    Some(serde_json::to_string(&doc).expect("plain data"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::tests::sample_board;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn subscribers_hear_of_what_they_picked_or_of_everything() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wants(&[], &ids(&["a"])));
        assert!(wants(&ids(&["a"]), &ids(&["b", "a"])));
        assert!(!wants(&ids(&["a"]), &ids(&["b"])));
        assert!(
            wants(&ids(&["a"]), &[]),
            "a page-wide notice reaches everyone"
        );
    }

    #[test]
    fn a_maintenance_reminder_is_owed_once_inside_its_lead() {
        let b = sample_board();
        let mut m = b
            .incidents
            .iter()
            .find(|i| i.is_maintenance())
            .unwrap()
            .clone();
        m.status = IncidentStatus::Scheduled;
        m.created_at = at("2026-11-20T12:00:00Z");
        m.scheduled_for = Some(at("2026-11-24T07:00:00Z"));
        let lead = SignedDuration::from_mins(60);
        assert_eq!(reminder(&m, lead, at("2026-11-24T05:59:59Z")), None);
        let r = reminder(&m, lead, at("2026-11-24T06:00:00Z")).unwrap();
        assert_eq!(r.key, format!("reminder:{}", m.id));
        assert_eq!(r.event, NoticeEvent::MaintenanceReminder);
        assert_eq!(
            reminder(&m, lead, at("2026-11-24T07:00:00Z")),
            None,
            "it started"
        );
        m.created_at = at("2026-11-24T06:30:00Z");
        assert_eq!(
            reminder(&m, lead, at("2026-11-24T06:40:00Z")),
            None,
            "scheduled inside the lead"
        );
    }

    #[test]
    fn addresses_are_checked_for_the_obvious() {
        assert_eq!(
            check_email(" Maya@Example.COM ").unwrap(),
            "maya@example.com"
        );
        for bad in [
            "",
            "maya",
            "@example.com",
            "maya@",
            "maya@example",
            "maya@exa mple.com",
            "a@b..com",
            "<a@b.com>",
            "a@b.com,c@d.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_notice_mail_says_what_changed_and_what_comes_next() {
        let b = sample_board();
        let i = b.open_incidents().next().unwrap();
        let n = Notice {
            key: "update:x".into(),
            incident_id: i.id.clone(),
            update_id: Some(i.updates[0].id.clone()),
            event: NoticeEvent::IncidentUpdated,
            component_ids: i.component_ids.clone(),
        };
        let f = facts(
            &b,
            &n,
            &Links {
                manage: "https://s/subscriptions/t".into(),
            },
        )
        .unwrap();
        assert_eq!(f.headline, "Update");
        assert_eq!(f.name, i.name);
        assert_eq!(
            f.next_update.as_deref(),
            Some("Next update by 10:50 AM EST.")
        );
        assert!(f.link.ends_with(&format!("/incidents/{}", i.id)));
        let payload: serde_json::Value =
            serde_json::from_str(&webhook_payload(&b, &n, "https://s/subscriptions/t").unwrap())
                .unwrap();
        assert_eq!(payload["meta"]["unsubscribe"], "https://s/subscriptions/t");
        assert_eq!(payload["page"]["status_indicator"], "major");
        assert_eq!(payload["incident"]["id"], i.id.as_str());
        assert!(payload["incident"]["incident_updates"].is_array());
        let gone = Notice {
            incident_id: "nope".into(),
            ..n
        };
        assert!(
            facts(
                &b,
                &gone,
                &Links {
                    manage: String::new()
                }
            )
            .is_none()
        );
    }
}
