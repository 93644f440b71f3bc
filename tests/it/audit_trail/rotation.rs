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

/// The shipped `deploy/logrotate/cfsign`, pointed at `path` and at this
/// process (`kill -HUP pid` for `systemctl kill`).
fn logrotate_config(path: &std::path::Path, pid: u32) -> String {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/logrotate/cfsign")).unwrap();
    assert!(shipped.contains("/var/log/cfsign/audit.jsonl {"));
    assert!(shipped.contains("systemctl kill --signal=HUP cfsign.service"));
    shipped
        .replace("/var/log/cfsign/audit.jsonl {", &format!("{} {{", path.display()))
        .replace(
            "systemctl kill --signal=HUP cfsign.service",
            &format!("kill -HUP {pid}"),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_shipped_logrotate_rules_rotate_twice_under_load_and_the_three_files_verify_as_one_chain() {
    let Some(logrotate) =
        crate::harness::tools::required("logrotate", "the shipped logrotate rules", "apt-get install logrotate")
    else {
        return;
    };
    let audit_dir = tempfile::tempdir().unwrap();
    let path = audit_dir.path().join("audit.jsonl");
    let (dir, config) = config_dir(|c| {
        c.add_reports();
        c.audit = TestConfig::audit_file(&path);
    });
    let server = Server::start_in(dir, config, &[]);
    let rules = audit_dir.path().join("logrotate.conf");
    std::fs::write(&rules, logrotate_config(&path, server.pid())).unwrap();
    let state = audit_dir.path().join("logrotate.state");
    let rotate = || {
        let out = std::process::Command::new(&logrotate)
            .arg("--force")
            .arg("--state")
            .arg(&state)
            .arg(&rules)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "logrotate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let load = Load::start(&server.url("/v1/signed-urls"), 3, "logrotate");
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        rotate();
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let answers = load.finish().await;

    // delaycompress: the newest rotated file stays plain, the older one is gzip.
    let oldest = audit_dir.path().join("audit.jsonl.2");
    let gz = audit_dir.path().join("audit.jsonl.2.gz");
    let gunzip = std::process::Command::new("gzip").arg("-dc").arg(&gz).output().unwrap();
    assert!(gunzip.status.success(), "{} missing", gz.display());
    std::fs::write(&oldest, gunzip.stdout).unwrap();
    let files = [oldest, audit_dir.path().join("audit.jsonl.1"), path];
    let all: Vec<_> = files.iter().flat_map(|f| events_in(f)).collect();
    assert!(files.iter().all(|f| !events_in(f).is_empty()), "every file has events");
    let by_id = issued_by_id(&all);
    assert!(answers.iter().all(|a| a.status == 200));
    for a in &answers {
        assert_eq!(by_id.get(&a.id), Some(&1), "{}", a.id);
    }
    let refs: Vec<&std::path::Path> = files.iter().map(|f| f.as_path()).collect();
    let (code, out) = verify(&refs, &[]);
    assert_eq!(code, 0, "{out}");
}
