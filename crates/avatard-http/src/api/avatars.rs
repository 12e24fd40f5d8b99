//! `users.setAvatar` (R3) and `users.resetAvatar` (R4).

use avatard_domain::avatars::Upload;
use axum::body::Body;
use axum::extract::{Request, State};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::api::users::target_from_body;
use crate::auth::Caller;
use crate::envelope::{ApiError, Success};
use crate::params::{BodyParams, Kind, Schema, content_type, is_multipart, read_params};
use crate::upload::read_image_form;

#[derive(Deserialize)]
struct SetAvatar {
    #[serde(rename = "avatarUrl")]
    avatar_url: Option<String>,
}

const SET_AVATAR: Schema = Schema {
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
    request: Request,
) -> Result<Success, ApiError> {
    let avatars = &state.domain.avatars;
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
        avatars.set_from_url(&target.user, &url).await?;
        return Ok(Success::empty());
    }
    let form = read_image_form(
        content_type(&parts.headers),
        upload_body,
        avatars.upload_stream_limit(),
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
        .set_from_upload(&target.user, Upload { bytes: form.image })
        .await?;
    Ok(Success::empty())
}

pub async fn reset_avatar(
    State(state): State<AppState>,
    caller: Caller,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    state
        .domain
        .avatars
        .reset(&caller.record, &target_from_body(&params))
        .await?;
    Ok(Success::empty())
}
