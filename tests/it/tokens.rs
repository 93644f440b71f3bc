//! Tokens that are validly signed yet must not authenticate, and the
//! trust sources behind them (security review, round 2):
//!
//! - JWKS keys published for encryption (`use`, `key_ops`) or bound to
//!   another algorithm (`alg`) never verify a signature; PEM keys given an
//!   `algorithm` verify that one only.
//! - `crit` in the header is refused, whatever it names.
//! - A member name twice anywhere in header or claims is refused, also
//!   for the claims grants match on.
//! - Two `Authorization` headers are refused.
//! - A kid-less ES256 token meets every key of its family, in one order, so
//!   a JWKS with keys of several curves verifies it in every process.
//! - The 401 description does not tell a prober which check failed.
//! - A plain-HTTP `jwks_url` is refused unless it is on loopback.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cfsign::signing::KeySpec;
use hmac_sha256::HMAC;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use crate::harness::app::TestApp;
use crate::harness::binary::Server;
use crate::harness::config::{Grant, TestConfig};
use crate::harness::fixtures::now;
use crate::harness::jwks::JwtKey;
use crate::harness::tokens::{self, AUDIENCE, HMAC_SECRET, ISSUER};

/// A P-384 public key (no token here is signed with it).
const P384_X: &str = "1fHKvJ5rhXnC7LZyDOAv1-hiRfAJmvsfZt6yb3J6-DKcWSjM6vZgp6mJuPh1A9ye";
const P384_Y: &str = "Q_GSRS2crRWGRHQD4-oqtytxFY-WUKjh4XFETSa-CuaBL-b22b7RimQtojVJdl53";

/// A generated signing key and its public JWK (with `kid` and `extra` members).
struct Key {
    encoding: EncodingKey,
    jwk: Value,
}

fn key(spec: KeySpec, kid: &str, extra: Value) -> Key {
    let k = JwtKey::generate(spec, kid);
    Key {
        jwk: k.jwk_with(extra),
        encoding: k.encoding,
    }
}

fn p384(kid: &str) -> Value {
    json!({ "kty": "EC", "crv": "P-384", "kid": kid, "x": P384_X, "y": P384_Y })
}

fn signed(alg: Algorithm, kid: Option<&str>, with: &Key) -> String {
    let claims = json!({ "sub": "mailer", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600 });
    tokens::signed(alg, kid, &with.encoding, &claims)
}

/// The standard app with `jwks` as a `jwks_file` and more algorithms allowed.
async fn app_with_jwks(jwks: &[&Value]) -> TestApp {
    let doc = json!({ "keys": jwks });
    TestApp::with_config(|c| {
        let path = c.dir().join("jwks.json");
        std::fs::write(&path, doc.to_string()).unwrap();
        c.auth.algorithms = ["HS256", "RS256", "RS384", "ES256", "ES384"].map(String::from).into();
        c.auth.jwks_file = Some(path);
    })
    .await
}

async fn status(app: &TestApp, token: &str) -> u16 {
    app.post("/v1/signed-urls", Some(token), json!({ "key": "uploads/a.pdf" }))
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn jwks_keys_for_encryption_or_another_algorithm_never_verify() {
    let enc = key(KeySpec::Rsa2048, "enc", json!({ "use": "enc" }));
    let ops = key(KeySpec::Rsa2048, "ops", json!({ "key_ops": ["encrypt", "wrapKey"] }));
    let oaep = key(KeySpec::Rsa2048, "oaep", json!({ "alg": "RSA-OAEP" }));
    let rs384 = key(KeySpec::Rsa2048, "rs384", json!({ "alg": "RS384" }));
    let sig = key(KeySpec::Rsa2048, "sig", json!({ "use": "sig", "key_ops": ["verify"] }));
    let app = app_with_jwks(&[&enc.jwk, &ops.jwk, &oaep.jwk, &rs384.jwk, &sig.jwk]).await;
    for (token, why) in [
        (signed(Algorithm::RS256, Some("enc"), &enc), "use = enc"),
        (signed(Algorithm::RS256, None, &enc), "use = enc, no kid"),
        (signed(Algorithm::RS256, Some("ops"), &ops), "key_ops without verify"),
        (signed(Algorithm::RS256, Some("oaep"), &oaep), "alg = RSA-OAEP"),
        (
            signed(Algorithm::RS256, Some("rs384"), &rs384),
            "alg = RS384, token RS256",
        ),
        (
            signed(Algorithm::RS256, None, &rs384),
            "alg = RS384, token RS256, no kid",
        ),
    ] {
        assert_eq!(status(&app, &token).await, 401, "{why}");
    }
    // The same kinds of key, used as published, do verify.
    assert_eq!(
        status(&app, &signed(Algorithm::RS384, Some("rs384"), &rs384)).await,
        200
    );
    assert_eq!(status(&app, &signed(Algorithm::RS256, Some("sig"), &sig)).await, 200);
    assert_eq!(status(&app, &signed(Algorithm::RS256, None, &sig)).await, 200);
}

#[tokio::test]
async fn a_pem_key_given_an_algorithm_verifies_that_one_only() {
    let app = TestApp::with_config(|c| {
        c.auth.algorithms.push("RS384".into());
        c.auth.public_keys[0].algorithm = Some("RS384".into());
    })
    .await;
    let rs256 = app.rs256_token(Some("rsa-1"), json!({ "sub": "mailer" }));
    assert_eq!(status(&app, &rs256).await, 401, "RS256 with a key bound to RS384");
}

#[tokio::test]
async fn kidless_es256_meets_every_key_of_its_family_in_one_order() {
    let p256 = key(KeySpec::EcdsaP256, "unused", json!({}));
    // Whichever curve sorts first, the P-256 key is reached.
    for (p384_kid, p256_kid) in [("a", "b"), ("b", "a")] {
        let mut jwk = p256.jwk.clone();
        jwk["kid"] = p256_kid.into();
        let app = app_with_jwks(&[&p384(p384_kid), &jwk]).await;
        let token = signed(Algorithm::ES256, None, &p256);
        for _ in 0..3 {
            assert_eq!(status(&app, &token).await, 200, "P-384 key under kid {p384_kid}");
        }
    }
}

/// A hand-made HS256 token, so header and payload can be any text.
fn raw_hs256(header: &str, payload: &str) -> String {
    tokens::raw_hs256(header, payload, HMAC_SECRET)
}

fn payload(extra: &str) -> String {
    format!(
        r#"{{"iss":"{}","aud":"{}","exp":{}{extra}}}"#,
        ISSUER,
        AUDIENCE,
        now() + 600
    )
}

#[tokio::test]
async fn crit_is_refused_whatever_it_names() {
    let app = TestApp::new().await;
    assert_eq!(
        status(&app, &raw_hs256(r#"{"alg":"HS256"}"#, &payload(r#","sub":"mailer""#))).await,
        200
    );
    for header in [
        r#"{"alg":"HS256","crit":["x-anything"],"x-anything":true}"#,
        r#"{"alg":"HS256","crit":["exp"]}"#,
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        r#"{"alg":"HS256","crit":[]}"#,
    ] {
        let token = raw_hs256(header, &payload(r#","sub":"mailer""#));
        assert_eq!(status(&app, &token).await, 401, "{header}");
    }
}

#[tokio::test]
async fn a_member_name_twice_anywhere_is_refused() {
    let app = TestApp::with_config(|c| {
        c.grants.push(Grant {
            groups: vec!["admins".into()],
            ..Grant::new("admins", "reports", "/uploads/*", "1h")
        })
    })
    .await;
    // Without duplicates, the group claim grants; the control for each case.
    assert_eq!(
        status(
            &app,
            &raw_hs256(r#"{"alg":"HS256"}"#, &payload(r#","groups":["admins"]"#))
        )
        .await,
        200
    );
    for (header, extra) in [
        (r#"{"alg":"HS256"}"#, r#","groups":["x"],"groups":["admins"]"#),
        (r#"{"alg":"HS256"}"#, r#","groups":["admins"],"groups":["x"]"#),
        (r#"{"alg":"HS256"}"#, r#","groups":["admins"],"gr\u006fups":["x"]"#),
        (r#"{"alg":"HS256"}"#, r#","groups":["admins"],"sub":"a","sub":"b""#),
        (r#"{"alg":"HS256"}"#, r#","groups":["admins"],"ext":{"a":1,"a":2}"#),
        (r#"{"alg":"HS256","typ":"JWT","typ":"JWT"}"#, r#","groups":["admins"]"#),
        (r#"{"alg":"HS256","kid":"a","kid":"b"}"#, r#","groups":["admins"]"#),
    ] {
        let token = raw_hs256(header, &payload(extra));
        assert_eq!(status(&app, &token).await, 401, "{header} {extra}");
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused_in_either_order() {
    let app = TestApp::new().await;
    let good = format!("Bearer {}", app.mailer());
    for second in [good.as_str(), "Bearer x.y.z", "Basic YTpi"] {
        for pair in [[good.as_str(), second], [second, good.as_str()]] {
            let r = app
                .request(
                    axum::http::Method::POST,
                    "/v1/signed-urls",
                    None,
                    Some(json!({ "key": "uploads/a.pdf" }).to_string()),
                    &[("authorization", pair[0]), ("authorization", pair[1])],
                )
                .await;
            r.problem(401, "invalid_token");
            assert!(r.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer "));
        }
    }
}

#[tokio::test]
async fn two_authorization_headers_are_refused_over_http1_and_h2_on_the_wire() {
    let server = Server::start(|c| c.add_reports());
    let good = format!("Bearer {}", tokens::token(json!({ "sub": "mailer" })));
    for http2 in [false, true] {
        let builder = reqwest::Client::builder();
        let client = if http2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        }
        .build()
        .unwrap();
        let send = |second: Option<&str>| {
            let mut request = client
                .post(server.url("/v1/signed-urls"))
                .header("authorization", good.as_str())
                .json(&json!({ "key": "uploads/a.pdf" }));
            if let Some(second) = second {
                request = request.header("authorization", second);
            }
            request.send()
        };
        assert_eq!(send(None).await.unwrap().status(), 200, "http2 = {http2}");
        let r = send(Some("Bearer someone.else.entirely")).await.unwrap();
        assert_eq!(r.status(), 401, "http2 = {http2}");
        assert_eq!(r.version() == reqwest::Version::HTTP_2, http2);
    }
}

#[tokio::test]
async fn the_401_description_does_not_say_which_check_failed() {
    let app = TestApp::new().await;
    let wrong_secret = {
        let input = format!("{}.{}", B64.encode(r#"{"alg":"HS256"}"#), B64.encode(payload("")));
        format!(
            "{input}.{}",
            B64.encode(HMAC::mac(input.as_bytes(), b"another-secret-0123456789abcdef!"))
        )
    };
    let probes = [
        wrong_secret,
        app.rs256_token(Some("no-such-kid"), json!({ "sub": "mailer" })),
        raw_hs256(r#"{"alg":"HS384"}"#, &payload("")),
        raw_hs256(r#"{"alg":"HS256","crit":["x"]}"#, &payload("")),
    ];
    let mut descriptions = std::collections::BTreeSet::new();
    for token in &probes {
        let r = app
            .post("/v1/signed-urls", Some(token), json!({ "key": "uploads/a.pdf" }))
            .await;
        let detail = r.problem(401, "invalid_token");
        let challenge = r.headers["www-authenticate"].to_str().unwrap().to_owned();
        descriptions.insert((detail, challenge));
    }
    assert_eq!(descriptions.len(), 1, "{descriptions:?}");
}

#[test]
fn a_plain_http_jwks_url_is_refused_unless_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let with = |url: &str| {
        let mut c = TestConfig::in_process(dir.path());
        c.auth.jwks_url = Some(url.to_owned());
        c.render()
    };
    for bad in [
        "http://auth.example.com/jwks.json",
        "http://10.0.0.1/jwks",
        "ftp://auth.example.com/j",
    ] {
        let e = cfsign::config::from_toml(&with(bad)).unwrap_err().to_string();
        assert!(e.contains("auth.jwks_url") && e.contains("https://"), "{bad}: {e}");
    }
    for good in [
        "https://auth.example.com/jwks.json",
        "http://127.0.0.1:8081/jwks.json",
        "http://localhost/jwks",
        "http://[::1]:9/jwks",
    ] {
        assert!(cfsign::config::from_toml(&with(good)).is_ok(), "{good}");
    }
}
