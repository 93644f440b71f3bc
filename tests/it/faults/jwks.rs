//! A JWKS endpoint that turns slow, bad or failing: the last good keys stay,
//! a WARN is logged and `cfsign_jwks_refresh_total{result="failure"}` counts;
//! requests are not slowed by a slow refresh; not ready until a first load.

use std::time::{Duration, Instant};

use cfsign::signing::KeySpec;
use serde_json::{Value, json};

use super::{metric, sign_ok, url_body, wait_metric};
use crate::harness::binary::Server;
use crate::harness::fixtures::{key_file, now};
use crate::harness::jwks::{Jwks, JwksServer, JwtKey, jwks_doc};
use crate::harness::net::{client, post};
use crate::harness::tokens::claims;

fn rs256(k: &JwtKey, kid: &str) -> String {
    k.token(Some(kid), &claims(json!({ "sub": "mailer" })))
}

/// `cfsign serve` whose only JWT key source is `jwks_url` (refreshed hourly,
/// so only an unknown `kid` makes it fetch again, at once: min_refetch 0 s).
fn start_with_jwks(url: &str) -> Server {
    Server::start(|c| {
        c.auth.algorithms = vec!["RS256".into()];
        c.auth.hmac_secret_files.clear();
        c.auth.jwks_url = Some(url.to_owned());
        c.auth.jwks_refresh = Some("1h".into());
        c.auth.jwks_min_refetch = Some("0s".into());
        c.add_uploads(&key_file("rsa2048.pem"));
    })
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
    let k1 = JwtKey::fixture("rsa2048.pem", "k1");
    let k2 = JwtKey::generate(KeySpec::Rsa2048, "k2");
    let idp = JwksServer::start(Jwks::Good(jwks_doc([&k1.jwk]))).await;
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
    assert!(last >= (now() - 30) as f64, "last success at start: {last}");

    for (round, (mode, expect)) in [(Jwks::Garbage, "not a JWKS document"), (Jwks::Status500, "HTTP 500")]
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
    idp.set(Jwks::Good(jwks_doc([&k1.jwk, &k2.jwk])));
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
    assert!(last >= (now() - 10) as f64, "last success: {last}");

    let status = server.stop_and_collect(Duration::from_secs(10));
    assert!(status.success(), "exit {status}:\n{}", server.all_logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_slower_than_the_fetch_timeout_keeps_the_last_good_keys_and_blocks_nobody() {
    // The fetch timeout is a 5 s constant: this test takes about 6 s.
    let k1 = JwtKey::fixture("rsa2048.pem", "k1");
    let doc = jwks_doc([&k1.jwk]);
    let idp = JwksServer::start(Jwks::Good(doc.clone())).await;
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
        line["error"].as_str().is_some_and(|e| e.contains("timed out after 5s")),
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
    let k1 = JwtKey::fixture("rsa2048.pem", "k1");
    let idp = JwksServer::start(Jwks::Status500).await;
    let mut server = start_with_jwks(&idp.url);
    server
        .wait_log_async(Duration::from_secs(5), |v| {
            v["level"] == "ERROR"
                && v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("JWKS could not be loaded; retrying with back-off"))
                && v["error"].as_str().is_some_and(|e| e.contains("answered HTTP 500"))
        })
        .await;
    let ready = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["code"], "not_ready", "{body}");
    assert_eq!(body["issuers"][0]["ready"], false, "{body}");
    assert!(
        body["issuers"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("answered HTTP 500")),
        "{body}"
    );
    assert!(
        metric(&server, "cfsign_jwks_refresh_total", r#"result="failure""#).await >= 1.0,
        "the failed fetch at start is not counted"
    );
    // The provider comes back; the first token (an unknown kid) asks for it.
    idp.set(Jwks::Good(jwks_doc([&k1.jwk])));
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
    // The recovery is logged once, with how many attempts had failed.
    let recovered = server
        .wait_log_async(Duration::from_secs(5), |v| v["message"] == "JWKS recovered")
        .await;
    assert!(
        recovered["failed_attempts"].as_u64().is_some_and(|n| n >= 1),
        "{recovered}"
    );
    let status = server.stop_and_collect(Duration::from_secs(10));
    assert!(status.success(), "exit {status}:\n{}", server.all_logs());
}
