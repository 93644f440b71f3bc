//! Typed test configurations: a [`TestConfig`] value is built from one of two
//! starting points (the in-process standard or the binary's minimum), changed
//! by the test through its fields, and rendered to TOML once, by `toml`.
//!
//! Keys the loader knows but no test needed a field for go into a section's
//! `other` table; tests of the loader's refusals (unknown keys) use it too.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::fixtures::{fixtures, key_file};
use super::tokens::{AUDIENCE, ISSUER};

/// The key pair id of the active key in [`TestConfig::add_uploads`].
pub const KEY_A: &str = "KAAAAAAAAAAAAA";

/// A whole configuration file.
#[derive(Clone, Debug, Serialize)]
pub struct TestConfig {
    /// Where the secrets the config names live (not rendered).
    #[serde(skip)]
    dir: PathBuf,
    pub server: Server,
    /// `[signing]` (workers, queue_depth, caches).
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub signing: toml::Table,
    pub auth: Auth,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub distributions: Vec<Distribution>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<Grant>,
    /// `[audit]` (stdout by default; in-process apps write a file in `dir`).
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub audit: toml::Table,
}

/// `[server]`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Server {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_grace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_metrics: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// `[auth]`. Issuers, audiences and algorithms are always written, also
/// when empty (an empty list is a problem the loader reports); `tables`,
/// when set, are written as `[[auth.issuers]]` instead of `issuers`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Auth {
    pub issuers: Vec<String>,
    #[serde(skip)]
    pub tables: Vec<Issuer>,
    pub audiences: Vec<String>,
    pub algorithms: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hmac_secret_files: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub public_keys: Vec<PublicKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_refresh: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_min_refetch: Option<String>,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// One `[[auth.issuers]]` table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Issuer {
    pub issuer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub discovery: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub public_keys: Vec<PublicKey>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hmac_secret_files: Vec<PathBuf>,
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub claims: toml::Table,
}

impl Issuer {
    /// `issuer` verifying with the HMAC secret in `secret_file`.
    pub fn hmac(issuer: &str, secret_file: PathBuf) -> Self {
        Self {
            issuer: issuer.to_owned(),
            hmac_secret_files: vec![secret_file],
            ..Self::default()
        }
    }

    /// `issuer` with its keys from `jwks_url`.
    pub fn jwks(issuer: &str, jwks_url: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            jwks_url: Some(jwks_url.to_owned()),
            ..Self::default()
        }
    }
}

/// One of `auth.public_keys`.
#[derive(Clone, Debug, Serialize)]
pub struct PublicKey {
    pub kid: String,
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
}

/// `[cors]`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cors {
    pub allowed_origins: Vec<String>,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// One `[[distributions]]`.
#[derive(Clone, Debug, Serialize)]
pub struct Distribution {
    pub name: String,
    pub domain: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_algorithm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_granularity: Option<String>,
    pub keys: Vec<Key>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookies: Option<toml::Table>,
}

/// One signing key of a distribution: a file ([`Key::new`]), a key on a
/// PKCS#11 token ([`Key::pkcs11`]) or an AWS KMS key ([`Key::kms`]).
#[derive(Clone, Debug, Serialize)]
pub struct Key {
    pub key_pair_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrase_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_file: Option<PathBuf>,
    /// An AWS KMS key id or ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// One `[[grants]]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    pub distributions: Vec<String>,
    pub allow: Vec<String>,
    pub max_ttl: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_wildcard_policy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_cookies: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_ip_binding: Option<bool>,
}

impl Key {
    pub fn new(key_pair_id: &str, private_key_file: impl Into<PathBuf>) -> Self {
        Self {
            private_key_file: Some(private_key_file.into()),
            ..Self::none(key_pair_id)
        }
    }

    /// The key `uri` names on a PKCS#11 token, its PIN in `pin_file`.
    #[cfg_attr(not(feature = "pkcs11"), allow(dead_code))]
    pub fn pkcs11(key_pair_id: &str, uri: &str, pin_file: impl Into<PathBuf>) -> Self {
        Self {
            pkcs11: Some(uri.to_owned()),
            pin_file: Some(pin_file.into()),
            ..Self::none(key_pair_id)
        }
    }

    fn none(key_pair_id: &str) -> Self {
        Self {
            key_pair_id: key_pair_id.to_owned(),
            private_key_file: None,
            passphrase_file: None,
            pkcs11: None,
            pin_file: None,
            kms: None,
            region: None,
            endpoint_url: None,
            public_key_file: None,
            max_concurrency: None,
            timeout: None,
            active: None,
        }
    }

    /// The KMS key `key_id` at `endpoint_url`, in `region`.
    #[cfg_attr(not(feature = "kms"), allow(dead_code))]
    pub fn kms(key_pair_id: &str, key_id: &str, region: &str, endpoint_url: &str) -> Self {
        Self {
            kms: Some(key_id.to_owned()),
            region: Some(region.to_owned()),
            endpoint_url: Some(endpoint_url.to_owned()),
            ..Self::none(key_pair_id)
        }
    }

    pub fn active(mut self, active: bool) -> Self {
        self.active = Some(active);
        self
    }
}

impl Distribution {
    pub fn new(name: &str, domain: &str, keys: Vec<Key>) -> Self {
        Self {
            name: name.to_owned(),
            domain: domain.to_owned(),
            path_prefix: None,
            hash_algorithm: None,
            expiry_granularity: None,
            keys,
            cookies: None,
        }
    }

    /// `reports` on `https://cdn.example.com`, signed by `keys`, no prefix.
    pub fn reports(keys: Vec<Key>) -> Self {
        Self::new("reports", "https://cdn.example.com", keys)
    }

    /// `videos` on `https://d111111abcdef8.cloudfront.net` with SHA-256,
    /// signed by the fixture ECDSA key `KECDSA00000001`, no prefix.
    pub fn videos() -> Self {
        let keys = vec![Key::new("KECDSA00000001", key_file("ec-p256.pem"))];
        let mut videos = Self::new("videos", "https://d111111abcdef8.cloudfront.net", keys);
        videos.hash_algorithm = Some("SHA256".into());
        videos
    }
}

impl Grant {
    /// `allow` on `distribution` for `max_ttl`, to nobody yet (no matcher).
    pub fn new(name: &str, distribution: &str, allow: &str, max_ttl: &str) -> Self {
        Self {
            name: name.to_owned(),
            distributions: vec![distribution.to_owned()],
            allow: vec![allow.to_owned()],
            max_ttl: max_ttl.to_owned(),
            ..Self::default()
        }
    }

    /// Subject `subject` may sign `allow` on `distribution` for `max_ttl`.
    pub fn subject(name: &str, subject: &str, distribution: &str, allow: &str, max_ttl: &str) -> Self {
        Self {
            subjects: vec![subject.to_owned()],
            ..Self::new(name, distribution, allow, max_ttl)
        }
    }

    /// The grants every standard configuration shares (`fixtures/grants.toml`).
    pub fn fixtures() -> Vec<Self> {
        #[derive(Deserialize)]
        struct File {
            grants: Vec<Grant>,
        }
        let text = std::fs::read_to_string(fixtures().join("grants.toml")).unwrap();
        toml::from_str::<File>(&text).unwrap().grants
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl TestConfig {
    /// The in-process standard: a trusted proxy range, public metrics,
    /// HS256 (`dir/hmac.secret`) and RS256 (`dir/jwt-rsa.pub.pem` as kid
    /// `rsa-1`), one CORS origin, `reports` (RSA, prefix `/uploads`, cookie
    /// domain) and `videos` (SHA-256, an old RSA key and the active ECDSA
    /// one), and the fixture grants.
    pub fn in_process(dir: &Path) -> Self {
        let mut reports = Distribution::reports(vec![Key::new("K2JCJMDEHXQW5F", key_file("rsa2048.pem"))]);
        reports.path_prefix = Some("/uploads".into());
        reports.cookies = Some(toml::toml! {
            domain = "example.com"
            path = "/"
            secure = true
            http_only = true
            same_site = "Lax"
        });
        let mut videos = Distribution::new(
            "videos",
            "https://d111111abcdef8.cloudfront.net",
            vec![
                Key::new("KOLDKEY0000001", key_file("rsa2048.pem")),
                Key::new("KECDSA00000001", key_file("ec-p256.pem")).active(true),
            ],
        );
        videos.hash_algorithm = Some("SHA256".into());
        Self {
            dir: dir.to_owned(),
            server: Server {
                trusted_proxies: strings(&["10.0.0.0/8"]),
                public_metrics: Some(true),
                ..Server::default()
            },
            signing: toml::Table::new(),
            auth: Auth {
                algorithms: strings(&["HS256", "RS256"]),
                public_keys: vec![PublicKey {
                    kid: "rsa-1".into(),
                    path: dir.join("jwt-rsa.pub.pem"),
                    algorithm: None,
                }],
                ..Auth::hs256(dir)
            },
            cors: Some(Cors {
                allowed_origins: strings(&["http://app.test"]),
                other: toml::Table::new(),
            }),
            distributions: vec![reports, videos],
            grants: Grant::fixtures(),
            audit: Self::audit_file(&dir.join("audit.jsonl")),
        }
    }

    /// What every binary under test gets: loopback listeners (also for
    /// metrics), a 15 s request timeout, a 5 s shutdown grace and HS256 with
    /// `dir/hmac.secret`; no distributions or grants.
    pub fn binary(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            server: Server {
                listen: Some("127.0.0.1:0".into()),
                metrics_listen: Some("127.0.0.1:0".into()),
                request_timeout: Some("15s".into()),
                shutdown_grace: Some("5s".into()),
                ..Server::default()
            },
            signing: toml::Table::new(),
            auth: Auth::hs256(dir),
            cors: None,
            distributions: vec![],
            grants: vec![],
            audit: toml::Table::new(),
        }
    }

    /// `[audit]` writing to `path`.
    pub fn audit_file(path: &Path) -> toml::Table {
        let mut audit = toml::Table::new();
        audit.insert("sink".into(), "file".into());
        audit.insert("path".into(), path.display().to_string().into());
        audit
    }

    /// The folder the config's secret files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds `reports` (fixture RSA key `K2JCJMDEHXQW5F`, no prefix) and the
    /// grant: subject `mailer` may sign `/uploads/*` for up to an hour.
    pub fn add_reports(&mut self) {
        self.distributions.push(Distribution::reports(vec![Key::new(
            "K2JCJMDEHXQW5F",
            key_file("rsa2048.pem"),
        )]));
        self.grants
            .push(Grant::subject("mailer", "mailer", "reports", "/uploads/*", "1h"));
    }

    /// Adds `reports` (prefix `/uploads`) signed by `key_path` as [`KEY_A`],
    /// active, and the grant: `mailer` may sign `/uploads/*` for up to 7 days
    /// (1 h by default).
    pub fn add_uploads(&mut self, key_path: &Path) {
        let mut reports = Distribution::reports(vec![Key::new(KEY_A, key_path).active(true)]);
        reports.path_prefix = Some("/uploads".into());
        self.distributions.push(reports);
        self.grants.push(Grant {
            default_ttl: Some("1h".into()),
            ..Grant::subject("mailer", "mailer", "reports", "/uploads/*", "7d")
        });
    }

    pub fn distribution(&mut self, name: &str) -> &mut Distribution {
        self.distributions
            .iter_mut()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no distribution {name}"))
    }

    /// The TOML text.
    pub fn render(&self) -> String {
        if self.auth.tables.is_empty() {
            return toml::to_string(self).expect("a test config renders");
        }
        let mut doc = toml::Table::try_from(self).expect("a test config renders");
        let tables = toml::Value::try_from(&self.auth.tables).expect("issuer tables render");
        doc["auth"]
            .as_table_mut()
            .expect("[auth]")
            .insert("issuers".into(), tables);
        toml::to_string(&doc).expect("a test config renders")
    }

    /// Trusts `issuers` (`[[auth.issuers]]`) instead of `[auth]`'s own keys.
    pub fn per_issuer(&mut self, issuers: Vec<Issuer>) {
        self.auth.hmac_secret_files.clear();
        self.auth.public_keys.clear();
        self.auth.jwks_file = None;
        self.auth.jwks_url = None;
        self.auth.tables = issuers;
    }

    /// What the loader makes of [`TestConfig::render`].
    pub fn load(&self) -> Result<cfsign::config::Config, cfsign::config::ConfigError> {
        cfsign::config::from_toml(&self.render())
    }

    /// Renders into `path` atomically (a reload never reads half a file).
    pub fn write(&self, path: &Path) {
        super::fixtures::write_atomic(path, &self.render());
    }
}

impl Auth {
    /// Our issuer and audience, HS256 only, the secret in `dir/hmac.secret`.
    pub fn hs256(dir: &Path) -> Self {
        Self {
            issuers: strings(&[ISSUER]),
            audiences: strings(&[AUDIENCE]),
            algorithms: strings(&["HS256"]),
            hmac_secret_files: vec![dir.join("hmac.secret")],
            ..Self::default()
        }
    }
}
