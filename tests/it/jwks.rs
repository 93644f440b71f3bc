//! A JWKS URL served on loopback: tokens verify with its keys, a rotation to a
//! new `kid` is picked up, the last good keys survive the server going away,
//! and a JWKS never loaded keeps the service not ready.

use std::time::Duration;

use axum::Router;
use cfsign::signing::KeySpec;
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::harness::app::TestApp;
use crate::harness::fixtures::now;
use crate::harness::jwks::{Jwks, JwksServer, JwtKey, jwks_doc};
use crate::harness::tokens::{AUDIENCE, ISSUER};

fn new_key(kid: &str) -> JwtKey {
    JwtKey::generate(KeySpec::Rsa2048, kid)
}

fn token(k: &JwtKey, kid: &str) -> String {
    let claims = json!({ "sub": "mailer", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600 });
    k.token(Some(kid), &claims)
}

/// The standard app with the JWKS URL as its only JWT key source.
async fn app_for(url: &str) -> TestApp {
    TestApp::with_config(|c| {
        c.auth.hmac_secret_files.clear();
        c.auth.public_keys.clear();
        c.auth.jwks_url = Some(url.to_owned());
        c.auth.jwks_refresh = Some("1h".into());
        c.auth.jwks_min_refetch = Some("0s".into());
    })
    .await
}

async fn status(router: &Router, token: &str) -> u16 {
    let req = axum::http::Request::post("/v1/signed-urls")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(json!({ "key": "uploads/a.pdf" }).to_string()))
        .unwrap();
    router.clone().oneshot(req).await.unwrap().status().as_u16()
}

async fn ready(router: &Router) -> u16 {
    let req = axum::http::Request::get("/readyz")
        .body(axum::body::Body::empty())
        .unwrap();
    router.clone().oneshot(req).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn jwks_rotation_and_outage() {
    let k1 = new_key("k1");
    let k2 = new_key("k2");
    let idp = JwksServer::serving(jwks_doc([&k1.jwk])).await;
    let app = app_for(&idp.url).await;
    let router = &app.router;
    assert_eq!(ready(router).await, 200);
    assert_eq!(status(router, &token(&k1, &k1.kid)).await, 200);
    // k2 is not published yet: refused.
    assert_eq!(status(router, &token(&k2, &k2.kid)).await, 401);
    // Rotate: publish k2. An unknown kid triggers an early refetch.
    idp.set(Jwks::Good(jwks_doc([&k1.jwk, &k2.jwk])));
    let mut accepted = false;
    for _ in 0..50 {
        if status(router, &token(&k2, &k2.kid)).await == 200 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "the new kid was never picked up");
    // The JWKS server goes away: the last good keys keep working.
    drop(idp);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(router, &token(&k1, &k1.kid)).await, 200);
    assert_eq!(status(router, &token(&k2, &k2.kid)).await, 200);
    // A kid never published is refused, even with a valid signature.
    assert_eq!(status(router, &token(&k2, "k3")).await, 401);
    // A token signed by k2 but naming k1 fails its signature check.
    assert_eq!(status(router, &token(&k2, &k1.kid)).await, 401);
    assert_eq!(ready(router).await, 200);
}

#[tokio::test]
async fn jwks_never_loaded_means_not_ready() {
    // A port that was bound and released: nothing listens there.
    let url = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/jwks.json", l.local_addr().unwrap())
    };
    let app = app_for(&url).await;
    let router = &app.router;
    assert_eq!(ready(router).await, 503);
    assert_eq!(status(router, &token(&new_key("k1"), "k1")).await, 401);
}
