//! The issuers `[auth]` trusts, in either form: `issuers = ["…"]` with the
//! key sources in `[auth]` itself (one issuer), or one `[[auth.issuers]]`
//! table per issuer with its own keys, audiences, algorithms and claim
//! mapping. [`AuthConfig::trusted`] turns both into the same list, with
//! `[auth]`'s defaults filled in, so nothing downstream knows the form.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::model::{AuthConfig, PublicKeyConfig};

/// One entry of `auth.issuers`: a bare `iss` value (the single-issuer form)
/// or a whole issuer table.
#[derive(Debug, Clone)]
pub enum IssuerEntry {
    /// `issuers = ["https://auth.example.com/"]`: keys come from `[auth]`.
    Name(String),
    /// `[[auth.issuers]]`: keys, rules and claims of its own.
    Table(Box<IssuerConfig>),
}

impl<'de> Deserialize<'de> for IssuerEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = IssuerEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an issuer URL or an [[auth.issuers]] table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IssuerEntry, E> {
                Ok(IssuerEntry::Name(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<IssuerEntry, A::Error> {
                // Through the derived impl, so unknown keys and wrong types
                // are reported as precisely as anywhere else.
                let table = IssuerConfig::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(IssuerEntry::Table(Box::new(table)))
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

/// One trusted token issuer and everything that verifies its tokens. A
/// token's `iss` selects exactly one of these; only its keys are tried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The exact `iss` value of its tokens (and, with `discovery`, the URL
    /// its discovery document is found under).
    pub issuer: String,
    /// Accepted `aud` values; empty: `[auth].audiences`.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Allowed algorithms; empty: `[auth].algorithms`.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// Fetch `<issuer>/.well-known/openid-configuration`, check that its
    /// `issuer` is this one exactly, and use its `jwks_uri` (OIDC Discovery 1.0 §4).
    #[serde(default)]
    pub discovery: bool,
    /// A JWKS URL, fetched at start and refreshed in the background.
    pub jwks_url: Option<String>,
    /// A JWKS document on disk.
    pub jwks_file: Option<PathBuf>,
    /// PEM public keys, selected by the token's `kid`.
    #[serde(default)]
    pub public_keys: Vec<PublicKeyConfig>,
    /// Files holding HMAC secrets (raw bytes) for HS256/384/512.
    #[serde(default)]
    pub hmac_secret_files: Vec<PathBuf>,
    /// Which claims carry subject, client, scopes and groups.
    #[serde(default)]
    pub claims: ClaimsConfig,
}

/// Claim names of one issuer's tokens. A name starting with `/` is a JSON
/// pointer into the claims (`/realm_access/roles`); any other is a
/// top-level claim (`cognito:groups`, `https://example.com/roles`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsConfig {
    /// The subject; unset: `sub`.
    pub subject: Option<String>,
    /// The client; unset: `azp`, else `client_id`.
    pub client: Option<String>,
    /// Scopes (space-separated string or array); unset: `scope` and `scp`.
    pub scopes: Option<String>,
    /// Groups (string or array); unset: `[auth].group_claim`.
    pub groups: Option<String>,
}

impl IssuerConfig {
    /// Whether any key source is configured.
    pub fn has_key_source(&self) -> bool {
        self.discovery
            || self.jwks_url.is_some()
            || self.jwks_file.is_some()
            || !self.public_keys.is_empty()
            || !self.hmac_secret_files.is_empty()
    }
}

impl AuthConfig {
    /// Whether `issuers` uses the `[[auth.issuers]]` form.
    pub fn per_issuer_form(&self) -> bool {
        self.issuers.iter().any(|e| matches!(e, IssuerEntry::Table(_)))
    }

    /// Whether `[auth]` itself names a key source (the single-issuer form).
    pub fn has_shared_keys(&self) -> bool {
        self.jwks_url.is_some()
            || self.jwks_file.is_some()
            || !self.public_keys.is_empty()
            || !self.hmac_secret_files.is_empty()
    }

    /// Every trusted issuer, with `[auth]`'s audiences, algorithms and
    /// group claim filled in where the issuer names none. In the
    /// single-issuer form each name gets `[auth]`'s key sources (validation
    /// refuses that form with more than one name).
    pub fn trusted(&self) -> Vec<IssuerConfig> {
        self.issuers
            .iter()
            .map(|entry| {
                let mut issuer = match entry {
                    IssuerEntry::Table(t) => (**t).clone(),
                    IssuerEntry::Name(name) => IssuerConfig {
                        issuer: name.clone(),
                        audiences: Vec::new(),
                        algorithms: Vec::new(),
                        discovery: false,
                        jwks_url: self.jwks_url.clone(),
                        jwks_file: self.jwks_file.clone(),
                        public_keys: self.public_keys.clone(),
                        hmac_secret_files: self.hmac_secret_files.clone(),
                        claims: ClaimsConfig::default(),
                    },
                };
                if issuer.audiences.is_empty() {
                    issuer.audiences = self.audiences.clone();
                }
                if issuer.algorithms.is_empty() {
                    issuer.algorithms = self.algorithms.clone();
                }
                if issuer.claims.groups.is_none() {
                    issuer.claims.groups = Some(self.group_claim.clone());
                }
                issuer
            })
            .collect()
    }

    /// The `iss` values trusted, in configured order.
    pub fn issuer_names(&self) -> Vec<String> {
        self.issuers
            .iter()
            .map(|e| match e {
                IssuerEntry::Name(n) => n.clone(),
                IssuerEntry::Table(t) => t.issuer.clone(),
            })
            .collect()
    }
}

/// What the refusal of several issuers sharing `[auth]`'s keys shows.
pub const PER_ISSUER_EXAMPLE: &str = "\
[[auth.issuers]]
issuer = \"https://login.example.com/\"
discovery = true

[[auth.issuers]]
issuer = \"https://internal-idp.example.com/\"
jwks_url = \"https://internal-idp.example.com/jwks.json\"";
