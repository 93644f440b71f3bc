//! Signing key files that disappear, turn into a directory or become
//! unreadable after the start: keys are read at start and on reload only, so
//! signing goes on and a SIGHUP is refused (logged with the path, counted).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{sign_ok, wait_metric};
use crate::harness::binary::Server;
use crate::harness::config::KEY_A;
use crate::harness::fixtures::key_file;
use crate::harness::tokens::mailer;

/// Starts on a copy of rsa2048.pem at `dir/reports.pem`, signs once, breaks
/// the file with `break_it`, and checks: signing continues; SIGHUP is refused
/// with an error naming the file; the old key keeps signing.
async fn key_file_broken_after_start(what: &str, break_it: impl FnOnce(&Path)) {
    let mut key = PathBuf::new();
    let mut server = Server::start(|c| {
        key = c.dir().join("reports.pem");
        std::fs::copy(key_file("rsa2048.pem"), &key).unwrap();
        c.add_uploads(&key);
    });
    let t = mailer();
    sign_ok(&server, &t, &format!("{what}-before")).await;

    break_it(&key);
    for i in 0..3 {
        sign_ok(&server, &t, &format!("{what}-broken-{i}")).await;
    }

    server.signal("HUP");
    server.expect_reload_refused(&key, KEY_A).await;
    wait_metric(
        &server,
        "cfsign_config_reloads_total",
        r#"result="failure""#,
        1.0,
        Duration::from_secs(2),
    )
    .await;
    for i in 0..3 {
        sign_ok(&server, &t, &format!("{what}-after-hup-{i}")).await;
    }
    assert!(!server.all_logs().contains("configuration reloaded"));
    let status = server.stop_and_collect(Duration::from_secs(10));
    assert!(status.success(), "exit {status}:\n{}", server.all_logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_file_deleted_after_start_keeps_signing_and_reload_is_refused() {
    key_file_broken_after_start("deleted", |key| std::fs::remove_file(key).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_file_replaced_by_a_directory_keeps_signing_and_reload_is_refused() {
    key_file_broken_after_start("directory", |key| {
        std::fs::remove_file(key).unwrap();
        std::fs::create_dir(key).unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_file_made_unreadable_after_start() {
    // chmod 000 stops an ordinary user, not root (CAP_DAC_OVERRIDE): these
    // tests normally run as root in CI containers, where the reload would
    // simply succeed. Check only when the file really became unreadable.
    let probe = tempfile::NamedTempFile::new().unwrap();
    set_mode(probe.path(), 0o000);
    if std::fs::read(probe.path()).is_ok() {
        eprintln!("skipped: chmod 000 does not stop this process from reading (running as root)");
        return;
    }
    key_file_broken_after_start("unreadable", |key| set_mode(key, 0o000)).await;
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
