//! Signature and token caches: expiry quantisation makes repeated requests
//! share one policy (hence one cached signature and one stable URL) without
//! ever exceeding the grant; verified tokens are reused only under the key
//! set that verified them.

use cfsign::auth::{Authenticator, Caller, KeySet};
use cfsign::service::{Issuer, Snapshot, UrlRequest};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use crate::harness::config::{Distribution, Grant, Key, TestConfig};
use crate::harness::fixtures::key_file;
use crate::harness::tokens::{AUDIENCE, ISSUER};

/// The standard config plus `thumbs` (expiries quantised to 5 minutes) and
/// the grant `gallery` for `/t/*` on it.
fn snapshot() -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestConfig::in_process(dir.path());
    let mut thumbs = Distribution::new(
        "thumbs",
        "https://img.example.com",
        vec![Key::new("KTHUMBS0000001", key_file("rsa2048.pem"))],
    );
    thumbs.expiry_granularity = Some("5m".into());
    c.distributions.push(thumbs);
    c.grants
        .push(Grant::subject("gallery", "gallery", "thumbs", "/t/*", "1h"));
    Snapshot::load(&c.load().unwrap()).unwrap()
}

fn gallery() -> Caller {
    Caller {
        subject: Some("gallery".into()),
        client: None,
        issuer: ISSUER.into(),
        scopes: vec![],
        groups: vec![],
        expires_at: i64::MAX,
        claims: Default::default(),
    }
}

fn request(ttl: Option<u64>, expires_at: Option<&str>) -> UrlRequest {
    UrlRequest {
        distribution: Some("thumbs".into()),
        key: Some("t/cat.jpg".into()),
        ttl_seconds: ttl,
        expires_at: expires_at.map(str::to_owned),
        ..UrlRequest::default()
    }
}

#[test]
fn quantised_expiries_share_one_signature_and_url() {
    let snapshot = snapshot();
    let caller = gallery();
    let now = 1_800_000_010; // 10 s into a 5-minute window
    let first = Issuer::new(&snapshot, &caller, now, None)
        .plan_url(&request(Some(600), None))
        .unwrap();
    assert_eq!(
        first.granted().expires,
        1_800_000_900,
        "now + 600 = …610, rounded up to the next 5-minute boundary"
    );
    assert!(first.cached().is_none(), "nothing cached yet");
    let signed = first.sign().unwrap();
    // Two minutes later, the same request lands on the same policy: a cache hit.
    let later = Issuer::new(&snapshot, &caller, now + 120, None)
        .plan_url(&request(Some(600), None))
        .unwrap();
    let cached = later.cached().expect("the policy was signed before");
    assert_eq!(cached.url, signed.url);
    assert_eq!(
        later.sign().unwrap().url,
        signed.url,
        "RSA PKCS#1 v1.5 is deterministic"
    );
}

#[test]
fn quantisation_never_exceeds_max_ttl_and_never_shortens() {
    let snapshot = snapshot();
    let caller = gallery();
    let now = 1_800_000_010;
    // 3600 s is the grant's max: rounding up would exceed it, so it stays exact.
    let plan = Issuer::new(&snapshot, &caller, now, None)
        .plan_url(&request(Some(3600), None))
        .unwrap();
    assert_eq!(plan.granted().expires, now + 3600);
    for ttl in [1, 299, 300, 301, 3000] {
        let plan = Issuer::new(&snapshot, &caller, now, None)
            .plan_url(&request(Some(ttl), None))
            .unwrap();
        let expires = plan.granted().expires;
        assert!(
            expires >= now + ttl as i64 && expires % 300 == 0 && expires - now <= 3600,
            "{ttl}: {expires}"
        );
    }
    // An absolute expiry is what the caller asked for: never rounded.
    let plan = Issuer::new(&snapshot, &caller, now, None)
        .plan_url(&request(None, Some("2027-01-15T08:16:47Z")))
        .unwrap();
    assert_eq!(plan.granted().expires, 1_800_001_007);
}

#[test]
fn unquantised_distributions_do_not_share_policies_across_seconds() {
    let snapshot = snapshot();
    let caller = common_mailer();
    let now = 1_800_000_010;
    let req = UrlRequest {
        key: Some("uploads/a.pdf".into()),
        ttl_seconds: Some(600),
        ..UrlRequest::default()
    };
    let a = Issuer::new(&snapshot, &caller, now, None).plan_url(&req).unwrap();
    a.sign().unwrap();
    let b = Issuer::new(&snapshot, &caller, now + 1, None).plan_url(&req).unwrap();
    assert!(b.cached().is_none());
    assert!(
        Issuer::new(&snapshot, &caller, now, None)
            .plan_url(&req)
            .unwrap()
            .cached()
            .is_some()
    );
}

fn common_mailer() -> Caller {
    Caller {
        subject: Some("mailer".into()),
        ..gallery()
    }
}

#[test]
fn cached_tokens_die_with_the_key_set_that_verified_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = TestConfig::in_process(dir.path()).load().unwrap();
    let auth =
        Authenticator::new(&config.auth, vec![KeySet::hmac(b"first-secret-0123456789abcdef")]).with_token_cache(16);
    let now = crate::harness::fixtures::now();
    let claims = json!({ "sub": "mailer", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600 });
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(b"first-secret-0123456789abcdef"),
    )
    .unwrap();
    assert!(auth.authenticate(&token, now).is_ok());
    assert!(auth.authenticate(&token, now).is_ok(), "served from the cache");
    // Rotate the secret: the cached verification must not survive it.
    auth.reload(&config.auth, vec![KeySet::hmac(b"second-secret-0123456789abcdef")]);
    assert!(auth.authenticate(&token, now).is_err());
}
