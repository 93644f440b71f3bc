//! The in-process app: the real router (`router(state)`) driven with
//! `tower::ServiceExt::oneshot`, on a [`TestConfig`] a test may change first.

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use cfsign::config::Config;
use cfsign::http::{self, HttpOptions};
use cfsign::server::{build_state, http_options};
use cfsign::signing::{KeySpec, PrivateKey};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::config::TestConfig;
use super::jwks::JwtKey;
use super::tokens::{self, HMAC_SECRET};

/// The audit files of every in-process app of this test process.
fn audit_files() -> &'static std::sync::Mutex<Vec<std::path::PathBuf>> {
    static FILES: std::sync::OnceLock<std::sync::Mutex<Vec<std::path::PathBuf>>> = std::sync::OnceLock::new();
    FILES.get_or_init(Default::default)
}

/// The audit events of `path` (none if it is gone).
pub fn read_audit(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("every line of an audit file is JSON"))
        .collect()
}

/// The audit events of every in-process app still alive, for tests that
/// look an event up by its request id.
pub fn all_audit_events() -> Vec<Value> {
    let files = audit_files().lock().unwrap().clone();
    files.iter().flat_map(|p| read_audit(p)).collect()
}

/// A running in-process app and what is needed to talk to it.
pub struct TestApp {
    pub router: Router,
    pub state: http::AppState,
    pub config: Config,
    pub dir: tempfile::TempDir,
    /// The RSA key behind [`TestApp::rs256_token`]; its public half is
    /// `jwt-rsa.pub.pem` in `dir`.
    jwt_key: JwtKey,
}

impl TestApp {
    /// The app on [`TestConfig::in_process`].
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// The app on [`TestConfig::in_process`] as `change` leaves it (files it
    /// names may be written into `c.dir()`).
    pub async fn with_config(change: impl FnOnce(&mut TestConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hmac.secret"), HMAC_SECRET).unwrap();
        let jwt_key = PrivateKey::generate(KeySpec::Rsa2048).unwrap();
        std::fs::write(
            dir.path().join("jwt-rsa.pub.pem"),
            jwt_key.public_key().unwrap().to_pem().unwrap(),
        )
        .unwrap();
        let jwt_key = JwtKey::from_private(&jwt_key, "rsa-1");
        let mut test_config = TestConfig::in_process(dir.path());
        change(&mut test_config);
        let config = test_config.load().unwrap();
        let state = build_state(&config).await.unwrap();
        if let Some(path) = &config.audit.path {
            audit_files().lock().unwrap().push(path.clone());
        }
        let options: HttpOptions = http_options(&config);
        let router = http::router(state.clone(), &options)
            .layer(MockConnectInfo(std::net::SocketAddr::from(([203, 0, 113, 9], 40000))));
        Self {
            router,
            state,
            config,
            dir,
            jwt_key,
        }
    }

    /// The audit events this app has written (its `[audit]` file).
    pub fn audit_events(&self) -> Vec<Value> {
        let path = self
            .config
            .audit
            .path
            .as_ref()
            .expect("in-process apps audit to a file");
        read_audit(path)
    }

    /// An HS256 token with `claims` merged over valid defaults.
    pub fn token(&self, claims: Value) -> String {
        tokens::token(claims)
    }

    /// An RS256 token signed with the JWT test key, with `kid`.
    pub fn rs256_token(&self, kid: Option<&str>, claims: Value) -> String {
        self.jwt_key.token(kid, &tokens::claims(claims))
    }

    pub fn mailer(&self) -> String {
        tokens::mailer()
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
        Reply::read(self.router.clone().oneshot(request).await.unwrap()).await
    }
}

/// A response, decoded.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub raw: Vec<u8>,
}

impl Reply {
    /// Reads the whole body of `response`.
    pub async fn read(response: axum::response::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            json,
            raw: bytes.to_vec(),
        }
    }

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
