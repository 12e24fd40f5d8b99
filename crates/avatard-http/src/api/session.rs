//! `login`, `logout` and `me` (R8.1).

use avatard_domain::Error;
use avatard_domain::accounts::{Credentials, Identity, Password};
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::client::ClientIp;
use crate::envelope::{ApiError, Success};
use crate::params::BodyParams;
use crate::present;

/// A field that must be a non-empty string to count.
fn text(params: &Value, key: &str) -> Option<String> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Meteor clients send either the password or `{digest, algorithm: "sha-256"}`.
fn password(params: &Value) -> Option<Password> {
    match params.get("password")? {
        Value::String(plain) if !plain.is_empty() => Some(Password::Plain(plain.clone())),
        Value::Object(hashed)
            if hashed.get("algorithm").and_then(Value::as_str) == Some("sha-256") =>
        {
            hashed
                .get("digest")
                .and_then(Value::as_str)
                .map(|d| Password::Sha256Digest(d.to_owned()))
        }
        _ => None,
    }
}

fn credentials(params: &Value) -> Option<Credentials> {
    if let Some(token) = text(params, "resume") {
        return Some(Credentials::Resume(token));
    }
    let identity = if let Some(user) = text(params, "user") {
        if user.contains('@') {
            Identity::Email(user)
        } else {
            Identity::Username(user)
        }
    } else if let Some(username) = text(params, "username") {
        Identity::Username(username)
    } else {
        Identity::Email(text(params, "email")?)
    };
    Some(Credentials::Password {
        identity,
        password: password(params)?,
    })
}

pub async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    BodyParams(params): BodyParams,
) -> Result<Success, ApiError> {
    let credentials =
        credentials(&params).ok_or_else(|| Error::Unauthenticated("Unauthorized".to_owned()))?;
    // Without a socket there is no address to block; only the user count applies then.
    let client = client.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    let name = credentials.login_name().map(str::to_owned);
    let session = state
        .domain
        .throttle
        .guard_login(
            name.as_deref(),
            client,
            state.domain.accounts.login(credentials),
        )
        .await?;
    Ok(Success::with(json!({
        "status": "success",
        "data": {
            "userId": session.user.user.id,
            "authToken": session.token,
            "me": present::me(&session.user, &state.public_url),
        }
    })))
}

pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Success, ApiError> {
    state
        .domain
        .accounts
        .logout(&caller.record.user, &caller.token)
        .await?;
    Ok(Success::with(json!({
        "status": "success",
        "data": {"message": "You've been logged out!"}
    })))
}

pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Success, ApiError> {
    Ok(Success::with(present::me(
        &caller.record,
        &state.public_url,
    )))
}
