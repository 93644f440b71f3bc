//! Prometheus metrics: one process-wide recorder, rendered at `/metrics`.
//!
//! Names: `cfsign_http_requests_total{route,status}`,
//! `cfsign_signatures_total{distribution,kind,policy_type,hash_algorithm,key_pair_id}`,
//! `cfsign_signing_seconds` (histogram), `cfsign_signing_pool_in_flight`,
//! `cfsign_signing_rejected_total`, `cfsign_jwt_failures_total{reason}`,
//! `cfsign_jwks_refresh_total{result}`, `cfsign_jwks_last_success_timestamp_seconds`,
//! `cfsign_config_reloads_total{result}`, `cfsign_denials_total{reason}`,
//! `cfsign_signature_cache_total{result}`, `cfsign_token_cache_total{result}`,
//! `cfsign_signing_key_active{distribution,key_pair_id,algorithm}`, and
//! the standard `process_*` metrics.

use std::sync::OnceLock;
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

/// Middleware counting requests by route template and status.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics::counter!("cfsign_http_requests_total", "route" => route, "status" => response.status().as_u16().to_string()).increment(1);
    response
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

/// Updates the signing-pool gauges.
pub fn pool(in_flight: usize, rejected: u64) {
    metrics::gauge!("cfsign_signing_pool_in_flight").set(in_flight as f64);
    metrics::gauge!("cfsign_signing_rejected_total").set(rejected as f64);
}
