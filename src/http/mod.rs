//! The HTTP transport: the router with its layers, and `serve`.
//!
//! Layers, outermost first: request id, sensitive headers, the request's
//! name in its log lines and its access line ([`front`]), CORS ([`cors`]),
//! request metrics and problem bodies ([`envelope`]), panic → 500, 408 and
//! 503 for what the next two refuse ([`refusals`]), timeout, load shedding
//! over a concurrency limit, body size limit; then routing.

pub mod cors;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod front;
pub mod refusals;
pub mod request_id;
pub mod routes;
pub mod serve;
pub mod state;

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::response::Response;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;

pub use error::{ApiError, Problem};
pub use serve::{ConnectionLimits, serve};
pub use state::AppState;

use routes::RouteNames;

use crate::config::{CorsConfig, ServerConfig};

/// Limits and CORS for the router.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// Listener limits.
    pub server: ServerConfig,
    /// Browser origins.
    pub cors: CorsConfig,
}

/// The complete application as served ([`serve`]): every route, every layer.
///
/// The layers wrap the router as a whole rather than each route
/// (`Router::layer`), so a request clones one unboxed stack instead of one
/// boxed service per layer per route: a measurable share of a cache hit.
/// The route a request is for is named before routing ([`RouteNames`]).
pub fn service(
    state: AppState,
    options: &HttpOptions,
) -> impl Service<Request<Body>, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    let _ = crate::metrics::handle();
    let names = RouteNames::new(options.server.public_metrics);
    ServiceBuilder::new()
        .layer(front::FrontLayer::new(names, options.server.access_log))
        // Outside the timeout, panic and problem layers, so that every answer
        // (a 408, a 500) carries the CORS headers and a browser can read it.
        .layer(cors::OriginCorsLayer::new(&options.cors))
        .layer(envelope::EnvelopeLayer::new(names))
        .layer(CatchPanicLayer::new())
        .layer(refusals::RefusalsLayer)
        // tower's timeout, not tower-http's: it polls the request before its
        // timer, so an answer ready at once (`/healthz`, `/readyz`, a shed 503;
        // not what waits for the audit trail) never puts a timer in the
        // runtime's wheel (tower-http's polls the timer first, arming it for
        // every request: README, Performance).
        .timeout(options.server.request_timeout)
        .load_shed()
        .concurrency_limit(options.server.max_concurrent_requests.max(1))
        .layer(DefaultBodyLimit::max(options.server.body_limit_bytes))
        .service(routes(state, options))
}

/// [`service`] as a [`Router`], for driving it in process
/// (`tower::ServiceExt::oneshot` in tests); `serve` takes the service itself
/// and skips this router's own routing and boxing.
pub fn router(state: AppState, options: &HttpOptions) -> Router {
    Router::new().fallback_service(service(state, options))
}

/// Every route, and what is answered where none matches.
fn routes(state: AppState, options: &HttpOptions) -> Router {
    Router::new()
        .merge(routes::urls::router(options.server.batch_body_limit_bytes))
        .merge(routes::cookies::router())
        .merge(routes::verify::router())
        .merge(routes::grants::router())
        .merge(routes::meta::router(options.server.public_metrics))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}
