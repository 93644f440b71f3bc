//! The grant-bypass suite: every way a caller might try to get a signature
//! for more than its grants allow — path traversal, wildcard injection, JSON
//! injection into the policy, query-parameter smuggling, lifetime overflow,
//! IP-range tricks, distributions it does not hold — driven through the real
//! router.
//!
//! Two tables:
//! - `refused`: the request must get a 4xx problem body, nothing signed (no
//!   `url`, no cookies, no `Set-Cookie`, no signature anywhere in the body),
//!   and **exactly one** audit event for its request id: a denial.
//! - `inert`: input that looks hostile but is *data* once encoded (an S3 key
//!   is percent-encoded segment by segment, so `../`, `*`, `?`, `"` become
//!   literal characters of one object name). Such requests are signed, and
//!   the suite proves the signature stays inside the grant: the URL path and
//!   the policy's single `Resource` are exactly the expected ones, no raw
//!   wildcard appears, each CloudFront parameter appears once, the URL
//!   verifies, and exactly one audit event (an issuance) is recorded.
//!
//! Audit events are captured by a global `tracing` layer that keeps every
//! event on the `cfsign::audit` target; each request carries a unique
//! `x-request-id`, and the assertions count only the events with that id.
//! That is robust to the test harness running tests on several threads (a
//! thread-local subscriber would miss events emitted on another thread, and a
//! global count would mix concurrent tests).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, Request};
use cfsign::signing::{RequestContext, base64cf, verify_url};
use serde_json::{Value, json};
use tower::ServiceExt;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

use crate::harness::app::{Reply, TestApp};
use crate::harness::config::Grant;
use crate::harness::fixtures::{now, public};

// ---------------------------------------------------------------------------
// Audit capture
// ---------------------------------------------------------------------------

/// One audit event's fields, as strings.
type AuditEvent = BTreeMap<String, String>;

fn events() -> &'static Mutex<Vec<AuditEvent>> {
    static EVENTS: OnceLock<Mutex<Vec<AuditEvent>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(AuditCapture);
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in this test binary");
        Mutex::new(Vec::new())
    })
}

struct AuditCapture;

#[derive(Default)]
struct Fields(AuditEvent);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AuditCapture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "cfsign::audit" {
            let mut fields = Fields::default();
            event.record(&mut fields);
            events().lock().unwrap().push(fields.0);
        }
    }
}

/// The audit events recorded for `request_id`.
fn audit_for(request_id: &str) -> Vec<AuditEvent> {
    events()
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.get("request_id").map(String::as_str) == Some(request_id))
        .cloned()
        .collect()
}

fn fresh_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("bypass-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// Sends `body` (raw JSON text) to `route` through `router` with a fresh
/// request id; returns the reply and that id.
async fn send(router: &Router, route: &str, token: &str, body: String) -> (Reply, String) {
    let _ = events(); // the capture must be installed before the first event
    let id = fresh_request_id();
    let request = Request::builder()
        .method(Method::POST)
        .uri(route)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .header("x-request-id", &id)
        .body(Body::from(body))
        .unwrap();
    let reply = Reply::read(router.clone().oneshot(request).await.unwrap()).await;
    (reply, id)
}

const URLS: &str = "/v1/signed-urls";
const COOKIES: &str = "/v1/signed-cookies";

/// Who asks.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// `reports` only, `/uploads/*`, 7 days; no wildcard, cookies or IP binding.
    Mailer,
    /// `videos` only, `/hls/*`, 6 hours; wildcards, cookies and IP binding.
    Player,
    /// A valid token that no grant applies to.
    Stranger,
}

fn token(app: &TestApp, who: Who) -> String {
    match who {
        Who::Mailer => app.mailer(),
        Who::Player => app.player(),
        Who::Stranger => app.token(json!({ "sub": "stranger", "scope": "video:write" })),
    }
}

// ---------------------------------------------------------------------------
// Refused: 4xx, nothing signed, exactly one audit denial
// ---------------------------------------------------------------------------

/// One refused attempt: `body` is raw JSON text so that shapes `json!` cannot
/// express (u64::MAX + 1, `-0`, duplicate keys) can be sent too.
struct Refused {
    name: &'static str,
    who: Who,
    route: &'static str,
    body: String,
    status: u16,
    code: &'static str,
}

fn r(name: &'static str, who: Who, route: &'static str, body: Value, status: u16, code: &'static str) -> Refused {
    Refused {
        name,
        who,
        route,
        body: body.to_string(),
        status,
        code,
    }
}

fn raw(name: &'static str, who: Who, route: &'static str, body: &str, status: u16, code: &'static str) -> Refused {
    Refused {
        name,
        who,
        route,
        body: body.to_owned(),
        status,
        code,
    }
}

/// Asserts the refusal: problem body, nothing signed, one audit denial.
async fn expect_refused(app: &TestApp, router: &Router, case: &Refused) {
    let (reply, id) = send(router, case.route, &token(app, case.who), case.body.clone()).await;
    let what = format!("[{}] {} {}", case.name, case.route, case.body);
    assert_eq!(
        reply.status.as_u16(),
        case.status,
        "{what}\n  -> {}",
        String::from_utf8_lossy(&reply.raw)
    );
    reply.problem(case.status, case.code);
    assert_eq!(reply.json["request_id"], id.as_str(), "{what}");
    // Nothing signed.
    for field in ["url", "cookies", "set_cookie", "expires", "key_pair_id"] {
        assert!(reply.json.get(field).is_none(), "{what}: body has {field:?}");
    }
    assert!(reply.headers.get("set-cookie").is_none(), "{what}: Set-Cookie sent");
    let body = String::from_utf8_lossy(&reply.raw);
    for secret in ["Signature=", "CloudFront-Signature", "Key-Pair-Id="] {
        assert!(!body.contains(secret), "{what}: body mentions {secret}");
    }
    // Exactly one audit event for this request, and it is a denial.
    let audit = audit_for(&id);
    assert_eq!(audit.len(), 1, "{what}: audit events {audit:#?}");
    let event = &audit[0];
    assert_eq!(
        event.get("event").map(String::as_str),
        Some("denied"),
        "{what}: {event:?}"
    );
    assert_eq!(
        event.get("decision").map(String::as_str),
        Some("deny"),
        "{what}: {event:?}"
    );
    assert!(event.get("reason").is_some_and(|r| !r.is_empty()), "{what}: {event:?}");
}

async fn run_refused(app: &TestApp, cases: &[Refused]) {
    for case in cases {
        expect_refused(app, &app.router, case).await;
    }
}

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
        // A bare `*` is an object key: encoded to /%2A, which /hls/* does not cover.
        r(
            "cookie key star",
            P,
            COOKIES,
            json!({ "resource": "*" }),
            403,
            "forbidden",
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
        raw(
            "expires_at without time",
            M,
            URLS,
            &key(r#""expires_at":"2030-01-01""#),
            422,
            "invalid_times",
        ),
        raw(
            "expires_at without offset",
            M,
            URLS,
            &key(r#""expires_at":"2030-01-01T00:00:00""#),
            422,
            "invalid_times",
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

#[tokio::test]
async fn ip_ranges_must_be_ipv4_and_granted() {
    use Who::{Mailer as M, Player as P};
    let app = TestApp::new().await;
    let ip = |name, who, value: Value, status, code| {
        let body = match who {
            Who::Player => json!({ "path": "/hls/a.ts", "ip_address": value }),
            _ => json!({ "key": "uploads/a.pdf", "ip_address": value }),
        };
        r(name, who, URLS, body, status, code)
    };
    let cases = [
        ip("IPv4 without the IP grant", M, json!("192.0.2.1"), 403, "forbidden"),
        ip(
            "everything without the IP grant",
            M,
            json!("0.0.0.0/0"),
            403,
            "forbidden",
        ),
        ip("client without the IP grant", M, json!("client"), 403, "forbidden"),
        ip("IPv6 range", P, json!("2001:db8::/32"), 422, "invalid_ip_address"),
        ip("IPv6 loopback", P, json!("::1"), 422, "invalid_ip_address"),
        ip(
            "IPv4-mapped IPv6",
            P,
            json!("::ffff:192.0.2.1"),
            422,
            "invalid_ip_address",
        ),
        ip("prefix 33", P, json!("192.0.2.1/33"), 422, "invalid_ip_address"),
        ip("empty prefix", P, json!("192.0.2.1/"), 422, "invalid_ip_address"),
        ip("negative prefix", P, json!("192.0.2.1/-1"), 422, "invalid_ip_address"),
        ip("two prefixes", P, json!("192.0.2.0/24/8"), 422, "invalid_ip_address"),
        ip("octet 256", P, json!("192.0.2.256"), 422, "invalid_ip_address"),
        ip("leading zero", P, json!("01.2.3.4"), 422, "invalid_ip_address"),
        ip("short form", P, json!("127.1"), 422, "invalid_ip_address"),
        ip("spaces", P, json!(" 192.0.2.1"), 422, "invalid_ip_address"),
        ip("newline", P, json!("192.0.2.1\n"), 422, "invalid_ip_address"),
        ip("star", P, json!("*"), 422, "invalid_ip_address"),
        ip("empty", P, json!(""), 422, "invalid_ip_address"),
        ip("Client in capitals", P, json!("Client"), 422, "invalid_ip_address"),
        ip("a number", P, json!(3221225985u32), 422, "invalid_request"),
        ip(
            "a list",
            P,
            json!(["192.0.2.1", "198.51.100.1"]),
            422,
            "invalid_request",
        ),
    ];
    run_refused(&app, &cases).await;
}

#[tokio::test]
async fn client_binding_from_an_ipv6_peer_is_refused() {
    let app = TestApp::new().await;
    let v6: std::net::SocketAddr = "[2001:db8::7]:40000".parse().unwrap();
    let options = cfsign::server::http_options(&app.config);
    let router = cfsign::http::router(app.state.clone(), &options).layer(MockConnectInfo(v6));
    let case = r(
        "client is IPv6",
        Who::Player,
        URLS,
        json!({ "path": "/hls/a.ts", "ip_address": "client" }),
        422,
        "invalid_ip_address",
    );
    expect_refused(&app, &router, &case).await;
}

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

// ---------------------------------------------------------------------------
// Inert: hostile-looking data that is signed, but only for what was granted
// ---------------------------------------------------------------------------

struct Inert {
    name: &'static str,
    who: Who,
    body: Value,
    /// The exact resource (URL without signing parameters) that must be signed.
    resource: String,
}

const REPORTS: &str = "https://cdn.example.com";
const VIDEOS: &str = "https://d111111abcdef8.cloudfront.net";

fn reports(name: &'static str, body: Value, path_and_query: &str) -> Inert {
    Inert {
        name,
        who: Who::Mailer,
        body,
        resource: format!("{REPORTS}{path_and_query}"),
    }
}

/// The player's requests are bound to an IP range so that the policy is
/// custom: it then travels in `Policy=` and can be decoded from the URL.
fn videos(name: &'static str, mut body: Value, path_and_query: &str) -> Inert {
    body["ip_address"] = json!("192.0.2.1");
    Inert {
        name,
        who: Who::Player,
        body,
        resource: format!("{VIDEOS}{path_and_query}"),
    }
}

const RESERVED: [&str; 5] = ["Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"];

/// Checks one policy document: one statement, exactly the expected resource,
/// only the conditions CloudFront knows.
fn assert_single_statement(policy: &str, resource: &str, what: &str) {
    let doc: Value = serde_json::from_str(policy).unwrap_or_else(|e| panic!("{what}: policy {policy:?}: {e}"));
    let top: Vec<_> = doc.as_object().unwrap().keys().collect();
    assert_eq!(top, ["Statement"], "{what}: {policy}");
    let statements = doc["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{what}: {policy}");
    let statement = statements[0].as_object().unwrap();
    let keys: Vec<_> = statement.keys().collect();
    assert_eq!(keys, ["Condition", "Resource"], "{what}: {policy}");
    assert_eq!(statement["Resource"], resource, "{what}: {policy}");
    for condition in statement["Condition"].as_object().unwrap().keys() {
        assert!(
            ["DateLessThan", "DateGreaterThan", "IpAddress"].contains(&condition.as_str()),
            "{what}: {policy}"
        );
    }
}

async fn expect_inert(app: &TestApp, case: &Inert) {
    let (reply, id) = send(&app.router, URLS, &token(app, case.who), case.body.to_string()).await;
    let what = format!("[{}] {}", case.name, case.body);
    assert_eq!(reply.status, 200, "{what}\n  -> {}", reply.json);
    let url = reply.json["url"].as_str().unwrap();
    // The URL is the expected resource plus CloudFront's parameters, appended once.
    let rest = url
        .strip_prefix(case.resource.as_str())
        .unwrap_or_else(|| panic!("{what}: {url} does not start with {}", case.resource));
    let rest = rest
        .strip_prefix(if case.resource.contains('?') { '&' } else { '?' })
        .unwrap_or_else(|| panic!("{what}: {url}"));
    let params: Vec<(&str, &str)> = rest.split('&').map(|p| p.split_once('=').unwrap()).collect();
    for (name, _) in &params {
        assert!(RESERVED.contains(name), "{what}: unexpected parameter {name} in {url}");
    }
    for name in RESERVED {
        let n = url
            .split(['?', '&'])
            .filter(|p| p.split('=').next().unwrap().eq_ignore_ascii_case(name))
            .count();
        assert!(n <= 1, "{what}: {name} appears {n} times in {url}");
    }
    assert!(!url.contains('*'), "{what}: raw wildcard in {url}");
    assert_eq!(url.matches('?').count(), 1, "{what}: {url}");
    // It verifies, and its policy grants exactly the resource.
    let (kpid, key) = match case.who {
        Who::Player => ("KECDSA00000001", "ec-p256.pub.pem"),
        _ => ("K2JCJMDEHXQW5F", "rsa2048.pub.pem"),
    };
    let pk = public(key);
    let verdict = verify_url(
        url,
        &(kpid, &pk),
        RequestContext {
            at: now(),
            client_ip: Some("192.0.2.1".parse().unwrap()),
        },
    );
    assert!(verdict.is_valid(), "{what}: {:?}", verdict.failure);
    assert_single_statement(verdict.policy_json.as_deref().unwrap(), &case.resource, &what);
    if let Some((_, policy)) = params.iter().find(|(n, _)| *n == "Policy") {
        let decoded = String::from_utf8(base64cf::decode(policy).unwrap()).unwrap();
        assert_single_statement(&decoded, &case.resource, &what);
        assert!(!decoded.contains('*'), "{what}: wildcard in {decoded}");
    }
    // Exactly one audit event: the issuance, naming the same resource.
    let audit = audit_for(&id);
    assert_eq!(audit.len(), 1, "{what}: {audit:#?}");
    assert_eq!(audit[0]["event"], "issued", "{what}");
    assert_eq!(audit[0]["resource"], case.resource, "{what}");
}

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
