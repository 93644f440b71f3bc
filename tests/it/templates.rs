//! Claim templates in grants: `{sub}` and `{claim:NAME}` fill exactly one
//! path segment per caller; a value that could escape its segment, or is
//! no usable string, fills nothing and nothing is signed.

use serde_json::{Value, json};

use crate::harness::app::TestApp;
use crate::harness::config::{Grant, TestConfig};

fn per_user(c: &mut TestConfig) {
    c.grants = vec![
        Grant {
            allow_cookies: Some(true),
            allow_wildcard_policy: Some(true),
            ..Grant::new("own-folder", "reports", "/uploads/users/{sub}/*", "1h")
        },
        Grant {
            scopes: vec!["reports".into()],
            ..Grant::new("tenant-reports", "reports", "/uploads/t/{claim:tenant}/reports/*", "1h")
        },
    ];
    c.grants[0].subjects = vec!["alice".into(), "bob".into(), "hostile".into()];
}

async fn sign_key(app: &TestApp, token: &str, key: &str) -> (u16, Value) {
    let r = app.post("/v1/signed-urls", Some(token), json!({ "key": key })).await;
    (r.status.as_u16(), r.json)
}

#[tokio::test]
async fn each_user_signs_in_its_own_folder_only() {
    let app = TestApp::with_config(per_user).await;
    let alice = app.token(json!({ "sub": "alice" }));
    let (status, body) = sign_key(&app, &alice, "uploads/users/alice/cv.pdf").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["url"].as_str().unwrap().contains("/uploads/users/alice/cv.pdf"));
    let (status, body) = sign_key(&app, &alice, "uploads/users/bob/cv.pdf").await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    let mine = app.get("/v1/grants/me", Some(&alice)).await.json;
    assert_eq!(mine["grants"][0]["allow"], json!(["/uploads/users/alice/*"]), "{mine}");
}

#[tokio::test]
async fn a_tenant_claim_names_the_tenants_folder_and_values_are_encoded() {
    let app = TestApp::with_config(per_user).await;
    let t = app.token(json!({ "sub": "carol", "scope": "reports", "tenant": "acme corp" }));
    let (status, body) = sign_key(&app, &t, "uploads/t/acme corp/reports/q1.pdf").await;
    assert_eq!(status, 200, "{body}");
    let mine = app.get("/v1/grants/me", Some(&t)).await.json;
    assert_eq!(
        mine["grants"][0]["allow"],
        json!(["/uploads/t/acme%20corp/reports/*"]),
        "{mine}"
    );
    let (status, _) = sign_key(&app, &t, "uploads/t/other/reports/q1.pdf").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn every_hostile_claim_value_signs_nothing() {
    let app = TestApp::with_config(per_user).await;
    let hostile = [
        json!("a/b"),
        json!("a\\b"),
        json!("*"),
        json!("?"),
        json!("a%2Fb"),
        json!("%2e%2e"),
        json!("a\u{7}b"),
        json!("a\nb"),
        json!("."),
        json!(".."),
        json!("..;x"),
        json!(""),
        json!(7),
        json!(true),
        json!({ "x": "y" }),
        json!(["a", "b"]),
    ];
    for value in hostile {
        let t = app.token(json!({ "sub": "dave", "scope": "reports", "tenant": value }));
        let text = value.as_str().unwrap_or("x").to_owned();
        // The paths the value might have opened, raw and as one segment.
        for key in [
            format!("uploads/t/{text}/reports/q1.pdf"),
            "uploads/t/a/b/reports/q1.pdf".to_owned(),
            "uploads/t/x/reports/q1.pdf".to_owned(),
            "uploads/t/reports/q1.pdf".to_owned(),
        ] {
            let (status, body) = sign_key(&app, &t, &key).await;
            assert!(status == 403 || status == 422, "{value} {key}: {status} {body}");
        }
        let r = app
            .post(
                "/v1/signed-cookies",
                Some(&t),
                json!({ "resource": "/uploads/t/*", "distribution": "reports" }),
            )
            .await;
        assert_eq!(r.status.as_u16(), 403, "{value}: {}", r.json);
        let (status, body) = sign_key(&app, &t, "uploads/t/a/reports/q1.pdf").await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("claim_unusable")),
            "{value}: {body}"
        );
        assert!(body["detail"].as_str().unwrap().contains("{claim:tenant}"), "{body}");
        let mine = app.get("/v1/grants/me", Some(&t)).await.json;
        assert_eq!(mine["grants"][0]["allow"], json!([]), "{value}: {mine}");
    }
    // A hostile subject: the own-folder grant fills nothing either.
    let t = app.token(json!({ "sub": ".." }));
    let (status, body) = sign_key(&app, &t, "uploads/users/x/a.pdf").await;
    assert_eq!(status, 403, "{body}");
}

#[test]
fn placeholders_that_are_not_whole_segments_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestConfig::in_process(dir.path());
    c.grants.push(Grant {
        subjects: vec!["x".into()],
        ..Grant::new("bad", "reports", "/uploads/u-{sub}/*", "1h")
    });
    let problems = c.load().unwrap_err().problems.join("\n");
    assert!(problems.contains("must be a whole path segment"), "{problems}");
}

/// The real binary's audit log: an issuance names the filled pattern, a
/// hostile value's refusal names the placeholder and why (never the value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_records_filled_patterns_and_unfillable_claims() {
    use crate::harness::binary::Server;
    use crate::harness::net::{client, post};
    use crate::harness::tokens::token;

    let mut server = Server::start(|c| {
        c.add_reports();
        c.grants = vec![Grant {
            scopes: vec!["reports".into()],
            ..Grant::new("tenant-reports", "reports", "/t/{claim:tenant}/*", "1h")
        }];
    });
    let http = client();
    let url = server.url("/v1/signed-urls");
    let acme = token(json!({ "sub": "carol", "scope": "reports", "tenant": "acme" }));
    let (status, _, body) = post(&http, &url, &acme, "tpl-ok", &json!({ "key": "t/acme/q1.pdf" })).await;
    assert_eq!(status, 200, "{body}");
    let hostile = token(json!({ "sub": "mallory", "scope": "reports", "tenant": "../../etc" }));
    let (status, _, body) = post(&http, &url, &hostile, "tpl-bad", &json!({ "key": "t/x/q1.pdf" })).await;
    assert_eq!(status, 403, "{body}");
    server.stop_and_collect(std::time::Duration::from_secs(10));
    let events = server.audit_events();
    let by_id = |id: &str| {
        events
            .iter()
            .find(|e| e["request_id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    let ok = by_id("tpl-ok");
    assert_eq!(
        (ok["event"].as_str(), ok["pattern"].as_str()),
        (Some("issued"), Some("/t/acme/*")),
        "{ok}"
    );
    let bad = by_id("tpl-bad");
    let reason = bad["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("{claim:tenant} holds '/'"), "{bad}");
    assert!(!reason.contains("etc"), "the value is not logged: {bad}");
}
