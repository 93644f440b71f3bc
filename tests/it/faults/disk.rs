//! Diagnostic logs that cannot be written (stdout and stderr on
//! `/dev/full`, or a stdout nobody reads): the service keeps serving. The
//! audit trail is written to its own file here; a sink of the audit trail
//! that cannot be written refuses requests instead (`audit_trail::failures`).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::url_body;
use crate::harness::binary::{START_TIMEOUT, serve_command, wait_exit};
use crate::harness::config::{KEY_A, TestConfig};
use crate::harness::fixtures::key_file;
use crate::harness::net::{assert_url_valid, client, post};
use crate::harness::tokens::{HMAC_SECRET, mailer};

/// A loopback address nobody listens on right now (bound, then released).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// A `cfsign serve` whose stdout/stderr go where the test says (not to the
/// harness's readers), killed on drop.
struct Detached {
    child: Option<std::process::Child>,
    base: String,
    audit: std::path::PathBuf,
}

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Detached {
    /// Starts with debug logging (many writes), the audit trail in
    /// `dir/audit.jsonl`, and waits for `/healthz`.
    async fn start(dir: &Path, stdout: Stdio, stderr: Stdio) -> Self {
        std::fs::write(dir.join("hmac.secret"), HMAC_SECRET).unwrap();
        let config = dir.join("config.toml");
        let mut c = TestConfig::binary(dir);
        c.add_uploads(&key_file("rsa2048.pem"));
        c.audit = TestConfig::audit_file(&dir.join("audit.jsonl"));
        c.write(&config);
        let addr = free_addr();
        let child = serve_command(&config, &addr.to_string())
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut me = Detached {
            child: Some(child),
            base: format!("http://{addr}"),
            audit: dir.join("audit.jsonl"),
        };
        let http = client();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", me.base)).send().await
                && r.status() == 200
            {
                return me;
            }
            if let Some(status) = me.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("cfsign exited ({status}) before answering");
            }
            assert!(Instant::now() < deadline, "not answering /healthz on {addr}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `n` signed URLs that verify, one 401, and the process still running.
    async fn serves(&mut self, n: usize, prefix: &str) {
        let http = client();
        let t = mailer();
        for i in 0..n {
            let id = format!("{prefix}-{i}");
            let (status, _, body) =
                post(&http, &format!("{}/v1/signed-urls", self.base), &t, &id, &url_body(&id)).await;
            assert_eq!(status, 200, "{body}");
            assert_url_valid(body["url"].as_str().unwrap(), KEY_A, "rsa2048.pub.pem");
        }
        // Denials log too.
        let (status, _, _) = post(
            &http,
            &format!("{}/v1/signed-urls", self.base),
            "x",
            "bad",
            &url_body("x"),
        )
        .await;
        assert_eq!(status, 401);
        assert!(
            self.child.as_mut().unwrap().try_wait().unwrap().is_none(),
            "exited while serving"
        );
        // The trail has every one of them, whatever became of the logs.
        let trail = std::fs::read_to_string(&self.audit).unwrap();
        let recorded = |id: &str| trail.contains(&format!("\"request_id\":\"{id}\""));
        assert!((0..n).all(|i| recorded(&format!("{prefix}-{i}"))) && recorded("bad"));
    }

    /// SIGTERM, then exit 0 within 10 s.
    fn stop(&mut self) {
        let child = self.child.as_mut().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = wait_exit(child, Duration::from_secs(10)).expect("no exit 10 s after SIGTERM");
        self.child = None;
        assert!(status.success(), "exit {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_to_a_full_disk_do_not_stop_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let full = || {
        std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full")
    };
    let mut server = Detached::start(dir.path(), Stdio::from(full()), Stdio::from(full())).await;
    server.serves(20, "full").await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdout_nobody_reads_does_not_stall_the_service() {
    // A pipe that is never read fills after 64 KiB; a log driver that stalls
    // does the same. Writing logs from the request threads would then block
    // every request (seen under overload in the benchmark); logs go through a
    // bounded non-blocking writer that drops lines instead.
    let dir = tempfile::tempdir().unwrap();
    let mut server = Detached::start(dir.path(), Stdio::piped(), Stdio::null()).await;
    // ~300 requests at debug level write far more than 64 KiB of logs.
    server.serves(300, "stalled").await;
    server.stop();
}
