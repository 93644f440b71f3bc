//! Trust per issuer: a token's `iss` selects one `[[auth.issuers]]` entry
//! and only its keys are tried; grants match on issuer; the single-issuer
//! `[auth]` form with several issuers is refused, showing the new form.

use std::time::Duration;

use serde_json::json;

use crate::harness::app::TestApp;
use crate::harness::config::{Grant, Issuer, TestConfig};
use crate::harness::jwks::{JwksServer, JwtKey, jwks_doc};
use crate::harness::tokens::{AUDIENCE, token_with_secret};

const A: &str = "https://idp-a.test/";
const B: &str = "https://idp-b.test/";
const SECRET_A: &[u8] = b"secret-of-issuer-a-0123456789abcdef";
const SECRET_B: &[u8] = b"secret-of-issuer-b-0123456789abcdef";

/// Two HMAC issuers; `mailer` at A may sign `/uploads/*`.
fn two_issuers(c: &mut TestConfig) {
    std::fs::write(c.dir().join("a.secret"), SECRET_A).unwrap();
    std::fs::write(c.dir().join("b.secret"), SECRET_B).unwrap();
    let (a, b) = (c.dir().join("a.secret"), c.dir().join("b.secret"));
    c.per_issuer(vec![Issuer::hmac(A, a), Issuer::hmac(B, b)]);
    c.auth.algorithms = vec!["HS256".into()];
    c.grants = vec![Grant {
        issuers: vec![A.into()],
        ..Grant::subject("mailer-a", "mailer", "reports", "/uploads/*", "1h")
    }];
}

fn token(iss: &str, sub: &str, secret: &[u8]) -> String {
    token_with_secret(json!({ "iss": iss, "sub": sub }), secret)
}

async fn sign(app: &TestApp, token: &str) -> u16 {
    app.post("/v1/signed-urls", Some(token), json!({ "key": "uploads/a.pdf" }))
        .await
        .status
        .as_u16()
}

#[tokio::test]
async fn a_token_is_verified_only_with_its_issuers_keys() {
    let app = TestApp::with_config(two_issuers).await;
    assert_eq!(sign(&app, &token(A, "mailer", SECRET_A)).await, 200);
    // B's key, `iss` = A: B could otherwise mint A's callers.
    let forged = token(A, "mailer", SECRET_B);
    let forged = app
        .post("/v1/signed-urls", Some(&forged), json!({ "key": "uploads/a.pdf" }))
        .await;
    assert_eq!(forged.status.as_u16(), 401, "{}", forged.json);
    assert_eq!(forged.json["code"], "invalid_token");
    // A's key, an issuer nobody configured: refused before any signature
    // check, with the text that does not say which check failed.
    let unknown = token("https://idp-c.test/", "mailer", SECRET_A);
    let unknown = app
        .post("/v1/signed-urls", Some(&unknown), json!({ "key": "uploads/a.pdf" }))
        .await;
    assert_eq!(unknown.status.as_u16(), 401);
    assert_eq!(unknown.json["detail"], forged.json["detail"], "{}", unknown.json);
}

#[tokio::test]
async fn the_same_subject_at_another_issuer_gets_none_of_its_grants() {
    let app = TestApp::with_config(two_issuers).await;
    let b_mailer = token(B, "mailer", SECRET_B);
    let reply = app
        .post("/v1/signed-urls", Some(&b_mailer), json!({ "key": "uploads/a.pdf" }))
        .await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.json);
    let mine = app.get("/v1/grants/me", Some(&b_mailer)).await;
    assert_eq!(mine.json["issuer"], B);
    assert_eq!(mine.json["grants"], json!([]));
    let a_mailer = app.get("/v1/grants/me", Some(&token(A, "mailer", SECRET_A))).await;
    assert_eq!(a_mailer.json["grants"][0]["name"], "mailer-a");
}

#[test]
fn several_issuers_sharing_auths_keys_are_refused_with_the_new_form() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestConfig::in_process(dir.path());
    c.auth.issuers = vec![A.into(), B.into()];
    let problems = c.load().unwrap_err().problems.join("\n");
    assert!(problems.contains("would share [auth]'s keys"), "{problems}");
    assert!(
        problems.contains("[[auth.issuers]]") && problems.contains("discovery = true"),
        "{problems}"
    );
}

#[test]
fn with_several_issuers_a_grant_naming_someone_must_name_its_issuers() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestConfig::in_process(dir.path());
    two_issuers(&mut c);
    c.grants
        .push(Grant::subject("anyone-mailer", "mailer", "reports", "/uploads/*", "1h"));
    c.grants.push(Grant {
        issuers: vec!["https://nowhere.test/".into()],
        ..Grant::subject("typo", "mailer", "reports", "/uploads/*", "1h")
    });
    // Scopes alone are no identity: a scope grant may span issuers...
    c.grants.push(Grant {
        scopes: vec!["read".into()],
        ..Grant::new("readers", "reports", "/uploads/*", "1h")
    });
    // ...unless a claim template names the caller's folder.
    c.grants.push(Grant {
        scopes: vec!["read".into()],
        ..Grant::new("tenants", "reports", "/uploads/{claim:tenant}/*", "1h")
    });
    let problems = c.load().unwrap_err().problems;
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(
        problems[2].contains("grants[tenants].issuers: several issuers are trusted"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("grants[anyone-mailer].issuers: several issuers are trusted"),
        "{problems:?}"
    );
    assert!(problems[1].contains("grants[typo].issuers: \"https://nowhere.test/\" is not one of auth.issuers"));
}

#[test]
fn keys_in_auth_and_in_issuer_tables_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestConfig::in_process(dir.path());
    two_issuers(&mut c);
    c.auth.jwks_url = Some("https://idp-a.test/jwks".into());
    let problems = c.load().unwrap_err().problems.join("\n");
    assert!(problems.contains("belong to the issuer they verify"), "{problems}");
}

/// Issuer A's keys come from a JWKS that is down at start; B works all along.
#[tokio::test]
async fn an_issuer_down_at_start_is_retried_within_seconds_while_the_other_works() {
    let key = JwtKey::generate(cfsign::signing::KeySpec::EcdsaP256, "a-1");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/jwks.json");
    let app = TestApp::with_config(|c| {
        two_issuers(c);
        c.auth.algorithms = vec!["HS256".into(), "ES256".into()];
        c.auth.tables[0] = Issuer::jwks(A, &url);
        c.auth.jwks_refresh = Some("1h".into());
        c.grants.push(Grant {
            issuers: vec![B.into()],
            ..Grant::subject("mailer-b", "mailer", "reports", "/uploads/*", "1h")
        });
    })
    .await;
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status.as_u16(), 200, "B has keys: {}", ready.json);
    let a = &ready.json["issuers"][0];
    assert_eq!(
        (a["issuer"].as_str(), a["ready"].as_bool()),
        (Some(A), Some(false)),
        "{}",
        ready.json
    );
    assert!(
        a["error"].as_str().unwrap().contains("connection refused"),
        "{}",
        ready.json
    );
    assert_eq!(ready.json["issuers"][1]["ready"], true);
    assert_eq!(sign(&app, &token(B, "mailer", SECRET_B)).await, 200);
    let a_token = key.token(
        Some("a-1"),
        &json!({ "iss": A, "aud": AUDIENCE, "sub": "mailer", "exp": crate::harness::fixtures::now() + 600 }),
    );
    assert_eq!(sign(&app, &a_token).await, 401);

    // The provider comes up on that port 2 s later: picked up by the back-off.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _idp = JwksServer::serving_on(port, jwks_doc([&key.jwk])).await;
    let started = std::time::Instant::now();
    while sign(&app, &a_token).await != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "A's keys were not fetched again in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("A's keys loaded {:?} after its provider came up", started.elapsed());
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.json["issuers"][0]["ready"], true, "{}", ready.json);
    assert!(ready.json["issuers"][0].get("error").is_none(), "{}", ready.json);
}

/// A reload works per issuer: one issuer's secret replaced, one removed
/// (with its JWKS keys), one added, then the removed one back (fetched anew).
#[tokio::test]
async fn a_reload_replaces_removes_and_adds_issuers_with_their_keys() {
    let kb = JwtKey::generate(cfsign::signing::KeySpec::EcdsaP256, "b-1");
    let idp = JwksServer::serving(jwks_doc([&kb.jwk])).await;
    let config = |c: &mut TestConfig, issuers: Vec<Issuer>| {
        two_issuers(c);
        c.auth.algorithms = vec!["HS256".into(), "ES256".into()];
        c.auth.tables = issuers;
        let names: Vec<String> = c.auth.tables.iter().map(|i| i.issuer.clone()).collect();
        c.grants = names
            .iter()
            .map(|iss| Grant {
                issuers: vec![iss.clone()],
                ..Grant::subject(iss, "mailer", "reports", "/uploads/*", "1h")
            })
            .collect();
    };
    let url = idp.url.clone();
    let app = TestApp::with_config(|c| {
        let a = c.dir().join("a.secret");
        config(c, vec![Issuer::hmac(A, a), Issuer::jwks(B, &url)]);
    })
    .await;
    let b_token = kb.token(
        Some("b-1"),
        &json!({ "iss": B, "aud": AUDIENCE, "sub": "mailer", "exp": crate::harness::fixtures::now() + 600 }),
    );
    let a_old = token(A, "mailer", SECRET_A);
    assert_eq!((sign(&app, &a_old).await, sign(&app, &b_token).await), (200, 200));

    const SECRET_A2: &[u8] = b"second-secret-of-issuer-a-0123456789";
    const C: &str = "https://idp-c.test/";
    let dir = app.dir.path();
    std::fs::write(dir.join("a2.secret"), SECRET_A2).unwrap();
    let path = dir.join("config.toml");
    let mut next = TestConfig::in_process(dir);
    config(
        &mut next,
        vec![
            Issuer::hmac(A, dir.join("a2.secret")),
            Issuer::hmac(C, dir.join("b.secret")),
        ],
    );
    next.write(&path);
    cfsign::server::reload(&app.state, &path).unwrap();
    assert_eq!(sign(&app, &a_old).await, 401, "A's old secret is gone");
    assert_eq!(sign(&app, &token(A, "mailer", SECRET_A2)).await, 200);
    assert_eq!(sign(&app, &b_token).await, 401, "B went with its JWKS keys");
    assert_eq!(sign(&app, &token(C, "mailer", SECRET_B)).await, 200);
    let ready = app.get("/readyz", None).await.json;
    let listed: Vec<&str> = ready["issuers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["issuer"].as_str())
        .collect();
    assert_eq!(listed, [A, C], "{ready}");

    // B back: its fetcher starts again and loads the JWKS.
    let mut again = TestConfig::in_process(dir);
    config(
        &mut again,
        vec![Issuer::hmac(A, dir.join("a2.secret")), Issuer::jwks(B, &url)],
    );
    again.write(&path);
    cfsign::server::reload(&app.state, &path).unwrap();
    let started = std::time::Instant::now();
    while sign(&app, &b_token).await != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "B's JWKS was not fetched again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
