//! The `cfsign_*` families: one table of name, type, labels and HELP text,
//! read by the recorder at install ([`describe_and_initialise`]) and by the
//! README check below, so the exposition and the documentation cannot drift.

/// The signing histogram's name (its buckets are set at install).
pub const SIGNING_DURATION: &str = "cfsign_signing_duration_seconds";
/// The audit write histogram's name (its buckets are set at install).
pub const AUDIT_WRITE_DURATION: &str = "cfsign_audit_write_seconds";
/// The vault-held key latency histogram's name (its buckets are set at install).
pub const KEY_OPERATION_DURATION: &str = "cfsign_key_operation_seconds";
/// The HTTP latency histogram's name (its buckets are set at install).
pub const HTTP_DURATION: &str = "cfsign_http_request_duration_seconds";

/// A Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (restarts at 0 with the process).
    Counter,
    /// A value that is set.
    Gauge,
    /// Observations in buckets.
    Histogram,
}

impl Kind {
    /// The name in a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric family.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The metric name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its label names, in the order they are written.
    pub labels: &'static [&'static str],
    /// The `# HELP` text.
    pub help: &'static str,
}

const fn family(name: &'static str, kind: Kind, labels: &'static [&'static str], help: &'static str) -> Family {
    Family {
        name,
        kind,
        labels,
        help,
    }
}

use Kind::{Counter, Gauge, Histogram};

/// Every `cfsign_*` family the service writes.
pub const FAMILIES: &[Family] = &[
    family(
        "cfsign_build_info",
        Gauge,
        &["version", "backend"],
        "Always 1; the labels name the cfsign version and the signing backend.",
    ),
    family(
        "cfsign_ready",
        Gauge,
        &[],
        "1 when /readyz answers 200 (signing keys and JWT keys loaded, audit sink accepting, not shutting down), else 0.",
    ),
    family(
        "cfsign_http_requests_total",
        Counter,
        &["route", "status"],
        "HTTP requests answered, by route template (unmatched when none matched) and status code.",
    ),
    family(
        HTTP_DURATION,
        Histogram,
        &["route", "status"],
        "Time from a request's arrival to its response head, by route template and status code.",
    ),
    family(
        "cfsign_connections_open",
        Gauge,
        &[],
        "Client connections open (main and metrics listeners).",
    ),
    family(
        "cfsign_connections_closed_total",
        Counter,
        &["reason"],
        "Connections closed by a bound: first_request_timeout (nothing asked in header_read_timeout) or idle (idle_timeout; for HTTP/1.1 the shorter of it and header_read_timeout, which also cuts off a next head trickled in slower).",
    ),
    family(
        "cfsign_accept_errors_total",
        Counter,
        &[],
        "Failed accepts on either listener (out of file descriptors, ...).",
    ),
    family(
        "cfsign_signatures_total",
        Counter,
        &["distribution", "kind", "policy_type", "hash_algorithm", "key_pair_id"],
        "Signed URLs and signed cookie sets issued, by distribution, kind, policy type, hash algorithm and key pair id.",
    ),
    family(
        SIGNING_DURATION,
        Histogram,
        &[],
        "Time to obtain one signature: cache lookup, queue wait and signing (in a batch, since the batch began).",
    ),
    family(
        "cfsign_key_operations_total",
        Counter,
        &["key_pair_id", "result"],
        "Signatures asked of a vault-held key (PKCS#11, AWS KMS), by key pair id and result: ok, throttled, timeout, unavailable or refused.",
    ),
    family(
        KEY_OPERATION_DURATION,
        Histogram,
        &["key_pair_id"],
        "Time one signature by a vault-held key took, waiting for a free slot included.",
    ),
    family(
        "cfsign_signing_pool_in_flight",
        Gauge,
        &[],
        "Signing jobs queued or running on the signing workers.",
    ),
    family(
        "cfsign_signing_rejected_total",
        Counter,
        &[],
        "Signing jobs refused with 503 because the signing queue was full.",
    ),
    family(
        "cfsign_signing_abandoned_total",
        Counter,
        &[],
        "Signing jobs skipped because their caller had gone before a worker took them.",
    ),
    family(
        "cfsign_signature_cache_total",
        Counter,
        &["result"],
        "Signature cache lookups, by result (hit, miss).",
    ),
    family(
        "cfsign_signing_key_active",
        Gauge,
        &["distribution", "key_pair_id", "algorithm"],
        "Loaded signing keys: 1 for the key that signs, 0 for a key kept for verification during a rotation.",
    ),
    family(
        "cfsign_jwt_failures_total",
        Counter,
        &["reason"],
        "Requests refused with 401 (bearer token missing, malformed or invalid), by reason.",
    ),
    family(
        "cfsign_token_cache_total",
        Counter,
        &["result"],
        "Verified-token cache lookups, by result (hit, miss).",
    ),
    family(
        "cfsign_denials_total",
        Counter,
        &["reason"],
        "Signing requests refused, by problem code.",
    ),
    family(
        "cfsign_audit_events_total",
        Counter,
        &["event"],
        "Audit events written to the audit sink, by event (issued, denied, audit_outage).",
    ),
    family(
        AUDIT_WRITE_DURATION,
        Histogram,
        &[],
        "Time to write one group of audit events to the sink (and fsync it with fsync = always).",
    ),
    family(
        "cfsign_audit_queue_depth",
        Gauge,
        &[],
        "Audit events waiting for the audit writer.",
    ),
    family(
        "cfsign_audit_refused_total",
        Counter,
        &[],
        "Requests answered 503 audit_unavailable because their audit event could not be recorded.",
    ),
    family(
        "cfsign_audit_dropped_total",
        Counter,
        &[],
        "Audit events lost under on_failure = best_effort (always 0 under refuse).",
    ),
    family(
        "cfsign_audit_last_sequence",
        Gauge,
        &[],
        "The seq of the last audit event written: a witness outside the file for `cfsign audit verify`.",
    ),
    family(
        "cfsign_jwks_refresh_total",
        Counter,
        &["result"],
        "JWKS fetches, by result (success, failure).",
    ),
    family(
        "cfsign_jwks_last_success_timestamp_seconds",
        Gauge,
        &[],
        "Unix time of the last successful JWKS fetch (0 if none yet).",
    ),
    family(
        "cfsign_config_reloads_total",
        Counter,
        &["result"],
        "Configuration reloads (SIGHUP), by result (success, failure).",
    ),
    family(
        "cfsign_config_last_reload_successful",
        Gauge,
        &[],
        "0 if the last configuration reload was refused (the previous configuration still serves), else 1.",
    ),
];

/// Describes every family to the recorder and creates the series whose
/// label sets are known: at zero for counters, at their start value for
/// gauges (build info 1, last reload successful 1, no connection open).
pub fn describe_and_initialise() {
    for f in FAMILIES {
        match f.kind {
            Counter => metrics::describe_counter!(f.name, f.help),
            Gauge => metrics::describe_gauge!(f.name, f.help),
            Histogram => metrics::describe_histogram!(f.name, f.help),
        }
    }
    let backend = crate::signing::backend::Backend::default().name();
    metrics::gauge!("cfsign_build_info", "version" => env!("CARGO_PKG_VERSION"), "backend" => backend).set(1.0);
    metrics::gauge!("cfsign_config_last_reload_successful").set(1.0);
    metrics::gauge!("cfsign_connections_open").increment(0.0);
    for result in ["success", "failure"] {
        metrics::counter!("cfsign_config_reloads_total", "result" => result).absolute(0);
        metrics::counter!("cfsign_jwks_refresh_total", "result" => result).absolute(0);
    }
    for event in ["issued", "denied", "audit_outage"] {
        metrics::counter!("cfsign_audit_events_total", "event" => event).absolute(0);
    }
    for result in ["hit", "miss"] {
        metrics::counter!("cfsign_signature_cache_total", "result" => result).absolute(0);
        metrics::counter!("cfsign_token_cache_total", "result" => result).absolute(0);
    }
    for reason in ["first_request_timeout", "idle"] {
        metrics::counter!("cfsign_connections_closed_total", "reason" => reason).absolute(0);
    }
    // The one denial reason the shipped alerts name.
    metrics::counter!("cfsign_denials_total", "reason" => crate::error_code::ErrorCode::Forbidden.as_str()).absolute(0);
    for name in [
        "cfsign_signing_rejected_total",
        "cfsign_signing_abandoned_total",
        "cfsign_accept_errors_total",
        "cfsign_audit_refused_total",
        "cfsign_audit_dropped_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family appears in the README's metrics table as
    /// `` | `name{labels}` | type | HELP | ``.
    #[test]
    fn the_readme_table_lists_every_family_with_its_help() {
        let readme = include_str!("../../README.md");
        for f in FAMILIES {
            let name = if f.labels.is_empty() {
                f.name.to_owned()
            } else {
                format!("{}{{{}}}", f.name, f.labels.join(","))
            };
            let row = format!("| `{name}` | {} | {} |", f.kind.as_str(), f.help);
            assert!(readme.contains(&row), "README.md lacks the row\n{row}");
        }
    }

    #[test]
    fn names_follow_the_prometheus_conventions() {
        for f in FAMILIES {
            assert!(f.name.starts_with("cfsign_"), "{}", f.name);
            assert_eq!(f.kind == Counter, f.name.ends_with("_total"), "{}", f.name);
            assert!(!f.help.is_empty() && !f.help.contains('\n'), "{}", f.name);
        }
        let mut names: Vec<_> = FAMILIES.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len(), "a family listed twice");
    }
}
