//! The status page's domain: components and their groups, incidents and scheduled maintenance,
//! the page's top-level status (the "roll-up"), next-update promises and when the seller must be
//! reminded of them. Pure rules, no IO; the store keeps these values and the server serves what
//! [`v2`], [`page`] and [`feeds`] render from a [`Board`].
//!
//! The enum values and the roll-up follow Atlassian Statuspage's public v2 API and its published
//! "top-level status" rules, so existing clients and widgets read herald's page unchanged.

pub mod advisory;
pub mod feeds;
pub mod monitor;
pub mod notice;
pub mod page;
pub mod plan;
pub mod report;
pub mod uptime;
pub mod v2;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// What a component is doing now. Order matters: later is worse (see [`ComponentStatus::rank`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] = [
        Self::Operational,
        Self::UnderMaintenance,
        Self::DegradedPerformance,
        Self::PartialOutage,
        Self::MajorOutage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::UnderMaintenance => "under_maintenance",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown component status {s:?}; expected one of {}",
                    Self::ALL.map(|k| k.as_str()).join(", ")
                )
            })
    }

    /// How a customer reads it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::UnderMaintenance => "Under maintenance",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
        }
    }

    /// 0 (operational) to 4 (major outage).
    pub fn rank(self) -> u8 {
        self as u8
    }

    /// The worse of two statuses.
    pub fn max_rank(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// The impact an incident has when it leaves a component in this state.
    pub fn impact(self) -> Impact {
        match self {
            Self::Operational | Self::UnderMaintenance => Impact::None,
            Self::DegradedPerformance => Impact::Minor,
            Self::PartialOutage => Impact::Major,
            Self::MajorOutage => Impact::Critical,
        }
    }
}

/// How bad an incident is. Later is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub const ALL: [Impact; 4] = [Self::None, Self::Minor, Self::Major, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown impact {s:?}; expected none, minor, major or critical"))
    }
}

/// Where an incident or a maintenance stands. Incidents use the first five, scheduled
/// maintenance the last four (as in Statuspage, both share one `status` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Postmortem,
    Scheduled,
    InProgress,
    Verifying,
    Completed,
}

impl IncidentStatus {
    pub const INCIDENT: [IncidentStatus; 5] = [
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
        Self::Postmortem,
    ];
    pub const MAINTENANCE: [IncidentStatus; 4] = [
        Self::Scheduled,
        Self::InProgress,
        Self::Verifying,
        Self::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
            Self::Postmortem => "postmortem",
            Self::Scheduled => "scheduled",
            Self::InProgress => "in_progress",
            Self::Verifying => "verifying",
            Self::Completed => "completed",
        }
    }

    /// Parses a status valid for an incident (`maintenance == false`) or a maintenance.
    pub fn parse(s: &str, maintenance: bool) -> Result<Self, String> {
        let allowed: &[IncidentStatus] = if maintenance {
            &Self::MAINTENANCE
        } else {
            &Self::INCIDENT
        };
        allowed
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown {} status {s:?}; expected one of {}",
                    if maintenance {
                        "maintenance"
                    } else {
                        "incident"
                    },
                    allowed
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }

    /// Still going on: shown as active and owed updates.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Resolved | Self::Postmortem | Self::Completed)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
            Self::Postmortem => "Postmortem",
            Self::Scheduled => "Scheduled",
            Self::InProgress => "In progress",
            Self::Verifying => "Verifying",
            Self::Completed => "Completed",
        }
    }
}

/// The page's overall indicator, as `status.json` names it. Later is worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Maintenance => "maintenance",
            Self::Minor => "minor",
            Self::Major => "major",
            Self::Critical => "critical",
        }
    }
}

/// The top-level status: indicator and its description string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PageStatus {
    pub indicator: Indicator,
    pub description: &'static str,
}

pub const ALL_OPERATIONAL: PageStatus = PageStatus {
    indicator: Indicator::None,
    description: "All Systems Operational",
};

/// The top-level status from the components alone, following Statuspage's published rules:
/// one component speaks for itself; with several, a status shared by all of them reads as
/// system-wide ("Major System Outage", "Partial System Outage", "Degraded System Service"),
/// and otherwise the worst status present is blended one step down (a major outage of some
/// components is a "Partial System Outage", a partial outage of some a "Minor Service Outage").
/// Groups are not counted; only the components customers see.
pub fn components_roll_up(statuses: &[ComponentStatus]) -> PageStatus {
    use ComponentStatus as C;
    let Some(worst) = statuses.iter().copied().max_by_key(|s| s.rank()) else {
        return ALL_OPERATIONAL;
    };
    let all = statuses.iter().all(|s| *s == worst);
    let one = statuses.len() == 1;
    let (indicator, description) = match worst {
        C::Operational => return ALL_OPERATIONAL,
        C::UnderMaintenance => (Indicator::Maintenance, "Service Under Maintenance"),
        C::MajorOutage if all => (Indicator::Critical, "Major System Outage"),
        C::MajorOutage => (Indicator::Major, "Partial System Outage"),
        C::PartialOutage if all => (Indicator::Major, "Partial System Outage"),
        C::PartialOutage => (Indicator::Minor, "Minor Service Outage"),
        C::DegradedPerformance if all && !one => (Indicator::Minor, "Degraded System Service"),
        C::DegradedPerformance => (Indicator::Minor, "Partially Degraded Service"),
    };
    PageStatus {
        indicator,
        description,
    }
}

/// What an unresolved incident of this impact says on its own.
pub fn incident_status(impact: Impact) -> Option<PageStatus> {
    let (indicator, description) = match impact {
        Impact::None => return None,
        Impact::Minor => (Indicator::Minor, "Minor Service Outage"),
        Impact::Major => (Indicator::Major, "Partial System Outage"),
        Impact::Critical => (Indicator::Critical, "Major Service Outage"),
    };
    Some(PageStatus {
        indicator,
        description,
    })
}

/// The page's top-level status: the worse of what the components say, what each unresolved
/// incident's impact says and whether a maintenance is in progress. On a tie the components'
/// wording stands (it is the more specific).
pub fn roll_up(
    components: &[ComponentStatus],
    open_incident_impacts: impl IntoIterator<Item = Impact>,
    maintenance_in_progress: bool,
) -> PageStatus {
    let mut best = components_roll_up(components);
    let candidates = open_incident_impacts
        .into_iter()
        .filter_map(incident_status)
        .chain(maintenance_in_progress.then_some(PageStatus {
            indicator: Indicator::Maintenance,
            description: "Service Under Maintenance",
        }));
    for c in candidates {
        if c.indicator > best.indicator {
            best = c;
        }
    }
    best
}

/// A group's status: its worst member's (a group has no status of its own).
pub fn group_status(members: impl IntoIterator<Item = ComponentStatus>) -> ComponentStatus {
    members
        .into_iter()
        .max_by_key(|s| s.rank())
        .unwrap_or(ComponentStatus::Operational)
}

/// An incident's impact after an update: the explicit one if the seller set it, otherwise the
/// worse of what it was and what the affected components now say. Impact never falls by
/// itself: a resolved outage was still an outage.
pub fn incident_impact(
    previous: Impact,
    explicit: Option<Impact>,
    affected_now: impl IntoIterator<Item = ComponentStatus>,
) -> Impact {
    if let Some(i) = explicit {
        return i;
    }
    affected_now
        .into_iter()
        .map(ComponentStatus::impact)
        .fold(previous, Ord::max)
}

/// A component on the page (or a group of them, `is_group`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The group's id, for a member of a group.
    pub group_id: Option<String>,
    pub is_group: bool,
    pub position: i64,
    pub status: ComponentStatus,
    pub showcase: bool,
    pub only_show_if_degraded: bool,
    /// When the component started (its uptime bar starts there, not 90 days back).
    pub start_date: Option<jiff::civil::Date>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A component an update touched, with its status before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedComponent {
    pub code: String,
    pub name: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

/// One update of an incident or a maintenance, as customers read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentUpdate {
    pub id: String,
    pub status: IncidentStatus,
    pub body: String,
    pub created_at: Timestamp,
    /// When it is shown as posted (normally `created_at`).
    pub display_at: Timestamp,
    pub affected_components: Vec<AffectedComponent>,
    /// The next update promised by then (open incidents only).
    pub next_update_by: Option<Timestamp>,
    /// The seller's estimate of when service is back, if given.
    pub estimated_restore_at: Option<Timestamp>,
}

/// An incident, or a scheduled maintenance (`scheduled_for` set).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: String,
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Impact,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Timestamp,
    pub monitoring_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub scheduled_for: Option<Timestamp>,
    pub scheduled_until: Option<Timestamp>,
    /// Ids of the components it concerns.
    pub component_ids: Vec<String>,
    /// Newest first.
    pub updates: Vec<IncidentUpdate>,
}

impl Incident {
    pub fn is_maintenance(&self) -> bool {
        self.scheduled_for.is_some()
    }

    /// The newest update's promise, while the incident is open.
    pub fn next_update_by(&self) -> Option<Timestamp> {
        if !self.status.is_open() {
            return None;
        }
        self.updates.first().and_then(|u| u.next_update_by)
    }

    pub fn estimated_restore_at(&self) -> Option<Timestamp> {
        if !self.status.is_open() {
            return None;
        }
        self.updates.first().and_then(|u| u.estimated_restore_at)
    }

    pub fn last_update_at(&self) -> Timestamp {
        self.updates
            .first()
            .map(|u| u.display_at)
            .unwrap_or(self.created_at)
    }
}

/// One recorded change of a component's status, for the uptime bars.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StatusChange {
    pub at: Timestamp,
    pub status: ComponentStatus,
}

/// The page's identity, as `page` in every v2 document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PageInfo {
    pub id: String,
    pub name: String,
    /// The page's public address, without a trailing slash.
    pub url: String,
    /// IANA name, e.g. `America/New_York`.
    pub time_zone: String,
}

/// Everything the public surfaces are rendered from: read once per change.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    pub page: PageInfo,
    /// Groups and components, in position order.
    pub components: Vec<Component>,
    /// Open incidents, maintenance not yet completed, and the history window's closed ones;
    /// newest first.
    pub incidents: Vec<Incident>,
    /// Per component id, its status changes in time order (the history window and the last
    /// change before it).
    pub history: std::collections::BTreeMap<String, Vec<StatusChange>>,
    /// The store advisory, when the seller declared one (it may have expired since).
    pub advisory: Option<advisory::Advisory>,
    /// When the board was read from the database.
    pub read_at: Timestamp,
}

impl Board {
    /// The latest change anywhere on the page (`page.updated_at`).
    pub fn updated_at(&self) -> Timestamp {
        self.components
            .iter()
            .map(|c| c.updated_at)
            .chain(self.incidents.iter().map(|i| i.updated_at))
            .max()
            .unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// Components customers see (not groups), each with the status it shows.
    pub fn leaf_components(&self) -> impl Iterator<Item = &Component> {
        self.components.iter().filter(|c| !c.is_group)
    }

    /// A component's status as shown: a group's is its worst member's.
    pub fn shown_status(&self, c: &Component) -> ComponentStatus {
        if c.is_group {
            group_status(
                self.components
                    .iter()
                    .filter(|m| m.group_id.as_deref() == Some(&c.id))
                    .map(|m| m.status),
            )
        } else {
            c.status
        }
    }

    pub fn status(&self) -> PageStatus {
        let statuses: Vec<_> = self.leaf_components().map(|c| c.status).collect();
        roll_up(
            &statuses,
            self.incidents
                .iter()
                .filter(|i| !i.is_maintenance() && i.status.is_open())
                .map(|i| i.impact),
            self.incidents.iter().any(|i| {
                i.is_maintenance()
                    && matches!(
                        i.status,
                        IncidentStatus::InProgress | IncidentStatus::Verifying
                    )
            }),
        )
    }

    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents
            .iter()
            .filter(|i| !i.is_maintenance() && i.status.is_open())
    }

    pub fn component_name(&self, id: &str) -> Option<&str> {
        self.components
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.as_str())
    }
}

/// The next-update promise rule: by default an update is owed 30 minutes after the last; a
/// reminder goes to the seller `warn_before` ahead of it, and again every `repeat` while it is
/// missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromisePolicy {
    pub default_interval: SignedDuration,
    pub warn_before: SignedDuration,
    pub repeat: SignedDuration,
}

impl Default for PromisePolicy {
    fn default() -> Self {
        Self {
            default_interval: SignedDuration::from_mins(30),
            warn_before: SignedDuration::from_mins(5),
            repeat: SignedDuration::from_mins(30),
        }
    }
}

/// A reminder the seller is owed about a promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromiseReminder {
    /// Unique per update and reminder: `status:{incident}:{update}:soon` or `:missed:{n}`.
    pub dedupe_key: String,
    /// `incident_update_due` (about to run out) or `incident_update_missed`.
    pub kind: &'static str,
    /// When it became owed.
    pub due_at: Timestamp,
    pub message: String,
}

impl PromisePolicy {
    /// When the update after one posted at `posted` is owed, given the seller's own promise
    /// if they made one (never before the update itself).
    pub fn next_update_by(&self, posted: Timestamp, promised: Option<Timestamp>) -> Timestamp {
        promised
            .filter(|p| *p > posted)
            .unwrap_or(posted + self.default_interval)
    }

    /// The reminder owed at `now` about an open incident's promise, if any. Each reminder has
    /// its own key, so raising it twice (two nodes, a restart) stores it once.
    pub fn reminder(&self, incident: &Incident, now: Timestamp) -> Option<PromiseReminder> {
        let due = incident.next_update_by()?;
        let update = incident.updates.first()?;
        if now < due - self.warn_before {
            return None;
        }
        if now < due {
            return Some(PromiseReminder {
                dedupe_key: format!("status:{}:{}:soon", incident.id, update.id),
                kind: "incident_update_due",
                due_at: due,
                message: format!(
                    "The status page promised an update on \"{}\" by {}; post one now.",
                    incident.name,
                    crate::time::rfc3339(due)
                ),
            });
        }
        let late = now.duration_since(due);
        let n = late.as_secs() / self.repeat.as_secs().max(1);
        Some(PromiseReminder {
            dedupe_key: format!("status:{}:{}:missed:{n}", incident.id, update.id),
            kind: "incident_update_missed",
            due_at: due + self.repeat * (n as i32),
            message: format!(
                "The update promised on \"{}\" by {} is {} late; customers see how old the last update is.",
                incident.name,
                crate::time::rfc3339(due),
                human_duration(late)
            ),
        })
    }
}

/// "less than a minute", "45 minutes", "2 hours 5 minutes", "3 days".
pub fn human_duration(d: SignedDuration) -> String {
    let mins = d.as_secs().max(0) / 60;
    let plural = |n: i64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if mins == 0 {
        "less than a minute".into()
    } else if mins < 60 {
        plural(mins, "minute")
    } else if mins < 48 * 60 {
        let (h, m) = (mins / 60, mins % 60);
        if m == 0 {
            plural(h, "hour")
        } else {
            format!("{} {}", plural(h, "hour"), plural(m, "minute"))
        }
    } else {
        plural(mins / (24 * 60), "day")
    }
}

/// What a scheduled maintenance must do by itself at `now`: start at its start time, complete
/// at its end time. `None` when nothing is due.
pub fn maintenance_step(m: &Incident, now: Timestamp) -> Option<IncidentStatus> {
    let (from, until) = (m.scheduled_for?, m.scheduled_until?);
    match m.status {
        IncidentStatus::Scheduled if now >= until => Some(IncidentStatus::Completed),
        IncidentStatus::Scheduled if now >= from => Some(IncidentStatus::InProgress),
        IncidentStatus::InProgress | IncidentStatus::Verifying if now >= until => {
            Some(IncidentStatus::Completed)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
