//! Path traversal through `path` and through `key`: refused.

use serde_json::json;

use super::{URLS, Who, r, run_refused};
use crate::harness::app::TestApp;

#[tokio::test]
async fn path_traversal_through_path_is_refused() {
    use Who::Mailer as M;
    let app = TestApp::new().await;
    let p = |name, path: &str, status, code| r(name, M, URLS, json!({ "path": path }), status, code);
    let cases = [
        p("dot-dot", "/uploads/../secret", 422, "invalid_path"),
        p("dot", "/uploads/./../secret", 422, "invalid_path"),
        p("trailing dot-dot", "/uploads/..", 422, "invalid_path"),
        p("encoded dots", "/uploads/%2e%2e/secret", 422, "invalid_path"),
        p("encoded dots upper", "/uploads/%2E%2E/secret", 422, "invalid_path"),
        p("half-encoded dots", "/uploads/.%2e/secret", 422, "invalid_path"),
        p("encoded slash", "/uploads/..%2fsecret", 422, "invalid_path"),
        p("encoded slash upper", "/uploads%2F..%2Fsecret", 422, "invalid_path"),
        p("backslash", "/uploads/..\\secret", 422, "invalid_path"),
        p("encoded backslash", "/uploads/..%5csecret", 422, "invalid_path"),
        p("double-encoded dot", "/uploads/%252e%252e/secret", 422, "invalid_path"),
        p("double-encoded slash", "/uploads/..%252fsecret", 422, "invalid_path"),
        p(
            "fullwidth dots and solidus",
            "/uploads/．．／secret",
            422,
            "invalid_path",
        ),
        p(
            "division slash U+2215",
            "/uploads/..\u{2215}secret",
            422,
            "invalid_path",
        ),
        p("raw NUL", "/uploads/a\u{0}.pdf", 422, "invalid_path"),
        p("encoded NUL", "/uploads/a%00.pdf", 422, "invalid_path"),
        p("raw unit separator", "/uploads/a\u{1f}", 422, "invalid_path"),
        p("encoded US", "/uploads/a%1F", 422, "invalid_path"),
        p("encoded DEL", "/uploads/a%7f", 422, "invalid_path"),
        p("raw tab", "/uploads/a\tb", 422, "invalid_path"),
        p("CRLF", "/uploads/a\r\nSet-Cookie: x", 422, "invalid_path"),
        // Regression: `..;x` is a dot segment to Tomcat/Spring-style origins;
        // it used to be signed (src/service/paths.rs now refuses it).
        p(
            "dot-dot with a path parameter",
            "/uploads/..;/secret",
            422,
            "invalid_path",
        ),
        p(
            "dot with a path parameter",
            "/uploads/.;x=1/..;y/secret",
            422,
            "invalid_path",
        ),
        p("empty segment", "/uploads//../secret", 422, "invalid_path"),
        p("protocol-relative host", "//evil.test/uploads/a", 422, "invalid_path"),
        p(
            "no leading slash (host injection)",
            ".evil.test/uploads/a",
            422,
            "invalid_path",
        ),
        p("userinfo injection", "@evil.test/uploads/a", 422, "invalid_path"),
        p("bad escape", "/uploads/%zz", 422, "invalid_path"),
        p("truncated escape", "/uploads/a%2", 422, "invalid_path"),
        p("%u escape", "/uploads/%u002e%u002e/x", 422, "invalid_path"),
        p("outside the prefix", "/secret/a.pdf", 403, "forbidden"),
        p("prefix look-alike", "/uploadsX/a.pdf", 403, "forbidden"),
        p("the prefix itself", "/uploads", 403, "forbidden"),
        p("prefix in another case", "/UPLOADS/a.pdf", 403, "forbidden"),
    ];
    run_refused(&app, &cases).await;
}

#[tokio::test]
async fn path_traversal_through_key_is_refused() {
    use Who::Mailer as M;
    let app = TestApp::new().await;
    let k = |name, key: &str, status, code| r(name, M, URLS, json!({ "key": key }), status, code);
    let cases = [
        k("dot-dot", "uploads/../secret", 422, "invalid_key"),
        k("dot", "uploads/./a", 422, "invalid_key"),
        k("leading dot-dot", "../secret", 422, "invalid_key"),
        k("rooted dot-dot", "/../secret", 422, "invalid_key"),
        k("trailing dot-dot", "uploads/..", 422, "invalid_key"),
        k("empty segment", "uploads//a", 422, "invalid_key"),
        k("empty", "", 422, "invalid_key"),
        k("just a slash", "/", 422, "invalid_key"),
        k("NUL", "uploads/a\u{0}.pdf", 422, "invalid_key"),
        k("newline", "uploads/a\n.pdf", 422, "invalid_key"),
        k("DEL", "uploads/a\u{7f}", 422, "invalid_key"),
        k("C1 control NEL", "uploads/a\u{85}", 422, "invalid_key"),
        // Encoded as data, these name objects outside /uploads: refused by the grant.
        k("outside the prefix", "secret/a.pdf", 403, "forbidden"),
        k("backslashes", "..\\secret", 403, "forbidden"),
        k("backslash after prefix", "uploads\\..\\secret", 403, "forbidden"),
        k("encoded dots", "%2e%2e/secret", 403, "forbidden"),
        k("encoded slash after prefix", "uploads%2F..%2Fsecret", 403, "forbidden"),
        k("fullwidth", "．．／secret", 403, "forbidden"),
        k("division slash", "..\u{2215}secret", 403, "forbidden"),
        k("the prefix itself", "uploads", 403, "forbidden"),
    ];
    run_refused(&app, &cases).await;
}
