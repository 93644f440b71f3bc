//! Caller requests: arbitrary bytes → serde_json into `UrlRequest` and
//! `CookieRequest` → `Issuer::plan_url` / `plan_cookies` for two callers,
//! with a fixed snapshot and clock. Must never panic; and whatever is
//! planned must stay inside the caller's grant:
//! - the mailer (no wildcard grant) only ever gets a concrete resource under
//!   `https://cdn.example.com/uploads/`, valid at most 7 days;
//! - the player only ever gets resources under
//!   `https://d111111abcdef8.cloudfront.net/hls/`, valid at most 6 hours;
//! - a signed URL verifies against the public key, at "now", from the
//!   client address, and grants exactly the planned resource.
#![no_main]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use cfsign::auth::Caller;
use cfsign::service::{CookieRequest, Granted, IpRequest, Issuer, UrlRequest};
use cfsign::signing::{CidrV4, FailureCode, RequestContext, verify_url};
use common::{KEY_PAIR_ID, NOW, fixture};
use libfuzzer_sys::fuzz_target;

const CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);

fn check_granted(g: &Granted, caller: &str) {
    let (prefix, max_ttl, wildcard_ok) = match caller {
        "mailer" => ("https://cdn.example.com/uploads/", 7 * 86_400, false),
        _ => ("https://d111111abcdef8.cloudfront.net/hls/", 6 * 3_600, true),
    };
    assert!(g.resource.starts_with(prefix), "{caller}: {g:?}");
    assert!(
        wildcard_ok || (!g.resource.contains('*') && g.resource.matches('?').count() <= 1),
        "{caller}: {g:?}"
    );
    assert!(g.expires > NOW && g.expires - NOW <= max_ttl, "{caller}: {g:?}");
    assert_eq!(g.key_pair_id, KEY_PAIR_ID);
}

fn url(issuer: &Issuer<'_>, req: &UrlRequest, caller: &str) {
    let Ok(plan) = issuer.plan_url(req) else { return };
    check_granted(plan.granted(), caller);
    let answer = plan.sign().expect("a planned URL signs");
    let f = fixture();
    // An explicit range is checked from its own first address.
    let client_ip = match &req.ip_address {
        Some(IpRequest::Range(r)) => r.parse::<CidrV4>().map(|c| c.addr()).unwrap(),
        _ => CLIENT,
    };
    let verdict = verify_url(
        &answer.url,
        &(KEY_PAIR_ID, &f.public),
        RequestContext {
            at: NOW,
            client_ip: Some(client_ip),
        },
    );
    // A start time after "now" is the one acceptable reason to refuse.
    let later = req.not_before.is_some()
        && verdict
            .failure
            .as_ref()
            .is_some_and(|e| e.code == FailureCode::NotYetValid);
    assert!(
        verdict.is_valid() || later,
        "{req:?} -> {} : {:?}",
        answer.url,
        verdict.failure
    );
    let policy: serde_json::Value = serde_json::from_str(verdict.policy_json.as_deref().unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{policy}");
    assert_eq!(statements[0]["Resource"], plan.granted().resource.as_str(), "{policy}");
}

fn cookies(issuer: &Issuer<'_>, req: &CookieRequest, caller: &str) {
    let Ok(plan) = issuer.plan_cookies(req) else { return };
    check_granted(plan.granted(), caller);
    let answer = plan.sign().expect("planned cookies sign");
    for (name, value) in &answer.cookies.0 {
        assert!(!value.contains(['\r', '\n', ';']), "{name}={value:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let client = Some(IpAddr::V4(CLIENT));
    let callers: [(&Caller, &str); 2] = [(&f.mailer, "mailer"), (&f.player, "player")];
    if let Ok(req) = serde_json::from_slice::<UrlRequest>(data) {
        for (caller, name) in callers {
            url(&Issuer::new(&f.snapshot, caller, NOW, client), &req, name);
        }
    }
    if let Ok(req) = serde_json::from_slice::<CookieRequest>(data) {
        for (caller, name) in callers {
            cookies(&Issuer::new(&f.snapshot, caller, NOW, client), &req, name);
        }
    }
});
