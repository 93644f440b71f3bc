//! End to end: the real `cfsign serve` binary, started from a config file,
//! called over HTTP with real JWTs; what it signs is verified with the public
//! keys exactly as CloudFront would. Also the probes, the metrics, the
//! `healthcheck` subcommand and a refused start.

use std::time::Duration;

use serde_json::json;

use crate::harness::binary::{Server, run_cfsign, serve_expecting_exit};
use crate::harness::config::{Distribution, Grant, Key, TestConfig};
use crate::harness::fixtures::{key_file, now, public};
use crate::harness::net::{assert_cookies_valid, assert_url_valid, client, key_pair_id_of, post};
use crate::harness::tokens::{HMAC_SECRET, token};

/// `reports` (RSA, prefix `/uploads`) and `videos` (SHA-256, ECDSA, cookies
/// for its own host), with the fixture grants.
fn distributions(c: &mut TestConfig) {
    let mut reports = Distribution::reports(vec![Key::new("K2JCJMDEHXQW5F", key_file("rsa2048.pem"))]);
    reports.path_prefix = Some("/uploads".into());
    let mut videos = Distribution::videos();
    videos.cookies = Some(toml::toml! {
        domain = "d111111abcdef8.cloudfront.net"
        path = "/"
        secure = true
        http_only = true
        same_site = "Lax"
    });
    c.distributions = vec![reports, videos];
    c.grants = Grant::fixtures();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_issues_urls_and_cookies_that_cloudfront_would_accept() {
    let server = Server::start(distributions);
    let http = client();

    // Readiness first: keys and JWT keys are loaded.
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["status"], "ready");

    // A canned URL for an S3 object key.
    let mailer = token(json!({ "sub": "mailer" }));
    let (status, headers, body) = post(
        &http,
        &server.url("/v1/signed-urls"),
        &mailer,
        "e2e-url-1",
        &json!({ "key": "uploads/Q1 report.pdf", "ttl_seconds": 86400 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-request-id"], "e2e-url-1");
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://cdn.example.com/uploads/Q1%20report.pdf?Expires="),
        "{url}"
    );
    assert_eq!(body["policy_type"], "canned");
    assert_eq!(body["key_pair_id"], "K2JCJMDEHXQW5F");
    assert_eq!(body["hash_algorithm"], "SHA1");
    assert_eq!(key_pair_id_of(url), "K2JCJMDEHXQW5F");
    let expires = body["expires"].as_i64().unwrap();
    assert!((expires - now() - 86400).abs() <= 5, "expires {expires}");
    assert_url_valid(url, "K2JCJMDEHXQW5F", "rsa2048.pub.pem");
    // One changed character in the path and CloudFront refuses it.
    let other = url.replacen("Q1%20report", "Q2%20report", 1);
    let pk = public("rsa2048.pub.pem");
    let refused = cfsign::signing::verify_url(
        &other,
        &("K2JCJMDEHXQW5F", &pk),
        cfsign::signing::RequestContext {
            at: now(),
            client_ip: None,
        },
    );
    assert!(refused.failure.is_some());

    // Signed cookies for a folder: a wildcard, hence a custom policy (ECDSA, SHA-256).
    let player = token(json!({ "sub": "web", "scope": "openid video:read" }));
    let (status, headers, body) = post(
        &http,
        &server.url("/v1/signed-cookies"),
        &player,
        "e2e-cookies-1",
        &json!({ "resource": "/hls/abc/*", "ttl_seconds": 3600 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["policy_type"], "custom");
    assert_eq!(body["key_pair_id"], "KECDSA00000001");
    assert_eq!(body["hash_algorithm"], "SHA256");
    let set_cookie: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set_cookie.len(), 4, "{set_cookie:?}");
    assert!(
        set_cookie
            .iter()
            .all(|c| c.ends_with("; Domain=d111111abcdef8.cloudfront.net; Path=/; Secure; HttpOnly; SameSite=Lax")),
        "{set_cookie:?}"
    );
    let cookies: Vec<(String, String)> = body["cookies"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(cookies.len(), 4);
    // The Set-Cookie headers carry the same values as the body.
    for (name, value) in &cookies {
        assert!(
            set_cookie.iter().any(|c| c.starts_with(&format!("{name}={value};"))),
            "{name} not in {set_cookie:?}"
        );
    }
    for segment in ["index.m3u8", "seg-00001.ts"] {
        assert_cookies_valid(
            &format!("https://d111111abcdef8.cloudfront.net/hls/abc/{segment}"),
            &cookies,
            "KECDSA00000001",
            "ec-p256.pub.pem",
        );
    }
    // Outside the wildcard, CloudFront would refuse them.
    let pk = public("ec-p256.pub.pem");
    let outside = cfsign::signing::verify_cookies(
        "https://d111111abcdef8.cloudfront.net/hls/other/index.m3u8",
        &cookies,
        &("KECDSA00000001", &pk),
        cfsign::signing::RequestContext {
            at: now(),
            client_ip: None,
        },
    );
    assert!(outside.failure.is_some());

    // The traffic shows in the metrics.
    let metrics = http.get(server.metrics_url()).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    let has = |name: &str, labels: &[&str]| {
        text.lines()
            .any(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|lab| l.contains(lab)))
    };
    assert!(
        has(
            "cfsign_signatures_total",
            &[r#"key_pair_id="K2JCJMDEHXQW5F""#, r#"kind="url""#]
        ),
        "{text}"
    );
    assert!(
        has(
            "cfsign_signatures_total",
            &[
                r#"key_pair_id="KECDSA00000001""#,
                r#"kind="cookies""#,
                r#"policy_type="custom""#
            ]
        ),
        "{text}"
    );
    assert!(
        has(
            "cfsign_http_requests_total",
            &[r#"route="/v1/signed-urls""#, r#"status="200""#]
        ),
        "{text}"
    );
    assert!(
        has(
            "cfsign_http_requests_total",
            &[r#"route="/v1/signed-cookies""#, r#"status="200""#]
        ),
        "{text}"
    );

    // The container HEALTHCHECK: exit 0 when ready...
    let base = server.base.clone();
    let ok = tokio::task::spawn_blocking(move || {
        run_cfsign(
            &["healthcheck", "--url", &base, "--timeout", "3s"],
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap();
    assert_eq!(ok.status.code(), Some(0), "stderr: {:?}", ok.stderr);
    assert_eq!(ok.stdout, ["ready"]);
}

#[test]
fn healthcheck_fails_against_a_closed_port() {
    // A port that was just free: bound, read, released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run_cfsign(
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--timeout",
            "2s",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    assert_eq!(out.stderr.len(), 1, "{:?}", out.stderr);
    assert!(out.stderr[0].starts_with("error: not ready: "), "{:?}", out.stderr);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
}

#[test]
fn missing_key_files_stop_the_start_with_one_error_line_each() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hmac.secret"), HMAC_SECRET).unwrap();
    let missing_a = dir.path().join("missing-reports.pem");
    let missing_b = dir.path().join("missing-videos.pem");
    let mut c = TestConfig::binary(dir.path());
    distributions(&mut c);
    c.distribution("reports").keys[0].private_key_file = Some(missing_a.clone());
    c.distribution("videos").keys[0].private_key_file = Some(missing_b.clone());
    let config = dir.path().join("config.toml");
    c.write(&config);

    let out = serve_expecting_exit(&config, Duration::from_secs(15));
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout {:?} stderr {:?}",
        out.stdout,
        out.stderr
    );
    // One `error:` line per problem, nothing else on stderr.
    assert_eq!(out.stderr.len(), 2, "{:#?}", out.stderr);
    assert!(out.stderr.iter().all(|l| l.starts_with("error: ")), "{:#?}", out.stderr);
    let a = missing_a.display().to_string();
    let b = missing_b.display().to_string();
    assert_eq!(
        out.stderr.iter().filter(|l| l.contains(&a)).count(),
        1,
        "{:#?}",
        out.stderr
    );
    assert_eq!(
        out.stderr.iter().filter(|l| l.contains(&b)).count(),
        1,
        "{:#?}",
        out.stderr
    );
    assert!(
        out.stderr.iter().any(|l| l.contains("K2JCJMDEHXQW5F")),
        "{:#?}",
        out.stderr
    );
    // It never listened.
    assert!(
        !out.stdout.iter().any(|l| l.contains("cfsign listening")),
        "{:#?}",
        out.stdout
    );
}

/// The listener speaks HTTP/2 without TLS (h2c, prior knowledge) as well as
/// HTTP/1.1, so a sidecar or mesh can multiplex requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_is_served() {
    let server = Server::start(distributions);
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let response = h2
        .post(server.url("/v1/signed-urls"))
        .bearer_auth(token(json!({ "sub": "mailer" })))
        .json(&json!({ "key": "uploads/h2.pdf" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["url"].as_str().unwrap().contains("/uploads/h2.pdf?Expires="));
}
