//! Hostile-looking keys, paths and queries are data once encoded: signed as
//! literal names, inside the grant.

use serde_json::json;

use super::{expect_inert, reports, videos};
use crate::harness::app::TestApp;

#[tokio::test]
async fn hostile_looking_keys_are_signed_as_literal_names_inside_the_grant() {
    let app = TestApp::new().await;
    let key = |name, key: &str, path: &str| reports(name, json!({ "key": key }), path);
    let cases = [
        key("encoded dots", "uploads/%2e%2e/secret", "/uploads/%252e%252e/secret"),
        key("encoded slash", "uploads/..%2Fsecret", "/uploads/..%252Fsecret"),
        key("backslashes", "uploads/..\\..\\secret", "/uploads/..%5C..%5Csecret"),
        key("double encoding", "uploads/%252e%252e/x", "/uploads/%25252e%25252e/x"),
        key(
            "fullwidth dots and solidus",
            "uploads/．．／secret",
            "/uploads/%EF%BC%8E%EF%BC%8E%EF%BC%8Fsecret",
        ),
        key(
            "division slash",
            "uploads/..\u{2215}secret",
            "/uploads/..%E2%88%95secret",
        ),
        key("three dots", "uploads/.../a", "/uploads/.../a"),
        key("leading slash", "/uploads/a.pdf", "/uploads/a.pdf"),
        key("star", "uploads/*", "/uploads/%2A"),
        key("star and qmark", "uploads/a*b?.pdf", "/uploads/a%2Ab%3F.pdf"),
        key(
            "query in key",
            "uploads/a.pdf?Expires=1&Signature=x&Key-Pair-Id=K",
            "/uploads/a.pdf%3FExpires%3D1%26Signature%3Dx%26Key-Pair-Id%3DK",
        ),
        key(
            "fragment in key",
            "uploads/a.pdf#Policy=x",
            "/uploads/a.pdf%23Policy%3Dx",
        ),
        key(
            "JSON in key",
            r#"uploads/a"}},"Condition":{}},{"Resource":"*"#,
            "/uploads/a%22%7D%7D%2C%22Condition%22%3A%7B%7D%7D%2C%7B%22Resource%22%3A%22%2A",
        ),
        reports(
            "encoded qmark in path",
            json!({ "path": "/uploads/a.pdf%3FExpires=1" }),
            "/uploads/a.pdf%3FExpires=1",
        ),
        reports(
            "encoded star in path",
            json!({ "path": "/uploads/a%2A.pdf" }),
            "/uploads/a%2A.pdf",
        ),
        reports(
            "parameters in a query value",
            json!({ "key": "uploads/a.pdf", "query": { "x": "1&Expires=2&Signature=3" } }),
            "/uploads/a.pdf?x=1%26Expires%3D2%26Signature%3D3",
        ),
        reports(
            "wildcards in a query",
            json!({ "key": "uploads/a.pdf", "query": { "*": "?" } }),
            "/uploads/a.pdf?%2A=%3F",
        ),
        reports(
            "look-alike query name",
            json!({ "key": "uploads/a.pdf", "query": { "Expires ": "1", "Ｅｘｐｉｒｅｓ": "2" } }),
            "/uploads/a.pdf?Expires%20=1&%EF%BC%A5%EF%BD%98%EF%BD%90%EF%BD%89%EF%BD%92%EF%BD%85%EF%BD%93=2",
        ),
        videos(
            "JSON in key, custom policy",
            json!({ "key": r#"hls/a"}],"X":[{"Resource":"*"# }),
            "/hls/a%22%7D%5D%2C%22X%22%3A%5B%7B%22Resource%22%3A%22%2A",
        ),
        videos(
            "JSON in a query value, custom policy",
            json!({ "path": "/hls/a.ts", "query": { "q": r#""}]},{"Resource":"*"# } }),
            "/hls/a.ts?q=%22%7D%5D%7D%2C%7B%22Resource%22%3A%22%2A",
        ),
    ];
    for case in &cases {
        expect_inert(&app, case).await;
    }
}
