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
//!   connection closed. Request *headers* trickled a byte at a time are NOT
//!   timed out: `axum::serve` builds hyper's connection without a timer, so
//!   hyper's 30 s `header_read_timeout` default is silently disabled and
//!   `request_timeout` (a tower layer) only starts once the headers are
//!   complete; and one connection stalled mid-head holds every SIGTERM
//!   for the whole `shutdown_grace`. See `slow_request_headers_are_never_timed_out`
//!   and `a_stalled_request_head_holds_shutdown_for_the_whole_grace_period`.

#![cfg(unix)]

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use cfsign::signing::{KeySpec, PrivateKey, RequestContext, verify_url};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use support::{Server, assert_url_valid, client, key_file, key_pair_id_of, post, token, toml_path};

const KEY_A: &str = "KAAAAAAAAAAAAA";

fn key_entry(path: &Path) -> String {
    format!(
        r#"{{ key_pair_id = "{KEY_A}", private_key_file = "{}", active = true }}"#,
        toml_path(path)
    )
}

/// One distribution signed with `key_path`, and a grant for the `mailer`.
fn reports(key_path: &Path) -> String {
    format!(
        r#"
[[distributions]]
name = "reports"
domain = "https://cdn.example.com"
path_prefix = "/uploads"
keys = [{}]

[[grants]]
name = "mailer"
subjects = ["mailer"]
distributions = ["reports"]
allow = ["/uploads/*"]
max_ttl = "7d"
default_ttl = "1h"
"#,
        key_entry(key_path)
    )
}

fn mailer() -> String {
    token(json!({ "sub": "mailer" }))
}

fn url_body(name: &str) -> Value {
    json!({ "key": format!("uploads/{name}.pdf"), "ttl_seconds": 600 })
}

/// Value of the Prometheus sample `name{...labels...}` (0 when absent).
async fn metric(server: &Server, name: &str, label: &str) -> f64 {
    let text = server.metrics_text().await;
    text.lines()
        .filter(|l| (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
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

// ---------------------------------------------------------------- JWKS ----

struct JwtKey {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
}

fn jwt_key(kid: &str, pem: &[u8]) -> JwtKey {
    let key = EncodingKey::from_rsa_pem(pem).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    JwtKey {
        kid: kid.to_owned(),
        key,
        jwk,
    }
}

fn rs256(k: &JwtKey, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let claims = json!({ "sub": "mailer", "iss": support::ISSUER, "aud": support::AUDIENCE,
                         "exp": support::now() + 600, "iat": support::now() });
    encode(&header, &claims, &k.key).unwrap()
}

fn jwks_doc(keys: &[&JwtKey]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    })
    .unwrap()
}

/// What the fake identity provider answers at /jwks.json.
#[derive(Clone)]
enum Jwks {
    Good(String),
    Garbage,
    Status500,
    /// Answers `doc` only after this delay (longer than the 5 s fetch timeout).
    Slow(Duration, String),
}

struct Idp {
    url: String,
    mode: Arc<Mutex<Jwks>>,
    hits: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Idp {
    async fn start(initial: Jwks) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(initial));
        let hits = Arc::new(AtomicUsize::new(0));
        let (m, h) = (Arc::clone(&mode), Arc::clone(&hits));
        let app = Router::new().route(
            "/jwks.json",
            get(move || {
                let (m, h) = (Arc::clone(&m), Arc::clone(&h));
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let mode = m.lock().unwrap().clone();
                    match mode {
                        Jwks::Good(doc) => (StatusCode::OK, doc),
                        Jwks::Garbage => (StatusCode::OK, "<html>not a JWKS {{{".to_owned()),
                        Jwks::Status500 => (StatusCode::INTERNAL_SERVER_ERROR, "oops".to_owned()),
                        Jwks::Slow(delay, doc) => {
                            tokio::time::sleep(delay).await;
                            (StatusCode::OK, doc)
                        }
                    }
                }
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            url,
            mode,
            hits,
            _stop: tx,
        }
    }

    fn set(&self, mode: Jwks) {
        *self.mode.lock().unwrap() = mode;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// `cfsign serve` whose only JWT key source is `jwks_url` (refreshed hourly,
/// so only an unknown `kid` makes it fetch again, at once: min_refetch 0 s).
fn start_with_jwks(url: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let text = format!(
        r#"
[server]
listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:0"
request_timeout = "15s"
shutdown_grace = "5s"

[auth]
issuers = ["{issuer}"]
audiences = ["{audience}"]
algorithms = ["RS256"]
jwks_url = "{url}"
jwks_refresh = "1h"
jwks_min_refetch = "0s"

{body}
"#,
        issuer = support::ISSUER,
        audience = support::AUDIENCE,
        body = reports(&key_file("rsa2048.pem")),
    );
    support::write_atomic(&config, &text);
    Server::start_in(dir, config, &[])
}

fn is_refresh_failure(v: &Value) -> bool {
    v["level"] == "WARN" && v["message"] == "JWKS refresh failed; keeping the last good keys"
}

fn refresh_failures(server: &Server) -> Vec<Value> {
    server.json_lines().into_iter().filter(is_refresh_failure).collect()
}

/// Waits (bounded) for the `n`-th refresh failure log line and returns it.
async fn wait_refresh_failure(server: &Server, n: usize, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let found = refresh_failures(server);
        if found.len() >= n {
            return found[n - 1].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no refresh failure #{n} within {timeout:?}:\n{}",
            server.all_logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// POST with `token`; returns the status.
async fn status_with(server: &Server, token: &str, request_id: &str) -> u16 {
    post(
        &client(),
        &server.url("/v1/signed-urls"),
        token,
        request_id,
        &url_body(request_id),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_garbage_or_500_on_refresh_keeps_the_last_good_keys() {
    let k1 = jwt_key("k1", &std::fs::read(key_file("rsa2048.pem")).unwrap());
    let pem = PrivateKey::generate(KeySpec::Rsa2048).unwrap().to_pkcs8_pem().unwrap();
    let k2 = jwt_key("k2", pem.as_bytes());
    let idp = Idp::start(Jwks::Good(jwks_doc(&[&k1]))).await;
    let mut server = start_with_jwks(&idp.url);
    server
        .wait_log_async(Duration::from_secs(5), |v| v["message"] == "JWKS loaded")
        .await;
    let good = rs256(&k1, &k1.kid);
    sign_ok(&server, &good, "jwks-before").await;
    let failures_at_start = metric(&server, "cfsign_jwks_refresh_total", r#"result="failure""#).await;
    assert_eq!(failures_at_start, 0.0);
    // The fetch made at start is counted (it once was not: it ran before the
    // metrics recorder was installed) and dated.
    let at_start = metric(&server, "cfsign_jwks_refresh_total", r#"result="success""#).await;
    assert_eq!(at_start, 1.0, "the fetch at start is not counted");
    let last = metric(&server, "cfsign_jwks_last_success_timestamp_seconds", "").await;
    assert!(last >= (support::now() - 30) as f64, "last success at start: {last}");

    for (round, (mode, expect)) in [(Jwks::Garbage, ""), (Jwks::Status500, "HTTP 500")]
        .into_iter()
        .enumerate()
    {
        let n = round + 1;
        idp.set(mode);
        let hits = idp.hits();
        // A token naming an unknown kid: refused, and it asks for a refetch.
        assert_eq!(
            status_with(&server, &rs256(&k1, "k-unknown"), &format!("unknown-{n}")).await,
            401
        );
        let line = wait_refresh_failure(&server, n, Duration::from_secs(5)).await;
        assert!(idp.hits() > hits, "no refetch was made");
        let error = line["error"].as_str().unwrap_or_default();
        assert!(!error.is_empty() && error.contains(expect), "{line}");
        wait_metric(
            &server,
            "cfsign_jwks_refresh_total",
            r#"result="failure""#,
            n as f64,
            Duration::from_secs(2),
        )
        .await;
        // The last good keys keep working; the service stays ready.
        sign_ok(&server, &good, &format!("jwks-after-{n}")).await;
        let ready = client().get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
    }

    // The provider recovers and publishes k2: picked up on the next refetch.
    idp.set(Jwks::Good(jwks_doc(&[&k1, &k2])));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut i = 0;
    while status_with(&server, &rs256(&k2, &k2.kid), &format!("k2-{i}")).await != 200 {
        assert!(Instant::now() < deadline, "k2 never accepted:\n{}", server.all_logs());
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sign_ok(&server, &good, "jwks-k1-still").await;
    // The fetch at start and the one that brought k2.
    let successes = metric(&server, "cfsign_jwks_refresh_total", r#"result="success""#).await;
    assert!(successes >= 2.0, "jwks successes: {successes}");
    let last = metric(&server, "cfsign_jwks_last_success_timestamp_seconds", "").await;
    assert!(last >= (support::now() - 10) as f64, "last success: {last}");

    let status = server.stop_and_collect(Duration::from_secs(10));
    assert!(status.success(), "exit {status}:\n{}", server.all_logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_slower_than_the_fetch_timeout_keeps_the_last_good_keys_and_blocks_nobody() {
    // The fetch timeout is a 5 s constant: this test takes about 6 s.
    let k1 = jwt_key("k1", &std::fs::read(key_file("rsa2048.pem")).unwrap());
    let doc = jwks_doc(&[&k1]);
    let idp = Idp::start(Jwks::Good(doc.clone())).await;
    let mut server = start_with_jwks(&idp.url);
    server
        .wait_log_async(Duration::from_secs(5), |v| v["message"] == "JWKS loaded")
        .await;
    let good = rs256(&k1, &k1.kid);
    sign_ok(&server, &good, "slow-before").await;

    idp.set(Jwks::Slow(Duration::from_secs(8), doc));
    let hits = idp.hits();
    let asked = Instant::now();
    assert_eq!(
        status_with(&server, &rs256(&k1, "k-unknown"), "slow-unknown").await,
        401
    );
    // While the refetch hangs, callers with known keys are served at once.
    let deadline = Instant::now() + Duration::from_secs(2);
    while idp.hits() == hits {
        assert!(Instant::now() < deadline, "no refetch was made");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..5 {
        let t = Instant::now();
        sign_ok(&server, &good, &format!("slow-during-{i}")).await;
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "a request waited {:?}",
            t.elapsed()
        );
    }
    if asked.elapsed() < Duration::from_millis(4500) {
        assert!(refresh_failures(&server).is_empty(), "gave up before the timeout");
    }
    let line = wait_refresh_failure(&server, 1, Duration::from_secs(8)).await;
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(4500), "failed after {took:?}: {line}");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|e| e.contains("JWKS request failed")),
        "{line}"
    );
    wait_metric(
        &server,
        "cfsign_jwks_refresh_total",
        r#"result="failure""#,
        1.0,
        Duration::from_secs(2),
    )
    .await;
    sign_ok(&server, &good, "slow-after").await;
    let status = server.stop_and_collect(Duration::from_secs(10));
    assert!(status.success(), "exit {status}:\n{}", server.all_logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_failing_at_start_is_counted_and_the_service_is_not_ready_until_it_loads() {
    let k1 = jwt_key("k1", &std::fs::read(key_file("rsa2048.pem")).unwrap());
    let idp = Idp::start(Jwks::Status500).await;
    let mut server = start_with_jwks(&idp.url);
    server
        .wait_log_async(Duration::from_secs(5), |v| {
            v["level"] == "ERROR" && v["message"] == "JWKS could not be loaded; not ready until it is"
        })
        .await;
    let ready = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        metric(&server, "cfsign_jwks_refresh_total", r#"result="failure""#).await,
        1.0,
        "the failed fetch at start is not counted"
    );
    // The provider comes back; the first token (an unknown kid) asks for it.
    idp.set(Jwks::Good(jwks_doc(&[&k1])));
    let good = rs256(&k1, &k1.kid);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut i = 0;
    while status_with(&server, &good, &format!("late-{i}")).await != 200 {
        assert!(Instant::now() < deadline, "never loaded:\n{}", server.all_logs());
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ready = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        metric(&server, "cfsign_jwks_refresh_total", r#"result="success""#).await,
        1.0
    );
    let status = server.stop_and_collect(Duration::from_secs(10));
    assert!(status.success(), "exit {status}:\n{}", server.all_logs());
}

// ----------------------------------------------------------- key files ----

/// Starts on a copy of rsa2048.pem at `dir/reports.pem`, signs once, breaks
/// the file with `break_it`, and checks: signing continues; SIGHUP is refused
/// with an error naming the file; the old key keeps signing.
async fn key_file_broken_after_start(what: &str, break_it: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hmac.secret"), support::HMAC_SECRET).unwrap();
    let key = dir.path().join("reports.pem");
    std::fs::copy(key_file("rsa2048.pem"), &key).unwrap();
    let config = dir.path().join("config.toml");
    support::write_atomic(&config, &support::config_text(dir.path(), "5s", &reports(&key)));
    let mut server = Server::start_in(dir, config, &[]);
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

// ------------------------------------------------------------ full disk ----

/// A loopback address nobody listens on right now (bound, then released).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// A `cfsign serve` whose stdout/stderr go where the test says (not to the
/// harness's readers), killed on drop.
struct Detached {
    child: Option<std::process::Child>,
    base: String,
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
    /// Starts with debug logging (many writes) and waits for `/healthz`.
    async fn start(dir: &Path, stdout: Stdio, stderr: Stdio) -> Self {
        std::fs::write(dir.join("hmac.secret"), support::HMAC_SECRET).unwrap();
        let config = dir.join("config.toml");
        support::write_atomic(
            &config,
            &support::config_text(dir, "5s", &reports(&key_file("rsa2048.pem"))),
        );
        let addr = free_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_cfsign"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", &addr.to_string(), "--log-format", "json"])
            .env_remove("CFSIGN_LISTEN")
            .env_remove("CFSIGN_LOG_FORMAT")
            .env_remove("CFSIGN_CONFIG")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut me = Detached {
            child: Some(child),
            base: format!("http://{addr}"),
        };
        let http = client();
        let deadline = Instant::now() + support::START_TIMEOUT;
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
    }

    /// SIGTERM, then exit 0 within 10 s.
    fn stop(&mut self) {
        let child = self.child.as_mut().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = support::wait_exit(child, Duration::from_secs(10)).expect("no exit 10 s after SIGTERM");
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

// ---------------------------------------------------------------- clock ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttls_are_computed_from_the_clock_on_each_request() {
    let mut server = Server::start("5s", &reports(&key_file("rsa2048.pem")));
    let t = mailer();
    let ttl = 600;
    let mut seen = Vec::new();
    for i in 0..2 {
        if i == 1 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let before = support::now();
        let (status, _, body) = post(
            &client(),
            &server.url("/v1/signed-urls"),
            &t,
            &format!("clock-{i}"),
            // The same object and TTL both times.
            &json!({ "key": "uploads/clock.pdf", "ttl_seconds": ttl }),
        )
        .await;
        let after = support::now();
        assert_eq!(status, 200, "{body}");
        let expires = body["expires"].as_i64().unwrap();
        assert!(
            (before + ttl..=after + ttl).contains(&expires),
            "expires {expires} not now + {ttl} (now in {before}..={after})"
        );
        let url = body["url"].as_str().unwrap();
        assert!(url.contains(&format!("Expires={expires}&")), "{url}");
        assert_url_valid(url, KEY_A, "rsa2048.pub.pem");
        seen.push((expires, url.to_owned()));
    }
    // 1.1 s apart: 1 s later (2 when the second boundaries fall that way),
    // so a new URL, not the cached signature of the first one.
    let delta = seen[1].0 - seen[0].0;
    assert!((1..=2).contains(&delta), "expiries {} then {}", seen[0].0, seen[1].0);
    assert_ne!(seen[0].1, seen[1].1);
    let status = server.stop_and_collect(Duration::from_secs(10));
    assert!(status.success());
}

// ------------------------------------------------------ SIGTERM + load ----

/// What a raw HTTP/1.1 caller saw (the texts are read through `Debug`).
#[derive(Debug)]
#[allow(dead_code)]
enum Outcome {
    /// connect() refused (or reset during the handshake): nobody listens any more.
    Refused,
    /// Connected, then closed or reset before a single byte of answer.
    NoAnswer(String),
    /// A complete response (Content-Length satisfied).
    Complete(u16, String),
    /// Some bytes of an answer, then the connection ended.
    Truncated(String),
    /// Anything else (connect error other than refusal, timeout).
    Failed(String),
}

/// POSTs `body` on a fresh connection (`Connection: close`) and reads until
/// the server closes it.
async fn raw_post(addr: SocketAddr, token: &str, request_id: &str, body: &str) -> Outcome {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        // A reset during the handshake (the listener closed meanwhile) is a
        // refusal too: not a byte of the request was sent.
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset) => {
            return Outcome::Refused;
        }
        Err(e) => return Outcome::Failed(format!("connect: {e}")),
    };
    let request = format!(
        "POST /v1/signed-urls HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nx-request-id: {request_id}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return Outcome::NoAnswer(format!("write: {e}"));
    }
    let mut data = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut data)).await;
    let ended = match read {
        Err(_) => return Outcome::Failed(format!("no end of answer in 20 s; got {} bytes", data.len())),
        Ok(Ok(_)) => "eof".to_owned(),
        Ok(Err(e)) => format!("read: {e}"),
    };
    if data.is_empty() {
        return Outcome::NoAnswer(ended);
    }
    match complete_response(&data) {
        Some((status, body)) => Outcome::Complete(status, body),
        None => Outcome::Truncated(format!("{ended}: {:?}", String::from_utf8_lossy(&data))),
    }
}

/// Status and body of exactly one complete HTTP/1.1 response (nothing
/// missing from the body, nothing after it).
fn complete_response(data: &[u8]) -> Option<(u16, String)> {
    let (status, head, body) = support::parse_response(data)?;
    (head.len() + 4 + body.len() == String::from_utf8_lossy(data).len()).then_some((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_completely_or_refuses_and_exits_0() {
    const CALLERS: usize = 300;
    // tower_http=debug: a "started processing request" line per request
    // that reached the service, with its request id.
    let mut server = Server::start_with(
        "10s",
        &reports(&key_file("rsa2048.pem")),
        &[("RUST_LOG", "info,tower_http=debug")],
    );
    let addr = server.addr;
    let t = Arc::new(mailer());
    let outcomes: Arc<Mutex<Vec<(String, Outcome, bool)>>> = Arc::default();
    let completed = Arc::new(AtomicUsize::new(0));
    let sigterm_sent = Arc::new(AtomicBool::new(false));
    let stop_at = Instant::now() + Duration::from_secs(15);
    let mut callers = Vec::new();
    for c in 0..CALLERS {
        let (t, outcomes, completed, sigterm_sent) = (
            Arc::clone(&t),
            Arc::clone(&outcomes),
            Arc::clone(&completed),
            Arc::clone(&sigterm_sent),
        );
        callers.push(tokio::spawn(async move {
            for n in 0.. {
                let id = format!("load-{c}-{n}");
                let body = url_body(&id).to_string();
                let after = sigterm_sent.load(Ordering::SeqCst);
                let outcome = raw_post(addr, &t, &id, &body).await;
                completed.fetch_add(1, Ordering::Relaxed);
                let refused = matches!(outcome, Outcome::Refused);
                outcomes.lock().unwrap().push((id, outcome, after));
                if refused || Instant::now() >= stop_at {
                    break;
                }
            }
        }));
    }
    // Let the load build up: every caller has had at least one answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    while completed.load(Ordering::Relaxed) < 2 * CALLERS {
        assert!(
            Instant::now() < deadline,
            "the load does not progress:\n{}",
            server.all_logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sigterm_sent.store(true, Ordering::SeqCst);
    let sigterm = Instant::now();
    server.signal("TERM");
    for c in callers {
        tokio::time::timeout(Duration::from_secs(20), c)
            .await
            .expect("a caller never finished")
            .unwrap();
    }
    let exit = server
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", server.all_logs()));
    let exited_after = sigterm.elapsed();
    let logs = {
        server.stop_and_collect(Duration::from_secs(5));
        server.all_logs()
    };
    assert!(exit.success(), "exit {exit}");
    assert!(!logs.contains("grace period over"), "requests abandoned");

    let outcomes = outcomes.lock().unwrap();
    let pk = support::public("rsa2048.pub.pem");
    let (mut ok, mut ok_after, mut unavailable, mut refused, mut no_answer) = (0, 0, 0, 0, Vec::new());
    let mut bad = Vec::new();
    for (id, outcome, after) in outcomes.iter() {
        match outcome {
            Outcome::Complete(200, body) => {
                let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{id}: {e}: {body}"));
                let url = v["url"].as_str().unwrap_or_else(|| panic!("{id}: {body}"));
                let check = verify_url(
                    url,
                    &(KEY_A, &pk),
                    RequestContext {
                        at: support::now(),
                        client_ip: None,
                    },
                );
                assert!(check.failure.is_none(), "{id}: {url}: {:?}", check.failure);
                assert!(url.contains(&format!("/uploads/{id}.pdf?")), "{id}: {url}");
                ok += 1;
                ok_after += usize::from(*after);
            }
            Outcome::Complete(503, _) => unavailable += 1,
            Outcome::Refused => refused += 1,
            Outcome::NoAnswer(why) => no_answer.push((id.clone(), why.clone())),
            other => bad.push(format!("{id}: {other:?}")),
        }
    }
    eprintln!(
        "{} requests: {ok} x 200 ({ok_after} sent after SIGTERM), {unavailable} x 503, {refused} refused, \
         {} closed before any answer; {exit} {exited_after:?} after SIGTERM",
        outcomes.len(),
        no_answer.len()
    );
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for (_, why) in &no_answer {
        *reasons.entry(why.as_str()).or_default() += 1;
    }
    eprintln!("closed before any answer: {reasons:?}");
    assert!(bad.is_empty(), "truncated or unexpected answers:\n{}", bad.join("\n"));
    assert!(ok >= 100, "only {ok} x 200");
    assert!(refused >= 1, "nobody saw the listener close");
    // A connection closed before any answer is acceptable only if the
    // service never saw that request: no log line (span or audit) names it.
    let seen: std::collections::HashSet<String> = server
        .json_lines()
        .iter()
        .flat_map(|e| [e["request_id"].as_str(), e["span"]["request_id"].as_str()])
        .flatten()
        .map(str::to_owned)
        .collect();
    assert!(seen.len() >= ok + unavailable, "request ids missing from the logs");
    for (id, why) in &no_answer {
        assert!(
            !seen.contains(id),
            "{id} reached the service but its answer was lost ({why})"
        );
    }
    // And every request the service issued a URL for was answered.
    let answered: std::collections::HashSet<&str> = outcomes
        .iter()
        .filter(|(_, o, _)| matches!(o, Outcome::Complete(200, _)))
        .map(|(id, _, _)| id.as_str())
        .collect();
    for e in server.audit_events() {
        if e["event"] == "issued" {
            let id = e["request_id"].as_str().unwrap_or_default();
            assert!(answered.contains(id), "{id} issued but never answered");
        }
    }
}

// --------------------------------------------------------- slow clients ----

/// Starts a server whose `request_timeout` is 1 s.
fn start_with_1s_timeout() -> Server {
    start_with_timeouts("2s")
}

/// `request_timeout` and `header_read_timeout` of 1 s, and `grace`.
fn start_with_timeouts(grace: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hmac.secret"), support::HMAC_SECRET).unwrap();
    let config = dir.path().join("config.toml");
    let text = support::config_text(dir.path(), grace, &reports(&key_file("rsa2048.pem"))).replace(
        r#"request_timeout = "15s""#,
        "request_timeout = \"1s\"\nheader_read_timeout = \"1s\"",
    );
    assert!(text.contains(r#"header_read_timeout = "1s""#));
    support::write_atomic(&config, &text);
    Server::start_in(dir, config, &[])
}

fn request_head(addr: SocketAddr, token: &str, request_id: &str, body_len: usize) -> String {
    format!(
        "POST /v1/signed-urls HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {body_len}\r\nx-request-id: {request_id}\r\n\r\n"
    )
}

/// What is readable right now: `None` = nothing yet (still open),
/// `Some(0)` = closed by the server, `Some(n)` = n bytes of answer.
fn peek_now(stream: &TcpStream) -> Option<usize> {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1];
    let r = match stream.peek(&mut buf) {
        Ok(n) => Some(n),
        Err(e) if e.kind() == ErrorKind::WouldBlock => None,
        Err(_) => Some(0),
    };
    stream.set_nonblocking(false).unwrap();
    r
}

/// Reads until EOF (or `timeout`); returns the bytes and whether EOF came.
fn read_until_closed(stream: &mut TcpStream, timeout: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + timeout;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (data, false);
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (data, true),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return (data, false),
            // A reset after the answer also frees the connection.
            Err(_) => return (data, true),
        }
    }
}

#[test]
fn slow_request_body_gets_408_after_request_timeout_and_the_connection_is_freed() {
    let server = start_with_1s_timeout();
    let body = url_body("slow-body").to_string();
    let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .write_all(request_head(server.addr, &mailer(), "slow-body-1", body.len()).as_bytes())
        .unwrap();
    let headers_sent = Instant::now();
    // The body, one byte every 200 ms (it would take ~10 s in all).
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (mut w, stop, body) = (stream.try_clone().unwrap(), Arc::clone(&stop), body.clone());
        std::thread::spawn(move || {
            let mut sent = 0;
            for b in body.as_bytes() {
                if stop.load(Ordering::SeqCst) || w.write_all(&[*b]).is_err() {
                    break;
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            sent
        })
    };
    let (data, closed) = read_until_closed(&mut stream, Duration::from_secs(5));
    let took = headers_sent.elapsed();
    stop.store(true, Ordering::SeqCst);
    let sent = writer.join().unwrap();
    let text = String::from_utf8_lossy(&data);
    let (status, problem) = complete_response(&data).unwrap_or_else(|| panic!("no complete answer: {text:?}"));
    assert_eq!(status, 408, "{text}");
    assert!(text.to_ascii_lowercase().contains("application/problem+json"), "{text}");
    let problem: Value = serde_json::from_str(&problem).unwrap();
    assert_eq!(problem["code"], "timeout", "{problem}");
    assert_eq!(problem["request_id"], "slow-body-1", "{problem}");
    assert!(
        closed,
        "the connection is still open {took:?} after the headers: {text}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "answered and closed after {took:?}"
    );
    assert!(sent < body.len(), "the whole body went through ({sent} bytes)");
}

#[test]
fn slow_request_headers_are_cut_off_after_header_read_timeout() {
    // A client trickling its request head (slowloris) is disconnected once
    // `server.header_read_timeout` (1 s here) has passed: cfsign runs hyper
    // with a timer (axum's own `serve` does not, which disables hyper's
    // header timeout: this test held such a connection open for ever then).
    let server = start_with_1s_timeout();
    let body = url_body("slow-head").to_string();
    let head = request_head(server.addr, &mailer(), "slow-head-1", body.len());
    let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    stream.set_nodelay(true).unwrap();
    let started = Instant::now();
    let mut cut_after = None;
    // Up to 20 bytes, one every 200 ms: 4 s, four times the header timeout.
    for b in &head.as_bytes()[..20] {
        if stream.write_all(&[*b]).is_err() || peek_now(&stream).is_some() {
            cut_after = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cut_after = cut_after.unwrap_or_else(|| panic!("still open {:?} into a trickled head", started.elapsed()));
    assert!(
        cut_after >= Duration::from_millis(800),
        "cut after {cut_after:?}, before the timeout"
    );
    assert!(cut_after < Duration::from_secs(3), "cut after {cut_after:?}");
    // Whatever the server sent before closing, it is not a signed URL.
    let (data, _) = read_until_closed(&mut stream, Duration::from_secs(3));
    let text = String::from_utf8_lossy(&data);
    assert!(!text.contains("Signature="), "{text}");
    eprintln!("a trickled request head was cut off after {cut_after:?} (header_read_timeout 1 s)");
}

/// Bytes the server has not read yet on its side of `client` (loopback,
/// IPv4), from /proc/net/tcp; `None` while that socket is not listed.
fn server_unread_bytes(server: SocketAddr, client: SocketAddr) -> Option<u64> {
    let hex = |a: SocketAddr| match a {
        SocketAddr::V4(v4) => format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port()),
        SocketAddr::V6(_) => unreachable!("IPv4 loopback only"),
    };
    let (local, remote) = (hex(server), hex(client));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&local.as_str()) && f.get(2) == Some(&remote.as_str()))
            .then(|| u64::from_str_radix(f[4].split_once(':')?.1, 16).ok())?
    })
}

#[test]
fn a_stalled_request_head_does_not_hold_shutdown_beyond_the_header_timeout() {
    // A connection stopped halfway through its request head would make
    // SIGTERM wait for the whole `shutdown_grace` if nothing timed that head
    // out; with `header_read_timeout` (1 s) the drain ends about then.
    let mut server = start_with_timeouts("5s");
    let mut stream = TcpStream::connect_timeout(&server.addr, Duration::from_secs(5)).unwrap();
    stream
        .write_all(b"POST /v1/signed-urls HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Wait until the service has read those bytes (accepted and parsing).
    let client_addr = stream.local_addr().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server_unread_bytes(server.addr, client_addr) != Some(0) {
        assert!(Instant::now() < deadline, "the service never read the partial head");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sigterm = Instant::now();
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(8))
        .unwrap_or_else(|| panic!("still running 8 s after SIGTERM:\n{}", server.all_logs()));
    let took = sigterm.elapsed();
    assert!(status.success(), "exit {status}");
    assert!(
        took < Duration::from_secs(3),
        "exited {took:?} after SIGTERM (grace 5 s)"
    );
    let logs = {
        server.stop_and_collect(Duration::from_secs(5));
        server.all_logs()
    };
    assert!(!logs.contains("grace period over"), "{logs}");
    eprintln!("a stalled request head delayed the shutdown by {took:?} (header timeout 1 s, grace 5 s)");
}
