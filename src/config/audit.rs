//! `[audit]`: where the audit trail goes and what happens when it cannot be
//! written. The trail itself is `crate::audit`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The audit trail's sink and its guarantees.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Where events go: `stdout` (default), `stderr` or `file` (+ `path`).
    pub sink: AuditSink,
    /// The file, with `sink = "file"`. Reopened on SIGHUP (logrotate's
    /// `postrotate`); the chain continues into the new file.
    pub path: Option<PathBuf>,
    /// `refuse` (default): a request is answered only once its event has
    /// been accepted by the sink, else 503 `audit_unavailable`.
    /// `best_effort`: answered at once; events the sink cannot take are
    /// dropped and counted (`cfsign_audit_dropped_total`).
    pub on_failure: OnFailure,
    /// When the file is flushed to stable storage: `always` (before each
    /// group of answers is released), `interval` (every `fsync_interval`),
    /// `never` (when the OS decides). Files only: a pipe has no `fsync`.
    pub fsync: Fsync,
    /// With `fsync = "interval"`: a power loss loses at most the events
    /// accepted during the last interval (a crash of cfsign alone loses
    /// none: accepted events are already in the OS).
    #[serde(with = "humantime_serde")]
    pub fsync_interval: Duration,
    /// How long a request waits for its event to be accepted before it is
    /// answered 503 `audit_unavailable` (and `/readyz` turns 503).
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Events waiting for the writer at most; more are refused at once.
    pub queue_depth: usize,
    /// A secret (32 bytes or more) that keys the hash chain (HMAC-SHA256):
    /// then whoever can write the file cannot recompute the chain after an
    /// edit. `cfsign audit verify --hmac-key-file` needs the same file.
    pub hmac_key_file: Option<PathBuf>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            sink: AuditSink::Stdout,
            path: None,
            on_failure: OnFailure::Refuse,
            fsync: Fsync::Interval,
            fsync_interval: Duration::from_secs(1),
            max_wait: Duration::from_secs(2),
            queue_depth: 65_536,
            hmac_key_file: None,
        }
    }
}

/// Where audit events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditSink {
    /// Standard output, shared line by line with the diagnostic log.
    Stdout,
    /// Standard error.
    Stderr,
    /// `audit.path`, appended to.
    File,
}

/// What a request gets when its event cannot be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// 503 `audit_unavailable`: nothing is handed out unrecorded.
    Refuse,
    /// Answered anyway; the lost event is counted.
    BestEffort,
}

/// When the audit file is flushed to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// Before the answers of each written group are released.
    Always,
    /// Every `fsync_interval`.
    Interval,
    /// Left to the OS.
    Never,
}

/// The problems of `[audit]`, each a sentence.
pub fn check(audit: &AuditConfig, problems: &mut Vec<String>) {
    match (audit.sink, &audit.path) {
        (AuditSink::File, None) => problems.push("audit.path: required with sink = \"file\"".into()),
        (AuditSink::Stdout | AuditSink::Stderr, Some(_)) => {
            problems.push("audit.path: only used with sink = \"file\"; remove it or set sink = \"file\"".into())
        }
        _ => {}
    }
    if audit.max_wait.is_zero() {
        problems.push("audit.max_wait: must be more than 0 (e.g. \"2s\")".into());
    }
    if audit.fsync == Fsync::Interval && audit.fsync_interval.is_zero() {
        problems.push("audit.fsync_interval: must be more than 0 (e.g. \"1s\"), or use fsync = \"always\"".into());
    }
    if audit.queue_depth == 0 {
        problems.push("audit.queue_depth: must be at least 1".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(audit: AuditConfig) -> Vec<String> {
        let mut out = Vec::new();
        check(&audit, &mut out);
        out
    }

    #[test]
    fn a_file_sink_needs_a_path_and_only_it_takes_one() {
        let file = AuditConfig {
            sink: AuditSink::File,
            ..AuditConfig::default()
        };
        assert_eq!(problems(file.clone()).len(), 1);
        assert!(
            problems(AuditConfig {
                path: Some("/var/log/cfsign/audit.jsonl".into()),
                ..file
            })
            .is_empty()
        );
        let stray = AuditConfig {
            path: Some("/a".into()),
            ..AuditConfig::default()
        };
        assert!(problems(stray)[0].contains("only used with sink = \"file\""));
    }

    #[test]
    fn zero_waits_intervals_and_queues_are_refused() {
        let zero = AuditConfig {
            max_wait: Duration::ZERO,
            fsync_interval: Duration::ZERO,
            queue_depth: 0,
            ..AuditConfig::default()
        };
        assert_eq!(problems(zero).len(), 3);
        assert!(problems(AuditConfig::default()).is_empty());
    }
}
