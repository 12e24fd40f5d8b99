//! `GET /api/info`: what version-checking clients read before talking to a server.

use axum::Json;
use serde_json::{Value, json};

/// The Rocket.Chat release whose REST contract this server implements.
pub const COMPATIBLE_VERSION: &str = "7.0.0";

pub async fn info() -> Json<Value> {
    Json(json!({"version": COMPATIBLE_VERSION, "success": true}))
}
