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

/// Routes of this module; `/metrics` only when `with_metrics`
/// (`server.public_metrics`): it is otherwise served on `server.metrics_listen` alone.
pub fn router(with_metrics: bool) -> Router<AppState> {
    let router = Router::new()
        .route(super::HEALTHZ, get(healthz))
        .route(super::READYZ, get(readyz))
        .route(super::OPENAPI, get(openapi));
    if with_metrics {
        router.route(super::METRICS, get(metrics))
    } else {
        router
    }
}

/// `/metrics` alone, for the separate `server.metrics_listen` listener.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(super::METRICS, get(metrics))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

/// Prometheus text exposition. Unauthenticated: expose it only to the
/// scraper (`metrics_listen` on a port the network keeps private).
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    crate::metrics::pool(state.signing.pool().stats());
    crate::metrics::ready(state.not_ready_reason().is_none());
    state.signing.audit().publish();
    crate::metrics::collect_process();
    for d in state.signing.snapshot().load().distributions.values() {
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

/// Readiness: signing keys loaded, at least one issuer's tokens verifiable,
/// the audit sink accepting, not draining. The body names every issuer and
/// whether it has keys.
async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    let issuers = serde_json::to_value(state.issuers()).unwrap_or_default();
    match state.not_ready_reason() {
        None => Json(json!({ "status": "ready", "issuers": issuers })).into_response(),
        Some(reason) => {
            let mut problem = ApiError::NotReady(reason).problem();
            problem.issuers = Some(issuers);
            problem.into_response()
        }
    }
}

async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/yaml")], OPENAPI_YAML)
}
