//! Probes and the served contract: `/healthz`, `/readyz`, `/openapi.yaml`.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The OpenAPI document, compiled in so the binary serves its own contract.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.yaml", get(openapi))
}

/// Liveness: the process answers. Checks nothing else on purpose.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: keys and JWT keys loaded, not draining.
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    match state.not_ready_reason() {
        None => Ok(Json(json!({ "status": "ready" }))),
        Some(reason) => Err(ApiError::NotReady(reason)),
    }
}

async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/yaml")], OPENAPI_YAML)
}
