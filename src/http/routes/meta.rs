//! Probes, metrics and the served contract: `/healthz`, `/readyz`,
//! `/metrics`, `/openapi.yaml`.

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

/// Routes of this module (`/metrics` too unless it has its own listener).
pub fn router(with_metrics: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.yaml", get(openapi));
    if with_metrics {
        router.merge(metrics_router())
    } else {
        router
    }
}

/// `/metrics` alone, for a separate listener.
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Prometheus text exposition. Unauthenticated: expose it only to the
/// scraper (separate `metrics_listen`, network policy).
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    crate::metrics::pool(state.pool.stats());
    crate::metrics::collect_process();
    for d in state.snapshot.load().distributions.values() {
        for (id, key) in &d.public_keys {
            crate::metrics::signing_key(&d.name, id.as_str(), key.algorithm().to_string(), *id == d.active.id);
        }
    }
    let body = crate::metrics::handle().map(|h| h.render()).unwrap_or_default();
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body)
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
