//! The status page's storage, shared by both databases: the SQL and the row decoding. The
//! rules live in `herald_core::status::plan`; the store only applies a planned
//! [`StatusWrite`] atomically, refusing it when the page changed since it was planned (the
//! `status_meta.version` counter), so two nodes never interleave half-planned changes.

use herald_core::status::advisory::{Advisory, AdvisoryLevel};
use herald_core::status::{
    AffectedComponent, Component, ComponentStatus, Impact, Incident, IncidentStatus,
    IncidentUpdate, StatusChange,
};
use herald_core::time::from_micros;
use std::collections::BTreeMap;

pub use herald_core::status::plan::StatusWrite;

/// What the status page holds, as read in one go.
#[derive(Debug, Clone, Default)]
pub struct StoredStatus {
    /// The change counter the read saw.
    pub version: i64,
    pub components: Vec<Component>,
    /// Open ones and those updated since the window's start, newest first, with updates.
    pub incidents: Vec<Incident>,
    pub history: BTreeMap<String, Vec<StatusChange>>,
    pub advisory: Option<Advisory>,
}

/// The outcome of applying a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusApplied {
    /// Written; the page's new version.
    Applied(i64),
    /// The page changed since the write was planned: plan it again.
    Stale,
    /// The request key was seen before; what that request produced.
    Duplicate(String),
}

pub(crate) const VERSION_SQL: &str = "SELECT version FROM status_meta WHERE id = 1";
pub(crate) const BUMP_SQL: &str =
    "UPDATE status_meta SET version = version + 1 WHERE id = 1 AND version = $1";
pub(crate) const REQUEST_SQL: &str = "SELECT result FROM status_requests WHERE request_key = $1";
pub(crate) const INSERT_REQUEST_SQL: &str =
    "INSERT INTO status_requests (request_key, result, created_at) VALUES ($1, $2, $3)";

pub(crate) const COMPONENTS_SQL: &str = "SELECT id, name, description, group_id, is_group, position, status, showcase, only_show_if_degraded, start_date, created_at, updated_at FROM status_components WHERE removed_at IS NULL ORDER BY position, created_at, id";
pub(crate) const UPSERT_COMPONENT_SQL: &str = "INSERT INTO status_components (id, name, description, group_id, is_group, position, status, showcase, only_show_if_degraded, start_date, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description, group_id = excluded.group_id, position = excluded.position, status = excluded.status, showcase = excluded.showcase, only_show_if_degraded = excluded.only_show_if_degraded, start_date = excluded.start_date, updated_at = excluded.updated_at";
pub(crate) const REMOVE_COMPONENT_SQL: &str =
    "UPDATE status_components SET removed_at = $2 WHERE id = $1 AND removed_at IS NULL";
pub(crate) const INSERT_CHANGE_SQL: &str =
    "INSERT INTO status_changes (component_id, status, at) VALUES ($1, $2, $3)";
/// Changes since `$1`, plus each component's last change before it (its state at the start).
pub(crate) const CHANGES_SQL: &str = "SELECT id, component_id, status, at FROM status_changes WHERE at >= $1 UNION ALL SELECT s.id, s.component_id, s.status, s.at FROM status_changes s WHERE s.at < $1 AND s.id = (SELECT x.id FROM status_changes x WHERE x.component_id = s.component_id AND x.at < $1 ORDER BY x.at DESC, x.id DESC LIMIT 1) ORDER BY 4, 1";

pub(crate) const INCIDENTS_SQL: &str = "SELECT id, name, status, impact, created_at, updated_at, started_at, monitoring_at, resolved_at, scheduled_for, scheduled_until, component_ids FROM status_incidents WHERE resolved_at IS NULL OR updated_at >= $1 ORDER BY started_at DESC, id LIMIT 1000";
pub(crate) const UPSERT_INCIDENT_SQL: &str = "INSERT INTO status_incidents (id, name, status, impact, created_at, updated_at, started_at, monitoring_at, resolved_at, scheduled_for, scheduled_until, component_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO UPDATE SET name = excluded.name, status = excluded.status, impact = excluded.impact, updated_at = excluded.updated_at, started_at = excluded.started_at, monitoring_at = excluded.monitoring_at, resolved_at = excluded.resolved_at, scheduled_for = excluded.scheduled_for, scheduled_until = excluded.scheduled_until, component_ids = excluded.component_ids";
pub(crate) const UPDATES_SQL: &str = "SELECT u.id, u.incident_id, u.status, u.body, u.created_at, u.display_at, u.affected, u.next_update_by, u.estimated_restore_at FROM status_updates u JOIN status_incidents i ON i.id = u.incident_id WHERE i.resolved_at IS NULL OR i.updated_at >= $1 ORDER BY u.created_at DESC, u.id DESC";
pub(crate) const INSERT_UPDATE_SQL: &str = "INSERT INTO status_updates (id, incident_id, status, body, created_at, display_at, affected, next_update_by, estimated_restore_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(crate) const ADVISORY_SQL: &str =
    "SELECT message, level, until_at, expires_at, updated_at FROM status_advisory WHERE id = 1";
pub(crate) const SET_ADVISORY_SQL: &str = "INSERT INTO status_advisory (id, message, level, until_at, expires_at, updated_at) VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET message = excluded.message, level = excluded.level, until_at = excluded.until_at, expires_at = excluded.expires_at, updated_at = excluded.updated_at";
pub(crate) const CLEAR_ADVISORY_SQL: &str = "DELETE FROM status_advisory WHERE id = 1";

pub(crate) type AdvisoryRow = (String, String, Option<i64>, Option<i64>, i64);

pub(crate) fn advisory_from(r: AdvisoryRow) -> crate::Result<Advisory> {
    let (message, level, until, expires, updated) = r;
    Ok(Advisory {
        message,
        level: AdvisoryLevel::parse(&level).map_err(|e| corrupt("store advisory", e))?,
        until: until.map(from_micros),
        expires_at: expires.map(from_micros),
        updated_at: from_micros(updated),
    })
}

pub(crate) fn advisory_row(a: &Advisory) -> AdvisoryRow {
    (
        a.message.clone(),
        a.level.as_str().to_string(),
        a.until.map(|t| t.as_microsecond()),
        a.expires_at.map(|t| t.as_microsecond()),
        a.updated_at.as_microsecond(),
    )
}

pub(crate) const ADD_REPORT_SQL: &str =
    "INSERT INTO status_reports (component_id, body, reported_at) VALUES ($1, $2, $3) RETURNING id";
pub(crate) const REPORTS_SQL: &str = "SELECT id, component_id, body, reported_at FROM status_reports WHERE reported_at >= $1 ORDER BY reported_at DESC, id DESC LIMIT $2";
pub(crate) const KEEP_SECRET_SQL: &str = "INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
pub(crate) const SECRET_SQL: &str = "SELECT value FROM shared_secrets WHERE name = $1";

pub(crate) type ReportRow = (i64, Option<String>, String, i64);

pub(crate) fn report_from(r: ReportRow) -> herald_core::status::report::Report {
    let (id, component_id, what, at) = r;
    herald_core::status::report::Report {
        id,
        component_id,
        what,
        reported_at: from_micros(at),
    }
}

pub(crate) const RAISE_ALERT_SQL: &str = "INSERT INTO alerts (dedupe_key, kind, order_id, message, due_at, raised_at) VALUES ($1, $2, NULL, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING";

pub(crate) type ComponentRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    bool,
    i64,
    String,
    bool,
    bool,
    Option<String>,
    i64,
    i64,
);
pub(crate) type IncidentRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
);
pub(crate) type UpdateRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    Option<i64>,
    Option<i64>,
);

fn corrupt(what: &str, e: impl std::fmt::Display) -> crate::StoreError {
    crate::StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn component_from(r: ComponentRow) -> crate::Result<Component> {
    let (id, name, description, group_id, is_group, position, status, showcase, only, start, c, u) =
        r;
    Ok(Component {
        status: ComponentStatus::parse(&status).map_err(|e| corrupt("status component", e))?,
        start_date: start
            .map(|d| d.parse())
            .transpose()
            .map_err(|e| corrupt("status component start date", e))?,
        id,
        name,
        description,
        group_id,
        is_group,
        position,
        showcase,
        only_show_if_degraded: only,
        created_at: from_micros(c),
        updated_at: from_micros(u),
    })
}

/// The bound values of a component, in `COMPONENT_COLUMNS` order.
pub(crate) fn component_row(c: &Component) -> ComponentRow {
    (
        c.id.clone(),
        c.name.clone(),
        c.description.clone(),
        c.group_id.clone(),
        c.is_group,
        c.position,
        c.status.as_str().to_string(),
        c.showcase,
        c.only_show_if_degraded,
        c.start_date.map(|d| d.to_string()),
        c.created_at.as_microsecond(),
        c.updated_at.as_microsecond(),
    )
}

pub(crate) fn incident_from(r: IncidentRow) -> crate::Result<Incident> {
    let (id, name, status, impact, c, u, s, mon, res, sf, su, comps) = r;
    let maintenance = sf.is_some();
    Ok(Incident {
        status: IncidentStatus::parse(&status, maintenance)
            .map_err(|e| corrupt("status incident", e))?,
        impact: Impact::parse(&impact).map_err(|e| corrupt("status incident", e))?,
        component_ids: serde_json::from_str(&comps)
            .map_err(|e| corrupt("status incident components", e))?,
        id,
        name,
        created_at: from_micros(c),
        updated_at: from_micros(u),
        started_at: from_micros(s),
        monitoring_at: mon.map(from_micros),
        resolved_at: res.map(from_micros),
        scheduled_for: sf.map(from_micros),
        scheduled_until: su.map(from_micros),
        updates: Vec::new(),
    })
}

pub(crate) fn incident_row(i: &Incident) -> IncidentRow {
    (
        i.id.clone(),
        i.name.clone(),
        i.status.as_str().to_string(),
        i.impact.as_str().to_string(),
        i.created_at.as_microsecond(),
        i.updated_at.as_microsecond(),
        i.started_at.as_microsecond(),
        i.monitoring_at.map(|t| t.as_microsecond()),
        i.resolved_at.map(|t| t.as_microsecond()),
        i.scheduled_for.map(|t| t.as_microsecond()),
        i.scheduled_until.map(|t| t.as_microsecond()),
        serde_json::to_string(&i.component_ids).expect("ids serialise"),
    )
}

/// An update and the incident it belongs to.
pub(crate) fn update_from(r: UpdateRow) -> crate::Result<(String, IncidentUpdate)> {
    let (id, incident_id, status, body, c, d, affected, next, restore) = r;
    let status = IncidentStatus::parse(&status, false)
        .or_else(|_| IncidentStatus::parse(&status, true))
        .map_err(|e| corrupt("status update", e))?;
    let affected: Vec<AffectedComponent> =
        serde_json::from_str(&affected).map_err(|e| corrupt("status update components", e))?;
    Ok((
        incident_id,
        IncidentUpdate {
            id,
            status,
            body,
            created_at: from_micros(c),
            display_at: from_micros(d),
            affected_components: affected,
            next_update_by: next.map(from_micros),
            estimated_restore_at: restore.map(from_micros),
        },
    ))
}

pub(crate) fn update_row(incident_id: &str, u: &IncidentUpdate) -> UpdateRow {
    (
        u.id.clone(),
        incident_id.to_string(),
        u.status.as_str().to_string(),
        u.body.clone(),
        u.created_at.as_microsecond(),
        u.display_at.as_microsecond(),
        serde_json::to_string(&u.affected_components).expect("components serialise"),
        u.next_update_by.map(|t| t.as_microsecond()),
        u.estimated_restore_at.map(|t| t.as_microsecond()),
    )
}

/// Puts the read rows together.
pub(crate) fn assemble(
    version: i64,
    components: Vec<Component>,
    mut incidents: Vec<Incident>,
    updates: Vec<(String, IncidentUpdate)>,
    changes: Vec<(String, StatusChange)>,
    advisory: Option<Advisory>,
) -> StoredStatus {
    let mut by_incident: BTreeMap<String, Vec<IncidentUpdate>> = BTreeMap::new();
    for (iid, u) in updates {
        by_incident.entry(iid).or_default().push(u);
    }
    for i in &mut incidents {
        i.updates = by_incident.remove(&i.id).unwrap_or_default();
    }
    let mut history: BTreeMap<String, Vec<StatusChange>> = BTreeMap::new();
    for (cid, ch) in changes {
        history.entry(cid).or_default().push(ch);
    }
    StoredStatus {
        version,
        components,
        incidents,
        history,
        advisory,
    }
}

pub(crate) fn change_from(
    (_, component_id, status, at): (i64, String, String, i64),
) -> crate::Result<(String, StatusChange)> {
    Ok((
        component_id,
        StatusChange {
            at: from_micros(at),
            status: ComponentStatus::parse(&status).map_err(|e| corrupt("status change", e))?,
        },
    ))
}
