//! The status page's admin API (`/api/v1/status/...`, token auth): components and groups,
//! incidents and their updates, scheduled maintenance. Every write is planned against the
//! current page and applied in one transaction; an `Idempotency-Key` header makes a retried
//! request return what the first one produced instead of doing it twice.

use super::{Changed, change};
use crate::AppState;
use crate::api::{batch::parse, require_json};
use crate::error::AppError;
use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use herald_core::status::advisory::AdvisoryLevel;
use herald_core::status::plan::{
    ComponentEdit, NewAdvisory, NewComponent, NewIncident, NewMaintenance, NewUpdate,
};
use herald_core::status::{Board, ComponentStatus, Impact, IncidentStatus};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A body field that is wrong: 422 naming it.
fn bad_field(field: &str, message: impl Into<String>) -> AppError {
    AppError::invalid(vec![herald_core::order::FieldError::new(field, message)])
}

fn request_key(headers: &HeaderMap, route: &str) -> Result<Option<String>, AppError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().unwrap_or("").trim();
            if k.is_empty() || k.len() > 200 {
                return Err(AppError::field(
                    "Idempotency-Key",
                    "must be 1 to 200 visible characters",
                ));
            }
            Ok(Some(format!("{route}:{k}")))
        }
    }
}

async fn fresh_board(state: &AppState) -> Result<std::sync::Arc<Board>, AppError> {
    state.status.refresh(state, false).await;
    state.status.board().ok_or_else(|| {
        AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready",
            "the status page could not be read from the database yet",
        )
    })
}

fn component_json(b: &Board, id: &str) -> Result<Value, AppError> {
    b.components
        .iter()
        .find(|c| c.id == id)
        .map(|c| {
            let mut v = serde_json::to_value(c).expect("plain data");
            v["group_name"] = json!(c.group_id.as_deref().and_then(|g| b.component_name(g)));
            v
        })
        .ok_or_else(|| AppError::not_found(format!("no component has the id {id:?}")))
}

fn incident_json(b: &Board, id: &str) -> Result<Value, AppError> {
    b.incidents
        .iter()
        .find(|i| i.id == id)
        .map(|i| {
            let mut v = serde_json::to_value(i).expect("plain data");
            v["url"] = json!(format!("{}/incidents/{}", b.page.url, i.id));
            v["next_update_by"] = json!(i.next_update_by());
            v
        })
        .ok_or_else(|| AppError::not_found(format!("no incident or maintenance has the id {id:?}")))
}

fn created(c: &Changed, v: Value) -> (StatusCode, Json<Value>) {
    (
        if c.replayed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        Json(v),
    )
}

/// `GET /api/v1/status/components`
pub async fn list_components(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let b = fresh_board(&state).await?;
    let list: Vec<Value> = b
        .components
        .iter()
        .map(|c| component_json(&b, &c.id))
        .collect::<Result<_, _>>()?;
    Ok(Json(json!({ "components": list, "status": b.status() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentInput {
    name: String,
    description: Option<String>,
    group: Option<String>,
    position: Option<i64>,
    status: Option<ComponentStatus>,
    showcase: Option<bool>,
    only_show_if_degraded: Option<bool>,
    start_date: Option<jiff::civil::Date>,
}

/// `POST /api/v1/status/components`
pub async fn add_component(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    require_json(&headers)?;
    let key = request_key(&headers, "component")?;
    let i: ComponentInput = parse(&body?)?;
    let n = NewComponent {
        name: i.name,
        description: i.description,
        group: i.group,
        position: i.position,
        status: i.status,
        showcase: i.showcase,
        only_show_if_degraded: i.only_show_if_degraded,
        start_date: i.start_date,
    };
    let c = change(&state, key.as_deref(), |p| p.add_component(&n)).await?;
    let b = fresh_board(&state).await?;
    Ok(created(&c, component_json(&b, &c.id)?))
}

/// A field that may be set, cleared (`null`) or left out.
fn optional_text<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentPatch {
    name: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "optional_text")]
    group: Option<Option<String>>,
    position: Option<i64>,
    status: Option<ComponentStatus>,
    showcase: Option<bool>,
    only_show_if_degraded: Option<bool>,
}

/// `PATCH /api/v1/status/components/{id}`
pub async fn edit_component(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    require_json(&headers)?;
    let p: ComponentPatch = parse(&body?)?;
    let e = ComponentEdit {
        name: p.name,
        description: p.description,
        group: p.group,
        position: p.position,
        status: p.status,
        showcase: p.showcase,
        only_show_if_degraded: p.only_show_if_degraded,
    };
    change(&state, None, |pl| pl.edit_component(&id, &e)).await?;
    let b = fresh_board(&state).await?;
    Ok(Json(component_json(&b, &id)?))
}

/// `DELETE /api/v1/status/components/{id}`
pub async fn remove_component(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    change(&state, None, |p| p.remove_component(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/status/incidents`: open ones and those of the last 90 days, newest first.
pub async fn list_incidents(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let b = fresh_board(&state).await?;
    let list: Vec<Value> = b
        .incidents
        .iter()
        .map(|i| incident_json(&b, &i.id))
        .collect::<Result<_, _>>()?;
    Ok(Json(json!({ "incidents": list })))
}

/// `GET /api/v1/status/incidents/{id}`
pub async fn get_incident(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let b = fresh_board(&state).await?;
    Ok(Json(incident_json(&b, &id)?))
}

fn component_set(m: Option<BTreeMap<String, ComponentStatus>>) -> Vec<(String, ComponentStatus)> {
    m.unwrap_or_default().into_iter().collect()
}

/// `next_update_by` or `next_update_in_minutes`, not both.
fn promise(
    by: Option<Timestamp>,
    in_minutes: Option<i64>,
    now: Timestamp,
) -> Result<Option<Timestamp>, AppError> {
    match (by, in_minutes) {
        (Some(_), Some(_)) => Err(bad_field(
            "next_update_in_minutes",
            "give next_update_by or next_update_in_minutes, not both",
        )),
        (_, Some(m)) if !(1..=7 * 24 * 60).contains(&m) => Err(bad_field(
            "next_update_in_minutes",
            "must be between 1 and 10080 (a week)",
        )),
        (_, Some(m)) => Ok(Some(now + SignedDuration::from_mins(m))),
        (Some(t), None) if t <= now => Err(bad_field(
            "next_update_by",
            "is in the past; promise a time still ahead",
        )),
        (by, None) => Ok(by),
    }
}

fn incident_status(
    s: Option<String>,
    maintenance: bool,
) -> Result<Option<IncidentStatus>, AppError> {
    s.map(|s| IncidentStatus::parse(&s, maintenance).map_err(|e| bad_field("status", e)))
        .transpose()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncidentInput {
    name: String,
    status: Option<String>,
    impact: Option<Impact>,
    body: String,
    components: Option<BTreeMap<String, ComponentStatus>>,
    next_update_by: Option<Timestamp>,
    next_update_in_minutes: Option<i64>,
    estimated_restore_at: Option<Timestamp>,
    started_at: Option<Timestamp>,
}

/// `POST /api/v1/status/incidents`
pub async fn open_incident(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    require_json(&headers)?;
    let key = request_key(&headers, "incident")?;
    let i: IncidentInput = parse(&body?)?;
    let n = NewIncident {
        name: i.name,
        status: incident_status(i.status, false)?.unwrap_or(IncidentStatus::Investigating),
        impact: i.impact,
        body: i.body,
        components: component_set(i.components),
        next_update_by: promise(
            i.next_update_by,
            i.next_update_in_minutes,
            state.clock.now(),
        )?,
        estimated_restore_at: i.estimated_restore_at,
        started_at: i.started_at,
    };
    let c = change(&state, key.as_deref(), |p| p.open_incident(&n)).await?;
    let b = fresh_board(&state).await?;
    Ok(created(&c, incident_json(&b, &c.id)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateInput {
    status: Option<String>,
    body: String,
    impact: Option<Impact>,
    components: Option<BTreeMap<String, ComponentStatus>>,
    next_update_by: Option<Timestamp>,
    next_update_in_minutes: Option<i64>,
    estimated_restore_at: Option<Timestamp>,
}

/// `POST /api/v1/status/incidents/{id}/updates` (incidents and maintenance alike)
pub async fn add_update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    require_json(&headers)?;
    let key = request_key(&headers, &format!("update:{id}"))?;
    let u: UpdateInput = parse(&body?)?;
    // Either kind's status parses here; the planner, against the fresh page, refuses one that
    // does not fit this incident or maintenance.
    let status = match incident_status(u.status.clone(), false) {
        Ok(s) => s,
        Err(e) => incident_status(u.status, true).map_err(|_| e)?,
    };
    let n = NewUpdate {
        status,
        body: u.body,
        components: component_set(u.components),
        impact: u.impact,
        next_update_by: promise(
            u.next_update_by,
            u.next_update_in_minutes,
            state.clock.now(),
        )?,
        estimated_restore_at: u.estimated_restore_at,
    };
    let c = change(&state, key.as_deref(), |p| p.update_incident(&id, &n)).await?;
    let b = fresh_board(&state).await?;
    Ok(created(&c, incident_json(&b, &c.id)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceInput {
    name: String,
    body: String,
    scheduled_for: Timestamp,
    scheduled_until: Timestamp,
    #[serde(default)]
    components: Vec<String>,
}

/// `POST /api/v1/status/maintenances`
pub async fn schedule_maintenance(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    require_json(&headers)?;
    let key = request_key(&headers, "maintenance")?;
    let m: MaintenanceInput = parse(&body?)?;
    let n = NewMaintenance {
        name: m.name,
        body: m.body,
        scheduled_for: m.scheduled_for,
        scheduled_until: m.scheduled_until,
        component_ids: m.components,
    };
    let c = change(&state, key.as_deref(), |p| p.schedule_maintenance(&n)).await?;
    let b = fresh_board(&state).await?;
    Ok(created(&c, incident_json(&b, &c.id)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvisoryInput {
    message: String,
    level: Option<String>,
    until: Option<Timestamp>,
    expires_at: Option<Timestamp>,
}

fn advisory_json(b: &Board, now: Timestamp) -> Value {
    json!({ "advisory": b.advisory_at(now) })
}

/// `GET /api/v1/status/advisory`: the advisory in force (`null` when none).
pub async fn get_advisory(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let b = fresh_board(&state).await?;
    Ok(Json(advisory_json(&b, state.clock.now())))
}

/// `PUT /api/v1/status/advisory`: declares the store advisory (replacing the one in force).
pub async fn set_advisory(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    require_json(&headers)?;
    let a: AdvisoryInput = parse(&body?)?;
    let n = NewAdvisory {
        message: a.message,
        level: a
            .level
            .map(|l| AdvisoryLevel::parse(&l).map_err(|e| bad_field("level", e)))
            .transpose()?,
        until: a.until,
        expires_at: a.expires_at,
    };
    change(&state, None, |p| p.set_advisory(&n)).await?;
    let b = fresh_board(&state).await?;
    Ok(Json(advisory_json(&b, state.clock.now())))
}

/// `DELETE /api/v1/status/advisory`: full service is back.
pub async fn clear_advisory(State(state): State<AppState>) -> Result<StatusCode, AppError> {
    change(&state, None, |p| p.clear_advisory()).await?;
    Ok(StatusCode::NO_CONTENT)
}
