//! `GET`/`HEAD /avatar/<username>` and `/avatar/uid/<userId>` (R6): the stored avatar, or the
//! initials image, with Rocket.Chat's caching headers and conditional requests.

use std::collections::HashMap;

use avatard_domain::avatars::{AvatarView, INITIALS_LAST_MODIFIED};
use avatard_domain::{Error, settings};
use avatard_imaging::initials;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;

type Params = HashMap<String, String>;

/// Every `/avatar/...` request, dispatched the way Rocket.Chat mounts its handlers (R6.1).
pub async fn avatar(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Path(rest): Path<String>,
    Query(params): Query<Params>,
    headers: HeaderMap,
) -> Response {
    if state
        .domain
        .settings
        .bool(settings::AVATAR_BLOCK_UNAUTHENTICATED_ACCESS)
        && !authenticated(&state, &params, &headers).await
    {
        return blocked(uri.path_and_query().map_or("", |pq| pq.as_str()));
    }
    let result = match view_of(&state, &rest).await {
        Ok(Some(view)) => respond(&state, view, &params, &headers).await,
        Ok(None) => Ok(StatusCode::NOT_FOUND.into_response()),
        Err(err) => Err(err),
    };
    result.unwrap_or_else(|err| match err {
        Error::Unavailable(detail) => {
            tracing::warn!(%detail, "avatar request while storage is unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        other => {
            tracing::error!(err = %other, "avatar request failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    })
}

/// `/avatar/` with nothing after it.
pub async fn empty() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// What the path names: `uid/<id>` (R6.5) or a username (R6.4). `None` is a 404: an empty name, or a
/// room (avatard has no rooms, so every room is unknown, R6.9).
async fn view_of(state: &AppState, rest: &str) -> Result<Option<AvatarView>, Error> {
    let avatars = &state.domain.avatars;
    match rest.strip_prefix("uid/") {
        Some("") => Ok(None),
        Some(id) => avatars.for_user_id(id).await.map(Some),
        None if rest.is_empty() || rest.starts_with("room/") => Ok(None),
        None => avatars.for_username(rest).await.map(Some),
    }
}

async fn respond(
    state: &AppState,
    view: AvatarView,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, Error> {
    let if_modified_since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok());
    let revalidated = if_modified_since == Some(INITIALS_LAST_MODIFIED);
    let mut response = match view {
        AvatarView::Stored { record, bytes } => {
            let last_modified = httpdate::fmt_http_date(record.uploaded_at.into());
            let mut response = if if_modified_since == Some(last_modified.as_str()) {
                StatusCode::NOT_MODIFIED.into_response()
            } else {
                let mut response = Body::from(bytes).into_response();
                let h = response.headers_mut();
                h.insert(header::CONTENT_TYPE, header_value(&record.content_type));
                h.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'"),
                );
                h.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                response
            };
            response
                .headers_mut()
                .insert(header::LAST_MODIFIED, header_value(&last_modified));
            response
        }
        AvatarView::Initials {
            revalidate: true, ..
        }
        | AvatarView::NotFound
            if revalidated =>
        {
            StatusCode::NOT_MODIFIED.into_response()
        }
        AvatarView::NotFound => return Ok(StatusCode::NOT_FOUND.into_response()),
        AvatarView::Initials {
            name, all_initials, ..
        } => {
            let rendered = state
                .domain
                .avatars
                .render_initials(
                    &name,
                    all_initials,
                    params.get("size").map(String::as_str),
                    params.get("format").map(String::as_str),
                )
                .await?;
            let mut response = Body::from(rendered.body).into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(rendered.content_type),
            );
            h.insert(
                header::LAST_MODIFIED,
                HeaderValue::from_static(INITIALS_LAST_MODIFIED),
            );
            response
        }
    };
    cache_headers(state, params, response.headers_mut());
    Ok(response)
}

/// R6.2: `?cacheTime=` verbatim when given, else `Accounts_AvatarCacheTime`.
fn cache_headers(state: &AppState, params: &Params, headers: &mut HeaderMap) {
    let from_setting = || {
        format!(
            "public, max-age={}",
            state.domain.settings.int(settings::AVATAR_CACHE_TIME)
        )
    };
    let cache_control = params
        .get("cacheTime")
        .filter(|raw| !raw.is_empty())
        .and_then(|raw| HeaderValue::from_str(&format!("public, max-age={raw}")).ok())
        .unwrap_or_else(|| header_value(&from_setting()));
    headers.insert(header::CACHE_CONTROL, cache_control);
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// R6.3: `rc_uid` + `rc_token` from the query, or else from cookies.
async fn authenticated(state: &AppState, params: &Params, headers: &HeaderMap) -> bool {
    let cookies = cookies(headers);
    let (uid, token) = match params.get("rc_uid") {
        Some(uid) => (
            Some(uid.as_str()),
            params.get("rc_token").map(String::as_str),
        ),
        None => (
            cookies.get("rc_uid").map(String::as_str),
            cookies.get("rc_token").map(String::as_str),
        ),
    };
    match (uid, token) {
        (Some(uid), Some(token)) => state.domain.accounts.authenticate(uid, token).await.is_ok(),
        _ => false,
    }
}

fn cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The answer to a blocked request: the initials of the raw first path segment (query included, not
/// decoded), 200 and no cache headers, so the response reveals nothing about the user.
fn blocked(path_and_query: &str) -> Response {
    let rest = path_and_query.strip_prefix("/avatar/").unwrap_or_default();
    let segment = rest.split('/').next().unwrap_or_default();
    let segment = if segment.is_empty() {
        "Anonymous"
    } else {
        segment
    };
    let svg = initials::svg(segment, initials::view_size(None), false);
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}
