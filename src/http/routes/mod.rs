//! Route modules; each owns its `router()`. Handlers extract, call the
//! service, answer; the two helpers below are what the signing routes share.

pub mod cookies;
pub mod grants;
pub mod meta;
pub mod urls;
pub mod verify;

use std::net::IpAddr;

use crate::auth::Caller;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::service::{Context, Kind};

/// The route templates, one constant each: the modules route them, and
/// [`RouteNames`] names a request's route by them before routing.
pub const SIGNED_URLS: &str = "/v1/signed-urls";
/// Batches of signed URLs.
pub const SIGNED_URLS_BATCH: &str = "/v1/signed-urls/batch";
/// Signed cookies.
pub const SIGNED_COOKIES: &str = "/v1/signed-cookies";
/// Verification of a signed URL or cookies.
pub const VERIFY: &str = "/v1/verify";
/// The caller's grants.
pub const GRANTS_ME: &str = "/v1/grants/me";
/// Liveness.
pub const HEALTHZ: &str = "/healthz";
/// Readiness.
pub const READYZ: &str = "/readyz";
/// The OpenAPI document.
pub const OPENAPI: &str = "/openapi.yaml";
/// Prometheus exposition (on the main listener only with `public_metrics`).
pub const METRICS: &str = "/metrics";

/// Names a request's route (its template) from its path, before routing:
/// for the request span, the access line and the request metrics.
///
/// No route has a path parameter, so a path is routed exactly when it
/// equals a template; `tests::every_template_is_the_route_axum_matches`
/// holds this to the router. Reading it up front replaced a middleware
/// inside the router that recorded axum's `MatchedPath` into the span
/// (with JSON logs, re-serialising the span's fields) on every request.
#[derive(Debug, Clone, Copy)]
pub struct RouteNames {
    public_metrics: bool,
}

impl RouteNames {
    /// The main listener's routes; `/metrics` among them with `public_metrics`.
    pub fn new(public_metrics: bool) -> Self {
        Self { public_metrics }
    }

    /// Every template the main listener routes.
    pub fn templates(self) -> impl Iterator<Item = &'static str> {
        let always = [
            SIGNED_URLS,
            SIGNED_URLS_BATCH,
            SIGNED_COOKIES,
            VERIFY,
            GRANTS_ME,
            HEALTHZ,
            READYZ,
            OPENAPI,
        ];
        always.into_iter().chain(self.public_metrics.then_some(METRICS))
    }

    /// The template `path` is routed by, or `unmatched`.
    pub fn of(self, path: &str) -> &'static str {
        self.templates().find(|t| *t == path).unwrap_or("unmatched")
    }
}

/// The issuance context of one request.
fn asked<'a>(caller: &'a Caller, request_id: &'a str, client_ip: Option<IpAddr>) -> Context<'a> {
    Context {
        caller,
        request_id,
        client_ip,
    }
}

/// A body that could not be read as a request is a refusal too: recorded
/// (audit event, metric) like every other, then answered (503 instead when
/// the audit trail cannot record it).
async fn rejected(state: &AppState, ctx: &Context<'_>, kind: Kind, error: ApiError) -> ApiError {
    match state
        .signing
        .rejected(ctx, kind, error.code(), &error.to_string())
        .await
    {
        Ok(()) => error,
        Err(unrecorded) => unrecorded.into(),
    }
}

/// The request body, or its refusal, recorded.
async fn body<T>(
    state: &AppState,
    ctx: &Context<'_>,
    kind: Kind,
    body: Result<crate::http::extract::ApiJson<T>, ApiError>,
) -> Result<T, ApiError> {
    match body {
        Ok(crate::http::extract::ApiJson(value)) => Ok(value),
        Err(e) => Err(rejected(state, ctx, kind, e).await),
    }
}
