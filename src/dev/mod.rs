//! `cfsign dev`: a complete service with no AWS account and no files. A key
//! pair and a JWT secret are generated in memory at every start (or kept in
//! a state directory, so they and minted tokens survive restarts); a token
//! for a dev caller is minted and printed with a ready `curl` line. Browser
//! origins can be allowed (CORS) for frontends on `localhost`.

mod secrets;

use std::path::PathBuf;

pub use secrets::DevSecrets;

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;
use zeroize::Zeroizing;

use crate::auth::KeySet;
use crate::config::Config;
use crate::http::{AppState, HttpOptions};
use crate::server::http_options;
use crate::service::{Distribution, Snapshot};
use crate::signing::KeyPairId;

/// Key pair id of the generated dev key.
pub const DEV_KEY_PAIR_ID: &str = "KDEVMODE000001";
/// Issuer of dev tokens.
pub const DEV_ISSUER: &str = "cfsign-dev";
/// Audience of dev tokens.
pub const DEV_AUDIENCE: &str = "cfsign";
/// Lifetime of the printed token.
pub const DEV_TOKEN_TTL: i64 = 86_400;

const DEV_CONFIG: &str = r#"
[server]
# Dev mode listens on loopback: metrics on the one listener are fine here.
public_metrics = true

[auth]
issuers = ["cfsign-dev"]
audiences = ["cfsign"]
algorithms = ["HS256"]

[[distributions]]
name = "dev"
domain = "https://d111111abcdef8.cloudfront.net"
keys = [{ key_pair_id = "KDEVMODE000001", private_key_file = "(generated in memory)" }]
cookies = { domain = "d111111abcdef8.cloudfront.net", path = "/", secure = true, http_only = true, same_site = "Lax" }

[[grants]]
name = "dev"
subjects = ["dev"]
distributions = ["dev"]
allow = ["/*"]
max_ttl = "7d"
default_ttl = "1h"
allow_wildcard_policy = true
allow_cookies = true
allow_ip_binding = true

# Per-user folders: a token minted with `cfsign dev token --sub alice
# --scope files` may sign under /users/alice/ and nowhere else.
[[grants]]
name = "own-folder"
scopes = ["files"]
distributions = ["dev"]
allow = ["/users/{sub}/*"]
max_ttl = "1d"
default_ttl = "1h"
allow_wildcard_policy = true
allow_cookies = true

# Tokens minted with `cfsign dev token --group dev` (any subject).
[[grants]]
name = "dev-group"
groups = ["dev"]
distributions = ["dev"]
allow = ["/*"]
max_ttl = "7d"
default_ttl = "1h"
allow_wildcard_policy = true
allow_cookies = true
allow_ip_binding = true
"#;

/// How `cfsign dev` runs.
#[derive(Debug, Clone, Default)]
pub struct DevOptions {
    /// Browser origins allowed to call it (CORS), e.g. `http://localhost:5173`;
    /// added to `CFSIGN_CORS__ALLOWED_ORIGINS` if that is set.
    pub cors_origins: Vec<String>,
    /// Keeps the dev key and secret across restarts (created if missing).
    pub state_dir: Option<PathBuf>,
}

/// The claims of a minted dev token.
#[derive(Debug, Clone)]
pub struct DevClaims {
    /// `sub`.
    pub subject: String,
    /// The `groups` claim (the dev grants allow group `dev`).
    pub groups: Vec<String>,
    /// `scope`, space-separated.
    pub scopes: Vec<String>,
    /// Lifetime in seconds.
    pub ttl: i64,
}

/// Mints an HS256 dev token for `claims` with `secret` at `now`.
pub fn mint(secret: &[u8], claims: &DevClaims, now: i64) -> Result<Zeroizing<String>, String> {
    let mut body =
        json!({ "sub": claims.subject, "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "iat": now, "exp": now + claims.ttl });
    if !claims.groups.is_empty() {
        body["groups"] = json!(claims.groups);
    }
    if !claims.scopes.is_empty() {
        body["scope"] = json!(claims.scopes.join(" "));
    }
    encode(&Header::default(), &body, &EncodingKey::from_secret(secret))
        .map(Zeroizing::new)
        .map_err(|e| e.to_string())
}

/// The dev configuration: [`DEV_CONFIG`], then `CFSIGN_<SECTION>__<KEY>`
/// variables (as `serve` reads them), then `options`' origins.
fn dev_config(options: &DevOptions) -> Result<Config, String> {
    use figment::providers::{Env, Format, Toml};
    let figment = figment::Figment::new().merge(Toml::string(DEV_CONFIG)).merge(
        Env::prefixed("CFSIGN_")
            .filter(|k| k.as_str().contains("__"))
            .split("__"),
    );
    let mut config: Config = figment.extract().map_err(|e| format!("dev configuration: {e}"))?;
    for origin in &options.cors_origins {
        crate::config::Origin::try_from(origin.clone()).map_err(|e| format!("--cors-origin: {e}"))?;
        config.cors.allowed_origins.push(origin.clone());
    }
    Ok(config)
}

/// What a developer needs to call the dev service.
pub struct DevSession {
    /// The ready state.
    pub state: AppState,
    /// Router options.
    pub options: HttpOptions,
    /// A token for the `dev` subject, valid for a day.
    pub token: Zeroizing<String>,
    /// The dev key's public half (SPKI PEM).
    pub public_key_pem: String,
    /// The dev configuration, as TOML (for reference).
    pub config: Config,
    secret: Zeroizing<Vec<u8>>,
    state_dir: Option<PathBuf>,
}

impl std::fmt::Debug for DevSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSession").finish_non_exhaustive()
    }
}

impl DevSession {
    /// Generates keys and secrets (in memory) and builds the state.
    pub fn new() -> Result<Self, String> {
        Self::with(&DevOptions::default())
    }

    /// Builds the state with `options`: keys from the state directory if
    /// given, origins allowed.
    pub fn with(options: &DevOptions) -> Result<Self, String> {
        let config = dev_config(options)?;
        let DevSecrets { key, secret } = match &options.state_dir {
            Some(dir) => DevSecrets::in_dir(dir)?,
            None => DevSecrets::generate()?,
        };
        let public_key_pem = key.public_key().and_then(|k| k.to_pem()).map_err(|e| e.to_string())?;
        let id: KeyPairId = DEV_KEY_PAIR_ID.parse().map_err(|e| format!("{e}"))?;
        let dist = Distribution::from_keys(&config.distributions[0], vec![(id, true, key)])?;
        let snapshot = Snapshot::from_parts(vec![dist], &config);
        let state =
            crate::server::assemble(&config, snapshot, vec![KeySet::hmac(&secret)]).map_err(|e| e.to_string())?;
        let now = state.signing.now();
        let mut session = Self {
            state,
            options: http_options(&config),
            token: Zeroizing::new(String::new()),
            public_key_pem,
            config,
            secret,
            state_dir: options.state_dir.clone(),
        };
        session.token = session.mint("dev", now, DEV_TOKEN_TTL)?;
        Ok(session)
    }

    /// Mints an HS256 token for `subject` with the dev secret.
    pub fn mint(&self, subject: &str, now: i64, ttl: i64) -> Result<Zeroizing<String>, String> {
        let claims = DevClaims {
            subject: subject.to_owned(),
            groups: Vec::new(),
            scopes: Vec::new(),
            ttl,
        };
        mint(&self.secret, &claims, now)
    }

    /// The banner printed at start: public key, token, a curl line.
    pub fn banner(&self, base_url: &str) -> String {
        format!(
            "\n==================== cfsign DEV MODE ====================\n\
             {}\n\
             Never use dev mode in production.\n\n\
             Distribution \"dev\": https://d111111abcdef8.cloudfront.net  (key pair id {DEV_KEY_PAIR_ID})\n\
             Public key (what you would register in a CloudFront key group):\n{}\n\
             Token for subject \"dev\" (valid 24 h; may sign /*, up to 7 days, cookies and wildcards):\n{}\n\n\
             Try:\n  curl -s {base_url}/v1/signed-urls \\\n    -H 'Authorization: Bearer {}' \\\n    -H 'Content-Type: application/json' \\\n    -d '{{\"key\": \"uploads/report.pdf\", \"ttl_seconds\": 604800}}'\n\
             =========================================================\n",
            match &self.state_dir {
                Some(dir) => format!(
                    "The key and secret are kept in {} (tokens survive restarts).",
                    dir.display()
                ),
                None => "Keys and secrets below are generated in memory and vanish on exit.".to_owned(),
            },
            self.public_key_pem.trim_end(),
            self.token.as_str(),
            self.token.as_str(),
        )
    }
}
