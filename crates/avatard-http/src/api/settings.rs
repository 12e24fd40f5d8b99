//! `GET`/`POST /api/v1/settings/{_id}` (R8.6).

use avatard_domain::Error;
use avatard_domain::authorization::{EDIT_PRIVILEGED_SETTING, VIEW_PRIVILEGED_SETTING};
use axum::extract::{Path, State};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope::{ApiError, Success};
use crate::params::BodyParams;

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Success, ApiError> {
    state
        .domain
        .authorization
        .require(&caller.record.user, VIEW_PRIVILEGED_SETTING)?;
    let value = state.domain.settings.get(&id).ok_or(Error::Rejected)?;
    Ok(Success::with(json!({"_id": id, "value": value})))
}

pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    state
        .domain
        .authorization
        .require(&caller.record.user, EDIT_PRIVILEGED_SETTING)?;
    let value = params
        .get("value")
        .cloned()
        .ok_or_else(|| Error::plain("Match error: Missing key 'value'"))?;
    state.domain.settings.set(&id, value).await?;
    Ok(Success::empty())
}
