//! A JWKS URL served on loopback: tokens verify with its keys, a rotation to a
//! new `kid` is picked up, the last good keys survive the server going away,
//! and a JWKS never loaded keeps the service not ready.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use cfsign::signing::{KeySpec, PrivateKey};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::harness::app::TestApp;
use crate::harness::fixtures::now;
use crate::harness::tokens::{AUDIENCE, ISSUER};

struct SigningKey {
    kid: String,
    key: EncodingKey,
    jwk: Jwk,
}

fn new_key(kid: &str) -> SigningKey {
    let pem = PrivateKey::generate(KeySpec::Rsa2048).unwrap().to_pkcs8_pem().unwrap();
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    SigningKey {
        kid: kid.to_owned(),
        key,
        jwk,
    }
}

fn token(k: &SigningKey, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let claims = json!({ "sub": "mailer", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600 });
    encode(&header, &claims, &k.key).unwrap()
}

fn jwks(keys: &[&SigningKey]) -> String {
    serde_json::to_string(&JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    })
    .unwrap()
}

/// Serves `doc` at /jwks.json until the returned sender is dropped.
async fn jwks_server(doc: Arc<Mutex<String>>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let app = Router::new().route("/jwks.json", get(move || async move { doc.lock().unwrap().clone() }));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (url, tx)
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
    let doc = Arc::new(Mutex::new(jwks(&[&k1])));
    let (url, stop) = jwks_server(Arc::clone(&doc)).await;
    let app = app_for(&url).await;
    let router = &app.router;
    assert_eq!(ready(router).await, 200);
    assert_eq!(status(router, &token(&k1, &k1.kid)).await, 200);
    // k2 is not published yet: refused.
    assert_eq!(status(router, &token(&k2, &k2.kid)).await, 401);
    // Rotate: publish k2. An unknown kid triggers an early refetch.
    *doc.lock().unwrap() = jwks(&[&k1, &k2]);
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
    drop(stop);
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
