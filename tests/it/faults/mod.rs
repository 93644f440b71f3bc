//! Faults around the running binary: a JWKS endpoint that turns slow, bad or
//! failing; signing key files that disappear; logs that cannot be written
//! (stdout and stderr on `/dev/full`); the clock; SIGTERM under load; slow
//! clients (headers or body trickled a byte at a time).
//!
//! Every test is bounded (the slowest, the slow JWKS one, takes about 7 s)
//! and every wait polls with a deadline.
//!
//! Observed behaviour asserted here, in short:
//! - JWKS: a refresh that times out (5 s), answers garbage or HTTP 500 keeps
//!   the last good keys, logs a WARN and counts
//!   `cfsign_jwks_refresh_total{result="failure"}`; requests are not slowed
//!   by a slow refresh; the next good document is picked up.
//! - Key files: keys are read at start (and on reload) only, so deleting the
//!   file, or replacing it by a directory, changes nothing until a SIGHUP,
//!   which is then refused (logged with the path, counted) and the old key
//!   keeps signing. `chmod 000` does not stop root (these tests run as root:
//!   CAP_DAC_OVERRIDE); that case is checked only when the file really
//!   became unreadable to this process.
//! - Logs on a full disk: the service keeps serving (this needed
//!   `log_internal_errors(false)` in src/telemetry.rs: before it, the first
//!   log line panicked in tracing-subscriber's `eprintln!` fallback and the
//!   process exited 101 before listening).
//! - SIGTERM under ~300 concurrent callers: every answer is a complete 200
//!   (whose URL verifies) or a 503; other callers are refused (or, for a
//!   connection still in the kernel's accept queue when the listener
//!   closes, reset before any byte of answer: such a request was never
//!   processed, which is checked against the audit log); exit 0.
//! - Slow clients: a body trickled past `request_timeout` gets 408 and the
//!   connection closed; request headers trickled a byte at a time are cut
//!   off after `header_read_timeout`, and a request head stalled mid-way
//!   holds a SIGTERM no longer than that.
//!
//! One submodule per class of fault; the helpers they share are here.

#![cfg(unix)]

mod clock;
mod disk;
mod jwks;
mod keys;
mod shutdown;
mod slow_clients;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::binary::Server;
use crate::harness::config::KEY_A;
use crate::harness::net::{self, assert_url_valid, client, key_pair_id_of, parse_response, post};

fn url_body(name: &str) -> Value {
    json!({ "key": format!("uploads/{name}.pdf"), "ttl_seconds": 600 })
}

/// Value of the Prometheus sample `name{...labels...}` (0 when absent).
async fn metric(server: &Server, name: &str, label: &str) -> f64 {
    net::metric(&server.metrics_text().await, name, label)
}

/// Polls `metric` until it reaches `at_least` or `timeout` passes.
async fn wait_metric(server: &Server, name: &str, label: &str, at_least: f64, timeout: Duration) -> f64 {
    let deadline = Instant::now() + timeout;
    loop {
        let v = metric(server, name, label).await;
        if v >= at_least {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{name}{{{label}}} = {v}, wanted >= {at_least} within {timeout:?}:\n{}",
            server.all_logs()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Signs `uploads/{name}.pdf` and checks the answer is a valid URL by KEY_A.
async fn sign_ok(server: &Server, token: &str, request_id: &str) -> Value {
    let (status, _, body) = post(
        &client(),
        &server.url("/v1/signed-urls"),
        token,
        request_id,
        &url_body(request_id),
    )
    .await;
    assert_eq!(status, 200, "{request_id}: {body}\n{}", server.all_logs());
    let url = body["url"].as_str().unwrap();
    assert_eq!(key_pair_id_of(url), KEY_A);
    assert_url_valid(url, KEY_A, "rsa2048.pub.pem");
    body
}

/// Status and body of exactly one complete HTTP/1.1 response (nothing
/// missing from the body, nothing after it).
fn complete_response(data: &[u8]) -> Option<(u16, String)> {
    let (status, head, body) = parse_response(data)?;
    (head.len() + 4 + body.len() == String::from_utf8_lossy(data).len()).then_some((status, body))
}
