//! The HTTP contract where callers meet it: error texts that say what to
//! send, the CLI's date formats, answers with exactly the fields
//! `openapi.yaml` declares, `/v1/verify` in the shape `cfsign verify --json`
//! prints, the cookie folder trap, and configurable CORS request headers.

use std::collections::BTreeSet;
use std::process::Command;

use axum::http::Method;
use serde_json::{Value, json};

use crate::harness::app::TestApp;
use crate::harness::fixtures::{key_file, now};

fn schema(name: &str) -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap();
    doc["components"]["schemas"][name].clone()
}

/// The body's fields are exactly the schema's (no undeclared `"url": null`),
/// and every required one is there.
#[track_caller]
fn assert_declared(body: &Value, name: &str) {
    let schema = schema(name);
    let declared: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let present: BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert!(
        present.is_subset(&declared),
        "{name}: {present:?} not within {declared:?}"
    );
    for required in schema["required"].as_array().unwrap() {
        assert!(
            present.contains(required.as_str().unwrap()),
            "{name}: {required} missing in {body}"
        );
    }
}

#[tokio::test]
async fn answers_and_problems_carry_exactly_the_declared_fields() {
    let app = TestApp::new().await;
    let (mailer, player) = (app.mailer(), app.player());
    let url = app
        .post("/v1/signed-urls", Some(&mailer), json!({ "key": "uploads/a.pdf" }))
        .await;
    assert_declared(&url.json, "SignedUrl");
    let cookies = app
        .post(
            "/v1/signed-cookies",
            Some(&player),
            json!({ "distribution": "videos", "resource": "/hls/a/*" }),
        )
        .await;
    assert_declared(&cookies.json, "SignedCookies");
    let verdict = app
        .post("/v1/verify", Some(&mailer), json!({ "url": url.json["url"] }))
        .await;
    assert_declared(&verdict.json, "Verdict");
    let refusals = [
        app.post("/v1/signed-urls", Some(&mailer), json!({ "key": "secret/a.pdf" }))
            .await,
        app.post("/v1/signed-urls", Some(&mailer), json!({ "path": "/uploads/../a" }))
            .await,
        app.post(
            "/v1/signed-urls",
            Some(&mailer),
            json!({ "key": "uploads/a", "ttl_seconds": 0 }),
        )
        .await,
        app.post("/v1/signed-urls", Some(&mailer), json!({ "nope": 1 })).await,
        app.post("/v1/signed-cookies", Some(&mailer), json!({ "resource": "/uploads/*" }))
            .await,
        app.get("/v1/grants/me", Some("garbage")).await,
    ];
    for r in &refusals {
        assert!(r.status.is_client_error(), "{}", r.json);
        assert_declared(&r.json, "Problem");
    }
}

#[tokio::test]
async fn error_texts_say_what_to_send() {
    let app = TestApp::new().await;
    let mailer = app.mailer();
    let r = app
        .post(
            "/v1/signed-urls",
            Some(&mailer),
            json!({ "key": "uploads/a.pdf", "ttl_seconds": "60" }),
        )
        .await;
    let detail = r.problem(422, "invalid_request");
    assert!(
        detail.starts_with("ttl_seconds: must be a whole number of seconds, e.g. 600"),
        "{detail}"
    );
    assert!(
        !detail.contains("untagged") && !detail.contains("Failed to deserialize"),
        "{detail}"
    );

    let bare = app
        .request(
            Method::GET,
            "/v1/grants/me",
            None,
            None,
            &[("authorization", mailer.as_str())],
        )
        .await;
    let detail = bare.problem(401, "invalid_token");
    assert!(detail.contains("\"Bearer <token>\""), "{detail}");

    let r = app
        .post(
            "/v1/signed-urls",
            Some(&mailer),
            json!({ "key": "uploads/a", "expires_at": "soon" }),
        )
        .await;
    let detail = r.problem(422, "invalid_times");
    assert!(
        detail.contains("YYYY-MM-DD") && detail.contains("epoch seconds"),
        "{detail}"
    );

    let r = app
        .post(
            "/v1/verify",
            Some(&mailer),
            json!({ "url": "https://x/a", "at": "999999999999" }),
        )
        .await;
    r.problem(422, "invalid_times");

    let too_long = cfsign::service::MAX_TTL_SECONDS + 1;
    let r = app
        .post(
            "/v1/signed-urls",
            Some(&mailer),
            json!({ "key": "uploads/a", "ttl_seconds": too_long }),
        )
        .await;
    r.problem(422, "invalid_times");
    assert_eq!(
        schema("TtlSeconds")["maximum"].as_u64(),
        Some(cfsign::service::MAX_TTL_SECONDS),
        "openapi.yaml's maximum is the service's"
    );
}

#[tokio::test]
async fn expires_at_takes_the_dates_the_cli_takes() {
    let app = TestApp::new().await;
    let mailer = app.mailer();
    let day = time::OffsetDateTime::from_unix_timestamp(now() + 2 * 86_400)
        .unwrap()
        .date();
    let (y, m, d) = (day.year(), u8::from(day.month()), day.day());
    for text in [
        format!("{y}-{m:02}-{d:02}"),
        format!("{y}-{m:02}-{d:02}T12:00:00"),
        format!("{y}-{m:02}-{d:02} 12:00"),
        format!("{y}-{m:02}-{d:02}T14:00:00+02:00"),
        format!("{y}-{m:02}-{d:02}T12:00:00Z"),
        (now() + 86_400).to_string(),
    ] {
        let r = app
            .post(
                "/v1/signed-urls",
                Some(&mailer),
                json!({ "key": "uploads/a", "expires_at": text }),
            )
            .await;
        assert_eq!(r.status, 200, "{text}: {}", r.json);
        let cli = cfsign::cli::time::parse_date(&text).unwrap();
        assert_eq!(r.json["expires"], cli, "{text}: the API and the CLI read it alike");
    }
}

/// One shape: the service's verdict and `cfsign verify --json` on the same
/// URL, key and moment are the same JSON.
#[tokio::test]
async fn verify_and_cli_verify_json_answer_alike() {
    let app = TestApp::new().await;
    let ip_bound = app
        .post(
            "/v1/signed-urls",
            Some(&app.player()),
            json!({ "distribution": "videos", "path": "/hls/a.ts", "ip_address": "192.0.2.0/24" }),
        )
        .await;
    let plain = app
        .post(
            "/v1/signed-urls",
            Some(&app.mailer()),
            json!({ "key": "uploads/a.pdf" }),
        )
        .await;
    let at = cfsign::service::rfc3339(now());
    for (answer, key_id, key) in [
        (&ip_bound, "KECDSA00000001", "ec-p256.pub.pem"),
        (&plain, "K2JCJMDEHXQW5F", "rsa2048.pub.pem"),
    ] {
        let url = answer.json["url"].as_str().unwrap();
        let http = app
            .post("/v1/verify", Some(&app.mailer()), json!({ "url": url, "at": at }))
            .await;
        assert_eq!(http.status, 200);
        let out = Command::new(env!("CARGO_BIN_EXE_cfsign"))
            .args(["verify", "--json", "--url", url, "--at", &at])
            .arg("--public-key")
            .arg(format!("{key_id}={}", key_file(key).display()))
            .output()
            .unwrap();
        let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
        let strip_hint = |v: &Value| {
            let mut v = v.clone();
            v["detail"] = json!(v["detail"].as_str().map(|d| d.split(" (").next().unwrap().to_owned()));
            v
        };
        assert_eq!(strip_hint(&cli), strip_hint(&http.json), "same shape and values");
        if http.json["reason"] == "client_ip_required" {
            assert!(
                http.json["detail"].as_str().unwrap().ends_with("(\"client_ip\")"),
                "{}",
                http.json
            );
            assert!(cli["detail"].as_str().unwrap().ends_with("(--client-ip)"), "{cli}");
        }
    }
}

#[tokio::test]
async fn cookies_for_an_object_key_folder_are_refused_with_the_path_to_use() {
    let app = TestApp::new().await;
    let player = app.player();
    let r = app
        .post(
            "/v1/signed-cookies",
            Some(&player),
            json!({ "distribution": "videos", "resource": "hls/abc/*" }),
        )
        .await;
    let detail = r.problem(422, "invalid_key");
    assert!(detail.contains(r#"use "/hls/abc/*""#), "{detail}");
    let folder = app
        .post(
            "/v1/signed-cookies",
            Some(&player),
            json!({ "distribution": "videos", "resource": "/hls/abc/*" }),
        )
        .await;
    assert_eq!(folder.status, 200, "{}", folder.json);
    assert_eq!(folder.json["policy_type"], "custom");
    let one = app
        .post(
            "/v1/signed-cookies",
            Some(&player),
            json!({ "distribution": "videos", "resource": "hls/abc/a.ts" }),
        )
        .await;
    assert_eq!(
        one.status, 200,
        "an object key without wildcards stays one object: {}",
        one.json
    );
}
