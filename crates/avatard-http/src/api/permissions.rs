//! `permissions.listAll` and `permissions.update` (R8.5).

use std::collections::HashMap;

use avatard_domain::Error;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::envelope::{ApiError, Success};
use crate::params::BodyParams;
use crate::present;

pub async fn list_all(
    State(state): State<AppState>,
    _caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Success, ApiError> {
    let since = match query.get("updatedSince") {
        Some(raw) => Some(
            DateTime::parse_from_rfc3339(raw)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| {
                    Error::meteor(
                        "error-roomId-param-invalid",
                        Some("Invalid date for `updatedSince`"),
                        None,
                    )
                })?,
        ),
        None => None,
    };
    let update: Vec<Value> = state
        .domain
        .authorization
        .list()
        .iter()
        .filter(|p| since.is_none_or(|since| p.updated_at > since))
        .map(present::permission)
        .collect();
    Ok(Success::with(json!({"update": update, "remove": []})))
}

/// `{"permissions": [{"_id": ..., "roles": [...]}, ...]}` or `None` when the body has another shape.
fn updates(params: &Value) -> Option<Vec<(String, Vec<String>)>> {
    params
        .get("permissions")?
        .as_array()?
        .iter()
        .map(|entry| {
            let id = entry.get("_id")?.as_str()?.to_owned();
            let roles = entry
                .get("roles")?
                .as_array()?
                .iter()
                .map(|r| r.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()?;
            Some((id, roles))
        })
        .collect()
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    let authz = &state.domain.authorization;
    authz.require(
        &caller.record.user,
        avatard_domain::authorization::ACCESS_PERMISSIONS,
    )?;
    let updates = updates(&params)
        .ok_or_else(|| Error::failure("Invalid body params", Some("error-invalid-body-params")))?;
    authz.update(&caller.record.user, updates).await?;
    let permissions: Vec<Value> = authz.list().iter().map(present::permission).collect();
    Ok(Success::with(json!({"permissions": permissions})))
}
