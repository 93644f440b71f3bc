//! The HTTP transport: the router with its layers, and `serve`.
//!
//! Layers, outermost first: request id (set, then propagated), tracing span
//! per request (Authorization marked sensitive), CORS ([`cors`]), request metrics and
//! problem bodies ([`envelope`]), panic → 500, timeout, load shedding over a
//! concurrency limit, body size limit; then routing.

pub mod cors;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod request_id;
pub mod routes;
pub mod serve;
pub mod state;

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::ServerErrorsFailureClass;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

pub use error::{ApiError, Problem};
pub use serve::{ConnectionLimits, serve};
pub use state::AppState;

use routes::RouteNames;

use crate::config::{CorsConfig, ServerConfig};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
        // The trace layer's body type, as one body type.
        .map_response(|response: axum::http::Response<_>| response.map(Body::new))
        .map_request(drop_malformed_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |request: &Request<_>| span(request, names))
                .on_response(AccessLog(options.server.access_log))
                .on_failure(log_failure),
        )
        // Outside the timeout, panic and problem layers, so that every answer
        // (a 408, a 500) carries the CORS headers and a browser can read it.
        .layer(cors::OriginCorsLayer::new(&options.cors))
        .layer(envelope::EnvelopeLayer::new(names))
        .layer(CatchPanicLayer::new())
        .layer(HandleErrorLayer::new(refusal))
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

/// The answer to what the layers under it refuse with an error: a request
/// past `request_timeout` gets 408 (its problem body is the envelope's), one
/// shed because `max_concurrent_requests` are in flight 503.
async fn refusal(error: BoxError) -> Response {
    if error.is::<tower::timeout::error::Elapsed>() {
        StatusCode::REQUEST_TIMEOUT.into_response()
    } else {
        ApiError::Overloaded.into_response()
    }
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

/// One span per request. Its `route` is the route template (never the raw
/// URI, whose query could hold a signed URL under verification).
fn span<B>(request: &Request<B>, names: RouteNames) -> tracing::Span {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = request.method().as_str(),
        route = names.of(request.uri().path()),
        request_id = id
    )
}

/// One INFO line per answered request, target `cfsign::access`: status and
/// latency in milliseconds (a number); method, route template and request
/// id come from the request's span. Never the query or a header value.
/// `server.access_log = false` (or `RUST_LOG=info,cfsign::access=off`)
/// switches it off.
#[derive(Debug, Clone, Copy)]
struct AccessLog(bool);

impl<B> tower_http::trace::OnResponse<B> for AccessLog {
    fn on_response(self, response: &axum::http::Response<B>, latency: Duration, _: &tracing::Span) {
        if self.0 {
            tracing::info!(
                target: "cfsign::access",
                status = response.status().as_u16(),
                latency_ms = latency.as_secs_f64() * 1000.0,
                "request"
            );
        }
    }
}

/// Logs a failed response at ERROR, except 503: load shedding and "not
/// ready" are expected answers, counted in metrics
/// (`cfsign_signing_rejected_total`, `cfsign_http_requests_total`). One
/// ERROR line per refusal would flood the log, and cost CPU, exactly when
/// the service is overloaded; they stay visible at DEBUG.
fn log_failure(class: ServerErrorsFailureClass, latency: Duration, _: &tracing::Span) {
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    match class {
        ServerErrorsFailureClass::StatusCode(StatusCode::SERVICE_UNAVAILABLE) => {
            tracing::debug!(classification = %class, latency_ms, "response failed");
        }
        class => tracing::error!(classification = %class, latency_ms, "response failed"),
    }
}

/// Fresh request ids: random UUIDs (v4) from the thread's CSPRNG rather than
/// one `getrandom` system call per request, as `MakeRequestUuid` does.
#[derive(Debug, Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
            .ok()
            .map(RequestId::new)
    }
}

/// Accepts a caller's `x-request-id` only if it is short and plain; otherwise
/// drops it so a fresh one is generated (no log injection through it).
fn drop_malformed_request_id<B>(mut request: Request<B>) -> Request<B> {
    // `get_all`, not `get`: of several ids the layer would take the first,
    // so a bad one anywhere drops them all.
    let malformed = request.headers().get_all(REQUEST_ID).iter().any(|v| {
        let b = v.as_bytes();
        !(1..=128).contains(&b.len()) || !b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    });
    if malformed {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}
