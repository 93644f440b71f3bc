//! The HTTP API driven in-process through the real router.

use axum::http::Method;
use cfsign::signing::{RequestContext, verify_cookies, verify_url};
use serde_json::json;

use crate::harness::app::TestApp;
use crate::harness::config::Grant;
use crate::harness::fixtures::{now, public};

fn valid_now(url: &str, kpid: &str, key: &str) -> bool {
    let pk = public(key);
    let v = verify_url(
        url,
        &(kpid, &pk),
        RequestContext {
            at: now(),
            client_ip: None,
        },
    );
    v.failure.is_none()
}

#[tokio::test]
async fn mailer_gets_a_seven_day_canned_url_for_an_object_key() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/v1/signed-urls",
            Some(&app.mailer()),
            json!({ "key": "uploads/cost report 2024.pdf", "ttl_seconds": 604800 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let url = r.json["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://cdn.example.com/uploads/cost%20report%202024.pdf?Expires="),
        "{url}"
    );
    assert_eq!(r.json["policy_type"], "canned");
    assert_eq!(r.json["key_pair_id"], "K2JCJMDEHXQW5F");
    assert_eq!(r.json["hash_algorithm"], "SHA1");
    let expires = r.json["expires"].as_i64().unwrap();
    assert!((expires - now() - 604800).abs() <= 2);
    assert!(r.json["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(valid_now(url, "K2JCJMDEHXQW5F", "rsa2048.pub.pem"));
}

#[tokio::test]
async fn default_ttl_comes_from_the_grant() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/v1/signed-urls",
            Some(&app.mailer()),
            json!({ "path": "/uploads/a.pdf" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!((r.json["expires"].as_i64().unwrap() - now() - 3600).abs() <= 2);
}

#[tokio::test]
async fn query_parameters_are_signed_and_a_wildcard_policy_resource_makes_custom() {
    let app = TestApp::new().await;
    let body = json!({
        "distribution": "videos", "path": "/hls/abc/index.m3u8", "ttl_seconds": 600,
        "policy_resource": "/hls/abc/*", "query": { "response-content-disposition": "inline" },
    });
    let r = app.post("/v1/signed-urls", Some(&app.player()), body).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let url = r.json["url"].as_str().unwrap();
    assert!(url.starts_with(
        "https://d111111abcdef8.cloudfront.net/hls/abc/index.m3u8?response-content-disposition=inline&Policy="
    ));
    assert!(
        url.ends_with("&Key-Pair-Id=KECDSA00000001&Hash-Algorithm=SHA256"),
        "{url}"
    );
    assert_eq!(r.json["policy_type"], "custom");
    assert!(valid_now(url, "KECDSA00000001", "ec-p256.pub.pem"));
    // The same policy also covers a sibling segment.
    let sibling = url.replacen("index.m3u8?response-content-disposition=inline&", "seg1.ts?", 1);
    assert!(valid_now(&sibling, "KECDSA00000001", "ec-p256.pub.pem"));
}

#[tokio::test]
async fn ip_binding_to_the_client_through_a_trusted_proxy() {
    let app = TestApp::new().await;
    let body = json!({ "distribution": "videos", "path": "/hls/a.ts", "ip_address": "client" });
    // The mock peer (203.0.113.9) is not a trusted proxy: its own address is used.
    let r = app.post("/v1/signed-urls", Some(&app.player()), body.clone()).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let url = r.json["url"].as_str().unwrap();
    let pk = public("ec-p256.pub.pem");
    let at = |ip: &str| {
        verify_url(
            url,
            &("KECDSA00000001", &pk),
            RequestContext {
                at: now(),
                client_ip: Some(ip.parse().unwrap()),
            },
        )
    };
    assert!(at("203.0.113.9").failure.is_none());
    assert_eq!(
        at("198.51.100.1").failure.unwrap().code,
        cfsign::signing::FailureCode::IpMismatch
    );
    // An explicit IPv6 range is refused.
    let r = app
        .post(
            "/v1/signed-urls",
            Some(&app.player()),
            json!({ "distribution": "videos", "path": "/hls/a.ts", "ip_address": "2001:db8::/32" }),
        )
        .await;
    assert!(r.problem(422, "invalid_ip_address").contains("IPv6"));
}

#[tokio::test]
async fn signed_cookies_come_in_the_body_and_as_set_cookie_headers() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/v1/signed-cookies",
            Some(&app.player()),
            json!({ "distribution": "videos", "resource": "/hls/abc/*", "ttl_seconds": 3600 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let cookies = r.json["cookies"].as_object().unwrap();
    // serde_json::Value sorts keys: check the order in the raw body instead.
    let raw = String::from_utf8(r.raw.clone()).unwrap();
    let order = [
        "CloudFront-Policy",
        "CloudFront-Signature",
        "CloudFront-Key-Pair-Id",
        "CloudFront-Hash-Algorithm",
    ];
    let positions: Vec<usize> = order.iter().map(|n| raw.find(&format!("\"{n}\":")).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{raw}");
    assert_eq!(cookies.len(), 4);
    let headers: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(headers.len(), 4);
    assert!(
        headers
            .iter()
            .all(|h| h.ends_with("; Path=/; Secure; HttpOnly; SameSite=Lax")),
        "{headers:?}"
    );
    assert_eq!(r.json["set_cookie"].as_array().unwrap().len(), 4);
    let pairs: Vec<(String, String)> = cookies
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let pk = public("ec-p256.pub.pem");
    let v = verify_cookies(
        "https://d111111abcdef8.cloudfront.net/hls/abc/seg9.ts",
        &pairs,
        &("KECDSA00000001", &pk),
        RequestContext {
            at: now(),
            client_ip: None,
        },
    );
    assert!(v.failure.is_none(), "{:?}", v.failure);
}

#[tokio::test]
async fn cookies_use_the_distribution_cookie_domain() {
    let app = TestApp::new().await;
    let app_with_cookies = TestApp::with_config(|c| {
        c.grants.push(Grant {
            allow_cookies: Some(true),
            ..Grant::subject("reports-web", "web-reports", "reports", "/uploads/*", "1h")
        })
    })
    .await;
    drop(app);
    let token = app_with_cookies.token(json!({ "sub": "web-reports" }));
    let r = app_with_cookies
        .post(
            "/v1/signed-cookies",
            Some(&token),
            json!({ "resource": "uploads/a.pdf" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["policy_type"], "canned");
    let first = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(first.starts_with("CloudFront-Expires="));
    assert!(
        first.contains("; Domain=example.com; Path=/; Secure; HttpOnly; SameSite=Lax"),
        "{first}"
    );
}

#[tokio::test]
async fn batch_signs_each_item_and_reports_errors_in_place() {
    let app = TestApp::new().await;
    let mut items: Vec<_> = (0..50).map(|i| json!({ "key": format!("uploads/r{i}.pdf") })).collect();
    items.insert(3, json!({ "key": "secret/x.pdf" }));
    items.insert(7, json!({ "path": "/uploads/../etc/passwd" }));
    let r = app
        .post("/v1/signed-urls/batch", Some(&app.mailer()), json!({ "items": items }))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let out = r.json["items"].as_array().unwrap();
    assert_eq!(out.len(), 52);
    assert_eq!(out[3]["error"]["status"], 403);
    assert_eq!(out[7]["error"]["status"], 422);
    assert!(out[0]["url"].as_str().unwrap().contains("/uploads/r0.pdf?Expires="));
    assert!(out[51]["url"].as_str().unwrap().contains("/uploads/r49.pdf?Expires="));
    let r = app
        .post("/v1/signed-urls/batch", Some(&app.mailer()), json!({ "items": [] }))
        .await;
    r.problem(422, "invalid_batch");
    let too_many: Vec<_> = (0..1001).map(|_| json!({ "key": "uploads/a" })).collect();
    let r = app
        .post(
            "/v1/signed-urls/batch",
            Some(&app.mailer()),
            json!({ "items": too_many }),
        )
        .await;
    r.problem(422, "invalid_batch");
    // A full batch of 1,000 realistic items (~80 KB) is over the general
    // 64 KiB limit but within the batch route's own.
    let full: Vec<_> = (0..1000)
        .map(|i| json!({ "distribution": "reports", "key": format!("uploads/reports/2026/{i:04}.pdf"), "ttl_seconds": 3600 }))
        .collect();
    let body = json!({ "items": full });
    assert!(body.to_string().len() > 64 * 1024);
    let r = app.post("/v1/signed-urls/batch", Some(&app.mailer()), body).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json["items"].as_array().unwrap().iter().all(|i| i["url"].is_string()));
}

#[tokio::test]
async fn verify_explains_failures() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/v1/signed-urls",
            Some(&app.mailer()),
            json!({ "key": "uploads/a.pdf", "ttl_seconds": 60 }),
        )
        .await;
    let url = r.json["url"].as_str().unwrap().to_owned();
    let ok = app.post("/v1/verify", Some(&app.mailer()), json!({ "url": url })).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json["valid"], true);
    assert_eq!(
        ok.json["policy"]["Statement"][0]["Resource"],
        "https://cdn.example.com/uploads/a.pdf"
    );
    let later = app
        .post(
            "/v1/verify",
            Some(&app.mailer()),
            json!({ "url": url, "at": "2300-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(later.json["valid"], false);
    assert_eq!(later.json["reason"], "expired");
    let tampered = url.replace("a.pdf", "b.pdf");
    let bad = app
        .post("/v1/verify", Some(&app.mailer()), json!({ "url": tampered }))
        .await;
    assert_eq!(bad.json["reason"], "bad_signature");
    let unknown = url.replace("K2JCJMDEHXQW5F", "KUNKNOWN");
    let bad = app
        .post("/v1/verify", Some(&app.mailer()), json!({ "url": unknown }))
        .await;
    assert_eq!(bad.json["reason"], "unknown_key_pair_id");
}

#[tokio::test]
async fn grants_me_lists_only_the_callers_grants() {
    let app = TestApp::new().await;
    let r = app.get("/v1/grants/me", Some(&app.player())).await;
    assert_eq!(r.status, 200);
    let grants = r.json["grants"].as_array().unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["name"], "player");
    assert_eq!(grants[0]["max_ttl_seconds"], 21600);
    let r = app
        .get("/v1/grants/me", Some(&app.token(json!({ "sub": "nobody" }))))
        .await;
    assert_eq!(r.json["grants"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn probes_and_contract() {
    let app = TestApp::new().await;
    assert_eq!(app.get("/healthz", None).await.status, 200);
    assert_eq!(app.get("/readyz", None).await.json["status"], "ready");
    let spec = app.get("/openapi.yaml", None).await;
    assert_eq!(spec.status, 200);
    assert_eq!(spec.headers["content-type"], "application/yaml");
    app.state.draining.store(true, std::sync::atomic::Ordering::Relaxed);
    app.get("/readyz", None).await.problem(503, "not_ready");
}

// ---- authorisation: 403 ----

#[tokio::test]
async fn forbidden_cases() {
    let app = TestApp::new().await;
    let cases = [
        (app.mailer(), json!({ "key": "secret/a.pdf" }), "outside"),
        (
            app.mailer(),
            json!({ "key": "uploads/a.pdf", "ttl_seconds": 604801 }),
            "exceeds",
        ),
        (
            app.mailer(),
            json!({ "key": "uploads/a.pdf", "distribution": "videos" }),
            "distribution",
        ),
        (
            app.mailer(),
            json!({ "key": "uploads/a.pdf", "distribution": "nope" }),
            "distribution",
        ),
        (
            app.mailer(),
            json!({ "path": "/uploads/a.pdf", "policy_resource": "/uploads/*" }),
            "wildcard",
        ),
        (
            app.mailer(),
            json!({ "key": "uploads/a.pdf", "ip_address": "192.0.2.1" }),
            "IP",
        ),
        (
            app.player(),
            json!({ "distribution": "videos", "path": "/hls/a", "policy_resource": "/*" }),
            "outside",
        ),
        (
            app.token(json!({ "sub": "stranger" })),
            json!({ "key": "uploads/a.pdf" }),
            "no grant",
        ),
    ];
    for (token, body, phrase) in cases {
        let r = app.post("/v1/signed-urls", Some(&token), body.clone()).await;
        let detail = r.problem(403, "forbidden");
        assert!(detail.contains(phrase), "{body}: {detail}");
    }
    let r = app
        .post(
            "/v1/signed-cookies",
            Some(&app.mailer()),
            json!({ "resource": "uploads/a.pdf" }),
        )
        .await;
    assert!(r.problem(403, "forbidden").contains("cookies"));
}

// ---- bad input: 400 / 413 / 415 / 422 / 404 / 405 ----

#[tokio::test]
async fn invalid_requests_are_422_with_a_reason() {
    let app = TestApp::new().await;
    let token = app.mailer();
    let cases = [
        (json!({ "key": "uploads/a", "bogus": 1 }), "invalid_request"),
        (json!({ "key": "uploads/a", "ttl_seconds": -5 }), "invalid_request"),
        (json!({ "key": "uploads/a", "ttl_seconds": 1.5 }), "invalid_request"),
        (json!({ "key": "uploads/a", "ttl_seconds": "60" }), "invalid_request"),
        (
            json!({ "key": "uploads/a", "ttl_seconds": 18446744073709551615u64 }),
            "invalid_times",
        ),
        (json!({ "key": "uploads/a", "ttl_seconds": 0 }), "invalid_times"),
        (
            json!({ "key": "uploads/a", "expires_at": "2001-01-01T00:00:00Z" }),
            "invalid_times",
        ),
        (json!({ "key": "uploads/a", "expires_at": "tomorrow" }), "invalid_times"),
        (
            json!({ "key": "uploads/a", "ttl_seconds": 60, "expires_at": "2100-01-01T00:00:00Z" }),
            "invalid_times",
        ),
        (
            json!({ "key": "uploads/a", "ttl_seconds": 60, "not_before": "2100-01-01T00:00:00Z" }),
            "invalid_times",
        ),
        (json!({ "path": "/uploads/../secret" }), "invalid_path"),
        (json!({ "path": "/uploads/%2e%2e/secret" }), "invalid_path"),
        (json!({ "path": "/uploads/a\u{1}b" }), "invalid_path"),
        (json!({ "path": "/uploads/a?Expires=1" }), "invalid_path"),
        (json!({ "path": "uploads/a" }), "invalid_path"),
        (json!({ "key": "uploads/../a" }), "invalid_key"),
        (json!({ "key": "uploads/a", "path": "/uploads/a" }), "invalid_request"),
        (json!({}), "invalid_request"),
        (
            json!({ "key": "uploads/a", "query": { "Signature": "x" } }),
            "reserved_query_parameter",
        ),
        (
            json!({ "key": "uploads/a", "hash_algorithm": "MD5" }),
            "invalid_request",
        ),
        (
            json!({ "key": "uploads/a", "ip_address": "10.0.0.0/33" }),
            "invalid_ip_address",
        ),
    ];
    for (body, code) in cases {
        let r = app.post("/v1/signed-urls", Some(&token), body.clone()).await;
        assert_eq!(r.status, 422, "{body} -> {}", r.json);
        r.problem(422, code);
    }
}

#[tokio::test]
async fn transport_errors_are_problems_too() {
    let app = TestApp::new().await;
    let token = app.mailer();
    let r = app
        .request(
            Method::POST,
            "/v1/signed-urls",
            Some(&token),
            Some("{not json".into()),
            &[],
        )
        .await;
    r.problem(400, "malformed_json");
    let big = format!("{{\"key\":\"uploads/{}\"}}", "a".repeat(70 * 1024));
    let r = app
        .request(Method::POST, "/v1/signed-urls", Some(&token), Some(big), &[])
        .await;
    r.problem(413, "payload_too_large");
    let r = app
        .request(
            Method::POST,
            "/v1/signed-urls",
            Some(&token),
            Some("{}".into()),
            &[("content-type", "text/plain")],
        )
        .await;
    // Two content-type headers: the builder keeps both, so send a clean one.
    assert!(r.status == 415 || r.status == 400 || r.status == 422, "{}", r.status);
    let mut req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v1/signed-urls");
    req = req
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "text/plain");
    let response = tower::ServiceExt::oneshot(app.router.clone(), req.body(axum::body::Body::from("{}")).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    app.get("/nope", None).await.problem(404, "not_found");
    app.get("/v1/signed-urls", Some(&token))
        .await
        .problem(405, "method_not_allowed");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::new().await;
    let r = app
        .request(Method::GET, "/nope", None, None, &[("x-request-id", "abc-123")])
        .await;
    assert_eq!(r.headers["x-request-id"], "abc-123");
    assert_eq!(r.json["request_id"], "abc-123");
    let r = app
        .request(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "bad id\twith spaces")],
        )
        .await;
    let id = r.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "bad id\twith spaces");
    let uuid = uuid::Uuid::parse_str(&id).expect("a fresh UUID");
    assert_eq!(uuid.get_version_num(), 4, "{id}");
    assert_eq!(id, id.to_lowercase());
    let again = app.request(Method::GET, "/healthz", None, None, &[]).await;
    assert_ne!(
        again.headers["x-request-id"].to_str().unwrap(),
        id,
        "ids are not reused"
    );
    // Several ids with a bad one among them: none is taken, one fresh id
    // is answered (a bad second id is not left behind the good first).
    let several = app
        .request(
            Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "abc-123"), ("x-request-id", "bad id")],
        )
        .await;
    let ids: Vec<_> = several.headers.get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let fresh = ids[0].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(fresh).is_ok(), "{fresh}");
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = TestApp::new().await;
    let preflight = async |origin: &'static str| {
        let headers = [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization,content-type"),
        ];
        app.request(Method::OPTIONS, "/v1/signed-cookies", None, None, &headers)
            .await
    };
    let ok = preflight("http://app.test").await;
    assert_eq!(ok.headers["access-control-allow-origin"], "http://app.test");
    assert_eq!(ok.headers["access-control-allow-credentials"], "true");
    assert!(ok.headers.contains_key("access-control-max-age"));
    let evil = preflight("http://evil.test").await;
    assert!(!evil.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn metrics_expose_signatures_keys_pool_and_process() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/v1/signed-urls",
            Some(&app.mailer()),
            json!({ "key": "uploads/m.pdf" }),
        )
        .await;
    assert_eq!(r.status, 200);
    let m = app.get("/metrics", None).await;
    assert_eq!(m.status, 200);
    let text = String::from_utf8(m.raw).unwrap();
    for needle in [
        "cfsign_signatures_total{distribution=\"reports\",kind=\"url\",policy_type=\"canned\",hash_algorithm=\"SHA1\",key_pair_id=\"K2JCJMDEHXQW5F\"}",
        "cfsign_http_requests_total{route=\"/v1/signed-urls\",status=\"200\"}",
        "cfsign_signing_duration_seconds_bucket",
        "cfsign_signing_pool_in_flight",
        "cfsign_signing_rejected_total 0",
        "cfsign_signing_abandoned_total 0",
        "cfsign_signing_key_active{distribution=\"videos\",key_pair_id=\"KECDSA00000001\",algorithm=\"ECDSA-P256\"} 1",
        "cfsign_signing_key_active{distribution=\"videos\",key_pair_id=\"KOLDKEY0000001\",algorithm=\"RSA-2048\"} 0",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

/// The request span, the access line and the request metrics name a route
/// from its path before routing (`RouteNames`): every template must be a
/// path the router serves, and paths next to them must not be.
#[tokio::test]
async fn every_route_name_is_a_path_the_router_serves_and_no_other() {
    use cfsign::http::routes::RouteNames;
    for public_metrics in [true, false] {
        let app = TestApp::with_config(|c| c.server.public_metrics = Some(public_metrics)).await;
        let names = RouteNames::new(public_metrics);
        for template in names.templates() {
            let reply = app.request(Method::GET, template, None, None, &[]).await;
            assert_ne!(reply.status, 404, "{template} is named but not routed: {}", reply.json);
            assert_eq!(names.of(template), template);
        }
        let metrics = if public_metrics { "/nope" } else { "/metrics" };
        for path in [
            "/",
            "/v1",
            "/v1/signed-urls/",
            "/healthz/",
            "/v1/signed-urls/x",
            "/HEALTHZ",
            metrics,
        ] {
            let reply = app.request(Method::GET, path, None, None, &[]).await;
            assert_eq!(reply.status, 404, "{path} is routed but named {}", names.of(path));
            assert_eq!(names.of(path), "unmatched", "{path}");
        }
    }
}
