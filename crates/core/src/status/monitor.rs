//! Monitors: herald checks one of the seller's services over HTTP (a label service, the
//! storefront, a payment callback) and keeps its status page component honest by itself. A
//! monitor counts failed checks in a row; at `failures` it calls the service down (the
//! component goes to `down_status` and, unless an incident about it is open already, herald
//! opens one with the usual promise of a next update); the first good check afterwards calls
//! it back (the component is operational again and the open incident moves to monitoring:
//! a person resolves it).
//!
//! This module holds the rules; probing lives in the server. Every change is planned against
//! the freshly read page, so several nodes probing the same service change it once.

use super::plan::{ComponentEdit, NewIncident, NewUpdate, PlanError, Planner, StatusWrite};
use super::{ComponentStatus, IncidentStatus};
use jiff::{SignedDuration, Timestamp};

/// One monitor, as configured (`[[status.monitors]]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    pub name: String,
    /// What is checked: a GET that must answer 2xx or 3xx within `timeout`.
    pub url: String,
    /// The component it speaks for, by name or id.
    pub component: String,
    pub interval: SignedDuration,
    pub timeout: SignedDuration,
    /// Failed checks in a row that mean the service is down.
    pub failures: u32,
    /// The component's status while the service is down.
    pub down_status: ComponentStatus,
    /// Whether going down opens an incident (else only the component changes).
    pub open_incident: bool,
}

/// A monitor's recent checks (kept per node, in memory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub failures_in_a_row: u32,
    /// When the first of the failures in a row happened.
    pub failing_since: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Whether this monitor has called the service down.
    pub down: bool,
    pub last_check: Option<Timestamp>,
}

/// What one check changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    None,
    /// The service is down: failing since then, with the last error.
    Down {
        since: Timestamp,
        error: String,
    },
    /// The service answers again.
    Up,
}

impl Health {
    /// Whether the monitor should check again at `now`.
    pub fn due(&self, m: &Monitor, now: Timestamp) -> bool {
        self.last_check.is_none_or(|t| now >= t + m.interval)
    }

    /// Records one check's outcome at `at`.
    pub fn record(&mut self, m: &Monitor, outcome: Result<(), String>, at: Timestamp) -> Change {
        self.last_check = Some(at);
        match outcome {
            Ok(()) => {
                let was_down = self.down;
                *self = Health {
                    last_check: Some(at),
                    ..Health::default()
                };
                if was_down { Change::Up } else { Change::None }
            }
            Err(e) => {
                self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
                let since = *self.failing_since.get_or_insert(at);
                self.last_error = Some(e.clone());
                if !self.down && self.failures_in_a_row >= m.failures.max(1) {
                    self.down = true;
                    Change::Down { since, error: e }
                } else {
                    Change::None
                }
            }
        }
    }
}

impl Planner<'_> {
    fn monitored(&self, m: &Monitor) -> Result<(String, String, ComponentStatus), PlanError> {
        self.board
            .components
            .iter()
            .find(|c| !c.is_group && (c.id == m.component || c.name == m.component))
            .map(|c| (c.id.clone(), c.name.clone(), c.status))
            .ok_or_else(|| PlanError {
                field: "component".into(),
                message: format!(
                    "monitor {:?} speaks for the component {:?}, which is not on the status page: add it, or fix status.monitors",
                    m.name, m.component
                ),
                missing: true,
            })
    }

    /// The open incident (not a maintenance) about a component, if there is one.
    fn open_incident_about(&self, id: &str) -> Option<&super::Incident> {
        self.board.incidents.iter().find(|i| {
            !i.is_maintenance() && i.status.is_open() && i.component_ids.iter().any(|c| c == id)
        })
    }

    /// What the page needs when a monitor calls its service down; `None` when it already
    /// says so (another node got there first, or the seller did).
    pub fn monitor_down(
        &mut self,
        m: &Monitor,
        since: Timestamp,
    ) -> Result<Option<StatusWrite>, PlanError> {
        let (id, name, status) = self.monitored(m)?;
        let worse = m.down_status.rank() > status.rank();
        if self.open_incident_about(&id).is_some() || !m.open_incident {
            if !worse {
                return Ok(None);
            }
            return self
                .edit_component(
                    &id,
                    &ComponentEdit {
                        status: Some(m.down_status),
                        ..ComponentEdit::default()
                    },
                )
                .map(Some);
        }
        self.open_incident(&NewIncident {
            name: format!("{name} is not working"),
            status: IncidentStatus::Investigating,
            impact: None,
            body: format!(
                "{name} stopped answering our checks. We are looking into it and will post an update here."
            ),
            components: vec![(id, m.down_status.max_rank(status))],
            next_update_by: None,
            estimated_restore_at: None,
            started_at: Some(since),
        })
        .map(Some)
    }

    /// What the page needs when a monitor sees its service answer again; `None` when the
    /// component is already operational and no open incident waits for the news.
    pub fn monitor_up(&mut self, m: &Monitor) -> Result<Option<StatusWrite>, PlanError> {
        let (id, name, status) = self.monitored(m)?;
        let incident = self
            .open_incident_about(&id)
            .filter(|i| !matches!(i.status, IncidentStatus::Monitoring))
            .map(|i| i.id.clone());
        match incident {
            Some(incident) => self
                .update_incident(
                    &incident,
                    &NewUpdate {
                        status: Some(IncidentStatus::Monitoring),
                        body: format!(
                            "{name} is answering our checks again. We are keeping an eye on it before we call this resolved."
                        ),
                        components: vec![(id, ComponentStatus::Operational)],
                        ..NewUpdate::default()
                    },
                )
                .map(Some),
            None if status != ComponentStatus::Operational => self
                .edit_component(
                    &id,
                    &ComponentEdit {
                        status: Some(ComponentStatus::Operational),
                        ..ComponentEdit::default()
                    },
                )
                .map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::tests::sample_board;
    use crate::status::{Board, PromisePolicy};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn monitor(component: &str, down: ComponentStatus) -> Monitor {
        Monitor {
            name: "Label service".into(),
            url: "http://127.0.0.1:9/health".into(),
            component: component.into(),
            interval: SignedDuration::from_secs(60),
            timeout: SignedDuration::from_secs(10),
            failures: 3,
            down_status: down,
            open_incident: true,
        }
    }

    /// The page after a write, as the store would read it back.
    fn apply(b: &mut Board, w: StatusWrite) {
        for c in w.components {
            if let Some(old) = b.components.iter_mut().find(|o| o.id == c.id) {
                *old = c;
            }
        }
        if let Some(mut i) = w.incident {
            let old = b.incidents.iter().position(|o| o.id == i.id);
            let mut updates = old
                .map(|o| b.incidents.remove(o).updates)
                .unwrap_or_default();
            if let Some(u) = w.update {
                updates.insert(0, u);
            }
            i.updates = updates;
            b.incidents.insert(0, i);
        }
    }

    fn plan<T>(b: &Board, now: Timestamp, f: impl FnOnce(&mut Planner<'_>) -> T) -> T {
        let mut n = 0;
        let mut ids = move || {
            n += 1;
            format!("mon{n:09}")
        };
        f(&mut Planner {
            board: b,
            now,
            promises: PromisePolicy::default(),
            ids: &mut ids,
        })
    }

    #[test]
    fn three_failures_in_a_row_are_down_and_one_success_is_up() {
        let m = monitor("Order tracking", ComponentStatus::MajorOutage);
        let mut h = Health::default();
        let t = |min: i64| at("2026-11-23T16:00:00Z") + SignedDuration::from_mins(min);
        assert!(h.due(&m, t(0)));
        assert_eq!(h.record(&m, Err("503".into()), t(0)), Change::None);
        assert!(!h.due(&m, t(0) + SignedDuration::from_secs(59)));
        assert!(h.due(&m, t(1)));
        // A success in between starts the count again.
        assert_eq!(h.record(&m, Ok(()), t(1)), Change::None);
        assert_eq!(h.record(&m, Err("503".into()), t(2)), Change::None);
        assert_eq!(h.record(&m, Err("timed out".into()), t(3)), Change::None);
        assert_eq!(
            h.record(&m, Err("refused".into()), t(4)),
            Change::Down {
                since: t(2),
                error: "refused".into()
            }
        );
        assert_eq!(h.record(&m, Err("refused".into()), t(5)), Change::None);
        assert_eq!(h.record(&m, Ok(()), t(6)), Change::Up);
        assert_eq!(h.record(&m, Ok(()), t(7)), Change::None);
        assert!(!h.down && h.failures_in_a_row == 0);
    }

    #[test]
    fn a_monitor_opens_one_incident_and_moves_it_to_monitoring_when_back() {
        let mut b = sample_board();
        let m = monitor("Order tracking", ComponentStatus::PartialOutage);
        let now = at("2026-11-23T16:00:00Z");
        let since = now - SignedDuration::from_mins(2);
        let w = plan(&b, now, |p| p.monitor_down(&m, since))
            .unwrap()
            .unwrap();
        let i = w.incident.clone().unwrap();
        assert_eq!(i.name, "Order tracking is not working");
        assert_eq!(i.started_at, since);
        assert_eq!(i.component_ids, vec!["c0tracking01".to_string()]);
        let u = w.update.clone().unwrap();
        assert_eq!(u.status, IncidentStatus::Investigating);
        assert!(
            u.next_update_by.is_some(),
            "the usual promise of a next update"
        );
        assert_eq!(
            u.affected_components[0].new_status,
            ComponentStatus::PartialOutage
        );
        apply(&mut b, w);
        // Another node (or the next check) finds the page already says so.
        assert!(
            plan(&b, now, |p| p.monitor_down(&m, since))
                .unwrap()
                .is_none()
        );
        let w = plan(&b, now, |p| p.monitor_up(&m)).unwrap().unwrap();
        let u = w.update.clone().unwrap();
        assert_eq!(u.status, IncidentStatus::Monitoring);
        assert_eq!(
            u.affected_components[0].new_status,
            ComponentStatus::Operational
        );
        apply(&mut b, w);
        assert!(plan(&b, now, |p| p.monitor_up(&m)).unwrap().is_none());
    }

    #[test]
    fn an_incident_already_open_gets_no_second_one() {
        let b = sample_board();
        // Checkout is in partial outage with the seller's incident open.
        let worse = monitor("Checkout", ComponentStatus::MajorOutage);
        let w = plan(&b, b.read_at, |p| p.monitor_down(&worse, b.read_at))
            .unwrap()
            .unwrap();
        assert!(w.incident.is_none());
        assert_eq!(w.components[0].status, ComponentStatus::MajorOutage);
        let milder = monitor("c0checkout01", ComponentStatus::DegradedPerformance);
        assert!(
            plan(&b, b.read_at, |p| p.monitor_down(&milder, b.read_at))
                .unwrap()
                .is_none()
        );
        let e = plan(&b, b.read_at, |p| {
            p.monitor_down(
                &monitor("Shipping", ComponentStatus::MajorOutage),
                b.read_at,
            )
        })
        .unwrap_err();
        assert_eq!(e.field, "component");
        assert!(e.message.contains("status.monitors"));
    }
}
