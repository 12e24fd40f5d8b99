//! Authentication as extractors: a handler that needs a user takes [`Caller`] and cannot forget the
//! check; Rocket.Chat's 401 body (R2.3) is produced here and nowhere else.

use avatard_domain::Error;
use avatard_domain::model::UserRecord;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::AppState;
use crate::envelope::ApiError;

/// The authenticated user of a request (headers `X-User-Id` + `X-Auth-Token`, R2.1).
#[derive(Clone)]
pub struct Caller {
    pub record: UserRecord,
    pub token: String,
}

/// The credentials a request carries, if both headers are present.
fn credentials(headers: &HeaderMap) -> Option<(&str, &str)> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    Some((header("x-user-id")?, header("x-auth-token")?))
}

impl Caller {
    async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<Caller, Error> {
        let (user_id, token) = credentials(headers).ok_or_else(Error::not_logged_in)?;
        let record = state.domain.accounts.authenticate(user_id, token).await?;
        Ok(Caller {
            record,
            token: token.to_owned(),
        })
    }

    /// The caller, for middleware that wants to know before the handler runs (the rate limiter);
    /// any failure is "nobody" here, and the handler's own extraction reports it.
    pub async fn resolve(headers: &HeaderMap, state: &AppState) -> Option<Caller> {
        Caller::authenticate(headers, state).await.ok()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Resolved already by the rate limiter (one lookup per request, not two).
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        Ok(Caller::authenticate(&parts.headers, state).await?)
    }
}

/// For routes that behave differently for logged-in callers but do not require it: valid
/// credentials give `Some`, absent or invalid ones `None`.
pub struct OptionalCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for OptionalCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, state).await {
            Ok(caller) => Ok(OptionalCaller(Some(caller))),
            Err(ApiError(Error::Unauthenticated(_))) => Ok(OptionalCaller(None)),
            Err(other) => Err(other),
        }
    }
}
