//! Request parameters the way Rocket.Chat's router sees them (R1.9) and its schema validation (R1.7).
//!
//! A JSON body is parsed (invalid JSON counts as `{}`); a multipart body contributes no parameters
//! (Rocket.Chat spreads a FormData object into `{}`), so its fields are only seen by the upload
//! parser; any other body is text. Validation reproduces ajv's first error message, because clients
//! and tests compare `must NOT have additional properties [invalid-params]` verbatim.

use avatard_domain::Error;
use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::AppState;
use crate::envelope::ApiError;

/// The largest non-multipart body accepted: API parameters are small.
const PARAMS_LIMIT: usize = 1024 * 1024;

/// A request's body parameters (`this.bodyParams`).
pub struct BodyParams(pub Value);

impl FromRequest<AppState> for BodyParams {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        Ok(BodyParams(read_params(&parts.headers, body).await?))
    }
}

pub fn is_multipart(headers: &HeaderMap) -> bool {
    content_type(headers)
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"))
}

pub fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// Read the body as parameters (not for multipart bodies, whose parameters are `{}`).
pub async fn read_params(headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    if is_multipart(headers) {
        return Ok(Value::Object(Map::new()));
    }
    let bytes = axum::body::to_bytes(body, PARAMS_LIMIT)
        .await
        .map_err(|_| Error::plain("Request body too large"))?;
    let is_json = content_type(headers).is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    Ok(if is_json {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::Object(Map::new()))
    } else if bytes.is_empty() {
        Value::Object(Map::new())
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    })
}

/// The JSON types a schema property may have.
#[derive(Clone, Copy)]
pub enum Kind {
    String,
    StringOrNull,
    Boolean,
    Integer,
    StringArray,
    Object,
    ObjectOrNull,
}

impl Kind {
    fn accepts(self, value: &Value) -> bool {
        match self {
            Kind::String => value.is_string(),
            Kind::StringOrNull => value.is_string() || value.is_null(),
            Kind::Boolean => value.is_boolean(),
            Kind::Integer => value.is_i64(),
            Kind::StringArray => value
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string)),
            Kind::Object => value.is_object(),
            Kind::ObjectOrNull => value.is_object() || value.is_null(),
        }
    }

    fn message(self, value: &Value) -> &'static str {
        match self {
            Kind::String => "must be string",
            Kind::StringOrNull => "must be string,null",
            Kind::Boolean => "must be boolean",
            Kind::Integer => "must be integer",
            Kind::StringArray if !value.is_array() => "must be array",
            Kind::StringArray => "must be string",
            Kind::Object => "must be object",
            Kind::ObjectOrNull => "must be object,null",
        }
    }
}

/// An object schema with `additionalProperties: false`.
pub struct Schema {
    pub required: &'static [(&'static str, Kind)],
    pub optional: &'static [(&'static str, Kind)],
}

impl Schema {
    /// Validate like ajv (first error, keyword order: type, required, additionalProperties, properties)
    /// and deserialize into `T`.
    pub fn parse<T: DeserializeOwned>(&self, params: &Value) -> Result<T, ApiError> {
        let invalid =
            |message: &str| ApiError(Error::meteor("invalid-params", Some(message), None));
        let Some(object) = params.as_object() else {
            return Err(invalid("must be object"));
        };
        if let Some((name, _)) = self
            .required
            .iter()
            .find(|(name, _)| !object.contains_key(*name))
        {
            return Err(invalid(&format!("must have required property '{name}'")));
        }
        let known = |key: &str| {
            self.required
                .iter()
                .chain(self.optional)
                .find(|(name, _)| *name == key)
        };
        if object.keys().any(|key| known(key).is_none()) {
            return Err(invalid("must NOT have additional properties"));
        }
        for (key, value) in object {
            if let Some((_, kind)) = known(key)
                && !kind.accepts(value)
            {
                return Err(invalid(kind.message(value)));
            }
        }
        serde_json::from_value(params.clone()).map_err(|e| invalid(&e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Target {
        #[serde(rename = "userId")]
        _user_id: Option<String>,
    }

    const SCHEMA: Schema = Schema {
        required: &[],
        optional: &[("userId", Kind::StringOrNull)],
    };

    fn message(params: Value) -> String {
        match SCHEMA.parse::<Target>(&params) {
            Err(ApiError(Error::Failure { message, .. })) => message,
            _ => "accepted".into(),
        }
    }

    #[test]
    fn reproduces_ajv_messages() {
        assert_eq!(message(json!({"userId": "x"})), "accepted");
        assert_eq!(message(json!({"userId": null})), "accepted");
        assert_eq!(
            message(json!({"x": 1})),
            "must NOT have additional properties [invalid-params]"
        );
        assert_eq!(
            message(json!({"userId": 1})),
            "must be string,null [invalid-params]"
        );
        assert_eq!(message(json!("text")), "must be object [invalid-params]");
    }
}
