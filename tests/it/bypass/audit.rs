//! Refusals before the handler (the JSON extractor) and in batches are
//! audited once each.

use serde_json::json;

use super::{COOKIES, URLS, Who, audit_for, raw, run_refused, send};
use crate::harness::app::TestApp;

/// Regression: refusals by the JSON extractor (not JSON, wrong shape, a
/// negative or fractional TTL, an unknown field...) used to leave no audit
/// event, because the handler never ran. The handlers now record them
/// (`Outcome::rejected` in src/http/record.rs).
#[tokio::test]
async fn body_level_refusals_are_audited_once() {
    use Who::Mailer as M;
    let app = TestApp::new().await;
    let cases = [
        raw("not JSON", M, URLS, "{not json", 400, "malformed_json"),
        raw("JSON array", M, URLS, "[]", 422, "invalid_request"),
        raw(
            "trailing garbage",
            M,
            URLS,
            r#"{"key":"uploads/a"} x"#,
            400,
            "malformed_json",
        ),
        raw(
            "key and path",
            M,
            URLS,
            r#"{"key":"uploads/a","path":"/uploads/a"}"#,
            422,
            "invalid_request",
        ),
        raw("neither key nor path", M, URLS, "{}", 422, "invalid_request"),
        raw("cookies: not JSON", M, COOKIES, "{", 400, "malformed_json"),
    ];
    run_refused(&app, &cases).await;
}

#[tokio::test]
async fn each_refused_batch_item_is_audited_once_and_signs_nothing() {
    let app = TestApp::new().await;
    let items = json!({ "items": [
        { "path": "/uploads/../secret" },
        { "key": "secret/a.pdf" },
        { "key": "uploads/a.pdf", "query": { "signature": "x" } },
        { "key": "uploads/a.pdf", "policy_resource": "/uploads/*" },
        { "key": "uploads/a.pdf", "ttl_seconds": 604801 },
    ]});
    let (reply, id) = send(&app.router, "/v1/signed-urls/batch", &app.mailer(), items.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let out = reply.json["items"].as_array().unwrap();
    let statuses: Vec<_> = out.iter().map(|i| i["error"]["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [422, 403, 422, 403, 403]);
    assert!(out.iter().all(|i| i.get("url").is_none()));
    let audit = audit_for(&id);
    assert_eq!(audit.len(), 5, "{audit:#?}");
    assert!(audit.iter().all(|e| e["event"] == "denied"), "{audit:#?}");
}
