//! `users.setAvatar` (R3) and `users.resetAvatar` (R4).

use std::collections::HashMap;

use avatard_domain::Error;
use avatard_domain::avatars::{Actor, Upload};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::api::users::{target, target_from_body};
use crate::auth::Caller;
use crate::client::ClientIp;
use crate::envelope::{ApiError, Success};
use crate::params::{BodyParams, Kind, Schema, content_type, is_multipart, read_params};
use crate::present;
use crate::upload::read_image_form;

#[derive(Deserialize)]
struct SetAvatar {
    #[serde(rename = "avatarUrl")]
    avatar_url: Option<String>,
}

pub(crate) const SET_AVATAR: Schema = Schema {
    required: &[],
    optional: &[
        ("avatarUrl", Kind::StringOrNull),
        ("userId", Kind::StringOrNull),
        ("username", Kind::StringOrNull),
    ],
};

/// The checks run in Rocket.Chat's order (R3.2): auth, schema, permission and target from the JSON
/// body, then either the URL flow or the multipart upload, whose own fields may retarget it.
pub async fn set_avatar(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Result<Success, ApiError> {
    let avatars = &state.domain.avatars;
    let actor = Actor {
        user: &caller.record.user,
        ip,
    };
    let (parts, body) = request.into_parts();
    // A multipart body has no body parameters (R1.9); it is kept unread for the upload parser.
    let (params, upload_body) = if is_multipart(&parts.headers) {
        (json!({}), body)
    } else {
        (read_params(&parts.headers, body).await?, Body::empty())
    };
    let form: SetAvatar = SET_AVATAR.parse(&params)?;
    let target = avatars
        .authorize_set(&caller.record, &target_from_body(&params))
        .await?;
    if let Some(url) = form.avatar_url.filter(|url| !url.is_empty()) {
        avatars.set_from_url(&target.user, &url, actor).await?;
        return Ok(Success::empty());
    }
    let body_length = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let form = read_image_form(
        content_type(&parts.headers),
        body_length,
        upload_body,
        avatars.upload_stream_limit(),
        &state.upload_memory,
    )
    .await?;
    let target = avatars
        .retarget_upload(
            &caller.record,
            target,
            form.fields.get("userId").map(String::as_str),
            form.fields.get("username").map(String::as_str),
        )
        .await?;
    avatars
        .set_from_upload(&target.user, Upload { bytes: form.image }, actor)
        .await?;
    // The file's bytes are gone now; until here they were in memory.
    drop(form.reservation);
    Ok(Success::empty())
}

pub async fn reset_avatar(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    state
        .domain
        .avatars
        .reset(&caller.record, &target_from_body(&params), ip)
        .await?;
    Ok(Success::empty())
}

/// Rocket.Chat's paging defaults (`API_Default_Count`, `API_Upper_Count_Limit`).
const DEFAULT_COUNT: u64 = 50;
const MAX_COUNT: u64 = 100;

/// `GET avatars.history?username=|userId=&offset=&count=`: a user's avatar audit trail, newest
/// first, paged as Rocket.Chat pages lists.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Success, ApiError> {
    let number = |name: &str, default: u64| match query.get(name) {
        None => Ok(default),
        Some(raw) => raw.parse::<u64>().map_err(|_| {
            Error::failure(
                format!("The \"{name}\" query parameter must be a non-negative integer"),
                Some("invalid-params"),
            )
        }),
    };
    let offset = number("offset", 0)?;
    let count = number("count", DEFAULT_COUNT)?.min(MAX_COUNT);
    let page = state
        .domain
        .avatars
        .history(&caller.record, &target(&query), offset, count)
        .await?;
    let history: Vec<_> = page.changes.iter().map(present::avatar_change).collect();
    Ok(Success::with(json!({
        "history": history,
        "count": history.len(),
        "offset": offset,
        "total": page.total,
    })))
}

#[derive(Deserialize)]
struct Restore {
    #[serde(rename = "historyId")]
    history_id: i64,
}

const RESTORE: Schema = Schema {
    required: &[("historyId", Kind::Integer)],
    optional: &[
        ("userId", Kind::StringOrNull),
        ("username", Kind::StringOrNull),
    ],
};

/// `POST avatars.restore {username|userId, historyId}`: make a kept previous avatar current again.
pub async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    ClientIp(ip): ClientIp,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    let form: Restore = RESTORE.parse(&params)?;
    let record = state
        .domain
        .avatars
        .restore(
            &caller.record,
            &target_from_body(&params),
            form.history_id,
            ip,
        )
        .await?;
    Ok(Success::with(json!({"avatarETag": record.etag})))
}
