//! JWT authentication: every way a token can be wrong is a 401 with
//! `WWW-Authenticate: Bearer` and a problem body — never a 500.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::harness::app::TestApp;
use crate::harness::fixtures::now;
use crate::harness::tokens::{AUDIENCE, HMAC_SECRET, ISSUER, raw_hs256};

fn b64(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

fn claims() -> Value {
    json!({ "sub": "mailer", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600 })
}

async fn expect_401(app: &TestApp, token: &str, why: &str) {
    let r = app
        .post("/v1/signed-urls", Some(token), json!({ "key": "uploads/a.pdf" }))
        .await;
    assert_eq!(r.status, 401, "{why}: {}", r.json);
    r.problem(401, "invalid_token");
    let challenge = r.headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{why}: {challenge}"
    );
}

#[tokio::test]
async fn a_valid_token_works_and_the_baseline_is_sound() {
    let app = TestApp::new().await;
    let token = raw_hs256(r#"{"alg":"HS256","typ":"JWT"}"#, &claims().to_string(), HMAC_SECRET);
    let r = app
        .post("/v1/signed-urls", Some(&token), json!({ "key": "uploads/a.pdf" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let rs = app.rs256_token(Some("rsa-1"), json!({ "sub": "mailer" }));
    assert_eq!(
        app.post("/v1/signed-urls", Some(&rs), json!({ "key": "uploads/a.pdf" }))
            .await
            .status,
        200
    );
    // Every token in this file was made after a TestApp had built its
    // Authenticator, so RS256 here went through the OpenSSL verifier.
    #[cfg(feature = "openssl-backend")]
    assert!(cfsign::auth::use_openssl_for_tokens(), "RS256 checked by OpenSSL");
}

#[tokio::test]
async fn missing_or_malformed_authorization() {
    let app = TestApp::new().await;
    let r = app
        .post("/v1/signed-urls", None, json!({ "key": "uploads/a.pdf" }))
        .await;
    r.problem(401, "invalid_token");
    let valid = app.mailer();
    for header in [
        format!("Basic {valid}"),
        "Bearer".into(),
        "Bearer    ".into(),
        valid.clone(),
    ] {
        let r = app
            .request(
                axum::http::Method::POST,
                "/v1/signed-urls",
                None,
                Some("{}".into()),
                &[("authorization", header.as_str())],
            )
            .await;
        r.problem(401, "invalid_token");
    }
    // A token in the query string is never read.
    let r = app
        .request(
            axum::http::Method::POST,
            &format!("/v1/signed-urls?access_token={valid}"),
            None,
            Some("{}".into()),
            &[],
        )
        .await;
    r.problem(401, "invalid_token");
}

#[tokio::test]
async fn alg_none_and_disallowed_algorithms() {
    let app = TestApp::new().await;
    let payload = claims().to_string();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = format!(
            "{}.{}.",
            B64.encode(format!(r#"{{"alg":"{alg}"}}"#)),
            B64.encode(&payload)
        );
        expect_401(&app, &token, alg).await;
    }
    // HS512 is a real algorithm but not in the allowlist.
    let token = raw_hs256(r#"{"alg":"HS512"}"#, &payload, HMAC_SECRET);
    expect_401(&app, &token, "HS512 not allowed").await;
}

#[tokio::test]
async fn algorithm_confusion_hs256_signed_with_the_rsa_public_key() {
    let app = TestApp::new().await;
    let public_pem = std::fs::read(app.dir.path().join("jwt-rsa.pub.pem")).unwrap();
    let token = raw_hs256(r#"{"alg":"HS256","kid":"rsa-1"}"#, &claims().to_string(), &public_pem);
    expect_401(&app, &token, "HS256 with the RSA public key as secret").await;
}

#[tokio::test]
async fn claim_problems() {
    let app = TestApp::new().await;
    let cases = [
        (json!({ "sub": "mailer", "exp": now() - 120 }), "expired beyond leeway"),
        (json!({ "sub": "mailer", "nbf": now() + 600 }), "nbf in the future"),
        (json!({ "sub": "mailer", "iat": now() + 600 }), "iat in the future"),
        (json!({ "sub": "mailer", "exp": null }), "missing exp"),
        (json!({ "sub": "mailer", "iss": "https://other.example/" }), "wrong iss"),
        (json!({ "sub": "mailer", "iss": null }), "missing iss"),
        (json!({ "sub": "mailer", "aud": "other" }), "wrong aud"),
        (
            json!({ "sub": "mailer", "aud": ["other", "another"] }),
            "wrong aud array",
        ),
        (json!({ "sub": "mailer", "aud": null }), "missing aud"),
        (json!({ "sub": "mailer", "exp": "soon" }), "exp not a number"),
    ];
    for (c, why) in cases {
        expect_401(&app, &app.token(c), why).await;
    }
    // An audience array containing ours is accepted.
    let ok = app.token(json!({ "sub": "mailer", "aud": ["other", AUDIENCE] }));
    assert_eq!(
        app.post("/v1/signed-urls", Some(&ok), json!({ "key": "uploads/a.pdf" }))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn structural_problems() {
    let app = TestApp::new().await;
    let good = app.mailer();
    let parts: Vec<&str> = good.split('.').collect();
    let mut tampered_payload = claims();
    tampered_payload["sub"] = json!("admin");
    let cases = [
        (
            format!("{}.{}.{}", parts[0], b64(&tampered_payload), parts[2]),
            "tampered payload",
        ),
        (format!("{}.{}", parts[0], parts[1]), "two segments"),
        (format!("{good}.extra"), "four segments"),
        (good[..good.len() - 5].to_owned(), "truncated"),
        (good.replace('.', "!"), "not base64url"),
        ("a.b.c".into(), "garbage"),
        (
            format!("{}.{}.{}", B64.encode("not json"), parts[1], parts[2]),
            "header not JSON",
        ),
        (
            raw_hs256(r#"{"alg":"HS256"}"#, "not json", HMAC_SECRET),
            "payload not JSON",
        ),
        (
            raw_hs256(r#"{"alg":"HS256"}"#, &claims().to_string(), b"another-secret"),
            "wrong secret",
        ),
        (
            raw_hs256(r#"{"alg":"HS256","alg":"none"}"#, &claims().to_string(), HMAC_SECRET),
            "duplicate header key",
        ),
        (format!("{}.{}.{}", parts[0], "A".repeat(9000), parts[2]), "over 8 KiB"),
    ];
    for (token, why) in cases {
        expect_401(&app, &token, why).await;
    }
    let dup = r#"{"sub":"mailer","sub":"admin","iss":"ISS","aud":"cfsign","exp":EXP}"#
        .replace("ISS", ISSUER)
        .replace("EXP", &(now() + 600).to_string());
    expect_401(
        &app,
        &raw_hs256(r#"{"alg":"HS256"}"#, &dup, HMAC_SECRET),
        "duplicate payload key",
    )
    .await;
}

#[tokio::test]
async fn kid_problems_and_embedded_keys_are_never_followed() {
    let app = TestApp::new().await;
    for kid in ["unknown", "../../etc/passwd", "' OR 1=1 --", &"k".repeat(4000)] {
        let token = app.rs256_token(Some(kid), json!({ "sub": "mailer" }));
        expect_401(&app, &token, kid).await;
    }
    // jku / x5u / jwk headers are ignored: the token must still verify with
    // a configured key. Here it is signed with a key only named in `jwk`.
    let header =
        json!({ "alg": "HS256", "jku": "http://127.0.0.1:1/jwks.json", "jwk": { "kty": "oct", "k": "c2VjcmV0" } });
    let token = raw_hs256(&header.to_string(), &claims().to_string(), b"secret");
    expect_401(&app, &token, "jwk header").await;
}

#[tokio::test]
async fn a_token_from_another_deployment_is_refused() {
    let app = TestApp::new().await;
    // Same claims, signed with the other deployment's secret.
    let token = raw_hs256(
        r#"{"alg":"HS256"}"#,
        &claims().to_string(),
        b"other-deployment-secret-0123456789",
    );
    expect_401(&app, &token, "other deployment").await;
}
