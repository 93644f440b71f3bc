//! `cfsign dev` for a frontend developer (issue 15, item 2): browser origins
//! allowed by flag or by `CFSIGN_CORS__ALLOWED_ORIGINS`, a state directory
//! that keeps the key, the secret and so the tokens across restarts, and
//! `cfsign dev token` minting tokens for any claims.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::binary::run_cfsign_env;
use crate::harness::net::client;

const WAIT: Duration = Duration::from_secs(20);

/// A running `cfsign dev` on a free loopback port; killed on drop.
struct Dev {
    child: Child,
    base: String,
}

impl Dev {
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Dev {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cfsign"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CFSIGN_") {
                cmd.env_remove(&name);
            }
        }
        cmd.args(["dev", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn cfsign dev");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["message"] == "cfsign dev listening"
                {
                    let _ = tx.send(v["local"].as_str().unwrap_or_default().to_owned());
                }
            }
        });
        let local = rx.recv_timeout(WAIT).expect("cfsign dev did not listen");
        Dev {
            child,
            base: format!("http://{local}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mint(state: &Path, extra: &[&str]) -> String {
    let mut args = vec!["dev", "--state-dir", state.to_str().unwrap(), "token"];
    args.extend_from_slice(extra);
    let out = run_cfsign_env(&args, &[], WAIT);
    assert_eq!(out.status.code(), Some(0), "{:?}", out.stderr);
    assert_eq!(out.stdout.len(), 1, "one line, the token: {:?}", out.stdout);
    out.stdout[0].clone()
}

async fn sign(dev: &Dev, token: &str) -> (u16, Value) {
    let r = client()
        .post(dev.url("/v1/signed-urls"))
        .bearer_auth(token)
        .json(&json!({ "key": "uploads/a.pdf" }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn dev_allows_the_browser_origins_it_is_given() {
    let dev = Dev::start(
        &[
            "--cors-origin",
            "http://localhost:5173",
            "--cors-origin",
            "http://127.0.0.1:5173",
        ],
        &[("CFSIGN_CORS__ALLOWED_ORIGINS", r#"["http://localhost:3000"]"#)],
    );
    for (origin, allowed) in [
        ("http://localhost:5173", true),
        ("http://127.0.0.1:5173", true),
        ("http://localhost:3000", true),
        ("http://evil.test", false),
    ] {
        let r = client()
            .request(reqwest::Method::OPTIONS, dev.url("/v1/signed-urls"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
            .await
            .unwrap();
        let acao = r
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(acao.as_deref() == Some(origin), allowed, "{origin}: {acao:?}");
    }
    let bad = run_cfsign_env(&["dev", "--cors-origin", "*", "--listen", "127.0.0.1:0"], &[], WAIT);
    assert_eq!(bad.status.code(), Some(1), "{:?}", bad.stderr);
    assert!(
        bad.stderr.iter().any(|l| l.contains("--cors-origin")),
        "{:?}",
        bad.stderr
    );
}

#[tokio::test]
async fn a_state_dir_keeps_the_key_the_secret_and_the_tokens_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("dev-state");
    let state_arg = state.to_str().unwrap();
    let first = Dev::start(&["--state-dir", state_arg], &[]);
    let token = mint(&state, &[]);
    let (status, before) = sign(&first, &token).await;
    assert_eq!(status, 200, "{before}");
    drop(first);
    let again = Dev::start(&["--state-dir", state_arg], &[]);
    let (status, after) = sign(&again, &token).await;
    assert_eq!(status, 200, "a token from before the restart: {after}");
    assert_eq!(before["key_pair_id"], after["key_pair_id"]);
    // The same key: RSA PKCS#1 v1.5 is deterministic, so the same policy gives the same URL.
    let again_same = sign(&again, &token).await.1;
    assert_eq!(after["url"], again_same["url"]);
    let pem = std::fs::read(state.join("dev-key.pem")).unwrap();
    let public = cfsign::signing::PrivateKey::from_pem(&pem, None)
        .unwrap()
        .public_key()
        .unwrap();
    let verdict = cfsign::signing::verify_url(
        before["url"].as_str().unwrap(),
        &("KDEVMODE000001", &public),
        cfsign::signing::RequestContext {
            at: crate::harness::fixtures::now(),
            client_ip: None,
        },
    );
    assert!(verdict.is_valid(), "signed with the kept key: {:?}", verdict.failure);
}

#[tokio::test]
async fn dev_token_mints_tokens_for_any_claims() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let dev = Dev::start(&["--state-dir", state.to_str().unwrap()], &[]);
    let alice = mint(&state, &["--sub", "alice", "--group", "dev", "--ttl", "1h"]);
    assert_eq!(sign(&dev, &alice).await.0, 200, "group dev is granted");
    let editor = mint(&state, &["--sub", "alice", "--group", "editors", "--scope", "x"]);
    assert_eq!(sign(&dev, &editor).await.0, 403, "no dev grant for group editors");
    let me = client()
        .get(dev.url("/v1/grants/me"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let no_state = run_cfsign_env(&["dev", "token", "--sub", "alice"], &[], WAIT);
    assert_eq!(no_state.status.code(), Some(2), "{:?}", no_state.stderr);
    assert_eq!(no_state.stderr.len(), 1, "one line: {:?}", no_state.stderr);
    assert!(no_state.stderr[0].contains("--state-dir"), "{:?}", no_state.stderr);
}

/// The README's `/v1/verify` example, run against `cfsign dev` as the
/// README runs it, answers the reason the README shows.
#[tokio::test]
async fn the_readme_verify_example_answers_what_the_readme_shows() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let url = "https://d111111abcdef8.cloudfront.net/uploads/a.pdf?Expires=1&Signature=x&Key-Pair-Id=KDEVMODE000001";
    assert!(readme.contains(url), "the README's example URL changed");
    let state = tempfile::tempdir().unwrap();
    let dev = Dev::start(&["--state-dir", state.path().to_str().unwrap()], &[]);
    let token = mint(state.path(), &[]);
    let verdict: Value = client()
        .post(dev.url("/v1/verify"))
        .bearer_auth(&token)
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reason = verdict["reason"].as_str().unwrap();
    assert!(
        readme.contains(&format!("{{\"valid\":false,\"reason\":\"{reason}\"")),
        "the README should show {reason}: {verdict}"
    );
}

#[tokio::test]
async fn dev_demonstrates_per_user_folders() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let dev = Dev::start(&["--state-dir", state.to_str().unwrap()], &[]);
    let alice = mint(&state, &["--sub", "alice", "--scope", "files"]);
    let post = |key: &'static str| {
        client()
            .post(dev.url("/v1/signed-urls"))
            .bearer_auth(&alice)
            .json(&json!({ "key": key }))
            .send()
    };
    assert_eq!(post("users/alice/notes.pdf").await.unwrap().status(), 200);
    assert_eq!(post("users/bob/notes.pdf").await.unwrap().status(), 403);
    let me: Value = client()
        .get(dev.url("/v1/grants/me"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["grants"][0]["name"], "own-folder", "{me}");
    assert_eq!(me["grants"][0]["allow"], json!(["/users/alice/*"]), "{me}");
}
