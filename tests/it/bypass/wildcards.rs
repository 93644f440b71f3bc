//! Wildcards: refused without the wildcard grant or outside it; with the
//! grant, exactly the one asked for.

use cfsign::signing::base64cf;
use serde_json::json;

use super::{COOKIES, URLS, VIDEOS, Who, assert_single_statement, audit_for, r, run_refused, send};
use crate::harness::app::TestApp;

#[tokio::test]
async fn wildcards_need_the_wildcard_grant_and_stay_inside_it() {
    use Who::{Mailer as M, Player as P};
    let app = TestApp::new().await;
    let cases = [
        r(
            "star in path",
            M,
            URLS,
            json!({ "path": "/uploads/*" }),
            422,
            "invalid_path",
        ),
        r(
            "qmark in path",
            M,
            URLS,
            json!({ "path": "/uploads/a?.pdf" }),
            422,
            "invalid_path",
        ),
        r(
            "star pattern without the grant",
            M,
            URLS,
            json!({ "path": "/uploads/a.pdf", "policy_resource": "/uploads/*" }),
            403,
            "forbidden",
        ),
        r(
            "star-only pattern",
            M,
            URLS,
            json!({ "path": "/uploads/a.pdf", "policy_resource": "/*" }),
            403,
            "forbidden",
        ),
        r(
            "qmark pattern",
            M,
            URLS,
            json!({ "path": "/uploads/a.pdf", "policy_resource": "/uploads/a?pdf" }),
            422,
            "invalid_path",
        ),
        r(
            "pattern escaping the allow prefix",
            P,
            URLS,
            json!({ "path": "/hls/a.ts", "policy_resource": "/*" }),
            403,
            "forbidden",
        ),
        r(
            "pattern widening the prefix",
            P,
            URLS,
            json!({ "path": "/hls/a.ts", "policy_resource": "/hls*" }),
            403,
            "forbidden",
        ),
        r(
            "pattern with a star before the prefix",
            P,
            URLS,
            json!({ "path": "/x/hls/a.ts", "policy_resource": "/*/hls/*" }),
            403,
            "forbidden",
        ),
        r(
            "pattern with dot segments",
            P,
            URLS,
            json!({ "path": "/hls/a.ts", "policy_resource": "/hls/../*" }),
            422,
            "invalid_path",
        ),
        r(
            "pattern with a dot-dot path parameter",
            P,
            URLS,
            json!({ "path": "/hls/a.ts", "policy_resource": "/hls/..;/*" }),
            422,
            "invalid_path",
        ),
        r(
            "pattern with encoded dots",
            P,
            URLS,
            json!({ "path": "/hls/a.ts", "policy_resource": "/hls/%2e%2e/*" }),
            422,
            "invalid_path",
        ),
        r(
            "pattern not covering the URL",
            P,
            URLS,
            json!({ "path": "/secret/a.ts", "policy_resource": "/hls/*" }),
            422,
            "policy_resource_mismatch",
        ),
        r(
            "cookie pattern outside the grant",
            P,
            COOKIES,
            json!({ "resource": "/*" }),
            403,
            "forbidden",
        ),
        r(
            "cookie pattern widening the prefix",
            P,
            COOKIES,
            json!({ "resource": "/hls*" }),
            403,
            "forbidden",
        ),
        r(
            "cookie pattern with a qmark",
            P,
            COOKIES,
            json!({ "resource": "/hls/a?" }),
            422,
            "invalid_path",
        ),
        r(
            "cookie pattern with dot segments",
            P,
            COOKIES,
            json!({ "resource": "/hls/../*" }),
            422,
            "invalid_path",
        ),
        // A bare `*` would be an object key named `*` (/%2A), never the pattern
        // meant: refused with the path pattern to use instead.
        r(
            "cookie key star",
            P,
            COOKIES,
            json!({ "resource": "*" }),
            422,
            "invalid_key",
        ),
        r(
            "cookies without the cookie grant",
            M,
            COOKIES,
            json!({ "resource": "/uploads/*" }),
            403,
            "forbidden",
        ),
    ];
    run_refused(&app, &cases).await;
}

/// The control: a caller holding the wildcard grant does get a wildcard, and
/// exactly the one it asked for.
#[tokio::test]
async fn a_granted_wildcard_is_exactly_the_one_asked() {
    let app = TestApp::new().await;
    let body = json!({ "path": "/hls/abc/a.ts", "policy_resource": "/hls/abc/*" });
    let (reply, id) = send(&app.router, URLS, &app.player(), body.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let url = reply.json["url"].as_str().unwrap();
    let policy = url.split("Policy=").nth(1).unwrap().split('&').next().unwrap();
    let decoded = String::from_utf8(base64cf::decode(policy).unwrap()).unwrap();
    assert_single_statement(&decoded, &format!("{VIDEOS}/hls/abc/*"), "granted wildcard");
    assert_eq!(audit_for(&id).len(), 1);
}
