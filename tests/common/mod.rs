//! Test harness: the real router in-process, a config built from the fixture
//! keys, and tokens for every kind of caller.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use cfsign::config::{self, Config};
use cfsign::http::{self, HttpOptions};
use cfsign::server::{build_state, http_options};
use cfsign::signing::{KeySpec, PrivateKey};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const ISSUER: &str = "https://auth.test/";
pub const AUDIENCE: &str = "cfsign";
pub const HMAC_SECRET: &[u8] = b"test-secret-with-enough-entropy-0123456789";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A running in-process app and what is needed to talk to it.
pub struct TestApp {
    pub router: Router,
    pub state: http::AppState,
    pub config: Config,
    pub dir: tempfile::TempDir,
    jwt_rsa_pem: String,
}

/// The standard test configuration; `extra` is appended (more grants...).
pub fn config_text(dir: &Path, extra: &str) -> String {
    let keys = fixtures().join("keys");
    format!(
        r#"
[server]
trusted_proxies = ["10.0.0.0/8"]
public_metrics = true

[auth]
issuers = ["{ISSUER}"]
audiences = ["{AUDIENCE}"]
algorithms = ["HS256", "RS256"]
hmac_secret_files = ["{secret}"]
public_keys = [{{ kid = "rsa-1", path = "{jwt_pub}" }}]

[cors]
allowed_origins = ["http://app.test"]

[[distributions]]
name = "reports"
domain = "https://cdn.example.com"
path_prefix = "/uploads"
keys = [{{ key_pair_id = "K2JCJMDEHXQW5F", private_key_file = "{rsa}" }}]
cookies = {{ domain = "example.com", path = "/", secure = true, http_only = true, same_site = "Lax" }}

[[distributions]]
name = "videos"
domain = "https://d111111abcdef8.cloudfront.net"
hash_algorithm = "SHA256"
keys = [
  {{ key_pair_id = "KOLDKEY0000001", private_key_file = "{rsa}" }},
  {{ key_pair_id = "KECDSA00000001", private_key_file = "{ec}", active = true }},
]

{grants}
{extra}
"#,
        grants = include_str!("../fixtures/grants.toml"),
        secret = dir.join("hmac.secret").display(),
        jwt_pub = dir.join("jwt-rsa.pub.pem").display(),
        rsa = keys.join("rsa2048.pem").display(),
        ec = keys.join("ec-p256.pem").display(),
    )
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_extra("").await
    }

    pub async fn with_extra(extra: &str) -> Self {
        Self::with_config(extra, |_, text| text).await
    }

    /// As [`TestApp::with_extra`], with the config text passed through
    /// `patch(dir, text)` first (files it names may be written into `dir`).
    pub async fn with_config(extra: &str, patch: impl FnOnce(&Path, String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hmac.secret"), HMAC_SECRET).unwrap();
        let jwt_key = PrivateKey::generate(KeySpec::Rsa2048).unwrap();
        std::fs::write(
            dir.path().join("jwt-rsa.pub.pem"),
            jwt_key.public_key().unwrap().to_pem().unwrap(),
        )
        .unwrap();
        let jwt_rsa_pem = jwt_key.to_pkcs8_pem().unwrap().to_string();
        let config = config::from_toml(&patch(dir.path(), config_text(dir.path(), extra))).unwrap();
        let state = build_state(&config).await.unwrap();
        let options: HttpOptions = http_options(&config);
        let router = http::router(state.clone(), &options)
            .layer(MockConnectInfo(std::net::SocketAddr::from(([203, 0, 113, 9], 40000))));
        Self {
            router,
            state,
            config,
            dir,
            jwt_rsa_pem,
        }
    }

    /// An HS256 token with `claims` merged over valid defaults.
    pub fn token(&self, claims: Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &merge(claims),
            &EncodingKey::from_secret(HMAC_SECRET),
        )
        .unwrap()
    }

    /// An RS256 token signed with the JWT test key, with `kid`.
    pub fn rs256_token(&self, kid: Option<&str>, claims: Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        encode(
            &header,
            &merge(claims),
            &EncodingKey::from_rsa_pem(self.jwt_rsa_pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    pub fn mailer(&self) -> String {
        self.token(json!({ "sub": "mailer" }))
    }

    pub fn player(&self) -> String {
        self.token(json!({ "sub": "web", "scope": "openid video:read" }))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body.to_string()), &[])
            .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None, &[]).await
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        if let Some(t) = token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            raw: bytes.to_vec(),
        }
    }
}

fn merge(claims: Value) -> Value {
    let mut base = json!({ "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now() });
    if let (Some(b), Some(c)) = (base.as_object_mut(), claims.as_object()) {
        for (k, v) in c {
            if v.is_null() {
                b.remove(k);
            } else {
                b.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

/// A response, decoded.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub raw: Vec<u8>,
}

impl Reply {
    /// Asserts a problem+json body with `status` and `code`; returns detail.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> String {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.raw)
        );
        assert_eq!(self.headers["content-type"], "application/problem+json");
        assert_eq!(self.json["status"], status);
        assert_eq!(self.json["code"], code, "body: {}", self.json);
        assert!(
            self.json["request_id"].as_str().is_some_and(|s| !s.is_empty()),
            "request_id in {}",
            self.json
        );
        assert_eq!(self.json["type"], format!("urn:cfsign:problem:{code}"));
        self.json["detail"].as_str().unwrap_or_default().to_owned()
    }
}
