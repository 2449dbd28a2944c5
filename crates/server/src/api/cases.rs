//! `GET /api/v1/cases`, `GET /api/v1/cases/{id}` and `POST /api/v1/cases/{id}/actions`: the
//! seller's problem-parcel cases, each with the next step herald suggests and the compensation
//! the seller's policy offers.

use super::{Params, require_json};
use crate::{AppState, error::AppError};
use axum::Json;
use axum::extract::{Path, Query, State, rejection::BytesRejection};
use axum::http::HeaderMap;
use bytes::Bytes;
use herald_core::cases::{ActionInput, Compensation, next_step};
use herald_core::problems::ProblemKind;
use herald_store::{Case, CaseFilter};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// A case as the API shows it.
#[derive(Serialize)]
pub struct CaseView {
    #[serde(flatten)]
    pub case: Case,
    /// What herald suggests doing next, for the case's worst problem and age.
    pub next_step: String,
    /// The goodwill gesture the seller's policy suggests.
    pub compensation: Compensation,
    /// Whether the first-action deadline passed with nobody acting.
    pub first_action_overdue: bool,
}

fn view(state: &AppState, case: Case, now: Timestamp) -> CaseView {
    let age_days = now.duration_since(case.opened_at).as_hours() / 24;
    CaseView {
        next_step: next_step(case.kind, age_days, &case.carrier),
        compensation: state.watch.compensation_for(case.kind),
        first_action_overdue: case.open
            && case.first_action_at.is_none()
            && now >= case.first_action_due,
        case,
    }
}

/// Reads an age such as `36h`, `3d` or `90m`.
fn age(v: &str) -> Result<SignedDuration, String> {
    let bad = || format!("{v:?} is not an age: write a number and a unit, such as 90m, 36h or 3d");
    let v = v.trim();
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let mins = match unit {
        "m" => n,
        "h" => n * 60,
        "d" => n * 24 * 60,
        _ => return Err(bad()),
    };
    if !(0..=60 * 24 * 3650).contains(&mins) {
        return Err(bad());
    }
    Ok(SignedDuration::from_mins(mins))
}

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let now = state.clock.now();
    let mut p = Params::new(raw);
    let open = p.parse("open", |v| match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{v:?} is not true or false")),
    })?;
    let kind = p.parse("kind", |v| {
        ProblemKind::parse(v).ok_or_else(|| {
            format!(
                "{v:?} is not a problem kind: use one of {}",
                ProblemKind::ALL.map(|k| k.as_str()).join(", ")
            )
        })
    })?;
    let older_than = p.parse("older_than", age)?;
    let newer_than = p.parse("newer_than", age)?;
    let after_id = p.parse("cursor", |v| {
        v.parse::<i64>()
            .map_err(|_| "is not a cursor from a previous page")
    })?;
    let limit = p.limit(50)?.min(500);
    p.finish()?;
    let page = state
        .store
        .list_cases(&CaseFilter {
            open,
            kind,
            opened_before: older_than.map(|d| now - d),
            opened_after: newer_than.map(|d| now - d),
            after_id,
            limit,
        })
        .await?;
    let items: Vec<CaseView> = page
        .items
        .into_iter()
        .map(|c| view(&state, c, now))
        .collect();
    Ok(Json(
        json!({ "items": items, "next_cursor": page.next_cursor }),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, AppError> {
    let id = super::path_id(&id, "a case")?;
    let case = state
        .store
        .get_case(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no case with id {id}")))?;
    Ok(Json(view(&state, case, state.clock.now())))
}

pub async fn act(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CaseView>, AppError> {
    let id = super::path_id(&id, "a case")?;
    require_json(&headers)?;
    let body = body?;
    let input: ActionInput = serde_json::from_slice(&body)
        .map_err(|e| AppError::bad_request(format!("the body is not an action: {e}")))?;
    let now = state.clock.now();
    let entry = input.validate(now).map_err(AppError::invalid)?;
    let case = state
        .store
        .add_case_entry(id, entry, now)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no case with id {id}")))?;
    Ok(Json(view(&state, case, now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_minutes_hours_and_days() {
        assert_eq!(age("90m").unwrap(), SignedDuration::from_mins(90));
        assert_eq!(age("36h").unwrap(), SignedDuration::from_hours(36));
        assert_eq!(age("3d").unwrap(), SignedDuration::from_hours(72));
        for bad in ["3", "d", "3w", "-3d", "99999999999d"] {
            assert!(age(bad).unwrap_err().contains("36h"), "{bad}");
        }
    }
}
