//! Probes, metrics and the served contract: `/healthz`, `/readyz`,
//! `/metrics`, `/openapi.yaml`.

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
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
        .layer(axum::middleware::map_response(problem_without_id))
        .with_state(state)
}

/// Error answers of the metrics listener as problem documents (it has no
/// request ids).
async fn problem_without_id(response: axum::response::Response) -> axum::response::Response {
    crate::http::error::problem_body(response, None)
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

/// Liveness: the process answers. Checks nothing else on purpose, and
/// builds nothing: the answer is a constant.
async fn healthz() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#)
}

/// Readiness: signing keys loaded, at least one issuer's tokens verifiable,
/// the audit sink accepting, not draining. The body names every issuer and
/// whether it has keys.
async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    let issuers = serde_json::to_value(state.issuers()).unwrap_or_default();
    match state.not_ready_reason() {
        None => ApiJson(json!({ "status": "ready", "issuers": issuers })).into_response(),
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
