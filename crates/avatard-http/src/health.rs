//! `GET /health` (liveness) and `GET /ready` (readiness) for load balancers and orchestrators.
//!
//! Both report whether the database and the avatar storage answer. `/health` stays 200 while the
//! process serves, so an orchestrator does not restart replicas because a shared dependency blips;
//! `/ready` is 503 until both answer, so a load balancer sends traffic elsewhere meanwhile.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

/// A dependency that does not answer within this is reported unreachable.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

async fn report(state: &AppState) -> (bool, Value) {
    let describe = |result: Result<(), String>| match result {
        Ok(()) => json!("ok"),
        Err(err) => json!(format!("unreachable: {err}")),
    };
    match tokio::time::timeout(CHECK_TIMEOUT, state.domain.readiness()).await {
        Ok(readiness) => (
            readiness.is_ready(),
            json!({
                "database": describe(readiness.database.map_err(|e| e.to_string())),
                "storage": describe(readiness.storage.map_err(|e| e.to_string())),
            }),
        ),
        Err(_) => (
            false,
            json!({"database": "unreachable: timed out", "storage": "unreachable: timed out"}),
        ),
    }
}

pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let (ready, mut body) = report(&state).await;
    body["status"] = json!(if ready { "ok" } else { "degraded" });
    Json(body)
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (ready, mut body) = report(&state).await;
    body["status"] = json!(if ready { "ready" } else { "unavailable" });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
