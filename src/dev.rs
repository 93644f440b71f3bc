//! `cfsign dev`: a complete service with no AWS account and no files. A key
//! pair and a JWT secret are generated in memory at every start; a token for
//! a dev caller is minted and printed with a ready `curl` line.

use jsonwebtoken::{EncodingKey, Header, encode};
use rand::RngCore;
use serde_json::json;
use zeroize::Zeroizing;

use crate::auth::KeySet;
use crate::config::{self, Config};
use crate::http::{AppState, HttpOptions};
use crate::server::http_options;
use crate::service::{Distribution, Snapshot};
use crate::signing::{KeyPairId, KeySpec, PrivateKey};

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
"#;

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
}

impl std::fmt::Debug for DevSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevSession").finish_non_exhaustive()
    }
}

impl DevSession {
    /// Generates keys and secrets and builds the state.
    pub fn new() -> Result<Self, String> {
        let config = config::from_toml_unchecked(DEV_CONFIG).map_err(|e| e.to_string())?;
        let key = PrivateKey::generate(KeySpec::Rsa2048).map_err(|e| e.to_string())?;
        let public_key_pem = key.public_key().and_then(|k| k.to_pem()).map_err(|e| e.to_string())?;
        let id: KeyPairId = DEV_KEY_PAIR_ID.parse().map_err(|e| format!("{e}"))?;
        let dist = Distribution::from_keys(&config.distributions[0], vec![(id, true, key)])?;
        let snapshot = Snapshot::from_parts(vec![dist], &config);
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        rand::rng().fill_bytes(&mut secret);
        let state = crate::server::assemble(&config, snapshot, KeySet::hmac(&secret));
        let now = state.signing.now();
        let mut session = Self {
            state,
            options: http_options(&config),
            token: Zeroizing::new(String::new()),
            public_key_pem,
            config,
            secret,
        };
        session.token = session.mint("dev", now, DEV_TOKEN_TTL)?;
        Ok(session)
    }

    /// Mints an HS256 token for `subject` with the dev secret.
    pub fn mint(&self, subject: &str, now: i64, ttl: i64) -> Result<Zeroizing<String>, String> {
        let claims = json!({ "sub": subject, "iss": DEV_ISSUER, "aud": DEV_AUDIENCE, "iat": now, "exp": now + ttl });
        encode(&Header::default(), &claims, &EncodingKey::from_secret(&self.secret))
            .map(Zeroizing::new)
            .map_err(|e| e.to_string())
    }

    /// The banner printed at start: public key, token, a curl line.
    pub fn banner(&self, base_url: &str) -> String {
        format!(
            "\n==================== cfsign DEV MODE ====================\n\
             Keys and secrets below are generated in memory and vanish on exit.\n\
             Never use dev mode in production.\n\n\
             Distribution \"dev\": https://d111111abcdef8.cloudfront.net  (key pair id {DEV_KEY_PAIR_ID})\n\
             Public key (what you would register in a CloudFront key group):\n{}\n\
             Token for subject \"dev\" (valid 24 h; may sign /*, up to 7 days, cookies and wildcards):\n{}\n\n\
             Try:\n  curl -s {base_url}/v1/signed-urls \\\n    -H 'Authorization: Bearer {}' \\\n    -H 'Content-Type: application/json' \\\n    -d '{{\"key\": \"uploads/report.pdf\", \"ttl_seconds\": 604800}}'\n\
             =========================================================\n",
            self.public_key_pem.trim_end(),
            self.token.as_str(),
            self.token.as_str(),
        )
    }
}
