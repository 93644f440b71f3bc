//! Prometheus metrics: one process-wide recorder, rendered at `/metrics`.
//!
//! Names: `cfsign_http_requests_total{route,status}`,
//! `cfsign_signatures_total{distribution,kind,policy_type,hash_algorithm,key_pair_id}`,
//! `cfsign_signing_seconds` (histogram), `cfsign_signing_pool_in_flight`,
//! `cfsign_signing_rejected_total`, `cfsign_signing_abandoned_total`,
//! `cfsign_jwt_failures_total{reason}`,
//! `cfsign_jwks_refresh_total{result}`, `cfsign_jwks_last_success_timestamp_seconds`,
//! `cfsign_config_reloads_total{result}`, `cfsign_denials_total{reason}`,
//! `cfsign_signature_cache_total{result}`, `cfsign_token_cache_total{result}`,
//! `cfsign_signing_key_active{distribution,key_pair_id,algorithm}`,
//! `cfsign_connections_open`, `cfsign_connections_closed_total{reason}`,
//! `cfsign_accept_errors_total`, and the standard `process_*` metrics.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Installs the recorder once per process (later calls reuse it) and returns
/// a handle that renders the exposition text. `None` if another recorder was
/// installed first by someone else.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Where the router leaves the route template it matched, for the layers
/// that run before routing (request metrics, the request span) to read on
/// the way out. Requests that never reach a route are labelled `unmatched`.
#[derive(Debug, Clone, Default)]
pub struct RouteSlot(Arc<OnceLock<MatchedPath>>);

/// Middleware counting requests by route template and status. It runs
/// outside routing, so it also counts timeouts, sheds and panics.
pub async fn track_requests(mut request: Request, next: Next) -> Response {
    let slot = RouteSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let route = slot.0.get().map_or("unmatched", |p| p.as_str()).to_owned();
    metrics::counter!("cfsign_http_requests_total", "route" => route, "status" => response.status().as_u16().to_string()).increment(1);
    response
}

/// Route layer: hands the matched route template to [`track_requests`]
/// and to the request's span (`route` field).
pub async fn note_route(request: Request, next: Next) -> Response {
    if let Some(path) = request.extensions().get::<MatchedPath>() {
        tracing::Span::current().record("route", path.as_str());
        if let Some(slot) = request.extensions().get::<RouteSlot>() {
            let _ = slot.0.set(path.clone());
        }
    }
    next.run(request).await
}

/// Records one signature.
pub fn signed(
    distribution: &str,
    kind: &'static str,
    policy_type: &'static str,
    hash: &'static str,
    key_pair_id: &str,
    started: Instant,
) {
    metrics::counter!(
        "cfsign_signatures_total",
        "distribution" => distribution.to_owned(),
        "kind" => kind,
        "policy_type" => policy_type,
        "hash_algorithm" => hash,
        "key_pair_id" => key_pair_id.to_owned()
    )
    .increment(1);
    metrics::histogram!("cfsign_signing_seconds").record(started.elapsed().as_secs_f64());
}

/// Records a refused token.
pub fn jwt_failure(reason: &'static str) {
    metrics::counter!("cfsign_jwt_failures_total", "reason" => reason).increment(1);
}

/// Records a refused signing request.
pub fn denial(reason: &'static str) {
    metrics::counter!("cfsign_denials_total", "reason" => reason).increment(1);
}

/// Records a JWKS refresh.
pub fn jwks_refresh(ok: bool, last_success: i64) {
    metrics::counter!("cfsign_jwks_refresh_total", "result" => if ok { "success" } else { "failure" }).increment(1);
    metrics::gauge!("cfsign_jwks_last_success_timestamp_seconds").set(last_success as f64);
}

/// Records a configuration reload.
pub fn reload(ok: bool) {
    metrics::counter!("cfsign_config_reloads_total", "result" => if ok { "success" } else { "failure" }).increment(1);
}

/// Refreshes process metrics (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, open fds, threads...) before a scrape.
pub fn collect_process() {
    PROCESS
        .get_or_init(|| {
            let collector = metrics_process::Collector::default();
            collector.describe();
            collector
        })
        .collect();
}

/// Publishes the loaded signing keys: `cfsign_signing_key_active{distribution,
/// key_pair_id,algorithm}` is 1 for the key that signs, 0 for the others
/// (kept for verification during a rotation), so a rotation is visible on
/// dashboards. A key removed by a reload keeps its last value until restart.
pub fn signing_key(distribution: &str, key_pair_id: &str, algorithm: String, active: bool) {
    metrics::gauge!(
        "cfsign_signing_key_active",
        "distribution" => distribution.to_owned(),
        "key_pair_id" => key_pair_id.to_owned(),
        "algorithm" => algorithm
    )
    .set(if active { 1.0 } else { 0.0 });
}

/// Updates the signing-pool series: jobs in flight (gauge), jobs refused
/// with 503 and jobs skipped because their caller had gone (counters).
pub fn pool(stats: crate::service::PoolStats) {
    metrics::gauge!("cfsign_signing_pool_in_flight").set(stats.in_flight as f64);
    metrics::counter!("cfsign_signing_rejected_total").absolute(stats.rejected);
    metrics::counter!("cfsign_signing_abandoned_total").absolute(stats.abandoned);
}

/// Counts an open connection (`cfsign_connections_open`) while alive.
#[derive(Debug)]
pub struct ConnectionOpen(());

impl ConnectionOpen {
    /// One more open connection, until dropped.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        metrics::gauge!("cfsign_connections_open").increment(1.0);
        Self(())
    }
}

impl Drop for ConnectionOpen {
    fn drop(&mut self) {
        metrics::gauge!("cfsign_connections_open").decrement(1.0);
    }
}

/// Records a connection closed by a bound: `first_request_timeout` (nothing
/// asked within `header_read_timeout`) or `idle` (`idle_timeout`).
pub fn connection_closed(reason: &'static str) {
    metrics::counter!("cfsign_connections_closed_total", "reason" => reason).increment(1);
}

/// Records a failed `accept` (out of file descriptors, ...).
pub fn accept_error() {
    metrics::counter!("cfsign_accept_errors_total").increment(1);
}
