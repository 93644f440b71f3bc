//! Signature and token caches: expiry quantisation makes repeated requests
//! share one policy (hence one cached signature and one stable URL) without
//! ever exceeding the grant; verified tokens are reused only under the key
//! set that verified them.

mod common;

use cfsign::auth::{Authenticator, Caller, KeySet};
use cfsign::config;
use cfsign::service::{Issuer, Snapshot, UrlRequest};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

const THUMBS: &str = r#"
[[distributions]]
name = "thumbs"
domain = "https://img.example.com"
expiry_granularity = "5m"
keys = [{ key_pair_id = "KTHUMBS0000001", private_key_file = "KEY" }]

[[grants]]
name = "gallery"
subjects = ["gallery"]
distributions = ["thumbs"]
allow = ["/t/*"]
max_ttl = "1h"
"#;

fn snapshot() -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let key = common::fixtures().join("keys/rsa2048.pem");
    let extra = THUMBS.replace("KEY", &key.display().to_string());
    let config = config::from_toml(&common::config_text(dir.path(), &extra)).unwrap();
    Snapshot::load(&config).unwrap()
}

fn gallery() -> Caller {
    Caller {
        subject: Some("gallery".into()),
        client: None,
        issuer: common::ISSUER.into(),
        scopes: vec![],
        groups: vec![],
        expires_at: i64::MAX,
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
        first.grantee.expires, 1_800_000_900,
        "now + 600 = …610, rounded up to the next 5-minute boundary"
    );
    assert!(first.cached_url().is_none(), "nothing cached yet");
    let signed = first.sign_url().unwrap();
    // Two minutes later, the same request lands on the same policy: a cache hit.
    let later = Issuer::new(&snapshot, &caller, now + 120, None)
        .plan_url(&request(Some(600), None))
        .unwrap();
    let cached = later.cached_url().expect("the policy was signed before");
    assert_eq!(cached.url, signed.url);
    assert_eq!(
        later.sign_url().unwrap().url,
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
    assert_eq!(plan.grantee.expires, now + 3600);
    for ttl in [1, 299, 300, 301, 3000] {
        let plan = Issuer::new(&snapshot, &caller, now, None)
            .plan_url(&request(Some(ttl), None))
            .unwrap();
        let expires = plan.grantee.expires;
        assert!(
            expires >= now + ttl as i64 && expires % 300 == 0 && expires - now <= 3600,
            "{ttl}: {expires}"
        );
    }
    // An absolute expiry is what the caller asked for: never rounded.
    let plan = Issuer::new(&snapshot, &caller, now, None)
        .plan_url(&request(None, Some("2027-01-15T08:16:47Z")))
        .unwrap();
    assert_eq!(plan.grantee.expires, 1_800_001_007);
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
    a.sign_url().unwrap();
    let b = Issuer::new(&snapshot, &caller, now + 1, None).plan_url(&req).unwrap();
    assert!(b.cached_url().is_none());
    assert!(
        Issuer::new(&snapshot, &caller, now, None)
            .plan_url(&req)
            .unwrap()
            .cached_url()
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
    let config = config::from_toml(&common::config_text(dir.path(), "")).unwrap();
    let auth = Authenticator::new(&config.auth, KeySet::hmac(b"first-secret-0123456789abcdef")).with_token_cache(16);
    let now = common::now();
    let claims = json!({ "sub": "mailer", "iss": common::ISSUER, "aud": common::AUDIENCE, "exp": now + 600 });
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(b"first-secret-0123456789abcdef"),
    )
    .unwrap();
    assert!(auth.authenticate(&token, now).is_ok());
    assert!(auth.authenticate(&token, now).is_ok(), "served from the cache");
    // Rotate the secret: the cached verification must not survive it.
    auth.reload(&config.auth, KeySet::hmac(b"second-secret-0123456789abcdef"));
    assert!(auth.authenticate(&token, now).is_err());
}
