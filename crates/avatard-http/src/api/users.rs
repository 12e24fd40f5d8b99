//! `users.*` endpoints other than the avatar writes: register, create, info, delete, createToken,
//! getAvatar and getAvatarSuggestion.

use std::collections::HashMap;

use avatard_domain::accounts::{NewAccount, TargetParams};
use avatard_domain::{Error, settings};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Caller, OptionalCaller};
use crate::envelope::{ApiError, Success};
use crate::params::{BodyParams, Kind, Schema};
use crate::present::{self, Detail};

/// `userId` / `username` / `user` from a query string or body.
pub fn target(params: &HashMap<String, String>) -> TargetParams {
    TargetParams {
        user_id: params.get("userId").cloned(),
        username: params.get("username").cloned(),
        user: params.get("user").cloned(),
    }
}

/// The same from a JSON body, where non-string values count as absent.
pub fn target_from_body(params: &Value) -> TargetParams {
    let field = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
    TargetParams {
        user_id: field("userId"),
        username: field("username"),
        user: field("user"),
    }
}

#[derive(Deserialize)]
struct Registration {
    username: String,
    email: String,
    pass: String,
    name: Option<String>,
}

/// Rocket.Chat's `isUserRegisterParamsPOST`; `secret`, `reason` and `customFields` are accepted
/// for compatibility and have no effect here.
pub(crate) const REGISTRATION: Schema = Schema {
    required: &[
        ("username", Kind::String),
        ("email", Kind::String),
        ("pass", Kind::String),
    ],
    optional: &[
        ("name", Kind::StringOrNull),
        ("secret", Kind::StringOrNull),
        ("reason", Kind::StringOrNull),
        ("customFields", Kind::ObjectOrNull),
    ],
};

pub async fn register(
    State(state): State<AppState>,
    OptionalCaller(caller): OptionalCaller,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    let form: Registration = REGISTRATION.parse(&params)?;
    if caller.is_some() {
        return Err(Error::plain("Logged in users can not register again.").into());
    }
    let name = form.name.unwrap_or_else(|| form.username.clone());
    let account = NewAccount::user(&form.username, &name, Some(&form.email), &form.pass);
    let user = state.domain.accounts.register(account).await?;
    Ok(Success::with(
        json!({"user": present::user(&user, Detail::Full)}),
    ))
}

#[derive(Deserialize)]
struct Creation {
    username: String,
    email: String,
    password: String,
    name: String,
    active: Option<bool>,
    roles: Option<Vec<String>>,
    verified: Option<bool>,
}

/// R8.2: the fields Rocket.Chat accepts; those about features this server does not have (channels,
/// mail, custom fields) are accepted and have no effect.
pub(crate) const CREATION: Schema = Schema {
    required: &[
        ("email", Kind::String),
        ("name", Kind::String),
        ("password", Kind::String),
        ("username", Kind::String),
    ],
    optional: &[
        ("active", Kind::Boolean),
        ("bio", Kind::String),
        ("nickname", Kind::String),
        ("statusText", Kind::String),
        ("roles", Kind::StringArray),
        ("joinDefaultChannels", Kind::Boolean),
        ("requirePasswordChange", Kind::Boolean),
        ("setRandomPassword", Kind::Boolean),
        ("sendWelcomeEmail", Kind::Boolean),
        ("verified", Kind::Boolean),
        ("customFields", Kind::Object),
        ("fields", Kind::String),
    ],
};

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    state.domain.authorization.require(
        &caller.record.user,
        avatard_domain::authorization::CREATE_USER,
    )?;
    let form: Creation = CREATION.parse(&params)?;
    let mut account = NewAccount::user(
        &form.username,
        &form.name,
        Some(&form.email),
        &form.password,
    );
    if let Some(roles) = form.roles {
        account.roles = roles;
    }
    account.active = form.active.unwrap_or(true);
    account.verified = form.verified.unwrap_or(false);
    let user = state
        .domain
        .accounts
        .create(&caller.record.user, account)
        .await?;
    Ok(Success::with(
        json!({"user": present::user(&user, Detail::Full)}),
    ))
}

pub async fn info(
    State(state): State<AppState>,
    OptionalCaller(caller): OptionalCaller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Success, ApiError> {
    let anonymous_read = state.domain.settings.bool(settings::ALLOW_ANONYMOUS_READ);
    let (user, full) = match &caller {
        Some(caller) => {
            state
                .domain
                .accounts
                .info(Some(&caller.record.user), &target(&query))
                .await?
        }
        None if anonymous_read => state.domain.accounts.info(None, &target(&query)).await?,
        None => return Err(Error::not_logged_in().into()),
    };
    let detail = if full { Detail::Full } else { Detail::Public };
    Ok(Success::with(json!({"user": present::user(&user, detail)})))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    state
        .domain
        .accounts
        .delete(&caller.record.user, &target_from_body(&params))
        .await?;
    Ok(Success::empty())
}

pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    let (user_id, token) = state
        .domain
        .accounts
        .create_token(&caller.record.user, &target_from_body(&params))
        .await?;
    Ok(Success::with(
        json!({"data": {"userId": user_id, "authToken": token}}),
    ))
}

/// R5.1: 307 to the avatar URL, whose JSON-string form is also the body.
pub async fn get_avatar(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let user = state
        .domain
        .accounts
        .user_from_params(&target(&query))
        .await?;
    let url = format!("{}/avatar/{}", state.public_url, user.user.username);
    Ok((
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, url.clone())],
        Json(Value::String(url)),
    )
        .into_response())
}

/// R5.2: only Gravatar, and only when the operator enabled it.
pub async fn get_avatar_suggestion(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Success, ApiError> {
    let suggestions = state.domain.avatars.suggestions(&caller.record.user).await;
    Ok(Success::with(json!({"suggestions": suggestions})))
}
