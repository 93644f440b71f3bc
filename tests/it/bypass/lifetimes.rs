//! Lifetimes: no overflow, nothing past `max_ttl`, nothing past what RFC 3339
//! can write.

use serde_json::json;

use super::{COOKIES, URLS, Who, audit_for, raw, run_refused, send};
use crate::harness::app::TestApp;
use crate::harness::config::Grant;
use crate::harness::fixtures::now;

#[tokio::test]
async fn lifetimes_cannot_overflow_or_escape_max_ttl() {
    use Who::{Mailer as M, Player as P};
    let app = TestApp::new().await;
    let key = |extra: &str| format!(r#"{{"key":"uploads/a.pdf",{extra}}}"#);
    let cases = [
        raw(
            "ttl over max_ttl",
            M,
            URLS,
            &key(r#""ttl_seconds":604801"#),
            403,
            "forbidden",
        ),
        raw(
            "ttl i64::MAX",
            M,
            URLS,
            &key(r#""ttl_seconds":9223372036854775807"#),
            422,
            "invalid_times",
        ),
        raw(
            "ttl u64::MAX",
            M,
            URLS,
            &key(r#""ttl_seconds":18446744073709551615"#),
            422,
            "invalid_times",
        ),
        raw(
            "ttl u64::MAX+1",
            M,
            URLS,
            &key(r#""ttl_seconds":18446744073709551616"#),
            422,
            "invalid_request",
        ),
        raw(
            "ttl 1e30",
            M,
            URLS,
            &key(r#""ttl_seconds":1e30"#),
            422,
            "invalid_request",
        ),
        raw(
            "ttl negative",
            M,
            URLS,
            &key(r#""ttl_seconds":-1"#),
            422,
            "invalid_request",
        ),
        raw(
            "ttl i64::MIN",
            M,
            URLS,
            &key(r#""ttl_seconds":-9223372036854775808"#),
            422,
            "invalid_request",
        ),
        // `-0` reads as the number 0: refused as a zero lifetime.
        raw(
            "ttl minus zero",
            M,
            URLS,
            &key(r#""ttl_seconds":-0"#),
            422,
            "invalid_times",
        ),
        raw("ttl zero", M, URLS, &key(r#""ttl_seconds":0"#), 422, "invalid_times"),
        raw(
            "ttl float",
            M,
            URLS,
            &key(r#""ttl_seconds":60.5"#),
            422,
            "invalid_request",
        ),
        raw(
            "ttl string",
            M,
            URLS,
            &key(r#""ttl_seconds":"60""#),
            422,
            "invalid_request",
        ),
        raw(
            "ttl bool",
            M,
            URLS,
            &key(r#""ttl_seconds":true"#),
            422,
            "invalid_request",
        ),
        raw(
            "ttl array",
            M,
            URLS,
            &key(r#""ttl_seconds":[60]"#),
            422,
            "invalid_request",
        ),
        raw(
            "ttl and expires_at",
            M,
            URLS,
            &key(r#""ttl_seconds":60,"expires_at":"2100-01-01T00:00:00Z""#),
            422,
            "invalid_times",
        ),
        raw(
            "duplicate ttl keys",
            M,
            URLS,
            &key(r#""ttl_seconds":60,"ttl_seconds":99999999"#),
            422,
            "invalid_request",
        ),
        raw(
            "expires_at in the past",
            M,
            URLS,
            &key(r#""expires_at":"2001-01-01T00:00:00Z""#),
            422,
            "invalid_times",
        ),
        raw(
            "expires_at at the epoch",
            M,
            URLS,
            &key(r#""expires_at":"1970-01-01T00:00:00Z""#),
            422,
            "invalid_times",
        ),
        raw(
            "expires_at year 0",
            M,
            URLS,
            &key(r#""expires_at":"0000-01-01T00:00:00Z""#),
            422,
            "invalid_times",
        ),
        raw(
            "expires_at after 2262",
            M,
            URLS,
            &key(r#""expires_at":"2262-04-12T00:00:00Z""#),
            403,
            "forbidden",
        ),
        raw(
            "expires_at year 9999",
            M,
            URLS,
            &key(r#""expires_at":"9999-12-31T23:59:59Z""#),
            403,
            "forbidden",
        ),
        raw(
            "expires_at year 10000",
            M,
            URLS,
            &key(r#""expires_at":"10000-01-01T00:00:00Z""#),
            422,
            "invalid_times",
        ),
        raw(
            "expires_at +10000",
            M,
            URLS,
            &key(r#""expires_at":"+10000-01-01T00:00:00Z""#),
            422,
            "invalid_times",
        ),
        raw(
            "expires_at words",
            M,
            URLS,
            &key(r#""expires_at":"tomorrow""#),
            422,
            "invalid_times",
        ),
        raw(
            "expires_at empty",
            M,
            URLS,
            &key(r#""expires_at":"""#),
            422,
            "invalid_times",
        ),
        raw(
            "expires_at month 13",
            M,
            URLS,
            &key(r#""expires_at":"2030-13-01T00:00:00Z""#),
            422,
            "invalid_times",
        ),
        // Read as the CLI reads it (midnight / UTC): still past max_ttl.
        raw(
            "expires_at without time",
            M,
            URLS,
            &key(r#""expires_at":"2030-01-01""#),
            403,
            "forbidden",
        ),
        // Read as the CLI reads it (midnight / UTC): still past max_ttl.
        raw(
            "expires_at without offset",
            M,
            URLS,
            &key(r#""expires_at":"2030-01-01T00:00:00""#),
            403,
            "forbidden",
        ),
        raw(
            "expires_at as a number",
            M,
            URLS,
            &key(r#""expires_at":1893456000"#),
            422,
            "invalid_request",
        ),
        raw(
            "not_before after expiry",
            M,
            URLS,
            &key(r#""ttl_seconds":60,"not_before":"2100-01-01T00:00:00Z""#),
            422,
            "invalid_times",
        ),
        raw(
            "not_before equal to expiry",
            M,
            URLS,
            &key(r#""expires_at":"2100-01-01T00:00:00Z","not_before":"2100-01-01T00:00:00Z""#),
            422,
            "invalid_times",
        ),
        raw(
            "not_before unparseable",
            M,
            URLS,
            &key(r#""not_before":"soon""#),
            422,
            "invalid_times",
        ),
        raw(
            "cookie ttl over max_ttl",
            P,
            COOKIES,
            r#"{"resource":"/hls/*","ttl_seconds":21601}"#,
            403,
            "forbidden",
        ),
        raw(
            "cookie ttl negative",
            P,
            COOKIES,
            r#"{"resource":"/hls/*","ttl_seconds":-60}"#,
            422,
            "invalid_request",
        ),
        raw(
            "cookie ttl u64::MAX",
            P,
            COOKIES,
            r#"{"resource":"/hls/*","ttl_seconds":18446744073709551615}"#,
            422,
            "invalid_times",
        ),
        raw(
            "cookie without resource",
            P,
            COOKIES,
            r#"{"ttl_seconds":60}"#,
            422,
            "invalid_request",
        ),
    ];
    run_refused(&app, &cases).await;
}

// ---------------------------------------------------------------------------
// Regression: expiries past what RFC 3339 can write
// ---------------------------------------------------------------------------

/// With a (mis)configured grant whose `max_ttl` is astronomically long, a TTL
/// near `i64::MAX` used to be signed, and the answer's `expires_at` fell back
/// to a bare integer — not the RFC 3339 date-time the contract promises (and a
/// `DateLessThan` no consumer working in nanoseconds can hold). Expiries are
/// now capped at 9999-12-31T23:59:59Z, the last instant RFC 3339 can write.
#[tokio::test]
async fn expiries_beyond_year_9999_are_refused_even_when_max_ttl_allows_them() {
    let app = TestApp::with_config(|c| {
        c.grants.push(Grant::subject(
            "forever",
            "forever",
            "reports",
            "/uploads/*",
            "500000000000years",
        ))
    })
    .await;
    let token = app.token(json!({ "sub": "forever" }));
    let last = 253_402_300_799_i64; // 9999-12-31T23:59:59Z
    for ttl in [
        (i64::MAX - now() - 10) as u64,
        (last - now() + 1) as u64,
        (i64::MAX - now()) as u64,
    ] {
        let body = json!({ "key": "uploads/a.pdf", "ttl_seconds": ttl });
        let (reply, id) = send(&app.router, URLS, &token, body.to_string()).await;
        reply.problem(422, "invalid_times");
        assert!(reply.json.get("url").is_none());
        assert_eq!(audit_for(&id).len(), 1);
    }
    // The last representable second itself is fine, and is written as a date.
    let body = json!({ "key": "uploads/a.pdf", "expires_at": "9999-12-31T23:59:59Z" });
    let (reply, _) = send(&app.router, URLS, &token, body.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["expires_at"], "9999-12-31T23:59:59Z");
    assert_eq!(reply.json["expires"], last);
}
