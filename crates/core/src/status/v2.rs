//! The public JSON API, field for field as Atlassian Statuspage's public v2 API serves it
//! (`/api/v2/summary.json` and friends), so existing clients, widgets and exporters read
//! herald's page unchanged. Field order, enum values, `null`s and time format (the page's time
//! zone, milliseconds, numeric offset) follow the public documents.
//!
//! herald's own additions, `next_update_by` and `estimated_restore_at` on incidents and their
//! updates, are extra keys, which Statuspage clients ignore.

use super::{Board, Component, Incident, IncidentStatus, IncidentUpdate};
use jiff::{Timestamp, tz::TimeZone};
use serde::Serialize;

/// How many incidents or maintenances the list documents hold, as Statuspage's do.
pub const LIST_LIMIT: usize = 50;

/// Statuspage's instant format: `2022-02-15T13:37:37.407-08:00`.
pub fn instant(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

#[derive(Serialize)]
struct PageJson<'a> {
    id: &'a str,
    name: &'a str,
    url: &'a str,
    time_zone: &'a str,
    updated_at: String,
}

#[derive(Serialize)]
struct ComponentJson<'a> {
    id: &'a str,
    name: &'a str,
    status: &'static str,
    created_at: String,
    updated_at: String,
    position: i64,
    description: Option<&'a str>,
    showcase: bool,
    start_date: Option<String>,
    group_id: Option<&'a str>,
    page_id: &'a str,
    group: bool,
    only_show_if_degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<Vec<&'a str>>,
}

#[derive(Serialize)]
struct AffectedJson<'a> {
    code: &'a str,
    name: &'a str,
    old_status: &'static str,
    new_status: &'static str,
}

#[derive(Serialize)]
struct UpdateJson<'a> {
    id: &'a str,
    status: &'static str,
    body: &'a str,
    incident_id: &'a str,
    created_at: String,
    updated_at: String,
    display_at: String,
    affected_components: Option<Vec<AffectedJson<'a>>>,
    deliver_notifications: bool,
    custom_tweet: Option<()>,
    tweet_id: Option<()>,
    next_update_by: Option<String>,
    estimated_restore_at: Option<String>,
}

#[derive(Serialize)]
struct IncidentJson<'a> {
    id: &'a str,
    name: &'a str,
    status: &'static str,
    created_at: String,
    updated_at: String,
    monitoring_at: Option<String>,
    resolved_at: Option<String>,
    impact: &'static str,
    shortlink: String,
    started_at: String,
    page_id: &'a str,
    incident_updates: Vec<UpdateJson<'a>>,
    components: Vec<ComponentJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_for: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_until: Option<String>,
    next_update_by: Option<String>,
    estimated_restore_at: Option<String>,
}

#[derive(Serialize)]
struct StatusJson {
    indicator: &'static str,
    description: &'static str,
}

/// Renders one board into the v2 documents.
pub struct Documents<'a> {
    board: &'a Board,
    tz: TimeZone,
}

impl<'a> Documents<'a> {
    pub fn new(board: &'a Board) -> Self {
        let tz = TimeZone::get(&board.page.time_zone).unwrap_or(TimeZone::UTC);
        Self { board, tz }
    }

    fn t(&self, t: Timestamp) -> String {
        instant(t, &self.tz)
    }

    fn page(&self) -> PageJson<'a> {
        let p = &self.board.page;
        PageJson {
            id: &p.id,
            name: &p.name,
            url: &p.url,
            time_zone: &p.time_zone,
            updated_at: self.t(self.board.updated_at()),
        }
    }

    fn component(&self, c: &'a Component) -> ComponentJson<'a> {
        let b = self.board;
        ComponentJson {
            id: &c.id,
            name: &c.name,
            status: b.shown_status(c).as_str(),
            created_at: self.t(c.created_at),
            updated_at: self.t(c.updated_at),
            position: c.position,
            description: c.description.as_deref(),
            showcase: c.showcase,
            start_date: c.start_date.map(|d| d.to_string()),
            group_id: c.group_id.as_deref(),
            page_id: &b.page.id,
            group: c.is_group,
            only_show_if_degraded: c.only_show_if_degraded,
            components: c.is_group.then(|| {
                b.components
                    .iter()
                    .filter(|m| m.group_id.as_deref() == Some(&c.id))
                    .map(|m| m.id.as_str())
                    .collect()
            }),
        }
    }

    fn components(&self) -> Vec<ComponentJson<'a>> {
        self.board
            .components
            .iter()
            .map(|c| self.component(c))
            .collect()
    }

    fn update(&self, i: &'a Incident, u: &'a IncidentUpdate) -> UpdateJson<'a> {
        UpdateJson {
            id: &u.id,
            status: u.status.as_str(),
            body: &u.body,
            incident_id: &i.id,
            created_at: self.t(u.created_at),
            updated_at: self.t(u.created_at),
            display_at: self.t(u.display_at),
            affected_components: (!u.affected_components.is_empty()).then(|| {
                u.affected_components
                    .iter()
                    .map(|a| AffectedJson {
                        code: &a.code,
                        name: &a.name,
                        old_status: a.old_status.as_str(),
                        new_status: a.new_status.as_str(),
                    })
                    .collect()
            }),
            deliver_notifications: true,
            custom_tweet: None,
            tweet_id: None,
            next_update_by: u.next_update_by.map(|t| self.t(t)),
            estimated_restore_at: u.estimated_restore_at.map(|t| self.t(t)),
        }
    }

    fn incident(&self, i: &'a Incident) -> IncidentJson<'a> {
        let b = self.board;
        IncidentJson {
            id: &i.id,
            name: &i.name,
            status: i.status.as_str(),
            created_at: self.t(i.created_at),
            updated_at: self.t(i.updated_at),
            monitoring_at: i.monitoring_at.map(|t| self.t(t)),
            resolved_at: i.resolved_at.map(|t| self.t(t)),
            impact: i.impact.as_str(),
            shortlink: format!("{}/incidents/{}", b.page.url, i.id),
            started_at: self.t(i.started_at),
            page_id: &b.page.id,
            incident_updates: i.updates.iter().map(|u| self.update(i, u)).collect(),
            components: i
                .component_ids
                .iter()
                .filter_map(|id| b.components.iter().find(|c| &c.id == id))
                .map(|c| self.component(c))
                .collect(),
            scheduled_for: i.scheduled_for.map(|t| self.t(t)),
            scheduled_until: i.scheduled_until.map(|t| self.t(t)),
            next_update_by: i.next_update_by().map(|t| self.t(t)),
            estimated_restore_at: i.estimated_restore_at().map(|t| self.t(t)),
        }
    }

    /// One incident or maintenance as the v2 documents show it (for webhook payloads).
    pub fn incident_value(&self, id: &str) -> Option<serde_json::Value> {
        let i = self.board.incidents.iter().find(|i| i.id == id)?;
        Some(serde_json::to_value(self.incident(i)).expect("plain data"))
    }

    fn incidents_where(&self, keep: impl Fn(&Incident) -> bool) -> Vec<IncidentJson<'a>> {
        self.board
            .incidents
            .iter()
            .filter(|i| keep(i))
            .take(LIST_LIMIT)
            .map(|i| self.incident(i))
            .collect()
    }

    fn status(&self) -> StatusJson {
        let s = self.board.status();
        StatusJson {
            indicator: s.indicator.as_str(),
            description: s.description,
        }
    }

    fn to_json(v: &impl Serialize) -> String {
        serde_json::to_string(v).expect("the v2 documents are plain data")
    }

    /// `status.json`
    pub fn status_json(&self) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            page: PageJson<'a>,
            status: StatusJson,
        }
        Self::to_json(&Doc {
            page: self.page(),
            status: self.status(),
        })
    }

    /// `components.json`
    pub fn components_json(&self) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            page: PageJson<'a>,
            components: Vec<ComponentJson<'a>>,
        }
        Self::to_json(&Doc {
            page: self.page(),
            components: self.components(),
        })
    }

    fn incidents_doc(&self, incidents: Vec<IncidentJson<'a>>) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            page: PageJson<'a>,
            incidents: Vec<IncidentJson<'a>>,
        }
        Self::to_json(&Doc {
            page: self.page(),
            incidents,
        })
    }

    fn maintenances_doc(&self, list: Vec<IncidentJson<'a>>) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            page: PageJson<'a>,
            scheduled_maintenances: Vec<IncidentJson<'a>>,
        }
        Self::to_json(&Doc {
            page: self.page(),
            scheduled_maintenances: list,
        })
    }

    /// `incidents.json`: the 50 most recent incidents, open or not.
    pub fn incidents_json(&self) -> String {
        self.incidents_doc(self.incidents_where(|i| !i.is_maintenance()))
    }

    /// `incidents/unresolved.json`
    pub fn unresolved_json(&self) -> String {
        self.incidents_doc(self.incidents_where(|i| !i.is_maintenance() && i.status.is_open()))
    }

    /// `scheduled-maintenances.json`: the 50 most recent.
    pub fn maintenances_json(&self) -> String {
        self.maintenances_doc(self.incidents_where(Incident::is_maintenance))
    }

    /// `scheduled-maintenances/upcoming.json`
    pub fn upcoming_json(&self) -> String {
        self.maintenances_doc(
            self.incidents_where(|i| i.is_maintenance() && i.status == IncidentStatus::Scheduled),
        )
    }

    /// `scheduled-maintenances/active.json`
    pub fn active_json(&self) -> String {
        self.maintenances_doc(self.incidents_where(|i| {
            i.is_maintenance()
                && matches!(
                    i.status,
                    IncidentStatus::InProgress | IncidentStatus::Verifying
                )
        }))
    }

    /// `summary.json`: page, components, unresolved incidents, upcoming and active
    /// maintenance, status.
    pub fn summary_json(&self) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            page: PageJson<'a>,
            components: Vec<ComponentJson<'a>>,
            incidents: Vec<IncidentJson<'a>>,
            scheduled_maintenances: Vec<IncidentJson<'a>>,
            status: StatusJson,
        }
        Self::to_json(&Doc {
            page: self.page(),
            components: self.components(),
            incidents: self.incidents_where(|i| !i.is_maintenance() && i.status.is_open()),
            scheduled_maintenances: self
                .incidents_where(|i| i.is_maintenance() && i.status.is_open()),
            status: self.status(),
        })
    }
}
