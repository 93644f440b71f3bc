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
//! Audit events are read from the audit files of the in-process apps (an
//! answer is released only once its event is written); each request
//! carries a unique `x-request-id`, and the assertions count only the
//! events with that id, so concurrent tests do not mix.
//!
//! The helpers are here; each child module is one class of attempt.

mod audit;
mod distributions;
mod injection;
mod ip;
mod lifetimes;
mod literal_keys;
mod paths;
mod wildcards;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use cfsign::signing::{RequestContext, base64cf, verify_url};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::harness::app::{Reply, TestApp, all_audit_events};
use crate::harness::fixtures::{now, public};

// ---------------------------------------------------------------------------
// Audit capture
// ---------------------------------------------------------------------------

/// One audit event's fields, as strings.
type AuditEvent = BTreeMap<String, String>;

/// The audit events recorded for `request_id`, from the audit files of the
/// in-process apps (each request's events are written before its answer).
fn audit_for(request_id: &str) -> Vec<AuditEvent> {
    all_audit_events()
        .iter()
        .filter(|e| e["request_id"] == request_id)
        .map(|e| {
            e.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect()
        })
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
