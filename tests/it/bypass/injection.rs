//! JSON injection into the policy and CloudFront parameters smuggled in
//! through the path or the query: refused.

use serde_json::json;

use super::{COOKIES, URLS, Who, r, run_refused};
use crate::harness::app::TestApp;

#[tokio::test]
async fn json_injection_into_the_policy_is_refused() {
    use Who::{Mailer as M, Player as P};
    let app = TestApp::new().await;
    let inject = r#"a"}},"Condition":{}},{"Resource":"*"#;
    let cases = [
        r(
            "quote in path",
            M,
            URLS,
            json!({ "path": format!("/uploads/{inject}") }),
            422,
            "invalid_path",
        ),
        r(
            "quote in policy_resource",
            P,
            URLS,
            json!({ "path": "/hls/a.ts", "policy_resource": format!("/hls/{inject}") }),
            422,
            "invalid_path",
        ),
        r(
            "quote in cookie pattern",
            P,
            COOKIES,
            json!({ "resource": format!("/hls/{inject}") }),
            422,
            "invalid_path",
        ),
        r(
            "quote in ip_address",
            P,
            URLS,
            json!({ "path": "/hls/a.ts", "ip_address": r#"0.0.0.0/0"}},"X":{"a":"b"# }),
            422,
            "invalid_ip_address",
        ),
        r(
            "quote in ip_address (no IP grant)",
            M,
            URLS,
            json!({ "key": "uploads/a", "ip_address": "1.2.3.4\"}" }),
            422,
            "invalid_ip_address",
        ),
        r(
            "quote in expires_at",
            M,
            URLS,
            json!({ "key": "uploads/a", "expires_at": "2030-01-01T00:00:00Z\"}" }),
            422,
            "invalid_times",
        ),
        r(
            "quote in distribution",
            M,
            URLS,
            json!({ "key": "uploads/a", "distribution": "reports\"" }),
            403,
            "forbidden",
        ),
    ];
    run_refused(&app, &cases).await;
}

#[tokio::test]
async fn cloudfront_parameters_cannot_be_smuggled() {
    use Who::Mailer as M;
    let app = TestApp::new().await;
    let mut cases = vec![
        r(
            "raw ? in path",
            M,
            URLS,
            json!({ "path": "/uploads/a.pdf?Expires=1" }),
            422,
            "invalid_path",
        ),
        r(
            "fragment in path",
            M,
            URLS,
            json!({ "path": "/uploads/a.pdf#Policy=x" }),
            422,
            "invalid_path",
        ),
        r(
            "empty query name",
            M,
            URLS,
            json!({ "key": "uploads/a", "query": { "": "x" } }),
            422,
            "invalid_query",
        ),
    ];
    // Every reserved name in several cases, as a `query` parameter name.
    for name in [
        "Expires",
        "expires",
        "EXPIRES",
        "Policy",
        "policy",
        "POLICY",
        "Signature",
        "signature",
        "SiGnAtUrE",
        "Key-Pair-Id",
        "key-pair-id",
        "KEY-PAIR-ID",
        "Hash-Algorithm",
        "hash-algorithm",
        "HASH-ALGORITHM",
    ] {
        cases.push(r(
            "reserved query name",
            M,
            URLS,
            json!({ "key": "uploads/a.pdf", "query": { name: "1" } }),
            422,
            "reserved_query_parameter",
        ));
    }
    run_refused(&app, &cases).await;
}
