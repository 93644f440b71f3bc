//! One path rule wherever a path or a pattern is accepted (security review,
//! round 2): a request `path`, a `policy_resource`, a cookie `resource`, an
//! object `key`, a grant's `allow` pattern and a distribution's
//! `path_prefix`. Empty segments are refused except as the very last one
//! (`/videos/` names a folder), also when the path ends in `/`; dot segments
//! are refused also behind a path parameter, raw (`..;x`) or escaped
//! (`..%3Bx`, for origins that decode `%3B` before cutting at `;`).

use serde_json::{Value, json};

use crate::harness::app::TestApp;
use crate::harness::config::{Grant, TestConfig};

async fn refused(app: &TestApp, route: &str, token: &str, body: Value, code: &str) {
    let r = app.post(route, Some(token), body.clone()).await;
    r.problem(422, code);
    assert!(
        r.json.get("url").is_none() && r.json.get("cookies").is_none(),
        "{body}: {}",
        r.json
    );
}

#[tokio::test]
async fn empty_segments_are_refused_also_before_a_trailing_slash() {
    let app = TestApp::new().await;
    let (mailer, player) = (app.mailer(), app.player());
    for path in [
        "/uploads/a//b/",
        "/uploads/a/x//",
        "/uploads//",
        "/uploads/a//b",
        "/uploads//a.pdf",
    ] {
        refused(
            &app,
            "/v1/signed-urls",
            &mailer,
            json!({ "path": path }),
            "invalid_path",
        )
        .await;
    }
    for pattern in ["/hls//*", "/hls/a//", "/hls/a//b/*"] {
        let url = json!({ "distribution": "videos", "path": "/hls/a/b/c.ts", "policy_resource": pattern });
        refused(&app, "/v1/signed-urls", &player, url, "invalid_path").await;
        let cookies = json!({ "distribution": "videos", "resource": pattern });
        refused(&app, "/v1/signed-cookies", &player, cookies, "invalid_path").await;
    }
    // The trailing slash alone still names a folder.
    let ok = app
        .post("/v1/signed-urls", Some(&mailer), json!({ "path": "/uploads/a/" }))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.json);
}

#[tokio::test]
async fn dot_segments_are_refused_behind_a_raw_or_escaped_path_parameter() {
    let app = TestApp::new().await;
    let mailer = app.mailer();
    for path in [
        "/uploads/..%3Bx/a.pdf",
        "/uploads/..%3b/a.pdf",
        "/uploads/.%3B/a.pdf",
        "/uploads/a/..;",
    ] {
        refused(
            &app,
            "/v1/signed-urls",
            &mailer,
            json!({ "path": path }),
            "invalid_path",
        )
        .await;
    }
    for key in ["uploads/..;x/a.pdf", "uploads/..%3Bx/a.pdf", "uploads/.;/a.pdf"] {
        refused(&app, "/v1/signed-urls", &mailer, json!({ "key": key }), "invalid_key").await;
    }
    // A name that merely contains dots or a `;` stays a literal name.
    for path in ["/uploads/a%3B..", "/uploads/..x/a.pdf", "/uploads/a;b/c.pdf"] {
        let r = app
            .post("/v1/signed-urls", Some(&mailer), json!({ "path": path }))
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.json);
    }
}

#[test]
fn grant_patterns_and_prefixes_follow_the_same_rule_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let with_grant = |allow: &str| {
        let mut c = TestConfig::in_process(dir.path());
        c.grants.push(Grant::subject("odd", "odd", "reports", allow, "1h"));
        c
    };
    for allow in [
        "/uploads//*",
        "/uploads/a//",
        "/uploads/../*",
        "/uploads/..;x/*",
        "uploads/*",
    ] {
        let e = with_grant(allow).load().unwrap_err().to_string();
        assert!(e.contains("grants[odd].allow"), "{allow}: {e}");
    }
    assert!(with_grant("/uploads/r-??.pdf").load().is_ok());
    for prefix in ["/uploads//a", "/a/../uploads", "/a/..%3B/b"] {
        let mut c = TestConfig::in_process(dir.path());
        c.distribution("reports").path_prefix = Some(prefix.into());
        let e = c.load().unwrap_err().to_string();
        assert!(e.contains("path_prefix"), "{prefix}: {e}");
    }
}
