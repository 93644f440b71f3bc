//! JWT signing keys as an identity provider holds them, their JWK documents,
//! and a JWKS endpoint on loopback whose answer a test changes and whose
//! requests it counts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use cfsign::signing::{KeyAlgorithm, KeySpec, PrivateKey};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::Value;

use super::fixtures::key_file;
use super::tokens::signed;

/// An asymmetric JWT signing key: the private half signs tokens, the public
/// half is published as [`JwtKey::jwk`] (with `kid` and `alg` set).
pub struct JwtKey {
    pub kid: String,
    /// RS256 for RSA keys, ES256 for P-256 keys.
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Jwk,
}

impl JwtKey {
    /// A new key of `spec`.
    pub fn generate(spec: KeySpec, kid: &str) -> Self {
        Self::from_private(&PrivateKey::generate(spec).unwrap(), kid)
    }

    /// The key in `tests/fixtures/keys/{name}`.
    pub fn fixture(name: &str, kid: &str) -> Self {
        Self::from_private(&fixture_key(name), kid)
    }

    pub fn from_private(private: &PrivateKey, kid: &str) -> Self {
        let pkcs8 = private.to_pkcs8_pem().unwrap();
        let (alg, encoding) = match private.algorithm() {
            KeyAlgorithm::EcdsaP256 => (Algorithm::ES256, EncodingKey::from_ec_pem(pkcs8.as_bytes())),
            KeyAlgorithm::Rsa { .. } => (Algorithm::RS256, EncodingKey::from_rsa_pem(pkcs8.as_bytes())),
        };
        let encoding = encoding.unwrap();
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
        }
    }

    /// A token signed with this key's algorithm, naming `kid` (which need not
    /// be this key's), over exactly `claims`.
    pub fn token(&self, kid: Option<&str>, claims: &Value) -> String {
        signed(self.alg, kid, &self.encoding, claims)
    }

    /// The public JWK as JSON without `alg`, with `extra`'s members added
    /// (to publish `use`, `key_ops`, another `alg`...).
    pub fn jwk_with(&self, extra: Value) -> Value {
        let mut jwk = serde_json::to_value(&self.jwk).unwrap();
        let members = jwk.as_object_mut().unwrap();
        members.remove("alg");
        for (k, v) in extra.as_object().unwrap() {
            members.insert(k.clone(), v.clone());
        }
        jwk
    }
}

/// The private key in `tests/fixtures/keys/{name}`.
pub fn fixture_key(name: &str) -> PrivateKey {
    PrivateKey::from_pem(&std::fs::read(key_file(name)).unwrap(), None).unwrap()
}

/// A JWKS document (`{"keys": [...]}`) publishing `jwks`.
pub fn jwks_doc<'k>(jwks: impl IntoIterator<Item = &'k Jwk>) -> String {
    let keys = jwks.into_iter().cloned().collect();
    serde_json::to_string(&JwkSet { keys }).unwrap()
}

/// What the endpoint answers.
#[derive(Clone)]
pub enum Jwks {
    /// 200 with this body (a JWKS document, or anything else).
    Good(String),
    /// 200 with HTML that is no JWKS.
    Garbage,
    Status500,
    /// 200 with the body after this delay.
    Slow(Duration, String),
}

/// A JWKS endpoint at `{url}` (`http://127.0.0.1:port/jwks.json`) that
/// serves until it is dropped.
pub struct JwksServer {
    pub url: String,
    answer: Arc<Mutex<Jwks>>,
    hits: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl JwksServer {
    pub async fn start(initial: Jwks) -> Self {
        Self::start_on(0, initial).await
    }

    /// Serves `doc` with 200 on `port` (0: any free one).
    pub async fn serving_on(port: u16, doc: String) -> Self {
        Self::start_on(port, Jwks::Good(doc)).await
    }

    async fn start_on(port: u16, initial: Jwks) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(initial));
        let hits = Arc::new(AtomicUsize::new(0));
        let (a, h) = (Arc::clone(&answer), Arc::clone(&hits));
        let app = Router::new().route(
            "/jwks.json",
            get(move || {
                let (a, h) = (Arc::clone(&a), Arc::clone(&h));
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let answer = a.lock().unwrap().clone();
                    match answer {
                        Jwks::Good(doc) => (StatusCode::OK, doc),
                        Jwks::Garbage => (StatusCode::OK, "<html>not a JWKS {{{".to_owned()),
                        Jwks::Status500 => (StatusCode::INTERNAL_SERVER_ERROR, "oops".to_owned()),
                        Jwks::Slow(delay, doc) => {
                            tokio::time::sleep(delay).await;
                            (StatusCode::OK, doc)
                        }
                    }
                }
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            url,
            answer,
            hits,
            _stop: tx,
        }
    }

    /// Serves `doc` with 200.
    pub async fn serving(doc: String) -> Self {
        Self::start(Jwks::Good(doc)).await
    }

    /// Answers `answer` from the next request on.
    pub fn set(&self, answer: Jwks) {
        *self.answer.lock().unwrap() = answer;
    }

    /// How many requests it has answered (or begun to).
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
