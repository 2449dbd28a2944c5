//! What a change asked of the status page writes: the admin API's requests (and the
//! maintenance clock) are planned here against the current [`Board`] into one
//! [`StatusWrite`], which the store applies atomically if the page has not changed meanwhile.
//! Every rule (impact, promises, group membership, component history) lives here once, for
//! both databases.

use super::advisory::{Advisory, AdvisoryLevel};
use super::{
    AffectedComponent, Board, Component, ComponentStatus, Impact, Incident, IncidentStatus,
    IncidentUpdate, PromisePolicy, StatusChange, incident_impact,
};
use jiff::Timestamp;

/// A request that cannot be planned: the field and what is wrong, for a problem+json answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PlanError {
    pub field: String,
    pub message: String,
    /// The thing referred to does not exist (404 rather than 422).
    pub missing: bool,
}

fn invalid(field: &str, message: impl Into<String>) -> PlanError {
    PlanError {
        field: field.into(),
        message: message.into(),
        missing: false,
    }
}

fn missing(field: &str, message: impl Into<String>) -> PlanError {
    PlanError {
        field: field.into(),
        message: message.into(),
        missing: true,
    }
}

/// Everything one change writes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusWrite {
    /// Components (and groups) to insert or replace.
    pub components: Vec<Component>,
    /// Components to remove from the page (their history stays).
    pub removed: Vec<String>,
    /// Status history to record, per component id.
    pub changes: Vec<(String, StatusChange)>,
    /// The incident or maintenance to insert or replace (its `updates` are not written).
    pub incident: Option<Incident>,
    /// The update to add to `incident`.
    pub update: Option<IncidentUpdate>,
    /// The store advisory to declare (`Some(Some)`) or clear (`Some(None)`).
    pub advisory: Option<Option<Advisory>>,
}

/// A component to add.
#[derive(Debug, Clone, Default)]
pub struct NewComponent {
    pub name: String,
    pub description: Option<String>,
    /// The group's name; created when it does not exist yet.
    pub group: Option<String>,
    pub position: Option<i64>,
    pub status: Option<ComponentStatus>,
    pub showcase: Option<bool>,
    pub only_show_if_degraded: Option<bool>,
    pub start_date: Option<jiff::civil::Date>,
}

/// Changes to a component; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ComponentEdit {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub group: Option<Option<String>>,
    pub position: Option<i64>,
    pub status: Option<ComponentStatus>,
    pub showcase: Option<bool>,
    pub only_show_if_degraded: Option<bool>,
}

/// An incident to open.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub name: String,
    pub status: IncidentStatus,
    pub impact: Option<Impact>,
    pub body: String,
    /// Component id and the status it is in now.
    pub components: Vec<(String, ComponentStatus)>,
    pub next_update_by: Option<Timestamp>,
    pub estimated_restore_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
}

/// An update to an incident or a maintenance.
#[derive(Debug, Clone, Default)]
pub struct NewUpdate {
    /// `None` keeps the current status.
    pub status: Option<IncidentStatus>,
    pub body: String,
    pub components: Vec<(String, ComponentStatus)>,
    pub impact: Option<Impact>,
    pub next_update_by: Option<Timestamp>,
    pub estimated_restore_at: Option<Timestamp>,
}

/// A store advisory to declare.
#[derive(Debug, Clone, Default)]
pub struct NewAdvisory {
    pub message: String,
    pub level: Option<AdvisoryLevel>,
    pub until: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
}

/// A maintenance to schedule.
#[derive(Debug, Clone)]
pub struct NewMaintenance {
    pub name: String,
    pub body: String,
    pub scheduled_for: Timestamp,
    pub scheduled_until: Timestamp,
    pub component_ids: Vec<String>,
}

const MAX_NAME: usize = 200;
const MAX_BODY: usize = 20_000;

fn check_text(field: &str, s: &str, max: usize) -> Result<String, PlanError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(invalid(field, format!("is longer than {max} characters")));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(t.to_string())
}

/// Plans changes against one board at one instant, drawing new ids from `ids`.
pub struct Planner<'a> {
    pub board: &'a Board,
    pub now: Timestamp,
    pub promises: PromisePolicy,
    pub ids: &'a mut (dyn FnMut() -> String + Send),
}

impl Planner<'_> {
    fn component(&self, id: &str, field: &str) -> Result<&Component, PlanError> {
        self.board
            .components
            .iter()
            .find(|c| c.id == id && !c.is_group)
            .ok_or_else(|| missing(field, format!("no component has the id {id:?}")))
    }

    fn next_position(&self, w: &StatusWrite) -> i64 {
        self.board
            .components
            .iter()
            .chain(&w.components)
            .map(|c| c.position)
            .max()
            .unwrap_or(0)
            + 1
    }

    /// The group named `name`, found by name or created in `w`.
    fn group_id(&mut self, name: &str, w: &mut StatusWrite) -> Result<String, PlanError> {
        let name = check_text("group", name, MAX_NAME)?;
        if let Some(g) = self
            .board
            .components
            .iter()
            .chain(&w.components)
            .find(|c| c.is_group && c.name.eq_ignore_ascii_case(&name))
        {
            return Ok(g.id.clone());
        }
        if self
            .board
            .components
            .iter()
            .any(|c| !c.is_group && c.name.eq_ignore_ascii_case(&name))
        {
            return Err(invalid(
                "group",
                format!("{name:?} is a component, not a group"),
            ));
        }
        let g = Component {
            id: (self.ids)(),
            name,
            description: None,
            group_id: None,
            is_group: true,
            position: self.next_position(w),
            status: ComponentStatus::Operational,
            showcase: true,
            only_show_if_degraded: false,
            start_date: None,
            created_at: self.now,
            updated_at: self.now,
        };
        let id = g.id.clone();
        w.components.push(g);
        Ok(id)
    }

    /// Adds a component (and its group when new).
    pub fn add_component(&mut self, n: &NewComponent) -> Result<StatusWrite, PlanError> {
        let mut w = StatusWrite::default();
        let name = check_text("name", &n.name, MAX_NAME)?;
        let group_id = match &n.group {
            Some(g) => Some(self.group_id(g, &mut w)?),
            None => None,
        };
        if self
            .board
            .components
            .iter()
            .any(|c| !c.is_group && c.group_id == group_id && c.name.eq_ignore_ascii_case(&name))
        {
            return Err(invalid(
                "name",
                format!(
                    "a component named {name:?} is already on the page there; change it with PATCH instead"
                ),
            ));
        }
        let description = match &n.description {
            Some(d) if !d.trim().is_empty() => Some(check_text("description", d, 2000)?),
            _ => None,
        };
        let status = n.status.unwrap_or(ComponentStatus::Operational);
        let c = Component {
            id: (self.ids)(),
            name,
            description,
            group_id,
            is_group: false,
            position: n.position.unwrap_or_else(|| self.next_position(&w)),
            status,
            showcase: n.showcase.unwrap_or(true),
            only_show_if_degraded: n.only_show_if_degraded.unwrap_or(false),
            start_date: n.start_date,
            created_at: self.now,
            updated_at: self.now,
        };
        w.changes.push((
            c.id.clone(),
            StatusChange {
                at: self.now,
                status,
            },
        ));
        w.components.push(c);
        Ok(w)
    }

    /// Changes a component; a status change is recorded in its history.
    pub fn edit_component(
        &mut self,
        id: &str,
        e: &ComponentEdit,
    ) -> Result<StatusWrite, PlanError> {
        let mut w = StatusWrite::default();
        let mut c = self
            .board
            .components
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| missing("id", format!("no component or group has the id {id:?}")))?;
        if let Some(n) = &e.name {
            c.name = check_text("name", n, MAX_NAME)?;
        }
        if let Some(d) = &e.description {
            c.description = match d {
                Some(d) if !d.trim().is_empty() => Some(check_text("description", d, 2000)?),
                _ => None,
            };
        }
        if let Some(g) = &e.group {
            if c.is_group {
                return Err(invalid("group", "a group cannot be put in another group"));
            }
            c.group_id = match g {
                Some(g) => Some(self.group_id(g, &mut w)?),
                None => None,
            };
        }
        if let Some(p) = e.position {
            c.position = p;
        }
        if let Some(s) = e.showcase {
            c.showcase = s;
        }
        if let Some(s) = e.only_show_if_degraded {
            c.only_show_if_degraded = s;
        }
        if let Some(s) = e.status {
            if c.is_group {
                return Err(invalid(
                    "status",
                    "a group shows its worst member's status; set the members' status instead",
                ));
            }
            if s != c.status {
                w.changes.push((
                    c.id.clone(),
                    StatusChange {
                        at: self.now,
                        status: s,
                    },
                ));
                c.status = s;
            }
        }
        c.updated_at = self.now;
        w.components.push(c);
        Ok(w)
    }

    /// Removes a component, or an empty group.
    pub fn remove_component(&mut self, id: &str) -> Result<StatusWrite, PlanError> {
        let c = self
            .board
            .components
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| missing("id", format!("no component or group has the id {id:?}")))?;
        if c.is_group
            && self
                .board
                .components
                .iter()
                .any(|m| m.group_id.as_deref() == Some(id))
        {
            return Err(invalid(
                "id",
                "the group still has components; move or remove them first",
            ));
        }
        Ok(StatusWrite {
            removed: vec![id.to_string()],
            ..Default::default()
        })
    }

    /// Sets affected components and returns the update's record of them.
    fn affect(
        &self,
        set: &[(String, ComponentStatus)],
        w: &mut StatusWrite,
    ) -> Result<Vec<AffectedComponent>, PlanError> {
        let mut out = Vec::new();
        for (i, (id, status)) in set.iter().enumerate() {
            let field = format!("components.{id}");
            let mut c = self.component(id, &field)?.clone();
            if set[..i].iter().any(|(other, _)| other == id) {
                return Err(invalid(&field, "is listed twice"));
            }
            out.push(AffectedComponent {
                code: c.id.clone(),
                name: c.name.clone(),
                old_status: c.status,
                new_status: *status,
            });
            if c.status != *status {
                w.changes.push((
                    c.id.clone(),
                    StatusChange {
                        at: self.now,
                        status: *status,
                    },
                ));
                c.status = *status;
                c.updated_at = self.now;
                w.components.push(c);
            }
        }
        Ok(out)
    }

    fn promise(&self, status: IncidentStatus, asked: Option<Timestamp>) -> Option<Timestamp> {
        status
            .is_open()
            .then(|| self.promises.next_update_by(self.now, asked))
    }

    fn check_restore(&self, t: Option<Timestamp>) -> Result<Option<Timestamp>, PlanError> {
        match t {
            Some(t) if t <= self.now => Err(invalid(
                "estimated_restore_at",
                "is in the past; give a time still ahead, or leave it out",
            )),
            t => Ok(t),
        }
    }

    /// Opens an incident with its first update.
    pub fn open_incident(&mut self, n: &NewIncident) -> Result<StatusWrite, PlanError> {
        if !n.status.is_open() || n.status == IncidentStatus::Postmortem {
            return Err(invalid(
                "status",
                "a new incident starts as investigating, identified or monitoring",
            ));
        }
        let name = check_text("name", &n.name, MAX_NAME)?;
        let body = check_text("body", &n.body, MAX_BODY)?;
        let restore = self.check_restore(n.estimated_restore_at)?;
        let mut w = StatusWrite::default();
        let affected = self.affect(&n.components, &mut w)?;
        let id = (self.ids)();
        let update = IncidentUpdate {
            id: (self.ids)(),
            status: n.status,
            body,
            created_at: self.now,
            display_at: self.now,
            affected_components: affected,
            next_update_by: self.promise(n.status, n.next_update_by),
            estimated_restore_at: restore,
        };
        w.incident = Some(Incident {
            id,
            name,
            status: n.status,
            impact: incident_impact(Impact::None, n.impact, n.components.iter().map(|(_, s)| *s)),
            created_at: self.now,
            updated_at: self.now,
            started_at: n.started_at.filter(|s| *s <= self.now).unwrap_or(self.now),
            monitoring_at: (n.status == IncidentStatus::Monitoring).then_some(self.now),
            resolved_at: None,
            scheduled_for: None,
            scheduled_until: None,
            component_ids: n.components.iter().map(|(id, _)| id.clone()).collect(),
            updates: vec![],
        });
        w.update = Some(update);
        Ok(w)
    }

    /// Adds an update to an incident or a maintenance.
    pub fn update_incident(&mut self, id: &str, n: &NewUpdate) -> Result<StatusWrite, PlanError> {
        let mut inc = self
            .board
            .incidents
            .iter()
            .find(|i| i.id == id)
            .cloned()
            .ok_or_else(|| {
                missing(
                    "id",
                    format!("no incident or maintenance has the id {id:?}"),
                )
            })?;
        let status = n.status.unwrap_or(inc.status);
        if let Err(why) = IncidentStatus::parse(status.as_str(), inc.is_maintenance()) {
            return Err(invalid("status", why));
        }
        let body = check_text("body", &n.body, MAX_BODY)?;
        let restore = self.check_restore(n.estimated_restore_at)?;
        let mut w = StatusWrite::default();
        let affected = self.affect(&n.components, &mut w)?;
        for (cid, _) in &n.components {
            if !inc.component_ids.contains(cid) {
                inc.component_ids.push(cid.clone());
            }
        }
        let update = IncidentUpdate {
            id: (self.ids)(),
            status,
            body,
            created_at: self.now,
            display_at: self.now,
            affected_components: affected,
            next_update_by: if inc.is_maintenance() {
                None
            } else {
                self.promise(status, n.next_update_by)
            },
            estimated_restore_at: restore,
        };
        if !inc.is_maintenance() {
            inc.impact =
                incident_impact(inc.impact, n.impact, n.components.iter().map(|(_, s)| *s));
        }
        if status == IncidentStatus::Monitoring && inc.monitoring_at.is_none() {
            inc.monitoring_at = Some(self.now);
        }
        if !status.is_open() && inc.resolved_at.is_none() {
            inc.resolved_at = Some(self.now);
        }
        if status.is_open() {
            inc.resolved_at = None;
        }
        if status == IncidentStatus::InProgress && inc.status == IncidentStatus::Scheduled {
            inc.started_at = self.now;
        }
        inc.status = status;
        inc.updated_at = self.now;
        inc.updates.clear();
        w.incident = Some(inc);
        w.update = Some(update);
        Ok(w)
    }

    /// Schedules a maintenance.
    pub fn schedule_maintenance(&mut self, n: &NewMaintenance) -> Result<StatusWrite, PlanError> {
        let name = check_text("name", &n.name, MAX_NAME)?;
        let body = check_text("body", &n.body, MAX_BODY)?;
        if n.scheduled_until <= n.scheduled_for {
            return Err(invalid("scheduled_until", "must be after scheduled_for"));
        }
        if n.scheduled_until <= self.now {
            return Err(invalid("scheduled_until", "is already past"));
        }
        for id in &n.component_ids {
            self.component(id, &format!("components.{id}"))?;
        }
        let incident = Incident {
            id: (self.ids)(),
            name,
            status: IncidentStatus::Scheduled,
            impact: Impact::None,
            created_at: self.now,
            updated_at: self.now,
            started_at: n.scheduled_for,
            monitoring_at: None,
            resolved_at: None,
            scheduled_for: Some(n.scheduled_for),
            scheduled_until: Some(n.scheduled_until),
            component_ids: n.component_ids.clone(),
            updates: vec![],
        };
        let update = IncidentUpdate {
            id: (self.ids)(),
            status: IncidentStatus::Scheduled,
            body,
            created_at: self.now,
            display_at: self.now,
            affected_components: vec![],
            next_update_by: None,
            estimated_restore_at: None,
        };
        Ok(StatusWrite {
            incident: Some(incident),
            update: Some(update),
            ..Default::default()
        })
    }

    /// The maintenance clock: starts or completes `id` when its window says so, putting its
    /// components under maintenance and back to operational. `None` when nothing is due.
    pub fn maintenance_tick(&mut self, id: &str) -> Option<StatusWrite> {
        let m = self.board.incidents.iter().find(|i| i.id == id)?;
        let step = super::maintenance_step(m, self.now)?;
        let (status, body) = match step {
            IncidentStatus::InProgress => (
                ComponentStatus::UnderMaintenance,
                "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
            ),
            _ => (
                ComponentStatus::Operational,
                "The scheduled maintenance has been completed.",
            ),
        };
        let set: Vec<_> = m
            .component_ids
            .iter()
            // Only components in the state the step expects change: an outage is not hidden
            // behind maintenance, and a component someone set by hand meanwhile stays.
            .filter(|id| {
                self.component(id, "").is_ok_and(|c| match status {
                    ComponentStatus::UnderMaintenance => c.status == ComponentStatus::Operational,
                    _ => c.status == ComponentStatus::UnderMaintenance,
                })
            })
            .map(|id| (id.clone(), status))
            .collect();
        self.update_incident(
            id,
            &NewUpdate {
                status: Some(step),
                body: body.into(),
                components: set,
                ..Default::default()
            },
        )
        .ok()
    }

    /// Declares the store advisory, replacing the one in force.
    pub fn set_advisory(&mut self, n: &NewAdvisory) -> Result<StatusWrite, PlanError> {
        // A banner is one sentence or two; longer belongs in an incident.
        let message = check_text("message", &n.message, 300)?;
        if message.contains(['\n', '\r']) {
            return Err(invalid(
                "message",
                "must be one line (it is shown as a banner)",
            ));
        }
        if let Some(e) = n.expires_at
            && e <= self.now
        {
            return Err(invalid("expires_at", "is in the past"));
        }
        if let Some(u) = n.until
            && u <= self.now
        {
            return Err(invalid(
                "until",
                "is in the past; give the time you now expect full service back",
            ));
        }
        Ok(StatusWrite {
            advisory: Some(Some(Advisory {
                message,
                level: n.level.unwrap_or_default(),
                until: n.until,
                expires_at: n.expires_at,
                updated_at: self.now,
            })),
            ..Default::default()
        })
    }

    /// Clears the store advisory; an error when none is in force.
    pub fn clear_advisory(&mut self) -> Result<StatusWrite, PlanError> {
        if self.board.advisory_at(self.now).is_none() {
            return Err(missing("advisory", "no store advisory is in force"));
        }
        Ok(StatusWrite {
            advisory: Some(None),
            ..Default::default()
        })
    }
}
