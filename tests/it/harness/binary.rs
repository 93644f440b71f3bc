//! The real `cfsign` binary: a config file and secrets in a temporary
//! directory, the child process with every line of its stdout and stderr
//! captured, signals and bounded waits.
//!
//! Every wait here has a deadline; a `Server` kills its child on drop.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::config::TestConfig;
use super::net::client;
use super::tokens::HMAC_SECRET;

/// Longest time the binary may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A new temporary directory with the HMAC secret and `config.toml`:
/// [`TestConfig::binary`] as `change` leaves it.
pub fn config_dir(change: impl FnOnce(&mut TestConfig)) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hmac.secret"), HMAC_SECRET).unwrap();
    let mut test_config = TestConfig::binary(dir.path());
    change(&mut test_config);
    let config = dir.path().join("config.toml");
    test_config.write(&config);
    (dir, config)
}

/// Lines captured from the child, in arrival order per stream.
#[derive(Default)]
struct Captured {
    stdout: Vec<String>,
    stderr: Vec<String>,
    stdout_closed: bool,
    stderr_closed: bool,
}

#[derive(Default)]
struct Logs {
    inner: Mutex<Captured>,
    changed: Condvar,
    /// While true, stdout is not read: the pipe fills and the child's
    /// writes to it block (a stalled log shipper).
    stalled: Mutex<bool>,
    unstalled: Condvar,
}

impl Logs {
    fn push(&self, stderr: bool, line: String) {
        let mut c = self.inner.lock().unwrap();
        if stderr {
            c.stderr.push(line);
        } else {
            c.stdout.push(line);
        }
        self.changed.notify_all();
    }

    fn close(&self, stderr: bool) {
        let mut c = self.inner.lock().unwrap();
        if stderr {
            c.stderr_closed = true;
        } else {
            c.stdout_closed = true;
        }
        self.changed.notify_all();
    }
}

fn pump(stream: impl Read + Send + 'static, logs: Arc<Logs>, stderr: bool) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            if !stderr {
                let stalled = logs.stalled.lock().unwrap();
                drop(logs.unstalled.wait_while(stalled, |s| *s).unwrap());
            }
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_owned();
                    logs.push(stderr, line);
                }
            }
        }
        logs.close(stderr);
    })
}

/// A running `cfsign serve` child process.
pub struct Server {
    child: Option<Child>,
    status: Option<ExitStatus>,
    pub addr: SocketAddr,
    pub base: String,
    /// `http://addr` of the metrics listener, when the config has one.
    pub metrics_base: Option<String>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    logs: Arc<Logs>,
    pumps: Vec<JoinHandle<()>>,
}

/// What a child that exited (or never listened) left behind.
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

/// `cfsign serve --config <config> --listen <listen> --log-format json`, with
/// none of the `CFSIGN_*` variables this process may have (a test that sets
/// some, as the config loader's does, must not reach a child).
pub fn serve_command(config: &Path, listen: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cfsign"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .args(["--listen", listen, "--log-format", "json"]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CFSIGN_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Resource limits for the child, set before exec as `ulimit` would
/// (soft = hard for open files, so it cannot raise them).
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// RLIMIT_NOFILE.
    pub open_files: Option<u64>,
    /// RLIMIT_FSIZE (soft only, in bytes): a file cannot grow past it, as
    /// on a full disk; the test can raise it again with `prlimit`.
    pub file_size: Option<u64>,
}

/// Spawns [`serve_command`] on `127.0.0.1:0` with its output captured,
/// under `limits`.
fn spawn_serve(config: &Path, envs: &[(&str, &str)], limits: Limits) -> (Child, Arc<Logs>, Vec<JoinHandle<()>>) {
    let mut cmd = serve_command(config, "127.0.0.1:0");
    cmd.env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let nofile = limits.open_files.map(|n| libc::rlimit {
            rlim_cur: n as libc::rlim_t,
            rlim_max: n as libc::rlim_t,
        });
        let fsize = limits.file_size.map(|n| libc::rlimit {
            rlim_cur: n as libc::rlim_t,
            rlim_max: libc::RLIM_INFINITY,
        });
        // SAFETY: setrlimit is async-signal-safe and touches only the limits.
        unsafe {
            cmd.pre_exec(move || {
                for (resource, limit) in [(libc::RLIMIT_NOFILE, nofile), (libc::RLIMIT_FSIZE, fsize)] {
                    if let Some(limit) = limit
                        && libc::setrlimit(resource, &limit) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().expect("spawn cfsign serve");
    let logs = Arc::new(Logs::default());
    let pumps = vec![
        pump(child.stdout.take().unwrap(), Arc::clone(&logs), false),
        pump(child.stderr.take().unwrap(), Arc::clone(&logs), true),
    ];
    (child, logs, pumps)
}

/// Runs `cfsign serve` on a config expected to be refused: waits (bounded)
/// for the exit and returns everything it printed.
pub fn serve_expecting_exit(config: &Path, timeout: Duration) -> Exited {
    serve_expecting_exit_with(config, &[], timeout)
}

/// As [`serve_expecting_exit`], with extra environment variables.
pub fn serve_expecting_exit_with(config: &Path, envs: &[(&str, &str)], timeout: Duration) -> Exited {
    let (child, logs, pumps) = spawn_serve(config, envs, Limits::default());
    let late = || format!("cfsign serve did not exit within {timeout:?} on a bad config");
    collect_exit(child, &logs, pumps, timeout, late)
}

/// Waits (bounded) for `child` to exit, then for its output `pumps`, and
/// returns what it printed; past `timeout` kills it and panics with `late()`.
fn collect_exit(
    mut child: Child,
    logs: &Logs,
    pumps: impl IntoIterator<Item = JoinHandle<()>>,
    timeout: Duration,
    late: impl FnOnce() -> String,
) -> Exited {
    let status = match wait_exit(&mut child, timeout) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}", late());
        }
    };
    for p in pumps {
        let _ = p.join();
    }
    let c = logs.inner.lock().unwrap();
    Exited {
        status,
        stdout: c.stdout.clone(),
        stderr: c.stderr.clone(),
    }
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a short-lived `cfsign` subcommand with a deadline.
pub fn run_cfsign(args: &[&str], timeout: Duration) -> Exited {
    run(Command::new(env!("CARGO_BIN_EXE_cfsign")), args, timeout)
}

/// As [`run_cfsign`], with exactly `envs` of the `CFSIGN_*` and `RUST_LOG`
/// variables (none of this process's), as a container's `ENV` would give.
pub fn run_cfsign_env(args: &[&str], envs: &[(&str, &str)], timeout: Duration) -> Exited {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cfsign"));
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("CFSIGN_") || name_text == "RUST_LOG" {
            cmd.env_remove(&name);
        }
    }
    cmd.envs(envs.iter().copied());
    run(cmd, args, timeout)
}

fn run(mut cmd: Command, args: &[&str], timeout: Duration) -> Exited {
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cfsign");
    let logs = Arc::new(Logs::default());
    let pumps = [
        pump(child.stdout.take().unwrap(), Arc::clone(&logs), false),
        pump(child.stderr.take().unwrap(), Arc::clone(&logs), true),
    ];
    collect_exit(child, &logs, pumps, timeout, || {
        format!("cfsign {args:?} did not exit within {timeout:?}")
    })
}

impl Server {
    /// Writes the HMAC secret and [`TestConfig::binary`], as `change` leaves
    /// it, into a new temporary directory and starts the binary on it.
    pub fn start(change: impl FnOnce(&mut TestConfig)) -> Self {
        Self::start_with(&[], change)
    }

    /// As [`Server::start`], with extra environment variables (`RUST_LOG`).
    pub fn start_with(envs: &[(&str, &str)], change: impl FnOnce(&mut TestConfig)) -> Self {
        let (dir, config) = config_dir(change);
        Self::start_in(dir, config, envs)
    }

    /// Starts the binary on an existing directory and config file.
    pub fn start_in(dir: tempfile::TempDir, config: PathBuf, envs: &[(&str, &str)]) -> Self {
        Self::start_in_with_limits(dir, config, envs, Limits::default())
    }

    /// As [`Server::start_in`], the child under `limits`: for tests of
    /// descriptor exhaustion and of a full disk.
    pub fn start_in_with_limits(
        dir: tempfile::TempDir,
        config: PathBuf,
        envs: &[(&str, &str)],
        limits: Limits,
    ) -> Self {
        let (child, logs, pumps) = spawn_serve(&config, envs, limits);
        let mut server = Self {
            child: Some(child),
            status: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            base: String::new(),
            metrics_base: None,
            dir,
            config,
            logs,
            pumps,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let listening = loop {
            if let Some(line) = server.find_stdout(|v| v["message"] == "cfsign listening") {
                break line;
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                server.status = Some(status);
                panic!(
                    "cfsign serve exited ({status}) before listening:\n{}",
                    server.all_logs()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "cfsign serve did not listen within {START_TIMEOUT:?}:\n{}",
                    server.all_logs()
                );
            }
            server.wait_change(Duration::from_millis(50));
        };
        let local = listening["local"].as_str().expect("`local` in the listening line");
        server.addr = local.parse().expect("a socket address");
        server.base = format!("http://{}", server.addr);
        // Logged before "cfsign listening", when `metrics_listen` is set.
        server.metrics_base = server
            .find_stdout(|v| v["message"] == "metrics listening")
            .and_then(|v| v["local"].as_str().map(|a| format!("http://{a}")));
        server
    }

    /// Stops reading the child's stdout (`true`) or resumes (`false`).
    pub fn stall_stdout(&self, stalled: bool) {
        *self.logs.stalled.lock().unwrap() = stalled;
        self.logs.unstalled.notify_all();
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("child").id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/metrics` on the separate metrics listener (`metrics_listen`).
    pub fn metrics_url(&self) -> String {
        let base = self
            .metrics_base
            .as_deref()
            .expect("this server's configuration sets no metrics_listen");
        format!("{base}/metrics")
    }

    /// The Prometheus exposition text from `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let response = client().get(self.metrics_url()).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {}", self.metrics_url());
        response.text().await.unwrap()
    }

    /// Sends `signal` (e.g. "TERM", "HUP") with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for the child to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.status {
            return Some(s);
        }
        let status = wait_exit(self.child.as_mut().expect("child"), timeout)?;
        self.status = Some(status);
        Some(status)
    }

    /// Waits for the exit and for both output streams to be drained, so the
    /// captured logs are complete. Panics after `timeout`.
    pub fn stop_and_collect(&mut self, timeout: Duration) -> ExitStatus {
        if self.status.is_none() && self.child.as_mut().unwrap().try_wait().unwrap().is_none() {
            self.signal("TERM");
        }
        let status = self
            .wait_exit(timeout)
            .unwrap_or_else(|| panic!("cfsign did not exit within {timeout:?}:\n{}", self.all_logs()));
        self.join_pumps(timeout);
        status
    }

    fn join_pumps(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut c = self.logs.inner.lock().unwrap();
        while !(c.stdout_closed && c.stderr_closed) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "output streams still open after the exit");
            c = self.logs.changed.wait_timeout(c, left).unwrap().0;
        }
        drop(c);
        for p in self.pumps.drain(..) {
            let _ = p.join();
        }
    }

    fn wait_change(&self, timeout: Duration) {
        let c = self.logs.inner.lock().unwrap();
        let _ = self.logs.changed.wait_timeout(c, timeout).unwrap();
    }

    /// Every stdout line so far.
    pub fn stdout(&self) -> Vec<String> {
        self.logs.inner.lock().unwrap().stdout.clone()
    }

    /// Every stderr line so far.
    pub fn stderr(&self) -> Vec<String> {
        self.logs.inner.lock().unwrap().stderr.clone()
    }

    /// Both streams, for failure messages and "never logged" checks.
    pub fn all_logs(&self) -> String {
        let c = self.logs.inner.lock().unwrap();
        let mut text = c.stdout.join("\n");
        text.push_str("\n--- stderr ---\n");
        text.push_str(&c.stderr.join("\n"));
        text
    }

    /// Stdout lines that are JSON objects.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }

    /// Audit events on stdout (the default `[audit]` sink): the lines with
    /// the schema version `"audit"`.
    pub fn audit_events(&self) -> Vec<Value> {
        self.json_lines()
            .into_iter()
            .filter(|v| v.get("audit").is_some())
            .collect()
    }

    fn find_stdout(&self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let c = self.logs.inner.lock().unwrap();
        c.stdout
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| pred(v))
    }

    /// Waits (bounded, blocking the thread) for a JSON stdout line matching `pred`.
    pub fn wait_log(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.find_stdout(&pred) {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("no matching log line within {timeout:?}:\n{}", self.all_logs());
            }
            self.wait_change(left.min(Duration::from_millis(50)));
        }
    }

    /// As [`Server::wait_log`], for async tests (never blocks the runtime).
    pub async fn wait_log_async(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.find_stdout(&pred) {
                return v;
            }
            if Instant::now() >= deadline {
                panic!("no matching log line within {timeout:?}:\n{}", self.all_logs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the "reload refused" error a SIGHUP with a bad key causes,
    /// and checks that it names the key file and its key pair id.
    pub async fn expect_reload_refused(&self, key_path: &Path, key_pair_id: &str) -> Value {
        let error = self
            .wait_log_async(Duration::from_secs(5), |v| {
                v["level"] == "ERROR" && v["message"].as_str().is_some_and(|m| m.contains("reload refused"))
            })
            .await;
        let problem = error["problem"].as_str().unwrap_or_default();
        assert!(problem.contains(&key_path.display().to_string()), "{error}");
        assert!(problem.contains(key_pair_id), "{error}");
        error
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.status.is_none() && matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}
