//! A sink that cannot take events: a stdout pipe nobody reads, a file that
//! cannot grow. Fail-closed: 503 `audit_unavailable` and not ready while
//! it lasts, no 200 without its event, and service resumes by itself.

use std::time::Duration;

use super::{Load, events_in, every_200_has_one_event, verify, wait_ready_status};
use crate::harness::binary::{Limits, Server, config_dir};
use crate::harness::config::TestConfig;
use crate::harness::net::metric;

fn refusals(answers: &[super::Answer]) -> Vec<&super::Answer> {
    answers
        .iter()
        .filter(|a| a.code.as_deref() == Some("audit_unavailable"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_stdout_refuses_requests_until_it_drains_and_no_200_lacks_its_event() {
    let server = Server::start(|c| {
        c.add_reports();
        c.audit.insert("max_wait".into(), "300ms".into());
    });
    let url = server.url("/v1/signed-urls");
    let load = Load::start(&url, 4, "stall");
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.stall_stdout(true);
    // Nobody reads stdout: the pipe fills, the writer blocks, requests wait
    // `max_wait` and are refused, then refused at once; not ready.
    let during = wait_ready_status(&server.url("/readyz"), 503, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = reqwest::Client::new();
    let bad_token = client
        .post(&url)
        .bearer_auth("not-a-token")
        .json(&serde_json::json!({"key": "uploads/a.pdf"}))
        .send()
        .await
        .unwrap();
    let bad_token_status = bad_token.status().as_u16();
    server.stall_stdout(false);
    let after = wait_ready_status(&server.url("/readyz"), 200, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let answers = load.finish().await;
    let metrics = server.metrics_text().await;

    assert_eq!(during, 503, "/readyz while stdout is stalled");
    assert_eq!(after, 200, "/readyz once stdout drains");
    assert_eq!(
        bad_token_status, 503,
        "a denial that cannot be audited is answered 503 too"
    );
    let refused = refusals(&answers);
    assert!(!refused.is_empty(), "no request was refused during the stall");
    assert!(
        refused
            .iter()
            .all(|a| a.status == 503 && a.retry_after.as_deref() == Some("1"))
    );
    let last_refusal = refused.iter().map(|a| a.at).max().unwrap();
    assert!(
        answers.iter().any(|a| a.status == 200 && a.at > last_refusal),
        "service did not resume after the stall"
    );
    // Everything written reaches the log once the pipe drains.
    let last_ok = answers
        .iter()
        .filter(|a| a.status == 200)
        .max_by_key(|a| a.at)
        .unwrap()
        .id
        .clone();
    server
        .wait_log_async(Duration::from_secs(10), |v| {
            v["request_id"] == last_ok.as_str() && v.get("audit").is_some()
        })
        .await;
    let events = server.audit_events();
    every_200_has_one_event(&answers, &events, "stalled stdout");
    // The trail says the outage happened and how many were refused; the
    // refusal counter matches what clients saw (the bad token included).
    let outage = events
        .iter()
        .find(|e| e["event"] == "audit_outage")
        .expect("an audit_outage event");
    assert!(outage["refused"].as_u64().unwrap() > 0, "{outage}");
    assert_eq!(
        metric(&metrics, "cfsign_audit_refused_total", "") as usize,
        refused.len() + 1,
        "refusals counted"
    );
    assert_eq!(metric(&metrics, "cfsign_audit_dropped_total", ""), 0.0);
    // The chain over stdout (diagnostic lines between events) is intact.
    let capture = server.dir.path().join("stdout.jsonl");
    std::fs::write(&capture, server.stdout().join("\n") + "\n").unwrap();
    let (code, out) = verify(&[&capture], &[]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn best_effort_keeps_answering_through_a_stall_and_counts_what_it_drops() {
    let server = Server::start(|c| {
        c.add_reports();
        c.audit.insert("on_failure".into(), "best_effort".into());
        c.audit.insert("queue_depth".into(), 8.into());
        c.audit.insert("max_wait".into(), "300ms".into());
    });
    let url = server.url("/v1/signed-urls");
    let load = Load::start(&url, 4, "besteffort");
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.stall_stdout(true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = wait_ready_status(&server.url("/readyz"), 200, Duration::from_secs(1)).await;
    server.stall_stdout(false);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let answers = load.finish().await;
    let metrics = server.metrics_text().await;

    assert_eq!(ready, 200, "best effort stays ready");
    assert!(refusals(&answers).is_empty(), "best effort refused requests");
    assert!(answers.iter().all(|a| a.status == 200), "every request answered 200");
    let dropped = metric(&metrics, "cfsign_audit_dropped_total", "");
    assert!(dropped > 0.0, "a stall with a queue of 8 drops events, and counts them");
    assert_eq!(metric(&metrics, "cfsign_audit_refused_total", ""), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_refuses_requests_and_service_returns_with_space() {
    let audit_dir = tempfile::tempdir().unwrap();
    let path = audit_dir.path().join("audit.jsonl");
    let (dir, config) = config_dir(|c| {
        c.add_reports();
        c.audit = TestConfig::audit_file(&path);
        c.audit.insert("fsync".into(), "always".into());
    });
    // The file cannot grow past 24 KiB, as on a full disk.
    let limits = Limits {
        file_size: Some(24 * 1024),
        ..Limits::default()
    };
    let server = Server::start_in_with_limits(dir, config, &[], limits);
    let url = server.url("/v1/signed-urls");
    let load = Load::start(&url, 4, "disk");
    let full = wait_ready_status(&server.url("/readyz"), 503, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let size_while_full = std::fs::metadata(&path).unwrap().len();
    raise_file_size_limit(server.pid());
    let back = wait_ready_status(&server.url("/readyz"), 200, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let answers = load.finish().await;

    assert_eq!(full, 503, "/readyz once the file cannot grow");
    assert_eq!(back, 200, "/readyz once it can");
    assert!(size_while_full <= 24 * 1024);
    let refused = refusals(&answers);
    assert!(!refused.is_empty(), "no request refused while the disk was full");
    let last_refusal = refused.iter().map(|a| a.at).max().unwrap();
    assert!(answers.iter().any(|a| a.status == 200 && a.at > last_refusal));
    let events = events_in(&path);
    every_200_has_one_event(&answers, &events, "full disk");
    let outage = events
        .iter()
        .find(|e| e["event"] == "audit_outage")
        .expect("an audit_outage event");
    assert!(outage["reason"].as_str().unwrap().contains("large"), "{outage}");
    // No half-written group stayed in the file: the chain is intact.
    let (code, out) = verify(&[&path], &[]);
    assert_eq!(code, 0, "{out}");
}

/// `prlimit --fsize=unlimited` on the child: space is back.
fn raise_file_size_limit(pid: u32) {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit on another process of ours reads `unlimited` only.
    let rc = unsafe { libc::prlimit(pid as libc::pid_t, libc::RLIMIT_FSIZE, &unlimited, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}
