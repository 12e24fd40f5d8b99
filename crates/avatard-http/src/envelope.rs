//! Rocket.Chat's response envelope, in one place: `{"success": true, ...}` for results, and the
//! failure shapes of R1.4–R1.6 and R2.3 for errors. Handlers return `Result<Success, ApiError>` and
//! never build an error body themselves.

use avatard_domain::Error;
use avatard_domain::throttle::TOO_MANY_REQUESTS;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A successful API result: the handler's fields plus `"success": true` (R1.3).
pub struct Success(pub Map<String, Value>);

impl Success {
    /// `{"success": true}` and nothing else.
    pub fn empty() -> Self {
        Success(Map::new())
    }

    /// The fields of `value` (an object) plus `success`.
    pub fn with(value: Value) -> Self {
        match value {
            Value::Object(fields) => Success(fields),
            other => {
                let mut fields = Map::new();
                fields.insert("result".into(), other);
                Success(fields)
            }
        }
    }
}

impl IntoResponse for Success {
    fn into_response(self) -> Response {
        let mut fields = self.0;
        fields.insert("success".into(), Value::Bool(true));
        Json(Value::Object(fields)).into_response()
    }
}

/// A failed API call; converts from the domain's error so handlers can use `?`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

impl ApiError {
    /// R1.6 `notFound()`.
    pub fn not_found() -> Response {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"success": false, "error": "Resource not found"})),
        )
            .into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self.0 {
            Error::Failure {
                message,
                error_type,
                details,
            } => {
                // R1.5: the one code with a status of its own.
                let status = if error_type.as_deref() == Some(TOO_MANY_REQUESTS) {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::BAD_REQUEST
                };
                let mut body = Map::new();
                body.insert("success".into(), false.into());
                body.insert("error".into(), message.into());
                if let Some(error_type) = error_type {
                    body.insert("errorType".into(), error_type.into());
                }
                if let Some(details) = details {
                    body.insert("details".into(), details);
                }
                (status, Value::Object(body))
            }
            Error::Rejected => (StatusCode::BAD_REQUEST, json!({"success": false})),
            Error::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                json!({"success": false, "error": message}),
            ),
            Error::Unauthenticated(message) => (
                StatusCode::UNAUTHORIZED,
                json!({"success": false, "error": message, "status": "error", "message": message}),
            ),
            Error::LoginBlocked { code, reason } => (
                StatusCode::UNAUTHORIZED,
                json!({"success": false, "status": "error", "error": code, "message": reason}),
            ),
            Error::Unavailable(detail) => {
                tracing::warn!(%detail, "storage unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"success": false, "error": "Service temporarily unavailable"}),
                )
            }
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"success": false, "error": "Internal server error"}),
                )
            }
        };
        (status, Json(body)).into_response()
    }
}
