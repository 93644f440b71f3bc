//! Distributions the caller holds no grant for: refused.

use serde_json::json;

use super::{COOKIES, URLS, Who, r, run_refused};
use crate::harness::app::TestApp;

#[tokio::test]
async fn distributions_not_granted_are_refused() {
    use Who::{Mailer as M, Player as P, Stranger as S};
    let app = TestApp::new().await;
    let with = |name, who, route, dist: &str| {
        let body = if route == COOKIES {
            json!({ "resource": "/hls/*", "distribution": dist })
        } else {
            json!({ "key": "uploads/a.pdf", "distribution": dist })
        };
        r(name, who, route, body, 403, "forbidden")
    };
    let cases = [
        with("another caller's distribution", M, URLS, "videos"),
        with("unknown distribution", M, URLS, "nope"),
        with("empty name", M, URLS, ""),
        with("name in another case", M, URLS, "REPORTS"),
        with("name with a NUL", M, URLS, "reports\u{0}"),
        with("name with a trailing space", M, URLS, "reports "),
        with("cookies for another distribution", P, COOKIES, "reports"),
        r(
            "no grant at all",
            S,
            URLS,
            json!({ "key": "uploads/a.pdf" }),
            403,
            "forbidden",
        ),
        r(
            "no grant at all (cookies)",
            S,
            COOKIES,
            json!({ "resource": "/hls/*" }),
            403,
            "forbidden",
        ),
        r(
            "no grant, naming a distribution",
            S,
            URLS,
            json!({ "key": "uploads/a.pdf", "distribution": "reports" }),
            403,
            "forbidden",
        ),
        // Shape errors around the distribution are refused too (and audited).
        r(
            "distribution as a number",
            M,
            URLS,
            json!({ "key": "uploads/a.pdf", "distribution": 1 }),
            422,
            "invalid_request",
        ),
        r(
            "unknown field",
            M,
            URLS,
            json!({ "key": "uploads/a.pdf", "distributions": ["videos"] }),
            422,
            "invalid_request",
        ),
    ];
    run_refused(&app, &cases).await;
}
