//! Prometheus metrics: one process-wide recorder, rendered at `/metrics`.
//!
//! Every `cfsign_*` family is declared once, with its type and HELP text, in
//! [`families::FAMILIES`] (the README's metrics table is checked against
//! it). Installing the recorder describes them all and creates at zero the
//! series whose label sets are known, so a rate or an alert has a series
//! from the first scrape rather than from the first event. Besides these,
//! the standard `process_*` metrics of `metrics-process`.

pub mod families;

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Instant;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// Buckets of `cfsign_signing_duration_seconds`: one signature, 0.5 ms
/// (ECDSA, RSA on a fast core) to 1 s (a queue that is not keeping up).
const SIGNING_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Buckets of `cfsign_http_request_duration_seconds`: a cache hit or a
/// probe (well under 1 ms) to `request_timeout` (10 s by default; a timed
/// out request lands in the last finite bucket or `+Inf`).
const HTTP_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of `cfsign_audit_write_seconds`: one group written to a pipe or
/// the page cache (tens of µs) to an fsync on a slow disk, or a stalled
/// consumer (seconds).
const AUDIT_BUCKETS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0,
];

/// Buckets of `cfsign_key_operation_seconds`: a local token (hundreds of
/// µs) to a KMS call across a region (tens of ms) and the 2 s default timeout.
const KEY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Installs the recorder once per process (later calls reuse it) and returns
/// a handle that renders the exposition text. `None` if another recorder was
/// installed first by someone else. Installing describes every family and
/// creates the known series at zero ([`families::describe_and_initialise`]).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(families::SIGNING_DURATION.into()), &SIGNING_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(families::HTTP_DURATION.into()), &HTTP_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(families::AUDIT_WRITE_DURATION.into()), &AUDIT_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(families::KEY_OPERATION_DURATION.into()), &KEY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            families::describe_and_initialise();
            Some(handle)
        })
        .as_ref()
}

/// Counts an answered request and its time by route template and status
/// (`cfsign_http_requests_total`, `cfsign_http_request_duration_seconds`);
/// called by `http::envelope` for every answer. Requests to no route are
/// labelled `unmatched`.
pub fn http_request(route: &'static str, status: axum::http::StatusCode, took: std::time::Duration) {
    let (count, duration) = cached(http_series(), &[route, status.as_str()], || {
        let status = status.as_str().to_owned();
        (
            metrics::counter!("cfsign_http_requests_total", "route" => route, "status" => status.clone()),
            metrics::histogram!(families::HTTP_DURATION, "route" => route, "status" => status),
        )
    });
    duration.record(took.as_secs_f64());
    count.increment(1);
}

/// Series registered once per set of label values, looked up by them: the
/// request path then clones a handle instead of building a labelled key
/// (a few allocations and a registry lookup) per request.
type Series<T> = RwLock<HashMap<Box<str>, T>>;

fn http_series() -> &'static Series<(metrics::Counter, metrics::Histogram)> {
    static SERIES: OnceLock<Series<(metrics::Counter, metrics::Histogram)>> = OnceLock::new();
    SERIES.get_or_init(Default::default)
}

fn signature_series() -> &'static Series<metrics::Counter> {
    static SERIES: OnceLock<Series<metrics::Counter>> = OnceLock::new();
    SERIES.get_or_init(Default::default)
}

/// The handle for the label values `parts`, made by `make` the first time.
fn cached<T: Clone>(series: &Series<T>, parts: &[&str], make: impl FnOnce() -> T) -> T {
    thread_local! {
        static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    KEY.with_borrow_mut(|key| {
        key.clear();
        for part in parts {
            key.push_str(part);
            key.push('\u{1f}');
        }
        if let Some(handle) = series.read().unwrap_or_else(|e| e.into_inner()).get(key.as_str()) {
            return handle.clone();
        }
        let handle = make();
        let mut map = series.write().unwrap_or_else(|e| e.into_inner());
        map.insert(key.as_str().into(), handle.clone());
        handle
    })
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
    let parts = [distribution, kind, policy_type, hash, key_pair_id];
    let count = cached(signature_series(), &parts, || {
        metrics::counter!(
            "cfsign_signatures_total",
            "distribution" => distribution.to_owned(),
            "kind" => kind,
            "policy_type" => policy_type,
            "hash_algorithm" => hash,
            "key_pair_id" => key_pair_id.to_owned()
        )
    });
    count.increment(1);
    static DURATION: OnceLock<metrics::Histogram> = OnceLock::new();
    DURATION
        .get_or_init(|| metrics::histogram!(families::SIGNING_DURATION))
        .record(started.elapsed().as_secs_f64());
}

/// Records a refused token.
pub fn jwt_failure(reason: &'static str) {
    metrics::counter!("cfsign_jwt_failures_total", "reason" => reason).increment(1);
}

/// Records a refused signing request.
pub fn denial(reason: &'static str) {
    metrics::counter!("cfsign_denials_total", "reason" => reason).increment(1);
}

/// Records `n` audit events of one kind written to the sink.
pub fn audit_events(event: &'static str, n: u64) {
    if n > 0 {
        let count = cached(
            signature_series(),
            &["audit_events", event],
            || metrics::counter!("cfsign_audit_events_total", "event" => event),
        );
        count.increment(n);
    }
}

/// Records a lookup of the signature cache (`hit`) or the token cache.
pub fn cache_lookup(cache: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    cached(
        signature_series(),
        &[cache, result],
        || metrics::counter!(cache, "result" => result),
    )
    .increment(1);
}

/// Records one signature asked of a vault-held key: its `result` (`ok`,
/// or a `RemoteKeyError` label) and how long it took.
pub fn key_operation(key_pair_id: &str, result: &'static str, took: std::time::Duration) {
    cached(signature_series(), &["key_operations", key_pair_id, result], || {
        metrics::counter!("cfsign_key_operations_total", "key_pair_id" => key_pair_id.to_owned(), "result" => result)
    })
    .increment(1);
    metrics::histogram!(families::KEY_OPERATION_DURATION, "key_pair_id" => key_pair_id.to_owned())
        .record(took.as_secs_f64());
}

/// Records the time one group of audit events took to write.
pub fn audit_write(took: std::time::Duration) {
    metrics::histogram!(families::AUDIT_WRITE_DURATION).record(took.as_secs_f64());
}

/// Records a request refused because its audit event could not be recorded.
pub fn audit_refused() {
    metrics::counter!("cfsign_audit_refused_total").increment(1);
}

/// Records audit events lost (best effort only).
pub fn audit_dropped(n: u64) {
    metrics::counter!("cfsign_audit_dropped_total").increment(n);
}

/// Publishes the audit queue depth (at each scrape).
pub fn audit_queue_depth(n: usize) {
    metrics::gauge!("cfsign_audit_queue_depth").set(n as f64);
}

/// Publishes the last audit sequence number written.
pub fn audit_sequence(seq: u64) {
    metrics::gauge!("cfsign_audit_last_sequence").set(seq as f64);
}

/// Records a JWKS refresh.
pub fn jwks_refresh(ok: bool, last_success: i64) {
    metrics::counter!("cfsign_jwks_refresh_total", "result" => if ok { "success" } else { "failure" }).increment(1);
    metrics::gauge!("cfsign_jwks_last_success_timestamp_seconds").set(last_success as f64);
}

/// Records a configuration reload: the counter by result, and whether the
/// last one was applied (`cfsign_config_last_reload_successful`, 1 at start:
/// the configuration in force is the one the process started with).
pub fn reload(ok: bool) {
    metrics::counter!("cfsign_config_reloads_total", "result" => if ok { "success" } else { "failure" }).increment(1);
    metrics::gauge!("cfsign_config_last_reload_successful").set(if ok { 1.0 } else { 0.0 });
}

/// Publishes readiness (`cfsign_ready`: 1 when `/readyz` would answer 200),
/// refreshed at each scrape.
pub fn ready(ready: bool) {
    metrics::gauge!("cfsign_ready").set(if ready { 1.0 } else { 0.0 });
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
    // metrics-process writes 0 for an unlimited RLIMIT_AS, which reads as
    // "no memory allowed" (and makes used/max ratios infinite). Prometheus'
    // own client (client_golang through procfs) reports unlimited as
    // 2^64 - 1; do the same. (RLIMIT_NOFILE cannot be unlimited on Linux.)
    if address_space_unlimited() {
        metrics::gauge!("process_virtual_memory_max_bytes").set(u64::MAX as f64);
    }
}

#[cfg(target_os = "linux")]
fn address_space_unlimited() -> bool {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed.
    unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) == 0 && limit.rlim_cur == libc::RLIM_INFINITY }
}

#[cfg(not(target_os = "linux"))]
fn address_space_unlimited() -> bool {
    false
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
