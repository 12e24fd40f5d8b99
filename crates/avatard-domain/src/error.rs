//! The domain's error: Rocket.Chat's "Meteor error" (a code, a reason, optional details) and the few
//! outcomes Rocket.Chat's API framework treats specially.
//!
//! Rocket.Chat's handlers throw Meteor errors and its framework turns them into responses (spec R1.4–R1.6).
//! Keeping that vocabulary here lets every rule of the spec be written where the rule lives, while the
//! HTTP layer owns the single mapping from these variants to status codes and envelopes.

use serde_json::Value;

/// Everything a domain operation can fail with.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// A request-level failure; Rocket.Chat answers 400 `{success:false, error, errorType?, details?}`.
    #[error("{message}")]
    Failure {
        message: String,
        error_type: Option<String>,
        details: Option<Value>,
    },
    /// 400 with nothing but `{"success":false}`: Rocket.Chat's answer for an unknown setting (R8.6).
    #[error("request rejected")]
    Rejected,
    /// The caller may not do this; Rocket.Chat answers 403 `{success:false, error}`.
    #[error("{0}")]
    Forbidden(String),
    /// The caller is not (or could not be) authenticated; 401 with the `status`/`message` twins.
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many failed logins for a user or from an address: 401 with the code as `error` and the
    /// reason as `message`, as Rocket.Chat's login route answers a thrown Meteor error.
    #[error("{reason}")]
    LoginBlocked {
        code: &'static str,
        reason: &'static str,
    },
    /// A storage engine does not answer for now; worth retrying later (503).
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A storage engine or other internal failure. Never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The message Rocket.Chat sends when a route needs a logged-in user (R2.3).
pub const NOT_LOGGED_IN: &str = "You must be logged in to do this.";

impl Error {
    /// A thrown Meteor error: its message is `"<reason> [<code>]"` (or `"[<code>]"`), and the codes
    /// `error-unauthorized`/`unauthorized` become 403 with only the message (R1.5).
    pub fn meteor(code: &str, reason: Option<&str>, details: Option<Value>) -> Self {
        let message = match reason {
            Some(reason) => format!("{reason} [{code}]"),
            None => format!("[{code}]"),
        };
        if code == "error-unauthorized" || code == "unauthorized" {
            return Error::Forbidden(message);
        }
        Error::Failure {
            message,
            error_type: Some(code.to_owned()),
            details,
        }
    }

    /// `API.v1.failure(message, errorType)`: the message is used verbatim.
    pub fn failure(message: impl Into<String>, error_type: Option<&str>) -> Self {
        Error::Failure {
            message: message.into(),
            error_type: error_type.map(str::to_owned),
            details: None,
        }
    }

    /// A thrown plain string or JS `Error`: 400 with only the message.
    pub fn plain(message: impl Into<String>) -> Self {
        Error::failure(message, None)
    }

    /// `API.v1.forbidden()` before Rocket.Chat 8.0: 403 `{"success":false,"error":"unauthorized"}`.
    pub fn forbidden() -> Self {
        Error::Forbidden("unauthorized".to_owned())
    }

    /// R1.8: a route's `permissionsRequired` is not met.
    pub fn missing_permission() -> Self {
        Error::meteor(
            "error-unauthorized",
            Some("User does not have the permissions required for this action"),
            None,
        )
    }

    pub fn not_logged_in() -> Self {
        Error::Unauthenticated(NOT_LOGGED_IN.to_owned())
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Error::Internal(err.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(reason) => Error::Unavailable(reason),
            other => Error::Internal(other.to_string()),
        }
    }
}

/// A failure of a metadata or blob store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated; the field names what collided (`username`, `email`, `id`).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The record the operation needs (e.g. the user an avatar is committed for) does not exist.
    #[error("not found")]
    NotFound,
    /// The engine could not be reached or gave up for a reason that may pass (connection lost,
    /// timeout, serialization conflict); worth retrying.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage failure: {0}")]
    Backend(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
