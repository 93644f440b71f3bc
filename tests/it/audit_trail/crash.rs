//! A crash under load (SIGKILL): every request answered 200 is in the
//! file, with `fsync = "always"` and with `"interval"` (a killed process
//! loses nothing the OS has; the interval bounds a power loss). A restart
//! on the same file continues its chain.

use std::path::Path;
use std::time::Duration;

use super::{Load, events_in, every_200_has_one_event, verify};
use crate::harness::binary::{Server, config_dir};
use crate::harness::config::TestConfig;
use crate::harness::net::post;
use crate::harness::tokens::mailer;

fn start_on(path: &Path, fsync: &str) -> Server {
    let (dir, config) = config_dir(|c| {
        c.add_reports();
        c.audit = TestConfig::audit_file(path);
        c.audit.insert("fsync".into(), fsync.into());
    });
    Server::start_in(dir, config, &[])
}

async fn killed_under_load_then_restarted(fsync: &str) {
    let audit_dir = tempfile::tempdir().unwrap();
    let path = audit_dir.path().join("audit.jsonl");
    let mut server = start_on(&path, fsync);
    let load = Load::start(&server.url("/v1/signed-urls"), 4, &format!("crash-{fsync}"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal("KILL");
    let _ = server.wait_exit(Duration::from_secs(5)).expect("killed");
    let answers = load.finish().await;
    every_200_has_one_event(&answers, &events_in(&path), &format!("SIGKILL, fsync = {fsync}"));
    let last_seq = events_in(&path).last().unwrap()["seq"].as_u64().unwrap();

    // A restart on the same file continues the chain after its last event.
    let server = start_on(&path, fsync);
    let (status, _, _) = post(
        &reqwest::Client::new(),
        &server.url("/v1/signed-urls"),
        &mailer(),
        "after-restart",
        &serde_json::json!({ "key": "uploads/after.pdf" }),
    )
    .await;
    assert_eq!(status, 200);
    let events = events_in(&path);
    let after = events.iter().find(|e| e["request_id"] == "after-restart").unwrap();
    assert_eq!(after["seq"].as_u64().unwrap(), last_seq + 1, "{after}");
    let (code, out) = verify(&[&path], &[]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_fsync_always_loses_no_answered_event_and_a_restart_continues_the_chain() {
    killed_under_load_then_restarted("always").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_fsync_interval_loses_no_answered_event_either() {
    killed_under_load_then_restarted("interval").await;
}
