//! The running binary's life: the audit log, secrets kept out of every log
//! line, graceful shutdown on SIGTERM with requests in flight, and key
//! rotation (good and broken) on SIGHUP.
//!
//! Observed shutdown behaviour (asserted below): on SIGTERM the service sets
//! its draining flag, logs "shutdown requested", and closes its listener at
//! once, so a new connection (a `/readyz` probe included) is refused; a probe
//! that still got through would read 503, never 200. A request already in
//! flight is completed (HTTP 200, `connection: close`) and the process then
//! exits 0; one that never completes is abandoned when `shutdown_grace` ends,
//! and the process still exits 0.

#![cfg(unix)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::binary::Server;
use crate::harness::config::{Distribution, Grant, KEY_A, Key, TestConfig};
use crate::harness::fixtures::{key_file, now};
use crate::harness::net::{RawRequest, assert_url_valid, client, key_pair_id_of, post, signature_of};
use crate::harness::tokens::{HMAC_SECRET, ISSUER, mailer, token, token_with_secret};

const KEY_B: &str = "KBBBBBBBBBBBBB";

/// `reports` (prefix `/uploads`) signed by `keys`, `videos` (SHA-256, ECDSA)
/// and the fixture grants.
fn reports(c: &mut TestConfig, keys: Vec<Key>) {
    let mut reports = Distribution::reports(keys);
    reports.path_prefix = Some("/uploads".into());
    let videos = Distribution::videos();
    c.distributions = vec![reports, videos];
    c.grants = Grant::fixtures();
}

fn key_a(active: bool) -> Key {
    Key::new(KEY_A, key_file("rsa2048.pem")).active(active)
}

fn key_b(path: &Path) -> Key {
    Key::new(KEY_B, path).active(true)
}

/// [`reports`] with key A alone, active.
fn with_key_a(c: &mut TestConfig) {
    reports(c, vec![key_a(true)]);
}

/// Rewrites `server`'s config with keys A (inactive) and B (`path`, active).
fn rewrite_with_key_b(server: &Server, path: &Path) {
    let mut c = TestConfig::binary(server.dir.path());
    reports(&mut c, vec![key_a(false), key_b(path)]);
    c.write(&server.config);
}

fn url_body(name: &str) -> Value {
    json!({ "key": format!("uploads/{name}.pdf"), "ttl_seconds": 600 })
}

/// Waits (bounded) for the exit after a SIGTERM and returns every log line.
fn stop(server: &mut Server) -> String {
    let status = server.stop_and_collect(Duration::from_secs(10));
    assert!(status.success(), "exit {status}:\n{}", server.all_logs());
    server.all_logs()
}

fn events_for<'a>(events: &'a [Value], request_id: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["request_id"] == request_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_audit_event_per_issuance_and_per_denial() {
    let mut server = Server::start(with_key_a);
    let http = client();
    let url = server.url("/v1/signed-urls");

    let (status, _, issued) = post(&http, &url, &mailer(), "audit-issued-1", &url_body("a")).await;
    assert_eq!(status, 200, "{issued}");
    // Forbidden: the mailer has no grant on "videos".
    let forbidden_body = json!({ "distribution": "videos", "path": "/hls/a.ts" });
    let (status, _, problem) = post(&http, &url, &mailer(), "audit-forbidden-1", &forbidden_body).await;
    assert_eq!(status, 403, "{problem}");
    // A token signed with another secret.
    let forged = token_with_secret(json!({ "sub": "mailer" }), b"not-the-secret-not-the-secret-000000");
    let (status, headers, problem) = post(&http, &url, &forged, "audit-badtoken-1", &url_body("b")).await;
    assert_eq!(status, 401, "{problem}");
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    // No token at all.
    let r = http
        .post(&url)
        .header("x-request-id", "audit-notoken-1")
        .json(&url_body("c"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let metrics = http
        .get(server.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for reason in ["bad_signature", "missing"] {
        assert!(
            metrics.lines().any(|l| l.starts_with("cfsign_jwt_failures_total{")
                && l.contains(&format!(r#"reason="{reason}""#))
                && l.ends_with(" 1")),
            "{reason}: {metrics}"
        );
    }

    let logs = stop(&mut server);
    let events = server.audit_events();
    assert_eq!(events.len(), 4, "{events:#?}");

    // The issuance.
    let found = events_for(&events, "audit-issued-1");
    assert_eq!(found.len(), 1, "{found:#?}");
    let e = found[0];
    let signed_url = issued["url"].as_str().unwrap();
    assert_eq!(e["event"], "issued");
    assert_eq!(e["kind"], "url");
    assert_eq!(e["sub"], "mailer");
    assert_eq!(e["iss"], ISSUER);
    assert_eq!(e["client_ip"], "127.0.0.1");
    assert_eq!(e["distribution"], "reports");
    assert_eq!(e["resource"], signed_url.split('?').next().unwrap());
    assert_eq!(e["grant"], "mailer");
    assert_eq!(e["policy_type"], "canned");
    assert_eq!(e["expires"], issued["expires"]);
    assert_eq!(e["hash_algorithm"], "SHA1");
    assert_eq!(e["key_pair_id"], KEY_A);
    assert_eq!(e["decision"], "allow");
    // The trail's own fields: schema version, sequence, time, chain link.
    assert_eq!(e["audit"], 1);
    assert!(e["seq"].as_u64().is_some_and(|n| n >= 1), "{e}");
    assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    assert!(e["prev"].as_str().is_some_and(|p| p.len() == 64), "{e}");
    // Never the signature, the policy or the signed query.
    let line = e.to_string();
    let signature = signature_of(signed_url);
    assert!(signature.len() > 100);
    assert!(!line.contains(&signature), "{line}");
    assert!(!line.contains(&signature[..24]), "{line}");
    let query = signed_url.split_once('?').unwrap().1;
    assert!(!line.contains(query), "{line}");
    for needle in ["Signature", "Policy=", "Expires=", "Key-Pair-Id="] {
        assert!(!line.contains(needle), "{needle} in {line}");
    }
    assert!(!logs.contains(&signature[..24]), "the signature is in the logs");

    // The forbidden request.
    let found = events_for(&events, "audit-forbidden-1");
    assert_eq!(found.len(), 1, "{found:#?}");
    let e = found[0];
    assert_eq!(e["event"], "denied");
    assert_eq!(e["decision"], "deny");
    assert_eq!(e["sub"], "mailer");
    assert_eq!(e["iss"], ISSUER);
    assert_eq!(e["client_ip"], "127.0.0.1");
    assert_eq!(e["distribution"], "videos");
    assert_eq!(e["resource"], "/hls/a.ts");
    assert_eq!(e["code"], "forbidden");
    assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");

    // The bad token: denied before anyone is known.
    let found = events_for(&events, "audit-badtoken-1");
    assert_eq!(found.len(), 1, "{found:#?}");
    let e = found[0];
    assert_eq!(e["event"], "denied");
    assert_eq!(e["kind"], "auth");
    assert_eq!(e["decision"], "deny");
    assert_eq!(e["code"], "invalid_token");
    assert_eq!(e["reason"], "bad_signature");
    assert_eq!(e["client_ip"], "127.0.0.1");
    assert!(e.get("sub").is_none_or(Value::is_null), "{e}");
    assert!(!e.to_string().contains(&forged[forged.len() - 20..]));

    // No token: a denial too.
    let found = events_for(&events, "audit-notoken-1");
    assert_eq!(found.len(), 1, "{found:#?}");
    let e = found[0];
    assert_eq!(e["event"], "denied");
    assert_eq!(e["kind"], "auth");
    assert_eq!(e["reason"], "missing");
    assert_eq!(e["client_ip"], "127.0.0.1");
}

/// Every 16-character window of `secret` (so no sizeable fragment leaks).
fn fragments(secret: &str) -> impl Iterator<Item = &str> {
    let n = 16.min(secret.len());
    (0..=secret.len() - n).map(move |i| &secret[i..i + n])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_even_at_debug_level() {
    let mut server = Server::start_with(&[("RUST_LOG", "debug")], with_key_a);
    let http = client();
    let good = mailer();
    let player = token(json!({ "sub": "web", "scope": "openid video:read" }));
    let forged = token_with_secret(json!({ "sub": "mailer" }), b"not-the-secret-not-the-secret-000000");
    let expired = token(json!({ "sub": "mailer", "exp": now() - 3600, "iat": now() - 7200 }));
    let mut signatures = Vec::new();

    let (status, _, body) = post(&http, &server.url("/v1/signed-urls"), &good, "s-good", &url_body("s")).await;
    assert_eq!(status, 200, "{body}");
    let signed_url = body["url"].as_str().unwrap().to_owned();
    signatures.push(signature_of(&signed_url));

    let (status, _, cookies) = post(
        &http,
        &server.url("/v1/signed-cookies"),
        &player,
        "s-cookies",
        &json!({ "resource": "/hls/abc/*" }),
    )
    .await;
    assert_eq!(status, 200, "{cookies}");
    for (_, v) in cookies["cookies"].as_object().unwrap() {
        signatures.push(v.as_str().unwrap().to_owned());
    }

    let forbidden = json!({ "distribution": "videos", "path": "/hls/a.ts" });
    let (status, _, _) = post(&http, &server.url("/v1/signed-urls"), &good, "s-forbidden", &forbidden).await;
    assert_eq!(status, 403);
    let (status, _, _) = post(
        &http,
        &server.url("/v1/signed-urls"),
        &forged,
        "s-forged",
        &url_body("f"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, _) = post(
        &http,
        &server.url("/v1/signed-urls"),
        &expired,
        "s-expired",
        &url_body("e"),
    )
    .await;
    assert_eq!(status, 401);

    // Verification of the URL, of a tampered URL and of the cookies.
    let (status, _, v) = post(
        &http,
        &server.url("/v1/verify"),
        &good,
        "s-verify",
        &json!({ "url": signed_url }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["valid"], true, "{v}");
    let tampered = signed_url.replace("s.pdf", "t.pdf");
    let (status, _, v) = post(
        &http,
        &server.url("/v1/verify"),
        &good,
        "s-verify-2",
        &json!({ "url": tampered }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["valid"], false, "{v}");
    let (status, _, v) = post(
        &http,
        &server.url("/v1/verify"),
        &player,
        "s-verify-3",
        &json!({ "url": "https://d111111abcdef8.cloudfront.net/hls/abc/1.ts", "cookies": cookies["cookies"] }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["valid"], true, "{v}");
    // The token in a query string of an unknown route, and in a cookie.
    let r = http
        .get(server.url(&format!("/nowhere?access_token={good}")))
        .header("cookie", format!("session={good}"))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let logs = stop(&mut server);
    // The test means something only if debug logging was on.
    assert!(logs.contains(r#""level":"DEBUG""#), "no debug lines:\n{logs}");
    assert!(logs.contains("s-verify-3"), "requests are not in the log:\n{logs}");

    assert!(!logs.contains("-----BEGIN"), "a PEM block in the logs:\n{logs}");
    assert!(!logs.contains("eyJ"), "a JWT in the logs:\n{logs}");
    assert!(!logs.contains("Signature="), "a signed query in the logs:\n{logs}");
    assert!(
        !logs.contains("CloudFront-Signature="),
        "a signed cookie in the logs:\n{logs}"
    );
    let secret = std::str::from_utf8(HMAC_SECRET).unwrap();
    for (what, s) in [
        ("token", &good),
        ("token", &player),
        ("token", &forged),
        ("token", &expired),
    ] {
        for f in fragments(s) {
            assert!(
                !logs.contains(f),
                "a fragment of a {what} ({f}) is in the logs:\n{logs}"
            );
        }
    }
    for f in fragments(secret) {
        assert!(!logs.contains(f), "a fragment of the HMAC secret is in the logs");
    }
    for s in &signatures {
        if s.len() > 40 {
            for f in fragments(s) {
                assert!(
                    !logs.contains(f),
                    "a fragment of a signature or policy ({f}) is in the logs:\n{logs}"
                );
            }
        }
    }
}

/// Load shedding is an expected answer, not an error: each refusal is a 503
/// with `Retry-After` and a problem body, counted in the metrics, and no
/// ERROR line reaches the log (one per refusal used to flood it, and cost
/// CPU, exactly when the service was overloaded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_refusals_are_counted_not_logged_as_errors() {
    // One signer and a one-job queue, both taken by two long batches.
    let mut server = Server::start(|c| {
        with_key_a(c);
        c.signing.insert("workers".into(), 1.into());
        c.signing.insert("queue_depth".into(), 1.into());
    });
    let items: Vec<Value> = (0..1000).map(|n| url_body(&format!("batch-{n}"))).collect();
    let batches: Vec<_> = (0..2)
        .map(|n| {
            let (url, items) = (server.url("/v1/signed-urls/batch"), json!({ "items": items }));
            tokio::spawn(async move { post(&client(), &url, &mailer(), &format!("batch-{n}"), &items).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .metrics_text()
        .await
        .contains("cfsign_signing_pool_in_flight 2\n")
    {
        assert!(Instant::now() < deadline, "the two batches never filled the pool");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let url = server.url("/v1/signed-urls");
    for n in 0..5 {
        let (status, headers, problem) = post(&client(), &url, &mailer(), &format!("shed-{n}"), &url_body("x")).await;
        assert_eq!(status, 503, "{problem}");
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(problem["code"], "overloaded", "{problem}");
    }
    for batch in batches {
        let (status, _, answer) = batch.await.unwrap();
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["items"].as_array().map(Vec::len), Some(1000));
    }

    let text = server.metrics_text().await;
    for needle in [
        "cfsign_signing_rejected_total 5\n",
        "cfsign_http_requests_total{route=\"/v1/signed-urls\",status=\"503\"} 5\n",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    let logs = stop(&mut server);
    let errors: Vec<&str> = logs.lines().filter(|l| l.contains(r#""level":"ERROR""#)).collect();
    assert!(errors.is_empty(), "refusals logged as errors:\n{}", errors.join("\n"));
}

/// Starts a POST /v1/signed-urls whose body is only partly sent, and waits
/// until the service is handling it (its "started processing" debug line).
fn in_flight_request(server: &Server, request_id: &str) -> RawRequest {
    let body = url_body("in-flight").to_string();
    let raw = RawRequest::start(server.addr, "/v1/signed-urls", &mailer(), request_id, &body, 10);
    server.wait_log(Duration::from_secs(5), |v| {
        v["message"] == "started processing request" && v["span"]["request_id"] == request_id
    });
    raw
}

/// After "shutdown requested": no new caller is served any more; returns
/// what a `/readyz` probe saw first (`Some(status)` or `None` = refused).
async fn readyz_after_sigterm(server: &Server) -> Option<u16> {
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut first = None;
    loop {
        match http.get(server.url("/readyz")).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                assert_eq!(status, 503, "/readyz after SIGTERM answered {status}");
                first.get_or_insert(Some(status));
            }
            Err(e) => {
                assert!(e.is_connect() || e.is_request(), "{e:?}");
                first.get_or_insert(None);
                return first.unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "still accepting connections 3 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let grace = Duration::from_secs(5);
    let mut server = Server::start_with(&[("RUST_LOG", "info,cfsign::access=debug")], with_key_a);
    let raw = in_flight_request(&server, "inflight-1");

    let sigterm = Instant::now();
    server.signal("TERM");
    server
        .wait_log_async(Duration::from_secs(5), |v| {
            v["message"] == "no longer accepting connections; draining in-flight requests"
        })
        .await;
    // The listener is closed at once: new connections are refused.
    let probe = readyz_after_sigterm(&server).await;
    assert!(matches!(probe, None | Some(503)), "{probe:?}");
    assert!(
        server.wait_exit(Duration::ZERO).is_none(),
        "exited with a request in flight"
    );

    // The rest of the body: the request completes normally.
    let (status, head, body) = tokio::task::spawn_blocking(move || raw.finish()).await.unwrap();
    assert_eq!(status, 200, "{head}\n{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let url = answer["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://cdn.example.com/uploads/in-flight.pdf?Expires="),
        "{url}"
    );
    assert_url_valid(url, KEY_A, "rsa2048.pub.pem");

    let left = grace.saturating_sub(sigterm.elapsed());
    let status = server
        .wait_exit(left)
        .unwrap_or_else(|| panic!("still running {grace:?} after SIGTERM:\n{}", server.all_logs()));
    assert!(status.success(), "exit {status}:\n{}", server.all_logs());
    let logs = stop(&mut server);
    assert!(!logs.contains("grace period over"), "{logs}");
    let audit = server.audit_events();
    assert_eq!(events_for(&audit, "inflight-1").len(), 1, "{audit:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_abandons_a_request_that_never_completes_after_the_grace_period() {
    let grace = Duration::from_secs(2);
    let mut server = Server::start_with(&[("RUST_LOG", "info,cfsign::access=debug")], |c| {
        c.server.shutdown_grace = Some("2s".into());
        with_key_a(c);
    });
    let raw = in_flight_request(&server, "stuck-1");

    let sigterm = Instant::now();
    server.signal("TERM");
    let margin = Duration::from_secs(3);
    let status = server.wait_exit(grace + margin).unwrap_or_else(|| {
        panic!(
            "still running {:?} after SIGTERM:\n{}",
            grace + margin,
            server.all_logs()
        )
    });
    let took = sigterm.elapsed();
    assert!(status.success(), "exit {status}:\n{}", server.all_logs());
    // It did wait for the request, for the grace period.
    assert!(took >= grace - Duration::from_millis(200), "exited after {took:?}");
    let logs = stop(&mut server);
    assert!(
        logs.contains("grace period over; abandoning remaining requests"),
        "{logs}"
    );
    // The abandoned caller sees its connection closed, with no response.
    let mut stream = raw.stream;
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut stream, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n]));
}

#[test]
fn signals_sent_as_soon_as_it_listens_are_handled_not_fatal() {
    // A supervisor may signal the moment the service says it listens: the
    // handlers must already be installed (else the default action kills it).
    for _ in 0..5 {
        let mut server = Server::start(with_key_a);
        server.signal("HUP");
        server.signal("TERM");
        let status = server
            .wait_exit(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("still running 5 s after SIGTERM:\n{}", server.all_logs()));
        assert!(status.success(), "exit {status}:\n{}", server.all_logs());
        let logs = stop(&mut server);
        assert!(logs.contains("shutdown requested"), "{logs}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rotates_to_a_new_key_without_failing_a_request() {
    let server = Server::start(with_key_a);
    let url = server.url("/v1/signed-urls");

    // A steady stream of requests: every one must succeed.
    let done = Arc::new(AtomicUsize::new(0));
    let loop_task = {
        let (url, done) = (url.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            let http = client();
            let token = mailer();
            let mut results = Vec::new();
            for i in 0..150 {
                let (status, _, body) = post(
                    &http,
                    &url,
                    &token,
                    &format!("loop-{i}"),
                    &url_body(&format!("loop-{i}")),
                )
                .await;
                results.push((status, body));
                done.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            results
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while done.load(Ordering::Relaxed) < 10 {
        assert!(Instant::now() < deadline, "the request loop does not progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Add key B, make it the active one, reload.
    rewrite_with_key_b(&server, &key_file("ec-p256.pem"));
    server.signal("HUP");

    let http = client();
    let deadline = Instant::now() + Duration::from_secs(5);
    let rotated = loop {
        let (status, _, body) = post(&http, &url, &mailer(), "after-hup", &url_body("after-hup")).await;
        assert_eq!(status, 200, "{body}");
        let signed = body["url"].as_str().unwrap().to_owned();
        if key_pair_id_of(&signed) == KEY_B {
            break signed;
        }
        assert_eq!(key_pair_id_of(&signed), KEY_A);
        assert!(
            Instant::now() < deadline,
            "no URL signed with {KEY_B} 5 s after SIGHUP:\n{}",
            server.all_logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_url_valid(&rotated, KEY_B, "ec-p256.pub.pem");
    server
        .wait_log_async(Duration::from_secs(5), |v| v["message"] == "configuration reloaded")
        .await;

    let results = tokio::time::timeout(Duration::from_secs(20), loop_task)
        .await
        .expect("the request loop did not finish")
        .unwrap();
    assert_eq!(results.len(), 150);
    let mut seen_b = false;
    let (mut a, mut b) = (0, 0);
    for (i, (status, body)) in results.iter().enumerate() {
        assert_eq!(*status, 200, "request {i} failed: {body}");
        let signed = body["url"].as_str().unwrap();
        match key_pair_id_of(signed).as_str() {
            KEY_A => {
                assert!(!seen_b, "request {i} went back to the old key");
                assert_url_valid(signed, KEY_A, "rsa2048.pub.pem");
                a += 1;
            }
            KEY_B => {
                seen_b = true;
                assert_url_valid(signed, KEY_B, "ec-p256.pub.pem");
                b += 1;
            }
            other => panic!("request {i}: unexpected key pair id {other}"),
        }
    }
    assert!(a >= 10 && b >= 1, "{a} URLs with A, {b} with B");
    assert!(!server.all_logs().contains("reload refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_broken_key_keeps_the_old_key_and_logs_why() {
    let server = Server::start(with_key_a);
    let http = client();
    let url = server.url("/v1/signed-urls");

    let broken = server.dir.path().join("broken.pem");
    std::fs::write(&broken, "this is not a private key\n").unwrap();
    rewrite_with_key_b(&server, &broken);
    server.signal("HUP");
    server.expect_reload_refused(&broken, KEY_B).await;

    // The old key keeps signing, and the service stays ready.
    for i in 0..3 {
        let (status, _, body) = post(&http, &url, &mailer(), &format!("after-bad-hup-{i}"), &url_body("x")).await;
        assert_eq!(status, 200, "{body}");
        let signed = body["url"].as_str().unwrap();
        assert_eq!(key_pair_id_of(signed), KEY_A);
        assert_url_valid(signed, KEY_A, "rsa2048.pub.pem");
    }
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = http
        .get(server.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("cfsign_config_reloads_total{")
            && l.contains(r#"result="failure""#)
            && l.ends_with(" 1")),
        "{metrics}"
    );
    assert!(!server.all_logs().contains("configuration reloaded"));
}
