//! Against a real OpenID provider: two `oidc-provider` instances (the
//! certified Node.js implementation, `tests/oidc/provider.mjs`) on loopback
//! as two issuers, each with a client-credentials client `mailer` issuing
//! JWT access tokens. cfsign discovers both, signs for the first one's
//! token, refuses the second one's token for the first one's grant, follows
//! a key rotation at the first without restart, and reports an outage of
//! the second while the first keeps working.
//!
//! The provider comes from `tests/oidc/setup.sh` (into `target/oidc/`, or
//! `$CFSIGN_OIDC_NODE_MODULES`); the test runs it when missing. Without node
//! or the package the test is skipped, except under CI where it fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::app::TestApp;
use crate::harness::config::{Grant, Issuer};
use crate::harness::tools::{in_ci, required};

const SETUP: &str = "tests/oidc/setup.sh";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn node_modules() -> Option<PathBuf> {
    let dir = std::env::var_os("CFSIGN_OIDC_NODE_MODULES")
        .map_or_else(|| manifest_dir().join("target/oidc/node/node_modules"), PathBuf::from);
    if !dir.join("oidc-provider/package.json").is_file() && std::env::var_os("CFSIGN_OIDC_NO_SETUP").is_none() {
        let _ = Command::new("bash").arg(manifest_dir().join(SETUP)).status();
    }
    dir.join("oidc-provider/package.json").is_file().then_some(dir)
}

/// One provider process; killed when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    /// Starts the provider on `port`, publishing `kids` (the first signs).
    async fn start(modules: &Path, port: u16, keys: &Path, kids: &str) -> Self {
        let child = Command::new("node")
            .arg(manifest_dir().join("tests/oidc/provider.mjs"))
            .args([
                modules.as_os_str(),
                port.to_string().as_ref(),
                keys.as_os_str(),
                kids.as_ref(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let issuer = format!("http://127.0.0.1:{port}");
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        let started = Instant::now();
        while reqwest::get(&discovery).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the provider did not come up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, issuer }
    }

    /// A fresh access token for `mailer` (client credentials).
    async fn token(&self) -> String {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", "mailer"),
            ("client_secret", "mailer-secret-for-tests-only"),
            ("scope", "sign"),
        ];
        let reply: Value = reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{reply}"))
            .to_owned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn sign(app: &TestApp, token: &str) -> u16 {
    app.post("/v1/signed-urls", Some(token), json!({ "key": "uploads/a.pdf" }))
        .await
        .status
        .as_u16()
}

/// Waits until `f` holds, for at most `limit`.
async fn eventually<F: std::future::Future<Output = bool>>(limit: Duration, what: &str, mut f: impl FnMut() -> F) {
    let started = Instant::now();
    while !f().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn two_real_providers_discovered_rotated_and_one_down() {
    if required("node", "the real OpenID provider test", "apt-get install nodejs npm").is_none() {
        return;
    }
    let Some(modules) = node_modules() else {
        assert!(
            !in_ci(),
            "oidc-provider not installed; CI must run `bash {SETUP}` first"
        );
        let _ = writeln!(std::io::stderr(), "skipped: oidc-provider not installed: run {SETUP}");
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = Provider::start(&modules, port_a, keys.path(), "a1").await;
    let b = Provider::start(&modules, port_b, keys.path(), "b1").await;
    let (issuer_a, issuer_b) = (a.issuer.clone(), b.issuer.clone());
    let app = TestApp::with_config(|c| {
        let discovered = |issuer: &str| Issuer {
            issuer: issuer.to_owned(),
            algorithms: vec!["ES256".into()],
            discovery: true,
            ..Issuer::default()
        };
        c.per_issuer(vec![discovered(&issuer_a), discovered(&issuer_b)]);
        c.auth.jwks_refresh = Some("1s".into());
        c.auth.jwks_min_refetch = Some("0s".into());
        c.grants = vec![Grant {
            issuers: vec![issuer_a.clone()],
            clients: vec!["mailer".into()],
            ..Grant::new("mailer-at-a", "reports", "/uploads/*", "1h")
        }];
    })
    .await;
    let ready = app.get("/readyz", None).await.json;
    assert_eq!(ready["issuers"][0]["ready"], true, "{ready}");
    assert_eq!(ready["issuers"][1]["ready"], true, "{ready}");

    // Signs for A's token; B's `mailer` is another caller: no grant.
    let old = a.token().await;
    assert_eq!(sign(&app, &old).await, 200);
    let from_b = b.token().await;
    let reply = app
        .post("/v1/signed-urls", Some(&from_b), json!({ "key": "uploads/a.pdf" }))
        .await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.json);

    // Rotation at A: a2 signs, a1 still published; then a1 withdrawn.
    drop(a);
    a = Provider::start(&modules, port_a, keys.path(), "a2,a1").await;
    let new = a.token().await;
    // The first sight of kid a2 asks for an early refetch (and is refused).
    eventually(
        Duration::from_secs(5),
        "a2 accepted after the refetch it caused",
        || async { sign(&app, &new).await == 200 },
    )
    .await;
    drop(a);
    let a = Provider::start(&modules, port_a, keys.path(), "a2").await;
    eventually(Duration::from_secs(10), "a1 dropped after a refresh", || async {
        sign(&app, &old).await == 401
    })
    .await;
    assert_eq!(sign(&app, &new).await, 200);

    // B goes down: reported, while A's callers keep signing.
    drop(b);
    eventually(Duration::from_secs(10), "B's outage reported", || async {
        let ready = app.get("/readyz", None).await.json;
        ready["issuers"][1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection refused"))
    })
    .await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status.as_u16(), 200, "{}", ready.json);
    assert_eq!(
        ready.json["issuers"][1]["ready"], true,
        "B keeps its last good keys: {}",
        ready.json
    );
    assert_eq!(
        sign(&app, &from_b).await,
        403,
        "B's token still verifies (and is still not granted)"
    );
    assert_eq!(sign(&app, &a.token().await).await, 200);
}
