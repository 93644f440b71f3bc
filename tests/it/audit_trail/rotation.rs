//! Rotation as logrotate does it: the file is moved away, SIGHUP, the
//! service reopens the path. Under load, no event is lost or repeated and
//! the chain runs on from the old file into the new one.

use std::time::Duration;

use super::{Load, events_in, issued_by_id, verify};
use crate::harness::binary::{Server, config_dir};
use crate::harness::config::TestConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_moved_away_and_a_sighup_continue_the_chain_with_no_event_lost_or_repeated() {
    let audit_dir = tempfile::tempdir().unwrap();
    let path = audit_dir.path().join("audit.jsonl");
    let rotated = audit_dir.path().join("audit.jsonl.1");
    let (dir, config) = config_dir(|c| {
        c.add_reports();
        c.audit = TestConfig::audit_file(&path);
    });
    let server = Server::start_in(dir, config, &[]);
    let load = Load::start(&server.url("/v1/signed-urls"), 3, "rotate");
    tokio::time::sleep(Duration::from_millis(700)).await;
    std::fs::rename(&path, &rotated).unwrap();
    server.signal("HUP");
    server
        .wait_log_async(Duration::from_secs(10), |v| v["message"] == "configuration reloaded")
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let answers = load.finish().await;

    let (old, new) = (events_in(&rotated), events_in(&path));
    assert!(!old.is_empty() && !new.is_empty(), "both files have events");
    let all: Vec<_> = old.iter().chain(&new).cloned().collect();
    let by_id = issued_by_id(&all);
    let ok: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(ok.len(), answers.len(), "every request answered 200");
    for a in ok {
        assert_eq!(by_id.get(&a.id), Some(&1), "{} in {:?} files", a.id, by_id.get(&a.id));
    }
    assert_eq!(
        by_id.len(),
        answers.len(),
        "no event for a request the clients did not make"
    );
    assert_eq!(
        new[0]["seq"].as_u64().unwrap(),
        old.last().unwrap()["seq"].as_u64().unwrap() + 1
    );
    let (code, out) = verify(&[&rotated, &path], &[]);
    assert_eq!(code, 0, "{out}");
    // Out of order, the files do not form one chain.
    let (code, out) = verify(&[&path, &rotated], &[]);
    assert_eq!(code, 1, "{out}");
}
